"""The caller shortcut: a ZMTP engine's write and read, done on its socket's thread.

Theory of operation
-------------------
A message handed to a sleeping I/O thread costs a command, a wake-up and a thread switch
before it reaches the kernel, and a reply read by the I/O thread costs the same again before
the waiting socket sees it. For a request/reply exchange that is most of a round trip. So a
:class:`~zreactor.zmtp.engine.ZmtpEngine` offers the socket it serves a
:class:`CallerShortcut`: while the engine's I/O loop sleeps, the socket's own thread may do
the engine's work itself, under a :class:`~zreactor.reactor.lease.LoopLease` (the rules of
borrowing a loop, and the one wake-up that makes timers armed meanwhile visible to it, are
in :mod:`zreactor.reactor.lease`). This is *caller I/O*; this module is its only home in
the ZMTP layer, :mod:`zreactor.sockets.caller_wait` its home in the messaging layer.

One shortcut serves one session's pipe for its whole life; each engine of that session
:meth:`~CallerShortcut.serve`\\ s it once its handshake completes and
:meth:`~CallerShortcut.withdraw`\\ s when it closes (both on the loop's thread, so a lease
holder sees a consistent engine). The socket's end of the pipe carries it in its one typed
slot, ``Pipe.shortcut``.

*The write.* When the socket writes to a pipe whose reader (the engine) is asleep, the pipe
calls :meth:`~CallerShortcut.offer_write` instead of sending ``ACTIVATE_READ``. Under a lease
(refused at once if the loop is busy: the pipe then sends the command), and only if the
engine is idle (handshake done, nothing queued, output running, and at most one caller
write per read from the peer), the shortcut wakes the engine's end of the pipe as the
command would and lets the engine pull and write it, through its one write path.
The one-write-per-read rule keeps streams batched: a sender that streams without reading
gets the ordinary hand-off after its first message, and the I/O thread then pulls hundreds
of messages per ``write()``. A subscriber (SUB, XSUB) is exempt: what it writes is its
subscriptions, one per ``setsockopt``, and each one leaves before the call returns (see
*The early read*). Message order holds because the pipe's reader was asleep (the pipe
empty before this message) and the lease keeps the loop out meanwhile.

*The direct write.* When the message the socket is about to write would be the whole of
the engine's next pull (the engine idle, its end of the pipe asleep on an empty queue), the
pipe offers it to :meth:`~CallerShortcut.write_direct` before queueing it, and the engine
encodes and writes that one message with no pull at all: :mod:`zreactor.zmtp.direct` has
the rules and why order, the high-water marks and the pipe's counts hold. A request or a
reply of a lock-step socket goes this way; a stream's first message after a read does too,
and the rest are queued and pulled in batches as before. The plain request or reply
(``[b"", body]``, a short body) takes :meth:`~CallerShortcut.write_express` instead, the
same write in one call from the pattern (:mod:`zreactor.zmtp.direct`, *The express write*).

*The direct read.* A socket that waits in ``recv()`` on its one
connection asks :meth:`~CallerShortcut.take_back` to hand it the message its read brings
when that message would be alone in the pipe; the engine's one read path then gives it to
the caller instead of the pipe, and the socket's pattern takes it at once.
:mod:`zreactor.zmtp.direct_read` has the rules, and why order, the high-water marks, the
heartbeats and the pipe's counts hold.

*The express read.* The direct read of a socket that holds its one connection's fd (REQ
waiting for its reply, REP for its request: *The held read*, below) is one call,
:meth:`~CallerShortcut.read_express`: the wait on the held fd and the mailbox
(``Mailbox.wait_with_one``), the lease, the direct read's tests, the engine's ``recv()``
and the parse of a lone message (``conn.receive_lone``) made where it is read, the held
fd's tick marked. It makes each test :meth:`~CallerShortcut.lend_read`, :meth:`~CallerShortcut.take_back`
and the engine's direct read make, once: a held fd needs no lending, the socket's end of the
pipe sleeping on an empty queue (``Pipe.reader_idle``) is the direct read's rule and needs no
waking by hand, and a lone message handed over leaves the fd held as it found it. Anything
else the read brings (a command, two messages, a partial frame, a large one, EOF, an error)
goes on through the engine's one read path with the bytes already read
(``_caller_read_rest``), into the pipe woken by hand, exactly as :meth:`take_back` sends it;
a wait that is not on a held fd is :meth:`take_back`'s. :mod:`.direct_read` has the rules.

*The read.* A socket about to block lends the fds of its few connections
(:meth:`~CallerShortcut.lend_read`: under a lease, the engine stops the loop polling its fd),
waits on them together with its mailbox, and gives each back with
:meth:`~CallerShortcut.take_back`, reading it first through the engine's one read path if it
became readable (a few chunks at most, so that one wait carries a large message but a fast
sender cannot keep the caller there). Giving back waits for the lease
(:meth:`IOThread.wait_lease <zreactor.reactor.io_thread.IOThread.wait_lease>`): a lent fd
must come home. EOF and errors read here end the engine here, as they would on the loop.
A caller that goes on waiting after a read (an event loop between two receives) reads with
:meth:`~CallerShortcut.read_lent` instead, which keeps the fd lent (``CALLER``) unless the
read ended the connection or paused its input (the fd then goes home at once, and the
caller is told).

*The read's byte bound.* A caller read stops after :data:`CALLER_READ_CHUNKS` reads or
:data:`CALLER_READ_BYTES` (256 KiB), whichever comes first; it makes no read that the rest
of the bound could not hold a chunk (``read_size``) of. The bodies one caller read
decodes are allocated together, on the socket's thread (glibc's main arena, at the top of its
heap), and freed together as the application takes them; once the freed run at the top
reaches glibc's trim threshold (128 KiB by default), ``free()`` gives it back (``brk``) and
the next read faults every page in again. Eight reads of four 64 KiB frames (the read
buffer's size for them) made 2 MiB of bodies live per caller read: 13 page faults and 0.3
``brk`` calls per 64 KB message over tcp, 12 faults over ipc. One read of four frames keeps
the run at 256 KiB: 5.3–5.5 faults over tcp and 4.7–5.5 over ipc (pyzmq's PULL fed by
pyzmq: 0.8–6.2), the receiver's CPU 122–135 → 82–103 µs per message over tcp and
106–112 → 91–96 µs over ipc (``os.wait4`` of a zreactor PULL fed by a zreactor PUSH,
20 000 messages, start-up of about 25 µs per message included). The faults left come mostly
from bodies the I/O thread read while the application was busy, in its own arena, freed
together later (``madvise``). Full 64 KiB chunks of small messages meet the byte bound after
four reads instead of eight: 2 600 messages of 100 B per caller read instead of 5 200, which
only a receiver far behind its sender ever reads in one go.

*The held read* (sockets that know their next call: REQ, REP, PULL, SUB). Lent only while the
socket waits, the fd
is the loop's again between one wait and the next, and a reply that lands in that window
(it lands during the peer's turnaround, while the socket is still on its way from ``send()``
to ``recv()``) wakes the I/O thread instead, which reads it and hands it over: the two
thread wake-ups the shortcut exists to save. A socket that alternates strictly between
``send()`` and ``recv()`` knows what comes next, and so does one that only receives (PULL, SUB),
so it sets :attr:`CallerShortcut.holds_reads`
and the fd stays with its thread *between* its calls too: a caller write or a caller read
ends in the same lease with the fd kept away from the loop, **held**, and the next wait
polls it without lending anything. Who reads the fd is one machine, :data:`READER` over
:class:`Reader`; its entry actions set the loop's read interest to match:

* ``LOOP``: the I/O loop polls the fd (an engine's start, and whenever nothing is lent);
* ``CALLER``: lent to the socket's thread, which polls it while it waits;
* ``HELD``: the socket's thread's across its calls: it polls the fd while it waits (taking
  no lease to begin: the fd is its already) and *nobody* polls it in between.

Nobody polling is only safe for a short while: an application that sends and then does
something else for a minute must still answer the peer's heartbeats, see it hang up and
report that to its monitor. So the loop takes a held fd back by itself, on a *tick*: a
timer of :data:`HOLD_TICK` on the engine, armed by the move into ``HELD`` (under the lease,
so the lease's one wake-up shows it to the sleeping loop) and again by a socket that ends a
wait and finds it lapsed. The socket's thread marks its uses of the fd (a caller write, the
end of a wait) and says while it polls it. A tick that finds the fd ``HELD``

* and polled: lapses (the socket is waiting on it; the end of that wait arms the next);
* and used since the last tick: arms the next itself, from the loop (no wake-up to pay: an
  exchange in progress costs one loop wake-up per tick, not one per message);
* and unused for a whole tick: moves it to ``LOOP``.

So no fd stays unpolled for longer than two ticks. The messaging layer gives a held
fd back at once (:meth:`~CallerShortcut.release`) whenever the socket returns to the
application without having waited on it (``EAGAIN``, ``EVENTS``, a ``Poller``, ``close()``),
and a socket whose wake-up fd was handed out (an event loop watches it) never holds: see
:mod:`zreactor.sockets.caller_wait`. A heartbeat timer that would judge the peer silent looks
at a held or lent fd first (:meth:`ZmtpEngine <zreactor.zmtp.engine.ZmtpEngine>`, *Heartbeats*).

No message is lost or reordered by holding: holding changes only *which thread* reads the
fd next (under the loop's lock either way, through the one read path), never what is read or
in which order it reaches the pipe.

*The early read* (publishers). A subscription travels from the subscriber's thread to its
I/O thread, over the wire, to the publisher's I/O thread and on to the publisher's socket.
In libzmq those threads run beside the application's; here each hop needs the interpreter
lock the application's thread is holding, for up to a switch interval (5 ms) per hop. So a
subscriber that subscribes and a publisher that sends a moment later (one thread, or two)
would lose the message for want of a subscription long since in the kernel. The subscriber
side is the exemption above: the subscription is written on the subscriber's thread. The
publisher side is :meth:`~CallerShortcut.read_waiting`: before it sends, a publisher reads
what already waits in its connections' kernel buffers, on its own thread, under a lease,
through the engine's one read path, into its pipe woken by hand; it applies the
subscriptions and only then matches the message. This lease is waited for, not tried: a
loop that is busy may be reading this very subscription (it woke when the data landed), and
a publisher that went ahead would miss it; the wait is for the handlers of one loop
iteration at most, as a give-back's. Code on an I/O thread (a logging handler publishing a
record the loop logged) never waits: two loops could wait for each other. This is libzmq's
``process_commands`` on send, with the I/O thread's read done by the caller (the messaging
layer throttles it as libzmq does: :mod:`zreactor.sockets.pubsub`). Nothing is read twice or
out of order: the loop, level-triggered, finds the fd empty (one wasted ``recv()``) or reads
what came after, under the same lock.

*Counting.* :attr:`~CallerShortcut.writes` and :attr:`~CallerShortcut.reads` count the times
the shortcut carried a message out or read data in (:attr:`~CallerShortcut.direct_writes`
those writes that were direct, :attr:`~CallerShortcut.direct_reads` the messages handed
over by direct reads), :attr:`~CallerShortcut.early_reads` the early reads,
:attr:`~CallerShortcut.holds` the moves into ``HELD`` and :attr:`~CallerShortcut.taken_back`
the ticks that found the fd held; tests and benchmarks assert on them.

Threads: :meth:`~CallerShortcut.serve`, :meth:`~CallerShortcut.withdraw` and the tick on the
engine's I/O thread; everything else on the socket's thread, the lease taken inside.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from ..reactor.engine import EngineState
from ..reactor.fsm import Machine, Row
from ..reactor.io_thread import on_a_loop_thread
from ..reactor.stream import ReadState, WriteState
from . import direct
from .engine import Flow
from .frames import DELIMITED_HEADERS, SHORT_MAX
from .state import State

if TYPE_CHECKING:
    from ..reactor.io_thread import IOThread
    from ..reactor.mailbox import Mailbox
    from ..reactor.lease import LoopLease
    from ..reactor.poller import Timer
    from .engine import ZmtpEngine

__all__ = [
    "CALLER_READ_BYTES",
    "CALLER_READ_CHUNKS",
    "HOLD_TICK",
    "READER",
    "CallerShortcut",
    "Reader",
    "ReaderEvent",
]

#: most ``recv()`` calls one :meth:`CallerShortcut.take_back` makes
CALLER_READ_CHUNKS = 8
#: most bytes one :meth:`CallerShortcut.take_back` reads (see *The read's byte bound*)
CALLER_READ_BYTES = 256 * 1024
#: the loop takes back a read held for a socket that did not come back to use it
#: for this long (seconds; so within two ticks of its last use, see *The held read*); the
#: loop wakes once per tick while an exchange goes on
HOLD_TICK = 0.05


class Reader(enum.Enum):
    """Which thread reads the engine's fd (see *The held read*)."""

    #: the I/O loop polls it
    LOOP = "loop"
    #: lent to the socket's thread, which polls it while it waits
    CALLER = "caller"
    #: the socket's thread's, between its calls too: it polls the fd while it waits (no
    #: lending needed) and nobody polls it in between
    HELD = "held"


class ReaderEvent(enum.Enum):
    """What moves the fd between its readers."""

    #: the socket is about to wait on it
    LEND = "lend_read()"
    #: a caller write or read of a socket that knows its next call: keep it for the next wait
    HOLD = "hold (next call known)"
    #: the socket gives it back (done waiting, may not hold, or returning to the app)
    GIVE_BACK = "give back"
    #: the loop's tick found it held: nobody came to wait on it
    TAKE_BACK = "tick"
    #: an engine began or stopped serving the shortcut: its fd starts with the loop
    RESET = "serve() / withdraw()"


def _to_loop(shortcut: CallerShortcut) -> None:
    engine = shortcut._engine
    if engine is not None:
        engine._caller_give_back()


def _from_loop(shortcut: CallerShortcut) -> None:
    engine = shortcut._engine
    if engine is not None:
        engine._caller_lend()


def _arm_tick(shortcut: CallerShortcut) -> None:
    shortcut.holds += 1
    shortcut._ensure_tick()


_R, _E = Reader, ReaderEvent
#: Who reads the fd; entering a state sets the loop's read interest to match.
READER: Machine[Reader, ReaderEvent] = Machine("caller read", _R.LOOP, {
    (_R.LOOP, _E.LEND): _R.CALLER,  # (a held fd is the socket's already: no move)
    (_R.LOOP, _E.HOLD): Row(_R.HELD, _arm_tick),  # a caller write
    (_R.CALLER, _E.HOLD): Row(_R.HELD, _arm_tick),  # a caller read, done waiting
    (_R.CALLER, _E.GIVE_BACK): _R.LOOP,
    (_R.HELD, _E.GIVE_BACK): _R.LOOP,
    (_R.HELD, _E.TAKE_BACK): _R.LOOP,
    (_R.LOOP, _E.RESET): _R.LOOP,
    (_R.CALLER, _E.RESET): _R.LOOP,
    (_R.HELD, _E.RESET): _R.LOOP,
}, attr="reader", entry={_R.LOOP: _to_loop, _R.CALLER: _from_loop, _R.HELD: _from_loop})


#: the readers the socket's calls test, as module globals (``reactor/fsm.py``, *Members on
#: the per-message paths*)
_LOOP, _HELD = Reader.LOOP, Reader.HELD
#: the engine's states the express read tests (the same, for the same reason)
_ATTACHED, _BLOCKED, _READ_OPEN = EngineState.ATTACHED, Flow.BLOCKED, ReadState.OPEN
#: the engine's and the connection's states the express write tests, likewise
_RUNNING, _WRITE_OPEN = Flow.RUNNING, WriteState.OPEN
_TRAFFIC = State.TRAFFIC


class CallerShortcut:
    """One session's caller I/O: the current engine's write and read, offered to the socket.

    Attributes:
        reader: who reads the engine's fd (:class:`Reader`, moved by :data:`READER`).
        holds_reads: set by the socket's thread (:func:`zreactor.sockets.caller_wait.arrange`):
            its socket knows its next call (REQ and REP alternate send and recv, PULL and
            SUB only receive), so reads are held between its calls (see *The held read*).
        express_writes: requests and replies written by :meth:`write_express`, never queued
            (a part of :attr:`direct_writes`).
        express_reads: messages :meth:`read_express` parsed where it read them and handed
            straight to the waiting socket (*The express read*; a part of
            :attr:`direct_reads`).
        early_reads: calls of :meth:`read_waiting` that read the fd.
        lends: fds lent by :meth:`lend_read`.
        holds: moves into ``HELD``.
        taken_back: ticks of the loop that found the fd still held.
    """

    __slots__ = ("_engine", "_thread", "_lease", "_tick_timer", "_used",
                 "_polling", "_held_fd", "reader", "holds_reads", "_pulled_writes", "_direct_writes",
                 "express_writes", "_direct_reads", "express_reads", "_pipe_reads", "early_reads",
                 "lends", "holds", "taken_back")

    def __init__(self) -> None:
        self._engine: ZmtpEngine | None = None
        #: the serving engine's I/O thread (whose lease every call takes)
        self._thread: IOThread | None = None
        #: that thread's lease, taken directly (``try_take()``, ``take()``: one call a lease)
        self._lease: LoopLease | None = None
        self._tick_timer: Timer | None = None
        #: the socket's thread used the held fd (a caller write, the end of a wait) since the
        #: tick was armed (a flag, not a count: a store costs less than an increment on the
        #: per-message path); True while that thread polls it (see the tick)
        self._used = False
        self._polling = False
        #: the fd while ``HELD`` (read without the lease by the socket's thread)
        self._held_fd = -1
        self.reader = Reader.LOOP
        self.holds_reads = False
        #: writes that pulled the pipe (:meth:`offer_write`); see :attr:`writes`
        self._pulled_writes = 0
        #: messages written by write_direct (the express writes are counted apart)
        self._direct_writes = 0
        self.express_writes = 0
        #: messages handed straight to the socket by the other direct reads (take_back's)
        self._direct_reads = 0
        self.express_reads = 0
        #: reads that went to the pipe (all but the direct reads); see :attr:`reads`
        self._pipe_reads = 0
        self.early_reads = 0
        self.lends = 0
        self.holds = 0
        self.taken_back = 0

    @property
    def writes(self) -> int:
        """Messages or batches written by the socket's thread: :meth:`offer_write`'s, and
        :attr:`direct_writes` (each counted once, on the per-message path)."""
        return self._pulled_writes + self._direct_writes + self.express_writes

    @property
    def direct_writes(self) -> int:
        """Messages written by :meth:`write_direct` and by :meth:`write_express`, never
        queued (a part of :attr:`writes`)."""
        return self._direct_writes + self.express_writes

    @property
    def direct_reads(self) -> int:
        """Messages read on the socket's thread and handed straight to the waiting socket,
        never queued (:mod:`.direct_read`): :meth:`take_back`'s, and :attr:`express_reads`
        (each counted once, on the per-message path)."""
        return self._direct_reads + self.express_reads

    @property
    def reads(self) -> int:
        """Reads made by the socket's thread (``recv()`` calls, in :meth:`take_back`,
        :meth:`read_lent` and :meth:`read_waiting`): those into the pipe, and
        :attr:`direct_reads` (each counted once, on the per-message path)."""
        return self._pipe_reads + self.direct_reads

    # -- the engine's side (its I/O thread) ----------------------------------------------------

    def serve(self, engine: ZmtpEngine) -> None:
        """``engine`` completed its handshake: the shortcut now does its work."""
        self._thread = engine.io_thread  # first: a caller that sees the engine sees its thread
        self._lease = engine.io_thread.lease
        self._engine = engine
        self._tick_timer = None
        self._polling = False
        READER.fire(self, ReaderEvent.RESET)

    def withdraw(self, engine: ZmtpEngine) -> None:
        """``engine`` closed: offer nothing until the next one serves."""
        if self._engine is engine:
            self._engine = None
            self._tick_timer = None  # the engine's timers went with it
            READER.fire(self, ReaderEvent.RESET)

    def lent_from(self, engine: ZmtpEngine) -> bool:
        """True if ``engine``'s fd is lent or held, i.e. the loop does not poll it (the
        engine's thread, or a lease holder)."""
        return self._engine is engine and self.reader is not Reader.LOOP

    def _ensure_tick(self) -> None:
        """Arm the tick unless it is armed (loop, or lease held)."""
        timer = self._tick_timer
        engine = self._engine
        if (timer is None or not timer.active) and engine is not None:
            self._used = False
            self._tick_timer = engine.call_later(HOLD_TICK, self._tick)

    def _tick(self) -> None:
        """The loop's tick (see *The held read*): a held fd nobody used for a whole tick
        goes back to the loop."""
        self._tick_timer = None
        if self.reader is not Reader.HELD or self._polling:
            return  # nothing held, or the socket waits on it: its wait's end re-arms
        if self._used:
            self._ensure_tick()  # in use: look again in a tick
            return
        self.taken_back += 1
        READER.fire(self, ReaderEvent.TAKE_BACK)

    # -- the socket's side -----------------------------------------------------------------------

    def write_direct(self, msg: list[bytes]) -> bool:
        """The socket is about to write ``msg`` to the engine's sleeping pipe: write it to
        the kernel now instead, on this thread, without queueing it (:mod:`.direct`).

        Returns:
            True if the message is written (or queued in the engine behind nothing); False,
            having done nothing, if it must take the pipe (loop busy, engine not idle,
            something queued).
        """
        engine = self._engine
        if engine is None or not engine.writes_direct or engine._reads == engine._caller_mark:
            # (the last test is a racy read of the engine's one-write-per-read rule, safe:
            # it only spares a stream's sender a lease the rule would refuse under it. Wrong
            # either way, the lease's own test decides, or the message takes the pipe.)
            return False
        lease = self._lease.try_take()  # type: ignore[union-attr]
        if lease is None:
            return False
        try:
            if self._engine is not engine or not direct.send_message(engine, msg):
                return False
            self._direct_writes += 1  # (counted once: writes adds them up)
            if self.holds_reads:
                if self.reader is not _HELD:
                    self._hold(engine)
                self._used = True
            return True
        finally:
            lease.release()

    def write_express(self, body: bytes) -> bool:
        """The express write (:mod:`.direct`, *The express write*): the socket's pipe is
        writable and the engine's end sleeps (the caller's tests); write the lock-step
        socket's request or reply ``[b"", body]`` to the kernel now, in this one call.

        Returns:
            True if it is written (or queued in the engine behind nothing); False, having
            done nothing, if any test of the direct write fails (the caller then takes the
            general path, which asks again).
        """
        engine = self._engine
        if engine is None or not engine.writes_direct:
            return False  # (racy read, safe: re-read under the lease)
        lease = self._lease.try_take()  # type: ignore[union-attr]
        if lease is None:
            return False
        try:
            # PipeEngine._caller_idle and ZmtpConnection.small_message_data, written out:
            # served (so the handshake is done: serve() follows it and nothing undoes it),
            # one caller write per read, output free; no subscriber comes here (REQ, REP)
            conn = engine.conn  # type: ignore[attr-defined]
            size = len(body)
            if (self._engine is not engine or engine._reads == engine._caller_mark
                    or engine.write_buffer_size or engine.output is not _RUNNING
                    or engine.state is not _ATTACHED or engine.write_state is not _WRITE_OPEN
                    or conn._state is not _TRAFFIC or conn._boxed or conn._outgoing
                    or size > SHORT_MAX):
                return False
            pipe = engine.session.pipe
            if pipe is None or not pipe.reader_idle():
                return False
            engine._caller_mark = engine._reads  # (a caller write: one per read)
            data = DELIMITED_HEADERS[size] + body
            engine.send_now((data,), len(data))
            self.express_writes += 1  # (counted once: direct_writes adds them up)
            if self.holds_reads:
                if self.reader is not _HELD:
                    self._hold(engine)
                self._used = True
            return True
        finally:
            lease.release()

    def offer_write(self) -> bool:
        """The socket wrote to the engine's sleeping pipe: write it now, on this thread.

        Returns:
            True if the engine pulled the pipe here; False if the caller must wake the I/O
            thread the ordinary way (loop busy, engine not idle, pipe closing).
        """
        engine = self._engine
        if engine is None:
            return False
        lease = self._lease.try_take()  # type: ignore[union-attr]
        if lease is None:
            return False
        try:
            if self._engine is not engine or not engine._caller_write():
                return False
            self._wrote(engine)
            return True
        finally:
            lease.release()

    def _wrote(self, engine: ZmtpEngine) -> None:
        """A caller write is done (lease held): count it; a socket that holds keeps the read
        of the reply for its wait (*The held read*)."""
        self._pulled_writes += 1
        if self.holds_reads:
            if self.reader is not _HELD:
                self._hold(engine)  # the reply is next: keep its read for the wait
            self._used = True

    def read_waiting(self) -> bool:
        """Read what already waits in the connection's kernel buffer, here and now
        (*The early read*). Waits for the lease: at most for the handlers the loop is
        running now (it may be reading this very data; once it is done, what it read is in
        the pipe); never on an I/O thread. The read itself never blocks.

        Returns:
            True if the fd was read here (maybe finding nothing); False if not: no engine,
            the fd lent or held (its wait reads it), or reading not open (handshake, input
            blocked).
        """
        engine = self._engine
        if engine is None or self.reader is not _LOOP:
            return False  # (racy reads, safe: re-read under the lease)
        loop = self._lease
        lease = loop.try_take()  # type: ignore[union-attr]
        if lease is None:
            if on_a_loop_thread():
                # a loop's own handler publishing (a log record from an I/O thread): it
                # must not wait for a loop, which may be waiting for it; the loop reads
                return False
            lease = loop.take()  # type: ignore[union-attr]
        try:
            if (self._engine is not engine or self.reader is not _LOOP
                    or engine._caller_read_fd() is None):
                return False
            self.early_reads += 1
            self._read(engine)
            return True
        finally:
            lease.release()

    def lend_read(self) -> int | None:
        """Lend the connection's fd to the socket about to wait, or None (nothing to lend,
        or the loop busy: it then reads and hands over the data itself). A held fd is the
        socket's already: it is lent without a lease."""
        engine = self._engine
        if engine is None:
            return None
        if self.reader is _HELD:
            # Racy read, safe: only this thread moves the fd into HELD, so HELD is never
            # missed. If the loop moved it out since (a tick: it polls the fd too; the
            # engine closed: the poll reports the dead fd at once), both threads may see it
            # readable and the read under take_back's lease finds what is left: nothing is
            # lost, one wake-up is wasted.
            self.lends += 1
            self._polling = True  # (read by the tick: see _tick)
            return self._held_fd
        if engine._caller_read_fd() is None:
            return None  # (a hint; re-read under the lease)
        lease = self._lease.try_take()  # type: ignore[union-attr]
        if lease is None:
            return None
        try:
            if self._engine is not engine:
                return None
            fd = engine._caller_read_fd()
            if fd is None:
                return None
            READER.fire(self, ReaderEvent.LEND)
            self.lends += 1
            return fd
        finally:
            lease.release()

    def take_back(self, readable: bool, direct: bool = False) -> list[bytes] | None:
        """End the socket's wait on a lent or held fd, first reading it here if it became
        readable: back to the loop, or held for a socket that holds (*The held read*).

        Args:
            readable: the fd became readable: read it first.
            direct: the socket waits in ``recv()`` on this one connection, its end of the
                pipe asleep, and takes a message read for it directly (:mod:`.direct_read`).

        Returns:
            The message read directly, if ``direct`` and the first read brought one alone;
            else None (what was read is in the pipe).
        """
        engine = self._engine
        if engine is None:
            return None  # closed while lent: it took its fd with it
        lease = self._lease.take()  # type: ignore[union-attr]
        try:
            self._polling = False
            if self._engine is not engine:
                return None
            msg = None
            if readable:
                if direct and engine.reads_direct:
                    # _read, its first chunk read by the direct read (:mod:`.direct_read`):
                    # the message it caught, if any, and nothing more is read (None: the
                    # engine may not be read here, as _read's first test would have found)
                    got = engine._caller_read_direct()
                    if got is not None:
                        msg = self._took(engine, got)
                        if self._engine is not engine:
                            return None  # the read ended it: withdraw() gave the fd back
                else:
                    self._read(engine)
                    if self._engine is not engine:
                        return None  # the read ended it: withdraw() gave the fd back with it
            self._end_wait(engine, msg)
            return msg
        finally:
            lease.release()

    def _took(self, engine: ZmtpEngine, got: list[bytes] | int) -> list[bytes] | None:
        """Count what a direct read brought (lease held): the message it caught, returned;
        or the bytes it read into the pipe, after which a full chunk means more may be
        there, read as :meth:`_read` would have (None returned). The caller then looks
        whether the read ended the engine."""
        if type(got) is list:
            # (counted once: reads adds them up; a lone message handed over ended nothing:
            # the engine still serves)
            self._direct_reads += 1
            return got
        self._pipe_reads += 1
        if got >= engine.read_size:  # type: ignore[operator]
            self._read(engine, CALLER_READ_CHUNKS - 1,
                       CALLER_READ_BYTES - got)  # type: ignore[operator]
        return None

    def _end_wait(self, engine: ZmtpEngine, msg: list[bytes] | None) -> None:
        """The end of a wait on a lent or held fd, after its read (lease held, the engine
        still serving): kept held for a socket that holds and may read on here, else home
        (*The held read*). ``msg``: the message a direct read handed over, if any."""
        reader = self.reader
        if reader is _HELD:  # (first: a socket that holds, the request/reply case)
            if self.holds_reads and (msg is not None or engine._caller_read_fd() is not None):
                # (a lone message handed over changed nothing _caller_read_fd looks at: no
                # EOF, nothing queued, input running)
                self._used = True
                if self._tick_timer is None:  # (a tick that fires clears it: _tick)
                    self._ensure_tick()  # a tick during the wait lapsed: arm the next
            else:
                # may no longer hold, or the read may not go on here (the read filled the
                # pipe: input blocked; or the read half ended): home, or the next wait
                # would poll a readable fd it may not read, and spin
                READER.fire(self, ReaderEvent.GIVE_BACK)
        elif self.holds_reads:
            self._hold(engine)
        elif reader is not _LOOP:
            READER.fire(self, ReaderEvent.GIVE_BACK)

    def read_express(self, mailbox: Mailbox, timeout: float | None,
                     pipe: Any) -> list[bytes] | bool:
        """The express read (*The express read*): the socket waits in ``recv()`` on its one
        connection, whose fd it holds; wait on that fd and ``mailbox`` together and, if the
        fd became readable, read it here at once: :meth:`lend_read`, the wait,
        :meth:`take_back` with its direct read, in one call.

        Args:
            pipe: the socket's end of the connection's pipe, woken by hand around the read
                (``rouse``/``settle``: :mod:`zreactor.sockets.pipe`, *Waking by hand*); the
                read is direct only while it sleeps.

        Returns:
            The message read directly; True if the wait is over without one (the read went
            to the pipe, the mailbox woke, or ``timeout`` passed: look at the pattern and
            the mailbox); False, having done nothing, if the fd is not held (the caller
            takes the general wait).
        """
        engine = self._engine
        if engine is None or self.reader is not _HELD or not engine.reads_direct:
            # (racy reads, safe: see lend_read; the engine re-read under the lease. A raw
            # engine's reads all take the pipe: the general wait)
            return False
        self.lends += 1
        self._polling = True  # (read by the tick: see _tick)
        try:
            ready = mailbox.wait_with_one(self._held_fd, timeout)
        except BaseException:
            self.take_back(False)  # (interrupted: the fd goes home all the same)
            raise
        if not ready:
            self.take_back(False)
            return True
        if not pipe.reader_idle():
            # the socket's end awake or ending (something may be queued ahead): the read
            # takes the pipe, the end woken by hand as caller_wait.give_back wakes it
            roused = pipe.rouse()
            try:
                self.take_back(True)
            finally:
                if roused:
                    pipe.settle()
            return True
        lease = self._lease.take()  # type: ignore[union-attr]
        roused = False
        try:
            self._polling = False
            if self._engine is not engine:
                return True  # closed while waiting: it took its fd with it
            # the direct read's tests (ZmtpEngine._caller_read_direct's), once: it may read
            # here (_caller_read_fd's test), the read is a recv() chunk of a connection that
            # delivers data, and the pipe would take the message first
            if (engine.state is not _ATTACHED or engine.handshake is None
                    or engine.input is _BLOCKED or engine.read_state is not _READ_OPEN):
                got: Any = None
            elif engine.asks_buffer or engine._drops_data:
                got = False
            else:
                writer = engine.session.pipe
                if writer is None or not writer.write_alone():
                    got = False
                else:
                    # read_once's recv(), and a lone message parsed where it is read
                    # (*The express read*, :mod:`.direct_read`)
                    try:
                        got = engine.sock.recv(engine.read_size)
                    except OSError as exc:
                        got = exc
                    else:
                        if got:
                            msg = engine.conn.receive_lone(got)
                            if msg is not None:
                                # The express read proper. Counted as read_once and
                                # _deliver count it; then what take_back does at the end of
                                # a wait that read a lone message, where the fd was held and
                                # still is (only the socket's thread gives a held fd back,
                                # and a tick lapses while it polls: _polling)
                                engine.bytes_received += len(got)
                                engine._reads += 1  # traffic, for the heartbeat timers
                                self.express_reads += 1  # (once: direct_reads adds them up)
                                self._used = True
                                if self._tick_timer is None:  # (a tick that fires clears it)
                                    self._ensure_tick()  # a tick during the wait lapsed
                                return engine._label(msg) if engine._label_batches else msg
            msg = None
            if got is not None:
                # anything else: on through the one read path, into the pipe woken by hand
                roused = pipe.rouse()
                msg = self._took(engine, engine._caller_read_rest(got))  # type: ignore[arg-type]
                if self._engine is not engine:
                    return True  # the read ended it: withdraw() gave the fd back with it
            self._end_wait(engine, msg)  # (take_back's end: the fd was held, and still is)
            return True if msg is None else msg
        finally:
            lease.release()
            if roused:
                pipe.settle()

    def read_lent(self, fd: int) -> bool:
        """Read the lent ``fd``, which became readable, and keep it lent (a caller that goes
        on waiting on it: an event loop between two receives).

        Returns:
            True if ``fd`` is still lent; False if it came home instead, and the caller must
            stop polling it: the read ended the connection or paused its input (the loop then
            owns the fd again, or it is closed), or ``fd`` is no longer lent (its engine
            closed; a new engine's fd was never lent).
        """
        engine = self._engine
        if engine is None:
            return False  # closed while lent: it took its fd with it
        lease = engine.io_thread.wait_lease()
        try:
            if self._engine is not engine:
                return False
            if self.reader is Reader.CALLER and engine._caller_read_fd() == fd:
                self._read(engine)
                if self._engine is not engine:
                    return False  # the read ended it: withdraw() gave the fd back with it
                if engine._caller_read_fd() == fd:
                    return True
            if self.reader is not _LOOP:
                READER.fire(self, ReaderEvent.GIVE_BACK)
            return False
        finally:
            lease.release()

    def _read(self, engine: ZmtpEngine, chunks: int = CALLER_READ_CHUNKS,
              budget: int = CALLER_READ_BYTES) -> None:
        """Read the lent fd through the engine's one read path, ``chunks`` reads and
        ``budget`` bytes at most (lease held; see *The read's byte bound*)."""
        for _ in range(chunks):
            if budget < engine.read_size or engine._caller_read_fd() is None:
                break  # (a read may bring a chunk or more: what is left would not hold it)
            self._pipe_reads += 1
            nbytes = engine.read_once()
            if nbytes < engine.read_size:
                break  # drained (or ended): a full chunk would mean more may be there
            budget -= nbytes

    def _hold(self, engine: ZmtpEngine) -> None:
        """Keep the fd for the socket's next wait (lease held); to the loop if it may not
        be read here now (input blocked, read half closed)."""
        fd = engine._caller_read_fd()
        if fd is not None:
            self._held_fd = fd
            READER.fire(self, ReaderEvent.HOLD)
        elif self.reader is not _LOOP:
            READER.fire(self, ReaderEvent.GIVE_BACK)

    def release(self) -> None:
        """Give a held fd back to the loop now: the socket returns to the application
        without waiting on it. Costs nothing when nothing is held."""
        engine = self._engine
        if engine is None or self.reader is not _HELD:
            return  # (racy read, safe: see lend_read)
        lease = self._lease.take()  # type: ignore[union-attr]
        try:
            if self._engine is engine and self.reader is _HELD:
                READER.fire(self, ReaderEvent.GIVE_BACK)
        finally:
            lease.release()

    def __repr__(self) -> str:
        return (f"<CallerShortcut {'serving' if self._engine is not None else 'idle'}"
                f" {self.reader.value} writes={self.writes} reads={self.reads}>")
