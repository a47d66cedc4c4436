"""The listener: accepts connections, and survives running out of descriptors.

Theory of operation
-------------------
A :class:`Listener` owns one listening socket. The socket (and the reserve descriptor, see
:mod:`~zreactor.reactor.reopening`) is created and bound on the thread that asks for it, so
``bind`` errors surface to the caller and ``endpoint`` knows the real port at once; the
listener is then launched onto an I/O thread, which polls it. Each accepted socket goes to
the user's engine factory, and the engine is launched, as the listener's own child, on the
least-loaded I/O thread.

The problem
~~~~~~~~~~~
When ``accept()`` fails with ``EMFILE`` the kernel keeps the connection in the backlog, so a
level-triggered poller reports the socket readable again at once, for ever: the loop spins at
100 % CPU while the client, whose handshake the kernel completed, waits for an answer that
never comes. Every decision below exists to avoid one of those two outcomes.

The state machine
~~~~~~~~~~~~~~~~~
The accept path is one :class:`ListenerState` and the machine
:data:`~zreactor.reactor.accept_states.ACCEPT`: :meth:`Listener._fire` hands it a trigger,
and the machine's row says where to go, which action to run and which event announces the
move; entering SUSPENDED and FAILED always runs that state's entry action. Nothing here
branches on ``(state, trigger)`` pairs. ``docs/LISTENER.md`` draws the machine.

``ACTIVE``
    Read interest on; each readiness runs the one accept loop (:meth:`_accept_loop`) for a
    bounded batch. Errors are classified as data (:mod:`~zreactor.reactor.accept_errors`).
    Before each ``accept()`` the *fd budget* is checked: if the framework already holds
    ``max_connections`` descriptors the listener suspends without trying.
``SUSPENDED``
    Read interest off while a connection waits, so nothing can spin. A retry comes at once
    when *any* framework descriptor is closed in the context (``FD_RELEASED``, see
    :mod:`~zreactor.reactor.fds`), on a backoff timer (5 ms doubling to 1 s), and when a
    connection arrives while the backlog was empty (read interest stays on *only* while
    nothing waits: a one-shot arrival detector). Each look reads the accept-queue length
    into the waiting connections' arrival times (:class:`~.reopening.Arrivals`); when the
    head has waited ``accept_grace``, the listener moves to ``REOPENING``.
``REOPENING``
    :mod:`~zreactor.reactor.reopening`: shed whom the grace ran out for, retry what shedding
    could not take back, then a probe batch decides between ``ACTIVE`` and ``SUSPENDED``.
``FAILED``
    Nothing polled, no timers, and the listening socket *closed*: new clients are refused
    at once instead of hanging in a backlog nobody reads. :meth:`Listener.restart` retries.
``CLOSED``
    Terminal; reached from any state when the listener is closed.

Every move that changes what a user sees emits an event (the row's ``data``), is counted in
the ledger read by :meth:`Listener.stats`, and is logged on the ``zreactor`` logger at most
once per episode, with a quiet period so that a flapping listener cannot flood the log (see
:mod:`~zreactor.reactor.accept_report`).

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
from typing import Callable, NamedTuple

from .accept_errors import ErrnoClass, classify, errno_name
from .accept_report import EpisodeLog, Ledger, ListenerStats, MoveRecord, announce
from .accept_states import (  # the one-letter state aliases keep the code legible
    _A,
    _C,
    _F,
    _R,
    _S,
    ACCEPT,
    BACKOFF_MAX,
    BACKOFF_MIN,
    DEFAULT_ACCEPT_GRACE,
    DEFAULT_RECOVERY_TRIES,
    TRANSITIONS,
    ListenerState,
    ShedPolicy,
    Trigger,
    default_fd_budget,
    render_mermaid,
)
from .address import Address, format_endpoint, parse_endpoint
from .engine import Engine
from .events import EventKind, ReactorEvent
from .poller import Timer, _FdHandle
from .reopening import Arrivals, Reopening
from .syscalls import Syscalls, check_listening, opening_for, set_abortive, unlink_ipc_path

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


class AcceptRun(NamedTuple):
    """How one run of the accept loop ended (see :meth:`Listener._accept_loop`)."""

    #: ``ROOM`` (backlog empty or limit reached), ``BUDGET``, ``CAPACITY`` or ``FATAL``
    trigger: Trigger
    #: the errno of a CAPACITY or FATAL ending, else 0
    code: int
    #: connections taken (handed off, or reset by the shedding)
    taken: int
    #: errnos of the per-connection errors skipped on the way
    skipped: tuple[int, ...]


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
        abortive_close: set ``SO_LINGER {1, 0}`` on every accepted connection, so that its
            close sends a RST: no TIME_WAIT on the server, no CLOSE_WAIT on the peer, at the
            price of losing whatever is still unsent and the peer seeing ``ECONNRESET``
            (see docs/LISTENER.md, "Abortive close").

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
        abortive_close: bool = False,
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
        self.abortive_close = abortive_close
        self.sock: socket.socket | None = None
        #: the accept state; written only by :data:`~.accept_states.ACCEPT` (thread-safe read)
        self.listener_state = ListenerState.ACTIVE
        self._bound = False  # bind() succeeded once: the ipc path is ours to unlink
        self._handle: _FdHandle | None = None
        self._interest = False  # read interest is on
        self._ledger = Ledger(lambda: self.listener_state)
        self._log = EpisodeLog(log, endpoint)
        self._reopening = Reopening(self)  # owns the reserve descriptor
        # SUSPENDED / REOPENING bookkeeping (I/O thread only).
        self._arrivals = Arrivals()  # arrival times of the waiting connections
        self._backoff = BACKOFF_MIN
        self._retry_timer: Timer | None = None
        self._grace_timer: Timer | None = None
        self._progress = False  # an accept succeeded since the timers were last armed
        self._move_code = 0  # the errno of the move being made, for its announcement
        if on_failed is not None:
            self.events.subscribe(on_failed, EventKind.FAILED)


    # -- reading and steering from any thread -------------------------------------------------

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
        self.call_threadsafe(self._reopening.restart)

    # -- binding (caller's thread) ------------------------------------------------------------

    def bind(self, sock: socket.socket | None = None) -> str:
        """Create, bind and listen (on the calling thread); return the bound endpoint.

        With the ``reset`` policy the reserve descriptor is taken here too, so a process
        that cannot spare it learns so from this call.

        Args:
            sock: an already-bound listening ``SOCK_STREAM`` socket to adopt instead (for
                tests and socket activation).

        Raises:
            DescriptorsExhausted: no descriptor is left (EMFILE, ENFILE; an ``OSError`` too).
            OSError: the address is in use, not permitted, ...
            ValueError: ``sock`` is not a listening stream socket.
        """
        if sock is None:
            with opening_for(f"the listening socket of {self.endpoint}"):
                sock = self.syscalls.listen_socket(self.address, self.backlog)
        else:
            check_listening(sock)
            sock.setblocking(False)
        code = self._reopening.take()
        if code:
            sock.close()
            with opening_for(f"the reserve descriptor of {self.endpoint} (shed_policy reset)"):
                raise OSError(code, os.strerror(code))
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
        self._poll_socket()
        self._set_interest(True)
        self.emit(EventKind.LISTENING, self.sock.fileno())

    def readable(self) -> None:
        """The listening socket is readable: accept a batch (or, suspended, retry once)."""
        state = self.listener_state
        if state is _A:
            self._batch()
        elif state is _S:
            self._retry()  # the arrival detector fired

    def process_fd_released(self) -> None:
        """``FD_RELEASED``: a framework descriptor was closed somewhere; retry at once."""
        state = self.listener_state
        if state is _S:
            self._retry()
        elif state is _R:
            self._reopening.recover(timed=False)

    def _batch(self) -> None:
        """Accept up to ``accept_batch`` connections, and move on how the batch ended."""
        run = self._accept_loop(self.accept_batch, self._hand_off, budget=True)
        self._report_skipped(run.skipped)
        self._fire(run.trigger, run.code)

    def _accept_loop(
        self, limit: int, take: Callable[[socket.socket], object], *, budget: bool
    ) -> AcceptRun:
        """The one accept loop: accept until the backlog is empty or ``limit`` entries left it.

        Args:
            limit: most backlog entries to consume (accepted, or skipped as per-connection
                errors).
            take: called with each accepted socket: the hand-off to an engine (a batch), or
                the reset of the shedding dance.
            budget: check the fd budget before each ``accept()`` and count the new socket
                (a batch); the dance closes each connection at once, inside the fd lock.

        Calls no user code itself (``take`` may): the dance runs it inside its fd window.
        """
        assert self.sock is not None
        fds = self.pool.fds
        taken = 0
        skipped: list[int] = []
        while taken + len(skipped) < limit:
            if budget and fds.open_count >= self.max_connections:
                return AcceptRun(Trigger.BUDGET, 0, taken, tuple(skipped))
            try:
                with fds.opening():
                    conn, _peer = self.syscalls.accept(self.sock)
                    if budget:
                        fds.track(conn)
            except BlockingIOError:
                break
            except OSError as exc:
                code = exc.errno or 0
                kind = classify(code)
                self._ledger.count("accept_errors")
                if kind is ErrnoClass.PER_CONNECTION:
                    skipped.append(code)
                    continue
                trigger = Trigger.CAPACITY if kind is ErrnoClass.CAPACITY else Trigger.FATAL
                return AcceptRun(trigger, code, taken, tuple(skipped))
            taken += 1
            take(conn)
            if self.listener_state is _C:
                break  # the factory closed us
        return AcceptRun(Trigger.ROOM, 0, taken, tuple(skipped))

    def _report_skipped(self, codes: tuple[int, ...]) -> None:
        """Count and announce the per-connection errors a loop skipped (outside any window)."""
        if codes:
            self._ledger.count("skipped", len(codes))
        for code in codes:
            self.emit(EventKind.ACCEPT_FAILED, code, errno=errno_name(code))

    def _hand_off(self, conn: socket.socket) -> None:
        """Build the connection's engine and launch it on the least-loaded thread."""
        self._ledger.count("accepted")
        self._progress = True
        self._backoff = BACKOFF_MIN  # "reset after a successful accept"
        self._arrivals.accepted()
        if self.abortive_close:
            set_abortive(conn)
        self.emit(EventKind.ACCEPTED, conn.fileno())
        try:
            engine = self.factory(conn)
        except Exception:
            self.pool.fds.close(conn)
            raise
        self.launch_child(engine, self.pool.choose())

    # -- the state machine ------------------------------------------------------------------

    def _fire(self, trigger: Trigger, code: int = 0) -> None:
        """Move the accept machine on ``trigger``; record the move; announce it.

        The machine runs the row's action and the target's entry action first, then the
        move is announced (event, log line, waking :meth:`wait_state`), so that whoever hears
        "FAILED" finds the socket already closed, and whoever hears "SUSPENDED" finds the
        read interest already off.

        Raises:
            IllegalMove: the table lists no such move (a bug in this module).
        """
        source = self.listener_state
        if source is _C:
            return
        row = ACCEPT.peek(self, trigger)
        now = self.clock() if self.thread is not None else 0.0
        episode_ms = self._ledger.moved(source, trigger, row.target, code, now)
        self._move_code = code
        ACCEPT.fire(self, trigger)
        if row.data is not None:
            announce(self, self._log, row.data, source, trigger, code, episode_ms)
        self._ledger.notify()

    # -- the table's actions (run by ACCEPT.fire) -------------------------------------------

    def _resume(self) -> None:
        """Back to ACTIVE from a waiting state (or a restart): read interest on."""
        self._stop_waiting()
        self._arrivals.clear()
        self._backoff = BACKOFF_MIN
        self._reopening.failures = 0
        self._set_interest(True)

    def _wait_for_room(self) -> None:
        """SUSPENDED's entry action: never spin, but hear of every chance to retry."""
        self.pool.fds.watch(self)
        assert self.sock is not None
        if self._arrivals.look(self.syscalls, self.sock, self.clock()):
            self._set_interest(False)  # a waiting connection would keep the fd readable
        else:
            self._set_interest(True)  # arrival detector: nothing waits, nothing to spin on
        if self._progress and self._retry_timer is not None:
            self._retry_timer.cancel()  # an accept succeeded: start the backoff again
        self._progress = False
        if self._retry_timer is None or not self._retry_timer.active:
            self._arm_timer(self._on_retry_timer, cap=self._look_interval())
        self._arm_grace_timer()

    def _shed(self) -> None:
        """GRACE_EXPIRED's action: the reopening module sheds whom the grace ran out for."""
        self._reopening.shed()

    def _retry_later(self) -> None:
        """RETRY_LATER's action: another recovery attempt on the timer and at a release."""
        self._arm_timer(self._on_recovery_timer)
        self.pool.fds.watch(self)  # a release is a slot to re-take the reserve in

    def _shut_down(self) -> None:
        """FAILED's entry action: stop everything, close the socket: refuse, do not hang."""
        self._stop_waiting()
        self._arrivals.clear()
        self._drop_socket(notify=True)
        self._reopening.drop()

    # -- SUSPENDED ----------------------------------------------------------------------------

    def _retry(self) -> None:
        """One retry while suspended (timer, release, arrival, grace deadline)."""
        self._ledger.count("retries")
        self._batch()
        if self.listener_state is not _S or self.shed_policy is ShedPolicy.NONE:
            return
        if self._arrivals.due(self.clock(), self.accept_grace):
            self._fire(Trigger.GRACE_EXPIRED)

    def _arm_timer(self, callback: Callable[[], None], cap: float = BACKOFF_MAX) -> None:
        """Arm the one backoff timer (5 ms doubling to 1 s, at most ``cap``) for ``callback``."""
        if self._retry_timer is not None:
            self._retry_timer.cancel()
        self._retry_timer = self.call_later(min(self._backoff, cap), callback)
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)

    def _look_interval(self) -> float:
        """The longest wait between two looks while connections wait and their arrivals are
        stamped: a quarter of the grace, so an arrival seen late (read interest is off while
        others wait) is stamped at most ``accept_grace / 4`` after it came."""
        if not (self._arrivals.exact and len(self._arrivals)):
            return BACKOFF_MAX
        return max(BACKOFF_MIN, self.accept_grace / 4)

    def _on_retry_timer(self) -> None:
        if self.listener_state is _S:
            self._retry()

    def _on_recovery_timer(self) -> None:
        if self.listener_state is _R:
            self._reopening.recover()

    def _arm_grace_timer(self) -> None:
        """Arm the grace timer for the head connection's deadline (none: cancel it)."""
        timer = self._grace_timer
        deadline = self._arrivals.next_deadline(self.accept_grace)
        if self.shed_policy is ShedPolicy.NONE or deadline is None:
            if timer is not None:
                timer.cancel()
                self._grace_timer = None
            return
        if timer is not None and timer.active and abs(timer.deadline - deadline) < 1e-6:
            return  # already set for this head
        if timer is not None:
            timer.cancel()
        self._grace_timer = self.call_later(max(0.0, deadline - self.clock()), self._on_grace_timer)

    def _on_grace_timer(self) -> None:
        self._grace_timer = None
        if self.listener_state is _S:
            self._retry()

    def _stop_waiting(self) -> None:
        """Drop the waiting states' arrangements: the release watch and both timers."""
        self.pool.fds.unwatch(self)
        for timer in (self._retry_timer, self._grace_timer):
            if timer is not None:
                timer.cancel()
        self._retry_timer = self._grace_timer = None

    def _set_interest(self, on: bool) -> None:
        if self._handle is None or on == self._interest:
            return
        self._interest = on
        if on:
            self.set_pollin(self._handle)
        else:
            self.reset_pollin(self._handle)

    # -- REOPENING (see reopening.py), FAILED, restart, close --------------------------------

    def _probe(self) -> None:
        """Shedding is done: one batch decides between ACTIVE and SUSPENDED."""
        self.pool.fds.unwatch(self)
        if self._retry_timer is not None:
            self._retry_timer.cancel()  # a recovery retry; SUSPENDED arms its own
            self._retry_timer = None
        self._backoff = BACKOFF_MIN
        self._batch()

    def _poll_socket(self) -> None:
        """Register the (new) listening socket with the poller, read interest off."""
        assert self.sock is not None
        self._handle = self.add_fd(self.sock.fileno())
        self._interest = False

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

    def release_resources(self) -> None:
        """Close the listening socket, the reserve (and the ipc path); enter CLOSED."""
        if self.thread is not None:
            self.pool.fds.unwatch(self)
        self._handle = None  # the engine base class already removed it from the poller
        self._interest = False
        self._drop_socket(notify=True)
        self._reopening.drop()
        if self._bound:
            unlink_ipc_path(self.address)
        self._fire(Trigger.CLOSE)
