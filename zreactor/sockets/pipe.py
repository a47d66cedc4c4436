"""Pipes: bounded, lock-free message queues between two objects on (maybe) different threads.

Theory of operation
-------------------
A pipe connects two *sinks*: a socket and a session (tcp/ipc), or two sockets (inproc). It
is libzmq's ``pipe_t``: :func:`pipepair` makes two :class:`Pipe` ends, each of which writes
into one queue and reads from the other. Each end belongs to one sink and is touched only on
that sink's thread; the ends talk to each other through commands posted to the other sink's
mailbox. A message is a whole multipart message (a list of ``bytes`` frames), so a high-water
mark counts messages, as in libzmq.

*Queues and wake-ups (ypipe).* Each direction is a :class:`_Queue`: a ``deque`` (whose
``append`` and ``popleft`` are atomic in CPython) plus a ``reader_asleep`` flag. A reader that
finds the queue empty sets the flag *and then looks again*; a writer appends *and then looks
at the flag*, and if it is set clears it and sends ``ACTIVATE_READ``. Whichever order the two
threads interleave in, either the reader sees the new message or the writer sees the flag, so
no wake-up is lost (the interpreter's lock gives us the sequential consistency this Dekker-style
handshake needs). The worst case is a spurious ``ACTIVATE_READ`` for a reader that is already
awake, which is ignored. A burst of writes costs one command, not one per message.

*Batches.* An engine moves messages by the hundred: :meth:`Pipe.write_batch` extends the deque
once with as many messages as the high-water mark admits, and :meth:`Pipe.read_batch` pops up
to a limit in one call. They keep every rule above: a batch that does not fit whole leaves the
writer inactive exactly as a refused :meth:`Pipe.write` does (so ``ACTIVATE_WRITE`` brings it
back), a batch read from an empty queue goes to sleep with the same look-again, the delimiter
(always the last item, since nothing is written after it) ends a batch, and the reader sends
one ``ACTIVATE_WRITE`` per batch that crosses a multiple of the low-water mark.

*Caller I/O.* Waking a sleeping reader costs a command and a thread switch. A session's
pipe offers its socket a shortcut instead: the socket's end carries the session's
:class:`~zreactor.zmtp.shortcut.CallerShortcut` in its one typed slot, :attr:`Pipe.shortcut`.
The writer calls ``shortcut.offer_write()`` where it would send ``ACTIVATE_READ`` (the reader
asleep, the pipe writable), and sends the command only if that returns False; on True the
engine has done the reader's work on the writer's thread, under its loop's lease. The
reader then went back to sleep by itself, with the same look-again, so the protocol above is
unchanged; :meth:`Pipe.resume_reading` is the reader-side half, valid only under that
lease. The same shortcut lends the connection's fd to the socket while it waits (see
:mod:`zreactor.sockets.caller_wait`). Inproc pipes have none.

*Direct writes.* When the reader is a session whose engine is idle, sleeping on an empty
queue, :meth:`Pipe.send` first offers the message to ``shortcut.write_direct()``: the
engine encodes and writes it on the writer's thread, under its loop's lease, and the message
never enters the queue (:mod:`zreactor.zmtp.direct` says when, and why order, the high-water
marks and the counts above still hold: neither end counts it, so their difference is what it
would have been after the engine read it). :meth:`Pipe.reader_idle` is the reader-side test,
valid only under that lease.

*Express writes.* A REQ's request or a REP's reply, the one frame behind the empty
delimiter, goes further still: the pattern asks :meth:`Pipe.send_express` before it builds
the message at all, which makes :meth:`send`'s writer-side tests and hands the body to
``shortcut.write_express()``, the direct write for that one shape in one call
(:mod:`zreactor.zmtp.direct`, *The express write*). Refused, nothing has changed, and the
pattern takes :meth:`send`, which asks everything again.

*Direct reads.* The mirror: a socket waiting in ``recv()`` that reads its own connection
takes a message the engine read for it straight from the engine, when the pipe would have
taken it and it would have been the first its reader finds (:meth:`Pipe.write_alone`, the
writer-side test, under the engine's lease); neither end counts it either
(:mod:`zreactor.zmtp.direct_read`).

*Waking by hand.* When the socket's thread reads its own connection (the engine decodes on
that thread and writes to this pipe), an ``ACTIVATE_READ`` would be a command from the
socket's thread to itself: an eventfd write, then a drain and a dispatch, to say what the
thread is about to look at anyway. So the reader may wake its end itself around such a read:
:meth:`Pipe.rouse` clears its sleep flag first (the writer then sees an awake reader and
sends nothing), and :meth:`Pipe.settle` looks afterwards, activating the end if messages
came and otherwise going back to sleep with the same look-again. This is the reader's half
of the protocol above run by the reader itself, so it needs no lock and no lease: a writer
on another thread that appends between the two is seen by ``settle``, one that appends
after its look-again sees the flag raised and sends the command.

*High-water marks.* The writer counts messages written; the reader counts messages read and,
every ``lwm`` messages, tells the writer with ``ACTIVATE_WRITE(msgs_read)``. The writer is
full while ``written - peers_read >= hwm`` (``hwm == 0``: unbounded). A full writer goes
inactive and is re-activated by the next ``ACTIVATE_WRITE``. The low-water mark follows
libzmq's ``compute_lwm``.

*Termination (delimiter).* :meth:`Pipe.terminate` writes a *delimiter* after the queued
messages and sends ``PIPE_TERM`` to the peer. A peer created with ``delay=True`` keeps
delivering what is queued until it reads the delimiter (this is how linger delivers pending
messages); with ``delay=False`` it drops them at once. Either way three commands complete the
handshake (term, ack, ack) and each side's sink gets ``pipe_terminated`` exactly once. The
states and their moves are :class:`PipeState` and :data:`PIPE_TRANSITIONS` (a
:class:`~zreactor.reactor.fsm.Machine` fired with :class:`PipeEvent`; its rows send the
``PIPE_TERM``/``PIPE_TERM_ACK`` commands, and entering a state folds it into the flags).

*Conflation* (the ``CONFLATE`` option, libzmq's ``ypipe_conflate``): a :class:`ConflatePipe`
keeps at most the newest message in each direction. Its writer empties the queue before it
appends, so the reader finds only the latest; ``popleft`` and ``clear`` are each atomic, so
the reader gets either the old message or the new one, never a torn state. Such a pipe is
unbounded (hwm 0): its queue never holds more than one message, and messages that were
replaced are never read, so counting reads against writes would wrongly fill it. Only the
writer end appends the delimiter, after its last write, so a clear never drops it.
:func:`conflate_pair` turns an existing pair into one (an inproc connection made before a
conflating socket bound its name): its reader end keeps only the newest message queued.

Sink interface: ``mailbox`` (for commands), ``read_activated(pipe)``,
``write_activated(pipe)``, ``pipe_terminated(pipe)``.
"""

from __future__ import annotations

import enum
from collections import deque
from itertools import repeat
from typing import TYPE_CHECKING, Any

from ..reactor.fsm import Machine, Row
from ..reactor.mailbox import Command

if TYPE_CHECKING:
    from ..zmtp.shortcut import CallerShortcut

__all__ = [
    "PIPE_TRANSITIONS",
    "Pipe",
    "PipeCmd",
    "PipeEvent",
    "PipeState",
    "compute_lwm",
    "ConflatePipe",
    "conflate_pair",
    "pipepair",
]

Message = list  # a multipart message: list[bytes]

#: libzmq's ``max_wm_delta``: the low-water mark never lags the high one by more than this.
MAX_WM_DELTA = 1024


def compute_lwm(hwm: int) -> int:
    """libzmq's low-water mark for a given high-water mark."""
    return hwm - MAX_WM_DELTA if hwm > MAX_WM_DELTA * 2 else (hwm + 1) // 2


class PipeCmd(enum.Enum):
    """Commands between the two ends of a pipe (value: handler method on :class:`Pipe`)."""

    ACTIVATE_READ = "process_activate_read"
    ACTIVATE_WRITE = "process_activate_write"
    PIPE_TERM = "process_pipe_term"
    PIPE_TERM_ACK = "process_pipe_term_ack"


class PipeState(enum.Enum):
    """libzmq's pipe termination states."""

    ACTIVE = "active"
    #: the delimiter was read before the peer's PIPE_TERM command arrived
    DELIMITER_RECEIVED = "delimiter_received"
    #: the peer asked to terminate; we still deliver queued messages until the delimiter
    WAITING_FOR_DELIMITER = "waiting_for_delimiter"
    #: we acknowledged the peer's request; waiting for its final ack
    TERM_ACK_SENT = "term_ack_sent"
    #: we asked to terminate; waiting for the peer's ack
    TERM_REQ_SENT1 = "term_req_sent1"
    #: both asked at once; we acked theirs and wait for ours
    TERM_REQ_SENT2 = "term_req_sent2"
    #: the handshake is complete; the sink was told
    TERMINATED = "terminated"


class PipeEvent(enum.Enum):
    """What moves a pipe end through the termination handshake."""

    TERMINATE = "terminate()"
    TERMINATE_NO_DELAY = "terminate(delay=False)"
    #: the peer's ``PIPE_TERM`` arrived and this end delivers what is queued first
    PEER_TERM_DELAY = "PIPE_TERM (delay)"
    #: the peer's ``PIPE_TERM`` arrived and this end drops what is queued
    PEER_TERM = "PIPE_TERM (no delay)"
    DELIMITER = "delimiter read"
    PEER_TERM_ACK = "PIPE_TERM_ACK"


def _send_term(pipe: Pipe) -> None:
    pipe._send_peer(PipeCmd.PIPE_TERM)


def _ack_peer(pipe: Pipe) -> None:
    pipe._out = None  # nothing more goes to the peer
    pipe._send_peer(PipeCmd.PIPE_TERM_ACK)


# The state folds into the two activity flags, so the per-message paths test one attribute
# each: only ACTIVE writes, only ACTIVE and WAITING_FOR_DELIMITER read.
def _stop_writing(pipe: Pipe) -> None:
    pipe._out_active = False


def _stop(pipe: Pipe) -> None:
    pipe._out_active = pipe._in_active = False


def _terminated(pipe: Pipe) -> None:
    _stop(pipe)
    pipe._in.items.clear()  # drop whatever the peer left for us
    pipe.sink.pipe_terminated(pipe)


_S, _E = PipeState, PipeEvent
#: Every move the handshake makes (libzmq's ``pipe_t``, whose asserts are these rows).
#: ``terminate()`` where no row lists it is a no-op: the end is already going, or (delay on)
#: still delivering what the peer queued, and the peer's delimiter will finish it.
PIPE_TRANSITIONS: Machine[PipeState, PipeEvent] = Machine(
    "pipe",
    _S.ACTIVE,
    {
        (_S.ACTIVE, _E.TERMINATE): Row(_S.TERM_REQ_SENT1, _send_term),
        (_S.ACTIVE, _E.TERMINATE_NO_DELAY): Row(_S.TERM_REQ_SENT1, _send_term),
        (_S.ACTIVE, _E.PEER_TERM_DELAY): _S.WAITING_FOR_DELIMITER,
        (_S.ACTIVE, _E.PEER_TERM): Row(_S.TERM_ACK_SENT, _ack_peer),
        (_S.ACTIVE, _E.DELIMITER): _S.DELIMITER_RECEIVED,  # read before the PIPE_TERM came
        (_S.DELIMITER_RECEIVED, _E.PEER_TERM_DELAY): Row(_S.TERM_ACK_SENT, _ack_peer),
        (_S.DELIMITER_RECEIVED, _E.PEER_TERM): Row(_S.TERM_ACK_SENT, _ack_peer),
        (_S.DELIMITER_RECEIVED, _E.TERMINATE): Row(_S.TERM_REQ_SENT1, _send_term),
        (_S.DELIMITER_RECEIVED, _E.TERMINATE_NO_DELAY): Row(_S.TERM_REQ_SENT1, _send_term),
        (_S.WAITING_FOR_DELIMITER, _E.DELIMITER): Row(_S.TERM_ACK_SENT, _ack_peer),
        (_S.WAITING_FOR_DELIMITER, _E.TERMINATE_NO_DELAY): Row(_S.TERM_ACK_SENT, _ack_peer),
        # both ends asked at once: ack theirs, wait for ours
        (_S.TERM_REQ_SENT1, _E.PEER_TERM_DELAY): Row(_S.TERM_REQ_SENT2, _ack_peer),
        (_S.TERM_REQ_SENT1, _E.PEER_TERM): Row(_S.TERM_REQ_SENT2, _ack_peer),
        (_S.TERM_REQ_SENT1, _E.PEER_TERM_ACK): Row(_S.TERMINATED, _ack_peer),  # ack back
        (_S.TERM_REQ_SENT2, _E.PEER_TERM_ACK): _S.TERMINATED,
        (_S.TERM_ACK_SENT, _E.PEER_TERM_ACK): _S.TERMINATED,
    },
    entry={
        _S.DELIMITER_RECEIVED: _stop,
        _S.WAITING_FOR_DELIMITER: _stop_writing,
        _S.TERM_ACK_SENT: _stop,
        _S.TERM_REQ_SENT1: _stop,
        _S.TERM_REQ_SENT2: _stop,
        _S.TERMINATED: _terminated,
    },
)

#: the states that may still read, as module globals for the per-message wake-ups
#: (``reactor/fsm.py``, *Members on the per-message paths*)
_ACTIVE, _WAITING = PipeState.ACTIVE, PipeState.WAITING_FOR_DELIMITER

#: The in-band end-of-stream marker written by :meth:`Pipe.terminate`.
DELIMITER: Any = object()

_popleft = deque.popleft


class _Queue:
    """One direction of a pipe: a deque and the reader's sleep flag (see module docstring)."""

    __slots__ = ("items", "reader_asleep")

    def __init__(self) -> None:
        self.items: deque[Any] = deque()
        self.reader_asleep = False


class Pipe:
    """One end of a pipe. Create pairs with :func:`pipepair`.

    Attributes:
        sink: the object that owns this end (socket or session).
        peer: the other end.
        state: termination state.
        routing_id: set by ROUTER-like sockets to address this pipe.
        hwm: messages this end may have in flight towards the peer (0: unbounded).
    """

    __slots__ = (
        "sink", "peer", "state", "routing_id", "hwm", "lwm", "delay",
        "_in", "_out", "_in_active", "_out_active",
        "_msgs_read", "_msgs_written", "_peers_msgs_read", "endpoint", "data", "shortcut",
    )

    def __init__(self, inq: _Queue, outq: _Queue, inhwm: int, outhwm: int, delay: bool) -> None:
        self.sink: Any = None
        self.peer: Pipe | None = None
        self.state = PipeState.ACTIVE
        self.routing_id: bytes | None = None
        self.hwm = outhwm
        self.lwm = compute_lwm(inhwm)
        self.delay = delay
        self._in = inq
        self._out: _Queue | None = outq
        self._in_active = True
        self._out_active = True
        self._msgs_read = 0
        self._msgs_written = 0
        self._peers_msgs_read = 0
        #: the endpoint this pipe serves (for disconnect/unbind and events)
        self.endpoint = ""
        #: per-pipe scratch for the owning pattern (e.g. a subscription trie's key)
        self.data: Any = None
        #: on the socket's end of a session's pipe: the engine's offer to do its work on the
        #: socket's thread (module docstring, *Caller I/O*); None elsewhere (inproc)
        self.shortcut: CallerShortcut | None = None

    # -- commands to the peer -------------------------------------------------------------

    def _send_peer(self, kind: PipeCmd, *args: Any) -> None:
        peer = self.peer
        assert peer is not None
        peer.sink.mailbox.send(Command(peer, kind, args))

    # -- reading -----------------------------------------------------------------------------

    def check_read(self) -> bool:
        """True if a message can be read now (handles a pending delimiter)."""
        if not self._in_active:  # also false in every state that may not read
            return False
        items = self._in.items
        if not items:
            self._in.reader_asleep = True
            if not items:  # look again *after* raising the flag: see the module docstring
                self._in_active = False
                return False
            self._in.reader_asleep = False
        if items[0] is DELIMITER:
            items.popleft()
            self._process_delimiter()
            return False
        return True

    def read(self) -> Message | None:
        """Take the next message, or ``None`` if there is none (the pipe then sleeps)."""
        if not self._in_active:  # also false in every state that may not read
            return None
        items = self._in.items
        try:
            msg = items.popleft()
        except IndexError:
            self._in.reader_asleep = True
            try:
                msg = items.popleft()
            except IndexError:
                self._in_active = False
                return None
            self._in.reader_asleep = False
        if msg is DELIMITER:
            self._process_delimiter()
            return None
        self._msgs_read += 1
        if self.lwm > 0 and self._msgs_read % self.lwm == 0:
            self._send_peer(PipeCmd.ACTIVATE_WRITE, self._msgs_read)
        return msg

    def read_batch(self, limit: int) -> list[Message]:
        """Take up to ``limit`` messages, oldest first; ``[]`` if there are none.

        An empty result means what ``read() is None`` means: the pipe went to sleep (the next
        write wakes the sink with ``read_activated``) or it read the delimiter. Call again
        after a non-empty result until it returns ``[]``, or the pipe does not sleep and no
        wake-up will come.
        """
        if not self._in_active:  # also false in every state that may not read
            return []
        queue = self._in
        items = queue.items
        count = len(items)  # only this thread pops: at least this many stay there
        if not count:
            queue.reader_asleep = True
            count = len(items)  # look again *after* raising the flag (module docstring)
            if not count:
                self._in_active = False
                return []
            queue.reader_asleep = False
        if count > limit:
            count = limit
        msgs = list(map(_popleft, repeat(items, count)))  # (count pops, in C)
        if msgs[-1] is DELIMITER:  # nothing is written after a delimiter: it can only be last
            msgs.pop()
            count -= 1
            self._process_delimiter()
        if count:
            lwm = self.lwm
            before = self._msgs_read
            self._msgs_read = after = before + count
            if lwm > 0 and before // lwm != after // lwm:
                self._send_peer(PipeCmd.ACTIVATE_WRITE, after)
        return msgs

    def _process_delimiter(self) -> None:
        PIPE_TRANSITIONS.fire(self, PipeEvent.DELIMITER)

    # -- writing -----------------------------------------------------------------------------

    def check_hwm(self) -> bool:
        """True if the high-water mark leaves room for one more message."""
        return self.hwm <= 0 or self._msgs_written - self._peers_msgs_read < self.hwm

    def check_write(self) -> bool:
        """True if a message can be written now; a full pipe goes inactive."""
        if not self._out_active:  # also false in every state but ACTIVE
            return False
        hwm = self.hwm
        if hwm > 0 and self._msgs_written - self._peers_msgs_read >= hwm:
            self._out_active = False
            return False
        return True

    def write(self, msg: Message) -> bool:
        """Queue ``msg`` (call :meth:`flush` after); False if the pipe cannot take it."""
        # check_write(), inlined: this runs once per message
        if not self._out_active:
            return False
        hwm = self.hwm
        if hwm > 0 and self._msgs_written - self._peers_msgs_read >= hwm:
            self._out_active = False
            return False
        self._out.items.append(msg)  # type: ignore[union-attr]
        self._msgs_written += 1
        return True

    def write_batch(self, msgs: list[Message]) -> int:
        """Queue the first messages of ``msgs`` that the high-water mark admits; return how
        many (call :meth:`flush` after).

        Fewer than ``len(msgs)`` means the pipe is full: it went inactive, as after a refused
        :meth:`write`, and the sink hears ``write_activated`` when the reader makes room.
        """
        if not self._out_active:  # also false in every state but ACTIVE
            return 0
        count = len(msgs)
        hwm = self.hwm
        if hwm > 0:
            room = hwm - (self._msgs_written - self._peers_msgs_read)
            if room < count:
                self._out_active = False
                if room <= 0:
                    return 0
                msgs = msgs[:room]
                count = room
        self._out.items.extend(msgs)  # type: ignore[union-attr]
        self._msgs_written += count
        return count

    def send(self, msg: Message) -> bool:
        """:meth:`write` then :meth:`flush`, in one call: what a socket does per message."""
        if not self._out_active:
            return False
        hwm = self.hwm
        if hwm > 0 and self._msgs_written - self._peers_msgs_read >= hwm:
            self._out_active = False
            return False
        out = self._out
        shortcut = self.shortcut
        # (the sleep flag first: a stream's sends find the reader awake and pay one test)
        if out.reader_asleep and shortcut is not None \
                and shortcut.write_direct(msg):  # type: ignore[union-attr]
            return True  # written by the engine on this thread, never queued (*Direct writes*)
        out.items.append(msg)  # type: ignore[union-attr]
        self._msgs_written += 1
        if out.reader_asleep:  # type: ignore[union-attr]
            out.reader_asleep = False  # type: ignore[union-attr]
            if shortcut is None or not shortcut.offer_write():
                self._send_peer(PipeCmd.ACTIVATE_READ)
        return True

    def send_express(self, body: bytes) -> bool:
        """Writer side of *Express writes*: the lock-step socket's message ``[b"", body]``
        written to the kernel now by the engine (``shortcut.write_express``), if
        :meth:`send` would have offered it to the direct write: the end writable, the
        high-water mark leaving room, the reader asleep. False, having done nothing (not
        even gone inactive), otherwise: the caller then takes :meth:`send`.
        """
        if not self._out_active:  # (also false in every state but ACTIVE)
            return False
        hwm = self.hwm
        if hwm > 0 and self._msgs_written - self._peers_msgs_read >= hwm:
            return False  # (send() then goes inactive, as it does)
        shortcut = self.shortcut
        return (shortcut is not None and self._out.reader_asleep  # type: ignore[union-attr]
                and shortcut.write_express(body))

    def flush(self) -> None:
        """Make written messages visible: wake the reader if it went to sleep."""
        out = self._out
        if out is not None and out.reader_asleep:
            out.reader_asleep = False
            shortcut = self.shortcut
            if shortcut is None or not self._out_active:
                # (not while terminating: the delimiter goes the ordinary way)
                self._send_peer(PipeCmd.ACTIVATE_READ)
            elif not shortcut.offer_write():
                self._send_peer(PipeCmd.ACTIVATE_READ)

    def resume_reading(self) -> bool:
        """Reader side of *Caller I/O*: wake this end as ``ACTIVATE_READ`` would, without
        telling the sink; False if it may not read any more.

        Only for a thread that holds the reader's I/O loop lease (the pipe's rule of one
        thread per end holds because the loop is asleep meanwhile).
        """
        if not self._in_active:
            state = self.state
            if state is not _ACTIVE and state is not _WAITING:
                return False
            self._in_active = True
        return True

    def reader_idle(self) -> bool:
        """Reader side of *Direct writes*: True if this end sleeps on an empty queue, so a
        message written now would be the only one the reader finds.

        Only for a thread that holds the reader's I/O loop lease (the reader cannot wake
        meanwhile, and only it pops).
        """
        queue = self._in
        return not self._in_active and queue.reader_asleep and not queue.items \
            and self.state is _ACTIVE

    def write_alone(self) -> bool:
        """Writer side of *Direct reads*: True if a message written now would be taken (the
        end writable, the high-water mark leaving room) and be the first its reader finds
        (nothing queued).

        Only for a thread that holds the writer's I/O loop lease and is the reader's thread
        (the socket's, reading its connection while it waits): then nobody else writes or
        pops meanwhile.
        """
        if not self._out_active or self._out.items:  # type: ignore[union-attr]
            return False  # (_out_active is false in every state but ACTIVE)
        hwm = self.hwm
        # (tested, not returned: CPython 3.11 specialises a comparison only where a jump
        # follows it; a returned one costs a generic rich compare, ~100 instructions each)
        if hwm > 0 and self._msgs_written - self._peers_msgs_read >= hwm:
            return False
        return True

    def rouse(self) -> bool:
        """Reader side of *Waking by hand*: wake this sleeping end before this thread makes
        its writer write (the engine reading on the socket's thread), so that no
        ``ACTIVATE_READ`` comes back to it. False (nothing done) unless the end was asleep
        and may read; after True, call :meth:`settle` once the writer is done.
        """
        if self._in_active:
            return False  # awake: the reader looks anyway
        state = self.state
        if state is not _ACTIVE and state is not _WAITING:
            return False
        self._in.reader_asleep = False
        return True

    def settle(self) -> None:
        """Reader side of *Waking by hand*, after :meth:`rouse`: activate this end (the sink
        hears ``read_activated``, as from the command) if anything came, else sleep again,
        looking once more after raising the flag."""
        queue = self._in
        if not queue.items:
            queue.reader_asleep = True
            if not queue.items:  # look again *after* raising the flag: see the module docstring
                return
            queue.reader_asleep = False
        self.process_activate_read()  # what the command would have run

    @property
    def pending_out(self) -> int:
        """Messages written by this end that the peer has not read yet (approximately)."""
        return self._msgs_written - self._peers_msgs_read

    @property
    def pending_in(self) -> int:
        """Messages (and maybe a delimiter) queued for this end to read."""
        return len(self._in.items)

    # -- activation commands -----------------------------------------------------------------

    def process_activate_read(self) -> None:
        """The peer wrote to a sleeping reader."""
        if not self._in_active and (self.state is _ACTIVE or self.state is _WAITING):
            self._in_active = True
            self.sink.read_activated(self)

    def process_activate_write(self, msgs_read: int) -> None:
        """The peer read up to ``msgs_read``: room may have opened below the HWM."""
        self._peers_msgs_read = msgs_read
        if not self._out_active and self.state is PipeState.ACTIVE:
            self._out_active = True
            self.sink.write_activated(self)

    # -- termination ---------------------------------------------------------------------------

    def terminate(self, delay: bool, last: Message | None = None) -> None:
        """Start closing this end; the sink hears ``pipe_terminated`` when it is done.

        Args:
            delay: let the *peer* deliver what we already wrote before it closes.
            last: a final message, queued together with the delimiter in one step (one
                ``deque.extend``), so a reader that gets it finds the end right behind it
                and never sees the pipe open after it (a STREAM socket's disconnection
                notice). Dropped, as a refused :meth:`write`, if the high-water mark has no
                room, or if this end is already going.
        """
        self.delay = delay
        event = PipeEvent.TERMINATE if delay else PipeEvent.TERMINATE_NO_DELAY
        if not PIPE_TRANSITIONS.allows(self, event):
            return  # already going, or delivering the peer's queue (see PIPE_TRANSITIONS)
        fits = last is not None and self._out_active and self.check_hwm()
        PIPE_TRANSITIONS.fire(self, event)
        out = self._out
        if out is not None:
            # Watermarks are not checked: the delimiter always fits.
            if fits:
                out.items.extend((last, DELIMITER))
                self._msgs_written += 1
            else:
                out.items.append(DELIMITER)
            self.flush()

    def process_pipe_term(self) -> None:
        """The peer asked to terminate."""
        # with delay, keep delivering; the delimiter (already flushed after the PIPE_TERM,
        # so an ACTIVATE_READ follows if we slept) ends the wait
        PIPE_TRANSITIONS.fire(self, PipeEvent.PEER_TERM_DELAY if self.delay else PipeEvent.PEER_TERM)

    def process_pipe_term_ack(self) -> None:
        """The peer acknowledged: this end is finished (the sink hears ``pipe_terminated``)."""
        PIPE_TRANSITIONS.fire(self, PipeEvent.PEER_TERM_ACK)

    @property
    def terminated(self) -> bool:
        """True once the handshake is complete."""
        return self.state is PipeState.TERMINATED

    @property
    def reading_ended(self) -> bool:
        """True once nothing more can be read from this end: the peer's delimiter was read,
        or a termination dropped what was left. For a reader whose read came back empty and
        that must tell "asleep" from "over" (a STREAM socket's raw engine closes then)."""
        state = self.state
        return state is not PipeState.ACTIVE and state is not PipeState.WAITING_FOR_DELIMITER

    def __repr__(self) -> str:
        return f"<Pipe {self.endpoint or '?'} {self.state.value} sink={type(self.sink).__name__}>"


def pipepair(
    sinks: tuple[Any, Any], hwms: tuple[int, int], delays: tuple[bool, bool] = (True, True),
    conflate: bool = False,
) -> tuple[Pipe, Pipe]:
    """Create two connected pipe ends.

    Args:
        sinks: the owners of end 0 and end 1.
        hwms: ``hwms[i]`` bounds the messages end ``i`` may have queued towards the other
            (libzmq: ``(sndhwm, rcvhwm)`` from the socket's point of view; 0: unbounded).
        delays: whether each end, when its peer terminates, still delivers queued messages.
        conflate: keep only the newest message each way (:class:`ConflatePipe`; the hwms
            are then ignored, as libzmq ignores them).
    """
    a_to_b, b_to_a = _Queue(), _Queue()
    cls = ConflatePipe if conflate else Pipe
    if conflate:
        hwms = (0, 0)
    a = cls(b_to_a, a_to_b, hwms[1], hwms[0], delays[0])
    b = cls(a_to_b, b_to_a, hwms[0], hwms[1], delays[1])
    a.peer, b.peer = b, a
    a.sink, b.sink = sinks
    return a, b


class ConflatePipe(Pipe):
    """A pipe end whose writes replace what the reader has not taken yet (``CONFLATE``;
    see the module docstring)."""

    __slots__ = ()

    def write(self, msg: Message) -> bool:
        """Replace the queued message, if any, with ``msg``."""
        if self._out_active and self._out is not None:
            self._out.items.clear()
        return super().write(msg)

    def write_batch(self, msgs: list[Message]) -> int:
        """Keep only the last of ``msgs``; all of them count as written."""
        if not msgs or not self.write(msgs[-1]):
            return 0
        return len(msgs)

    def send(self, msg: Message) -> bool:
        """Replace the queued message with ``msg`` and wake the reader."""
        if self._out_active and self._out is not None:
            self._out.items.clear()
        return super().send(msg)


def conflate_pair(reader: Pipe, writer: Pipe) -> None:
    """Make the pair ``reader``/``writer`` (ends of one pipe) conflating from now on.

    For a connection made before its other side asked for ``CONFLATE`` (an inproc connect
    waiting for a conflating socket's bind). Call it on the thread that will read
    ``reader`` before that end is attached, so nobody else reads it yet: it keeps the newest
    message queued towards ``reader`` and drops the rest, as conflation would have, and both
    ends become :class:`ConflatePipe` (the same slots, so the class can change in place) with
    no hwm. The writer's thread may still be in a plain ``write``: at worst one message more
    waits until its next write, which replaces both.
    """
    for end in (reader, writer):
        end.__class__ = ConflatePipe
        end.hwm = 0
    items = reader._in.items
    while len(items) > 1:
        items.popleft()
