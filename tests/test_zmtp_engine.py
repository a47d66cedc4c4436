"""ZmtpEngine: handshake timeout, heartbeats, protocol errors, maxmsgsize, batching, flow control.

Two kinds of test:

* through a messaging socket (a zreactor PAIR) against a *scripted peer*: a raw blocking
  socket driving a :class:`ZmtpConnection` by hand, which can stop answering, send garbage or
  vanish mid-frame as no real library would;
* the engine alone over a ``socketpair``, serving a :class:`FakeSession` whose pipe is a plain
  deque: this is the seam for what the socket types built on top would otherwise hide
  (subscription mapping, one pipe flush per read, one write per batch).
"""

from __future__ import annotations

import errno
import queue
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import zreactor
from zreactor.constants import SocketType
from zreactor.reactor.events import EventKind
from zreactor.reactor.stream import ReadState
from zreactor.testing import EventRecorder
from zreactor.zmtp import (
    Cancel,
    HandshakeComplete,
    Message,
    Ping,
    Pong,
    Subscribe,
    ZmtpConnection,
    encode_greeting,
)
from zreactor.zmtp.commands import encode_ready
from zreactor.zmtp.engine import (
    INPUT_FLOW, OUTPUT_FLOW, PROTOCOL_ERROR_ZMTP_UNSPECIFIED, Flow, ZmtpEngine,
)
from zreactor.zmtp.frames import encode_command_frame
from zreactor.zmtp.shortcut import HOLD_TICK, CallerShortcut, Reader

pytestmark = pytest.mark.timeout(20)

DEADLINE = 5.0


# -- helpers ------------------------------------------------------------------------------------


class Peer:
    """A scripted ZMTP peer: a ZmtpConnection glued by hand to a blocking socket."""

    def __init__(self, sock: socket.socket, socket_type: str = "PAIR", **kwargs: Any) -> None:
        self.sock = sock
        self.conn = ZmtpConnection(socket_type, **kwargs)
        self.events: list[Any] = []
        self._answered = 0

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def read_once(self, timeout: float) -> bool:
        """Read what arrives within ``timeout``; False once the connection is gone."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(1 << 20)
        except TimeoutError:
            return True
        except ConnectionResetError:
            return False
        if not data:
            return False
        self.events += self.conn.receive_data(data)
        return True

    def pump(self, until: Callable[[list[Any]], bool], timeout: float = DEADLINE,
             answer_pings: bool = True) -> list[Any]:
        deadline = time.monotonic() + timeout
        self.flush()
        while not until(self.events):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"timed out; peer events: {self.events!r}"
            assert self.read_once(min(remaining, 0.05)), f"connection lost; events {self.events!r}"
            if answer_pings:
                self._answer_new_pings()
            self.flush()
        return self.events

    def _answer_new_pings(self) -> None:
        pings = [e for e in self.events if isinstance(e, Ping)]
        for ping in pings[self._answered:]:
            self.conn.answer_ping(ping)
        self._answered = len(pings)

    def handshake(self) -> HandshakeComplete:
        self.pump(lambda evs: any(isinstance(e, HandshakeComplete) for e in evs))
        return next(e for e in self.events if isinstance(e, HandshakeComplete))

    def send(self, *messages: list[bytes]) -> None:
        self.conn.send_messages(messages)
        self.flush()

    def messages(self) -> list[list[bytes]]:
        return [e.frames for e in self.events if isinstance(e, Message)]

    def wait_closed(self, timeout: float = DEADLINE) -> float:
        """Keep reading (not answering) until the other side closes; return when it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.read_once(0.02):
                return time.monotonic()
        raise AssertionError(f"still connected after {timeout} s; events {self.events!r}")

    def is_closed(self) -> bool:
        """Whether the other side has closed, reading (not answering) what already arrived.

        For stepped tests: once ``advance()`` returns, an engine the due timers closed has
        closed its socket, and on loopback the FIN is already here; the short wait only
        covers a slow kernel, it is no timing assumption about the engine.
        """
        while True:
            self.sock.settimeout(0.05)
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                return False
            except ConnectionResetError:
                return True
            if not data:
                return True
            self.events += self.conn.receive_data(data)

    def pings(self) -> list[Ping]:
        return [e for e in self.events if isinstance(e, Ping)]


@pytest.fixture
def raw_sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def bound_pair(ctx: zreactor.Context, addr: str = "tcp://127.0.0.1:*", **options: Any):
    sock = ctx.socket(SocketType.PAIR, linger=0, rcvtimeo=int(DEADLINE * 1000), **options)
    log = EventRecorder(sock.event_bus, timeout=DEADLINE)
    sock.bind(addr)
    return sock, sock.last_endpoint.decode(), log


def dial(endpoint: str, opened: list[socket.socket]) -> socket.socket:
    if endpoint.startswith("ipc://"):
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.settimeout(DEADLINE)
        raw.connect(endpoint[len("ipc://"):])
    else:
        host, port = endpoint[len("tcp://"):].rsplit(":", 1)
        raw = socket.create_connection((host, int(port)), timeout=DEADLINE)
    opened.append(raw)
    return raw


def raw_listener(opened: list[socket.socket]) -> tuple[socket.socket, str]:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    lsock.settimeout(DEADLINE)
    opened.append(lsock)
    return lsock, f"tcp://127.0.0.1:{lsock.getsockname()[1]}"


def accept(lsock: socket.socket, opened: list[socket.socket]) -> socket.socket:
    conn, _ = lsock.accept()
    opened.append(conn)
    return conn


# -- handshake ----------------------------------------------------------------------------------


def test_greeting_is_sent_at_once_and_handshake_ivl_drops_a_silent_peer(stepped, raw_sockets) -> None:
    srv, endpoint, log = bound_pair(stepped, handshake_ivl=200)
    peer = Peer(dial(endpoint, raw_sockets))
    peer.sock.settimeout(DEADLINE)
    greeting = peer.sock.recv(64)  # ours arrives although the peer has sent nothing
    assert greeting[:1] == b"\xff" and greeting[10] == 3
    # the greeting went out from attached(), which armed the handshake timer: it runs from here
    stepped.advance(0.199)
    assert not peer.is_closed(), "dropped before handshake_ivl"
    stepped.advance(0.002)
    assert peer.is_closed(), "still connected after handshake_ivl"
    failed = log.wait(EventKind.HANDSHAKE_FAILED_NO_DETAIL)
    assert failed.endpoint == endpoint
    assert failed.value == errno.ETIMEDOUT
    assert log.wait(EventKind.DISCONNECTED).endpoint == endpoint
    assert not log.of(EventKind.HANDSHAKE_SUCCEEDED)


def test_handshake_ivl_zero_waits_for_ever(stepped, raw_sockets) -> None:
    srv, endpoint, log = bound_pair(stepped, handshake_ivl=0)
    peer = Peer(dial(endpoint, raw_sockets))
    peer.sock.settimeout(DEADLINE)
    greeting = peer.sock.recv(64)
    assert greeting[:1] == b"\xff"  # attached
    peer.events += peer.conn.receive_data(greeting)
    stepped.advance(3600)
    assert not peer.is_closed(), "the engine dropped a peer although handshake_ivl is 0"
    assert not log.of(EventKind.HANDSHAKE_FAILED_NO_DETAIL)
    peer.handshake()  # still welcome
    assert log.wait(EventKind.HANDSHAKE_SUCCEEDED).endpoint == endpoint


def test_garbage_greeting_drops_only_that_connection(ctx, raw_sockets) -> None:
    srv, endpoint, log = bound_pair(ctx)
    client = ctx.socket(SocketType.PAIR, linger=0, rcvtimeo=int(DEADLINE * 1000))
    client.connect(endpoint)
    client.send(b"before")
    assert srv.recv() == b"before"

    raw = dial(endpoint, raw_sockets)
    raw.sendall(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n" + b"\0" * 64)
    Peer(raw).wait_closed()
    failed = log.wait(EventKind.HANDSHAKE_FAILED_PROTOCOL)
    assert failed.endpoint == endpoint
    assert failed.value == PROTOCOL_ERROR_ZMTP_UNSPECIFIED
    assert "signature" in failed.detail["error"] or "greeting" in failed.detail["error"]

    client.send(b"after")  # the good connection never noticed
    assert srv.recv() == b"after"
    srv.send(b"back")
    assert client.recv() == b"back"


def test_incompatible_socket_type_fails_the_handshake(ctx, raw_sockets) -> None:
    srv, endpoint, log = bound_pair(ctx)
    raw = dial(endpoint, raw_sockets)
    raw.sendall(encode_greeting("NULL") + encode_command_frame(encode_ready([("Socket-Type", b"PUB")])))
    Peer(raw).wait_closed()
    assert "PUB" in log.wait(EventKind.HANDSHAKE_FAILED_PROTOCOL).detail["error"]
    assert not log.of(EventKind.HANDSHAKE_SUCCEEDED)


# -- heartbeats ------------------------------------------------------------------------------------


def _heartbeating_client(stepped, raw_sockets, **options: Any):
    """A PAIR dialling a scripted peer with heartbeats; returns both once the engine's
    handshake is done (its heartbeat timer then runs from the stepped clock's now)."""
    lsock, endpoint = raw_listener(raw_sockets)
    client = stepped.socket(SocketType.PAIR, linger=0, rcvtimeo=int(DEADLINE * 1000), **options)
    log = EventRecorder(client.event_bus, timeout=DEADLINE)
    client.connect(endpoint)
    peer = Peer(accept(lsock, raw_sockets))
    peer.handshake()
    log.wait(EventKind.HANDSHAKE_SUCCEEDED)
    return client, peer, log, endpoint


def _steps_until_closed(stepped, peer: Peer, step: float, bound: float) -> float:
    """Advance by ``step`` until the engine drops ``peer``; return the fake time it took.

    libzmq cancels the timeout timer on any traffic and arms it again at the next PING, so
    a peer silent from now is dropped ``heartbeat_ivl + heartbeat_timeout`` later at most.
    """
    waited = 0.0
    while not peer.is_closed():
        stepped.advance(step)
        waited += step
        assert waited <= bound, f"a silent peer outlived {bound:g} s"
    return waited


def test_heartbeat_pings_carry_the_ttl_and_a_silent_peer_is_dropped(stepped, raw_sockets) -> None:
    # times in binary fractions (1/8 s, 3/8 s, steps of 1/16 s): exact fake-clock sums
    client, peer, log, endpoint = _heartbeating_client(
        stepped, raw_sockets, heartbeat_ivl=125, heartbeat_ttl=1500, heartbeat_timeout=375,
        reconnect_ivl=5000)
    stepped.advance(0.0625)
    assert not peer.is_closed() and not peer.pings()  # half an interval: no PING yet
    # answering: a PING every interval, and the connection lives well past heartbeat_timeout
    for n in range(1, 8):
        stepped.advance(0.0625 if n == 1 else 0.125)
        peer.pump(lambda evs, n=n: sum(isinstance(e, Ping) for e in evs) >= n)  # answers it
    assert len(peer.pings()) == 7  # one per interval, not more
    assert {p.ttl for p in peer.pings()} == {1.5}
    assert not log.of(EventKind.DISCONNECTED)
    # silent from here: dropped, and not before heartbeat_timeout of silence
    silent = _steps_until_closed(stepped, peer, step=0.0625, bound=0.125 + 0.375)
    assert silent >= 0.375, f"dropped {silent} s into the silence"
    assert log.wait(EventKind.DISCONNECTED).endpoint == endpoint
    assert not log.of(EventKind.HANDSHAKE_FAILED_NO_DETAIL)  # it had completed


def test_any_traffic_counts_as_life_for_heartbeat_timeout(stepped, raw_sockets) -> None:
    client, peer, log, _ = _heartbeating_client(
        stepped, raw_sockets, heartbeat_ivl=125, heartbeat_timeout=250)
    # never answer a PING, but keep sending messages: that is traffic too
    for i in range(8):
        peer.send([b"tick-%d" % i])
        stepped.advance(0.125)  # the loop reads the tick first, then runs the due timers
        assert not peer.is_closed(), f"dropped after {i + 1} ticks"
    assert len(peer.pings()) == 8
    assert [client.recv() for _ in range(8)] == [b"tick-%d" % i for i in range(8)]
    client.send(b"still here")
    peer.pump(lambda evs: any(isinstance(e, Message) for e in evs), answer_pings=False)
    assert peer.messages() == [[b"still here"]]
    # and without traffic it goes: the check has teeth
    silent = _steps_until_closed(stepped, peer, step=0.0625, bound=0.125 + 0.25)
    assert silent >= 0.25


def test_the_timeout_runs_from_the_first_ping_after_the_last_traffic(stepped, raw_sockets) -> None:
    # libzmq cancels the timeout timer on traffic and arms it at the next PING: with a
    # timeout longer than the interval, a peer that falls silent just after answering a PING
    # is dropped one interval plus one timeout later, to the step (binary fractions: exact)
    client, peer, log, _ = _heartbeating_client(
        stepped, raw_sockets, heartbeat_ivl=125, heartbeat_timeout=375)
    for n in range(1, 8):  # PINGs at 1/8 s ... 7/8 s, each answered at once
        stepped.advance(0.125)
        peer.pump(lambda evs, n=n: sum(isinstance(e, Ping) for e in evs) >= n)
    silent = _steps_until_closed(stepped, peer, step=0.0625, bound=1.0)
    assert silent == 0.125 + 0.375, f"dropped {silent} s into the silence, libzmq: 0.5 s"
    log.wait(EventKind.DISCONNECTED)


def test_every_peer_ping_restarts_its_ttl(stepped, raw_sockets) -> None:
    # libzmq re-arms the TTL timer at each PING (any message cancels it first): a peer that
    # pings twice and falls silent is dropped one TTL after its last PING, not never
    srv, endpoint, log = bound_pair(stepped)
    peer = Peer(dial(endpoint, raw_sockets))
    peer.handshake()
    peer.conn.send_ping(ttl=0.3)
    peer.pump(lambda evs: sum(isinstance(e, Pong) for e in evs) >= 1)
    stepped.advance(0.25)
    peer.conn.send_ping(ttl=0.3)
    peer.pump(lambda evs: sum(isinstance(e, Pong) for e in evs) >= 2)
    stepped.advance(0.25)  # 0.5 s since the first PING: alive, the second one's TTL runs
    assert not peer.is_closed(), "dropped within the TTL of the last PING"
    stepped.advance(0.0625)  # 0.3125 s after the last PING
    assert peer.is_closed(), "still connected one TTL after the peer's last PING"
    log.wait(EventKind.DISCONNECTED)


def test_peer_ping_is_answered_at_once_and_its_ttl_enforced(stepped, raw_sockets) -> None:
    srv, endpoint, log = bound_pair(stepped)
    peer = Peer(dial(endpoint, raw_sockets))
    peer.handshake()
    peer.conn.send_ping(ttl=0.3, context=b"ctx-1")
    # the PONG comes back with no time passing: answering is not a timer
    peer.pump(lambda evs: any(isinstance(e, Pong) for e in evs))
    assert next(e for e in peer.events if isinstance(e, Pong)).context == b"ctx-1"
    stepped.advance(0.299)  # then silence: the TTL runs out, and not before
    assert not peer.is_closed(), "dropped before the PING's TTL"
    stepped.advance(0.002)
    assert peer.is_closed(), "still connected after the PING's TTL"
    log.wait(EventKind.DISCONNECTED)


def test_peer_ping_ttl_under_caller_io_on_the_stepped_clock(stepped, raw_sockets) -> None:
    # The PING is read on the waiting socket's thread (caller I/O): the TTL timer it arms
    # must reach the I/O loop asleep in select(), or a silent peer is never dropped. The
    # stepped clock checks, before each step, that no loop sleeps past a timer it cannot
    # see, so a TTL timer armed on the socket's thread without waking the loop fails here as
    # a lost wake-up instead of being woken by the step.
    srv, endpoint, log = bound_pair(stepped)
    srv.rcvtimeo = 1000  # the waiter gives up (real time) once the connection is gone
    peer = Peer(dial(endpoint, raw_sockets))
    peer.handshake()
    outcome: list[object] = []
    waiter = _wait_in_recv_with_the_fd_lent(stepped, srv, peer, outcome)
    try:
        peer.conn.send_ping(ttl=0.3)
        peer.pump(lambda evs: any(isinstance(e, Pong) for e in evs))
        stepped.advance(0.299)
        assert not peer.is_closed(), "dropped before the PING's TTL"
        stepped.advance(0.002)
        assert peer.is_closed(), "still connected after the PING's TTL"
        log.wait(EventKind.DISCONNECTED)
    finally:
        waiter.join(DEADLINE)
    assert outcome and isinstance(outcome[0], zreactor.Again)


def _wait_in_recv_with_the_fd_lent(stepped, srv: zreactor.Socket, peer: Peer,
                                   outcome: list[object]) -> threading.Thread:
    """Start a thread blocked in ``srv.recv()`` that borrowed the loop to wait on the fd.

    The socket lends the fd only if the loop is asleep at that moment (a lease never waits),
    so a try can miss: then a message wakes the waiter and it tries again.
    """
    thread = stepped.io_threads[0]
    for _ in range(20):
        stepped.sync()  # the loop is idle: nothing left for it to do
        leases = thread.leases
        waiter = threading.Thread(target=lambda: outcome.append(_recv_or_error(srv)))
        waiter.start()
        deadline = time.monotonic() + 0.5
        while thread.leases == leases and time.monotonic() < deadline:
            time.sleep(0.005)
        if thread.leases != leases:
            return waiter
        peer.send([b"wake up"])  # the loop was busy: take the message, try again
        waiter.join(DEADLINE)
        assert outcome.pop() == b"wake up"
    raise AssertionError("the waiting socket never borrowed the loop")


def _recv_or_error(sock: zreactor.Socket) -> object:
    try:
        return sock.recv()
    except zreactor.ZMQError as exc:
        return exc


def test_traffic_within_the_ttl_keeps_the_connection(stepped, raw_sockets) -> None:
    srv, endpoint, _ = bound_pair(stepped)
    peer = Peer(dial(endpoint, raw_sockets))
    peer.handshake()
    peer.conn.send_ping(ttl=0.3)
    peer.pump(lambda evs: any(isinstance(e, Pong) for e in evs))
    for i in range(6):  # 0.6 s, twice the TTL, a message every 0.1 s
        stepped.advance(0.1)
        peer.send([b"m%d" % i])
    stepped.advance(0.25)  # the last message is 0.25 s old: within a TTL of it
    assert not peer.is_closed()
    assert [srv.recv() for _ in range(6)] == [b"m%d" % i for i in range(6)]
    srv.send(b"alive")
    peer.pump(lambda evs: any(isinstance(e, Message) for e in evs))


# -- protocol errors and vanishing peers ---------------------------------------------------------------


def test_frame_over_maxmsgsize_drops_the_connection(ctx, raw_sockets) -> None:
    srv, endpoint, log = bound_pair(ctx, maxmsgsize=1000)
    peer = Peer(dial(endpoint, raw_sockets))
    peer.handshake()
    peer.send([b"a" * 1000], [b"x" * 800, b"y" * 800])  # per frame, as libzmq counts
    assert srv.recv() == b"a" * 1000
    assert srv.recv_multipart() == [b"x" * 800, b"y" * 800]
    peer.send([b"b" * 1001])
    peer.wait_closed()
    assert log.wait(EventKind.DISCONNECTED).endpoint == endpoint
    assert not log.of(EventKind.HANDSHAKE_FAILED_PROTOCOL)  # the handshake had succeeded
    with pytest.raises(zreactor.Again):
        srv.recv(zreactor.NOBLOCK)


def test_peer_vanishing_mid_frame_delivers_nothing_partial(ctx, raw_sockets) -> None:
    srv, endpoint, log = bound_pair(ctx)
    peer = Peer(dial(endpoint, raw_sockets))
    peer.handshake()
    peer.send([b"complete"], [b"first-part"])
    # a message whose last frame is cut: header of a 100000-byte long frame, 1000 bytes
    raw_sockets[-1].sendall(bytes([0x01, 5]) + b"part1" + struct.pack(">BQ", 0x02, 100000)
                            + b"z" * 1000)
    raw_sockets[-1].close()
    assert srv.recv() == b"complete"
    assert srv.recv() == b"first-part"
    log.wait(EventKind.DISCONNECTED)
    with pytest.raises(zreactor.Again):
        srv.recv(zreactor.NOBLOCK)  # also reads the dead pipe's delimiter: the PAIR is free
    time.sleep(0.05)
    srv.poll(50)

    again = Peer(dial(endpoint, raw_sockets))  # the next peer is served
    again.handshake()
    again.send([b"next peer"])
    assert srv.recv() == b"next peer"


def test_peer_error_command_drops_the_connection(ctx, raw_sockets) -> None:
    srv, endpoint, log = bound_pair(ctx)
    peer = Peer(dial(endpoint, raw_sockets))
    peer.handshake()
    peer.send([b"last words"])
    peer.conn.send_error("shutting down")
    peer.flush()
    assert srv.recv() == b"last words"
    peer.wait_closed()
    assert "shutting down" in log.wait(EventKind.DISCONNECTED).detail["reason"]


# -- flow control ------------------------------------------------------------------------------------


def test_full_pipe_stops_reading_and_resumes_in_order(ctx, raw_sockets, ipc_dir) -> None:
    srv, endpoint, _ = bound_pair(ctx, f"ipc://{ipc_dir}/s", rcvhwm=10)
    peer = Peer(dial(endpoint, raw_sockets))
    peer.handshake()
    count, size = 4000, 1000  # 4 MB: far more than a Unix socket's buffers
    peer.conn.send_messages([[b"%06d" % i + b"." * (size - 6)] for i in range(count)])
    data = peer.conn.data_to_send()
    raw_sockets[-1].settimeout(DEADLINE)
    sender = threading.Thread(target=raw_sockets[-1].sendall, args=(data,), daemon=True)
    sender.start()
    time.sleep(0.3)
    # nobody reads the socket: the engine must have stopped reading the wire
    assert sender.is_alive(), "the engine kept reading although its pipe was full"
    got = [srv.recv() for _ in range(count)]
    assert [g[:6] for g in got] == [b"%06d" % i for i in range(count)]
    sender.join(DEADLINE)
    assert not sender.is_alive()


def test_slow_reader_blocks_the_sender_instead_of_buffering(ctx, raw_sockets, ipc_dir) -> None:
    srv, endpoint, _ = bound_pair(ctx, f"ipc://{ipc_dir}/s", sndhwm=10, sndtimeo=200)
    peer = Peer(dial(endpoint, raw_sockets))
    peer.handshake()
    payload = b"." * 1000
    sent = 0
    with pytest.raises(zreactor.Again):
        for sent in range(100_000):  # noqa: B007
            srv.send(b"%06d" % sent + payload)
    # pipe (10) + the engine's write queue (~256 KiB) + kernel buffers, not 100 MB
    assert sent < 2000
    got: list[bytes] = []
    while len(got) < sent:
        assert peer.read_once(1.0)
        got = [m[0] for m in peer.messages()]
    assert [g[:6] for g in got] == [b"%06d" % i for i in range(sent)]


# -- the engine alone, with a fake session -------------------------------------------------------------


class FakePipe:
    """The pipe interface an engine uses (read/write/flush and their batch forms) over two
    deques; any thread."""

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.inbound: deque[list[bytes]] = deque()  # engine -> socket
        self.outbound: deque[list[bytes]] = deque()  # socket -> engine
        self.capacity = capacity
        self.flushes = 0

    def write(self, msg: list[bytes]) -> bool:
        if len(self.inbound) >= self.capacity:
            return False
        self.inbound.append(msg)
        return True

    def write_batch(self, msgs: list[list[bytes]]) -> int:
        taken = max(0, min(len(msgs), self.capacity - len(self.inbound)))
        self.inbound.extend(msgs[:taken])
        return taken

    def flush(self) -> None:
        self.flushes += 1

    def read_batch(self, limit: int) -> list[list[bytes]]:
        outbound = self.outbound
        return [outbound.popleft() for _ in range(min(limit, len(outbound)))]

    def read(self) -> list[bytes] | None:
        try:
            return self.outbound.popleft()
        except IndexError:
            return None


class FakeSession:
    def __init__(self, subscriptions: set[bytes] | None = None) -> None:
        self.pipe = FakePipe()
        self.subscriptions = subscriptions or set()
        self.calls: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()

    def engine_attached(self, engine: ZmtpEngine) -> None:
        self.calls.put(("attached", None))

    def engine_ready(self, engine: ZmtpEngine, handshake: HandshakeComplete) -> None:
        self.calls.put(("ready", handshake))

    def engine_closed(self, engine: ZmtpEngine, reason: BaseException | None) -> None:
        self.calls.put(("closed", reason))

    def wait(self, name: str) -> Any:
        deadline = time.monotonic() + DEADLINE
        while True:
            call, arg = self.calls.get(timeout=max(0.0, deadline - time.monotonic()))
            if call == name:
                return arg


class CountingEngine(ZmtpEngine):
    """Counts calls of the one write path (``send_now``): the seam for "one write per batch"."""

    writes = 0

    def send_now(self, parts: Any, size: int) -> None:
        self.writes += 1
        super().send_now(parts, size)


@pytest.fixture
def engine_pair(raw_sockets):
    """Start an engine (given socket type, fake session) on one end of a socketpair."""
    contexts: list[zreactor.Context] = []

    def start(socket_type: str, peer_type: str, **kwargs: Any):
        context = zreactor.Context()
        contexts.append(context)
        ours, theirs = socket.socketpair()
        raw_sockets.append(theirs)
        session = FakeSession(kwargs.pop("subscriptions", None))
        engine = CountingEngine(ours, session, socket_type=socket_type, **kwargs)
        context.launch(engine)
        peer = Peer(theirs, peer_type)
        peer.handshake()
        session.wait("ready")
        return engine, session, peer

    yield start
    for context in contexts:
        context.term(0)


def test_publisher_maps_subscriptions_to_pipe_messages_and_drops_data(engine_pair) -> None:
    engine, session, peer = engine_pair("PUB", "SUB")
    peer.conn.send_subscribe(b"weather")
    peer.conn.send_message([b"\x01old-style"])  # a 3.0 subscription message, also accepted
    peer.conn.send_message([b"not a subscription"])
    peer.conn.send_cancel(b"weather")
    peer.flush()
    deadline = time.monotonic() + DEADLINE
    while len(session.pipe.inbound) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert list(session.pipe.inbound) == [[b"\x01weather"], [b"\x01old-style"], [b"\x00weather"]]


def test_xpub_passes_data_upstream(engine_pair) -> None:
    engine, session, peer = engine_pair("XPUB", "XSUB")
    peer.conn.send_message([b"upstream", b"data"])
    peer.conn.send_subscribe(b"t")
    peer.flush()
    deadline = time.monotonic() + DEADLINE
    while len(session.pipe.inbound) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list(session.pipe.inbound) == [[b"upstream", b"data"], [b"\x01t"]]


def test_subscriber_sends_subscription_commands_and_replays_them(engine_pair) -> None:
    engine, session, peer = engine_pair("SUB", "PUB", subscriptions={b"kept-from-before"})
    # the replay comes right after the handshake, before anything from the pipe
    peer.pump(lambda evs: any(isinstance(e, Subscribe) for e in evs))
    assert [e for e in peer.events if isinstance(e, Subscribe)] == [Subscribe(b"kept-from-before")]
    session.pipe.outbound.extend([[b"\x01news"], [b"\x00kept-from-before"]])
    engine.call_threadsafe(engine.restart_output)
    peer.pump(lambda evs: any(isinstance(e, Cancel) for e in evs))
    assert Subscribe(b"news") in peer.events
    assert Cancel(b"kept-from-before") in peer.events
    time.sleep(0.05)
    assert session.subscriptions == {b"news"}


def test_one_pipe_flush_per_read(engine_pair) -> None:
    engine, session, peer = engine_pair("PAIR", "PAIR")
    flushes_before = session.pipe.flushes
    peer.send(*[[b"m%d" % i] for i in range(500)])  # about 3 KB: one recv()
    deadline = time.monotonic() + DEADLINE
    while len(session.pipe.inbound) < 500 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list(session.pipe.inbound) == [[b"m%d" % i] for i in range(500)]
    assert session.pipe.flushes - flushes_before <= 3  # one per read, not one per message


def test_one_write_per_batch_of_pulled_messages(engine_pair) -> None:
    engine, session, peer = engine_pair("PAIR", "PAIR")
    time.sleep(0.05)
    writes_before = engine.writes
    session.pipe.outbound.extend([[b"out-%d" % i, b"second"] for i in range(2000)])
    engine.call_threadsafe(engine.restart_output)
    peer.pump(lambda evs: sum(isinstance(e, Message) for e in evs) >= 2000)
    assert peer.messages() == [[b"out-%d" % i, b"second"] for i in range(2000)]
    assert engine.writes - writes_before == 1  # 2000 messages, about 30 KB: one batch


def test_pipe_full_blocks_input_until_restart(engine_pair) -> None:
    engine, session, peer = engine_pair("PAIR", "PAIR")
    session.pipe.capacity = 5
    with INPUT_FLOW.record() as steps:
        peer.send(*[[b"m%d" % i] for i in range(20)])
        deadline = time.monotonic() + DEADLINE
        while engine.input is not Flow.BLOCKED and time.monotonic() < deadline:
            time.sleep(0.01)
        assert engine.input is Flow.BLOCKED
        assert engine.read_state is ReadState.PAUSED  # BLOCKED's entry action: stop reading
        assert len(session.pipe.inbound) == 5
        session.pipe.capacity = 100
        engine.call_threadsafe(engine.restart_input)
        while len(session.pipe.inbound) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert list(session.pipe.inbound) == [[b"m%d" % i] for i in range(20)]
    assert engine.input is Flow.RUNNING and engine.read_state is ReadState.OPEN
    assert [(step.source, step.event) for step in steps] == list(INPUT_FLOW)  # every row, once


def test_write_queue_above_high_water_blocks_output_until_drained(engine_pair) -> None:
    engine, session, peer = engine_pair("PAIR", "PAIR", high_water=4096)
    body = b"x" * 10000
    with OUTPUT_FLOW.record() as steps:
        session.pipe.outbound.extend([[body] for _ in range(200)])  # 2 MB: more than the kernel takes
        engine.call_threadsafe(engine.restart_output)
        deadline = time.monotonic() + DEADLINE
        while engine.output is not Flow.BLOCKED and time.monotonic() < deadline:
            time.sleep(0.005)
        assert engine.output is Flow.BLOCKED
        peer.pump(lambda evs: sum(isinstance(e, Message) for e in evs) >= 200)
        while engine.output is not Flow.RUNNING and time.monotonic() < deadline:
            time.sleep(0.005)
    assert peer.messages() == [[body]] * 200
    rows = {(step.source, step.event) for step in steps}
    assert rows == set(OUTPUT_FLOW), rows


def test_engine_reports_its_end_to_the_session(engine_pair, raw_sockets) -> None:
    engine, session, peer = engine_pair("PAIR", "PAIR")
    peer.sock.close()
    reason = session.wait("closed")
    assert isinstance(reason, (EOFError, ConnectionError))


# -- caller I/O: a reply written on the socket's thread (see the engine's module docstring) ----


def _shortcut(sock: zreactor.Socket) -> CallerShortcut:
    """The caller shortcut on the socket's one tcp pipe (tests may look inside)."""
    [pipe] = sock._pipes
    assert pipe.shortcut is not None
    return pipe.shortcut


def _round_trips_through_the_shortcut(req_ctx: zreactor.Context, rep_ctx: zreactor.Context,
                                      count: int, endpoint: str = "tcp://127.0.0.1:*",
                                      ) -> tuple[CallerShortcut, CallerShortcut, int, int]:
    """``count`` REQ/REP round trips (tcp unless ``endpoint`` says) after a warm-up; the two
    shortcuts, and the writes and reads they made during the round trips (both sides summed)."""
    rep = rep_ctx.socket(SocketType.REP, linger=0, rcvtimeo=int(DEADLINE * 1000))
    rep.bind(endpoint)
    req = req_ctx.socket(SocketType.REQ, linger=0, rcvtimeo=int(DEADLINE * 1000))
    req.connect(rep.last_endpoint.decode())

    def echo() -> None:
        for _ in range(20 + count):
            rep.send(rep.recv())

    server = threading.Thread(target=echo)
    server.start()
    for i in range(20):  # warm up: connections up, handshakes done
        req.send(b"warm-%d" % i)
        assert req.recv() == b"warm-%d" % i
    shortcuts = _shortcut(req), _shortcut(rep)
    writes = -sum(s.writes for s in shortcuts)
    reads = -sum(s.reads for s in shortcuts)
    for i in range(count):
        req.send(b"req-%d" % i)
        assert req.recv() == b"req-%d" % i
    writes += sum(s.writes for s in shortcuts)
    reads += sum(s.reads for s in shortcuts)
    server.join(DEADLINE)
    assert not server.is_alive()
    req.close()
    rep.close()
    return shortcuts[0], shortcuts[1], writes, reads


def test_request_reply_messages_leave_on_the_callers_thread(ctx) -> None:
    # Every request and every reply is written by the sending socket's thread: the writer
    # finds the engine idle (one write per read from the peer) and its loop asleep.
    _, _, writes, _ = _round_trips_through_the_shortcut(ctx, ctx, 280)
    # 560 messages; a writer that finds its loop busy at that moment hands off instead
    assert writes >= 0.9 * 560, f"the shortcut wrote {writes} of 560 messages"


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_replies_are_read_on_the_waiting_callers_thread(ctx, transport, tmp_path) -> None:
    endpoint = "tcp://127.0.0.1:*" if transport == "tcp" else f"ipc://{tmp_path}/rr.ipc"
    with zreactor.Context() as other:  # each socket with an I/O thread of its own
        req, rep, _, reads = _round_trips_through_the_shortcut(ctx, other, 280, endpoint)
    # REQ and REP are lock-step: each keeps its connection's read between its calls (the
    # held read), so a message that lands before its reader comes to wait is still read by
    # that reader's thread, never by the loop. Only a hold the loop's tick took back (the
    # application away for HOLD_TICK) goes the ordinary way. Without the held read, 40-60 %.
    assert reads >= 0.9 * 560, f"the shortcut read {reads} times for 560 messages"
    assert req.holds and rep.holds


@pytest.mark.parametrize("pair", ["PUSH-PULL", "PUB-SUB"])
@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_a_stream_is_read_on_the_receiving_thread(ctx, transport, pair, tmp_path) -> None:
    # PULL and SUB only receive, so they hold their connection's read between their calls
    # as REQ and REP do: a stream is read by the thread that takes the messages, not by its
    # I/O thread beside it (which would fight it for the interpreter lock, and allocate the
    # bodies in its own malloc arena). Without the hold, the I/O thread read 40-95 % of such
    # a stream.
    endpoint = "tcp://127.0.0.1:*" if transport == "tcp" else f"ipc://{tmp_path}/pp.ipc"
    count, body = 3000, b"x" * 16384
    sender_type, receiver_type = (getattr(SocketType, name) for name in pair.split("-"))
    pull = ctx.socket(receiver_type, linger=0, rcvtimeo=int(DEADLINE * 1000), rcvhwm=0)
    if receiver_type is SocketType.SUB:
        pull.subscribe(b"")
    pull.bind(endpoint)
    with zreactor.Context() as other:  # the sender with an I/O thread of its own
        push = other.socket(sender_type, linger=0, sndtimeo=int(DEADLINE * 1000), sndhwm=0)
        push.connect(pull.last_endpoint.decode())
        for _ in range(int(DEADLINE / 0.01)):  # a PUB sends only once the subscription came
            push.send(b"warm-up")
            if pull.poll(10):
                break
        assert pull.recv() == b"warm-up"
        while pull.poll(50):
            assert pull.recv() == b"warm-up"  # (more warm-ups than one, for a PUB)
        shortcut = _shortcut(pull)
        engine = shortcut._engine  # (tests may look inside: every read the engine decoded)
        reads, caller_reads = -engine._reads, -shortcut.reads
        sender = threading.Thread(target=lambda: [push.send(body) for _ in range(count)])
        sender.start()
        for _ in range(count):
            assert pull.recv() == body
        reads += engine._reads
        caller_reads += shortcut.reads
        sender.join(DEADLINE)
        push.close()
    assert shortcut.holds
    assert caller_reads >= 0.8 * reads, f"{caller_reads} of {reads} reads on the PULL's thread"


def test_a_peer_hanging_up_while_the_fd_is_lent_neither_spins_nor_hangs(ctx) -> None:
    import resource

    rep = ctx.socket(SocketType.REP, linger=0)
    rep.bind("tcp://127.0.0.1:*")
    req = ctx.socket(SocketType.REQ, linger=0, rcvtimeo=1000)
    req.connect(rep.last_endpoint.decode())
    req.send(b"ping")
    rep.rcvtimeo = int(DEADLINE * 1000)
    assert rep.recv() == b"ping"
    closer = threading.Timer(0.2, rep.close)  # hang up while req waits with its fd lent
    closer.start()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    with pytest.raises(zreactor.Again):
        req.recv()  # the EOF must go to the I/O thread, not loop in the waiting caller
    waited = time.monotonic() - started
    used = resource.getrusage(resource.RUSAGE_SELF)
    closer.join()
    assert 0.9 < waited < 3.0
    spent = (used.ru_utime + used.ru_stime) - (cpu.ru_utime + cpu.ru_stime)
    assert spent < 0.5, f"{spent:.2f} s of CPU while waiting 1 s: something spun"


# -- the held read: a lock-step socket keeps its connection's read between its calls -------------


def _req_holding_its_read(stepped, raw_sockets, **options: Any):
    """A REQ dialling a scripted REP peer, with a request out and its read held (the
    caller wrote the request and kept the read for the reply); the peer has read it."""
    lsock, endpoint = raw_listener(raw_sockets)
    req = stepped.socket(SocketType.REQ, linger=0, rcvtimeo=int(DEADLINE * 1000), **options)
    log = EventRecorder(req.event_bus, timeout=DEADLINE)
    req.connect(endpoint)
    peer = Peer(accept(lsock, raw_sockets), "REP")
    peer.handshake()
    log.wait(EventKind.HANDSHAKE_SUCCEEDED)
    for i in range(20):  # a caller write needs the loop asleep at that moment: retry if not
        stepped.sync()
        req.send(b"request-%d" % i)
        peer.pump(lambda evs, i=i: len(peer.messages()) > i)
        if _shortcut(req).reader is Reader.HELD:
            return req, peer, log
        peer.send([b"", b"reply-%d" % i])
        assert req.recv() == b"reply-%d" % i
    raise AssertionError("the REQ never wrote its request on its own thread")


def test_a_held_read_goes_back_to_the_loop_a_tick_after_its_last_use(stepped, raw_sockets) -> None:
    # The application sends and then stays away from the socket: nobody polls the held fd,
    # so the peer's reply and PING wait in the kernel until the loop's tick (armed under the
    # lease that held the read) finds the fd unused for a whole tick, takes it back and
    # reads them: the PONG goes out.
    req, peer, _ = _req_holding_its_read(stepped, raw_sockets)
    shortcut = _shortcut(req)
    peer.send([b"", b"the reply"])
    peer.conn.send_ping(ttl=0.0, context=b"still there?")
    peer.flush()
    # the tick was armed with the first hold; the request was a use after it: the first
    # tick looks again one tick later, and that one finds the fd idle
    stepped.advance(HOLD_TICK * 1.25)
    assert peer.read_once(0.05)
    assert not any(isinstance(e, Pong) for e in peer.events), "the held fd was read"
    assert shortcut.reader is Reader.HELD and shortcut.taken_back == 0
    stepped.advance(HOLD_TICK)  # the second tick: the loop reads, answers the PING
    peer.pump(lambda evs: any(isinstance(e, Pong) for e in evs), answer_pings=False)
    assert shortcut.reader is Reader.LOOP and shortcut.taken_back == 1
    assert req.recv() == b"the reply"  # handed over by the loop, in order


def test_a_peer_hanging_up_on_a_held_read_is_seen_by_the_loop(stepped, raw_sockets) -> None:
    req, peer, log = _req_holding_its_read(stepped, raw_sockets)
    peer.sock.close()
    stepped.sync()
    assert not log.of(EventKind.DISCONNECTED)  # nobody reads the fd yet: the EOF waits
    stepped.advance(HOLD_TICK * 1.25)  # the first tick: the request was a use, look again
    stepped.advance(HOLD_TICK)  # the second: idle, so the loop takes the fd and reads EOF
    log.wait(EventKind.DISCONNECTED)


def test_a_tick_that_lapses_during_a_wait_is_armed_again_when_the_wait_ends(
        stepped, raw_sockets) -> None:
    # A tick that finds the socket waiting on its held fd lapses; the end of that wait must
    # arm the next, or an application that then stays away leaves the fd unpolled for good.
    req, peer, log = _req_holding_its_read(stepped, raw_sockets)
    shortcut = _shortcut(req)
    got: list[bytes] = []
    waiter = threading.Thread(target=lambda: got.append(req.recv()), daemon=True)
    waiter.start()
    deadline = time.monotonic() + DEADLINE
    while not shortcut._polling:  # (tests may look inside: the wait has begun)
        assert time.monotonic() < deadline, "the socket never waited on its held fd"
        time.sleep(0.002)
    stepped.advance(HOLD_TICK * 1.25)  # the tick finds the socket polling the fd: lapses
    assert shortcut.reader is Reader.HELD and shortcut.taken_back == 0
    peer.send([b"", b"the reply"])
    waiter.join(DEADLINE)
    assert got == [b"the reply"]
    assert shortcut.reader is Reader.HELD  # lock-step: kept for the next wait
    peer.sock.close()  # and the application stays away: only a tick can see this
    stepped.advance(HOLD_TICK * 1.25)
    stepped.advance(HOLD_TICK)
    log.wait(EventKind.DISCONNECTED)
    assert shortcut.taken_back == 1


def test_a_heartbeat_timeout_looks_at_a_held_read_before_calling_the_peer_silent(
        stepped, raw_sockets) -> None:
    # A timeout shorter than the tick: the peer's PONG sits unread on the held fd when the
    # timer fires, and the timer must read it rather than drop a live connection.
    req, peer, log = _req_holding_its_read(stepped, raw_sockets, heartbeat_ivl=8,
                                           heartbeat_timeout=4)
    assert HOLD_TICK > 0.008 + 0.004
    stepped.advance(0.0078125)  # 1/128 s: just before our first PING
    stepped.advance(0.000390625)  # past 8 ms: the loop sends it
    peer.pump(lambda evs: bool(peer.pings()))  # and the peer answers at once
    stepped.advance(0.0048828125)  # the timeout is due, the read still held
    assert not peer.is_closed(), "dropped although the PONG had arrived"
    assert not log.of(EventKind.DISCONNECTED)
    peer.send([b"", b"late reply"])
    assert req.recv() == b"late reply"


def test_a_held_read_that_fills_the_pipe_goes_home(stepped, raw_sockets) -> None:
    # Three replies in one read, a receive queue of one: the engine's input blocks, and a fd
    # it may not read must not stay held (the next wait would find it readable and spin).
    req, peer, _ = _req_holding_its_read(stepped, raw_sockets, rcvhwm=1)
    peer.send([b"", b"first"], [b"", b"second"], [b"", b"third"])
    assert req.recv() == b"first"
    assert _shortcut(req).reader is Reader.LOOP
    req.send(b"again")  # and the socket goes on (the loop delivers the rest as room opens)
    peer.pump(lambda evs: [b"", b"again"] in peer.messages())


def test_a_socket_returning_without_waiting_gives_its_held_read_back(stepped, raw_sockets) -> None:
    # EAGAIN, EVENTS or a Poller: the application will wait elsewhere, so the loop must read
    req, peer, _ = _req_holding_its_read(stepped, raw_sockets)
    shortcut = _shortcut(req)
    with pytest.raises(zreactor.Again):
        req.recv(zreactor.DONTWAIT)
    assert shortcut.reader is Reader.LOOP
    peer.send([b"", b"reply"])
    poller = zreactor.Poller()
    poller.register(req, zreactor.POLLIN)
    assert poller.poll(DEADLINE * 1000) == [(req, zreactor.POLLIN)]
    assert req.recv() == b"reply"


def test_order_holds_when_caller_writes_and_io_thread_pulls_interleave(ctx) -> None:
    server = ctx.socket(SocketType.DEALER, linger=0, rcvtimeo=int(DEADLINE * 1000))
    server.bind("tcp://127.0.0.1:*")
    client = ctx.socket(SocketType.DEALER, linger=0, rcvtimeo=int(DEADLINE * 1000))
    client.connect(server.last_endpoint.decode())
    count = 5000

    def echo() -> None:
        for _ in range(count):
            server.send(server.recv())  # each reply follows a read: caller writes allowed

    thread = threading.Thread(target=echo)
    thread.start()
    received = []
    for i in range(count):
        client.send(b"%d" % i)
        if i % 7 == 0:  # sometimes wait for the echoes: the writer's engine sees reads
            while len(received) < i // 2:
                received.append(client.recv())
    while len(received) < count:
        received.append(client.recv())
    thread.join(DEADLINE)
    assert received == [b"%d" % i for i in range(count)]


def test_a_caller_write_the_kernel_cannot_take_whole_is_finished_by_the_io_thread(ctx) -> None:
    rep = ctx.socket(SocketType.REP, linger=0, rcvtimeo=int(DEADLINE * 1000))
    rep.bind("tcp://127.0.0.1:*")
    req = ctx.socket(SocketType.REQ, linger=0, rcvtimeo=int(DEADLINE * 1000))
    req.connect(rep.last_endpoint.decode())
    big = bytes(range(256)) * (32 * 1024)  # 8 MiB: more than a loopback send buffer

    def echo() -> None:
        for _ in range(3):
            rep.send(rep.recv())

    thread = threading.Thread(target=echo)
    thread.start()
    for payload in (b"small", big, b"after"):
        req.send(payload)
        assert req.recv() == payload
    thread.join(DEADLINE)


def test_large_batches_go_out_gathered_and_arrive_whole_and_in_order(ctx) -> None:
    # Bodies of 4 KB and more leave as one sendmsg() of the frame list (no join); a reader
    # that starts late makes the kernel take them in pieces, split inside frames.
    pull = ctx.socket(SocketType.PULL, linger=0, rcvtimeo=int(DEADLINE * 1000), rcvhwm=0)
    pull.bind("tcp://127.0.0.1:*")
    push = ctx.socket(SocketType.PUSH, linger=0, sndhwm=0)
    push.connect(pull.last_endpoint.decode())
    sent = [[b"%d" % i, bytes([i % 251]) * 40_000, b"tail-%d" % i] for i in range(60)]
    for msg in sent:
        push.send_multipart(msg)
    time.sleep(0.2)  # let the writer's queue back up behind the kernel's buffers
    assert [pull.recv_multipart() for _ in sent] == sent


@pytest.mark.parametrize("name", ["writes_direct", "reads_direct"])
def test_a_subclass_may_not_set_the_direct_flags_as_class_attributes(name: str) -> None:
    # they are instance slots that PipeEngine.__init__ sets: a class attribute would be
    # overwritten silently (or, with __slots__, make __init__ fail), so the class is refused
    with pytest.raises(TypeError, match=f"{name} is a class attribute.*self.{name}"):
        type("DirectEngine", (ZmtpEngine,), {name: False})


def test_a_subclass_sets_the_direct_flags_in_its_init(raw_sockets) -> None:
    class NoDirectReads(ZmtpEngine):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.reads_direct = False

    ours, theirs = socket.socketpair()
    raw_sockets.extend((ours, theirs))
    engine = NoDirectReads(ours, FakeSession(), socket_type="PAIR")
    assert engine.writes_direct and not engine.reads_direct
