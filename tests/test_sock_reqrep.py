"""Behaviour tests for REQ and REP (RFC 28), through the public API.

Every row of both transition tables is exercised, and every move the tables leave out is
shown to raise EFSM without moving the machine. Then the envelope rules: REQ's delimiter,
REP keeping the envelope for the reply, replies accepted only from the peer that was asked,
stale and malformed replies dropped, ``req_relaxed`` and ``req_correlate``.
"""

from __future__ import annotations

import itertools
import struct
import time
from typing import Any, Callable

import pytest
from socket_env import TIMEOUT_MS, Env, env_fixtures, errno_of

import zreactor as zmq
from zreactor.reactor.fsm import Machine
from zreactor.sockets.reqrep import (
    REP_TRANSITIONS,
    REQ_TRANSITIONS,
    RepEvent,
    RepState,
    ReqEvent,
    ReqState,
)

pytestmark = pytest.mark.timeout(30)

env, tenv = env_fixtures("reqrep")


def efsm(call: Any) -> None:
    assert errno_of(call) == zmq.EFSM


def check_row(sock: Any, table: Machine, state: Any, event: Any, act: Callable[[], Any],
              result: Any) -> None:
    """Do ``act`` on ``sock``, in ``state``: where ``table`` has the row, ``act`` returns
    ``result`` and the machine moves to the row's target; where it has none, ``act`` raises
    EFSM and the machine stays put."""
    row = table.get((state, event))
    if row is None:
        efsm(act)
        assert sock._turn.state is state
    else:
        assert act() == result
        assert sock._turn.state is row.target


# -- the tables, row by row ---------------------------------------------------------------------


@pytest.mark.parametrize("state,event", list(itertools.product(ReqState, ReqEvent)),
                         ids=lambda v: v.name)
def test_req_table(env: Env, state: ReqState, event: ReqEvent) -> None:
    router = env.socket(zmq.ROUTER)
    req = env.socket(zmq.REQ, routing_id=b"req")
    req.connect(env.bind(router))
    if state is ReqState.RECV_REPLY:
        req.send(b"first")
        assert router.recv_multipart() == [b"req", b"", b"first"]
    assert req._turn.state is state

    def act() -> Any:
        if event is ReqEvent.RECV:
            router.send_multipart([b"req", b"", b"reply"])
            return req.recv()
        if event is ReqEvent.SEND_RELAXED:
            req.req_relaxed = 1
        req.send(b"next")
        return router.recv_multipart()

    result = b"reply" if event is ReqEvent.RECV else [b"req", b"", b"next"]
    check_row(req, REQ_TRANSITIONS, state, event, act, result)


@pytest.mark.parametrize("state,event", list(itertools.product(RepState, RepEvent)),
                         ids=lambda v: v.name)
def test_rep_table(env: Env, state: RepState, event: RepEvent) -> None:
    rep, dealer = env.socket(zmq.REP), env.socket(zmq.DEALER)
    dealer.connect(env.bind(rep))
    if state is RepState.SEND_REPLY:
        dealer.send_multipart([b"", b"first"])
        assert rep.recv() == b"first"
    assert rep._turn.state is state

    def act() -> Any:
        if event is RepEvent.RECV:
            dealer.send_multipart([b"", b"request"])
            return rep.recv()
        rep.send(b"reply")
        return dealer.recv_multipart()

    result = b"request" if event is RepEvent.RECV else [b"", b"reply"]
    check_row(rep, REP_TRANSITIONS, state, event, act, result)


# -- request-reply ---------------------------------------------------------------------------------


def test_request_reply_round_trip(tenv: Env) -> None:
    rep, req = tenv.socket(zmq.REP), tenv.socket(zmq.REQ)
    req.connect(tenv.bind(rep))
    for n in range(3):
        req.send_multipart([b"question", b"%d" % n])
        assert rep.recv_multipart() == [b"question", b"%d" % n]
        rep.send_multipart([b"answer", b"%d" % n, b""])
        assert req.recv_multipart() == [b"answer", b"%d" % n, b""]


@pytest.mark.parametrize("bind_first", [True, False], ids=["bind-connect", "connect-bind"])
def test_inproc_bind_and_connect_in_either_order(env: Env, bind_first: bool) -> None:
    rep, req = env.socket(zmq.REP), env.socket(zmq.REQ)
    if bind_first:
        rep.bind("inproc://rr-order")
        req.connect("inproc://rr-order")
    else:
        req.connect("inproc://rr-order")
        req.send(b"early")  # queued until the bind
        rep.bind("inproc://rr-order")
    if bind_first:
        req.send(b"early")
    assert rep.recv() == b"early"
    rep.send(b"ok")
    assert req.recv() == b"ok"


def test_req_state_errors(env: Env) -> None:
    rep, req = env.socket(zmq.REP), env.socket(zmq.REQ)
    req.connect(env.bind(rep))
    efsm(lambda: req.recv(zmq.DONTWAIT))  # nothing asked yet
    req.send(b"one")
    efsm(lambda: req.send(b"two"))  # the reply comes first
    req.send(b"partial", zmq.SNDMORE)
    efsm(lambda: req.send(b"end"))  # raised on the last frame; the message is dropped whole
    assert req.poll(0, zmq.POLLOUT) == 0
    assert rep.recv() == b"one"
    efsm(lambda: rep.recv(zmq.DONTWAIT))  # REP owes a reply first
    rep.send(b"reply")
    efsm(lambda: rep.send(b"again"))
    assert req.poll(TIMEOUT_MS) == zmq.POLLIN
    assert req.recv() == b"reply"
    req.send(b"three")
    assert rep.recv_multipart() == [b"three"]  # nothing left over from the refused message


def test_req_without_peers_blocks_without_changing_state(env: Env) -> None:
    req = env.socket(zmq.REQ, sndtimeo=50)
    with pytest.raises(zmq.Again):
        req.send(b"nobody", zmq.DONTWAIT)
    with pytest.raises(zmq.Again):
        req.send(b"nobody")
    rep = env.socket(zmq.REP)
    req.connect(env.bind(rep))
    req.send(b"now")  # still allowed: the failed sends did not count
    assert rep.recv() == b"now"


def test_req_round_robins_over_reps(env: Env) -> None:
    req = env.socket(zmq.REQ)
    reps = [env.socket(zmq.REP) for _ in range(2)]
    for rep in reps:
        req.connect(env.bind(rep))
    for n in range(4):
        req.send(b"%d" % n)
        rep = reps[n % 2]
        assert rep.recv() == b"%d" % n
        rep.send(b"r%d" % n)
        assert req.recv() == b"r%d" % n


def test_req_accepts_the_reply_only_from_the_peer_it_asked(env: Env) -> None:
    routers = [env.socket(zmq.ROUTER), env.socket(zmq.ROUTER)]
    req = env.socket(zmq.REQ, routing_id=b"req")
    for router in routers:
        req.connect(env.bind(router))
    req.send(b"question")
    asked = next(r for r in routers if r.poll(TIMEOUT_MS // 4))
    other = routers[1 - routers.index(asked)]
    assert asked.recv_multipart() == [b"req", b"", b"question"]
    other.send_multipart([b"req", b"", b"forged"])  # not the peer we asked: dropped
    asked.send_multipart([b"req", b"no delimiter"])  # malformed: dropped
    asked.send_multipart([b"req", b""])  # nothing after the delimiter: dropped
    asked.send_multipart([b"req", b"", b"genuine"])
    assert req.recv() == b"genuine"
    assert req.poll(50) == 0


def test_stale_replies_are_dropped_when_the_next_request_goes_out(env: Env) -> None:
    router = env.socket(zmq.ROUTER)
    req = env.socket(zmq.REQ, routing_id=b"req")
    req.connect(env.bind(router))
    req.send(b"q1")
    router.recv_multipart()
    router.send_multipart([b"req", b"", b"a1"])
    router.send_multipart([b"req", b"", b"a1 again"])  # a duplicate arrives
    assert req.recv() == b"a1"
    assert req.poll(50) == 0  # the REQ is not expecting anything
    req.send(b"q2")  # drops the duplicate before the request leaves
    assert router.recv_multipart() == [b"req", b"", b"q2"]
    router.send_multipart([b"req", b"", b"a2"])
    assert req.recv() == b"a2"


def test_req_relaxed_with_correlate_drops_the_abandoned_reply(env: Env) -> None:
    router = env.socket(zmq.ROUTER)
    req = env.socket(zmq.REQ, routing_id=b"req", req_relaxed=1, req_correlate=1)
    req.connect(env.bind(router))
    req.send(b"q1")
    first = router.recv_multipart()
    req.send(b"q2")  # relaxed: q1 is abandoned
    second = router.recv_multipart()
    assert first[0] == second[0] == b"req" and first[2] == second[2] == b""
    assert len(first[1]) == 4 and first[1] != second[1]  # the request ids
    (id1,), (id2,) = struct.unpack("=I", first[1]), struct.unpack("=I", second[1])
    assert id2 == (id1 + 1) & 0xFFFFFFFF
    router.send_multipart(first[:3] + [b"late a1"])
    router.send_multipart([b"req", first[1], b"wrong shape"])  # no delimiter: dropped
    router.send_multipart(second[:3] + [b"a2"])
    assert req.recv() == b"a2"
    assert req.poll(50) == 0


def test_rep_keeps_the_envelope_for_the_reply(tenv: Env) -> None:
    rep, dealer = tenv.socket(zmq.REP), tenv.socket(zmq.DEALER)
    dealer.connect(tenv.bind(rep))
    dealer.send_multipart([b"hop1", b"hop2", b"", b"body", b"more"])
    assert rep.recv_multipart() == [b"body", b"more"]
    rep.send_multipart([b"reply", b"parts"])
    assert dealer.recv_multipart() == [b"hop1", b"hop2", b"", b"reply", b"parts"]


def test_rep_envelope_follows_each_request_plain_or_routed(tenv: Env) -> None:
    """A plain request (``[b"", body]``) after a routed one gets the delimiter alone back,
    and a routed one after plain ones its own hops, whatever envelope came before."""
    rep, dealer = tenv.socket(zmq.REP), tenv.socket(zmq.DEALER)
    dealer.connect(tenv.bind(rep))
    for request, reply in [
        ([b"", b"a"], [b"", b"A"]),
        ([b"", b"b"], [b"", b"B"]),
        ([b"hop", b"", b"c"], [b"hop", b"", b"C"]),
        ([b"", b"d"], [b"", b"D"]),
        ([b"", b""], [b"", b"E"]),  # an empty body is still a body
        ([b"hop", b"", b"f"], [b"hop", b"", b"F"]),
    ]:
        dealer.send_multipart(request)
        assert rep.recv_multipart() == request[-1:]
        rep.send(reply[-1])
        assert dealer.recv_multipart() == reply


def test_rep_drops_malformed_requests(env: Env) -> None:
    rep, dealer = env.socket(zmq.REP), env.socket(zmq.DEALER)
    dealer.connect(env.bind(rep))
    dealer.send(b"no envelope at all")
    dealer.send_multipart([b"hop", b""])  # a delimiter with nothing after it
    dealer.send_multipart([b"", b"good"])
    assert rep.recv() == b"good"
    assert rep._turn.state is RepState.SEND_REPLY


def test_rep_fair_queues_and_replies_to_each_asker(env: Env) -> None:
    rep = env.socket(zmq.REP)
    addr = env.bind(rep)
    reqs = [env.socket(zmq.REQ) for _ in range(3)]
    for index, req in enumerate(reqs):
        req.connect(addr)
        req.send(b"%d" % index)
    seen = []
    for _ in range(3):
        question = rep.recv()
        seen.append(question)
        rep.send(b"answer " + question)
    assert sorted(seen) == [b"0", b"1", b"2"]
    for index, req in enumerate(reqs):
        assert req.recv() == b"answer %d" % index


def test_rep_reply_to_a_departed_peer_is_dropped(env: Env) -> None:
    rep = env.socket(zmq.REP)
    addr = env.bind(rep)
    leaver = env.socket(zmq.REQ)
    leaver.connect(addr)
    leaver.send(b"ask and leave")
    assert rep.recv() == b"ask and leave"
    leaver.close()
    env.sockets.remove(leaver)
    time.sleep(0.05)
    rep.send(b"nobody to hear")  # no error: dropped
    stayer = env.socket(zmq.REQ)
    stayer.connect(addr)
    stayer.send(b"next")
    assert rep.recv() == b"next"
    rep.send(b"ok")
    assert stayer.recv() == b"ok"


def test_broker_stacks_and_unstacks_envelopes(tenv: Env) -> None:
    """REQ -> ROUTER | DEALER -> REP: each hop's routing id travels in the envelope."""
    frontend, backend = tenv.socket(zmq.ROUTER), tenv.socket(zmq.DEALER)
    req, rep = tenv.socket(zmq.REQ, routing_id=b"client"), tenv.socket(zmq.REP)
    req.connect(tenv.bind(frontend))
    rep.connect(tenv.bind(backend))
    req.send(b"via broker")
    request = frontend.recv_multipart()
    assert request == [b"client", b"", b"via broker"]
    backend.send_multipart(request)
    assert rep.recv() == b"via broker"
    rep.send(b"answered")
    reply = backend.recv_multipart()
    assert reply == [b"client", b"", b"answered"]
    frontend.send_multipart(reply)
    assert req.recv() == b"answered"


def test_poll_follows_the_state_machine(env: Env) -> None:
    rep, req = env.socket(zmq.REP), env.socket(zmq.REQ)
    req.connect(env.bind(rep))
    assert req.poll(0, zmq.POLLOUT) == zmq.POLLOUT and rep.poll(0, zmq.POLLOUT) == 0
    req.send(b"q")
    assert req.poll(0, zmq.POLLOUT) == 0
    assert rep.poll(TIMEOUT_MS) == zmq.POLLIN
    rep.recv()
    assert rep.poll(0, zmq.POLLOUT) == zmq.POLLOUT and rep.poll(0, zmq.POLLIN) == 0
    rep.send(b"a")
    assert req.poll(TIMEOUT_MS) == zmq.POLLIN
    assert req.recv() == b"a"
    assert req.poll(0, zmq.POLLIN) == 0
