"""Socket monitoring: wire format, delivery, masks, MONITOR_STOPPED, and never blocking."""

from __future__ import annotations

import importlib.util
import struct
import threading
import time
from typing import Iterator

import pytest

import zreactor as zmq
from zreactor import EventKind, ReactorEvent
from zreactor.sockets.monitor import encode_event, start_monitor
from zreactor.utils.monitor import parse_monitor_message, recv_monitor_message

pytestmark = pytest.mark.timeout(30)

HAVE_TCP = importlib.util.find_spec("zreactor.sockets.transports") is not None


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def recv(mon: zmq.Socket, timeout_ms: int = 2000) -> dict:
    assert mon.poll(timeout_ms), "no monitor message"
    return recv_monitor_message(mon)


# -- wire format -----------------------------------------------------------------------------


def test_libzmq_events_use_libzmqs_six_byte_frame() -> None:
    frames = encode_event(EventKind.ACCEPTED, 17, "tcp://127.0.0.1:5555")
    assert frames == [struct.pack("=HI", 0x20, 17), b"tcp://127.0.0.1:5555"]
    assert len(frames[0]) == 6


def test_zreactor_events_use_an_eight_byte_frame() -> None:
    frames = encode_event(EventKind.SUSPENDED, 24, "tcp://*:1")
    assert frames == [struct.pack("=II", 0x2_0000, 24), b"tcp://*:1"]


@pytest.mark.parametrize("kind", list(EventKind))
def test_roundtrip_every_kind(kind: EventKind) -> None:
    msg = parse_monitor_message(encode_event(kind, 1234, "ipc:///tmp/x"))
    assert msg == {"event": kind, "value": 1234, "endpoint": b"ipc:///tmp/x"}
    assert msg["event"] == int(kind)


def test_value_is_int32_like_pyzmq() -> None:
    assert parse_monitor_message(encode_event(EventKind.CLOSED, -1))["value"] == -1
    assert parse_monitor_message(encode_event(EventKind.FAILED, -1))["value"] == -1


@pytest.mark.parametrize("frames", [
    [b"\x01\x00\x00\x00\x00\x00"],
    [b"\x01\x00\x00\x00\x00", b""],
    [b"\x01" * 7, b""],
    [b"\x01" * 6, b"", b""],
])
def test_malformed_messages_raise_runtimeerror(frames: list[bytes]) -> None:
    with pytest.raises(RuntimeError):
        parse_monitor_message(frames)


def test_pyzmqs_decoder_reads_our_libzmq_frames() -> None:
    monitor = pytest.importorskip("zmq.utils.monitor")
    decoded = monitor.parse_monitor_message(encode_event(EventKind.LISTENING, 9, "tcp://h:1"))
    assert (decoded["event"], int(decoded["value"]), decoded["endpoint"]) == (0x8, 9, b"tcp://h:1")


def test_our_decoder_reads_libzmqs_own_monitor_messages() -> None:
    pyzmq = pytest.importorskip("zmq")
    ctx = pyzmq.Context()
    try:
        sock = ctx.socket(pyzmq.PULL)
        mon = sock.get_monitor_socket()
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        assert mon.poll(2000)
        msg = parse_monitor_message(mon.recv_multipart())
        assert msg["event"] == zmq.EVENT_LISTENING
        assert msg["endpoint"] == f"tcp://127.0.0.1:{port}".encode()
        sock.disable_monitor()
        assert mon.poll(2000)
        assert parse_monitor_message(mon.recv_multipart())["event"] == zmq.EVENT_MONITOR_STOPPED
        mon.close(linger=0)
        sock.close(linger=0)
    finally:
        ctx.term()


# -- delivery --------------------------------------------------------------------------------


def emit(sock: zmq.Socket, kind: EventKind, value: int = 0, endpoint: str = "") -> None:
    """What a listener or session does on its I/O thread."""
    sock.event_bus.emit(ReactorEvent(kind, endpoint, value))


def test_events_on_the_sockets_bus_arrive_in_order(ctx: zmq.Context) -> None:
    sock = ctx.socket(zmq.PAIR)
    mon = sock.get_monitor_socket()
    try:
        emit(sock, EventKind.LISTENING, 5, "tcp://127.0.0.1:1")
        emit(sock, EventKind.ACCEPTED, 6, "tcp://127.0.0.1:1")
        emit(sock, EventKind.SUSPENDED, 24, "tcp://127.0.0.1:1")
        assert [recv(mon)["event"] for _ in range(3)] == [
            EventKind.LISTENING, EventKind.ACCEPTED, EventKind.SUSPENDED]
    finally:
        mon.close(linger=0)
        sock.close(linger=0)


def test_events_emitted_on_other_threads_arrive(ctx: zmq.Context) -> None:
    sock = ctx.socket(zmq.PAIR)
    mon = sock.get_monitor_socket()
    try:
        threads = [threading.Thread(target=lambda i=i: [emit(sock, EventKind.ACCEPTED, i * 100 + n)
                                                        for n in range(50)]) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        values = sorted(recv(mon)["value"] for _ in range(200))
        assert values == sorted(i * 100 + n for i in range(4) for n in range(50))
        assert sock._monitor.sent == 200 and sock._monitor.dropped == 0
    finally:
        mon.close(linger=0)
        sock.close(linger=0)


def test_event_all_is_libzmqs_kinds_only(ctx: zmq.Context) -> None:
    sock = ctx.socket(zmq.PAIR)
    mon = sock.get_monitor_socket(zmq.EVENT_ALL)
    try:
        emit(sock, EventKind.SUSPENDED)
        emit(sock, EventKind.CONNECTED, 3)
        assert recv(mon)["event"] == EventKind.CONNECTED
        assert not mon.poll(50)
    finally:
        mon.close(linger=0)
        sock.close(linger=0)


def test_mask_selects_kinds(ctx: zmq.Context) -> None:
    sock = ctx.socket(zmq.PAIR)
    sock.monitor("inproc://mask", zmq.EVENT_ACCEPTED | zmq.EVENT_RESUMED)
    mon = ctx.socket(zmq.PAIR)
    mon.connect("inproc://mask")
    try:
        for kind in (EventKind.LISTENING, EventKind.ACCEPTED, EventKind.SUSPENDED, EventKind.RESUMED):
            emit(sock, kind)
        assert [recv(mon)["event"] for _ in range(2)] == [EventKind.ACCEPTED, EventKind.RESUMED]
        sock.disable_monitor()  # MONITOR_STOPPED is not in the mask: nothing more
        assert not mon.poll(100)
    finally:
        mon.close(linger=0)
        sock.close(linger=0)


def test_monitor_endpoint_must_be_inproc(ctx: zmq.Context) -> None:
    sock = ctx.socket(zmq.PAIR)
    try:
        with pytest.raises(zmq.ZMQError) as info:
            sock.monitor("tcp://127.0.0.1:5555")
        assert info.value.errno == zmq.EPROTONOSUPPORT
    finally:
        sock.close(linger=0)


def test_monitor_address_in_use(ctx: zmq.Context) -> None:
    a = ctx.socket(zmq.PAIR)
    b = ctx.socket(zmq.PAIR)
    try:
        a.monitor("inproc://taken")
        with pytest.raises(zmq.ZMQError) as info:
            b.monitor("inproc://taken")
        assert info.value.errno == zmq.EADDRINUSE
        assert b._monitor is None
    finally:
        a.close(linger=0)
        b.close(linger=0)


def test_get_monitor_socket_returns_the_running_reader(ctx: zmq.Context) -> None:
    sock = ctx.socket(zmq.PAIR)
    mon = sock.get_monitor_socket()
    try:
        assert sock.get_monitor_socket() is mon
    finally:
        mon.close(linger=0)
        sock.close(linger=0)


# -- stopping --------------------------------------------------------------------------------


def test_disable_monitor_sends_monitor_stopped_last(ctx: zmq.Context) -> None:
    sock = ctx.socket(zmq.PAIR)
    mon = sock.get_monitor_socket()
    try:
        emit(sock, EventKind.LISTENING)
        sock.disable_monitor()
        emit(sock, EventKind.ACCEPTED)  # after the stop: not delivered
        assert recv(mon)["event"] == EventKind.LISTENING
        assert recv(mon) == {"event": EventKind.MONITOR_STOPPED, "value": 0, "endpoint": b""}
        assert not mon.poll(100)
    finally:
        mon.close(linger=0)
        sock.close(linger=0)


def test_closing_the_socket_stops_its_monitor(ctx: zmq.Context) -> None:
    sock = ctx.socket(zmq.PAIR)
    mon = sock.get_monitor_socket()
    try:
        sock.close()
        assert recv(mon, 5000)["event"] == EventKind.MONITOR_STOPPED
    finally:
        mon.close(linger=0)


def test_a_new_monitor_stops_the_old_one(ctx: zmq.Context) -> None:
    sock = ctx.socket(zmq.PAIR)
    first = sock.get_monitor_socket(addr="inproc://first")
    sock.monitor("inproc://second")
    second = ctx.socket(zmq.PAIR)
    second.connect("inproc://second")
    try:
        assert recv(first)["event"] == EventKind.MONITOR_STOPPED
        emit(sock, EventKind.CONNECTED)
        assert recv(second)["event"] == EventKind.CONNECTED
        assert not first.poll(50)
    finally:
        for s in (first, second, sock):
            s.close(linger=0)


def test_term_with_a_monitor_running_does_not_hang() -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PAIR)
    mon = sock.get_monitor_socket()
    emit(sock, EventKind.LISTENING)
    sock.close()
    mon.close()
    done = threading.Event()
    t = threading.Thread(target=lambda: (ctx.term(), done.set()))
    t.start()
    t.join(10)
    assert done.is_set()


def test_destroy_with_a_monitor_running() -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PAIR)
    sock.get_monitor_socket()
    emit(sock, EventKind.LISTENING)
    ctx.destroy(linger=0)
    assert ctx.closed and not ctx.sockets


# -- never blocking --------------------------------------------------------------------------


def test_without_a_reader_events_are_dropped_and_counted(ctx: zmq.Context) -> None:
    sock = ctx.socket(zmq.PAIR)
    monitor = start_monitor(sock, "inproc://nobody", -1)
    try:
        started = time.monotonic()
        for _ in range(100):
            emit(sock, EventKind.ACCEPTED)
        assert time.monotonic() - started < 1
        assert (monitor.sent, monitor.dropped) == (0, 100)
    finally:
        sock.close(linger=0)


def test_a_reader_that_falls_behind_loses_events_and_never_blocks_the_emitter(ctx: zmq.Context) -> None:
    sock = ctx.socket(zmq.PAIR)
    mon = ctx.socket(zmq.PAIR, rcvhwm=10)
    monitor = start_monitor(sock, "inproc://slow", -1)
    mon.connect("inproc://slow")
    try:
        # emit from a thread standing in for an I/O thread; it must finish without a reader
        emitter = threading.Thread(target=lambda: [emit(sock, EventKind.ACCEPTED, n) for n in range(5000)])
        started = time.monotonic()
        emitter.start()
        emitter.join(10)
        assert not emitter.is_alive()
        assert time.monotonic() - started < 5
        assert monitor.sent + monitor.dropped == 5000
        assert monitor.dropped > 0
        capacity = monitor.sent
        assert capacity == 1000 + 10  # inproc HWMs add up: the monitor's sndhwm + our rcvhwm
        got = [recv(mon)["value"] for _ in range(capacity)]
        assert got == list(range(capacity))  # what was kept is the oldest, in order
        # room again: delivery resumes
        emit(sock, EventKind.CLOSED, 77)
        assert recv(mon)["value"] == 77
    finally:
        mon.close(linger=0)
        sock.close(linger=0)


def test_after_term_started_events_are_dropped_not_raised() -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PAIR)
    mon = sock.get_monitor_socket()
    monitor = sock._monitor
    closer = threading.Thread(target=ctx.term)
    closer.start()
    time.sleep(0.1)  # term() has sent STOP to every socket and waits for them to close
    emit(sock, EventKind.ACCEPTED)
    assert monitor.dropped >= 1
    mon.close()
    sock.close()
    closer.join(10)
    assert not closer.is_alive()


# -- real events over tcp (once the transports land) ------------------------------------------


@pytest.mark.skipif(not HAVE_TCP, reason="tcp transport not available yet")
def test_bind_connect_accept_disconnect_sequence(ctx: zmq.Context) -> None:
    server = ctx.socket(zmq.PAIR)
    client = ctx.socket(zmq.PAIR)
    smon = server.get_monitor_socket()
    cmon = client.get_monitor_socket()
    try:
        port = server.bind_to_random_port("tcp://127.0.0.1")
        endpoint = f"tcp://127.0.0.1:{port}".encode()
        first = recv(smon)
        assert (first["event"], first["endpoint"]) == (EventKind.LISTENING, endpoint)
        client.connect(f"tcp://127.0.0.1:{port}")
        client_events = [recv(cmon)["event"] for _ in range(2)]
        # libzmq reports CONNECTED before the handshake completes; CONNECT_DELAYED may come first
        while EventKind.HANDSHAKE_SUCCEEDED not in client_events:
            client_events.append(recv(cmon)["event"])
        assert EventKind.CONNECTED in client_events
        server_events = [recv(smon)["event"] for _ in range(2)]
        assert server_events == [EventKind.ACCEPTED, EventKind.HANDSHAKE_SUCCEEDED]
        client.send(b"ping")
        assert server.recv() == b"ping"
        client.close(linger=0)
        assert recv(smon, 5000)["event"] == EventKind.DISCONNECTED
        assert recv(cmon, 5000)["event"] in (EventKind.CLOSED, EventKind.DISCONNECTED, EventKind.MONITOR_STOPPED)
        server.unbind(f"tcp://127.0.0.1:{port}")
        assert recv(smon, 5000)["event"] == EventKind.CLOSED
    finally:
        for s in (smon, cmon, client, server):
            s.close(linger=0)
