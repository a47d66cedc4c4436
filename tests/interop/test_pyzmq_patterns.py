"""Interop with libzmq (pyzmq): every compatible pairing of the classic socket types.

Each pairing runs with zreactor as either role, with either side binding, over tcp and ipc:
``(pairing) x (zreactor plays the first | second role) x (first | second role binds) x
(tcp | ipc)``. The scenario bodies only use the API both libraries share, so one body serves
every combination.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from _support import DEADLINE, TRANSPORTS, Libs, bind_connect, zmq

pytestmark = pytest.mark.timeout(30)

BIG = os.urandom(1_200_000)


def check_pair(a: Any, b: Any) -> None:
    a.send_multipart([b"ping", b"x" * 300])
    assert b.recv_multipart() == [b"ping", b"x" * 300]
    b.send(BIG)
    assert a.recv() == BIG


def check_push_pull(push: Any, pull: Any) -> None:
    for i in range(200):
        push.send_multipart([b"task-%d" % i, b"y" * (i * 3)])
    push.send(BIG)
    assert [pull.recv_multipart() for _ in range(200)] == [
        [b"task-%d" % i, b"y" * (i * 3)] for i in range(200)
    ]
    assert pull.recv() == BIG


def _publish_until_received(pub: Any, sub: Any, marker: bytes) -> None:
    """Publish ``marker`` until the subscriber gets it: the subscription has arrived."""
    deadline = time.monotonic() + DEADLINE
    while True:
        pub.send(marker)
        if sub.poll(20):
            assert sub.recv() == marker
            while sub.poll(50):  # the copies sent while the first was in flight
                assert sub.recv() == marker
            return
        assert time.monotonic() < deadline, f"subscription for {marker!r} never arrived"


def check_pub_sub(pub: Any, sub: Any) -> None:
    sub.setsockopt(zmq.SUBSCRIBE, b"A")
    _publish_until_received(pub, sub, b"A-ready")
    pub.send(b"B-not-for-you")
    pub.send_multipart([b"A-1", b"second frame"])
    pub.send(b"A-2" + b"z" * 1000)
    assert sub.recv_multipart() == [b"A-1", b"second frame"]
    assert sub.recv() == b"A-2" + b"z" * 1000
    # unsubscribe and subscribe travel in order on the same connection
    sub.setsockopt(zmq.UNSUBSCRIBE, b"A")
    sub.setsockopt(zmq.SUBSCRIBE, b"B")
    _publish_until_received(pub, sub, b"B-ready")
    pub.send(b"A-gone")
    pub.send(b"B-1")
    assert sub.recv() == b"B-1"


def check_xpub_xsub(xpub: Any, xsub: Any) -> None:
    xsub.send(b"\x01weather")
    # A bound XSUB learns of its new publisher (and sends it the subscriptions it holds)
    # only when the application calls in: in both libraries the socket runs its commands on
    # the application's thread. So keep it busy until the subscription gets through.
    deadline = time.monotonic() + DEADLINE
    while not xpub.poll(10):
        xsub.poll(10)
        assert time.monotonic() < deadline, "the subscription never reached the XPUB"
    assert xpub.recv() == b"\x01weather"  # XPUB hands subscriptions to the application
    xpub.send_multipart([b"weather", b"sunny"])
    xpub.send(b"sports")
    assert xsub.recv_multipart() == [b"weather", b"sunny"]
    xsub.send(b"\x00weather")
    assert xpub.recv() == b"\x00weather"


def check_req_rep(req: Any, rep: Any) -> None:
    for i in range(3):
        req.send_multipart([b"question-%d" % i, b"part 2"])
        assert rep.recv_multipart() == [b"question-%d" % i, b"part 2"]
        rep.send(b"answer-%d" % i)
        assert req.recv() == b"answer-%d" % i


def check_req_router(req: Any, router: Any) -> None:
    req.send(b"hello")
    assert router.recv_multipart() == [b"the-req", b"", b"hello"]
    router.send_multipart([b"the-req", b"", b"world"])
    assert req.recv() == b"world"


def check_dealer_rep(dealer: Any, rep: Any) -> None:
    dealer.send_multipart([b"", b"request"])
    assert rep.recv() == b"request"
    rep.send(b"reply")
    assert dealer.recv_multipart() == [b"", b"reply"]


def check_dealer_router(dealer: Any, router: Any) -> None:
    dealer.send_multipart([b"d1", b"d2"])
    assert router.recv_multipart() == [b"the-dealer", b"d1", b"d2"]
    router.send_multipart([b"the-dealer", b"r1", BIG])
    assert dealer.recv_multipart() == [b"r1", BIG]


def _send_when_routable(router: Any, msg: list[bytes]) -> None:
    """A ROUTER can address a peer only once the handshake told it the peer's id."""
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            router.send_multipart(msg)
            return
        except Exception as exc:  # zmq.ZMQError or zreactor.ZMQError
            if getattr(exc, "errno", None) != errno.EHOSTUNREACH:
                raise
        assert time.monotonic() < deadline, "peer never became routable"
        time.sleep(0.01)


def check_router_router(first: Any, second: Any) -> None:
    _send_when_routable(first, [b"router-2", b"from 1"])
    assert second.recv_multipart() == [b"router-1", b"from 1"]
    second.send_multipart([b"router-1", b"from 2"])
    assert first.recv_multipart() == [b"router-2", b"from 2"]


#: (first type, second type, scenario, options for the first, options for the second)
PAIRINGS: dict[str, tuple[str, str, Callable[[Any, Any], None], dict[str, Any], dict[str, Any]]] = {
    "PAIR-PAIR": ("PAIR", "PAIR", check_pair, {}, {}),
    "PUSH-PULL": ("PUSH", "PULL", check_push_pull, {}, {}),
    "PUB-SUB": ("PUB", "SUB", check_pub_sub, {}, {}),
    "XPUB-XSUB": ("XPUB", "XSUB", check_xpub_xsub, {}, {}),
    "REQ-REP": ("REQ", "REP", check_req_rep, {}, {}),
    "REQ-ROUTER": ("REQ", "ROUTER", check_req_router, {"routing_id": b"the-req"}, {}),
    "DEALER-REP": ("DEALER", "REP", check_dealer_rep, {}, {}),
    "DEALER-ROUTER": ("DEALER", "ROUTER", check_dealer_router, {"routing_id": b"the-dealer"}, {}),
    "ROUTER-ROUTER": ("ROUTER", "ROUTER", check_router_router,
                      {"routing_id": b"router-1", "router_mandatory": 1},
                      {"routing_id": b"router-2", "router_mandatory": 1}),
}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("binds", ["first-binds", "second-binds"])
@pytest.mark.parametrize("zreactor_plays", ["first", "second"])
@pytest.mark.parametrize("pairing", list(PAIRINGS))
def test_pairing(libs: Libs, pairing: str, zreactor_plays: str, binds: str, transport: str) -> None:
    first_type, second_type, scenario, first_opts, second_opts = PAIRINGS[pairing]
    first_lib, second_lib = ("zreactor", "pyzmq") if zreactor_plays == "first" else ("pyzmq", "zreactor")
    first = libs.socket(first_lib, first_type, **first_opts)
    second = libs.socket(second_lib, second_type, **second_opts)
    if binds == "first-binds":
        bind_connect(first, second, libs.address(transport))
    else:
        bind_connect(second, first, libs.address(transport))
    scenario(first, second)


@pytest.mark.parametrize("sub_type", ["SUB", "XSUB"])
def test_subscriber_resubscribes_after_the_publisher_restarts(libs: Libs, sub_type: str) -> None:
    """The session replays what its SUB/XSUB subscribed to on each new connection (libzmq
    re-sends subscriptions through a pipe "hiccup"; a restarted publisher knows nothing)."""
    sub = libs.socket("zreactor", sub_type, reconnect_ivl=20)
    pub = libs.socket("pyzmq", "XPUB")
    pub.bind("tcp://127.0.0.1:*")
    endpoint = pub.getsockopt(zmq.LAST_ENDPOINT).decode()
    sub.connect(endpoint)
    if sub_type == "SUB":
        sub.setsockopt(zmq.SUBSCRIBE, b"news")
    else:
        sub.send(b"\x01news")
    assert pub.recv() == b"\x01news"

    pub.close()
    restarted = libs.socket("pyzmq", "XPUB")
    deadline = time.monotonic() + DEADLINE
    while True:  # libzmq closes the old listener in the background
        try:
            restarted.bind(endpoint)
            break
        except zmq.ZMQError as exc:
            assert exc.errno == errno.EADDRINUSE and time.monotonic() < deadline
            time.sleep(0.01)
    assert restarted.recv() == b"\x01news"  # nobody asked the application to subscribe again
    restarted.send(b"news: back")
    assert sub.recv() == b"news: back"
