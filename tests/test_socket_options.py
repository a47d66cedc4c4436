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
    with pytest.raises(zmq.ZMQError):
        sub.linger = "soon"
    with pytest.raises(AttributeError):
        sub.no_such_option  # noqa: B018


def test_subscribe_is_a_method_and_an_option(sub) -> None:
    sub.subscribe(b"a")
    sub.subscribe = b"b"  # pyzmq lets you assign it too
    assert callable(sub.subscribe)
    assert "subscribe" not in vars(sub)


def test_plain_attributes_are_plain() -> None:
    # no __setattr__ override: the socket's own state costs a normal attribute write
    assert Socket.__setattr__ is object.__setattr__
    assert "LINGER" in Socket.linger.__doc__
