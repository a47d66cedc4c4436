"""Non-blocking loopback clients for the benchmarks, all driven by one selector.

Theory of operation
-------------------
A benchmark client is a plain TCP socket in non-blocking mode, registered with the single
``selectors.DefaultSelector`` owned by a :class:`Driver`. Nothing here blocks and nothing
spawns a thread: the benchmark's only thread calls :meth:`Driver.run` with a deadline (and
optionally a stop predicate and a tick callback), and the driver turns readiness into moves of
each client's state machine. Every loop is bounded in time and in iterations.

A client sends one line and waits for the same line to come back. What the EMFILE benchmark
cares about is what the client *saw*, so that is the state, and the moves are a table (a
``zreactor.reactor.fsm.Machine``, like every machine of the library):

    CONNECTING --connected--> SENDING --sent--> WAITING --echoed--> SERVED
    SERVED --rearmed--> SENDING                         (ping-pong clients send again)
    any live state --reset--> RESET, --eof--> CLOSED, --error--> FAILED

A client still CONNECTING, SENDING or WAITING when the benchmark looks is *hung*: the kernel
may well have completed its handshake (the connection sits in the listener's backlog), but
nobody answered and nobody said no. That is the failure mode zreactor exists to remove.

Times are ``time.perf_counter()`` seconds, taken right after ``select()`` returns, so a
round-trip includes the driver's own loop latency; that cost is the same for every server.
"""

from __future__ import annotations

import enum
import errno
import selectors
import socket
import time
from typing import Callable

from zreactor.reactor.fsm import Machine


class State(enum.Enum):
    CONNECTING = "connecting"
    SENDING = "sending"
    WAITING = "waiting"
    SERVED = "served"
    RESET = "reset"
    CLOSED = "closed"  # EOF before the echo came back
    FAILED = "failed"  # connection refused, garbled echo, or any other error


class Event(enum.Enum):
    CONNECTED = "connected"
    SENT = "sent"
    ECHOED = "echoed"
    REARMED = "rearmed"
    RESET = "reset"
    EOF = "eof"
    ERROR = "error"


LIVE = frozenset({State.CONNECTING, State.SENDING, State.WAITING, State.SERVED})
PENDING = frozenset({State.CONNECTING, State.SENDING, State.WAITING})

TRANSITIONS: Machine[State, Event] = Machine("benchmark client", State.CONNECTING, {
    (State.CONNECTING, Event.CONNECTED): State.SENDING,
    (State.SENDING, Event.SENT): State.WAITING,
    (State.WAITING, Event.ECHOED): State.SERVED,
    (State.SERVED, Event.REARMED): State.SENDING,
    **{(s, Event.RESET): State.RESET for s in LIVE},
    **{(s, Event.EOF): State.CLOSED for s in LIVE},
    **{(s, Event.ERROR): State.FAILED for s in LIVE},
})

# Errors that mean "the server said no" rather than "something else broke".
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE})


class Client:
    """One connection: the line it sends, what came back, and when.

    Attributes a benchmark reads: ``state``; ``opened_at``; ``first_echo_at`` (None until the
    first echo); ``ended_at`` (when it was reset, closed or failed); ``rtts`` (seconds, one per echo); ``error`` (errno name of the failure, if
    any); ``served`` (an echo came back at least once, whatever happened afterwards).
    """

    __slots__ = ("name", "sock", "state", "line", "opened_at", "sent_at", "first_echo_at",
                 "ended_at", "rtts", "error", "_outbox", "_inbox")

    def __init__(self, name: str, sock: socket.socket, line: bytes, now: float) -> None:
        self.name = name
        self.sock = sock
        self.state = State.CONNECTING
        self.line = line
        self.opened_at = now
        self.sent_at = now
        self.first_echo_at: float | None = None
        self.ended_at: float | None = None  # when it was reset, closed or failed
        self.rtts: list[float] = []
        self.error: str | None = None
        self._outbox = bytearray(line)
        self._inbox = bytearray()

    @property
    def served(self) -> bool:
        return self.first_echo_at is not None

    @property
    def hung(self) -> bool:
        return self.state in PENDING and not self.served

    def __repr__(self) -> str:
        return f"<Client {self.name} {self.state.value}>"


class Driver:
    """Owns the selector and every client connected to one server address."""

    def __init__(self, address: tuple[str, int],
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self._address = address
        self._clock = clock
        self._selector = selectors.DefaultSelector()
        self.clients: list[Client] = []

    def open(self, name: str, line: bytes) -> Client:
        """Start a non-blocking connect; the line is sent as soon as it completes."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        client = Client(name, sock, line, self._clock())
        self.clients.append(client)
        code = sock.connect_ex(self._address)
        if code not in (0, errno.EINPROGRESS):
            self._fail(client, Event.RESET if code in _RESET_ERRNOS else Event.ERROR, code)
            return client
        self._selector.register(sock, selectors.EVENT_WRITE, client)
        return client

    def rearm(self, client: Client, line: bytes) -> None:
        """Send another line on a SERVED client (ping-pong round-trip measurement)."""
        TRANSITIONS.fire(client, Event.REARMED)
        client.line = line
        client._outbox = bytearray(line)
        client.sent_at = self._clock()
        self._selector.modify(client.sock, selectors.EVENT_WRITE, client)

    def close(self, client: Client) -> None:
        """Close from the client side (the server sees EOF). Idempotent."""
        if client.sock.fileno() >= 0:
            if client.state in LIVE:
                self._selector.unregister(client.sock)
            client.sock.close()

    def close_all(self) -> None:
        for client in self.clients:
            self.close(client)
        self._selector.close()

    def run(self, until: float, stop: Callable[[], bool] | None = None,
            tick: Callable[[float], None] | None = None, max_iterations: int = 2_000_000) -> None:
        """Drive every client until ``until`` (a clock time) or until ``stop()`` is true.

        ``tick(now)`` is called once per iteration, at least every 5 ms.
        """
        for _ in range(max_iterations):
            now = self._clock()
            if now >= until or (stop is not None and stop()):
                return
            if tick is not None:
                tick(now)
            if not self._selector.get_map():
                # Nothing to wait for; sleep out the slice rather than spin.
                time.sleep(min(until - now, 0.005))
                continue
            for key, mask in self._selector.select(timeout=min(until - now, 0.005)):
                self._on_ready(key.data, mask)

    def _on_ready(self, client: Client, mask: int) -> None:
        now = self._clock()
        try:
            if client.state is State.CONNECTING:
                code = client.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    raise OSError(code, errno.errorcode.get(code, str(code)))
                TRANSITIONS.fire(client, Event.CONNECTED)
                client.sent_at = now
            if client.state is State.SENDING:
                sent = client.sock.send(client._outbox)
                del client._outbox[:sent]
                if not client._outbox:
                    TRANSITIONS.fire(client, Event.SENT)
                    self._selector.modify(client.sock, selectors.EVENT_READ, client)
                return
            if mask & selectors.EVENT_READ:
                data = client.sock.recv(65536)
                if not data:
                    self._fail(client, Event.EOF, None)
                    return
                if client.state is State.WAITING:
                    client._inbox += data
                    self._check_echo(client, now)
        except BlockingIOError:
            pass
        except OSError as exc:
            code = exc.errno or 0
            self._fail(client, Event.RESET if code in _RESET_ERRNOS else Event.ERROR, code)

    def _check_echo(self, client: Client, now: float) -> None:
        want = len(client.line)
        if len(client._inbox) < want:
            if client.line.startswith(client._inbox):
                return
        elif client._inbox[:want] == client.line:
            del client._inbox[:want]
            client.rtts.append(now - client.sent_at)
            if client.first_echo_at is None:
                client.first_echo_at = now
            TRANSITIONS.fire(client, Event.ECHOED)
            return
        client.error = "garbled echo"
        self._fail(client, Event.ERROR, None)

    def _fail(self, client: Client, event: Event, code: int | None) -> None:
        if code is not None:
            client.error = errno.errorcode.get(code, str(code))
        if client.sock.fileno() >= 0 and client.state in LIVE:
            try:
                self._selector.unregister(client.sock)
            except KeyError:
                pass  # connect_ex failed before the socket was ever registered
        TRANSITIONS.fire(client, event)
        client.ended_at = self._clock()
        client.sock.close()
