"""The connecter: keeps one outgoing connection alive, reconnecting with backoff.

Theory of operation
-------------------
A :class:`Connecter` is libzmq's ``stream_connecter_base_t`` and the reconnecting half of
its session rolled into one engine. It opens a non-blocking socket, starts ``connect()``, and
waits for the socket to become writable; ``SO_ERROR`` then says whether it worked. On success
it builds the connection engine with the user's factory and launches it as its own child on
the same I/O thread. When that child ends (the peer went away), the connecter connects again.

*Backoff* follows libzmq exactly (``get_new_reconnect_ivl``): each wait is the current
interval plus a random jitter below ``reconnect_ivl``; if ``reconnect_ivl_max`` is larger
than ``reconnect_ivl``, the current interval then doubles, capped at the max. A successful
connection resets the interval. No wait is shorter than :data:`MIN_RECONNECT_WAIT` (10 ms), so
``reconnect_ivl=0`` cannot become a busy loop. A ``reconnect_ivl`` of ``None`` (or negative, libzmq's -1)
disables reconnection: one failure and the connecter closes itself.

States (:class:`ConnecterState`) and their moves (:data:`CONNECTER_TRANSITIONS`, fired with
:class:`ConnecterEvent`)::

    WAITING --timer--> CONNECTING --ok--> CONNECTED --child ended--> WAITING
                       CONNECTING --error--> WAITING

Every attempt and outcome is an event: ``CONNECT_DELAYED``, ``CONNECTED``,
``CONNECT_RETRIED`` (value: the wait in ms), ``DISCONNECTED``, ``CLOSED``.

*Host names* are resolved at each attempt, on the I/O thread, as libzmq's ``tcp_connecter``
does: the constructor checks the endpoint's syntax only, so a name that does not resolve
*yet* (a container still starting) is a failed attempt, reported as ``CONNECT_RETRIED`` and
retried with the backoff, and a name whose address changes is followed. The lookup blocks
the I/O thread for as long as the resolver takes (``/etc/hosts`` and literals: microseconds);
libzmq accepts the same cost.

*Limits on retrying* (libzmq's options): ``connect_timeout`` fails an attempt still pending
after that long (``ETIMEDOUT``); ``reconnect_stop`` bits (:class:`~zreactor.ReconnectStop`)
stop for good after a refused connection (``CONN_REFUSED``) or once a connection that
existed ends (``AFTER_DISCONNECT``). ``HANDSHAKE_FAILED`` needs nothing here: a messaging
session already stops reconnecting after a failed handshake (a protocol error), whatever
the option says.
"""

from __future__ import annotations

import enum
import errno
import random as _random
import socket
from typing import Any, Callable

from .address import Address, parse_endpoint
from .engine import Engine
from .events import EventKind
from .fsm import Machine
from .own import Own
from .poller import _FdHandle
from .syscalls import Syscalls

__all__ = [
    "CONNECTER_TRANSITIONS", "Connecter", "ConnecterEvent", "ConnecterState", "next_reconnect_ivl",
]

EngineFactory = Callable[[socket.socket], Engine]

#: libzmq's ``ZMQ_RECONNECT_STOP_*`` bits (the reactor layer does not import the constants)
RECONNECT_STOP_CONN_REFUSED = 0x1
RECONNECT_STOP_AFTER_DISCONNECT = 0x4

#: the shortest wait between two attempts, whatever ``reconnect_ivl`` says (seconds)
MIN_RECONNECT_WAIT = 0.01


class ConnecterState(enum.Enum):
    """Where a connecter stands."""

    WAITING = "waiting"  # a reconnect timer is armed (or the first attempt is about to start)
    CONNECTING = "connecting"  # connect() in progress
    CONNECTED = "connected"  # a child engine owns the connection


class ConnecterEvent(enum.Enum):
    """What moves a connecter."""

    ATTEMPT = "timer: connect()"
    SUCCEEDED = "connected"
    FAILED = "connect failed"
    #: the connection's engine ended (the peer went away)
    DISCONNECTED = "connection ended"


CONNECTER_TRANSITIONS: Machine[ConnecterState, ConnecterEvent] = Machine(
    "connecter",
    ConnecterState.WAITING,
    {
        (ConnecterState.WAITING, ConnecterEvent.ATTEMPT): ConnecterState.CONNECTING,
        (ConnecterState.CONNECTING, ConnecterEvent.SUCCEEDED): ConnecterState.CONNECTED,
        (ConnecterState.CONNECTING, ConnecterEvent.FAILED): ConnecterState.WAITING,
        (ConnecterState.CONNECTED, ConnecterEvent.DISCONNECTED): ConnecterState.WAITING,
    },
    attr="connecter_state",
)


def next_reconnect_ivl(
    current: float, reconnect_ivl: float, reconnect_ivl_max: float, jitter: float
) -> tuple[float, float]:
    """One step of libzmq's reconnect backoff.

    Args:
        current: the current interval (starts at ``reconnect_ivl``).
        reconnect_ivl: the base interval.
        reconnect_ivl_max: the cap; ``0`` (or not above the base) disables doubling.
        jitter: a random number in ``[0, 1)``.

    Returns:
        ``(wait, next_current)``: how long to wait now, and the interval for next time.
    """
    wait = current + jitter * reconnect_ivl
    if reconnect_ivl_max > 0 and reconnect_ivl_max > reconnect_ivl:
        current = min(current * 2, reconnect_ivl_max)
    return wait, current


class Connecter(Engine):
    """Connects to ``endpoint`` and keeps reconnecting; each connection is a child engine.

    Args:
        endpoint: ``tcp://HOST:PORT`` or ``ipc://PATH``.
        factory: called with the connected socket; returns the engine that drives it.
        reconnect_ivl: base reconnect interval in seconds; ``None`` or negative: never
            reconnect (libzmq's -1).
        reconnect_ivl_max: cap of the exponential backoff in seconds; ``0`` disables it.
        delay_first: wait one interval before the first attempt (libzmq's delayed start).
        syscalls: the syscall shim (tests inject a scripted one).
        rng: ``random()``-like callable for the jitter (tests pass a constant).
        connect_timeout: seconds an attempt may stay pending; ``0``: the kernel's limit.
        reconnect_stop: libzmq's ``RECONNECT_STOP`` bits (``1``: after ``ECONNREFUSED``,
            ``4``: after a connection ended).
        ipv6: resolve host names to IPv6 addresses when there are some.

    Raises:
        ValueError: ``endpoint`` is malformed. OSError: ``ENAMETOOLONG`` for an ipc path.
    """

    def __init__(
        self,
        endpoint: str,
        factory: EngineFactory,
        *,
        reconnect_ivl: float | None = 0.1,
        reconnect_ivl_max: float = 0.0,
        delay_first: bool = False,
        syscalls: Syscalls | None = None,
        rng: Callable[[], float] = _random.random,
        connect_timeout: float = 0.0,
        reconnect_stop: int = 0,
        ipv6: bool = False,
    ) -> None:
        super().__init__(endpoint)
        if reconnect_ivl is not None and reconnect_ivl < 0:
            reconnect_ivl = None
        if reconnect_ivl_max < 0:
            raise ValueError(f"reconnect_ivl_max must be >= 0, got {reconnect_ivl_max!r}")
        #: the endpoint parsed; a host name stays unresolved (``AF_UNSPEC``) until an attempt
        self.address: Address = parse_endpoint(endpoint, ipv6=ipv6, resolve=False)
        self.ipv6 = ipv6
        self._resolve_each_attempt = self.address.family == socket.AF_UNSPEC
        self.connect_timeout = connect_timeout
        self.reconnect_stop = reconnect_stop
        self._timeout_timer: Any = None
        self.factory = factory
        self.reconnect_ivl = reconnect_ivl
        self.reconnect_ivl_max = reconnect_ivl_max
        self.delay_first = delay_first
        self.syscalls = syscalls or Syscalls()
        self.rng = rng
        self.connecter_state = ConnecterState.WAITING
        self._current_ivl = reconnect_ivl or 0.0
        self._sock: socket.socket | None = None
        self._handle: _FdHandle | None = None
        #: the engine of the current connection, if any.
        self.connection: Engine | None = None
        #: successful connections so far.
        self.connections = 0

    def attached(self) -> None:
        """Start the first attempt (or its delay)."""
        if self.delay_first:
            self._schedule_retry()
        else:
            self._start_connecting()

    def _start_connecting(self) -> None:
        CONNECTER_TRANSITIONS.fire(self, ConnecterEvent.ATTEMPT)
        if self._resolve_each_attempt:
            try:  # a host name: resolve it now, at each attempt (module docstring)
                self.address = parse_endpoint(self.endpoint, ipv6=self.ipv6)
            except (OSError, ValueError) as exc:
                self._failed(getattr(exc, "errno", None) or errno.EHOSTUNREACH)
                return
        fds = self.pool.fds if self.pool is not None else None
        try:
            if fds is not None:
                with fds.opening():
                    sock = self.syscalls.socket(self.address.family)
                    fds.track(sock)
            else:
                sock = self.syscalls.socket(self.address.family)
        except OSError as exc:
            self._failed(exc.errno or 0)
            return
        self._sock = sock
        sock.setblocking(False)
        if self.address.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = self.syscalls.connect(sock, self.address.sockaddr)
        if err == 0:
            self._connected()
        elif err == errno.EINPROGRESS:
            # Only EINPROGRESS means "in progress". EAGAIN is a failure: a Unix socket whose
            # listener's backlog is full, or no free local port. Its socket is not
            # connecting, yet polls writable with SO_ERROR 0, so waiting for it would
            # "connect" a dead socket. libzmq retries it like any failed attempt.
            self._handle = self.add_fd(sock.fileno())
            self.set_pollout(self._handle)
            self.emit(EventKind.CONNECT_DELAYED, err)
            if self.connect_timeout > 0:
                self._timeout_timer = self.call_later(self.connect_timeout, self._timed_out)
        else:
            self._failed(err)

    def writable(self) -> None:
        """The connect finished, one way or the other: ``SO_ERROR`` tells which."""
        assert self._sock is not None
        err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._failed(err)
        else:
            self._connected()

    readable = writable  # some platforms report a failed connect as readable

    def _timed_out(self) -> None:
        self._timeout_timer = None
        if self._sock is not None:
            self._failed(errno.ETIMEDOUT)

    def _drop_handle(self) -> None:
        if self._timeout_timer is not None:
            self._timeout_timer.cancel()
            self._timeout_timer = None
        if self._handle is not None:
            self.rm_fd(self._handle)
            self._handle = None

    def _connected(self) -> None:
        self._drop_handle()
        sock, self._sock = self._sock, None
        assert sock is not None
        CONNECTER_TRANSITIONS.fire(self, ConnecterEvent.SUCCEEDED)
        self._current_ivl = self.reconnect_ivl or 0.0
        self.connections += 1
        self.emit(EventKind.CONNECTED, sock.fileno())
        try:
            engine = self.factory(sock)
        except Exception:
            self._sock = sock  # the error aborts us; release_resources closes it
            raise
        if not engine.endpoint:
            engine.endpoint = self.endpoint
        self.connection = engine
        if self.pool is not None:
            self.pool.launching(self.thread)  # load until plugged, like any launch
        self.launch_child(engine, self.thread)

    def _failed(self, err: int) -> None:
        self._drop_handle()
        if self._sock is not None:
            self._close_sock()
        CONNECTER_TRANSITIONS.fire(self, ConnecterEvent.FAILED)
        if self.reconnect_ivl is None:
            self.close(OSError(err, f"connect to {self.endpoint} failed; reconnect disabled"))
            return
        if err == errno.ECONNREFUSED and self.reconnect_stop & RECONNECT_STOP_CONN_REFUSED:
            self.close(OSError(err, f"connect to {self.endpoint} refused; RECONNECT_STOP"))
            return
        self._schedule_retry()

    def _close_sock(self) -> None:
        sock, self._sock = self._sock, None
        if self.pool is not None:
            self.pool.fds.close(sock)
        elif sock is not None:
            sock.close()

    def _schedule_retry(self) -> None:
        wait, self._current_ivl = next_reconnect_ivl(
            self._current_ivl, self.reconnect_ivl or 0.0, self.reconnect_ivl_max, self.rng()
        )
        # A zero interval would retry a connect that fails at once (ipc to a missing path)
        # in a tight loop; libzmq divides by it. Never busy-loop: wait at least this long.
        wait = max(wait, MIN_RECONNECT_WAIT)
        self.emit(EventKind.CONNECT_RETRIED, int(wait * 1000))
        self.call_later(wait, self._start_connecting)

    def process_term_req(self, child: Own) -> None:
        """The connection engine ended: forget it and, unless closing, reconnect."""
        was_current = child is self.connection
        super().process_term_req(child)
        if not was_current or self.terminating:
            return
        self.connection = None
        CONNECTER_TRANSITIONS.fire(self, ConnecterEvent.DISCONNECTED)
        self.emit(EventKind.DISCONNECTED)
        if self.reconnect_ivl is None or self.reconnect_stop & RECONNECT_STOP_AFTER_DISCONNECT:
            self.close()
        else:
            self._schedule_retry()

    def release_resources(self) -> None:
        """Close a socket still connecting; report ``CLOSED`` (once, with the error if any)."""
        self._handle = None
        if self._sock is not None:
            self._close_sock()
        reason = self._close_reason
        if reason is None:
            self.emit(EventKind.CLOSED)
        else:
            self.emit(EventKind.CLOSED, getattr(reason, "errno", None) or 0, reason=str(reason))
