"""Sessions: reconnection with queued messages, immediate, linger, disconnect, protocol errors.

Behaviour tests through zreactor PAIR sockets over loopback (plus a raw listener where a peer
must misbehave). Every wait is bounded; every socket is closed with a linger the test chose.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

import zreactor
from zreactor.constants import SocketType
from zreactor.reactor.events import EventKind
from zreactor.sockets.session import SESSION_TRANSITIONS
from zreactor.testing import EventRecorder, SteppedContext
from zreactor.zmtp import encode_greeting
from zreactor.zmtp.commands import encode_ready
from zreactor.zmtp.frames import encode_command_frame

from ports import free_ports  # a port below the ephemeral range: see tests/ports.py

pytestmark = pytest.mark.timeout(20)

DEADLINE = 5.0
MS = int(DEADLINE * 1000)


@pytest.fixture(params=["tcp", "ipc"])
def address(request: pytest.FixtureRequest) -> str:
    """A fixed address (the same one can be bound again): tcp port or ipc path."""
    if request.param == "tcp":
        (port,) = free_ports(1)  # stays free until bound (tests/ports.py)
        return f"tcp://127.0.0.1:{port}"
    return f"ipc://{request.getfixturevalue('ipc_dir')}/s"


def pair(ctx: zreactor.Context, **options: object) -> zreactor.Socket:
    options.setdefault("linger", 0)
    options.setdefault("rcvtimeo", MS)
    options.setdefault("sndtimeo", MS)
    return ctx.socket(SocketType.PAIR, **options)


def test_reconnect_after_the_peer_restarts_delivers_queued_messages(ctx, address) -> None:
    server = pair(ctx)
    server.bind(address)
    client = pair(ctx, reconnect_ivl=20)
    log = EventRecorder(client.event_bus, timeout=DEADLINE)
    client.connect(address)
    client.send(b"hello")
    assert server.recv() == b"hello"

    server.close()
    log.wait(EventKind.DISCONNECTED)
    for i in range(5):  # no peer: queued in the pipe, which outlives the connection
        client.send(b"queued-%d" % i, zreactor.NOBLOCK)

    restarted = pair(ctx)
    restarted.bind(address)
    assert [restarted.recv() for _ in range(5)] == [b"queued-%d" % i for i in range(5)]
    restarted.send(b"welcome back")
    assert client.recv() == b"welcome back"
    assert len(log.of(EventKind.HANDSHAKE_SUCCEEDED)) == 2


def test_messages_queue_up_to_sndhwm_before_any_connection(ctx, address) -> None:
    client = pair(ctx, sndhwm=5)
    client.connect(address)  # nobody there yet
    for i in range(5):
        client.send(b"%d" % i, zreactor.NOBLOCK)
    with pytest.raises(zreactor.Again):
        client.send(b"one too many", zreactor.NOBLOCK)
    server = pair(ctx)
    server.bind(address)
    assert [server.recv() for _ in range(5)] == [b"%d" % i for i in range(5)]


def test_immediate_queues_nothing_without_a_connection(ctx, address) -> None:
    client = pair(ctx, immediate=1, reconnect_ivl=20)
    log = EventRecorder(client.event_bus, timeout=DEADLINE)
    client.connect(address)
    with pytest.raises(zreactor.Again):
        client.send(b"nobody there", zreactor.NOBLOCK)

    server = pair(ctx)
    server.bind(address)
    client.send(b"now")  # blocks (sndtimeo) until the handshake hands the socket its pipe
    assert server.recv() == b"now"

    server.close()
    log.wait(EventKind.DISCONNECTED)
    deadline = time.monotonic() + DEADLINE
    while True:  # the pipe goes with the connection
        try:
            client.send(b"gone?", zreactor.NOBLOCK)
        except zreactor.Again:
            break
        assert time.monotonic() < deadline, "still accepting messages for a vanished peer"
        time.sleep(0.01)


def test_linger_on_close_delivers_queued_messages(address) -> None:
    ctx = zreactor.Context()
    try:
        client = pair(ctx, reconnect_ivl=20)
        client.connect(address)  # nobody listens yet
        for i in range(10):
            client.send(b"m%d" % i)
        client.close(linger=int(DEADLINE * 1000))  # returns at once; the session lingers
        server = pair(ctx)
        server.bind(address)
        assert [server.recv() for _ in range(10)] == [b"m%d" % i for i in range(10)]
        server.close()
    finally:
        started = time.monotonic()
        ctx.term()
    assert time.monotonic() - started < 1.0, "term() waited although everything was delivered"


@pytest.mark.parametrize("linger_ms", [0, 300])
def test_linger_bounds_term_when_nobody_takes_the_messages(address, linger_ms) -> None:
    ctx = SteppedContext()
    client = pair(ctx)
    client.connect(address)  # nobody listens: the messages stay queued
    for i in range(10):
        client.send(b"m%d" % i)
    client.close(linger=linger_ms)
    terminator = threading.Thread(target=ctx.term)
    terminator.start()
    if linger_ms:
        ctx.advance(linger_ms / 1000 - 0.001)
        terminator.join(0.05)
        assert terminator.is_alive(), "term() did not wait for the socket's linger"
    ctx.advance(0.002)
    terminator.join(DEADLINE)
    assert not terminator.is_alive(), "term() waited past the socket's linger"


def test_disconnect_ends_the_connection_and_the_pipe(ctx, address) -> None:
    server = pair(ctx)
    log = EventRecorder(server.event_bus, timeout=DEADLINE)
    server.bind(address)
    client = pair(ctx)
    client.connect(address)
    client.send(b"hi")
    assert server.recv() == b"hi"

    client.disconnect(address)
    with pytest.raises(zreactor.Again):
        client.send(b"after disconnect", zreactor.NOBLOCK)
    deadline = time.monotonic() + DEADLINE
    while not log.of(EventKind.DISCONNECTED):
        # like libzmq, the socket completes the pipe handshake when the application calls in
        assert time.monotonic() < deadline, "the connection survived disconnect()"
        client.poll(20)
    with pytest.raises(zreactor.ZMQError) as info:
        client.disconnect(address)
    assert info.value.errno == zreactor.ENOENT


def test_disconnect_delivers_what_was_queued_within_linger(ctx, address) -> None:
    server = pair(ctx)
    server.bind(address)
    client = pair(ctx, linger=int(DEADLINE * 1000))
    client.connect(address)
    client.send(b"first")
    assert server.recv() == b"first"
    for i in range(20):
        client.send(b"late-%d" % i)
    client.disconnect(address)
    assert [server.recv() for _ in range(20)] == [b"late-%d" % i for i in range(20)]


@pytest.fixture
def raw_listener() -> Iterator[Callable[[], tuple[socket.socket, str]]]:
    """Factory of plain TCP listening sockets (closed afterwards, with what they accepted)."""
    opened: list[socket.socket] = []

    def make() -> tuple[socket.socket, str]:
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(8)
        opened.append(lsock)
        return lsock, f"tcp://127.0.0.1:{lsock.getsockname()[1]}"

    yield make
    for sock in opened:
        sock.close()


_accepted: list[socket.socket] = []


def accept_within(lsock: socket.socket, timeout: float) -> socket.socket | None:
    lsock.settimeout(timeout)
    try:
        conn = lsock.accept()[0]
    except TimeoutError:
        return None
    _accepted.append(conn)
    return conn


@pytest.fixture(autouse=True)
def close_accepted() -> Iterator[None]:
    yield
    while _accepted:
        _accepted.pop().close()


def test_protocol_error_stops_reconnection(ctx, raw_listener) -> None:
    lsock, endpoint = raw_listener()
    client = pair(ctx, reconnect_ivl=20)
    log = EventRecorder(client.event_bus, timeout=DEADLINE)
    client.connect(endpoint)
    conn = accept_within(lsock, DEADLINE)
    assert conn is not None
    with conn:  # an incompatible peer: a PUB
        conn.sendall(encode_greeting("NULL") + encode_command_frame(
            encode_ready([("Socket-Type", b"PUB")])))
        assert "incompatible" in log.wait(EventKind.HANDSHAKE_FAILED_PROTOCOL).detail["error"]
        log.wait(EventKind.DISCONNECTED)
        assert accept_within(lsock, 0.3) is None, "reconnected after a protocol error"


def test_connection_loss_reconnects_and_disabled_reconnect_does_not(ctx, raw_listener) -> None:
    lsock, endpoint = raw_listener()
    client = pair(ctx, reconnect_ivl=20)
    client.connect(endpoint)
    for _ in range(2):  # the peer hangs up twice; the session dials again each time
        conn = accept_within(lsock, DEADLINE)
        assert conn is not None
        conn.close()
    assert accept_within(lsock, DEADLINE) is not None

    lsock, endpoint = raw_listener()
    once = pair(ctx, reconnect_ivl=-1)
    log = EventRecorder(once.event_bus, timeout=DEADLINE)
    once.connect(endpoint)
    conn = accept_within(lsock, DEADLINE)
    assert conn is not None
    conn.close()
    log.wait(EventKind.DISCONNECTED)
    assert accept_within(lsock, 0.3) is None, "reconnected although reconnect_ivl is -1"


def test_accepted_connection_ending_keeps_received_messages(ctx, address) -> None:
    server = pair(ctx)
    log = EventRecorder(server.event_bus, timeout=DEADLINE)
    server.bind(address)
    client = pair(ctx, linger=MS)
    client.connect(address)
    for i in range(3):
        client.send(b"r%d" % i)
    client.close()  # delivers (linger), then hangs up
    log.wait(EventKind.DISCONNECTED)
    assert [server.recv() for _ in range(3)] == [b"r%d" % i for i in range(3)]


def test_every_linger_row_is_taken(ctx, address) -> None:
    server = pair(ctx)
    server.bind(address)
    with SESSION_TRANSITIONS.record() as steps:
        client = pair(ctx, linger=MS)
        client.connect(address)
        client.send(b"last")
        client.close()  # OPEN -> LINGERING on TERM, -> CLOSING once the delimiter is read
        assert server.recv() == b"last"
        lonely = pair(ctx, immediate=1, linger=MS)  # a late pipe: none before a handshake
        lonely.connect("tcp://127.0.0.1:1")
        lonely.close()  # OPEN -> CLOSING on TERM with no pipe
        deadline = time.monotonic() + DEADLINE
        while {(s.source, s.event) for s in steps} != set(SESSION_TRANSITIONS):
            assert time.monotonic() < deadline, steps
            time.sleep(0.005)
