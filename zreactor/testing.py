"""Public fakes for testing engines: a fake clock, a hand-stepped context, scripted syscalls.

Theory of operation
-------------------
State machines are tested best without threads, real time, or a kernel that must be coaxed
into failing. This module gives users the same seams zreactor's own tests use:

* :class:`FakeClock`: a monotonic clock that moves only when told (``advance``).
* :class:`ManualContext`: a :class:`~zreactor.Context` whose I/O thread pool is in manual
  mode (its threads never start); the test calls :meth:`ManualContext.step` to run one
  iteration of every loop (never blocking), so timers fire exactly when the fake clock says
  and commands are processed in order. It cannot host a blocking socket call: nobody would
  run the loops while the test thread waits in ``recv()``.
* :class:`SteppedClock` and :class:`SteppedContext`: the seam for the messaging layer's
  timers (heartbeats, handshake and linger). The I/O threads *run*, so real sockets work and
  may block, but every engine timer reads a fake clock; :meth:`SteppedClock.advance` moves it
  and returns only once every loop has run the timers that became due (see *Stepping a
  running loop* below).
* :class:`ScriptedSyscalls`: a :class:`~zreactor.reactor.syscalls.Syscalls` whose
  ``accept()`` replays a script of sockets and ``OSError`` values (trio's ``FakeSocket``
  idea), whose ``connect()`` replays errno values, and whose descriptor limit, reserve-fd
  opening and re-binding can be scripted too. It can also model a descriptor table
  (``free_fds``), so that EMFILE keeps a connection queued and the listener's reserve-fd
  dance frees exactly one slot, as in the kernel.
* :class:`EventRecorder`: records what an :class:`~zreactor.reactor.events.EventBus` emits
  (on the I/O threads) and lets the test thread wait, bounded, for the n-th event of a kind.
* :func:`tcp_pair`: a real loopback TCP connection, for tests that need a reset to reach
  the peer as ``ECONNRESET``.

*Stepping a running loop.* An I/O loop runs its due timers at the top of each iteration,
then sleeps in ``select()`` with a timeout computed from the (fake) clock, so moving the
clock alone changes nothing until the loop wakes. :meth:`SteppedClock.sync` posts a *barrier*
command to every loop; each barrier re-posts itself ``depth`` times before it reports, and
mailbox drains are snapshots, so every hop is a new iteration: by the time the last hop
reports, the loop has been through its timer pass after the hop that woke it, and through
the fds that were ready when it woke. ``advance(dt)`` is ``sync(); move the clock; sync()``:
the first sync lets the loop take in what already arrived (a peer's PONG is read before the
clock says its deadline passed), the second runs what became due, and with ``depth`` >= 2 a
timer armed at once by a due timer's callback (delay 0, run on the next pass) is covered
too. What those timers set off on *other* threads (a command to a socket, bytes to a peer)
travels at real speed afterwards: wait for it with bounded calls (``recv`` with
``rcvtimeo``, :class:`EventRecorder`), never with a sleep.

*Lost wake-ups are caught, not masked.* A barrier wakes the loop, and a woken loop computes
its wait again, so a timer armed where the sleeping loop cannot see it (by a socket's thread
under a loop lease, without the lease's wake-up) would fire anyway and the bug would hide.
So before it posts anything, :meth:`SteppedClock.sync` takes each loop's lock (as a lease
giving back does) and asks the poller whether its current sleep misses something
(:meth:`Poller.missed_by_sleep <zreactor.reactor.poller.Poller.missed_by_sleep>`). Between
two iterations of a busy loop that answer can be briefly true (a handler armed a timer, the
loop has not gone back to sleep yet); a sleeping loop that really missed one stays that way.
So only an answer that stays true for ``confirm`` seconds (re-asked every few milliseconds)
fails the test, with :class:`AssertionError`; a healthy loop costs one question.

Nothing here patches private methods: every fake enters through a constructor argument.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Iterable, Union

from .context import Context
from .reactor.events import EventBus, EventKind, ReactorEvent
from .reactor.mailbox import Cmd, Command
from .reactor.syscalls import Syscalls

if TYPE_CHECKING:
    from .reactor.io_thread import IOThread
    from .reactor.pool import IOThreadPool

__all__ = [
    "EventRecorder",
    "FakeClock",
    "ManualContext",
    "ScriptedSyscalls",
    "SteppedClock",
    "SteppedContext",
    "os_error",
    "tcp_pair",
]


class FakeClock:
    """A monotonic clock under the test's control.

    Args:
        start: the initial reading, in seconds.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go backwards")
        self.now += seconds


class ManualContext(Context):
    """A context whose I/O loops run only when :meth:`step` is called, on the caller's thread.

    Args:
        io_threads: number of (unstarted) I/O threads.
        clock: the clock for every poller; defaults to a new :class:`FakeClock`.
        **kwargs: passed to :class:`~zreactor.Context`.
    """

    _start_threads = False

    def __init__(self, io_threads: int = 1, *, clock: Any = None, **kwargs: Any) -> None:
        self.clock = clock if clock is not None else FakeClock()
        super().__init__(io_threads, clock=self.clock, **kwargs)

    def step(self, rounds: int = 1) -> int:
        """Run ``rounds`` non-blocking iterations of every I/O loop; return events handled."""
        return sum(self.pool.run_once() for _ in range(rounds))

    def advance(self, seconds: float, rounds: int = 3) -> None:
        """Move the fake clock forward and step the loops so due timers fire."""
        self.clock.advance(seconds)
        self.step(rounds)

    def run_until(self, predicate: Callable[[], bool], max_rounds: int = 1000) -> None:
        """Step until ``predicate()`` is true.

        Raises:
            AssertionError: still false after ``max_rounds`` rounds.
        """
        for _ in range(max_rounds):
            if predicate():
                return
            self.step()
        if not predicate():
            raise AssertionError(f"condition still false after {max_rounds} rounds")


class _Barrier:
    """A command destination on one I/O thread: re-posts itself, then reports (see above)."""

    def __init__(self, thread: IOThread, hops: int) -> None:
        self.mailbox = thread.mailbox
        self.hops = hops
        self.done = threading.Event()

    def process_call(self, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.hops -= 1
        if self.hops > 0:
            self.post()
        else:
            self.done.set()

    def post(self) -> None:
        self.mailbox.send(Command(self, Cmd.CALL, (None, ())))


class SteppedClock(FakeClock):
    """A fake clock for *running* I/O threads: :meth:`advance` wakes them and waits for them.

    Pass it as the ``clock`` of a :class:`~zreactor.Context` or an
    :class:`~zreactor.reactor.pool.IOThreadPool`, then :meth:`drive` that context or pool
    (:class:`SteppedContext` does both). Engine timers then fire when the test says, while
    sockets, peers and blocking calls work for real.

    Args:
        start: the initial reading, in seconds.
        depth: barrier hops per loop and sync (see the module docstring); at least 2.
        timeout: how long (real seconds) :meth:`sync` waits for a loop before failing.
        confirm: how long (real seconds) a loop must keep sleeping past something it cannot
            see before :meth:`sync` calls it a lost wake-up (see the module docstring).
    """

    def __init__(self, start: float = 1000.0, *, depth: int = 3, timeout: float = 5.0,
                 confirm: float = 0.25) -> None:
        super().__init__(start)
        if depth < 2:
            raise ValueError("a sync needs at least two hops to cover one timer pass")
        self.depth = depth
        self.timeout = timeout
        self.confirm = confirm
        self._lock = threading.Lock()
        self._threads: list[IOThread] = []

    def drive(self, target: Context | IOThreadPool) -> None:
        """Wake and wait for ``target``'s I/O threads on every :meth:`advance`."""
        threads = target.io_threads if isinstance(target, Context) else target.threads
        with self._lock:
            self._threads.extend(threads)

    def sync(self) -> None:
        """Return once every driven loop has been through a timer pass and its ready fds.

        A loop that has stopped (its pool terminated) is skipped, so a test may keep
        advancing while ``term()`` runs on another thread.

        Raises:
            AssertionError: a loop sleeps past a timer or an interest change it cannot see
                (a lost wake-up), or a running loop did not answer within ``timeout``.
        """
        with self._lock:
            threads = [thread for thread in self._threads if not thread.join(0)]
        for thread in threads:
            self._check_no_lost_wakeup(thread)
        barriers = [(thread, _Barrier(thread, self.depth)) for thread in threads]
        for _, barrier in barriers:
            barrier.post()
        for thread, barrier in barriers:
            waited = 0.0
            while not barrier.done.wait(0.01):
                waited += 0.01
                if thread.join(0):
                    break  # that loop has exited: nothing left to wait for
                if waited >= self.timeout:
                    raise AssertionError(f"{thread.name} did not answer a barrier in "
                                         f"{self.timeout} s")

    def _check_no_lost_wakeup(self, thread: IOThread) -> None:
        poller = thread.poller
        deadline = time.monotonic() + self.confirm
        while True:
            with poller.lock:  # the loop is asleep, or between two iterations
                missed = poller.missed_by_sleep()
            if not missed or thread.join(0):
                return
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{thread.name} sleeps past a timer or an interest change it cannot see: "
                    "something armed it off the loop without waking it (a lost wake-up)")
            time.sleep(0.005)  # let a busy loop reach its next select()

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and run every timer that became due.

        Raises:
            ValueError: ``seconds`` < 0.
        """
        self.sync()
        super().advance(seconds)
        self.sync()


class SteppedContext(Context):
    """A :class:`~zreactor.Context` whose I/O threads run on a :class:`SteppedClock`.

    Sockets, bind/connect and blocking calls work as usual (the threads run); heartbeats,
    handshake and linger timers, reconnect intervals and every other engine timer move only
    with :meth:`advance`::

        with SteppedContext() as ctx:
            sock = ctx.socket(zreactor.PAIR, heartbeat_ivl=100, heartbeat_timeout=300)
            ...
            ctx.advance(0.1)   # the first PING goes out, and nothing else happens

    Args:
        io_threads: number of I/O threads.
        clock: the clock; defaults to a new :class:`SteppedClock`.
        **kwargs: passed to :class:`~zreactor.Context`.
    """

    def __init__(self, io_threads: int = 1, *, clock: SteppedClock | None = None,
                 **kwargs: Any) -> None:
        self.clock = clock if clock is not None else SteppedClock()
        super().__init__(io_threads, clock=self.clock, **kwargs)
        self.clock.drive(self)

    def advance(self, seconds: float) -> None:
        """Move the clock forward and return once the due timers have run."""
        self.clock.advance(seconds)

    def sync(self) -> None:
        """Let every loop take in what is ready, without moving the clock."""
        self.clock.sync()


class EventRecorder:
    """Records every event of a bus, from any thread, and waits for them on the test's thread.

    Engines emit on their I/O threads; a test asserts on its own. The recorder bridges the two
    with a condition variable, so a test waits exactly as long as the event takes, up to a
    bound, and a missing event fails with the list of what did arrive::

        recorder = EventRecorder(sock.event_bus, timeout=5.0)
        sock.connect("tcp://127.0.0.1:5555")
        connected = recorder.wait(EventKind.HANDSHAKE_SUCCEEDED)
        assert connected.endpoint == "tcp://127.0.0.1:5555"
        assert not recorder.of(EventKind.HANDSHAKE_FAILED_PROTOCOL)

    Args:
        bus: the bus to record (a socket's ``event_bus``, a listener's ``events``, a
            context's ``events``: a parent bus also hears its children).
        timeout: the default bound of :meth:`wait`, in seconds.
    """

    def __init__(self, bus: EventBus, *, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._bus = bus
        self._events: list[ReactorEvent] = []
        self._cv = threading.Condition()
        self._subscription = bus.subscribe(self._record)

    def _record(self, event: ReactorEvent) -> None:
        # Runs on the emitting I/O thread: append and wake the waiters, nothing that blocks.
        with self._cv:
            self._events.append(event)
            self._cv.notify_all()

    @property
    def events(self) -> list[ReactorEvent]:
        """A copy of every event recorded so far, in the order they were emitted."""
        with self._cv:
            return list(self._events)

    def of(self, kind: EventKind) -> list[ReactorEvent]:
        """The events of ``kind`` recorded so far, in order."""
        with self._cv:
            return [e for e in self._events if e.kind == kind]

    def wait(self, kind: EventKind, count: int = 1, timeout: float | None = None) -> ReactorEvent:
        """Wait for the ``count``-th event of ``kind`` and return it.

        Args:
            timeout: seconds; default: the recorder's ``timeout``.

        Raises:
            AssertionError: fewer than ``count`` such events within ``timeout``; the message
                names every kind that was recorded.
        """
        bound = self.timeout if timeout is None else timeout
        with self._cv:
            if not self._cv.wait_for(lambda: len(self.of(kind)) >= count, bound):
                got = [e.kind.name for e in self._events]
                raise AssertionError(f"no {kind.name} (#{count}) within {bound} s; got {got}")
            return self.of(kind)[count - 1]

    def close(self) -> None:
        """Stop recording (unsubscribe); what was recorded stays readable."""
        self._bus.unsubscribe(self._subscription)


def os_error(code: int) -> OSError:
    """An ``OSError`` for ``code`` with the system's message (``os_error(errno.EMFILE)``)."""
    import os

    return OSError(code, os.strerror(code))


ScriptItem = Union[socket.socket, BaseException, Callable[[], Any]]


class ScriptedSyscalls(Syscalls):
    """Syscalls that replay a script instead of asking the kernel.

    The accept script doubles as the model of the listen backlog: a listener asking whether
    a connection waits (``backlog_pending``) is told "yes" while the script is not empty,
    unless ``pending`` says otherwise. So ``[os_error(EMFILE), os_error(EMFILE), sock]`` is
    a connection that stays queued through two failed accepts, as under a real EMFILE.

    Args:
        accepts: what successive ``accept()`` calls return: a socket (returned with a fake
            peer address), an exception instance (raised), or a zero-argument callable
            (called; its result is handled the same way). When the script runs out,
            ``accept()`` raises ``BlockingIOError`` (EAGAIN), as an empty backlog does.
        connects: errno values successive ``connect()`` calls return (default: real calls).
        nofile: the soft descriptor limit to report (default: the real one).
        reserve_failures: how many coming ``open_reserve()`` calls fail (with
            ``reserve_errno``).
        reserve_errno: the errno of a scripted reserve failure (default EMFILE).
        bind_failures: how many coming ``listen_socket()`` calls fail (with ``bind_errno``,
            default EADDRINUSE). Set it after the listener is bound, since binding is the
            first call.
        pending: force the answer of ``backlog_pending()`` (default: script not empty).
        free_fds: model the descriptor table: ``None`` (default) means unlimited; a number is
            how many descriptors are free. While it is 0, ``accept()`` raises
            ``capacity_errno`` *without* consuming the script (the connection stays queued,
            as under a real EMFILE), and so does ``open_reserve()``. A successful accept or
            reserve takes one; ``close_fd()`` and ``abort_connection()`` give one back.
            Call :meth:`release_fds` when a test closes something the model should count.
        capacity_errno: the errno of an exhausted model (default EMFILE; ENFILE also makes
            sense).
        report_queue: model a platform that reports the accept-queue length (Linux TCP):
            ``accept_queue_length()`` answers the number of sockets in the accept script.
            Default ``False``: the length is unknown (``None``), as for ipc. Setting the
            attribute ``queue_length`` to a number scripts the answer outright.

    Attributes:
        calls: a log of ``(name, detail)`` tuples for every scripted call, in order:
            ``accept``, ``connect``, ``open_reserve``, ``close_fd``, ``reset`` (a connection
            closed with a RST by the shedding policy), ``listen``.
    """

    def __init__(
        self,
        accepts: Iterable[ScriptItem] = (),
        *,
        connects: Iterable[int] | None = None,
        nofile: int | None = None,
        reserve_failures: int = 0,
        reserve_errno: int = errno.EMFILE,
        bind_failures: int = 0,
        bind_errno: int = errno.EADDRINUSE,
        pending: bool | None = None,
        free_fds: int | None = None,
        capacity_errno: int = errno.EMFILE,
        report_queue: bool = False,
    ) -> None:
        self.accepts: deque[ScriptItem] = deque(accepts)
        self.connects: deque[int] | None = deque(connects) if connects is not None else None
        self.nofile = nofile
        self.reserve_failures = reserve_failures
        self.reserve_errno = reserve_errno
        self.bind_failures = bind_failures
        self.bind_errno = bind_errno
        self.pending = pending
        self.free_fds = free_fds
        self.capacity_errno = capacity_errno
        self.report_queue = report_queue
        self.queue_length: int | None = None
        self.calls: list[tuple[str, Any]] = []

    def push(self, *items: ScriptItem) -> None:
        """Append more results to the accept script."""
        self.accepts.extend(items)

    def push_connections(self, count: int, *, tcp: bool = False) -> list[socket.socket]:
        """Queue ``count`` connected sockets for ``accept()``; return their peers.

        Args:
            tcp: make real loopback TCP connections instead of Unix socketpairs, so that a
                reset (``SO_LINGER {1, 0}``) reaches the peer as ``ECONNRESET``.

        The caller owns the peers (close them; closing one makes the accepted end see EOF).
        """
        peers = []
        for _ in range(count):
            ours, theirs = tcp_pair() if tcp else socket.socketpair()
            self.accepts.append(ours)
            peers.append(theirs)
        return peers

    def close(self) -> None:
        """Close the scripted sockets nobody accepted (call it when the test ends)."""
        while self.accepts:
            item = self.accepts.popleft()
            if isinstance(item, socket.socket):
                item.close()

    def release_fds(self, count: int = 1) -> None:
        """Give ``count`` descriptors back to the model (see ``free_fds``)."""
        if self.free_fds is not None:
            self.free_fds += count

    def _take_fd(self, name: str) -> None:
        """Take one descriptor from the model, or fail the way the kernel would."""
        if self.free_fds is None:
            return
        if self.free_fds <= 0:
            self.calls.append((name, errno.errorcode[self.capacity_errno]))
            raise os_error(self.capacity_errno)
        self.free_fds -= 1

    def count(self, name: str) -> int:
        """How many calls named ``name`` were made."""
        return sum(1 for call, _ in self.calls if call == name)

    @property
    def accept_calls(self) -> int:
        """How many times ``accept()`` was called."""
        return self.count("accept")

    def accept(self, listener: socket.socket) -> tuple[socket.socket, Any]:
        """Replay the next scripted accept result."""
        if self.free_fds is not None and self.free_fds <= 0:
            self._take_fd("accept")  # raises: the connection stays queued
        if not self.accepts:
            self.calls.append(("accept", "EAGAIN"))
            raise BlockingIOError(errno.EAGAIN, "scripted: backlog empty")
        item = self.accepts.popleft()
        if callable(item) and not isinstance(item, socket.socket):
            item = item()
        if isinstance(item, BaseException):
            self.calls.append(("accept", errno.errorcode.get(getattr(item, "errno", 0), item)))
            raise item
        self._take_fd("accept")
        self.calls.append(("accept", item.fileno()))
        return item, ("127.0.0.1", 0)

    def backlog_pending(self, listener: socket.socket) -> bool:
        """The scripted answer, or whether the accept script still holds anything."""
        return bool(self.accepts) if self.pending is None else self.pending

    def accept_queue_length(self, listener: socket.socket) -> int | None:
        """The scripted ``queue_length``, the sockets in the script, or ``None``."""
        if self.queue_length is not None:
            return self.queue_length
        if not self.report_queue:
            return None
        return sum(1 for item in self.accepts if isinstance(item, socket.socket))

    def abort_connection(self, sock: socket.socket) -> None:
        """Record the reset, then close with ``SO_LINGER {1, 0}`` as the real one does."""
        self.calls.append(("reset", sock.fileno()))
        super().abort_connection(sock)
        self.release_fds()

    def connect(self, sock: socket.socket, address: Any) -> int:
        """Replay the next scripted connect errno, or connect for real."""
        if self.connects is None:
            return super().connect(sock, address)
        code = self.connects.popleft() if self.connects else errno.ECONNREFUSED
        self.calls.append(("connect", code))
        return code

    def nofile_limit(self) -> int:
        """The scripted descriptor limit, or the real one."""
        return self.nofile if self.nofile is not None else super().nofile_limit()

    def open_reserve(self) -> int:
        """Open the reserve fd, unless the script says this attempt fails."""
        if self.reserve_failures > 0:
            self.reserve_failures -= 1
            self.calls.append(("open_reserve", errno.errorcode[self.reserve_errno]))
            raise os_error(self.reserve_errno)
        self._take_fd("open_reserve")
        fd = super().open_reserve()
        self.calls.append(("open_reserve", fd))
        return fd

    def close_fd(self, fd: int) -> None:
        """Close a raw descriptor (the reserve), and record it."""
        self.calls.append(("close_fd", fd))
        super().close_fd(fd)
        self.release_fds()

    def listen_socket(self, address: Any, backlog: int) -> socket.socket:
        """Bind for real, unless the script says this attempt fails.

        A new listening socket has an empty backlog, so a successful bind also drops what
        the accept script still holds (closing the scripted sockets): this is how the
        ``reopen`` policy looks through the seam.
        """
        if self.bind_failures > 0:
            self.bind_failures -= 1
            self.calls.append(("listen", errno.errorcode[self.bind_errno]))
            raise os_error(self.bind_errno)
        sock = super().listen_socket(address, backlog)
        self.calls.append(("listen", sock.fileno()))
        self.close()
        return sock


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """A connected loopback TCP pair ``(server_side, client_side)``; both are yours."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        ours, _ = server.accept()
    return ours, client
