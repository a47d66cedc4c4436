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


def test_inproc_conflate_of_a_binder_that_binds_after_the_connect(ctx) -> None:
    push = ctx.socket(zmq.PUSH)
    push.connect("inproc://conflate-late")  # queues into a pipe no binder has seen yet
    for i in range(5):
        push.send(b"%d" % i)
    pull = ctx.socket(zmq.PULL)
    pull.conflate = 1
    pull.bind("inproc://conflate-late")  # the pending pipe conflates from now on
    assert pull.recv() == b"4" and pull.poll(50) == 0
    push.sndhwm = 2  # ignored by a conflating pipe: sends never block
    push.sndtimeo = 1000
    for i in range(10):
        push.send(b"later %d" % i)
    assert pull.recv() == b"later 9" and pull.poll(50) == 0


@pytest.mark.parametrize("bind_first", [True, False])
def test_connect_routing_id_names_an_inproc_peer(ctx, bind_first) -> None:
    server = ctx.socket(zmq.ROUTER)
    client = ctx.socket(zmq.ROUTER)
    if bind_first:
        server.bind("inproc://connect-rid")
    client.connect_routing_id = b"the-server"
    client.connect("inproc://connect-rid")
    with pytest.raises(AttributeError):
        client.connect_routing_id  # write-only, as libzmq's
    if not bind_first:
        server.bind("inproc://connect-rid")
    client.router_mandatory = 1
    client.send_multipart([b"the-server", b"hello"])  # addressable at once, by that name
    identity, body = server.recv_multipart()
    assert body == b"hello"
    server.send_multipart([identity, b"reply"])
    assert client.recv_multipart() == [b"the-server", b"reply"]
    other = ctx.socket(zmq.ROUTER)
    other.bind("inproc://connect-rid-2")
    client.connect("inproc://connect-rid-2")  # the option named one connection only
    with pytest.raises(zmq.ZMQError):
        client.send_multipart([b"the-server-2", b"x"])


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
    probe.bind(("127.0.0.1", 0))  # bound, not listening: connects are refused, and the
    port = probe.getsockname()[1]  # port stays ours (no one else, not even a self-connect)
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
    probe.close()


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


def _bound_pair(ctx, server_type, client_type, **server_options):
    server = ctx.socket(server_type, **server_options)
    server.bind("inproc://pair-%d" % id(server))
    client = ctx.socket(client_type)
    client.connect(server.last_endpoint)
    return server, client


def test_xpub_welcome_message_greets_each_subscriber(ctx) -> None:
    xpub = ctx.socket(zmq.XPUB)
    xpub.xpub_welcome_msg = b"welcome"
    xpub.bind("tcp://127.0.0.1:0")
    sub = ctx.socket(zmq.SUB)
    sub.subscribe(b"")
    sub.rcvtimeo = 5000
    sub.connect(xpub.last_endpoint)
    xpub.rcvtimeo = 5000
    assert xpub.recv() == b"\x01"  # (a socket runs its commands when called: now it has the pipe)
    assert sub.recv() == b"welcome"
    with pytest.raises(zmq.ZMQError, match="XPUB_WELCOME_MSG applies to PUB/XPUB"):
        sub.xpub_welcome_msg = b"no"


def test_xpub_verboser_passes_every_unsubscription(ctx) -> None:
    xpub = ctx.socket(zmq.XPUB)
    xpub.xpub_verboser = 1
    xpub.bind("inproc://verboser")
    xpub.rcvtimeo = 5000
    subs = []
    for _ in range(2):
        xsub = ctx.socket(zmq.XSUB)
        xsub.connect("inproc://verboser")
        xsub.send(b"\x01topic")
        subs.append(xsub)
    assert [xpub.recv(), xpub.recv()] == [b"\x01topic", b"\x01topic"]  # verbose subs
    for xsub in subs:
        xsub.send(b"\x00topic")
    assert [xpub.recv(), xpub.recv()] == [b"\x00topic", b"\x00topic"]  # verboser unsubs


def test_xpub_manual_lets_the_application_subscribe(ctx) -> None:
    xpub = ctx.socket(zmq.XPUB)
    xpub.xpub_manual = 1
    xpub.bind("inproc://manual")
    xpub.rcvtimeo = 5000
    sub = ctx.socket(zmq.SUB)
    sub.rcvtimeo = 300
    sub.connect("inproc://manual")
    sub.subscribe(b"asked")
    assert xpub.recv() == b"\x01asked"
    xpub.send(b"asked: not applied")  # manual: nothing subscribed yet
    with pytest.raises(zmq.Again):
        sub.recv()
    sub.subscribe(b"")  # let the SUB accept whatever the XPUB decides to route
    assert xpub.recv() == b"\x01"
    xpub.setsockopt(zmq.SUBSCRIBE, b"chosen")  # for the pipe of the last notification
    xpub.send(b"chosen: delivered")
    assert sub.recv() == b"chosen: delivered"
    plain = ctx.socket(zmq.XPUB)
    with pytest.raises(zmq.ZMQError, match="XPUB_MANUAL"):
        plain.setsockopt(zmq.SUBSCRIBE, b"x")


def test_xpub_nodrop_refuses_instead_of_dropping(ctx) -> None:
    pub = ctx.socket(zmq.PUB)
    pub.xpub_nodrop = 1
    pub.sndhwm = 2
    pub.bind("inproc://nodrop")
    sub = ctx.socket(zmq.SUB)
    sub.rcvhwm = 2
    sub.subscribe(b"")
    sub.connect("inproc://nodrop")
    _wait_for(lambda: pub.poll(0, zmq.POLLOUT) and len(pub._dist.pipes) == 1 and
              bool(pub._subscriptions.match(b"x")))
    sent = 0
    with pytest.raises(zmq.Again):
        for _ in range(100):
            pub.send(b"x", zmq.DONTWAIT)
            sent += 1
    assert 0 < sent < 100
    sub.rcvtimeo = 2000
    received = [sub.recv() for _ in range(sent)]
    assert received == [b"x"] * sent  # nothing was dropped


@pytest.mark.parametrize("publisher", [zmq.PUB, zmq.XPUB])
def test_invert_matching(ctx, publisher) -> None:
    pub = ctx.socket(publisher)
    pub.invert_matching = 1
    pub.bind("inproc://invert")
    sub = ctx.socket(zmq.SUB)
    sub.invert_matching = 1
    sub.rcvtimeo = 5000
    sub.connect("inproc://invert")
    sub.subscribe(b"skip")
    if publisher == zmq.XPUB:
        assert pub.recv() == b"\x01skip"
    else:
        _wait_for(lambda: pub.poll(0, zmq.POLLOUT) and bool(pub._subscriptions.match(b"skip")))
    pub.send(b"skip this")
    pub.send(b"take this")
    assert sub.recv() == b"take this"


def test_router_handover_gives_the_id_to_the_newcomer(ctx) -> None:
    router = ctx.socket(zmq.ROUTER)
    router.router_handover = 1
    router.bind("inproc://handover")
    router.rcvtimeo = 5000
    first = ctx.socket(zmq.DEALER)
    first.routing_id = b"client"
    first.connect("inproc://handover")
    first.send(b"from first")
    assert router.recv_multipart() == [b"client", b"from first"]
    second = ctx.socket(zmq.DEALER)
    second.routing_id = b"client"
    second.connect("inproc://handover")
    second.send(b"from second")
    assert router.recv_multipart() == [b"client", b"from second"]
    router.send_multipart([b"client", b"to the newcomer"])
    second.rcvtimeo = 5000
    assert second.recv() == b"to the newcomer"
    first.rcvtimeo = 200
    with pytest.raises(zmq.Again):
        first.recv()


def test_without_handover_the_second_client_is_ignored(ctx) -> None:
    router = ctx.socket(zmq.ROUTER)
    router.bind("inproc://nohandover")
    router.rcvtimeo = 300
    for text in (b"first", b"second"):
        dealer = ctx.socket(zmq.DEALER)
        dealer.routing_id = b"client"
        dealer.connect("inproc://nohandover")
        dealer.send(text)
    assert router.recv_multipart() == [b"client", b"first"]
    with pytest.raises(zmq.Again):
        router.recv_multipart()
