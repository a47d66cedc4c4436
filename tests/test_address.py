"""Endpoint parsing: tcp (wildcards, port 0 / *, IPv6 literals, names) and ipc (paths, @abstract)."""

from __future__ import annotations

import socket

import pytest

from zreactor.reactor.address import Address, format_endpoint, parse_endpoint

pytestmark = pytest.mark.timeout(10)


def test_tcp_ipv4() -> None:
    addr = parse_endpoint("tcp://127.0.0.1:5555")
    assert addr == Address("tcp", socket.AF_INET, ("127.0.0.1", 5555))
    assert addr.endpoint() == "tcp://127.0.0.1:5555"


@pytest.mark.parametrize("port", ["0", "*"])
def test_tcp_any_port(port: str) -> None:
    assert parse_endpoint(f"tcp://127.0.0.1:{port}").sockaddr == ("127.0.0.1", 0)


def test_tcp_wildcard_host_for_bind() -> None:
    assert parse_endpoint("tcp://*:5555", bind=True) == Address(
        "tcp", socket.AF_INET, ("0.0.0.0", 5555)
    )
    assert parse_endpoint("tcp://*:*", bind=True).sockaddr == ("0.0.0.0", 0)
    six = parse_endpoint("tcp://*:5555", bind=True, ipv6=True)
    assert six.family == socket.AF_INET6
    assert six.sockaddr[:2] == ("::", 5555)


def test_tcp_wildcard_host_cannot_be_connected_to() -> None:
    with pytest.raises(ValueError, match="wildcard"):
        parse_endpoint("tcp://*:5555")


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_tcp_ipv6_literal() -> None:
    addr = parse_endpoint("tcp://[::1]:5555")
    assert addr.family == socket.AF_INET6
    assert addr.sockaddr[:2] == ("::1", 5555)
    assert addr.endpoint() == "tcp://[::1]:5555"
    assert parse_endpoint("tcp://[::1]:*").sockaddr[:2] == ("::1", 0)


def test_tcp_name_is_resolved() -> None:
    addr = parse_endpoint("tcp://localhost:80")
    assert addr.family == socket.AF_INET
    assert addr.sockaddr == ("127.0.0.1", 80)


def test_unresolvable_name_is_an_oserror() -> None:
    with pytest.raises(OSError, match="cannot resolve"):
        parse_endpoint("tcp://no-such-host.invalid:80")


def test_ipc_path() -> None:
    addr = parse_endpoint("ipc:///tmp/zreactor.sock")
    assert addr == Address("ipc", socket.AF_UNIX, "/tmp/zreactor.sock")
    assert addr.endpoint() == "ipc:///tmp/zreactor.sock"
    assert parse_endpoint("ipc://relative.sock").sockaddr == "relative.sock"


def test_ipc_abstract_name() -> None:
    addr = parse_endpoint("ipc://@zreactor-test")
    assert addr.family == socket.AF_UNIX
    assert addr.sockaddr == "\0zreactor-test"
    assert addr.endpoint() == "ipc://@zreactor-test"


def test_format_endpoint_of_real_sockets(tmp_path) -> None:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert format_endpoint(s.family, s.getsockname()) == f"tcp://127.0.0.1:{port}"
    finally:
        s.close()
    u = socket.socket(socket.AF_UNIX)
    try:
        u.bind("\0zreactor-format-test")
        assert format_endpoint(u.family, u.getsockname()) == "ipc://@zreactor-format-test"
    finally:
        u.close()
    path = str(tmp_path / "s.sock")
    u = socket.socket(socket.AF_UNIX)
    try:
        u.bind(path)
        assert format_endpoint(u.family, u.getsockname()) == f"ipc://{path}"
    finally:
        u.close()


def test_parse_and_format_round_trip() -> None:
    for endpoint in ["tcp://127.0.0.1:1", "tcp://[::1]:65535", "ipc:///a/b", "ipc://@x"]:
        assert parse_endpoint(endpoint).endpoint() == endpoint


@pytest.mark.parametrize(
    "endpoint, match",
    [
        ("127.0.0.1:5555", "TRANSPORT://"),
        ("tcp://", "TRANSPORT://"),
        ("ipc://", "TRANSPORT://"),
        ("udp://127.0.0.1:5555", "unsupported transport"),
        ("inproc://x", "unsupported transport"),
        ("tcp://127.0.0.1", "HOST:PORT"),
        ("tcp://:5555", "HOST:PORT"),
        ("tcp://127.0.0.1:", "invalid port"),
        ("tcp://127.0.0.1:http", "invalid port"),
        ("tcp://127.0.0.1:65536", "out of range"),
        ("tcp://127.0.0.1:-1", "invalid port"),
        ("tcp://127.0.0.1:+80", "invalid port"),
        ("tcp://127.0.0.1: 80", "invalid port"),
        ("tcp://127.0.0.1:8_080", "invalid port"),
        ("tcp://127.0.0.1:\u0668", "invalid port"),
        ("tcp://[::1]", r"\[ADDR\]:PORT"),
        ("tcp://[::1:5555", r"\[ADDR\]:PORT"),
        ("ipc://*", "not supported"),
    ],
)
def test_malformed_endpoints(endpoint: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_endpoint(endpoint)


def test_non_string_endpoint() -> None:
    with pytest.raises(TypeError):
        parse_endpoint(b"tcp://127.0.0.1:1")  # type: ignore[arg-type]
