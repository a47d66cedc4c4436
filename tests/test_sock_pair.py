"""Behaviour tests for PAIR (RFC 31), through the public API: one peer, and a mute PAIR blocks."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from socket_env import TIMEOUT_MS, Env, env_fixtures, seconds_until_again

import zreactor as zmq

pytestmark = pytest.mark.timeout(30)

env = env_fixtures("pair")[0]  # PAIR is tested over inproc only


@pytest.fixture
def make(env: Env) -> Any:
    """``make(**options)``: a bounded PAIR socket of the test's Env."""
    return partial(env.socket, zmq.PAIR)


@pytest.mark.parametrize("bind_first", [True, False], ids=["bind-connect", "connect-bind"])
def test_pair_talks_both_ways_in_either_order(make: Any, bind_first: bool) -> None:
    a, b = make(), make()
    if bind_first:
        a.bind("inproc://pair")
        b.connect("inproc://pair")
    else:
        b.connect("inproc://pair")
        b.send(b"early")
        a.bind("inproc://pair")
        assert a.recv() == b"early"
    b.send_multipart([b"to", b"a"])
    assert a.recv_multipart() == [b"to", b"a"]
    a.send(b"to b")
    assert b.recv() == b"to b"


def test_mute_pair_blocks_and_loses_nothing(make: Any) -> None:
    a, b = make(sndhwm=2), make(rcvhwm=2)
    a.bind("inproc://mute")
    b.connect("inproc://mute")
    for n in range(4):  # inproc: 2 + 2
        a.send(b"%d" % n, zmq.DONTWAIT)
    with pytest.raises(zmq.Again):
        a.send(b"x", zmq.DONTWAIT)
    a.sndtimeo = 50
    assert seconds_until_again(lambda: a.send(b"x")) >= 0.04
    assert [b.recv() for _ in range(4)] == [b"0", b"1", b"2", b"3"]
    assert a.poll(TIMEOUT_MS, zmq.POLLOUT) == zmq.POLLOUT


def test_pair_without_peer_is_mute(make: Any) -> None:
    lonely = make(sndtimeo=50)
    lonely.bind("inproc://lonely-pair")
    with pytest.raises(zmq.Again):
        lonely.send(b"nobody")


def test_a_second_peer_is_refused(make: Any) -> None:
    a, first, second = make(), make(), make()
    a.bind("inproc://one-peer")
    first.connect("inproc://one-peer")
    a.send(b"hello")  # attaches the first peer's pipe
    assert first.recv() == b"hello"
    second.connect("inproc://one-peer")
    a.send(b"still only the first")
    assert first.recv() == b"still only the first"
    assert second.poll(50) == 0
