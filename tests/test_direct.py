"""The direct write (zreactor/zmtp/direct.py): a message from send() straight to the kernel.

Counted on the shortcut itself (``CallerShortcut.direct_writes``): the path must carry the
requests and replies of a REQ/REP exchange, and give way (to the pipe and the engine's pull)
whenever something is queued, the engine is not idle or a stream sends without reading;
what arrives, and in which order, must never depend on which way a message went.
"""

from __future__ import annotations

import threading
import time

import pytest

import zreactor
from zreactor.constants import SocketType
from zreactor.sockets.pipe import pipepair
from zreactor.zmtp.engine import Flow
from zreactor.zmtp.shortcut import CallerShortcut

DEADLINE = 5.0
TIMEOUT_MS = int(DEADLINE * 1000)


def _shortcuts(sock: zreactor.Socket) -> list[CallerShortcut]:
    """The caller shortcuts of the socket's tcp/ipc pipes (tests may look inside)."""
    return [pipe.shortcut for pipe in sock._pipes if pipe.shortcut is not None]


def _direct(*socks: zreactor.Socket) -> int:
    return sum(s.direct_writes for sock in socks for s in _shortcuts(sock))


def _endpoint(transport: str, tmp_path) -> str:
    return "tcp://127.0.0.1:*" if transport == "tcp" else f"ipc://{tmp_path}/direct.ipc"


def _req_rep(two: tuple[zreactor.Context, zreactor.Context], endpoint: str = "tcp://127.0.0.1:*"
             ) -> tuple[zreactor.Socket, zreactor.Socket]:
    """A REQ of the first context connected to a REP of the second, bound at ``endpoint``."""
    req_ctx, rep_ctx = two
    rep = rep_ctx.socket(SocketType.REP, rcvtimeo=TIMEOUT_MS)
    rep.bind(endpoint)
    req = req_ctx.socket(SocketType.REQ, rcvtimeo=TIMEOUT_MS)
    req.connect(rep.last_endpoint.decode())
    return req, rep


def _echo(sock: zreactor.Socket, count: int, multipart: bool = False) -> threading.Thread:
    def run() -> None:
        for _ in range(count):
            if multipart:
                sock.send_multipart(sock.recv_multipart())
            else:
                sock.send(sock.recv())

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_direct_writes_carry_the_requests_and_replies(two, transport, tmp_path) -> None:
    req, rep = _req_rep(two, _endpoint(transport, tmp_path))
    count = 300
    server = _echo(rep, 20 + count)
    for i in range(20):  # connection up, handshake done
        req.send(b"warm-%d" % i)
        assert req.recv() == b"warm-%d" % i
    before = _direct(req, rep)
    for i in range(count):
        req.send(b"req-%d" % i)
        assert req.recv() == b"req-%d" % i
    server.join(DEADLINE)
    direct = _direct(req, rep) - before
    # 600 messages; a writer that finds its loop busy at that moment takes the pipe instead
    assert direct >= 0.9 * 2 * count, f"{direct} of {2 * count} messages went direct"


def test_multipart_envelopes_and_large_bodies_arrive_whole(two) -> None:
    req, rep = _req_rep(two)
    messages = [[b"a"], [b"one", b"two", b""], [b"x" * 300, b"y"], [bytes(200_000)], [b"last"]]
    server = _echo(rep, len(messages), multipart=True)
    for msg in messages:
        req.send_multipart(msg)
        assert req.recv_multipart() == msg
    server.join(DEADLINE)
    assert _direct(req, rep) >= 2  # (the first round trip may still meet a busy loop)


def test_the_high_water_mark_is_not_consumed_by_direct_writes(two) -> None:
    # With HWM 1 a message counted as written but never as read would fill the pipe for good.
    req_ctx, rep_ctx = two
    rep = rep_ctx.socket(SocketType.REP, rcvtimeo=TIMEOUT_MS, sndhwm=1, rcvhwm=1)
    rep.bind("tcp://127.0.0.1:*")
    req = req_ctx.socket(SocketType.REQ, rcvtimeo=TIMEOUT_MS, sndtimeo=TIMEOUT_MS,
                         sndhwm=1, rcvhwm=1)
    req.connect(rep.last_endpoint.decode())
    server = _echo(rep, 200)
    for i in range(200):
        req.send(b"%d" % i)
        assert req.recv() == b"%d" % i
    server.join(DEADLINE)
    # (with HWM 1 every read sends the writer a credit command, which wakes the I/O thread:
    # fewer writes find the loop asleep, but some must have gone direct)
    assert _direct(req, rep) > 0


def test_the_idle_test_is_output_free_and_one_write_per_read(two) -> None:
    # PipeEngine._caller_idle writes _caller_output_free's test out (one call less): the two
    # must not drift apart, whatever the engine's state
    req, rep = _req_rep(two)
    server = _echo(rep, 3)
    for i in range(3):
        req.send(b"%d" % i)
        assert req.recv() == b"%d" % i
    server.join(DEADLINE)
    (shortcut,) = _shortcuts(req)
    engine = shortcut._engine
    thread = shortcut._thread
    lease = thread.wait_lease()
    try:
        seen = set()
        for mark in (engine._reads, engine._reads - 1):  # written since the last read, or not
            engine._caller_mark = mark
            expected = engine._reads != mark and engine._caller_output_free()
            assert engine._caller_idle() is expected
            seen.add(expected)
        assert seen == {True, False}
        engine.output = Flow.BLOCKED  # output blocked: not idle
        engine._caller_mark = engine._reads - 1
        assert not engine._caller_output_free() and not engine._caller_idle()
    finally:
        engine.output = Flow.RUNNING
        lease.release()


def test_a_stream_that_does_not_read_goes_through_the_pipe_in_order(ctx) -> None:
    # One caller write per read from the peer: a PUSH streaming 2000 messages writes at most
    # its first one directly; the rest are queued and pulled in batches, behind it.
    pull = ctx.socket(SocketType.PULL, rcvtimeo=TIMEOUT_MS)
    pull.bind("tcp://127.0.0.1:*")
    push = ctx.socket(SocketType.PUSH, sndtimeo=TIMEOUT_MS)
    push.connect(pull.last_endpoint.decode())
    push.send(b"hello")
    assert pull.recv() == b"hello"
    before = _direct(push)
    for i in range(2000):
        push.send(b"%d" % i)
    assert [pull.recv() for _ in range(2000)] == [b"%d" % i for i in range(2000)]
    assert _direct(push) - before <= 1


def test_replies_find_their_dealer_through_a_router(two) -> None:
    # ROUTER strips the routing id before the pipe; a direct reply goes to the right peer.
    a_ctx, b_ctx = two
    router = a_ctx.socket(SocketType.ROUTER, rcvtimeo=TIMEOUT_MS)
    router.bind("tcp://127.0.0.1:*")
    dealers = []
    for name in (b"left", b"right"):
        dealer = b_ctx.socket(SocketType.DEALER, rcvtimeo=TIMEOUT_MS, routing_id=name)
        dealer.connect(router.last_endpoint.decode())
        dealers.append(dealer)
    for round_ in range(50):
        for dealer in dealers:
            dealer.send(b"ping-%d" % round_)
        for _ in dealers:
            ident, body = router.recv_multipart()
            router.send_multipart([ident, ident + b":" + body])
        for dealer, name in zip(dealers, (b"left", b"right")):
            assert dealer.recv() == name + b":ping-%d" % round_
    assert _direct(router, *dealers) > 0


def test_a_second_connection_shares_the_requests(two, tmp_path) -> None:
    # REQ round-robins; a peer arriving between two round trips gets every other request,
    # whichever way each went out.
    req_ctx, rep_ctx = two
    reps = []
    for i in range(2):
        rep = rep_ctx.socket(SocketType.REP, rcvtimeo=TIMEOUT_MS)
        rep.bind(f"ipc://{tmp_path}/rep{i}.ipc")
        reps.append(rep)
    req = req_ctx.socket(SocketType.REQ, rcvtimeo=TIMEOUT_MS)
    req.connect(reps[0].last_endpoint.decode())
    served: list[list[bytes]] = [[], []]

    def serve(index: int, count: int) -> threading.Thread:
        def run() -> None:
            for _ in range(count):
                msg = reps[index].recv()
                served[index].append(msg)
                reps[index].send(msg)
        thread = threading.Thread(target=run)
        thread.start()
        return thread

    first = serve(0, 10 + 20)
    for i in range(10):
        req.send(b"alone-%d" % i)
        assert req.recv() == b"alone-%d" % i
    req.connect(reps[1].last_endpoint.decode())
    deadline = time.monotonic() + DEADLINE
    while len(req._pipes) < 2 or not all(p.shortcut is not None for p in req._pipes):
        assert time.monotonic() < deadline
        req.poll(10, zreactor.POLLOUT)
    second = serve(1, 20)
    for i in range(40):
        req.send(b"shared-%d" % i)
        assert req.recv() == b"shared-%d" % i
    first.join(DEADLINE)
    second.join(DEADLINE)
    assert len(served[0]) == 30 and len(served[1]) == 20
    assert _direct(req) > 0


def test_a_message_written_directly_survives_close(two) -> None:
    req, rep = _req_rep(two)
    req.send(b"warm")
    assert rep.recv() == b"warm"
    rep.send(b"warm")
    assert req.recv() == b"warm"
    for _ in range(50):
        before = _direct(req)
        req.send(b"last words")
        if _direct(req) == before + 1:
            break
        # the loop was busy at that moment (6 % of tries, just after a reply came in) and
        # the message took the pipe: one more round trip, and try again
        assert rep.recv() == b"last words"
        rep.send(b"again")
        assert req.recv() == b"again"
    else:
        pytest.fail("no send of 50 went direct")
    req.close(linger=0)  # the message is already in the kernel
    assert rep.recv() == b"last words"


def test_curve_boxes_direct_writes_too(two) -> None:
    server_public, server_secret = zreactor.curve_keypair()
    client_public, client_secret = zreactor.curve_keypair()
    req_ctx, rep_ctx = two
    rep = rep_ctx.socket(SocketType.REP, rcvtimeo=TIMEOUT_MS, curve_server=True,
                         curve_secretkey=server_secret)
    rep.bind("tcp://127.0.0.1:*")
    req = req_ctx.socket(SocketType.REQ, rcvtimeo=TIMEOUT_MS, curve_serverkey=server_public,
                         curve_publickey=client_public, curve_secretkey=client_secret)
    req.connect(rep.last_endpoint.decode())
    server = _echo(rep, 30, multipart=True)
    for i in range(30):
        req.send_multipart([b"secret-%d" % i, b"part"])
        assert req.recv_multipart() == [b"secret-%d" % i, b"part"]
    server.join(DEADLINE)
    assert _direct(req, rep) >= 30


# -- the reader's half (sockets/pipe.py, *Direct writes*) --------------------------------------


class _Sink:
    mailbox = None

    def read_activated(self, pipe: object) -> None:
        pass


def test_reader_idle_only_while_asleep_on_an_empty_queue() -> None:
    writer, reader = pipepair((_Sink(), _Sink()), (0, 0))
    assert not reader.reader_idle()  # awake: it has not looked yet
    assert reader.read() is None  # looks, finds nothing, sleeps
    assert reader.reader_idle()
    assert writer.write([b"queued"])  # (no flush: the flag is still raised)
    assert not reader.reader_idle()  # something is queued ahead
    reader.process_activate_read()  # (what the flush's ACTIVATE_READ would run)
    assert not reader.reader_idle()  # awake
    assert reader.read_batch(10) == [[b"queued"]]
    assert reader.read_batch(10) == []
    assert reader.reader_idle()


# -- the express write (zmtp/direct.py, *The express write*) -----------------------------------


def _express(*socks: zreactor.Socket) -> int:
    return sum(s.express_writes for sock in socks for s in _shortcuts(sock))


def test_express_writes_carry_the_requests_and_the_replies(two) -> None:
    req, rep = _req_rep(two)
    count = 300
    server = _echo(rep, 20 + count)
    for i in range(20):
        req.send(b"warm-%d" % i)
        assert req.recv() == b"warm-%d" % i
    before_req, before_rep = _express(req), _express(rep)
    for i in range(count):
        req.send(b"req-%d" % i)
        assert req.recv() == b"req-%d" % i
    server.join(DEADLINE)
    requests, replies = _express(req) - before_req, _express(rep) - before_rep
    # (a writer that finds its loop busy at that moment takes the general path instead)
    assert requests >= 0.9 * count and replies >= 0.9 * count, (requests, replies)
    # an express write is a direct write: counted in direct_writes and writes, once
    (shortcut,) = _shortcuts(req)
    assert shortcut.direct_writes >= shortcut.express_writes >= requests
    assert shortcut.writes >= shortcut.direct_writes


@pytest.mark.parametrize("case", ["multipart", "large", "relaxed", "correlate"])
def test_what_the_express_write_refuses_takes_the_general_path(two, case) -> None:
    req_ctx, rep_ctx = two
    rep = rep_ctx.socket(SocketType.REP, rcvtimeo=TIMEOUT_MS)
    rep.bind("tcp://127.0.0.1:*")
    options = {"relaxed": {"req_relaxed": True}, "correlate": {"req_correlate": True}}
    req = req_ctx.socket(SocketType.REQ, rcvtimeo=TIMEOUT_MS, **options.get(case, {}))
    req.connect(rep.last_endpoint.decode())
    msg = {"multipart": [b"one", b"two"], "large": [b"x" * 256]}.get(case, [b"plain"])
    count = 30
    server = _echo(rep, count, multipart=True)
    for _ in range(count):
        req.send_multipart(msg)
        assert req.recv_multipart() == msg
    server.join(DEADLINE)
    assert _express(req) == 0
    if case == "relaxed":
        assert _express(rep) > 0  # the request and its reply are plain on the wire
    else:
        # (the reply has the request's shape; correlate's request id is in its envelope)
        assert _express(rep) == 0


def test_two_peers_take_the_general_path_in_turn(two, tmp_path) -> None:
    req_ctx, rep_ctx = two
    reps = []
    for i in range(2):
        rep = rep_ctx.socket(SocketType.REP, rcvtimeo=TIMEOUT_MS)
        rep.bind(f"ipc://{tmp_path}/express{i}.ipc")
        reps.append(rep)
    req = req_ctx.socket(SocketType.REQ, rcvtimeo=TIMEOUT_MS)
    for rep in reps:
        req.connect(rep.last_endpoint.decode())
    deadline = time.monotonic() + DEADLINE
    while len(req._pipes) < 2 or not all(p.shortcut is not None for p in req._pipes):
        assert time.monotonic() < deadline
        req.poll(10, zreactor.POLLOUT)
    servers = [_echo(rep, 10) for rep in reps]
    before = _express(req)
    for i in range(20):
        req.send(b"%d" % i)
        assert req.recv() == b"%d" % i
    for server in servers:
        server.join(DEADLINE)
    assert _express(req) == before  # two active peers: the balancer picks, the general path
