"""The options issue 9 asked for, each doing what libzmq's does (not only stored)."""

from __future__ import annotations

import socket
import time

import pytest

import zreactor as zmq
from zreactor.sockets.session import Session


@pytest.fixture
def ctx():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("transport", ["inproc://conflate", "tcp://127.0.0.1:0"])
def test_conflate_keeps_only_the_newest_message(ctx, transport) -> None:
    pull = ctx.socket(zmq.PULL)
    pull.conflate = 1
    assert pull.conflate == 1
    pull.bind(transport)
    push = ctx.socket(zmq.PUSH)
    push.sndhwm = 5  # ignored by a conflating pipe: 50 sends must not block
    push.sndtimeo = 2000
    push.connect(pull.last_endpoint)
    if transport.startswith("tcp"):  # let the connection exist, so nothing waits in PUSH
        push.send(b"warm-up")
        pull.rcvtimeo = 5000
        assert pull.recv() == b"warm-up"
    for i in range(50):
        push.send(b"%d" % i)
    _wait_for(lambda: pull.poll(0))
    time.sleep(0.2)  # the rest of the burst, if the engine splits it
    assert pull.recv() == b"49"
    assert pull.poll(100) == 0


def _connection_socket(zsock: zmq.Socket) -> socket.socket:
    """The OS socket of ``zsock``'s one tcp connection (white-box: the session's engine)."""
    def session():
        for objs in zsock._endpoints.values():
            for obj in objs:
                if isinstance(obj, Session) and obj.engine is not None:
                    return obj
        return None

    _wait_for(lambda: session() is not None)
    return session().engine.sock


def test_tcp_keepalive_maxrt_tos_and_buffers_reach_the_os_socket(ctx) -> None:
    server = ctx.socket(zmq.PAIR)
    server.bind("tcp://127.0.0.1:0")
    client = ctx.socket(zmq.PAIR)
    client.tcp_keepalive = 1
    client.tcp_keepalive_idle = 42
    client.tcp_keepalive_intvl = 7
    client.tcp_keepalive_cnt = 3
    client.tcp_maxrt = 1500
    client.tos = 0x10
    client.sndbuf = 65536
    assert (client.tcp_keepalive, client.tcp_keepalive_idle, client.tcp_maxrt) == (1, 42, 1500)
    client.connect(server.last_endpoint)
    os_sock = _connection_socket(client)
    assert os_sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    if hasattr(socket, "TCP_KEEPIDLE"):
        assert os_sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 42
        assert os_sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 7
        assert os_sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        assert os_sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 1500
    assert os_sock.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 0x10
    assert os_sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 65536
    # the default leaves the OS alone
    plain = ctx.socket(zmq.PAIR)
    plain.connect(server.last_endpoint)
    server2 = ctx.socket(zmq.PAIR)
    server2.bind("tcp://127.0.0.1:0")
    plain.connect(server2.last_endpoint)
    assert _connection_socket(plain).getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0


def test_reconnect_stop_conn_refused_gives_up(ctx) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there: connects are refused
    sock = ctx.socket(zmq.DEALER)
    sock.reconnect_ivl = 10
    sock.reconnect_stop = zmq.RECONNECT_STOP_CONN_REFUSED
    assert sock.reconnect_stop == zmq.RECONNECT_STOP_CONN_REFUSED
    mon = sock.get_monitor_socket()
    mon.rcvtimeo = 5000
    sock.connect(f"tcp://127.0.0.1:{port}")
    from zreactor.utils.monitor import recv_monitor_message

    events = []
    while zmq.EVENT_CLOSED not in events:
        events.append(recv_monitor_message(mon)["event"])
    assert zmq.EVENT_CONNECT_RETRIED not in events


def test_connect_timeout_fails_a_pending_attempt(ctx) -> None:
    # a listener with a full backlog that never accepts: further connects stay pending
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(listener.getsockname())
        fillers.append(filler)
    try:
        sock = ctx.socket(zmq.DEALER)
        sock.connect_timeout = 100
        sock.reconnect_ivl = 50
        mon = sock.get_monitor_socket()
        mon.rcvtimeo = 5000
        sock.connect("tcp://%s:%d" % listener.getsockname())
        from zreactor.utils.monitor import recv_monitor_message

        events = []
        while events.count(zmq.EVENT_CONNECT_RETRIED) < 2:
            events.append(recv_monitor_message(mon)["event"])
        if zmq.EVENT_CONNECT_DELAYED not in events:
            pytest.skip("the kernel completed the handshake: no pending connect to time out")
        assert zmq.EVENT_CONNECTED not in events
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
