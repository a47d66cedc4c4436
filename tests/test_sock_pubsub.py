"""Behaviour tests for PUB, SUB, XPUB and XSUB (RFC 29), through the public API.

Prefix subscriptions and unsubscription, XPUB handing subscriptions to the application (new
and vanished topics only, every one with ``xpub_verbose``), XSUB's hand-made subscriptions,
and the mute state, which drops: a publisher never blocks.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from socket_env import TIMEOUT_MS, Env, env_fixtures, errno_of

import zreactor as zmq

pytestmark = pytest.mark.timeout(30)


env, tenv = env_fixtures("pubsub")


def drain(sock: Any, wait_ms: int = 50) -> list[bytes]:
    """Every message ``sock`` can receive now (first frames only)."""
    got = []
    while sock.poll(wait_ms):
        got.append(sock.recv_multipart()[0])
    return got


def until_delivered(pub: Any, sub: Any, topic: bytes = b"") -> None:
    """Publish probes on ``topic`` until ``sub`` gets one (subscriptions travel async)."""
    deadline = time.monotonic() + 5
    while not sub.poll(10):
        assert time.monotonic() < deadline, "subscription never reached the publisher"
        pub.send(topic + b"probe")
    drain(sub)


def xpub_and_two_subs(env: Env, **options: Any) -> tuple[Any, Any, Any]:
    """An XPUB (with ``options``) and two SUBs connected to it, subscribed to nothing yet."""
    xpub = env.socket(zmq.XPUB, **options)
    addr = env.bind(xpub)
    one, two = env.socket(zmq.SUB), env.socket(zmq.SUB)
    one.connect(addr)
    two.connect(addr)
    return xpub, one, two


def test_prefix_subscriptions_and_unsubscribe(tenv: Env) -> None:
    pub, sub = tenv.socket(zmq.PUB), tenv.socket(zmq.SUB)
    sub.connect(tenv.bind(pub))
    sub.subscribe(b"wx.")
    sub.subscribe("news")  # str topics are encoded, as pyzmq does
    until_delivered(pub, sub, b"wx.")
    for topic in (b"wx.rain", b"w", b"wx", b"news!", b"sport", b"wx.", b"new"):
        pub.send(topic)
    assert drain(sub) == [b"wx.rain", b"news!", b"wx."]

    sub.unsubscribe(b"wx.")
    until_delivered(pub, sub, b"news")
    pub.send(b"wx.sun")
    pub.send(b"news2")
    assert drain(sub) == [b"news2"]


def test_topic_is_the_first_frame_of_a_multipart_message(env: Env) -> None:
    pub, sub = env.socket(zmq.PUB), env.socket(zmq.SUB)
    sub.connect(env.bind(pub))
    sub.subscribe(b"a")
    until_delivered(pub, sub, b"a")
    pub.send_multipart([b"b", b"a-but-not-first"])
    pub.send_multipart([b"ab", b"payload", b""])
    assert sub.recv_multipart() == [b"ab", b"payload", b""]
    assert drain(sub) == []


def test_subscriptions_are_reference_counted(env: Env) -> None:
    pub, sub = env.socket(zmq.PUB), env.socket(zmq.SUB)
    sub.connect(env.bind(pub))
    sub.subscribe(b"t")
    sub.subscribe(b"t")
    sub.unsubscribe(b"t")  # one reference remains
    sub.unsubscribe(b"never")  # unknown: ignored, as in libzmq
    until_delivered(pub, sub, b"t")
    pub.send(b"t1")
    assert drain(sub) == [b"t1"]
    sub.unsubscribe(b"t")
    deadline = time.monotonic() + 5
    while True:  # once the publisher has applied it, nothing arrives any more
        pub.send(b"t2")
        if not drain(sub, 20):
            break
        assert time.monotonic() < deadline


def test_empty_subscription_receives_everything(env: Env) -> None:
    pub, sub = env.socket(zmq.PUB), env.socket(zmq.SUB)
    sub.connect(env.bind(pub))
    sub.subscribe(b"")
    until_delivered(pub, sub)
    for topic in (b"", b"x", b"\x00\x01"):
        pub.send(topic)
    assert drain(sub) == [b"", b"x", b"\x00\x01"]


def test_publisher_only_sends_to_matching_subscribers(env: Env) -> None:
    pub = env.socket(zmq.PUB)
    addr = env.bind(pub)
    subs = {topic: env.socket(zmq.SUB) for topic in (b"a", b"b")}
    for topic, sub in subs.items():
        sub.connect(addr)
        sub.subscribe(topic)
        until_delivered(pub, sub, topic)
    for topic in (b"a1", b"b1", b"c1", b"a2"):
        pub.send(topic)
    assert drain(subs[b"a"]) == [b"a1", b"a2"]
    assert drain(subs[b"b"]) == [b"b1"]


@pytest.mark.parametrize("bind_first", [True, False], ids=["bind-connect", "connect-bind"])
def test_inproc_subscribe_before_or_after_the_bind(env: Env, bind_first: bool) -> None:
    pub, sub = env.socket(zmq.PUB), env.socket(zmq.SUB)
    if bind_first:
        pub.bind("inproc://order")
        sub.connect("inproc://order")
        sub.subscribe(b"k")
    else:
        sub.subscribe(b"k")
        sub.connect("inproc://order")
        pub.bind("inproc://order")  # the queued subscription is read at attach
    pub.send(b"k1")
    pub.send(b"z1")
    assert drain(sub) == [b"k1"]


def test_a_new_publisher_gets_every_current_subscription(env: Env) -> None:
    sub = env.socket(zmq.SUB)
    sub.subscribe(b"x")
    sub.subscribe(b"y")
    first = env.socket(zmq.PUB)
    sub.connect(env.bind(first))
    second = env.socket(zmq.PUB)  # appears later: resubscription on the new pipe
    sub.connect(env.bind(second))
    for pub in (first, second):
        for topic in (b"x1", b"y1", b"z1"):
            pub.send(topic)
    assert sorted(drain(sub)) == [b"x1", b"x1", b"y1", b"y1"]


def test_pub_drops_at_the_hwm_and_never_blocks(env: Env) -> None:
    pub = env.socket(zmq.PUB, sndhwm=5)
    addr = env.bind(pub)
    slow = env.socket(zmq.SUB, rcvhwm=5)
    fast = env.socket(zmq.SUB)
    for sub in (slow, fast):
        sub.connect(addr)
        sub.subscribe(b"")
    # no probes: reading them would shift the HWM accounting by up to a low-water mark;
    # inproc needs none, the first send attaches both pipes and reads their subscriptions
    started = time.monotonic()
    for n in range(100):
        pub.send(b"%d" % n)  # never blocks, never raises
    assert time.monotonic() - started < 1
    assert pub.poll(0, zmq.POLLOUT) == zmq.POLLOUT
    assert drain(slow) == [b"%d" % n for n in range(10)]  # inproc: 5 + 5 in flight, rest dropped
    assert drain(fast) == [b"%d" % n for n in range(100)]  # a slow peer does not hold others back


def test_pub_without_subscribers_drops(env: Env) -> None:
    pub = env.socket(zmq.PUB)
    env.bind(pub)
    pub.send(b"into the void", zmq.DONTWAIT)


def test_sub_filters_locally_what_was_already_in_flight(env: Env) -> None:
    """A topic unsubscribed while its messages are queued: SUB drops them, XSUB does not."""
    pub, sub = env.socket(zmq.PUB), env.socket(zmq.SUB)
    sub.connect(env.bind(pub))
    sub.subscribe(b"t")
    until_delivered(pub, sub, b"t")
    pub.send(b"t-in-flight")
    sub.unsubscribe(b"t")
    assert drain(sub) == []

    xpub, xsub = env.socket(zmq.XPUB), env.socket(zmq.XSUB)
    xsub.connect(env.bind(xpub))
    xsub.send(b"\x01t")
    assert xpub.recv() == b"\x01t"
    xpub.send(b"t-in-flight")
    assert xsub.poll(TIMEOUT_MS)
    xsub.send(b"\x00t")
    assert drain(xsub) == [b"t-in-flight"]


def test_xpub_delivers_new_and_vanished_topics(tenv: Env) -> None:
    xpub, one, two = xpub_and_two_subs(tenv)
    one.subscribe(b"topic")
    assert xpub.recv() == b"\x01topic"
    two.subscribe(b"topic")  # not new: the application is not told
    two.subscribe(b"other")
    assert xpub.recv() == b"\x01other"
    one.unsubscribe(b"topic")  # two still wants it
    two.unsubscribe(b"topic")
    assert xpub.recv() == b"\x00topic"
    assert drain(xpub) == []
    xpub.send(b"other news")
    assert two.recv() == b"other news"


def test_xpub_verbose_delivers_every_subscription(env: Env) -> None:
    xpub, one, two = xpub_and_two_subs(env, xpub_verbose=1)
    one.subscribe(b"t")
    two.subscribe(b"t")
    assert [xpub.recv(), xpub.recv()] == [b"\x01t", b"\x01t"]
    one.unsubscribe(b"t")  # unsubscriptions are still "last one only"
    two.unsubscribe(b"t")
    assert drain(xpub) == [b"\x00t"]


def test_xpub_announces_the_topics_of_a_departed_subscriber(env: Env) -> None:
    xpub, stays, leaves = xpub_and_two_subs(env)
    stays.subscribe(b"shared")
    leaves.subscribe(b"shared")
    leaves.subscribe(b"a")
    leaves.subscribe(b"b")
    assert drain(xpub) == [b"\x01shared", b"\x01a", b"\x01b"]
    leaves.close()
    env.sockets.remove(leaves)
    assert sorted([xpub.recv(), xpub.recv()]) == [b"\x00a", b"\x00b"]
    assert drain(xpub) == []


def test_xsub_sends_subscriptions_and_raw_messages_upstream(tenv: Env) -> None:
    xpub, xsub = tenv.socket(zmq.XPUB), tenv.socket(zmq.XSUB)
    xsub.connect(tenv.bind(xpub))
    xsub.send(b"\x01a")
    assert xpub.recv() == b"\x01a"
    xsub.send(b"\x01a")  # counted by XSUB, forwarded, de-duplicated by XPUB
    xsub.send(b"\x00a")  # one reference left: not forwarded
    xsub.send(b"\x00never")  # never subscribed: not forwarded
    xsub.send(b"hello upstream")  # not a subscription: passed as it is
    xsub.send_multipart([b"\x01multi", b"part"])  # multipart: data, not a subscription
    assert xpub.recv() == b"hello upstream"
    assert xpub.recv_multipart() == [b"\x01multi", b"part"]
    xpub.send(b"a-data")
    xpub.send(b"multi-data")  # no subscription was made by the multipart message
    assert drain(xsub) == [b"a-data"]
    xsub.send(b"\x00a")
    assert xpub.recv() == b"\x00a"


def test_xsub_and_sub_refuse_what_they_do_not_do(env: Env) -> None:
    xsub, sub, pub = env.socket(zmq.XSUB), env.socket(zmq.SUB), env.socket(zmq.PUB)
    # XSUB subscribes by sending, as in libzmq
    assert errno_of(lambda: xsub.setsockopt(zmq.SUBSCRIBE, b"x")) == zmq.EINVAL
    assert errno_of(lambda: sub.send(b"x")) == zmq.ENOTSUP
    assert errno_of(lambda: pub.recv(zmq.DONTWAIT)) == zmq.ENOTSUP
    with pytest.raises(TypeError):
        sub.setsockopt(zmq.SUBSCRIBE, "str needs setsockopt_string")
    sub.setsockopt_string(zmq.SUBSCRIBE, "fine")
    assert (sub.linger, xsub.linger, pub.linger) == (0, 0, -1)  # libzmq's defaults
    assert sub.poll(0, zmq.POLLOUT) == 0 and xsub.poll(0, zmq.POLLOUT) == zmq.POLLOUT


def test_xsub_xpub_proxy_carries_subscriptions_up_and_data_down(env: Env) -> None:
    pub, sub = env.socket(zmq.PUB), env.socket(zmq.SUB)
    frontend, backend = env.socket(zmq.XSUB), env.socket(zmq.XPUB)
    frontend.connect(env.bind(pub))
    sub.connect(env.bind(backend))

    def pump() -> None:
        while backend.poll(0):
            frontend.send_multipart(backend.recv_multipart())
        while frontend.poll(0):
            backend.send_multipart(frontend.recv_multipart())

    sub.subscribe(b"via")
    deadline = time.monotonic() + 5
    while not sub.poll(0):
        assert time.monotonic() < deadline
        pub.send_multipart([b"via-proxy", b"body"])
        pub.send_multipart([b"elsewhere", b"body"])
        pump()
        time.sleep(0.005)
    assert sub.recv_multipart() == [b"via-proxy", b"body"]
    while sub.poll(20):
        assert sub.recv_multipart()[0] == b"via-proxy"
