"""Behaviour tests for DEALER and ROUTER (RFC 28), through the public API.

Identities (chosen, generated, duplicated, learned late), unroutable messages dropped or
refused with ``router_mandatory``, the mute state (DEALER blocks; ROUTER drops, or blocks
with ``router_mandatory``), round-robin and fair-queueing on DEALER, ``probe_router``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from socket_env import TIMEOUT_MS, Env, env_fixtures, errno_of

import zreactor as zmq

pytestmark = pytest.mark.timeout(30)


env, tenv = env_fixtures("dealer-router")


def until_routable(router: Any, rid: bytes, payload: bytes = b"ping") -> None:
    """With router_mandatory: retry until ``rid`` is connected (tcp connects asynchronously)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            router.send_multipart([rid, payload])
            return
        except zmq.ZMQError as exc:
            assert exc.errno == zmq.EHOSTUNREACH and time.monotonic() < deadline
            time.sleep(0.01)


# -- identities --------------------------------------------------------------------------------


def test_router_sees_chosen_identities_and_routes_by_them(tenv: Env) -> None:
    router = tenv.socket(zmq.ROUTER)
    addr = tenv.bind(router)
    dealers = {rid: tenv.socket(zmq.DEALER, routing_id=rid) for rid in (b"alice", b"bob")}
    for dealer in dealers.values():
        dealer.connect(addr)
    for rid, dealer in dealers.items():
        dealer.send_multipart([b"from", rid])
    got = sorted(router.recv_multipart() for _ in range(2))
    assert got == [[b"alice", b"from", b"alice"], [b"bob", b"from", b"bob"]]
    for rid in (b"bob", b"alice"):
        router.send_multipart([rid, b"to", rid])
    for rid, dealer in dealers.items():
        assert dealer.recv_multipart() == [b"to", rid]


def test_anonymous_peers_get_generated_ids(tenv: Env) -> None:
    router = tenv.socket(zmq.ROUTER)
    addr = tenv.bind(router)
    dealers = [tenv.socket(zmq.DEALER) for _ in range(3)]
    for index, dealer in enumerate(dealers):
        dealer.connect(addr)
        dealer.send(b"%d" % index)
        rid, body = router.recv_multipart()
        assert len(rid) == 5 and rid[0] == 0  # libzmq's format: 0x00 + 32-bit counter
        router.send_multipart([rid, b"back " + body])
        assert dealer.recv() == b"back %d" % index
    # a second message from a peer carries the same id
    dealers[0].send(b"again")
    dealers[0].send(b"and again")
    assert router.recv_multipart()[0] == router.recv_multipart()[0]


def test_generated_ids_count_up(env: Env) -> None:
    router = env.socket(zmq.ROUTER)
    addr = env.bind(router)
    ids = []
    for _ in range(3):
        dealer = env.socket(zmq.DEALER)
        dealer.connect(addr)
        dealer.send(b"hi")
        ids.append(int.from_bytes(router.recv_multipart()[0][1:], "big"))
    assert ids == [ids[0], (ids[0] + 1) & 0xFFFFFFFF, (ids[0] + 2) & 0xFFFFFFFF]


def test_a_duplicate_identity_is_ignored_as_in_libzmq(env: Env) -> None:
    router = env.socket(zmq.ROUTER)
    addr = env.bind(router)
    first, second = env.socket(zmq.DEALER, routing_id=b"same"), env.socket(zmq.DEALER, routing_id=b"same")
    first.connect(addr)
    second.connect(addr)
    first.send(b"first")
    second.send(b"second")  # never read: the id belongs to the first peer
    assert router.recv_multipart() == [b"same", b"first"]
    assert router.poll(50) == 0
    router.send_multipart([b"same", b"to the first"])
    assert first.recv() == b"to the first"
    assert second.poll(50) == 0


def test_identity_is_freed_when_its_peer_leaves(env: Env) -> None:
    router = env.socket(zmq.ROUTER, router_mandatory=1)
    addr = env.bind(router)
    old = env.socket(zmq.DEALER, routing_id=b"peer")
    old.connect(addr)
    until_routable(router, b"peer")
    old.close()
    env.sockets.remove(old)
    # The id is free once the ROUTER has read what the departed peer left behind (polling
    # reads it), which here is only the end-of-pipe delimiter.
    deadline = time.monotonic() + 5
    while router.poll(0, zmq.POLLOUT):  # mandatory: POLLOUT while some peer is attached
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert errno_of(lambda: router.send_multipart([b"peer", b"gone"])) == zmq.EHOSTUNREACH
    new = env.socket(zmq.DEALER, routing_id=b"peer")
    new.connect(addr)
    until_routable(router, b"peer", b"welcome back")
    assert new.recv() == b"welcome back"


@pytest.mark.parametrize("bind_first", [True, False], ids=["bind-connect", "connect-bind"])
def test_router_to_router_learns_the_binders_id_in_either_order(env: Env, bind_first: bool) -> None:
    binder = env.socket(zmq.ROUTER, routing_id=b"binder")
    connecter = env.socket(zmq.ROUTER, routing_id=b"connecter", router_mandatory=1)
    if bind_first:
        binder.bind("inproc://r2r")
        connecter.connect("inproc://r2r")
    else:
        connecter.connect("inproc://r2r")
        binder.bind("inproc://r2r")  # the id is only known from now on
    connecter.send_multipart([b"binder", b"hello"])  # the connecter speaks first
    assert binder.recv_multipart() == [b"connecter", b"hello"]
    binder.send_multipart([b"connecter", b"hi"])
    assert connecter.recv_multipart() == [b"binder", b"hi"]


# -- unroutable messages and the mute state ----------------------------------------------------


def test_unroutable_messages_are_dropped_or_refused(env: Env) -> None:
    router = env.socket(zmq.ROUTER)
    dealer = env.socket(zmq.DEALER, routing_id=b"known")
    dealer.connect(env.bind(router))
    router.send_multipart([b"unknown", b"dropped"])  # silently
    router.send(b"known")  # a routing id alone: malformed, dropped
    router.send_multipart([b"known", b"delivered"])
    assert dealer.recv() == b"delivered"
    assert dealer.poll(50) == 0

    router.router_mandatory = 1
    assert errno_of(lambda: router.send_multipart([b"unknown", b"refused"])) == zmq.EHOSTUNREACH
    router.send(b"unknown", zmq.SNDMORE)
    assert errno_of(lambda: router.send(b"refused")) == zmq.EHOSTUNREACH
    router.send_multipart([b"known", b"after the refusals"])  # nothing of them is left queued
    assert dealer.recv_multipart() == [b"after the refusals"]


def test_router_drops_for_a_full_peer_without_mandatory(env: Env) -> None:
    router = env.socket(zmq.ROUTER, sndhwm=2)
    dealer = env.socket(zmq.DEALER, routing_id=b"slow", rcvhwm=2)
    dealer.connect(env.bind(router))
    dealer.send(b"hello")
    router.recv_multipart()
    started = time.monotonic()
    for n in range(20):
        router.send_multipart([b"slow", b"%d" % n])  # never blocks
    assert time.monotonic() - started < 1
    got = []
    while dealer.poll(50):
        got.append(dealer.recv())
    assert got == [b"%d" % n for n in range(4)]  # inproc: 2 + 2 in flight


def test_router_mandatory_blocks_for_a_full_peer(env: Env) -> None:
    router = env.socket(zmq.ROUTER, sndhwm=2, router_mandatory=1)
    dealer = env.socket(zmq.DEALER, routing_id=b"slow", rcvhwm=2)
    dealer.connect(env.bind(router))
    for n in range(4):
        router.send_multipart([b"slow", b"%d" % n], zmq.DONTWAIT)
    assert errno_of(lambda: router.send_multipart([b"slow", b"x"], zmq.DONTWAIT)) == zmq.EAGAIN
    assert router.poll(0, zmq.POLLOUT) == 0  # mandatory: no peer has room
    router.sndtimeo = 50
    with pytest.raises(zmq.Again):
        router.send_multipart([b"slow", b"x"])
    assert [dealer.recv() for _ in range(4)] == [b"0", b"1", b"2", b"3"]
    assert router.poll(TIMEOUT_MS, zmq.POLLOUT) == zmq.POLLOUT
    router.send_multipart([b"slow", b"room again"], zmq.DONTWAIT)
    assert dealer.recv() == b"room again"


def test_router_pollout(env: Env) -> None:
    plain, mandatory = env.socket(zmq.ROUTER), env.socket(zmq.ROUTER, router_mandatory=1)
    assert plain.poll(0, zmq.POLLOUT) == zmq.POLLOUT  # a ROUTER can always "send" (drop)
    assert mandatory.poll(0, zmq.POLLOUT) == 0  # with mandatory: only with a peer with room
    dealer = env.socket(zmq.DEALER, routing_id=b"d")
    dealer.connect(env.bind(mandatory))
    dealer.send(b"hi")
    mandatory.recv_multipart()
    assert mandatory.poll(0, zmq.POLLOUT) == zmq.POLLOUT


# -- DEALER ---------------------------------------------------------------------------------------


def test_dealer_round_robins_and_fair_queues(tenv: Env) -> None:
    dealer = tenv.socket(zmq.DEALER)
    addr = tenv.bind(dealer)
    routers = [tenv.socket(zmq.ROUTER, routing_id=b"r%d" % i) for i in range(3)]
    for router in routers:
        router.connect(addr)
    if tenv.transport != "inproc":
        time.sleep(0.3)  # let every connection complete before round-robin counts them
    for n in range(6):
        dealer.send(b"%d" % n)
    rids = []
    firsts = []
    for index, router in enumerate(routers):
        got = [router.recv_multipart() for _ in range(2)]
        first = int(got[0][1])
        # round-robin: each peer gets every third message. Over inproc the peers join in
        # connect order; over tcp in the order their handshakes finish, which varies.
        assert [m[1] for m in got] == [b"%d" % first, b"%d" % (first + 3)]
        if tenv.transport == "inproc":
            assert first == index
        firsts.append(first)
        rids.append(got[0][0])
    assert sorted(firsts) == [0, 1, 2]
    for rid, router in zip(rids, routers):  # each router answers twice in a row...
        for n in range(2):
            router.send_multipart([rid, router.routing_id + b"-%d" % n])
    if tenv.transport != "inproc":
        time.sleep(0.3)
    replies = [dealer.recv() for _ in range(6)]
    # ...and the dealer takes one answer from each router per round
    assert {r[:2] for r in replies[:3]} == {r[:2] for r in replies[3:]} == {b"r0", b"r1", b"r2"}


def test_dealer_blocks_when_its_peer_is_full(env: Env) -> None:
    dealer = env.socket(zmq.DEALER, sndhwm=1)
    router = env.socket(zmq.ROUTER, rcvhwm=1)
    dealer.connect(env.bind(router))
    dealer.send(b"0", zmq.DONTWAIT)
    dealer.send(b"1", zmq.DONTWAIT)
    assert errno_of(lambda: dealer.send(b"2", zmq.DONTWAIT)) == zmq.EAGAIN
    assert [router.recv_multipart()[1] for _ in range(2)] == [b"0", b"1"]
    assert dealer.poll(TIMEOUT_MS, zmq.POLLOUT)
    dealer.send(b"2", zmq.DONTWAIT)
    assert router.recv_multipart()[1] == b"2"


def test_dealer_without_peers_is_mute(env: Env) -> None:
    dealer = env.socket(zmq.DEALER, sndtimeo=50)
    assert dealer.poll(0, zmq.POLLOUT) == 0
    with pytest.raises(zmq.Again):
        dealer.send(b"nobody")


def test_probe_router_announces_the_connecting_peer(env: Env) -> None:
    router = env.socket(zmq.ROUTER)
    addr = env.bind(router)
    dealer = env.socket(zmq.DEALER, routing_id=b"prober", probe_router=1)
    dealer.connect(addr)
    assert router.recv_multipart() == [b"prober", b""]  # before the DEALER said anything
    router.send_multipart([b"prober", b"noticed you"])
    assert dealer.recv() == b"noticed you"


def test_queued_messages_survive_the_senders_close(env: Env) -> None:
    router = env.socket(zmq.ROUTER)
    addr = env.bind(router)
    dealer = env.socket(zmq.DEALER, routing_id=b"gone")
    dealer.connect(addr)
    for n in range(3):
        dealer.send(b"%d" % n)
    dealer.close()
    env.sockets.remove(dealer)
    assert [router.recv_multipart() for _ in range(3)] == [[b"gone", b"%d" % n] for n in range(3)]
