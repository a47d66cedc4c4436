"""ZmtpEngine: one ZMTP connection, a sans-I/O :class:`ZmtpConnection` driven over a stream.

Theory of operation
-------------------
The engine owns the connected socket (it is a
:class:`~zreactor.reactor.stream.StreamEngine`); the :class:`ZmtpConnection` owns the grammar.
Bytes read from the socket go into ``conn.receive_batch``; the events that come out become pipe
messages, PONGs and timers. Messages pulled from the pipe go into ``conn.send_batch``;
``conn.data_to_send()`` goes out in one ``write()``. The engine never looks at a frame.

The engine serves a *session* (:class:`zreactor.sockets.session.Session`, libzmq's
``session_base_t``), which owns the pipe to the messaging socket and outlives reconnections.
Both live on the same I/O thread and call each other directly. The contract, in call order::

    session.engine_attached(engine)           once, when the engine starts
    session.engine_ready(engine, handshake)   once, when the ZMTP handshake completes;
                                              ``session.pipe`` may exist from then on
    ( engine.restart_output()                 the session's pipe has messages again
    | engine.restart_input()                  the session's pipe has room again
    | [socket's thread, under a loop lease, through the engine's CallerShortcut:]
      shortcut.write_direct(msg)              the socket is about to write the whole of
                                              the idle engine's next pull: it is encoded
                                              and written, never queued (zmtp/direct.py)
    | shortcut.offer_write()                  the socket wrote to the sleeping pipe: the
                                              engine pulls it and writes, as restart_output
    | shortcut.lend_read() ... take_back()    the socket polls the fd while it waits, then
                                              reads it through the engine's read path (a
                                              lone message may go to the waiting socket
                                              instead of the pipe: zmtp/direct_read.py)
    | shortcut.read_express(...)              the same for a held fd, the wait and the read
                                              in one call (zmtp/direct_read.py)
    | shortcut.release()                      a socket gives back a held read
    | [I/O thread:] the shortcut's tick       a held read nobody came for goes back to
                                              the loop
    )*
    session.engine_closed(engine, reason)     once, from ``closed()``; nothing follows

Calls from the socket's thread happen only while it holds the engine's loop lease
(:mod:`zreactor.reactor.lease`), so they never overlap a call on the I/O thread, and
whatever they do (``data_received`` into the pipe, PONGs, timers, even ``closed``) follows
the same grammar as on the loop. The engine cannot tell them apart, and does not need to.

*Handshake.* Our greeting leaves as soon as the engine is attached (libzmq sends only the first
ten bytes of its own and waits for ours). ``handshake_ivl`` bounds the whole handshake; when it
expires the connection is dropped with ``HANDSHAKE_FAILED_NO_DETAIL``.

*Batching, in.* In traffic the engine reads with ``recv_into()`` straight into the frame
decoder's buffer (the ``get_buffer``/``buffer_updated`` hooks of
:class:`~zreactor.reactor.stream.StreamEngine`; :mod:`zreactor.zmtp.frames` says why), which
starts at 64 KiB and grows to hold four of the frames it sees, so one read may complete
hundreds of small messages or several large ones; the greeting and the handshake, and
encrypted traffic, are read as ``recv()`` chunks of :attr:`read_size` bytes. So is the read
after a *small* one (under :data:`~zreactor.reactor.readbuffer.MIN_SPACE`, 16 KiB, after
which the decoder drops its emptied buffer; the engine then clears ``asks_buffer``, and the
next read does not even ask for the buffer): a request/reply connection reads one small
message at a time, and a fresh zeroed 64 KiB array per read costs more than the copy it
saves, while ``recv()`` allocates only what arrived and the decoder parses it in place. A
stream's read, full or not (a Unix socket returns about one of the peer's ``send()`` calls
per read), goes to the buffer. The messages of one read arrive as one ``MessageBatch``, go into the pipe with one ``write_batch`` and the
pipe is flushed once, so the socket's thread gets at most one wake-up per read. If the pipe
is full (the socket's ``rcvhwm``), the messages that did not fit wait in a backlog and the
engine stops reading the socket (the kernel's buffers then push back on the peer, as TCP
intends) until the pipe says it has room.

*Batching, out.* When the pipe becomes readable the engine pulls up to :data:`BATCH_BYTES` of
messages (``read_batch``, a few hundred at a time), encodes them with ``send_batch`` and
writes them with one ``write()``, and
repeats while the pipe has more. It stops pulling while the stream's write queue is above its
high-water mark (``pause_writing``) and resumes when it drains (``resume_writing``). It does
*not* stop reading because of its own output: two peers that both send much would otherwise
each wait for the other to read.

*Caller I/O.* The engine offers its socket's thread a
:class:`~zreactor.zmtp.shortcut.CallerShortcut` (given by the session, served once the
handshake completes): while the loop sleeps, that thread writes the engine's pipe to the
kernel and reads the engine's socket itself, through the engine's one write path and one
read path (the ``send_now`` / ``read_once`` hooks of
:class:`~zreactor.reactor.stream.StreamEngine`). The rules, and why message order holds, are
in :mod:`zreactor.zmtp.shortcut`; the engine only answers the shortcut's questions (the
``_caller_*`` methods below). A message that would be the whole of its next pull is encoded
and written without entering the pipe: the *direct write*, :mod:`zreactor.zmtp.direct`.

*Heartbeats* follow libzmq's ``stream_engine_base_t``: with ``heartbeat_ivl`` we send a PING
(carrying ``heartbeat_ttl``) every interval and, if nothing at all arrives within
``heartbeat_timeout`` (default: the interval) after it, drop the connection. A PING from the
peer is answered at once, and if it carries a TTL we drop the connection when nothing arrives
within that TTL. "Anything arrives" means any bytes: a large frame still in flight counts as
life, where libzmq waits for a complete frame. libzmq cancels both timers on every message
it decodes, so the timeout runs from *the first PING we send after the last traffic*, and
the TTL from *the peer's last PING*. We keep those deadlines without touching a timer per
read: each timer records the read count when it was armed, traffic bumps the count, a PING
we send re-arms the timeout timer if anything arrived since it was armed (the PING libzmq
would arm it at), and every PING from the peer re-arms the TTL timer. A timer that fires
with the count unchanged has seen silence, but first looks at the socket itself if the
caller shortcut holds or borrows our fd (the loop polls nothing then; see *The held read*
in :mod:`zreactor.zmtp.shortcut`): data waiting there is life, not silence.

*Errors.* Everything that ends the connection ends here, in ``closed(reason)``:

===============================  ==========================================================
reason                           events (``DISCONNECTED`` comes from the connecter or
                                 the session)
===============================  ==========================================================
``ProtocolError`` in handshake   ``HANDSHAKE_FAILED_PROTOCOL``
``ProtocolError`` in traffic     none of its own (a malformed frame, a frame over
                                 ``maxmsgsize``, the peer's ERROR)
``TimeoutError``, ``EOFError``,  ``HANDSHAKE_FAILED_NO_DETAIL`` if the handshake had not
``ConnectionError``              completed
``None``                         none: the session closed us (socket closed, unbind, ...)
===============================  ==========================================================

A protocol error drops this connection only; the session decides whether to reconnect
(libzmq does not reconnect after a protocol error, and neither do we).

*Subscriptions.* The pipe carries them as libzmq does internally: a single-frame message
``b"\\x01" + topic`` subscribes, ``b"\\x00" + topic`` cancels. On a PUB or XPUB connection the
codec's ``Subscribe``/``Cancel`` events become such messages (and a PUB drops every other
message); on a SUB or XSUB connection such messages from the pipe go out with
``send_subscribe``/``send_cancel``, which pick the ZMTP 3.1 command or the 3.0 message.

Threads: the engine's I/O thread, or the socket's thread holding that loop's lease (the
caller shortcut, above). Nothing else touches the engine.
"""

from __future__ import annotations

import enum
import errno
import logging
import socket
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Protocol

from ..errors import ProtocolError
from ..reactor.engine import EngineState
from ..reactor.events import EventKind
from ..reactor.fsm import Machine
from ..reactor.readbuffer import MIN_SPACE
from ..reactor.stream import READ_TRANSITIONS, ReadEvent, ReadState, StreamEngine, WriteState
from .commands import PING_TTL_MAX
from .connection import ZmtpConnection
from .events import (
    AuthFailed,
    Cancel,
    HandshakeComplete,
    Message,
    MessageBatch,
    PeerError,
    Ping,
    Subscribe,
    ZapRequest,
)
from .handshake import AUTH_ERROR_REASONS, AuthenticationFailed, HandshakeError, failure_log
from .metadata import MetaBytes

if TYPE_CHECKING:
    from ..reactor.poller import Timer
    from .shortcut import CallerShortcut

__all__ = [
    "BATCH_BYTES",
    "GATHER_BYTES",
    "FLOW_TRANSITIONS",
    "INPUT_FLOW",
    "OUTPUT_FLOW",
    "PipeEngine",
    "PROTOCOL_ERROR_ZMTP_UNSPECIFIED",
    "Flow",
    "FlowEvent",
    "PeerErrorReceived",
    "ZmtpEngine",
    "ZmtpSession",
]

log = logging.getLogger("zreactor")

#: Most bytes of messages pulled from the pipe and encoded for one ``write()``.
BATCH_BYTES = 256 * 1024
#: Average body size from which a batch goes out as a gathered ``sendmsg()`` of its frame list
#: rather than one joined ``bytes``: below it the join's copy costs less than the iovecs.
GATHER_BYTES = 4096
#: Most messages taken from the pipe in one ``read_batch``.
_MAX_BATCH = 1024
#: Most messages a SUB/XSUB connection encodes one by one per batch.
_SUBSCRIBER_BATCH = 1024
#: libzmq's ``ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED``: the value of HANDSHAKE_FAILED_PROTOCOL.
PROTOCOL_ERROR_ZMTP_UNSPECIFIED = 0x10000000

_SUBSCRIBE_PREFIX = b"\x01"
_CANCEL_PREFIX = b"\x00"


class PeerErrorReceived(ProtocolError):
    """The peer sent a ZMTP ERROR command: it is closing the connection on purpose.

    Attributes:
        reason: the peer's reason text.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"peer sent ERROR: {reason}")
        self.reason = reason


class Flow(enum.Enum):
    """One direction of the engine's flow control."""

    #: input: reading the socket; output: pulling from the pipe.
    RUNNING = "running"
    #: input: the pipe to the socket is full, not reading; output: the write queue is above
    #: its high-water mark, not pulling.
    BLOCKED = "blocked"


class FlowEvent(enum.Enum):
    """What moves a flow (input: the pipe filled up / has room again; output: the write
    queue rose above its high-water mark / drained)."""

    BLOCK = "block"
    RESUME = "resume"


#: the members the per-message paths test, as module globals (``reactor/fsm.py``, *Members on
#: the per-message paths*)
_ATTACHED = EngineState.ATTACHED
_RUNNING, _BLOCKED = Flow.RUNNING, Flow.BLOCKED
_READ_OPEN, _WRITE_OPEN = ReadState.OPEN, WriteState.OPEN

FLOW_TRANSITIONS: dict[tuple[Flow, FlowEvent], Flow] = {
    (Flow.RUNNING, FlowEvent.BLOCK): Flow.BLOCKED,
    (Flow.BLOCKED, FlowEvent.RESUME): Flow.RUNNING,
}


def _stop_reading(engine: ZmtpEngine) -> None:
    if engine.state is EngineState.ATTACHED and engine.read_state is ReadState.OPEN:
        READ_TRANSITIONS.fire(engine, ReadEvent.PAUSE)


def _read_again(engine: ZmtpEngine) -> None:
    if engine.state is EngineState.ATTACHED and engine.read_state is ReadState.PAUSED:
        READ_TRANSITIONS.fire(engine, ReadEvent.RESUME)


#: The reading flow (``engine.input``): a blocked input stops reading the socket.
INPUT_FLOW: Machine[Flow, FlowEvent] = Machine(
    "input flow", Flow.RUNNING, FLOW_TRANSITIONS, attr="input",
    entry={Flow.BLOCKED: _stop_reading, Flow.RUNNING: _read_again})
#: The pulling flow (``engine.output``): a blocked output stops pulling from the pipe.
OUTPUT_FLOW: Machine[Flow, FlowEvent] = Machine(
    "output flow", Flow.RUNNING, FLOW_TRANSITIONS, attr="output")


class PipeEngine(StreamEngine):
    """A stream engine serving one session through the session's pipe: what the ZMTP engine
    and the raw engine (``zmtp/raw_engine.py``) share.

    It holds the two flow machines' state (``input``, ``output``), the backlog of messages
    read while the pipe was full, the session calls that move them (``restart_output``,
    ``restart_input``, ``pause_writing``/``resume_writing``), and the answers to the caller
    shortcut's questions (the ``_caller_*`` methods, zmtp/shortcut.py). A subclass sets
    ``handshake`` once messages may flow, counts its reads in ``_reads`` and implements
    ``_pull`` (pipe → stream).

    Threads: the engine's I/O thread, or the socket's thread holding that loop's lease (the
    ``_caller_*`` methods; zmtp/shortcut.py).

    Attributes:
        session: the session served; its ``pipe`` is the end towards the socket.
        shortcut: the session's :class:`~zreactor.zmtp.shortcut.CallerShortcut`, or ``None``.
        handshake: the :class:`HandshakeComplete` once messages may flow, else ``None``.
        input: reading flow (:class:`Flow`). output: pulling flow.
    """

    #: a subscriber's output is its subscriptions (ZmtpEngine): each leaves at once, not
    #: once per read (see ``_caller_write``)
    _subscriber = False
    # (slots, not dict entries: see StreamEngine; the two flags are slots too, not class
    # attributes, which CPython 3.11 does not specialize reading through an instance)
    __slots__ = ("session", "shortcut", "handshake", "input", "output", "_backlog", "_reads",
                 "_caller_mark", "writes_direct", "reads_direct")

    def __init__(self, sock: socket.socket, session: Any, *, endpoint: str, high_water: int,
                 shortcut: CallerShortcut | None) -> None:
        super().__init__(sock, high_water=high_water, endpoint=endpoint)
        self.session = session
        self.shortcut = shortcut
        self.handshake: HandshakeComplete | None = None
        self.input = Flow.RUNNING
        self.output = Flow.RUNNING
        #: messages read while the pipe was full, oldest first
        self._backlog: deque[list[bytes]] = deque()
        #: reads that returned data (the heartbeat timers' notion of "something arrived"),
        #: and its value when the caller last wrote for us (one caller write per read, which
        #: keeps a stream of sends batched)
        self._reads = 0
        self._caller_mark = -1
        #: the engine encodes a single message for the direct write (zmtp/direct.py): the
        #: ZMTP engine does; a raw engine's messages take the pipe
        self.writes_direct = False
        #: the engine hands one message read for a waiting socket straight to it (the direct
        #: read, zmtp/direct_read.py): the ZMTP engine does; a raw engine's reads take the pipe
        self.reads_direct = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse a subclass that sets ``writes_direct`` or ``reads_direct`` as a class
        attribute: they are instance slots, set by ``__init__``, which would silently
        overwrite (or, in a class with ``__slots__``, fail to set) the subclass's value.

        Raises:
            TypeError: naming the attribute and where to set it instead.
        """
        super().__init_subclass__(**kwargs)
        for name in ("writes_direct", "reads_direct"):
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__}.{name} is a class attribute, but {name} is an instance "
                    f"slot of PipeEngine that its __init__ sets: set self.{name} in "
                    f"{cls.__name__}.__init__, after super().__init__()")

    def _pull(self) -> None:
        """Move what the pipe holds to the stream (the subclass's encoding)."""
        raise NotImplementedError

    # -- flow control -------------------------------------------------------------------------

    def pause_writing(self) -> None:
        """The write queue is above the high-water mark: stop pulling (keep reading)."""
        if self.output is Flow.RUNNING:
            OUTPUT_FLOW.fire(self, FlowEvent.BLOCK)

    def resume_writing(self) -> None:
        """The write queue drained: pull from the pipe again."""
        if self.output is Flow.BLOCKED:
            OUTPUT_FLOW.fire(self, FlowEvent.RESUME)
            self._pull()

    # -- session calls -----------------------------------------------------------------------

    def restart_output(self) -> None:
        """The session's pipe became readable: pull and send (session's thread)."""
        self._pull()

    def restart_input(self) -> None:
        """The session's pipe has room: deliver the backlog, then read again."""
        if self.input is not Flow.BLOCKED:
            return
        backlog = self._backlog
        pipe = self.session.pipe
        if pipe is None:
            backlog.clear()  # nobody to deliver to any more
        else:
            pending = list(backlog)
            taken = pipe.write_batch(pending)
            if taken == len(pending):
                backlog.clear()
            else:
                for _ in range(taken):
                    backlog.popleft()
            pipe.flush()
            if backlog:
                return  # still full: the next write_activated brings us back
        INPUT_FLOW.fire(self, FlowEvent.RESUME)

    # -- the caller shortcut's questions (zmtp/shortcut.py: socket's thread, lease held) -------

    def _caller_output_free(self) -> bool:
        """Is our output free for the socket's thread? Handshake done, nothing queued, output
        running, write half open."""
        return not (
            self.state is not _ATTACHED
            or self.handshake is None
            or self.output is not _RUNNING
            or self.write_state is not _WRITE_OPEN
            or self.write_buffer_size
        )

    def _caller_idle(self) -> bool:
        """May the socket's thread write for us now? Output free
        (:meth:`_caller_output_free`), no caller write since the last read from the peer
        (one per read keeps a stream of sends batched), and not a subscriber (see
        :meth:`_caller_write`; the direct write, which asks this too, sends one message as
        data, and a subscriber's messages must go through its pull, which turns them into
        SUBSCRIBE/CANCEL commands and records them for the replay after a reconnection)."""
        return (self._reads != self._caller_mark and not self._subscriber
                and self.state is _ATTACHED and self.handshake is not None
                and self.output is _RUNNING and self.write_state is _WRITE_OPEN
                and not self.write_buffer_size)  # (_caller_output_free, one call less)

    def _caller_write(self) -> bool:
        """The socket wrote to our sleeping pipe: pull it and write here, on its thread, if
        we are idle (:meth:`_caller_idle`), or a subscriber with its output free; wake our
        end of the pipe as ``ACTIVATE_READ`` would. False if the loop must do it (not idle,
        or the pipe is ending).

        A subscriber's writes are its subscriptions: ``setsockopt`` calls, not a stream to
        batch, and each is worth sending before the call returns (a publisher told to start
        then finds it in its kernel buffer: zmtp/shortcut.py, *The early read*). So the
        one-write-per-read rule, which keeps streams batched, does not apply to them; they
        go through the pull, as on the loop."""
        if not ((self._subscriber or self._reads != self._caller_mark)
                and self._caller_output_free()):
            return False  # (idle, with the one-write-per-read rule waived for a subscriber)
        pipe = self.session.pipe
        if pipe is None or not pipe.resume_reading():
            return False
        self._caller_mark = self._reads
        self._pull()
        return True

    def _caller_read_fd(self) -> int | None:
        """The fd a waiting socket may poll and read through the shortcut, or None while
        only the I/O thread may read (handshake, input blocked, read half not open)."""
        if (
            self.state is not _ATTACHED
            or self.handshake is None
            or self.input is _BLOCKED
            or self.read_state is not _READ_OPEN
        ):
            return None
        return self.fd  # (attached: registered, so set, and the socket still open)

    def _caller_lend(self) -> None:
        """The socket's thread polls our fd now: the loop stops (no wake-up for data that
        thread will read anyway, no fight for the interpreter lock)."""
        self.watch_reads(False)

    def _caller_give_back(self) -> None:
        """The socket stopped waiting: the loop polls our fd again (if reading is open)."""
        self.watch_reads(True)


class ZmtpSession(Protocol):
    """What a :class:`ZmtpEngine` needs from its session (see the module docstring)."""

    #: the session's end of the pipe to the socket, or ``None`` (not yet, or no longer)
    pipe: Any
    #: subscriptions sent through this session (SUB/XSUB), replayed after a reconnection
    subscriptions: set[bytes]

    def engine_attached(self, engine: ZmtpEngine) -> None: ...

    def engine_ready(self, engine: ZmtpEngine, handshake: HandshakeComplete) -> None: ...

    def engine_closed(self, engine: ZmtpEngine, reason: BaseException | None) -> None: ...

    def zap_request(self, engine: ZmtpEngine, frames: list[bytes]) -> bool: ...


class ZmtpEngine(PipeEngine):
    """One ZMTP 3.1 connection serving one session.

    Args:
        sock: the connected stream socket (TCP or Unix).
        session: the :class:`ZmtpSession` this connection serves.
        socket_type: our socket type name (``"PAIR"``, ``"PUB"``, ...).
        identity: our routing id, sent in READY by REQ, DEALER and ROUTER.
        maxmsgsize: largest frame accepted from the peer in bytes; ``-1``: no limit.
        handshake_ivl: seconds the handshake may take; ``0``: no limit.
        heartbeat_ivl: seconds between our PINGs; ``0``: no heartbeats.
        heartbeat_ttl: the TTL our PINGs carry, in seconds (at most 6553.5).
        heartbeat_timeout: seconds to wait for traffic after a PING; ``None``: the interval;
            ``0``: do not wait.
        endpoint: the endpoint for events.
        high_water: write-queue size above which the engine stops pulling from the pipe.
        shortcut: the session's :class:`~zreactor.zmtp.shortcut.CallerShortcut`, served by
            this engine once its handshake completes; ``None``: no caller I/O.

    Attributes:
        conn: the :class:`ZmtpConnection`.
        handshake: the peer's :class:`HandshakeComplete` once it arrived, else ``None``.
        input: reading flow (:class:`Flow`). output: pulling flow.
    """

    # (slots, not dict entries: see StreamEngine)
    __slots__ = ("conn", "socket_type", "handshake_ivl", "heartbeat_ivl", "heartbeat_ttl",
                 "heartbeat_timeout", "_batch_limit", "_catching",
                 "_caught",
                 "_handshake_timer", "_timeout_timer", "_timeout_mark", "_ttl_timer",
                 "_ttl_mark", "_drops_data", "_labelled", "_label_batches")

    def __init__(
        self,
        sock: socket.socket,
        session: ZmtpSession,
        *,
        socket_type: str,
        identity: bytes = b"",
        maxmsgsize: int = -1,
        handshake_ivl: float = 30.0,
        heartbeat_ivl: float = 0.0,
        heartbeat_ttl: float = 0.0,
        heartbeat_timeout: float | None = None,
        endpoint: str = "",
        high_water: int = 256 * 1024,
        security: Any = None,
        shortcut: CallerShortcut | None = None,
    ) -> None:
        super().__init__(sock, session, endpoint=endpoint, high_water=high_water,
                         shortcut=shortcut)
        mechanism = None
        if security is not None:
            mechanism = security.with_peer(_peer_ip(sock)).factory()
        self.conn = ZmtpConnection(socket_type, identity=identity, maxmsgsize=maxmsgsize,
                                   mechanism=mechanism)
        # a request, a reply goes to the kernel without the pipe (zmtp/direct.py), and comes
        # from the kernel to the waiting socket without it (zmtp/direct_read.py)
        self.writes_direct = self.reads_direct = True
        self.socket_type = socket_type
        self.handshake_ivl = handshake_ivl
        self.heartbeat_ivl = heartbeat_ivl
        self.heartbeat_ttl = min(max(heartbeat_ttl, 0.0), PING_TTL_MAX / 10)
        self.heartbeat_timeout = heartbeat_ivl if heartbeat_timeout is None else heartbeat_timeout
        #: messages per ``read_batch`` in :meth:`_encode` (adapts to the message size)
        self._batch_limit = 64
        #: during a direct read (:meth:`_caller_read_direct`): a lone message goes to
        #: ``_caught`` instead of the pipe
        self._catching = False
        self._caught: list[bytes] | None = None
        self._handshake_timer: Timer | None = None
        self._timeout_timer: Timer | None = None  # our PING awaits any traffic
        self._timeout_mark = 0
        self._ttl_timer: Timer | None = None  # the peer's PING TTL
        self._ttl_mark = 0
        self._drops_data = socket_type == "PUB"
        #: metadata attached to every received frame (secure connections; see MetaBytes)
        #: the MetaBytes kind of this connection's received frames, if they carry metadata
        self._labelled: Any = None
        #: the codec does not label the frames of message batches itself: we do
        self._label_batches = False
        self._subscriber = socket_type in ("SUB", "XSUB")

    # -- StreamEngine hooks ---------------------------------------------------------------------

    def attached(self) -> None:
        """Tune the socket, tell the session, send our greeting, start the handshake timer."""
        if self.sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - the socket is already dead; reading says so
                pass
        self.session.engine_attached(self)
        if self.handshake_ivl > 0:
            self._handshake_timer = self.call_later(self.handshake_ivl, self._handshake_expired)
        self._send_pending()

    def get_buffer(self) -> memoryview | None:
        """In traffic, read straight into the frame decoder's buffer (no encryption). Not
        asked after a small read (``asks_buffer`` false: *Batching, in*)."""
        return self.conn.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        """As :meth:`data_received`, for ``nbytes`` read into :meth:`get_buffer`."""
        self.asks_buffer = nbytes >= MIN_SPACE  # (a small read: the next is a recv() chunk)
        self._deliver(self.conn.buffer_updated, nbytes)

    def _caller_read_direct(self) -> list[bytes] | int | None:
        """The direct read, the caller shortcut's call (zmtp/direct_read.py: socket's thread,
        lease held, the socket waiting in ``recv()`` with its end of the pipe asleep): one
        read through the one read path, the message it brings handed back instead of written
        to the pipe if it is alone and the pipe would take it first; anything else delivered
        as ``read_once`` delivers it (:meth:`_caller_read_rest`). The shortcut's express
        read makes these tests itself, and the ``recv()`` (zmtp/direct_read.py).

        Returns:
            None, having read nothing, while only the I/O thread may read (as
            :meth:`_caller_read_fd`); else the message read directly, or the bytes read as
            ``read_once`` returns them (one result: no list allocated per read to carry it).
        """
        if (self.state is not _ATTACHED or self.handshake is None or self.input is _BLOCKED
                or self.read_state is not _READ_OPEN):
            return None  # (_caller_read_fd's test, one call less)
        return self._caller_read_rest(False)

    def _caller_read_rest(self, got: bytes | OSError | bool) -> list[bytes] | int:
        """The direct read after its tests (:meth:`_caller_read_direct`), or the rest of the
        shortcut's express read (zmtp/direct_read.py, *The express read*), which made the
        ``recv()`` and found no lone message: ``got`` (False: nothing read yet; else the
        ``recv()``'s outcome) goes through the one read path (``read_once`` itself, or
        ``chunk_received``, ``read_failed``), a lone message the decoding finds still
        caught if the pipe would take it first.

        Returns:
            The message caught, or the bytes read as ``read_once`` returns them.
        """
        if isinstance(got, OSError):
            return self.read_failed(got)
        if got is False:
            pipe = self.session.pipe
            if pipe is None or not pipe.write_alone():
                return self.read_once()  # the pipe would not take it first: the ordinary way
        # while _catching, the decoding hands a lone message to _caught (_deliver) instead
        # of writing it to the pipe
        self._catching = True
        try:
            nbytes = self.read_once() if got is False else self.chunk_received(got)  # type: ignore[arg-type]
        finally:
            self._catching = False
        msg = self._caught
        if msg is None:
            return nbytes
        self._caught = None
        return msg

    def data_received(self, data: bytes) -> None:
        """Decode what arrived; write every message to the pipe; flush once.

        (A chunk that is one lone message, read for a waiting caller, never comes here: the
        direct read parses it where it reads it, :meth:`_caller_read_direct`.)"""
        self.asks_buffer = len(data) >= MIN_SPACE  # (as in buffer_updated)
        self._deliver(self.conn.receive_batch, data)

    def _deliver(self, decode: Callable[[Any], list[Any]], received: Any) -> None:
        """Decode with ``decode(received)``; write every message to the pipe; flush once."""
        self._reads += 1
        try:
            events = decode(received)
        except ProtocolError as exc:
            # What the codec queued before the violation (typically our READY, queued when
            # the peer's greeting parsed) goes out first, best effort: a peer whose READY we
            # reject then sees ours and rejects the pairing itself, a protocol error that
            # stops its reconnecting, instead of a bare disconnection it would retry.
            self._send_pending()
            self.drop(exc)
            return
        if self._catching and len(events) == 1 and not self.asks_buffer \
                and type(events[0]) is MessageBatch and not self._drops_data:
            # the direct read (_caller_read_direct, which checked the pipe would take it):
            # one batch of one message, nothing else
            messages = events[0].messages  # type: ignore[union-attr]
            if len(messages) == 1:
                msg = messages[0]
                self._caught = self._label(msg) if self._label_batches else msg
                return  # (nothing else came: nothing to flush, block or send)
        session = self.session
        pipe = session.pipe if self.handshake is not None else None
        backlog = self._backlog
        wrote = False
        #: only message batches came (plain traffic): decoding them queued nothing to send
        only_batches = bool(events)
        for event in events:
            kind = type(event)
            if kind is MessageBatch:
                if self._drops_data or pipe is None:
                    continue  # a PUB takes only subscriptions; or nobody to deliver to
                messages = event.messages  # type: ignore[union-attr]
                if self._label_batches:
                    messages = [self._label(m) for m in messages]
                taken = 0 if backlog else pipe.write_batch(messages)
                if taken:
                    wrote = True
                if taken < len(messages):
                    backlog.extend(messages[taken:] if taken else messages)
                continue
            only_batches = False
            if kind is Message:
                if self._drops_data:
                    continue  # a PUB takes nothing but subscriptions from its peers
                frames = event.frames  # type: ignore[union-attr]
                if self._labelled is not None:  # (decoded before the handshake was seen)
                    frames = self._label(frames)
            elif kind is Subscribe:
                frames = [_SUBSCRIBE_PREFIX + event.topic]  # type: ignore[union-attr]
            elif kind is Cancel:
                frames = [_CANCEL_PREFIX + event.topic]  # type: ignore[union-attr]
            else:
                self._on_control(event)
                if self.state is not _ATTACHED:
                    return
                pipe = session.pipe
                continue
            if pipe is None:
                continue  # the socket let go of this connection; the session is ending it
            if backlog or not pipe.write(frames):
                backlog.append(frames)
            else:
                wrote = True
        if wrote:
            pipe.flush()  # type: ignore[union-attr]
        if backlog and self.input is _RUNNING:
            INPUT_FLOW.fire(self, FlowEvent.BLOCK)
        if not only_batches:  # (a greeting, a handshake step, a PING may have queued some)
            self._send_pending()

    def eof_received(self) -> bool:
        """The peer closed the connection: drop it (a ZMTP peer never half-closes)."""
        self.drop(EOFError("the peer closed the connection"))
        return False

    def closed(self, reason: BaseException | None) -> None:
        """Report a failed handshake, then tell the session (see the module docstring)."""
        if self.handshake is None and reason is not None:
            if isinstance(reason, (AuthenticationFailed, HandshakeError, PeerErrorReceived)):
                self._report_failure(reason)
            elif isinstance(reason, ProtocolError):
                self.emit(EventKind.HANDSHAKE_FAILED_PROTOCOL, PROTOCOL_ERROR_ZMTP_UNSPECIFIED,
                          error=str(reason))
            else:
                self.emit(EventKind.HANDSHAKE_FAILED_NO_DETAIL,
                          getattr(reason, "errno", None) or 0, error=str(reason))
        elif isinstance(reason, HandshakeError):  # a bad CURVE box in traffic, as libzmq
            self._report_failure(reason)
        if isinstance(reason, ProtocolError):
            log.debug("%r: dropped: %s", self, reason)
        if self.shortcut is not None:
            self.shortcut.withdraw(self)
        self._backlog.clear()
        self.session.engine_closed(self, reason)

    # -- protocol ------------------------------------------------------------------------------

    def _on_control(self, event: Any) -> None:
        kind = type(event)
        if kind is Ping:
            self.conn.answer_ping(event)
            if event.ttl > 0:  # each PING restarts the TTL, as libzmq's cancel-and-arm does
                if self._ttl_timer is not None:
                    self._ttl_timer.cancel()
                self._ttl_mark = self._reads
                self._ttl_timer = self.call_later(event.ttl, self._ttl_expired)
        elif kind is HandshakeComplete:
            self._on_handshake(event)
        elif kind is PeerError:
            self.drop(PeerErrorReceived(event.reason))
        elif kind is ZapRequest:
            if not self.session.zap_request(self, event.frames):
                self._zap_events(self.conn.zap_unavailable)
        elif kind is AuthFailed:
            # the ERROR the connection queued (400/500) goes out before we close
            self._send_pending()
            self.close(AuthenticationFailed(
                f"ZAP handler refused the peer with status {event.status}", event.status))
        # Pong: its arrival already counted as traffic; nothing else to do

    def _label(self, frames: list[bytes]) -> list[bytes]:
        label = self._labelled
        return [label(frame) for frame in frames]

    def _on_handshake(self, handshake: HandshakeComplete) -> None:
        self.handshake = handshake
        mechanism = self.conn.mechanism
        if mechanism.number or mechanism.user_id or mechanism.zap_metadata:
            props = {k: v.decode("utf-8", "replace") for k, v in handshake.metadata.items()}
            props.update((k, v.decode("utf-8", "replace"))
                         for k, v in mechanism.zap_metadata.items())
            props["User-Id"] = mechanism.user_id.decode("utf-8", "replace")
            props["Peer-Address"] = _peer_ip(self.sock)
            self._labelled = MetaBytes.kind(props)
            # an encrypting codec builds each frame anyway: it labels them as it goes
            self._label_batches = not mechanism.label_frames(self._labelled)
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        self.emit(EventKind.HANDSHAKE_SUCCEEDED, 0, peer_type=handshake.peer_socket_type,
                  version=handshake.version)
        if self.heartbeat_ivl > 0:
            self.call_later(self.heartbeat_ivl, self._heartbeat)
        self.session.engine_ready(self, handshake)
        if self.state is not EngineState.ATTACHED:
            return
        if self.shortcut is not None:
            self.shortcut.serve(self)
        if self._subscriber:
            # a reconnection: the new peer knows nothing of what we subscribed to before
            for topic in sorted(self.session.subscriptions):
                self.conn.send_subscribe(topic)
        self._pull()

    def zap_reply(self, frames: list[bytes]) -> None:
        """The ZAP handler answered (from the session, same I/O thread)."""
        if self.state is EngineState.ATTACHED:
            self._zap_events(self.conn.zap_reply, frames)

    def _zap_events(self, call: Callable[..., list[Any]], *args: Any) -> None:
        try:
            events = call(*args)
        except ProtocolError as exc:
            self._send_pending()
            self.drop(exc)
            return
        for event in events:
            self._on_control(event)
            if self.state is not EngineState.ATTACHED:
                return
        self._send_pending()

    def _report_failure(self, reason: ProtocolError) -> None:
        """The monitor event libzmq sends for this handshake failure, and one log line."""
        if isinstance(reason, AuthenticationFailed):
            self.emit(EventKind.HANDSHAKE_FAILED_AUTH, reason.status, error=str(reason))
        elif isinstance(reason, PeerErrorReceived):
            status = AUTH_ERROR_REASONS.get(reason.reason)
            if status is not None:  # the server refused our credentials
                self.emit(EventKind.HANDSHAKE_FAILED_AUTH, status, error=str(reason))
            else:
                self.emit(EventKind.HANDSHAKE_FAILED_PROTOCOL, PROTOCOL_ERROR_ZMTP_UNSPECIFIED,
                          error=str(reason))
        elif isinstance(reason, HandshakeError):
            if reason.code is None:
                self.emit(EventKind.HANDSHAKE_FAILED_NO_DETAIL, reason.errno, error=str(reason))
            else:
                self.emit(EventKind.HANDSHAKE_FAILED_PROTOCOL, reason.code, error=str(reason))
        failure_log(self.endpoint, reason)

    def _send_pending(self) -> None:
        """Write whatever the connection has queued (greeting, READY, PONG, PING)."""
        if self.state is _ATTACHED and self.conn.has_data_to_send:
            self.write(self.conn.data_to_send())

    # -- sending -------------------------------------------------------------------------------

    def _pull(self) -> None:
        """Move messages from the pipe to the socket, a batch per ``write()``."""
        if self.output is _BLOCKED or self.handshake is None:
            return
        pipe = self.session.pipe
        conn = self.conn
        while pipe is not None and self.state is _ATTACHED:
            if self._subscriber:
                more, size, count = self._encode_subscriber(pipe), 0, 1
            else:
                more, size, count = self._encode(pipe)
            if not conn.has_data_to_send:
                pass
            elif size >= GATHER_BYTES * count:
                self._write_encoded(size, count)  # (large bodies: the gathered sendmsg())
            else:
                self.write(conn.data_to_send())  # may pause_writing() or lose the connection
            if not more or self.output is _BLOCKED:
                return

    def _write_encoded(self, size: int, count: int) -> None:
        """Write what the connection has queued (something: the caller knows): ``count``
        messages of ``size`` body bytes, and any command; may pause_writing() or lose the
        connection."""
        conn = self.conn
        if size >= GATHER_BYTES * count:
            # large bodies: hand the kernel the frame list, no join (see GATHER_BYTES)
            parts = conn.buffers_to_send()
            self.send_now(parts, sum(map(len, parts)))
        else:
            data = conn.data_to_send()
            # (write()'s checks hold: attached, and a ZMTP engine never shuts its write half)
            self.send_now((data,), len(data))

    def _encode(self, pipe: Any) -> tuple[bool, int, int]:
        """Queue up to :data:`BATCH_BYTES` of messages on the connection.

        Returns ``(more, size, count)``: ``more`` is False once the pipe is empty (it then
        sleeps, so a write wakes us), True if it may have more; ``size`` and ``count`` are the
        body bytes and the messages queued. Messages come off the pipe ``_batch_limit`` at a time, a count that
        follows the message size so that one pull stays near ``BATCH_BYTES``.
        """
        read_batch = pipe.read_batch
        send_batch = self.conn.send_batch  # the socket made every frame bytes
        size = count = 0
        while size < BATCH_BYTES:
            messages = read_batch(self._batch_limit)
            if not messages:
                return False, size, count
            nbytes = send_batch(messages)
            size += nbytes
            count += len(messages)
            self._batch_limit = min(_MAX_BATCH, max(
                1, BATCH_BYTES * len(messages) // (nbytes + len(messages))))
        return True, size, count

    def _encode_subscriber(self, pipe: Any) -> bool:
        """As :meth:`_encode`, turning subscription messages into SUBSCRIBE/CANCEL."""
        conn = self.conn
        subscriptions = self.session.subscriptions
        for _ in range(_SUBSCRIBER_BATCH):
            msg = pipe.read()
            if msg is None:
                return False
            if len(msg) == 1 and msg[0][:1] == _SUBSCRIBE_PREFIX:
                topic = msg[0][1:]
                subscriptions.add(topic)
                conn.send_subscribe(topic)
            elif len(msg) == 1 and msg[0][:1] == _CANCEL_PREFIX:
                topic = msg[0][1:]
                subscriptions.discard(topic)
                conn.send_cancel(topic)
            else:
                conn.send_message(msg)
        return True

    # -- timers --------------------------------------------------------------------------------

    def _handshake_expired(self) -> None:
        self._handshake_timer = None
        if self.handshake is None:
            self.drop(TimeoutError(errno.ETIMEDOUT,
                                    f"no ZMTP handshake within {self.handshake_ivl:g} s"))

    def _heartbeat(self) -> None:
        if self.state is not EngineState.ATTACHED:
            return
        self.call_later(self.heartbeat_ivl, self._heartbeat)
        self.conn.send_ping(self.heartbeat_ttl)
        timer = self._timeout_timer
        if self.heartbeat_timeout > 0 and (timer is None or self._reads != self._timeout_mark):
            # the first PING since the last traffic starts the wait (libzmq cancels the
            # timer on traffic and arms it at the next PING)
            if timer is not None:
                timer.cancel()
            self._timeout_mark = self._reads
            self._timeout_timer = self.call_later(self.heartbeat_timeout, self._timeout_expired)
        self._send_pending()

    def _silent_since(self, mark: int) -> bool:
        """True if nothing arrived since the read count was ``mark``; a fd the caller
        shortcut holds or borrows is read here first (the loop does not poll it then)."""
        if self._reads != mark:
            return False
        shortcut = self.shortcut
        if shortcut is not None and shortcut.lent_from(self):
            self.read_once()
        return self._reads == mark and self.state is EngineState.ATTACHED

    def _timeout_expired(self) -> None:
        self._timeout_timer = None
        if self._silent_since(self._timeout_mark):
            self.drop(TimeoutError(errno.ETIMEDOUT,
                                    f"no traffic within {self.heartbeat_timeout:g} s of our PING"))

    def _ttl_expired(self) -> None:
        self._ttl_timer = None
        if self._silent_since(self._ttl_mark):
            self.drop(TimeoutError(errno.ETIMEDOUT, "no traffic within the TTL of the peer's PING"))


def _peer_ip(sock: socket.socket) -> str:
    """The peer's IP address without the port, as ZAP requests carry it (``""`` for ipc)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return ""
    try:
        return str(sock.getpeername()[0])
    except OSError:
        return ""
