"""Behaviour tests for PUB, SUB, XPUB and XSUB (RFC 29), through the public API.

Prefix subscriptions and unsubscription, XPUB handing subscriptions to the application (new
and vanished topics only, every one with ``xpub_verbose``), XSUB's hand-made subscriptions,
and the mute state, which drops: a publisher never blocks. A subscription made just before a
send is honoured by it, over tcp (the caller-I/O steps of zmtp/shortcut.py, *The early read*)
and inproc.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator

import pytest
from socket_env import TIMEOUT_MS, Env, env_fixtures, errno_of

import zreactor as zmq
from zreactor.reactor.io_thread import on_a_loop_thread
from zreactor.sockets import caller_wait
from zreactor.sockets.pubsub import EARLY_READ_INTERVAL

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


# -- a subscription made just before a send (pubsub.py, "A subscription made just before a
# send"; zmtp/shortcut.py, "The early read") --------------------------------------------------


def _shortcut(sock: Any) -> Any:
    """The caller shortcut of the socket's one tcp connection (tests look inside)."""
    (pipe,) = [p for p in sock._pipes if p.shortcut is not None]
    return pipe.shortcut


def _asleep(*socks: Any) -> None:
    """Let the I/O loops of the sockets' tcp connections fall asleep, with nothing in flight
    and an early-read interval past the last send: the state in which a subscription made
    before a send is honoured by it (pubsub.py). A precondition, not a timing assert."""
    time.sleep(0.02)
    for sock in socks:
        thread = _shortcut(sock)._thread
        deadline = time.monotonic() + 5
        while (lease := thread.try_lease()) is None:
            assert time.monotonic() < deadline, "the I/O loop never went to sleep"
            time.sleep(0.001)
        lease.release()


@pytest.fixture
def tcp_pair() -> Iterator[tuple[Any, Any]]:
    """A PUB and a SUB connected over tcp, in two contexts (so two I/O loops, as two
    processes would have), subscribed to nothing, both loops asleep."""
    pub_env, sub_env = Env("tcp", "pubsub"), Env("tcp", "pubsub")
    try:
        pub, sub = pub_env.socket(zmq.PUB), sub_env.socket(zmq.SUB)
        sub.connect(pub_env.bind(pub))
        sub.subscribe(b"ready")
        until_delivered(pub, sub, b"ready")
        sub.unsubscribe(b"ready")
        pub.send(b"ready")  # (takes the unsubscription in)
        _asleep(pub, sub)
        yield pub, sub
    finally:
        sub_env.close()
        pub_env.close()


def test_a_subscription_over_tcp_is_honoured_by_the_very_next_send(tcp_pair) -> None:
    # what libzmq's parallel I/O threads give (pyzmq's test_log relies on it): no sleep
    # between the subscription and the send, yet the message is not lost
    pub, sub = tcp_pair
    for n in range(20):
        topic = b"topic-%d" % n
        sub.subscribe(topic)
        pub.send_multipart([topic, b"body"])
        assert sub.recv_multipart() == [topic, b"body"]
        sub.unsubscribe(topic)
        _asleep(pub, sub)
    pub.send(b"topic-0: unsubscribed")
    assert drain(sub) == []


def test_the_subscription_travels_on_the_callers_threads(tcp_pair) -> None:
    pub, sub = tcp_pair
    sub_side, pub_side = _shortcut(sub), _shortcut(pub)
    writes, early = sub_side.writes, pub_side.early_reads
    sub.subscribe(b"a")
    sub.subscribe(b"b")  # a subscriber is not held to one caller write per read
    assert sub_side.writes == writes + 2
    pub.send(b"b:1")
    assert pub_side.early_reads == early + 1
    assert sub.recv() == b"b:1"


def test_a_subscription_made_on_another_thread_is_honoured(tcp_pair) -> None:
    pub, sub = tcp_pair
    subscribed = threading.Event()
    sent: list[bool] = []

    def publisher() -> None:
        sent.append(subscribed.wait(5))
        pub.send(b"news: at once")

    thread = threading.Thread(target=publisher)
    thread.start()
    sub.subscribe(b"news")
    subscribed.set()
    thread.join(5)
    assert sent == [True]
    assert sub.recv() == b"news: at once"


def test_a_subscription_on_a_shared_io_thread_is_honoured(env: Env) -> None:
    # one context, one I/O loop for both ends (pyzmq's test_log): the subscription lands
    # on the publisher's connection while its loop is waking; the send waits for it
    env.transport = "tcp"
    pub, sub = env.socket(zmq.PUB), env.socket(zmq.SUB)
    sub.connect(env.bind(pub))
    sub.subscribe(b"ready")
    until_delivered(pub, sub, b"ready")
    for n in range(10):
        _asleep(pub, sub)
        sub.subscribe(b"shared-%d" % n)
        pub.send(b"shared-%d" % n)
        assert sub.recv() == b"shared-%d" % n


@pytest.mark.parametrize("bind_first", [True, False], ids=["bind-connect", "connect-bind"])
def test_an_inproc_subscription_is_seen_by_the_next_send(env: Env, bind_first: bool) -> None:
    pub, sub = env.socket(zmq.PUB), env.socket(zmq.SUB)
    name = f"inproc://pubsub-next-send-{bind_first}"
    if bind_first:
        pub.bind(name)
        sub.connect(name)
    else:
        sub.connect(name)
        pub.bind(name)
    sub.subscribe(b"x")
    pub.send(b"x1")
    assert sub.recv() == b"x1"
    sub.subscribe(b"y")
    pub.send(b"y1")
    assert sub.recv() == b"y1"


def test_xsub_subscriptions_reach_an_xpub_before_its_next_send(tenv: Env) -> None:
    xpub, xsub = tenv.socket(zmq.XPUB), tenv.socket(zmq.XSUB)
    xsub.connect(tenv.bind(xpub))
    xsub.send(b"\x01ready")
    assert xpub.recv() == b"\x01ready"  # connected
    if tenv.transport == "tcp":
        _asleep(xpub, xsub)
    xsub.send(b"\x01now")
    xpub.send(b"now!")
    assert xsub.recv() == b"now!"
    assert xpub.recv() == b"\x01now"


def test_early_reads_are_throttled_to_one_per_interval(tcp_pair) -> None:
    pub, _ = tcp_pair
    pub_side = _shortcut(pub)
    before = pub_side.early_reads
    started = time.monotonic()
    for _ in range(2000):
        pub.send(b"unwanted")
    elapsed = time.monotonic() - started
    reads = pub_side.early_reads - before
    # an invariant, not a speed target: one read at the start of each interval at most
    assert 1 <= reads <= elapsed / EARLY_READ_INTERVAL + 1


def test_a_publisher_with_many_connections_leaves_it_to_the_io_threads(env: Env) -> None:
    env.transport = "tcp"
    pub = env.socket(zmq.PUB)
    addr = env.bind(pub)
    subs = [env.socket(zmq.SUB) for _ in range(caller_wait.MAX_CALLER_READS + 1)]
    for sub in subs:
        sub.connect(addr)
        sub.subscribe(b"")
    deadline = time.monotonic() + 5
    while not all(sub.poll(0) for sub in subs):
        assert time.monotonic() < deadline, "a subscription never reached the publisher"
        pub.send(b"probe")
        time.sleep(0.01)
    assert len(pub._pipes) == len(subs)
    before = sum(p.shortcut.early_reads for p in pub._pipes)
    for _ in range(3):
        time.sleep(0.01)  # an early-read interval past the last send
        pub.send(b"more")
    assert sum(p.shortcut.early_reads for p in pub._pipes) == before


def test_a_publisher_called_on_an_io_thread_does_not_wait_for_a_loop(tcp_pair) -> None:
    # a logging handler that publishes records the I/O thread logs runs in the loop's own
    # handler, with the loop's lock held: the early read must not wait for it (a deadlock)
    pub, sub = tcp_pair
    pub_side = _shortcut(pub)
    thread = pub_side._thread
    outcome: list[object] = []
    done = threading.Event()

    def on_the_loop() -> None:
        outcome.append((on_a_loop_thread(), pub_side.read_waiting()))
        done.set()

    with thread.try_lease() as lease:  # arm a timer the loop runs at once
        lease.poller.add_timer(0, on_the_loop)
    assert done.wait(5), "the loop never ran the timer (or deadlocked in it)"
    assert outcome == [(True, False)]
    assert not on_a_loop_thread()
