"""tcp:// and ipc:// for sockets: addresses, errors, unbind/disconnect spellings, events."""

from __future__ import annotations

import errno
import os
import socket

import pytest

import zreactor
from zreactor.constants import SocketType
from zreactor.reactor.events import EventKind
from zreactor.sockets.transports import canonical_endpoint
from zreactor.testing import EventRecorder

pytestmark = pytest.mark.timeout(20)

DEADLINE = 5.0
MS = int(DEADLINE * 1000)


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")


def pair(ctx: zreactor.Context, **options: object) -> zreactor.Socket:
    return ctx.socket(SocketType.PAIR, linger=0, rcvtimeo=MS, sndtimeo=MS, **options)


def exchange(a: zreactor.Socket, b: zreactor.Socket) -> None:
    a.send(b"ping")
    assert b.recv() == b"ping"
    b.send(b"pong")
    assert a.recv() == b"pong"


def last_endpoint(sock: zreactor.Socket) -> str:
    return sock.last_endpoint.decode()


# -- addresses ---------------------------------------------------------------------------------


def test_wildcard_host_and_port(ctx) -> None:
    server = pair(ctx)
    server.bind("tcp://*:*")
    endpoint = last_endpoint(server)
    host, port = endpoint[len("tcp://"):].rsplit(":", 1)
    assert host == "0.0.0.0" and int(port) > 0
    client = pair(ctx)
    client.connect(f"tcp://127.0.0.1:{port}")
    exchange(client, server)


def test_port_zero_and_bind_to_random_port(ctx) -> None:
    a = pair(ctx)
    a.bind("tcp://127.0.0.1:0")
    assert int(last_endpoint(a).rsplit(":", 1)[1]) > 0
    b = pair(ctx)
    port = b.bind_to_random_port("tcp://127.0.0.1", min_port=20000, max_port=60000)
    assert 20000 <= port < 60000
    assert last_endpoint(b) == f"tcp://127.0.0.1:{port}"
    c = pair(ctx)
    c.connect(last_endpoint(b))
    exchange(c, b)


@needs_ipv6
def test_ipv6_literal(ctx) -> None:
    server = pair(ctx)
    server.bind("tcp://[::1]:*")
    endpoint = last_endpoint(server)
    assert endpoint.startswith("tcp://[::1]:")
    client = pair(ctx)
    client.connect(endpoint)
    exchange(client, server)


@needs_ipv6
def test_ipv6_option_makes_the_wildcard_dual_stack(ctx) -> None:
    server = pair(ctx, ipv6=1)
    server.bind("tcp://*:*")
    endpoint = last_endpoint(server)
    assert endpoint.startswith("tcp://[::]:")
    port = endpoint.rsplit(":", 1)[1]
    v4 = pair(ctx)
    v4.connect(f"tcp://127.0.0.1:{port}")
    exchange(v4, server)


def test_ipc_path_and_abstract_name(ctx, ipc_dir) -> None:
    server = pair(ctx)
    server.bind(f"ipc://{ipc_dir}/sock")
    assert last_endpoint(server) == f"ipc://{ipc_dir}/sock"
    client = pair(ctx)
    client.connect(f"ipc://{ipc_dir}/sock")
    exchange(client, server)

    name = f"ipc://@zreactor-test-{os.getpid()}"
    abstract = pair(ctx)
    abstract.bind(name)
    assert last_endpoint(abstract) == name
    other = pair(ctx)
    other.connect(name)
    exchange(other, abstract)


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, addr, code", [
    ("bind", "tcp://127.0.0.1", errno.EINVAL),
    ("bind", "tcp://127.0.0.1:http", errno.EINVAL),
    ("bind", "tcp://127.0.0.1:70000", errno.EINVAL),
    ("bind", "tcp//127.0.0.1:5555", errno.EINVAL),
    ("bind", "udp://127.0.0.1:5555", errno.EPROTONOSUPPORT),
    ("bind", "tcp://no-such-host.invalid:5555", errno.ENODEV),
    ("connect", "tcp://*:5555", errno.EINVAL),
    ("connect", "tcp://127.0.0.1", errno.EINVAL),
    ("connect", "ipc:///tmp/" + "x" * 200, errno.ENAMETOOLONG),
    ("bind", "ipc:///tmp/" + "x" * 200, errno.ENAMETOOLONG),
    ("connect", "ipc://*", errno.EINVAL),
])
def test_malformed_endpoints(ctx, method, addr, code) -> None:
    sock = pair(ctx)
    with pytest.raises(zreactor.ZMQError) as info:
        getattr(sock, method)(addr)
    assert info.value.errno == code


def test_address_in_use_tcp_raises_and_reports_bind_failed(ctx) -> None:
    first = pair(ctx)
    first.bind("tcp://127.0.0.1:*")
    endpoint = last_endpoint(first)
    second = pair(ctx)
    log = EventRecorder(second.event_bus, timeout=DEADLINE)
    with pytest.raises(zreactor.ZMQError) as info:
        second.bind(endpoint)
    assert info.value.errno == errno.EADDRINUSE
    failed = log.wait(EventKind.BIND_FAILED)
    assert (failed.endpoint, failed.value) == (endpoint, errno.EADDRINUSE)


def test_ipc_live_path_is_in_use_stale_path_is_reclaimed(ctx, ipc_dir) -> None:
    path = f"{ipc_dir}/sock"
    live = pair(ctx)
    live.bind(f"ipc://{path}")
    thief = pair(ctx)
    with pytest.raises(zreactor.ZMQError) as info:
        thief.bind(f"ipc://{path}")
    assert info.value.errno == errno.EADDRINUSE
    client = pair(ctx)
    client.connect(f"ipc://{path}")
    exchange(client, live)  # the failed bind stole nothing

    stale = f"{ipc_dir}/stale"
    leftover = socket.socket(socket.AF_UNIX)
    leftover.bind(stale)  # a socket file nobody listens on, as a crashed process leaves it
    leftover.close()
    reclaimed = pair(ctx)
    reclaimed.bind(f"ipc://{stale}")
    peer = pair(ctx)
    peer.connect(f"ipc://{stale}")
    exchange(peer, reclaimed)


def test_ipc_refuses_a_regular_file_and_a_missing_directory(ctx, ipc_dir) -> None:
    regular = f"{ipc_dir}/file"
    with open(regular, "w") as handle:
        handle.write("precious")
    sock = pair(ctx)
    with pytest.raises(zreactor.ZMQError) as info:
        sock.bind(f"ipc://{regular}")
    assert info.value.errno == errno.EADDRINUSE
    with open(regular) as handle:
        assert handle.read() == "precious"
    with pytest.raises(zreactor.ZMQError) as info:
        sock.bind(f"ipc://{ipc_dir}/no/such/dir/sock")
    assert info.value.errno == errno.ENOENT


def test_ipc_path_is_removed_on_unbind(ctx, ipc_dir) -> None:
    sock = pair(ctx)
    log = EventRecorder(sock.event_bus, timeout=DEADLINE)
    sock.bind(f"ipc://{ipc_dir}/sock")
    assert os.path.exists(f"{ipc_dir}/sock")
    sock.unbind(f"ipc://{ipc_dir}/sock")
    log.wait(EventKind.CLOSED)
    assert not os.path.exists(f"{ipc_dir}/sock")


# -- unbind / disconnect ---------------------------------------------------------------------------------


def test_canonical_endpoint() -> None:
    assert canonical_endpoint("tcp://localhost:5555") == "tcp://127.0.0.1:5555"
    assert canonical_endpoint("tcp://*:5555") == "tcp://0.0.0.0:5555"
    assert canonical_endpoint("tcp://*:*") is None
    assert canonical_endpoint("tcp://127.0.0.1:0") is None
    assert canonical_endpoint("ipc:///tmp/x") is None
    assert canonical_endpoint("tcp://bad") is None


@pytest.mark.parametrize("spelling", ["resolved", "wildcard"])
def test_unbind_stops_listening_and_frees_the_port(ctx, spelling) -> None:
    server = pair(ctx)
    log = EventRecorder(server.event_bus, timeout=DEADLINE)
    server.bind("tcp://*:*")
    endpoint = last_endpoint(server)
    port = int(endpoint.rsplit(":", 1)[1])
    client = pair(ctx)
    client_log = EventRecorder(client.event_bus, timeout=DEADLINE)
    client.connect(f"tcp://127.0.0.1:{port}")
    exchange(client, server)

    server.unbind(endpoint if spelling == "resolved" else f"tcp://*:{port}")
    log.wait(EventKind.CLOSED)
    # the accepted connection goes with the listener, once the socket has run the pipe
    # handshake: as in libzmq, that happens when the application calls in
    for _ in range(int(DEADLINE / 0.02)):
        if client_log.of(EventKind.DISCONNECTED):
            break
        server.poll(20)
    client_log.wait(EventKind.DISCONNECTED, timeout=0)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED
    with pytest.raises(zreactor.ZMQError) as info:
        server.unbind(endpoint)
    assert info.value.errno == errno.ENOENT
    again = pair(ctx)
    again.bind(f"tcp://127.0.0.1:{port}")  # the port is free again


def test_disconnect_accepts_another_spelling(ctx) -> None:
    server = pair(ctx)
    server.bind("tcp://127.0.0.1:*")
    port = last_endpoint(server).rsplit(":", 1)[1]
    client = pair(ctx)
    client.connect(f"tcp://127.0.0.1:{port}")
    assert last_endpoint(client) == f"tcp://127.0.0.1:{port}"
    exchange(client, server)
    client.disconnect(f"tcp://localhost:{port}")
    with pytest.raises(zreactor.ZMQError) as info:
        client.disconnect(f"tcp://127.0.0.1:{port}")
    assert info.value.errno == errno.ENOENT


# -- events ----------------------------------------------------------------------------------------------


def test_events_of_a_connection_carry_the_endpoints(ctx) -> None:
    server = pair(ctx)
    slog = EventRecorder(server.event_bus, timeout=DEADLINE)
    server.bind("tcp://127.0.0.1:*")
    endpoint = last_endpoint(server)
    assert slog.wait(EventKind.LISTENING).endpoint == endpoint

    client = pair(ctx)
    clog = EventRecorder(client.event_bus, timeout=DEADLINE)
    client.connect(endpoint)
    exchange(client, server)
    for kind in (EventKind.CONNECTED, EventKind.HANDSHAKE_SUCCEEDED):
        assert clog.wait(kind).endpoint == endpoint
    for kind in (EventKind.ACCEPTED, EventKind.HANDSHAKE_SUCCEEDED):
        assert slog.wait(kind).endpoint == endpoint
    assert clog.wait(EventKind.CONNECTED).value > 0  # the fd, as libzmq reports it

    server.close()
    assert clog.wait(EventKind.DISCONNECTED).endpoint == endpoint
    assert clog.wait(EventKind.CONNECT_RETRIED).value >= 0
    assert not clog.of(EventKind.HANDSHAKE_FAILED_NO_DETAIL)


def test_connecting_to_nobody_retries(ctx) -> None:
    with socket.socket() as probe:  # bound, not listening: refused, and the port stays
        probe.bind(("127.0.0.1", 0))  # ours (closed, a retry could connect to itself)
        port = probe.getsockname()[1]
        client = pair(ctx, reconnect_ivl=20)
        log = EventRecorder(client.event_bus, timeout=DEADLINE)
        client.connect(f"tcp://127.0.0.1:{port}")
        assert log.wait(EventKind.CONNECT_RETRIED, count=3).endpoint == f"tcp://127.0.0.1:{port}"
        assert not log.of(EventKind.CONNECTED)
