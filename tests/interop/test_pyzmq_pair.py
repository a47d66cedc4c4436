"""Interop with libzmq (pyzmq): PAIR over tcp and ipc both ways, message sizes, heartbeats,
and a pairing libzmq and zreactor must both refuse."""

from __future__ import annotations

import os

import pytest
from _support import DEADLINE, TRANSPORTS, Libs, bind_connect, recv_monitor_events, zmq

import zreactor
from zreactor.reactor.events import EventKind
from zreactor.testing import EventRecorder

pytestmark = pytest.mark.timeout(30)

#: sizes around the short/long frame boundary (255) and well over 1 MB
PAYLOADS = [b"", b"s" * 255, b"l" * 256, os.urandom(1_500_000)]


@pytest.fixture(params=["zreactor-binds", "pyzmq-binds"])
def binder(request: pytest.FixtureRequest) -> str:
    return request.param.split("-")[0]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pair_messages_both_ways(libs: Libs, binder: str, transport: str) -> None:
    z = libs.socket("zreactor", "PAIR")
    p = libs.socket("pyzmq", "PAIR")
    first, second = (z, p) if binder == "zreactor" else (p, z)
    bind_connect(first, second, libs.address(transport))

    z.send(b"hello from zreactor")
    assert p.recv() == b"hello from zreactor"
    p.send(b"hello from libzmq")
    assert z.recv() == b"hello from libzmq"

    z.send_multipart(PAYLOADS)
    assert p.recv_multipart() == PAYLOADS
    p.send_multipart(PAYLOADS)
    assert z.recv_multipart() == PAYLOADS

    for i in range(300):  # a burst: batched into few writes and reads on our side
        z.send_multipart([b"z%d" % i, b"tail"])
        p.send(b"p%d" % i)
    assert [p.recv_multipart() for _ in range(300)] == [[b"z%d" % i, b"tail"] for i in range(300)]
    assert [z.recv() for _ in range(300)] == [b"p%d" % i for i in range(300)]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_heartbeats_with_a_libzmq_peer(libs: Libs, binder: str, transport: str) -> None:
    """libzmq pings us (with a TTL) and we ping it; nobody may time out."""
    hb = {"heartbeat_ivl": 40, "heartbeat_timeout": 150, "heartbeat_ttl": 200}
    z = libs.socket("zreactor", "PAIR", **hb)
    p = libs.socket("pyzmq", "PAIR", **hb)
    zlog = EventRecorder(z.event_bus, timeout=DEADLINE)
    monitor = p.get_monitor_socket()
    try:
        first, second = (z, p) if binder == "zreactor" else (p, z)
        bind_connect(first, second, libs.address(transport))
        z.send(b"start")
        assert p.recv() == b"start"
        # several heartbeat timeouts long, with no application traffic at all
        events = recv_monitor_events(monitor, 0.6)
        assert zmq.EVENT_HANDSHAKE_SUCCEEDED in events
        assert zmq.EVENT_DISCONNECTED not in events
        assert not zlog.of(EventKind.DISCONNECTED)
        p.send(b"still connected")
        assert z.recv() == b"still connected"
    finally:
        p.disable_monitor()
        monitor.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_incompatible_pairing_is_refused_by_both(libs: Libs, binder: str, transport: str) -> None:
    z = libs.socket("zreactor", "PAIR")
    p = libs.socket("pyzmq", "PUSH")
    zlog = EventRecorder(z.event_bus, timeout=DEADLINE)
    monitor = p.get_monitor_socket()
    try:
        first, second = (z, p) if binder == "zreactor" else (p, z)
        bind_connect(first, second, libs.address(transport))
        failed = zlog.wait(EventKind.HANDSHAKE_FAILED_PROTOCOL)
        assert "PUSH" in failed.detail["error"]
        events = recv_monitor_events(monitor, 0.5)
        # libzmq rejects our READY too (it reports no handshake event for that, only the
        # disconnection), and neither side dials again after a protocol error
        assert zmq.EVENT_DISCONNECTED in events
        assert zmq.EVENT_HANDSHAKE_SUCCEEDED not in events
        assert zmq.EVENT_CONNECT_RETRIED not in events
        assert not zlog.of(EventKind.HANDSHAKE_SUCCEEDED)
        assert len(zlog.of(EventKind.CONNECTED)) <= 1
        with pytest.raises(zreactor.Again):
            z.recv(zreactor.NOBLOCK)
    finally:
        p.disable_monitor()
        monitor.close()
