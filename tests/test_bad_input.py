"""Bad input fails loudly in the call that received it, with pyzmq's exception types.

Each case of issue 9's list: the exception comes from the call (never an I/O thread's
traceback, never a silent success) and names the option or the endpoint.
"""

from __future__ import annotations

import errno

import pytest

import zreactor as zmq
from zreactor.utils.monitor import recv_monitor_message


@pytest.fixture
def ctx():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.mark.parametrize("addr", [123, None, 1.5, ["tcp://127.0.0.1:1"]])
@pytest.mark.parametrize("method", ["bind", "connect", "unbind", "disconnect"])
def test_non_string_endpoints_are_type_errors(ctx, method, addr) -> None:
    sock = ctx.socket(zmq.PAIR)
    with pytest.raises(TypeError, match="Expected addr to be str"):
        getattr(sock, method)(addr)


def test_bytes_endpoints_are_accepted(ctx) -> None:
    server = ctx.socket(zmq.PAIR)
    server.bind(b"tcp://127.0.0.1:0")
    client = ctx.socket(zmq.PAIR)
    client.connect(server.last_endpoint)  # bytes, as pyzmq returns it
    client.send(b"hi")
    assert server.recv() == b"hi"
    client.disconnect(server.last_endpoint)
    server.unbind(server.last_endpoint)


def test_too_long_ipc_path_fails_in_connect(ctx) -> None:
    sock = ctx.socket(zmq.PAIR)
    with pytest.raises(zmq.ZMQError) as info:
        sock.connect("ipc:///tmp/" + "x" * 200)
    assert info.value.errno == errno.ENAMETOOLONG
    assert "too long" in str(info.value)
    with pytest.raises(zmq.ZMQError) as info:
        sock.bind("ipc:///tmp/" + "x" * 200)
    assert info.value.errno == errno.ENAMETOOLONG
    # the longest path libzmq accepts is accepted
    sock.connect("ipc:///tmp/" + "x" * (zmq.IPC_PATH_MAX_LEN - len("/tmp/")))


def test_subscribe_to_an_int_is_a_type_error(ctx) -> None:
    sub = ctx.socket(zmq.SUB)
    with pytest.raises(TypeError, match="SUBSCRIBE takes bytes"):
        sub.setsockopt(zmq.SUBSCRIBE, 5)
    with pytest.raises(TypeError, match="SUBSCRIBE"):
        sub.subscribe(5)


def test_routing_id_int_is_a_clear_type_error(ctx) -> None:
    dealer = ctx.socket(zmq.DEALER)
    with pytest.raises(TypeError, match=r"ROUTING_ID takes bytes, got int 5 \(pass bytes"):
        dealer.setsockopt(zmq.ROUTING_ID, 5)
    with pytest.raises(TypeError, match="ROUTING_ID"):
        dealer.routing_id = 5
    with pytest.raises(zmq.ZMQError, match="ROUTING_ID must be 1-255 bytes"):
        dealer.routing_id = b"\x00nope"


def _events_until(mon, wanted: int, count: int, timeout_ms: int = 10_000) -> list[int]:
    seen: list[int] = []
    mon.rcvtimeo = timeout_ms
    while seen.count(wanted) < count:
        seen.append(int(recv_monitor_message(mon)["event"]))
    return seen


def test_unresolvable_host_is_accepted_and_retried(ctx) -> None:
    sock = ctx.socket(zmq.DEALER)
    sock.reconnect_ivl = 20
    mon = sock.get_monitor_socket()
    sock.connect("tcp://nonexistent.invalid:5555")  # libzmq accepts it too
    seen = _events_until(mon, zmq.EVENT_CONNECT_RETRIED, 3)
    assert zmq.EVENT_CONNECTED not in seen
    sock.disconnect("tcp://nonexistent.invalid:5555")


def test_host_name_resolved_at_connect_time(ctx) -> None:
    server = ctx.socket(zmq.PAIR)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client = ctx.socket(zmq.PAIR)
    client.connect(f"tcp://localhost:{port}")
    client.send(b"via a name")
    server.rcvtimeo = 5000
    assert server.recv() == b"via a name"


def test_endpoint_errors_name_the_endpoint(ctx) -> None:
    sock = ctx.socket(zmq.PUSH)
    for method, url in (("bind", "tcp://1.2.3.4.5:1234567"), ("connect", "noproc://no/such/file")):
        with pytest.raises(zmq.ZMQError) as info:
            getattr(sock, method)(url)
        assert url in str(info.value)


def test_computed_options_are_read_only_and_string_reads_are_checked(ctx) -> None:
    sub = ctx.socket(zmq.SUB)
    for option in (zmq.EVENTS, zmq.RCVMORE, zmq.FD):
        with pytest.raises(zmq.ZMQError, match="read-only") as info:
            sub.setsockopt(option, 1)
        assert info.value.errno == zmq.EINVAL
    with pytest.raises(zmq.ZMQError, match="SUBSCRIBE is write-only") as info:
        sub.getsockopt_unicode(zmq.SUBSCRIBE)
    assert info.value.errno == zmq.EINVAL
    with pytest.raises(TypeError, match="will not return a string"):
        sub.getsockopt_unicode(zmq.AFFINITY)
    sub.setsockopt_unicode(zmq.IDENTITY, "tést", "utf16")
    assert sub.getsockopt_unicode(zmq.IDENTITY, "utf16") == "tést"


def test_backend_is_pyzmqs_module_path() -> None:
    assert zmq.backend.Socket is zmq.Socket and zmq.backend.Frame is zmq.Frame
    assert zmq.backend.strerror(zmq.ETERM) == zmq.strerror(zmq.ETERM)


def test_subscribe_attribute_takes_a_str_like_pyzmq(ctx) -> None:
    sub = ctx.socket(zmq.SUB)
    sub.subscribe = "topic"  # pyzmq encodes it
    assert b"topic" in sub.subscriptions
    from unittest import mock

    mock.Mock(spec=sub)  # every attribute dir() lists can be looked at
