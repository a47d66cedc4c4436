"""The express read (zreactor/zmtp/direct_read.py, *The express read*; the shortcut's
``CallerShortcut.read_express``): a held fd waited on and read, a lone message parsed where it
is read, in one call.

Counted on the shortcut (``CallerShortcut.express_reads``): it must carry nearly every reply
and request of a REQ/REP exchange, and give way (to the engine's one read path, with the
bytes it read) for anything else a read brings: a PING with the request, two messages, a
large or multipart message, a hang-up, a second connection. What arrives, and in which order,
must not depend on the way it took.
"""

from __future__ import annotations

import socket

import pytest

import zreactor
from zreactor.constants import SocketType
from zreactor.reactor.events import EventKind
from zreactor.testing import EventRecorder

from test_direct_read import (DEADLINE, TIMEOUT_MS, _direct_reads, _rep_with_raw_peer,
                               _req_rep, _serve, _shortcut, _Waiter, long_hold_tick, peers)

pytestmark = pytest.mark.timeout(30)

__all__ = ["long_hold_tick", "peers"]  # (fixtures used by name)


def _express(sock: zreactor.Socket) -> int:
    return sum(pipe.shortcut.express_reads for pipe in sock._pipes
               if pipe.shortcut is not None)


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_the_express_read_carries_the_replies_and_the_requests(two, transport,
                                                               tmp_path) -> None:
    endpoint = ("tcp://127.0.0.1:*" if transport == "tcp"
                else f"ipc://{tmp_path}/express-read.ipc")
    req, rep = _req_rep(two, endpoint)
    count = 300
    server = _serve(rep, 20 + count)
    for i in range(20):
        req.send(b"warm-%d" % i)
        assert req.recv() == b"warm-%d" % i
    replies, requests = _express(req), _express(rep)
    reads = _shortcut(req).reads
    received = _shortcut(req)._engine.bytes_received
    for i in range(count):
        req.send(b"request-%d" % i)
        assert req.recv() == b"request-%d" % i
    server.join(DEADLINE)
    replies, requests = _express(req) - replies, _express(rep) - requests
    assert replies >= 0.9 * count, f"only {replies} of {count} replies went express"
    assert requests >= 0.9 * count, f"only {requests} of {count} requests went express"
    # each one is a read of the socket's thread, and its bytes are counted as any read's
    assert _shortcut(req).reads - reads >= replies
    assert _shortcut(req)._engine.bytes_received - received >= replies * (4 + len(b"request-0"))
    for sock in (req, rep):
        (pipe,) = sock._pipes
        assert pipe.pending_in == 0
        assert pipe.peer._msgs_written == pipe._msgs_read == 20 + count - _direct_reads(sock)


def test_a_ping_with_the_request_takes_the_read_path(ctx, peers) -> None:
    rep, peer = _rep_with_raw_peer(ctx, peers)
    waiter = _Waiter(rep)
    before = _express(rep), _direct_reads(rep)
    peer.conn.send_ping(ttl=0.0)
    peer.conn.send_message([b"", b"request"])
    peer.flush()  # one read: a PING and a request
    assert waiter.join() == [b"request"]
    assert (_express(rep), _direct_reads(rep)) == before
    rep.send(b"reply")
    assert peer.wait_messages(1) == [[b"", b"reply"]]


@pytest.mark.parametrize("frames", [
    [b"", b"x" * 300],  # a long frame: the decoder's, caught by the direct read
    [b"hop", b"", b"body"],  # three frames
])
def test_a_large_or_multipart_request_is_not_express(ctx, peers, frames) -> None:
    rep, peer = _rep_with_raw_peer(ctx, peers)
    waiter = _Waiter(rep)
    before = _express(rep), _direct_reads(rep)
    peer.conn.send_message(frames)
    peer.flush()
    assert waiter.join() == frames[frames.index(b"") + 1:]
    assert _express(rep) == before[0]
    # (a whole message alone in its read is still the direct read's)
    assert _direct_reads(rep) == before[1] + 1
    rep.send(b"reply")
    assert peer.wait_messages(1) == [frames[:frames.index(b"") + 1] + [b"reply"]]


def test_two_requests_in_one_read_are_not_express(ctx, peers) -> None:
    rep, peer = _rep_with_raw_peer(ctx, peers)
    waiter = _Waiter(rep)
    before = _express(rep)
    peer.conn.send_messages([[b"", b"one"], [b"", b"two"]])
    peer.flush()
    assert waiter.join() == [b"one"]
    rep.send(b"r1")
    assert rep.recv_multipart() == [b"two"]
    assert _express(rep) == before


def test_a_peer_that_closes_during_the_express_wait(ctx, peers) -> None:
    rep, peer = _rep_with_raw_peer(ctx, peers, rcvtimeo=300)
    log = EventRecorder(rep.event_bus, timeout=DEADLINE)
    waiter = _Waiter(rep)
    before = _express(rep)
    peer.sock.shutdown(socket.SHUT_RDWR)
    peer.close()
    log.wait(EventKind.DISCONNECTED)
    assert isinstance(waiter.join(), zreactor.Again)
    assert _express(rep) == before
    assert not rep._pipes or _shortcut(rep)._engine is None


def test_a_second_connection_ends_the_express_read(two) -> None:
    req_ctx, rep_ctx = two
    rep = rep_ctx.socket(SocketType.REP, rcvtimeo=TIMEOUT_MS)
    rep.bind("tcp://127.0.0.1:*")
    endpoint = rep.last_endpoint.decode()
    first = req_ctx.socket(SocketType.REQ, rcvtimeo=TIMEOUT_MS)
    first.connect(endpoint)
    for _ in range(5):
        first.send(b"warm")
        assert rep.recv() == b"warm"
        rep.send(b"warm")
        assert first.recv() == b"warm"
    second = req_ctx.socket(SocketType.REQ, rcvtimeo=TIMEOUT_MS)
    second.connect(endpoint)
    second.send(b"from the second")
    assert rep.recv() == b"from the second"
    assert len(rep._pipes) == 2
    rep.send(b"re")
    assert second.recv() == b"re"
    before = _express(rep)
    for i in range(10):  # two connections: the general wait, never the express read
        first.send(b"q%d" % i)
        assert rep.recv() == b"q%d" % i
        rep.send(b"r%d" % i)
        assert first.recv() == b"r%d" % i
    assert _express(rep) == before
