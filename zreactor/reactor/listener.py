"""The listener: accepts connections, and survives running out of descriptors.

Theory of operation
-------------------
A :class:`Listener` owns one listening socket. The socket (and the reserve descriptor, see
below) is created and bound on the thread that asks for it, so ``bind`` errors surface to the
caller and ``endpoint`` knows the real port at once; the listener is then launched onto an
I/O thread, which polls it. Each accepted socket goes to the user's engine factory, and the
engine is launched, as the listener's own child, on the least-loaded I/O thread.

The problem
~~~~~~~~~~~
When ``accept()`` fails with ``EMFILE`` the kernel keeps the connection in the backlog, so a
level-triggered poller reports the socket readable again at once, for ever: the loop spins at
100 % CPU while the client, whose handshake the kernel completed, waits for an answer that
never comes. Every decision below exists to avoid one of those two outcomes.

The state machine
~~~~~~~~~~~~~~~~~
The listener's accept path is one :class:`ListenerState` and the moves in
:data:`TRANSITIONS`; :meth:`Listener._move` refuses any move the table does not list,
and ``docs/LISTENER.md`` draws the table with :func:`render_mermaid`.

``ACTIVE``
    Read interest on. Each readiness accepts a bounded batch (:meth:`_accept_batch`). What
    ``accept()`` errors mean is data, in :mod:`~zreactor.reactor.accept_errors`: per-connection
    errors are skipped and counted, capacity errors suspend, fatal (and unknown) errors fail.
    Before each ``accept()`` the *fd budget* is checked: if the framework already holds
    ``max_connections`` descriptors the listener suspends without trying.
``SUSPENDED``
    Read interest off while a connection waits, so nothing can spin. Three things retry at
    once: *any* framework descriptor being closed anywhere in the context (``FD_RELEASED``,
    see :mod:`~zreactor.reactor.fds`), a backoff timer (5 ms doubling to 1 s, for descriptors
    freed outside the framework), and the arrival of a connection while the backlog was empty
    (read interest is kept on *only* while nothing waits, as a one-shot arrival detector, so
    the grace clock starts when a client arrives, not at the next timer tick). A retry that
    finds room goes back to ``ACTIVE``; one that fails stays. When a connection has waited
    ``accept_grace`` seconds with no accept succeeding, the listener moves to ``REOPENING``.
``REOPENING``
    Tell the waiting clients, by ``shed_policy``: ``reset`` closes the reserve descriptor,
    accepts and resets (``SO_LINGER {1, 0}``) every waiting connection until ``EAGAIN``, then
    takes the reserve back, all under the context's fd lock; ``reopen`` closes the listening
    socket (the kernel resets its backlog) and binds the same address again. A reserve that
    cannot be re-taken, or an address that cannot be bound, is retried on the backoff timer;
    after ``recovery_tries`` failures the listener goes ``FAILED``. Otherwise a probe batch
    decides between ``ACTIVE`` and ``SUSPENDED``. (``shed_policy="none"`` never sheds.)
``FAILED``
    Nothing polled, no timers, and the listening socket is *closed*, so new clients are
    refused at once instead of hanging in a backlog nobody reads. The application learns it
    from the ``FAILED`` event, :attr:`Listener.listener_state`, :meth:`Listener.wait_failed`
    or an ``on_failed`` callback, and calls :meth:`Listener.restart` when it wants to retry.
``CLOSED``
    Terminal; reached from any state when the listener is closed.

Every move emits an event (see :data:`TRANSITIONS`), is counted in the ledger read by
:meth:`Listener.stats`, and is logged on the ``zreactor`` logger at most once per episode,
with a quiet period so that a flapping listener cannot flood the log (see
:mod:`~zreactor.reactor.accept_report`).

The reserve descriptor
~~~~~~~~~~~~~~~~~~~~~~
libuv and Twisted hold one spare descriptor to make room for ``accept()`` when the process is
out; both admit the race this opens: another thread can take the freed number between
``close(reserve)`` and ``accept()``. We shrink it in two ways: the dance holds
:attr:`FdRegistry.lock <zreactor.reactor.fds.FdRegistry.lock>`, which every framework path
that opens a descriptor also takes, and nothing inside the window calls user code (events and
log lines are emitted after the reserve is back: a log handler may open a file, as Twisted
learned). Descriptors opened by code outside zreactor, or by other processes under
``ENFILE``, can still win the race; then the reserve is retried as described above.

Threads
~~~~~~~
Everything runs on the listener's I/O thread, except: :meth:`Listener.stats` (an immutable
snapshot taken under a lock), :attr:`Listener.listener_state` (one attribute read),
:meth:`Listener.wait_state` / :meth:`Listener.wait_failed` (block the caller), and
:meth:`Listener.restart` / ``close_threadsafe()`` (post to the I/O thread's mailbox).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any, Callable

from .accept_errors import ErrnoClass, classify, errno_name
from .accept_report import EpisodeLog, Ledger, ListenerStats, MoveRecord
from .accept_states import (  # the one-letter state aliases keep the dispatch tables legible
    _A,
    _C,
    _F,
    _R,
    _S,
    BACKOFF_MAX,
    BACKOFF_MIN,
    DEFAULT_ACCEPT_GRACE,
    DEFAULT_RECOVERY_TRIES,
    TRANSITIONS,
    ListenerState,
    Move,
    ShedPolicy,
    Trigger,
    default_fd_budget,
    render_mermaid,
)
from .address import Address, format_endpoint, parse_endpoint
from .engine import Engine
from .events import EventKind, ReactorEvent
from .poller import Timer, _FdHandle
from .syscalls import Syscalls

# The state machine's vocabulary is re-exported: users meet it through the listener.
__all__ = [
    "Listener",
    "ListenerState",
    "ListenerStats",
    "ShedPolicy",
    "TRANSITIONS",
    "Trigger",
    "render_mermaid",
]

log = logging.getLogger("zreactor")

EngineFactory = Callable[[socket.socket], Engine]



class Listener(Engine):
    """Accepts connections on ``endpoint``; each becomes a child engine made by ``factory``.

    Args:
        endpoint: ``tcp://HOST:PORT`` (port ``0`` or ``*`` picks a free one) or ``ipc://PATH``.
        factory: called with each accepted socket (on the listener's thread); returns the
            engine to drive it. It must not block.
        backlog: the ``listen()`` backlog.
        accept_batch: most connections accepted per readiness event, so one busy listener
            cannot starve the other engines of its thread.
        ipv6: bind ``*`` to IPv6 (dual-stack) instead of IPv4.
        syscalls: the syscall shim; tests inject :class:`zreactor.testing.ScriptedSyscalls`.
        max_connections: the fd budget: the listener does not call ``accept()`` while the
            framework holds this many descriptors (``ctx.fds.open_count``: every listening,
            accepted and connecting socket of the context, because ``RLIMIT_NOFILE`` is per
            process). Default: :func:`~zreactor.reactor.accept_states.default_fd_budget` of
            the soft limit. The limit itself is never raised.
        fd_headroom: descriptors kept out of the default budget; ignored when
            ``max_connections`` is given.
        accept_grace: seconds a connection may wait, with nothing accepted, before the
            listener sheds the backlog (default 1.0, see
            :data:`~zreactor.reactor.accept_states.DEFAULT_ACCEPT_GRACE`). ``0`` sheds at
            the next loop iteration.
        shed_policy: ``"reset"`` (default), ``"reopen"`` or ``"none"`` (a :class:`ShedPolicy`
            or its value).
        recovery_tries: timed attempts to re-take the reserve or re-bind before ``FAILED``.
        on_failed: called with the ``FAILED`` event, on the I/O thread (it must not block;
            it may call :meth:`restart`).

    Raises:
        ValueError: an option is out of range.

    Attributes:
        state: the *engine* lifecycle (:class:`~zreactor.reactor.engine.EngineState`), as for
            every engine; the accept state is :attr:`listener_state`.
    """

    def __init__(
        self,
        endpoint: str,
        factory: EngineFactory,
        *,
        backlog: int = 128,
        accept_batch: int = 64,
        ipv6: bool = False,
        syscalls: Syscalls | None = None,
        max_connections: int | None = None,
        fd_headroom: int | None = None,
        accept_grace: float = DEFAULT_ACCEPT_GRACE,
        shed_policy: ShedPolicy | str = ShedPolicy.RESET,
        recovery_tries: int = DEFAULT_RECOVERY_TRIES,
        on_failed: Callable[[ReactorEvent], object] | None = None,
    ) -> None:
        super().__init__(endpoint)
        if backlog < 0:
            raise ValueError(f"backlog must be >= 0, got {backlog!r}")
        if accept_batch < 1:
            raise ValueError(f"accept_batch must be >= 1, got {accept_batch!r}")
        if accept_grace < 0:
            raise ValueError(f"accept_grace must be >= 0, got {accept_grace!r}")
        if recovery_tries < 1:
            raise ValueError(f"recovery_tries must be >= 1, got {recovery_tries!r}")
        if max_connections is not None and max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections!r}")
        self.address: Address = parse_endpoint(endpoint, bind=True, ipv6=ipv6)
        self.factory = factory
        self.backlog = backlog
        self.accept_batch = accept_batch
        self.syscalls = syscalls or Syscalls()
        if max_connections is None:
            max_connections = default_fd_budget(self.syscalls.nofile_limit(), fd_headroom)
        self.max_connections = max_connections
        self.accept_grace = float(accept_grace)
        self.shed_policy = ShedPolicy(shed_policy)
        self.recovery_tries = recovery_tries
        self.sock: socket.socket | None = None
        self._bound = False  # bind() succeeded once: the ipc path is ours to unlink
        self._handle: _FdHandle | None = None
        self._interest = False  # read interest is on
        self._reserve: int | None = None
        self._ledger = Ledger()
        self._log = EpisodeLog(log, endpoint)
        # SUSPENDED / REOPENING bookkeeping (I/O thread only).
        self._backoff = BACKOFF_MIN
        self._retry_timer: Timer | None = None
        self._grace_timer: Timer | None = None
        self._stall_since: float | None = None  # a connection has waited since then
        self._progress = False  # an accept succeeded since the timers were last armed
        self._recovery_failures = 0
        if on_failed is not None:
            self.events.subscribe(on_failed, EventKind.FAILED)

    # -- reading and steering from any thread -------------------------------------------------

    @property
    def listener_state(self) -> ListenerState:
        """The accept state (thread-safe)."""
        return self._ledger.state

    @property
    def accepted(self) -> int:
        """Connections accepted so far (thread-safe)."""
        return self._ledger.get("accepted")

    @property
    def accept_errors(self) -> int:
        """``accept()`` calls that failed, of any class (thread-safe)."""
        return self._ledger.get("accept_errors")

    def stats(self) -> ListenerStats:
        """An immutable, consistent snapshot of the counters (thread-safe)."""
        started = self.thread is not None
        return self._ledger.snapshot(
            self.clock() if started else None,
            self.pool.fds.open_count if started else 0,
            self.max_connections,
        )

    def history(self) -> tuple[MoveRecord, ...]:
        """The last moves of the state machine, oldest first (thread-safe; for debugging)."""
        return self._ledger.history()

    def wait_state(self, *states: ListenerState, timeout: float | None = None) -> bool:
        """Block until the accept state is one of ``states``; False on timeout.

        Call it from an application thread, never from an I/O thread of the same context.
        """
        return self._ledger.wait_for(states, timeout)

    def wait_failed(self, timeout: float | None = None) -> bool:
        """Block until the listener is ``FAILED``; False on timeout. See :meth:`wait_state`."""
        return self.wait_state(_F, timeout=timeout)

    def restart(self) -> None:
        """Bind again after ``FAILED`` (from any thread; no effect in any other state).

        Asynchronous: wait with :meth:`wait_state` for ``ACTIVE``. A restart that cannot
        bind (or take the reserve) emits ``FAILED`` again, with the errno.
        """
        self.call_threadsafe(self._restart)

    # -- binding (caller's thread) ------------------------------------------------------------

    def bind(self, sock: socket.socket | None = None) -> str:
        """Create, bind and listen (on the calling thread); return the bound endpoint.

        With the ``reset`` policy the reserve descriptor is taken here too, so a process
        that cannot spare it learns so from this call.

        Args:
            sock: an already-bound listening ``SOCK_STREAM`` socket to adopt instead (for
                tests and socket activation).

        Raises:
            OSError: the address is in use, not permitted, no descriptor is left, ...
            ValueError: ``sock`` is not a listening stream socket.
        """
        if sock is None:
            sock = self.syscalls.listen_socket(self.address, self.backlog)
        else:
            _check_listening(sock)
            sock.setblocking(False)
        try:
            if self.shed_policy is ShedPolicy.RESET and self._reserve is None:
                self._reserve = self.syscalls.open_reserve()
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._bound = True
        self.endpoint = self._log.prefix = format_endpoint(self.address.family, sock.getsockname())
        # Binding again (reopen, restart) must reuse the real port, not port 0.
        self.address = Address(self.address.transport, self.address.family, sock.getsockname())
        return self.endpoint

    # -- ACTIVE: on the I/O thread -----------------------------------------------------------

    def attached(self) -> None:
        """Start polling the listening socket."""
        if self.sock is None:
            with self.pool.fds.opening():
                self.bind()
        assert self.sock is not None
        self.pool.fds.track(self.sock)
        self._handle = self.add_fd(self.sock.fileno())
        self._set_interest(True)
        self.emit(EventKind.LISTENING, self.sock.fileno())

    def readable(self) -> None:
        """The listening socket is readable: accept a batch (or, suspended, retry once)."""
        state = self._ledger.state
        if state is _A:
            self._settle(*self._accept_batch())
        elif state is _S:
            self._retry()  # the arrival detector fired

    def process_fd_released(self) -> None:
        """``FD_RELEASED``: a framework descriptor was closed somewhere; retry at once."""
        state = self._ledger.state
        if state is _S:
            self._retry()
        elif state is _R:
            self._recover(timed=False)

    def _accept_batch(self) -> tuple[Trigger, int]:
        """Accept up to ``accept_batch`` connections; say how the batch ended.

        Returns:
            ``(trigger, errno)``: ``ROOM`` (the backlog is empty, or the batch is full),
            ``BUDGET`` (the fd budget is reached; nothing was tried), ``CAPACITY`` or
            ``FATAL`` with the errno.
        """
        assert self.sock is not None
        fds = self.pool.fds
        for _ in range(self.accept_batch):
            if fds.open_count >= self.max_connections:
                return Trigger.BUDGET, 0
            try:
                with fds.opening():
                    conn, _peer = self.syscalls.accept(self.sock)
                    fds.track(conn)
            except BlockingIOError:
                return Trigger.ROOM, 0
            except OSError as exc:
                code = exc.errno or 0
                kind = classify(code)
                self._ledger.count("accept_errors")
                if kind is ErrnoClass.PER_CONNECTION:
                    self._ledger.count("skipped")
                    self.emit(EventKind.ACCEPT_FAILED, code, errno=errno_name(code))
                    continue
                return (Trigger.CAPACITY if kind is ErrnoClass.CAPACITY else Trigger.FATAL), code
            self._hand_off(conn)
            if self._ledger.state is _C:
                break  # the factory closed us
        return Trigger.ROOM, 0

    def _hand_off(self, conn: socket.socket) -> None:
        """Build the connection's engine and launch it on the least-loaded thread."""
        self._ledger.count("accepted")
        self._progress = True
        self._backoff = BACKOFF_MIN  # "reset after a successful accept"
        self._stall_since = None
        self.emit(EventKind.ACCEPTED, conn.fileno())
        try:
            engine = self.factory(conn)
        except Exception:
            self.pool.fds.close(conn)
            raise
        self.launch_child(engine, self.pool.choose())

    # -- the state machine ------------------------------------------------------------------

    def _move(self, trigger: Trigger, code: int = 0) -> tuple[Move, ListenerState, int]:
        """Make the move :data:`TRANSITIONS` lists for ``(state, trigger)`` and record it.

        Returns:
            the move, the state it left, and the episode's length in ms if it just ended.

        Raises:
            AssertionError: the table lists no such move (a bug in this module).
        """
        source = self._ledger.state
        move = TRANSITIONS.get((source, trigger))
        if move is None:
            raise AssertionError(f"{self!r}: illegal listener move {source.name} on {trigger.name}")
        now = self.clock() if self.thread is not None else 0.0
        return move, source, self._ledger.moved(source, trigger, move.target, code, now)

    def _settle(self, trigger: Trigger, code: int = 0) -> None:
        """Make a move, arrange what the new state needs, then announce it.

        The announcement (event, log line, waking :meth:`wait_state`) comes after the
        arrangements, so that whoever hears "FAILED" finds the socket already closed, and
        whoever hears "SUSPENDED" finds the read interest already off.
        """
        if self._ledger.state is _C:
            return
        move, source, episode_ms = self._move(trigger, code)
        target = move.target
        if target is _A:
            if source is not _A:  # (ACTIVE -> ACTIVE is every ordinary batch: keep it cheap)
                self._leave_waiting()
                self._set_interest(True)
        elif target is _S:
            self._arm_suspended()
        elif target is _R and trigger is Trigger.RETRY_LATER:
            self._arm_timer(self._recover)
            self.pool.fds.watch(self)  # a release is a slot to re-take the reserve in
        elif target is _F and trigger is not Trigger.RESTART_FAILED:
            self._shut_down()
        if move.event is not None:
            self._announce(move.event, source, trigger, code, episode_ms)
        self._ledger.notify()
        if target is _R and trigger is Trigger.GRACE_EXPIRED:
            self._shed_backlog()  # announces itself (SHED / REOPENED), then moves on

    def _announce(
        self, kind: EventKind, source: ListenerState, trigger: Trigger, code: int, episode_ms: int
    ) -> None:
        """Emit the event of one move, and log it as :class:`EpisodeLog` allows."""
        detail: dict[str, Any] = {"from": source.name, "trigger": trigger.value}
        if kind is EventKind.SUSPENDED:
            open_fds = self.pool.fds.open_count
            self.emit(kind, code, errno=errno_name(code), open_fds=open_fds,
                      max_connections=self.max_connections, **detail)
            if source is _A:
                why = (errno_name(code) if trigger is Trigger.CAPACITY
                       else f"fd budget reached ({open_fds}/{self.max_connections})")
                self._log.begin(self.clock(), "not accepting: %s; shedding after %.3g s (%s)",
                                why, self.accept_grace, self.shed_policy.value)
        elif kind is EventKind.RESUMED:
            self.emit(kind, episode_ms, **detail)
            self._log.end("accepting again after %d ms", episode_ms)
        elif kind is EventKind.FAILED:
            self.emit(kind, code, errno=errno_name(code), **detail)
            self._log.alarm("listener FAILED (%s, %s); refusing connections until restart()",
                            trigger.value, errno_name(code))
        elif kind is EventKind.LISTENING:
            assert self.sock is not None
            self.emit(kind, self.sock.fileno(), **detail)
            log.info("%s: listening again after restart()", self.endpoint)
        else:
            self.emit(kind, 0, **detail)

    def _set_interest(self, on: bool) -> None:
        if self._handle is None or on == self._interest:
            return
        self._interest = on
        if on:
            self.set_pollin(self._handle)
        else:
            self.reset_pollin(self._handle)

    # -- SUSPENDED ----------------------------------------------------------------------------

    def _retry(self) -> None:
        """One retry while suspended (timer, release, arrival, grace deadline)."""
        self._ledger.count("retries")
        self._settle(*self._accept_batch())
        if self._ledger.state is _S and self._grace_expired():
            self._settle(Trigger.GRACE_EXPIRED)

    def _arm_suspended(self) -> None:
        """Entered or stayed in SUSPENDED: never spin, but hear of every chance to retry."""
        assert self.sock is not None
        self.pool.fds.watch(self)
        if self.syscalls.backlog_pending(self.sock):
            if self._stall_since is None:
                self._stall_since = self.clock()
            self._set_interest(False)  # a waiting connection would keep the fd readable
        else:
            self._stall_since = None
            self._set_interest(True)  # arrival detector: nothing waits, nothing to spin on
        if self._progress and self._retry_timer is not None:
            self._retry_timer.cancel()  # an accept succeeded: start the backoff again
        self._progress = False
        if self._retry_timer is None or not self._retry_timer.active:
            self._arm_timer(self._on_retry_timer)
        self._arm_grace_timer()

    def _arm_timer(self, callback: Callable[[], None]) -> None:
        """Arm the one backoff timer (5 ms doubling to 1 s) for ``callback``."""
        if self._retry_timer is not None:
            self._retry_timer.cancel()
        self._retry_timer = self.call_later(self._backoff, callback)
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)

    def _on_retry_timer(self) -> None:
        if self._ledger.state is _S:
            self._retry()

    def _arm_grace_timer(self) -> None:
        timer = self._grace_timer
        if self.shed_policy is ShedPolicy.NONE or self._stall_since is None:
            if timer is not None:
                timer.cancel()
                self._grace_timer = None
            return
        deadline = self._stall_since + self.accept_grace
        if timer is not None and timer.active and abs(timer.deadline - deadline) < 1e-6:
            return  # already set for this stall
        if timer is not None:
            timer.cancel()
        self._grace_timer = self.call_later(max(0.0, deadline - self.clock()), self._on_grace_timer)

    def _on_grace_timer(self) -> None:
        self._grace_timer = None
        if self._ledger.state is _S:
            self._retry()

    def _grace_expired(self) -> bool:
        # 1 ns of slack: the timer's deadline is computed as now + (deadline - now).
        return (
            self.shed_policy is not ShedPolicy.NONE
            and self._stall_since is not None
            and self.clock() + 1e-9 >= self._stall_since + self.accept_grace
        )

    def _leave_waiting(self) -> None:
        """Back to ACTIVE (or on to FAILED): drop every arrangement of the waiting states."""
        self.pool.fds.unwatch(self)
        for timer in (self._retry_timer, self._grace_timer):
            if timer is not None:
                timer.cancel()
        self._retry_timer = self._grace_timer = None
        self._stall_since = None
        self._backoff = BACKOFF_MIN
        self._recovery_failures = 0

    # -- REOPENING ----------------------------------------------------------------------------

    def _shed_backlog(self) -> None:
        """Entered REOPENING: tell the waiting clients, by the shedding policy."""
        self._set_interest(False)
        if self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None
        self._backoff = BACKOFF_MIN
        self._recovery_failures = 0
        if self.shed_policy is ShedPolicy.RESET:
            self._reset_backlog()
        else:
            self._reopen_socket()

    def _reset_backlog(self) -> None:
        """The reserve-fd dance: close it, accept and reset until EAGAIN, take it back."""
        assert self.sock is not None
        shed = skipped = 0
        stop_code = 0  # a CAPACITY or FATAL errno that ended the dance early
        fatal = False
        reserve_code = 0
        # Bounded, so a connect flood cannot keep us here; whoever is left waits for the
        # next grace period.
        limit = self.backlog + self.accept_batch
        with self.pool.fds.lock:  # no framework thread takes the freed number meanwhile
            if self._reserve is not None:
                self.syscalls.close_fd(self._reserve)
                self._reserve = None
            for _ in range(limit):
                try:
                    conn, _peer = self.syscalls.accept(self.sock)
                except BlockingIOError:
                    break
                except OSError as exc:
                    kind = classify(exc.errno)
                    if kind is ErrnoClass.PER_CONNECTION:
                        skipped += 1
                        continue
                    stop_code = exc.errno or 0
                    fatal = kind is not ErrnoClass.CAPACITY
                    break
                self.syscalls.abort_connection(conn)
                shed += 1
            try:
                self._reserve = self.syscalls.open_reserve()
            except OSError as exc:
                reserve_code = exc.errno or 0
        # Out of the window: user code (subscribers, log handlers) may open files again.
        self._ledger.count("shed", shed)
        self._ledger.count("skipped", skipped)
        self._ledger.count("accept_errors", skipped + (1 if stop_code else 0))
        held = self._reserve is not None
        self.emit(EventKind.SHED, shed, policy=self.shed_policy.value,
                  reserve="held" if held else "lost", errno=errno_name(stop_code or reserve_code))
        self._log.note("shed", "reset %d waiting connection(s)%s", shed,
                       "" if held else f"; reserve descriptor lost ({errno_name(reserve_code)})")
        if fatal:
            self._settle(Trigger.FATAL, stop_code)
        elif not held:
            self._recovery_failed(reserve_code or stop_code)
        else:
            self._probe()

    def _reopen_socket(self) -> None:
        """Close the listening socket (the kernel resets its backlog) and bind again."""
        with self.pool.fds.lock:
            self._drop_socket(notify=False)  # we take the number straight back
            code = self._bind_again()
        if code:
            self._recovery_failed(code)
        else:
            self._reopened()

    def _recover(self, timed: bool = True) -> None:
        """REOPENING: try the missing piece (reserve or socket) again.

        Only timed attempts count towards ``recovery_tries``: a burst of descriptor
        releases must not use up the budget of tries in a millisecond.
        """
        if self._ledger.state is not _R:
            return
        code = 0
        with self.pool.fds.opening():
            if self.sock is None:
                code = self._bind_again()
            elif self._reserve is None and self.shed_policy is ShedPolicy.RESET:
                try:
                    self._reserve = self.syscalls.open_reserve()
                except OSError as exc:
                    code = exc.errno or 0
        if not code:
            if self._handle is None:
                self._reopened()
            else:
                self._probe()
        elif timed:
            self._recovery_failed(code)
        else:
            self.pool.fds.watch(self)  # the timer keeps its schedule

    def _reopened(self) -> None:
        assert self.sock is not None
        self._handle = self.add_fd(self.sock.fileno())
        self._interest = False
        self._ledger.count("reopens")
        self.emit(EventKind.REOPENED, self.sock.fileno(), policy=self.shed_policy.value)
        self._log.note("reopen", "closed and bound the listening socket again (backlog dropped)")
        self._probe()

    def _recovery_failed(self, code: int) -> None:
        self._recovery_failures += 1
        if self._recovery_failures >= self.recovery_tries:
            self._settle(Trigger.GAVE_UP, code)
        else:
            self._settle(Trigger.RETRY_LATER, code)

    def _probe(self) -> None:
        """Shedding is done: one batch decides between ACTIVE and SUSPENDED."""
        self.pool.fds.unwatch(self)
        if self._retry_timer is not None:
            self._retry_timer.cancel()  # a recovery retry; SUSPENDED arms its own
            self._retry_timer = None
        self._backoff = BACKOFF_MIN
        self._settle(*self._accept_batch())

    # -- FAILED, restart, close ---------------------------------------------------------------

    def _shut_down(self) -> None:
        """Entered FAILED: stop everything, and close the socket: refuse, do not hang."""
        self._leave_waiting()
        self._drop_socket(notify=True)
        self._drop_reserve()

    def _restart(self) -> None:
        if self._ledger.state is not _F:
            return
        with self.pool.fds.opening():
            code = self._bind_again()
            if not code and self.shed_policy is ShedPolicy.RESET:
                try:
                    self._reserve = self.syscalls.open_reserve()
                except OSError as exc:
                    code = exc.errno or 0
                    self._drop_socket(notify=False)
        if code:
            self._settle(Trigger.RESTART_FAILED, code)
            return
        assert self.sock is not None
        self._handle = self.add_fd(self.sock.fileno())
        self._interest = False
        self._settle(Trigger.RESTART)

    def _bind_again(self) -> int:
        """Bind ``self.address`` again (caller holds the fd lock); return 0 or the errno."""
        self._unlink_ipc_path()
        try:
            sock = self.syscalls.listen_socket(self.address, self.backlog)
        except OSError as exc:
            return exc.errno or 0
        self.sock = sock
        self.pool.fds.track(sock)
        return 0

    def _drop_socket(self, *, notify: bool) -> None:
        if self._handle is not None:
            self.rm_fd(self._handle)
            self._handle = None
            self._interest = False
        sock, self.sock = self.sock, None
        if sock is None:
            return
        if self.thread is not None:
            self.pool.fds.close(sock, notify=notify)
        else:
            sock.close()

    def _drop_reserve(self) -> None:
        if self._reserve is not None:
            reserve, self._reserve = self._reserve, None
            self.syscalls.close_fd(reserve)

    def _unlink_ipc_path(self) -> None:
        path = self.address.sockaddr
        if self.address.family != socket.AF_UNIX or not isinstance(path, str):
            return
        if path and not path.startswith("\0"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def release_resources(self) -> None:
        """Close the listening socket, the reserve (and the ipc path); enter CLOSED."""
        if self.thread is not None:
            self.pool.fds.unwatch(self)
        self._handle = None  # the engine base class already removed it from the poller
        self._interest = False
        self._drop_socket(notify=True)
        self._drop_reserve()
        if self._bound:
            self._unlink_ipc_path()
        if self._ledger.state is not _C:
            move, source, episode_ms = self._move(Trigger.CLOSE)
            assert move.event is not None
            self._announce(move.event, source, Trigger.CLOSE, 0, episode_ms)
            self._ledger.notify()


def _check_listening(sock: socket.socket) -> None:
    """Refuse a socket that is not a listening stream socket (see accept_errors: EOPNOTSUPP)."""
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"a listener needs a SOCK_STREAM socket, got {sock.type!r}")
    try:
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except (OSError, AttributeError):  # pragma: no cover - no SO_ACCEPTCONN (macOS)
        return
    if not listening:
        raise ValueError("a listener needs a socket that is already listening")
