"""REQ and REP: synchronous request-reply with envelopes (RFC 28).

Theory of operation
-------------------
Both types alternate strictly between two states; each is an :class:`enum.Enum`, each has
one module-level table of legal moves (:data:`REQ_TRANSITIONS`, :data:`REP_TRANSITIONS`, each a
:class:`~zreactor.reactor.fsm.CellMachine`), and a socket moves only through its table's
``fire(socket._turn, event)``, which raises ``EFSM`` for a move the table does not list. The
state lives in the socket's *turn*, a :class:`~zreactor.reactor.fsm.Cell`: the machines move
twice per round trip each, and a socket's class hooks ``__setattr__`` (pyzmq's strict option
names), which a move on the socket itself would have to go around (``reactor/fsm.py``,
*Cells*). The docs' diagrams are generated from the same tables (``zreactor.diagrams``), so
they cannot drift from the code.

An operation first *peeks* (``peek``: checks the move, raising ``EFSM``, and changes
nothing), and *fires* once it has really happened. This matters because a send that finds
every peer full does not happen yet: the socket base blocks and calls ``xsend`` again, and
the state must still be the one that allows it. (Per message, the peek is made only when the
socket is not in the state whose rows make the operation legal, ``SEND_REQUEST`` for a
request, ``RECV_REPLY`` for a reply: there the table's answer is known, and a round trip
saves two lookups. The moves themselves always go through the table: ``fire``, or, on the
express exchange below, which has just tested the state it moves from, one of the table's
rows looked up once (a :class:`~zreactor.reactor.fsm.Move`: ``reactor/fsm.py``, *Known
moves*).)

REQ (libzmq's ``req_t``, a DEALER underneath)
    ``send`` puts the empty delimiter frame in front of the request (and, with
    ``req_correlate``, a 4-byte request id before that) and gives it to the next peer with
    room, round-robin; while every peer is full or there is none, ``send`` blocks (the mute
    state blocks). Then only ``recv`` is legal, and it accepts a reply only from the peer the
    request went to (any peer, if that one has gone), with a well-formed envelope (and, with
    ``req_correlate``, the current request id); anything else is dropped. With
    ``req_relaxed`` a new request may be sent before the reply came: the outstanding one is
    abandoned and its late reply will be dropped. Replies still queued when a request is sent
    are stale and are dropped first, as libzmq does.
REP (libzmq's ``rep_t``)
    ``recv`` fair-queues requests from all peers, keeps the envelope (every frame up to and
    including the first empty one: the routing ids that ROUTER/DEALER hops pushed, and REQ's
    delimiter) and returns the rest. ``send`` puts the envelope back in front of the reply
    and writes it to the pipe the request came from. A request without a delimiter, or with
    nothing after it, is malformed and dropped. A reply to a peer that has gone, or whose pipe
    is full, is dropped (as with ROUTER, REP's mute state drops).

*The express exchange.* A round trip in lock step, on one connection, has one common shape:
a single-frame request behind REQ's lone delimiter, a single-frame reply behind the same
envelope. Both patterns give that shape a path of its own, in their ``send`` and ``recv``
(which override the socket base's): a few tests of the socket's own state, then the
connection's shortcut (:mod:`zreactor.zmtp.shortcut`) does the I/O in one call, and the turn
moves through the table.

``send(body)`` (bytes, not ``SNDMORE``, no tracker, nothing queued with ``SNDMORE``, no
command pending, the state that allows it; ``DONTWAIT`` changes nothing here, since the express
write never waits: what it refuses, the general path sends or raises ``Again`` for)
    REQ: one peer with room, nothing stale to drop, neither ``req_relaxed`` nor
    ``req_correlate``. REP: the last request's envelope is the lone delimiter and its peer is
    still there. The body goes to the pipe's
    :meth:`~zreactor.sockets.pipe.Pipe.send_express`, which writes ``[b"", body]`` to the
    kernel in one call when the direct write would have taken it (*the express write*,
    :mod:`zreactor.zmtp.direct`). Then the turn moves.
``recv()`` (no flags, no timeout, nothing queued, no command pending, the state that allows
it, the socket's one connection asleep in its pipe)
    The shortcut waits on the held fd and the mailbox together and reads the message where it
    lands (*the express read*, :mod:`zreactor.zmtp.direct_read`). A plain reply from the peer
    asked (REQ), a plain request (REP), is checked here and its body returned; any other
    message the read brings goes to the pattern's ``xrecv_direct``, as the general wait's
    would.

Anything the express exchange does not take goes to the socket base's ``send`` or ``recv``
from the top, having changed nothing: the general path, whose outcome is the same. The
exchange only spares a round trip the calls and the tests the general path makes for every
message (the base's frame handling, the pattern hook, the wait's choice of reader): when it
was added, ~4.2 k of the ~44 k instructions a round trip cost each side (ipc, 100 B;
docs/PERFORMANCE.md). A ``send_multipart`` of one frame is a ``send`` (it comes here too),
and so are an async socket's sends, made with ``DONTWAIT``; its receives, made with
``DONTWAIT`` too, take the general path (the express read waits). Each
pattern writes its exchange out whole, so REQ's and REP's ``recv`` repeat the socket's
first tests: a helper for them would cost each message the call the exchange removes.

A note on frames sent with ``SNDMORE``: the socket base hands a message to the pattern when
its last frame is sent, so ``EFSM`` is raised on that last frame (libzmq raises it on the
first); either way nothing of the message is sent.

These sockets are not thread-safe: use each from one thread at a time.
"""

from __future__ import annotations

import enum
import random
import struct
from typing import Any

from ..constants import SocketType
from ..errors import EFSM, ZMQError
from ..reactor.fsm import Cell, CellMachine
from .dealer_router import DealerSocket
from .frame import Frame, MessageTracker
from .patterns import FairQueue
from .pipe import Pipe
from .socket import SNDMORE, Socket

__all__ = [
    "REP_TRANSITIONS",
    "REQ_TRANSITIONS",
    "RepEvent",
    "RepSocket",
    "RepState",
    "ReqEvent",
    "ReqSocket",
    "ReqState",
]


class ReqState(enum.Enum):
    """Where a REQ socket stands."""

    #: no request outstanding: ``send`` is legal, ``recv`` is not
    SEND_REQUEST = "send request"
    #: a request is out: ``recv`` is legal, ``send`` only with ``req_relaxed``
    RECV_REPLY = "receive reply"


class ReqEvent(enum.Enum):
    """What moves a REQ socket."""

    SEND = "send()"
    #: a send with ``req_relaxed`` set
    SEND_RELAXED = "send() [req_relaxed]"
    RECV = "recv()"


def _efsm(message: str) -> ZMQError:
    return ZMQError(EFSM, message)


#: Every legal REQ move: ``(state, event) -> next state``; anything else is EFSM.
REQ_TRANSITIONS: CellMachine[ReqState, ReqEvent] = CellMachine("REQ", ReqState.SEND_REQUEST, {
    (ReqState.SEND_REQUEST, ReqEvent.SEND): ReqState.RECV_REPLY,
    (ReqState.SEND_REQUEST, ReqEvent.SEND_RELAXED): ReqState.RECV_REPLY,
    # req_relaxed: a new request abandons the outstanding one
    (ReqState.RECV_REPLY, ReqEvent.SEND_RELAXED): ReqState.RECV_REPLY,
    (ReqState.RECV_REPLY, ReqEvent.RECV): ReqState.SEND_REQUEST,
}, error=_efsm)


class RepState(enum.Enum):
    """Where a REP socket stands."""

    #: waiting for a request: ``recv`` is legal, ``send`` is not
    RECV_REQUEST = "receive request"
    #: a request was received: ``send`` (the reply) is legal, ``recv`` is not
    SEND_REPLY = "send reply"


class RepEvent(enum.Enum):
    """What moves a REP socket."""

    RECV = "recv()"
    SEND = "send()"


#: Every legal REP move: ``(state, event) -> next state``; anything else is EFSM.
REP_TRANSITIONS: CellMachine[RepState, RepEvent] = CellMachine("REP", RepState.RECV_REQUEST, {
    (RepState.RECV_REQUEST, RepEvent.RECV): RepState.SEND_REPLY,
    (RepState.SEND_REPLY, RepEvent.SEND): RepState.RECV_REQUEST,
}, error=_efsm)


#: the members the per-message paths test, as module globals (``reactor/fsm.py``, *Members
#: on the per-message paths*)
_SEND_REQUEST, _RECV_REPLY = ReqState.SEND_REQUEST, ReqState.RECV_REPLY
_REQ_SEND, _REQ_SEND_RELAXED, _REQ_RECV = ReqEvent.SEND, ReqEvent.SEND_RELAXED, ReqEvent.RECV
_RECV_REQUEST, _SEND_REPLY = RepState.RECV_REQUEST, RepState.SEND_REPLY
_REP_RECV, _REP_SEND = RepEvent.RECV, RepEvent.SEND

#: the express exchange's moves, each made where its source state was just tested
#: (``reactor/fsm.py``, *Known moves*)
_REQUEST_SENT = REQ_TRANSITIONS.move(_SEND_REQUEST, _REQ_SEND)
_REPLY_RECEIVED = REQ_TRANSITIONS.move(_RECV_REPLY, _REQ_RECV)
_REQUEST_RECEIVED = REP_TRANSITIONS.move(_RECV_REQUEST, _REP_RECV)
_REPLY_SENT = REP_TRANSITIONS.move(_SEND_REPLY, _REP_SEND)

#: REP's envelope of a plain request (a REQ's: the lone delimiter), one shared tuple that the
#: express exchange recognises by identity
_PLAIN_ENVELOPE: tuple[bytes, ...] = (b"",)


def _recv_taken(sock: ReqSocket | RepSocket, pipe: Pipe, msg: list[bytes], copy: bool,
                track: bool) -> Any:
    """The end of an express ``recv()`` whose read brought another message than the plain
    one (multipart, an envelope of hops, from a peer not asked): the pattern's
    ``xrecv_direct`` takes it as after the general wait, and the socket base returns its
    first frame; if the pattern dropped it, the base waits on, from the top."""
    frames = sock.xrecv_direct(pipe, msg)
    if frames is not None:
        sock._in_frames.extend(frames)
    return Socket.recv(sock, 0, copy, track)


class ReqSocket(DealerSocket):
    """``zmq.REQ``: one request, then its reply (see the module docstring)."""

    socket_type = SocketType.REQ
    holds_reads = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        #: where the socket stands, moved by REQ_TRANSITIONS (module docstring)
        self._turn = Cell(_SEND_REQUEST, self)
        #: the peer the outstanding request went to (None: it has gone, accept any)
        self._reply_pipe: Pipe | None = None
        #: the last request id sent with req_correlate (libzmq starts at a random value)
        self._request_id = random.getrandbits(32)
        #: a reply taken by xhas_in (to check it really is one) for xrecv
        self._prefetched: list[bytes] | None = None

    # -- the express exchange (module docstring) ------------------------------------------------

    def send(self, data: Any, flags: int = 0, copy: bool = True, track: bool = False,
             routing_id: int | None = None, group: str | None = None) -> MessageTracker | None:
        """Send a request frame: :meth:`Socket.send <zreactor.sockets.socket.Socket.send>`,
        whose arguments, result and errors it has; a lone ``bytes`` request to the one peer
        goes by the express exchange (module docstring)."""
        turn = self._turn
        if (type(data) is bytes and turn.state is _SEND_REQUEST and not flags & SNDMORE
                and not track and not self._unusable and not self._out_frames
                and self._lb.active == 1 and not self._fq.active and self._prefetched is None
                and not self.mailbox.maybe_pending):
            options = self.options
            if not options.req_relaxed and not options.req_correlate:
                pipe = self._lb.pipes[0]  # (the one active pipe: the balancer's next)
                if pipe.send_express(data):
                    if self._reply_pipe is not pipe:
                        self._reply_pipe = pipe
                    _REQUEST_SENT.fire(turn)
                    return None
        return super().send(data, flags, copy, track, routing_id, group)

    def recv(self, flags: int = 0, copy: bool = True, track: bool = False) -> Any:
        """Receive a reply frame: :meth:`Socket.recv <zreactor.sockets.socket.Socket.recv>`,
        whose arguments, result and errors it has; a reply awaited in a blocking call on the
        one connection comes by the express exchange (module docstring)."""
        pipes = self._pipes
        if (flags or self._unusable or self._in_frames or len(pipes) != 1
                or self._turn.state is not _RECV_REPLY or self._prefetched is not None
                or self._fq.active or self.mailbox.maybe_pending or self.options.rcvtimeo >= 0):
            return super().recv(flags, copy, track)
        pipe = pipes[0]
        shortcut = pipe.shortcut
        if shortcut is None:
            return super().recv(flags, copy, track)
        got = shortcut.read_express(self.mailbox, None, pipe)
        if type(got) is not list:
            # the wait is over without a message read for us (it may be in the pipe, or
            # commands came), or the fd was not held: the general path, from the top
            return super().recv(flags, copy, track)
        reply_pipe = self._reply_pipe
        if (len(got) == 2 and not got[0] and (pipe is reply_pipe or reply_pipe is None)
                and not self.options.req_correlate):
            # the plain reply, from the peer asked (what _reply would find, without it)
            _REPLY_RECEIVED.fire(self._turn)
            return got[1] if copy else Frame._received(got[1], False)
        return _recv_taken(self, pipe, got, copy, track)

    def xsend(self, msg: list[bytes]) -> bool:
        """Send a request (envelope added here) to the next peer with room.

        Raises:
            ZMQError: EFSM while a reply is awaited (unless ``req_relaxed``).
        """
        options = self.options
        turn = self._turn
        event = _REQ_SEND_RELAXED if options.req_relaxed else _REQ_SEND
        if turn.state is not _SEND_REQUEST:  # (both events are legal from there)
            REQ_TRANSITIONS.peek(turn, event)
        # Replies still queued now answer earlier requests: drop them before this request
        # becomes visible, or a late one could pass for its reply.
        if self._prefetched is not None:
            self._prefetched = None
        fq = self._fq
        if fq.active:  # (an asleep pipe holds nothing: the common case, no call)
            while fq.recv() is not None:
                pass
        # (the base retries a refused send with the same list: the envelope comes off again)
        if options.req_correlate:
            request_id = (self._request_id + 1) & 0xFFFFFFFF
            msg[:0] = (struct.pack("=I", request_id), b"")
            pipe = self._lb.send(msg)
            if pipe is None:
                del msg[:2]
                return False
            self._request_id = request_id
        else:
            msg.insert(0, b"")
            pipe = self._lb.send(msg)
            if pipe is None:
                del msg[0]
                return False
        if self._reply_pipe is not pipe:
            self._reply_pipe = pipe
        REQ_TRANSITIONS.fire(self._turn, event)
        return True

    def _next_reply(self) -> list[bytes] | None:
        """The next acceptable reply, without its envelope; drops anything else."""
        fq = self._fq
        while True:
            msg = fq.recv()
            if msg is None:
                return None
            reply = self._reply(fq.last_pipe, msg)  # type: ignore[arg-type]
            if reply is not None:
                return reply
            # from a peer we did not ask, malformed or stale: drop it and look further

    def _reply(self, pipe: Pipe, msg: list[bytes]) -> list[bytes] | None:
        """``msg`` from ``pipe`` without its envelope, if it is the reply awaited; else None."""
        reply_pipe = self._reply_pipe
        if pipe is not reply_pipe and reply_pipe is not None:
            return None  # a peer we did not ask
        if self.options.req_correlate:
            if (len(msg) > 2 and msg[0] == struct.pack("=I", self._request_id)
                    and msg[1] == b""):
                return msg[2:]
        elif len(msg) > 1 and msg[0] == b"":
            return msg[1:]
        return None  # malformed or stale

    def xrecv_direct(self, pipe: Pipe, msg: list[bytes]) -> list[bytes] | None:
        """The reply, if ``msg`` is it: read straight from ``pipe``'s connection while
        ``recv()`` waited (the direct read; ``Socket.xrecv_direct``).

        *The plain reply* (no ``req_correlate``: ``[b"", body...]`` from the peer asked),
        the one a round trip waits for, is checked here as :meth:`_reply` checks it, without
        that second call; anything else goes through :meth:`_reply`."""
        reply_pipe = self._reply_pipe
        if ((pipe is reply_pipe or reply_pipe is None) and not self.options.req_correlate
                and len(msg) > 1 and msg[0] == b""):
            REQ_TRANSITIONS.fire(self._turn, _REQ_RECV)
            return msg[1:]
        reply = self._reply(pipe, msg)
        if reply is not None:
            REQ_TRANSITIONS.fire(self._turn, _REQ_RECV)
        return reply

    def xrecv(self) -> list[bytes] | None:
        """The reply to the outstanding request, if it has come.

        Raises:
            ZMQError: EFSM if no request is outstanding.
        """
        if self._turn.state is not _RECV_REPLY:
            REQ_TRANSITIONS.peek(self._turn, _REQ_RECV)  # raises EFSM: no request outstanding
        reply = self._prefetched
        if reply is None:
            if not self._fq.active:
                # every peer's pipe went to sleep (the send's drain): nothing to look at
                # (REQ's fair queue reads no messages ahead), the common case before a wait
                return None
            reply = self._next_reply()
            if reply is None:
                return None
        else:
            self._prefetched = None
        REQ_TRANSITIONS.fire(self._turn, _REQ_RECV)
        return reply

    def xhas_in(self) -> bool:
        """True if the reply has come (never while no request is outstanding)."""
        if self._turn.state is not _RECV_REPLY:
            return False
        if self._prefetched is None:
            self._prefetched = self._next_reply()
        return self._prefetched is not None

    def xhas_out(self) -> bool:
        """True if a request may be sent now and some peer has room."""
        if self._turn.state is _RECV_REPLY and not self.options.req_relaxed:
            return False
        return self._lb.has_out()

    def xpipe_terminated(self, pipe: Pipe) -> None:
        """Forget a peer; if the request went to it, accept the reply from anyone."""
        if pipe is self._reply_pipe:
            self._reply_pipe = None
        super().xpipe_terminated(pipe)


class RepSocket(Socket):
    """``zmq.REP``: receive a request, send its reply (see the module docstring)."""

    socket_type = SocketType.REP
    holds_reads = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._fq = FairQueue()
        #: where the socket stands, moved by REP_TRANSITIONS (module docstring)
        self._turn = Cell(_RECV_REQUEST, self)
        #: the request's envelope (a tuple; the plain one is _PLAIN_ENVELOPE itself) and
        #: the pipe it came from, for the reply
        self._envelope: tuple[bytes, ...] = ()
        self._reply_pipe: Pipe | None = None

    def xattach_pipe(self, pipe: Pipe, subscribe_to_all: bool = False) -> None:
        """Add a peer."""
        self._fq.attach(pipe)

    def xread_activated(self, pipe: Pipe) -> None:
        """A peer has requests again."""
        self._fq.activated(pipe)

    def xpipe_terminated(self, pipe: Pipe) -> None:
        """Forget a peer (a reply still owed to it will be dropped)."""
        if pipe is self._reply_pipe:
            self._reply_pipe = None
        self._fq.pipe_terminated(pipe)

    # -- the express exchange (module docstring) ------------------------------------------------

    def send(self, data: Any, flags: int = 0, copy: bool = True, track: bool = False,
             routing_id: int | None = None, group: str | None = None) -> MessageTracker | None:
        """Send a reply frame: :meth:`Socket.send <zreactor.sockets.socket.Socket.send>`,
        whose arguments, result and errors it has; a lone ``bytes`` reply to a plain request
        goes by the express exchange (module docstring)."""
        turn = self._turn
        if (type(data) is bytes and turn.state is _SEND_REPLY and not flags & SNDMORE and not track
                and not self._unusable and not self._out_frames
                and not self.mailbox.maybe_pending):
            pipe = self._reply_pipe
            if (pipe is not None and self._envelope is _PLAIN_ENVELOPE
                    and pipe.send_express(data)):
                _REPLY_SENT.fire(turn)
                return None
        return super().send(data, flags, copy, track, routing_id, group)

    def recv(self, flags: int = 0, copy: bool = True, track: bool = False) -> Any:
        """Receive a request frame: :meth:`Socket.recv <zreactor.sockets.socket.Socket.recv>`,
        whose arguments, result and errors it has; a request awaited in a blocking call on
        the one connection comes by the express exchange (module docstring)."""
        pipes = self._pipes
        if (flags or self._unusable or self._in_frames or len(pipes) != 1
                or self._turn.state is not _RECV_REQUEST or self._fq.active
                or self.mailbox.maybe_pending or self.options.rcvtimeo >= 0):
            return super().recv(flags, copy, track)
        pipe = pipes[0]
        shortcut = pipe.shortcut
        if shortcut is None:
            return super().recv(flags, copy, track)
        got = shortcut.read_express(self.mailbox, None, pipe)
        if type(got) is not list:
            # the wait is over without a message read for us (it may be in the pipe, or
            # commands came), or the fd was not held: the general path, from the top
            return super().recv(flags, copy, track)
        if len(got) == 2 and not got[0]:
            # the plain request (xrecv_direct's first case, without its call)
            if self._envelope is not _PLAIN_ENVELOPE:
                self._envelope = _PLAIN_ENVELOPE
            if self._reply_pipe is not pipe:
                self._reply_pipe = pipe
            _REQUEST_RECEIVED.fire(self._turn)
            return got[1] if copy else Frame._received(got[1], False)
        return _recv_taken(self, pipe, got, copy, track)

    def xrecv(self) -> list[bytes] | None:
        """The next request's body; its envelope is kept for the reply.

        Raises:
            ZMQError: EFSM while a reply is owed.
        """
        if self._turn.state is not _RECV_REQUEST:
            REP_TRANSITIONS.peek(self._turn, _REP_RECV)  # raises EFSM: a reply is owed
        fq = self._fq
        if not fq.active:
            # every peer's pipe sleeps (REP's fair queue reads no messages ahead): nothing
            # to look at, the common case before a wait
            return None
        while True:
            msg = fq.recv()
            if msg is None:
                return None
            body = self.xrecv_direct(fq.last_pipe, msg)  # type: ignore[arg-type]
            if body is not None:
                return body

    def xrecv_direct(self, pipe: Pipe, msg: list[bytes]) -> list[bytes] | None:
        """The body of the request ``msg`` from ``pipe``, its envelope kept for the reply;
        None if it is malformed (dropped). :meth:`xrecv` takes each message it reads this
        way, and so does the waiting ``recv()`` one read straight from ``pipe``'s connection
        (the direct read; ``Socket.xrecv_direct``).

        *The plain request* (``[b"", body]``, a REQ's: the common case) has the delimiter
        alone for its envelope, :data:`_PLAIN_ENVELOPE`, which the last request has usually
        left in place already: then nothing is searched or copied for it."""
        if len(msg) == 2 and not msg[0]:
            if self._envelope is not _PLAIN_ENVELOPE:
                self._envelope = _PLAIN_ENVELOPE
            body = msg[1:]
        else:
            try:
                bottom = msg.index(b"")
            except ValueError:
                return None  # no delimiter: malformed, dropped
            if bottom == len(msg) - 1:
                return None  # nothing after the delimiter: malformed, dropped
            self._envelope = tuple(msg[: bottom + 1])
            body = msg[bottom + 1:]
        if self._reply_pipe is not pipe:
            self._reply_pipe = pipe
        REP_TRANSITIONS.fire(self._turn, _REP_RECV)
        return body

    def xsend(self, msg: list[bytes]) -> bool:
        """Send the reply, behind the request's envelope, to the peer that asked.

        Raises:
            ZMQError: EFSM if no request is waiting for a reply.
        """
        REP_TRANSITIONS.fire(self._turn, _REP_SEND)  # a reply never waits: commit now
        pipe = self._reply_pipe
        if pipe is not None:
            msg[:0] = self._envelope
            pipe.send(msg)  # refused by a full peer: the reply is dropped, as libzmq does
        # (a peer that has gone drops it too). The envelope and the pipe stay until the next
        # request replaces them (the table allows no second send before it): two attribute
        # writes fewer per round trip.
        return True

    def xhas_in(self) -> bool:
        """True if a request may be received now and one is waiting."""
        return self._turn.state is _RECV_REQUEST and self._fq.has_in()

    def xhas_out(self) -> bool:
        """True while a reply is owed."""
        return self._turn.state is _SEND_REPLY
