"""REOPENING: telling waiting clients "no", and the reserve descriptor that makes it possible.

Theory of operation
-------------------
A listener that cannot accept keeps its clients waiting in the kernel's accept queue. After
``accept_grace`` it must tell them, and this module holds everything that takes: whom to tell
(:class:`Arrivals`), how (:class:`Reopening`, by the listener's ``shed_policy``), and how to
get back on its feet when telling them cost a descriptor it cannot take back.

Whom: the age of each waiting connection
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
``accept()`` takes connections in arrival order, so if the listener knows *how many* wait it
can keep their arrival times in a FIFO aligned with the kernel's queue: an increase of the
length by ``k`` is ``k`` arrivals, stamped with the time it was seen (never earlier than the
truth, so nobody's age is overstated); an accept, or a shed, pops from the head; a queue
found shorter than the FIFO (a client gave up and the kernel dropped it) drops the head
stamps, which again can only make the survivors look younger. When room is short, only the
connections whose own deadline passed are shed, from the head; younger ones keep waiting,
and the listener's grace timer is armed for the next head's deadline.

Where the length comes from (``Syscalls.accept_queue_length``): Linux's ``TCP_INFO`` on a
socket in ``LISTEN`` (``tcp_get_info()`` reports the accept-queue length in
``tcpi_unacked`` and the backlog in ``tcpi_sacked``), and ``EVFILT_READ``'s ``data`` on the
BSDs and macOS. Where there is none (Unix-domain sockets, other platforms) the FIFO holds one
stamp, the start of the stall, and the old rule applies: when the connection seen waiting
first has waited ``accept_grace`` with nothing accepted since, the whole backlog is shed.

How: the policies
~~~~~~~~~~~~~~~~~
``reset``
    The reserve-descriptor dance: close the reserve (a ``/dev/null`` descriptor held for
    this), accept the connections to shed and close each with ``SO_LINGER {1, 0}`` (the
    client sees ``ECONNRESET``, not an EOF it could take for an empty answer), then take the
    reserve back. It uses the listener's one accept loop, with a limit and a different
    "take".
``reopen``
    Close the listening socket (the kernel resets its whole backlog) and bind the same
    address again. It cannot pick connections: every waiting client is shed at once.

The reserve race
~~~~~~~~~~~~~~~~
libuv and Twisted hold one spare descriptor to make room for ``accept()``; both admit that
another thread can take the freed number between ``close(reserve)`` and ``accept()``. The
dance holds :attr:`FdRegistry.lock <zreactor.reactor.fds.FdRegistry.lock>`, which every
framework path that opens a descriptor also takes, and calls no user code inside the window
(events and log lines come after the reserve is back: a log handler may open a file).
Descriptors opened outside zreactor, or by other processes under ``ENFILE``, can still win:
then the reserve (or the socket) is missing, and :meth:`Reopening.recover` tries again on
the listener's backoff timer and on every descriptor release, until ``recovery_tries`` timed
attempts failed (``FAILED``). ``restart()`` out of ``FAILED`` is the same recovery, asked
for by the application.

The listener and this module are one engine in two files: :class:`Reopening` calls the
listener's private helpers (its accept loop, ``_fire``, ``_probe``, socket binding) as a
friend, and nothing outside the two does.

Threads: everything here runs on the listener's I/O thread, except :meth:`Reopening.take`
at bind time (the binding thread, before the listener is launched).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from .accept_errors import errno_name
from .accept_states import BACKOFF_MIN, ListenerState, ShedPolicy, Trigger
from .events import EventKind
from .syscalls import unlink_ipc_path

if TYPE_CHECKING:
    import socket

    from .listener import Listener
    from .syscalls import Syscalls

__all__ = ["Arrivals", "Reopening"]


class Arrivals:
    """Arrival times of the connections waiting in the accept queue, oldest first.

    I/O thread only. ``exact`` says whether the platform reports the queue length; without
    it the FIFO holds at most one stamp, the start of the stall (see the module docstring).
    """

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        self.exact = False

    def __len__(self) -> int:
        return len(self._times)

    def look(self, syscalls: Syscalls, sock: socket.socket, now: float) -> bool:
        """Read the accept queue into the stamps; True if a connection waits."""
        length = syscalls.accept_queue_length(sock)
        if length is None:  # no length on this platform: the one stall clock
            pending = syscalls.backlog_pending(sock)
            self.observe_pending(pending, now)
            return pending
        self.observe(length, now)
        return length > 0

    def observe(self, length: int, now: float) -> None:
        """The kernel says ``length`` connections wait: stamp the new ones, drop the gone."""
        self.exact = True
        times = self._times
        while len(times) > length:
            times.popleft()  # dropping the oldest stamp only makes the rest look younger
        times.extend([now] * (length - len(times)))

    def observe_pending(self, pending: bool, now: float) -> None:
        """No length on this platform: one stamp from the first time a connection was seen."""
        self.exact = False
        if not pending:
            self._times.clear()
        elif not self._times:
            self._times.append(now)

    def accepted(self, count: int = 1) -> None:
        """``count`` connections left the head of the queue (accepted or shed)."""
        if not self.exact:
            self._times.clear()  # the queue moved: the stall clock starts again
            return
        for _ in range(min(count, len(self._times))):
            self._times.popleft()

    def due(self, now: float, grace: float) -> int:
        """How many connections have waited ``grace`` (all of them without a length: -1)."""
        # 1 ns of slack: the grace timer's deadline is computed as now + (deadline - now).
        limit = now + 1e-9 - grace
        if not self.exact:
            return -1 if self._times and self._times[0] <= limit else 0
        count = 0
        for stamp in self._times:
            if stamp > limit:
                break
            count += 1
        return count

    def next_deadline(self, grace: float) -> float | None:
        """When the head connection's grace runs out; ``None`` if nothing waits."""
        return self._times[0] + grace if self._times else None

    def clear(self) -> None:
        """Nothing waits any more (the listener is accepting, or dropped its backlog)."""
        self._times.clear()


class Reopening:
    """The REOPENING state of one listener: the reserve descriptor, shedding and recovery.

    Args:
        listener: the owner; the shedding uses its accept loop, timers and events.
    """

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        #: the reserve descriptor (``reset`` policy only), or ``None``
        self.reserve: int | None = None
        self.failures = 0  # timed recovery attempts that failed, this episode

    # -- the reserve ------------------------------------------------------------------------

    @property
    def wants_reserve(self) -> bool:
        """True if the policy needs a reserve and none is held."""
        return self.listener.shed_policy is ShedPolicy.RESET and self.reserve is None

    def take(self) -> int:
        """Open the reserve if the policy needs one; return 0 or the errno."""
        if not self.wants_reserve:
            return 0
        try:
            self.reserve = self.listener.syscalls.open_reserve()
        except OSError as exc:
            return exc.errno or 0
        return 0

    def drop(self) -> None:
        """Close the reserve (FAILED, close)."""
        if self.reserve is not None:
            reserve, self.reserve = self.reserve, None
            self.listener.syscalls.close_fd(reserve)

    # -- shedding (the action of the GRACE_EXPIRED row) ---------------------------------------

    def shed(self) -> None:
        """Tell the waiting clients whose grace ran out, by the policy; then probe."""
        owner = self.listener
        owner._stop_waiting()
        owner._set_interest(False)
        owner._backoff = BACKOFF_MIN
        self.failures = 0
        if owner.shed_policy is ShedPolicy.RESET:
            self._reset(owner._arrivals.due(owner.clock(), owner.accept_grace))
        else:
            self._reopen()

    def _reset(self, due: int) -> None:
        """The reserve-fd dance: close it, accept and reset ``due`` (-1: all), take it back."""
        owner = self.listener
        # Bounded, so a connect flood cannot keep us here; whoever is left waits for the
        # next grace period.
        limit = owner.backlog + owner.accept_batch if due < 0 else due
        with owner.pool.fds.lock:  # no framework thread takes the freed number meanwhile
            self.drop()
            batch = owner._accept_loop(limit, owner.syscalls.abort_connection, budget=False)
            reserve_code = self.take()
        # Out of the window: user code (subscribers, log handlers) may open files again.
        owner._arrivals.accepted(batch.taken + len(batch.skipped))
        owner._ledger.count("shed", batch.taken)
        owner._report_skipped(batch.skipped)
        held = self.reserve is not None
        stop_code = batch.code if batch.trigger is not Trigger.ROOM else 0
        owner.emit(EventKind.SHED, batch.taken, policy=owner.shed_policy.value,
                   reserve="held" if held else "lost",
                   errno=errno_name(stop_code or reserve_code))
        owner._log.note(
            "shed", "reset %d waiting connection(s)%s", batch.taken,
            "" if held else f"; reserve descriptor lost ({errno_name(reserve_code)})")
        if batch.trigger is Trigger.FATAL:
            owner._fire(Trigger.FATAL, batch.code)
        elif not held:
            self._failed(reserve_code or stop_code)
        else:
            owner._probe()

    def _reopen(self) -> None:
        """Close the listening socket (the kernel resets its backlog) and bind again."""
        owner = self.listener
        with owner.pool.fds.lock:
            owner._drop_socket(notify=False)  # we take the number straight back
            code = self._bind_again()
        owner._arrivals.clear()
        if code:
            self._failed(code)
        else:
            self._reopened()

    # -- recovery -------------------------------------------------------------------------------

    def recover(self, timed: bool = True) -> None:
        """Try the missing piece (the socket, or the reserve) again.

        Only timed attempts count towards ``recovery_tries``: a burst of descriptor
        releases must not use up the budget of tries in a millisecond.
        """
        owner = self.listener
        with owner.pool.fds.opening():
            code = self._bind_again() if owner.sock is None else self.take()
        if not code:
            if owner._handle is not None:
                owner._probe()
            else:
                self._reopened()
        elif timed:
            self._failed(code)
        else:
            owner.pool.fds.watch(owner)  # the timer keeps its schedule

    def restart(self) -> None:
        """``Listener.restart()`` on the I/O thread: bind again and take the reserve."""
        owner = self.listener
        if owner.listener_state is not ListenerState.FAILED:
            return
        with owner.pool.fds.opening():
            code = self._bind_again() or self.take()
            if code:
                owner._drop_socket(notify=False)
        if code:
            owner._fire(Trigger.RESTART_FAILED, code)
            return
        owner._poll_socket()
        owner._fire(Trigger.RESTART)

    def _bind_again(self) -> int:
        """Bind the listener's address again (caller holds the fd lock); 0 or the errno."""
        owner = self.listener
        unlink_ipc_path(owner.address)
        try:
            sock = owner.syscalls.listen_socket(owner.address, owner.backlog)
        except OSError as exc:
            return exc.errno or 0
        owner.sock = sock
        owner.pool.fds.track(sock)
        return 0

    def _reopened(self) -> None:
        owner = self.listener
        assert owner.sock is not None
        owner._poll_socket()
        owner._ledger.count("reopens")
        owner.emit(EventKind.REOPENED, owner.sock.fileno(), policy=owner.shed_policy.value)
        owner._log.note(
            "reopen", "closed and bound the listening socket again (backlog dropped)")
        owner._probe()

    def _failed(self, code: int) -> None:
        self.failures += 1
        gave_up = self.failures >= self.listener.recovery_tries
        self.listener._fire(Trigger.GAVE_UP if gave_up else Trigger.RETRY_LATER, code)
