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
engine is idle (handshake done, nothing queued, output running, not a subscriber, and at
most one caller write per read from the peer), the shortcut wakes the engine's end of the
pipe as the command would and lets the engine pull and write it, through its one write path.
The one-write-per-read rule keeps streams batched: a sender that streams without reading
gets the ordinary hand-off after its first message, and the I/O thread then pulls hundreds
of messages per ``write()``. Message order holds because the pipe's reader was asleep (the
pipe empty before this message) and the lease keeps the loop out meanwhile.

*The read.* A socket about to block lends the fds of its few connections
(:meth:`~CallerShortcut.lend_read`: under a lease, the engine stops the loop polling its fd),
waits on them together with its mailbox, and gives each back with
:meth:`~CallerShortcut.take_back`, reading it first through the engine's one read path if it
became readable (a few chunks at most, so that one wait carries a large message but a fast
sender cannot keep the caller there). Giving back waits for the lease
(:meth:`IOThread.wait_lease <zreactor.reactor.io_thread.IOThread.wait_lease>`): a lent fd
must come home. EOF and errors read here end the engine here, as they would on the loop.
A caller that goes on waiting after a read (an event loop between two receives) reads with
:meth:`~CallerShortcut.read_lent` instead, which keeps the fd lent unless the read ended the
connection or paused its input (the fd then goes home at once, and the caller is told).

*Counting.* :attr:`~CallerShortcut.writes` and :attr:`~CallerShortcut.reads` count the times
the shortcut carried a message out or read data in; tests and benchmarks assert on them.

Threads: :meth:`~CallerShortcut.serve` and :meth:`~CallerShortcut.withdraw` on the engine's
I/O thread; everything else on the socket's thread, the lease taken inside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..reactor.lease import LoopLease
    from .engine import ZmtpEngine

__all__ = ["CALLER_READ_CHUNKS", "CallerShortcut"]

#: most ``recv()`` calls one :meth:`CallerShortcut.take_back` makes
CALLER_READ_CHUNKS = 8


class CallerShortcut:
    """One session's caller I/O: the current engine's write and read, offered to the socket.

    Attributes:
        writes: messages batches written by the socket's thread through :meth:`offer_write`.
        reads: reads made by the socket's thread in :meth:`take_back`.
        lends: fds lent by :meth:`lend_read`.
    """

    __slots__ = ("_engine", "writes", "reads", "lends")

    def __init__(self) -> None:
        self._engine: ZmtpEngine | None = None
        self.writes = 0
        self.reads = 0
        self.lends = 0

    # -- the engine's side (its I/O thread) ----------------------------------------------------

    def serve(self, engine: ZmtpEngine) -> None:
        """``engine`` completed its handshake: the shortcut now does its work."""
        self._engine = engine

    def withdraw(self, engine: ZmtpEngine) -> None:
        """``engine`` closed: offer nothing until the next one serves."""
        if self._engine is engine:
            self._engine = None

    # -- the socket's side -----------------------------------------------------------------------

    def offer_write(self) -> bool:
        """The socket wrote to the engine's sleeping pipe: write it now, on this thread.

        Returns:
            True if the engine pulled the pipe here; False if the caller must wake the I/O
            thread the ordinary way (loop busy, engine not idle, pipe closing).
        """
        lease = self._borrow(reading=False)
        if lease is None:
            return False
        with lease:
            engine = self._engine
            if engine is None or not engine._caller_may_write():
                return False
            if not engine._caller_wake_pipe():
                return False  # the pipe is ending: its delimiter goes the ordinary way
            self.writes += 1
            engine._caller_write()
            return True

    def lend_read(self) -> int | None:
        """Lend the connection's fd to the socket about to wait, or None (nothing to lend,
        or the loop busy: it then reads and hands over the data itself)."""
        lease = self._borrow(reading=True)
        if lease is None:
            return None
        with lease:
            engine = self._engine
            fd = None if engine is None else engine._caller_read_fd()
            if fd is not None:
                engine._caller_lend()  # type: ignore[union-attr]
                self.lends += 1
            return fd

    def _borrow(self, reading: bool) -> LoopLease | None:
        """A lease on the serving engine's loop; None if there is no engine, the loop is
        busy, or (``reading``) the engine has no fd to lend.

        The engine and its fd are read first without the lease, as hints (so a socket with
        nothing to do takes no lock); every caller re-reads them under the lease. A stale
        hint only means asking for what the check under the lease then refuses, or not
        asking this once (the loop then does the work and hands it over the ordinary way).
        """
        engine = self._engine
        if engine is None or (reading and engine._caller_read_fd() is None):
            return None
        return engine.io_thread.try_lease()

    def take_back(self, readable: bool) -> None:
        """Give a lent fd back; first read it here if it became readable."""
        engine = self._engine
        if engine is None:
            return  # closed while lent: it took its fd with it
        with engine.io_thread.wait_lease():
            engine = self._engine
            if engine is None:
                return
            if readable:
                self._read(engine)
            engine._caller_give_back()

    def read_lent(self, fd: int) -> bool:
        """Read the lent ``fd``, which became readable, and keep it lent (a caller that goes
        on waiting on it: an event loop between two receives).

        Returns:
            True if ``fd`` is still lent; False if it came home instead, and the caller must
            stop polling it: the read ended the connection or filled the pipe (the I/O
            thread then owns the fd again, or it is closed), or ``fd`` is no longer the
            serving engine's (it closed while lent; a new engine's fd was never lent).
        """
        engine = self._engine
        if engine is None:
            return False  # closed while lent: it took its fd with it
        with engine.io_thread.wait_lease():
            engine = self._engine
            if engine is None:
                return False
            if engine._caller_read_fd() == fd:
                self._read(engine)
                if engine._caller_read_fd() == fd:
                    return True
            # not lendable any more (or another engine's fd): home, as take_back does
            engine._caller_give_back()
            return False

    def _read(self, engine: ZmtpEngine) -> None:
        """Read the lent fd through the engine's one read path: a few chunks at most. Lease
        held."""
        for _ in range(CALLER_READ_CHUNKS):
            if engine._caller_read_fd() is None:
                break
            self.reads += 1
            if engine._caller_read() < engine.read_size:
                break  # drained (or ended): a full chunk would mean more may be there

    def __repr__(self) -> str:
        return (f"<CallerShortcut {'serving' if self._engine is not None else 'idle'}"
                f" writes={self.writes} reads={self.reads}>")
