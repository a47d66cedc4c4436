"""Socket options as attributes (pyzmq style), through descriptors on the class."""

from __future__ import annotations

import pytest

import zreactor as zmq
from zreactor.sockets.socket import Socket


@pytest.fixture
def sub():
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    yield sock
    sock.close(linger=0)
    ctx.term()


def test_attributes_read_and_write_options(sub) -> None:
    sub.linger = 0
    sub.rcvhwm = 7
    sub.identity = b"me"
    assert sub.getsockopt(zmq.LINGER) == 0
    assert sub.getsockopt(zmq.RCVHWM) == 7
    assert sub.routing_id == b"me"
    assert sub.type == zmq.SUB
    assert sub.events == 0  # nothing to read yet
    assert sub.fd == sub.getsockopt(zmq.FD)


def test_bad_option_values_fail_loudly(sub) -> None:
    with pytest.raises(TypeError, match="LINGER"):
        sub.linger = "soon"
    with pytest.raises(TypeError, match="LINGER"):
        sub.linger = 1.5
    with pytest.raises(zmq.ZMQError, match="LINGER must be >= -1") as info:
        sub.linger = -2
    assert info.value.errno == zmq.EINVAL
    with pytest.raises(AttributeError, match="no attribute 'no_such_option'"):
        sub.no_such_option  # noqa: B018


def test_a_typo_is_an_attribute_error_not_a_new_attribute(sub) -> None:
    with pytest.raises(AttributeError, match="Socket has no such option: LINGR"):
        sub.lingr = 0
    assert "lingr" not in vars(sub)
    # reads fail as on any object: no __getattr__ (the per-message fast path, conveniences.py)
    with pytest.raises(AttributeError, match="lingr"):
        sub.lingr  # noqa: B018
    with pytest.raises(AttributeError, match="Socket has no such option: LINGR"):
        sub.LINGR = 0


def test_security_options_are_options_not_plain_attributes(sub) -> None:
    # ``s.plain_server = True`` once created a Python attribute and left the socket unsecured
    sub.plain_server = True
    assert "plain_server" not in vars(sub)
    assert sub.mechanism == zmq.PLAIN
    with pytest.raises(zmq.ZMQError, match="GSSAPI_SERVER") as info:
        sub.gssapi_server = True  # a mechanism zreactor lacks: refused, never ignored
    assert info.value.errno == zmq.ENOTSUP


def test_upper_case_option_attributes(sub) -> None:
    sub.LINGER = 3
    assert sub.LINGER == 3 == sub.linger


def test_dir_lists_the_options(sub) -> None:
    names = dir(sub)
    assert "LINGER" in names and "CONFLATE" in names and "send" in names


def test_subclass_declares_its_own_attributes() -> None:
    class Tagged(zmq.Socket):
        tag: str = ""

    ctx = zmq.Context()
    try:
        sock = Tagged(ctx, zmq.PAIR)
        sock.tag = "mine"
        assert sock.tag == "mine"
        with pytest.raises(AttributeError, match="UNDECLARED"):
            sock.undeclared = 1
        sock.close()
    finally:
        ctx.term()


def test_unimplemented_and_unknown_options_name_themselves(sub) -> None:
    with pytest.raises(zmq.ZMQError, match="RATE.*multicast") as info:
        sub.setsockopt(zmq.RATE, 100)
    assert info.value.errno == zmq.ENOTSUP
    assert sub.getsockopt(zmq.RATE) == 100  # a read reports libzmq's default: what applies
    with pytest.raises(AttributeError, match="ROUTER_MANDATORY is write-only"):
        sub.router_mandatory  # noqa: B018  (an attribute read fails as pyzmq's does)
    with pytest.raises(zmq.ZMQError, match="unknown socket option 9999") as info:
        sub.setsockopt(9999, 1)
    assert info.value.errno == zmq.EINVAL
    with pytest.raises(zmq.ZMQError, match="ROUTER_MANDATORY is write-only"):
        sub.getsockopt(zmq.ROUTER_MANDATORY)
    with pytest.raises(zmq.ZMQError, match="TYPE is read-only"):
        sub.setsockopt(zmq.TYPE, 1)
    with pytest.raises(zmq.ZMQError, match="XPUB_WELCOME_MSG applies to PUB/XPUB sockets, not SUB"):
        sub.setsockopt(zmq.XPUB_WELCOME_MSG, b"hi")


def test_option_types_are_checked_like_pyzmq(sub) -> None:
    with pytest.raises(TypeError, match="SUBSCRIBE takes bytes, got int 5"):
        sub.setsockopt(zmq.SUBSCRIBE, 5)  # not bytes(5): five NUL bytes
    with pytest.raises(TypeError, match="unicode not allowed"):
        sub.setsockopt(zmq.SUBSCRIBE, "topic")
    with pytest.raises(TypeError, match=r"ROUTING_ID takes bytes, got int 7 \(pass bytes, e.g. b'7'\)"):
        sub.setsockopt(zmq.ROUTING_ID, 7)
    with pytest.raises(TypeError, match="SNDHWM takes an int"):
        sub.setsockopt(zmq.SNDHWM, b"10")
    sub.setsockopt(zmq.IMMEDIATE, True)  # bool is an int, as in pyzmq
    sub.setsockopt(zmq.SUBSCRIBE, bytearray(b"ok"))


def test_ipv4only_is_the_inverse_of_ipv6(sub) -> None:
    assert sub.getsockopt(zmq.IPV4ONLY) == 1
    sub.setsockopt(zmq.IPV4ONLY, 0)
    assert sub.getsockopt(zmq.IPV6) == 1
    assert sub.getsockopt(zmq.MECHANISM) == zmq.NULL
    assert sub.getsockopt(zmq.THREAD_SAFE) == 0


def test_subscribe_is_a_method_and_an_option(sub) -> None:
    sub.subscribe(b"a")
    sub.subscribe = b"b"  # pyzmq lets you assign it too
    assert callable(sub.subscribe)
    assert "subscribe" not in vars(sub)


def test_option_attributes_are_descriptors() -> None:
    assert "LINGER" in Socket.linger.__doc__


def test_the_per_message_fast_path_has_no_getattr_hook() -> None:
    # A class-level __getattr__ stops CPython 3.11 from specializing any attribute read on
    # its instances: it cost inproc PUSH/PULL a third of its throughput (conveniences.py,
    # "The per-message fast path"). Option names are descriptors instead.
    from zreactor.sockets.socket import Socket

    assert all("__getattr__" not in vars(klass) for klass in Socket.__mro__)
    assert all("__getattribute__" not in vars(klass) for klass in Socket.__mro__[:-1])
