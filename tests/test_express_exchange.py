"""The express exchange (zreactor/sockets/reqrep.py, *The express exchange*): REQ's and REP's
own ``send`` and ``recv`` for a round trip's common shape, and the general path for the rest.

Which path a call took is seen through the pattern hooks, the socket's documented subclass
seam: the general path asks the pattern (``xsend``, ``xrecv``) for every message, the express
exchange never does. A subclass of ``zreactor.Socket`` that counts those calls therefore
counts the messages the exchange did not carry. What arrives, and what is raised, must not
depend on the path.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import zreactor
from zreactor.constants import SocketType
from zreactor.errors import EFSM, Again, ZMQError

pytestmark = pytest.mark.timeout(30)

TIMEOUT_MS = 5000
DEADLINE = 10


class Counting(zreactor.Socket):
    """A socket that counts the pattern hooks the general path calls."""

    # (declared on the class, as pyzmq subclasses declare their attributes)
    general_sends = 0
    general_recvs = 0

    def xsend(self, msg: list[bytes]) -> bool:
        self.general_sends += 1
        return super().xsend(msg)  # type: ignore[no-any-return]

    def xrecv(self) -> list[bytes] | None:
        self.general_recvs += 1
        return super().xrecv()  # type: ignore[no-any-return]


def _pair(two: tuple[zreactor.Context, zreactor.Context], endpoint: str,
          **req_options: Any) -> tuple[Counting, Counting]:
    req_ctx, rep_ctx = two
    rep = rep_ctx.socket(SocketType.REP, socket_class=Counting)
    rep.bind(endpoint)
    req = req_ctx.socket(SocketType.REQ, socket_class=Counting, **req_options)
    req.connect(rep.last_endpoint.decode())
    return req, rep  # type: ignore[return-value]


def _serve(rep: zreactor.Socket, count: int, reply: Any = None) -> threading.Thread:
    def serve() -> None:
        for _ in range(count):
            request = rep.recv()
            rep.send(request if reply is None else reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def _endpoint(transport: str, tmp_path: Any) -> str:
    return "tcp://127.0.0.1:*" if transport == "tcp" else f"ipc://{tmp_path}/exchange.ipc"


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_the_exchange_carries_the_round_trips(two, transport, tmp_path) -> None:
    req, rep = _pair(two, _endpoint(transport, tmp_path))
    count = 300
    server = _serve(rep, count)
    for i in range(count):
        req.send(b"request %d" % i)
        assert req.recv() == b"request %d" % i
    server.join(DEADLINE)
    assert not server.is_alive()
    # the first round trips meet a connection still settling (nothing held yet)
    for sock in (req, rep):
        assert sock.general_sends <= 0.1 * count, (sock, sock.general_sends)
        assert sock.general_recvs <= 0.1 * count, (sock, sock.general_recvs)


def test_send_multipart_of_one_frame_takes_the_exchange(two, tmp_path) -> None:
    req, rep = _pair(two, _endpoint("ipc", tmp_path))
    count = 100

    def serve() -> None:
        for _ in range(count):
            rep.send_multipart(rep.recv_multipart())

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    for i in range(count):
        req.send_multipart([b"%d" % i])
        assert req.recv_multipart() == [b"%d" % i]
    server.join(DEADLINE)
    assert req.general_sends <= 0.1 * count and rep.general_sends <= 0.1 * count


def test_a_send_with_dontwait_takes_the_exchange(two, tmp_path) -> None:
    """The express write never waits, so DONTWAIT changes nothing for it (async sockets send
    so); what it refuses, the general path sends or raises Again for."""
    req, rep = _pair(two, _endpoint("ipc", tmp_path))
    count = 100
    server = threading.Thread(target=lambda: [rep.send(rep.recv(), zreactor.NOBLOCK)
                                              for _ in range(count)], daemon=True)
    server.start()
    for i in range(count):
        # (the first request blocks: the connection may not be up yet, and DONTWAIT with no
        # peer is Again)
        req.send(b"%d" % i, zreactor.NOBLOCK if i else 0)
        assert req.recv() == b"%d" % i
    server.join(DEADLINE)
    assert not server.is_alive()
    assert req.general_sends <= 0.1 * count and rep.general_sends <= 0.1 * count


def test_copy_false_returns_frames(two, tmp_path) -> None:
    req, rep = _pair(two, _endpoint("ipc", tmp_path))
    count = 50

    def serve() -> None:
        for _ in range(count):
            frame = rep.recv(copy=False)
            assert isinstance(frame, zreactor.Frame) and not frame.more
            rep.send(frame.bytes)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    for i in range(count):
        req.send(b"%d" % i)
        frame = req.recv(copy=False)
        assert isinstance(frame, zreactor.Frame)
        assert frame.bytes == b"%d" % i and not frame.more
    server.join(DEADLINE)
    assert not server.is_alive()
    assert req.general_recvs <= 0.1 * count


def test_a_multipart_reply_comes_whole(two, tmp_path) -> None:
    """The read brings [b"", a, b]: not the plain reply; the pattern takes it and recv()
    returns its frames one by one, rcvmore set between them."""
    req, rep = _pair(two, _endpoint("ipc", tmp_path))
    count = 30

    def serve() -> None:
        for _ in range(count):
            body = rep.recv()
            rep.send_multipart([body, b"second"])

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    for i in range(count):
        req.send(b"%d" % i)
        assert req.recv() == b"%d" % i
        assert req.rcvmore
        assert req.recv() == b"second"
        assert not req.rcvmore
    server.join(DEADLINE)
    assert not server.is_alive()


def test_a_request_behind_hops_keeps_its_envelope(two, tmp_path) -> None:
    """A DEALER's request with a routing envelope: REP's recv takes it through the pattern
    and its send puts the envelope back (the general path: not a lone delimiter)."""
    req_ctx, rep_ctx = two
    rep = rep_ctx.socket(SocketType.REP, socket_class=Counting, rcvtimeo=TIMEOUT_MS)
    rep.bind(_endpoint("ipc", tmp_path))
    dealer = req_ctx.socket(SocketType.DEALER, rcvtimeo=TIMEOUT_MS)
    dealer.connect(rep.last_endpoint.decode())
    for i in range(20):
        dealer.send_multipart([b"hop", b"", b"%d" % i])
        assert rep.recv() == b"%d" % i
        rep.send(b"reply %d" % i)
        assert dealer.recv_multipart() == [b"hop", b"", b"reply %d" % i]
    # and a plain request after them takes the lone delimiter again
    dealer.send_multipart([b"", b"plain"])
    assert rep.recv() == b"plain"
    rep.send(b"plain reply")
    assert dealer.recv_multipart() == [b"", b"plain reply"]


@pytest.mark.parametrize("option", ["req_correlate", "req_relaxed"])
def test_correlate_and_relaxed_take_the_general_send(two, tmp_path, option) -> None:
    req, rep = _pair(two, _endpoint("ipc", tmp_path), **{option: True})
    count = 30
    server = _serve(rep, count)
    for i in range(count):
        req.send(b"%d" % i)
        assert req.recv() == b"%d" % i
    server.join(DEADLINE)
    assert req.general_sends == count


def test_out_of_turn_calls_raise_efsm(two, tmp_path) -> None:
    req, rep = _pair(two, _endpoint("ipc", tmp_path))
    with pytest.raises(ZMQError) as caught:
        req.recv()  # no request outstanding
    assert caught.value.errno == EFSM
    with pytest.raises(ZMQError) as caught:
        rep.send(b"no request yet")
    assert caught.value.errno == EFSM
    server = _serve(rep, 2)
    req.send(b"one")
    with pytest.raises(ZMQError) as caught:
        req.send(b"two")  # the reply is awaited
    assert caught.value.errno == EFSM
    assert req.recv() == b"one"
    req.send(b"three")
    assert req.recv() == b"three"
    server.join(DEADLINE)


def test_timeouts_and_dontwait_still_apply(two, tmp_path) -> None:
    req, rep = _pair(two, _endpoint("ipc", tmp_path))
    server = _serve(rep, 2)
    for i in range(2):  # the connection settles: its read is held from here on
        req.send(b"%d" % i)
        assert req.recv() == b"%d" % i
    server.join(DEADLINE)
    req.send(b"late")  # nobody serves it yet
    req.rcvtimeo = 50
    with pytest.raises(Again):
        req.recv()
    with pytest.raises(Again):
        req.recv(zreactor.NOBLOCK)
    # the reply that comes after all is received, once
    assert rep.recv() == b"late"
    rep.send(b"late reply")
    req.rcvtimeo = TIMEOUT_MS
    assert req.recv() == b"late reply"
    req.send(b"next")
    assert rep.recv() == b"next"


def test_a_tracked_request_is_tracked(two, tmp_path) -> None:
    req, rep = _pair(two, _endpoint("ipc", tmp_path))
    server = _serve(rep, 1)
    tracker = req.send(b"tracked", track=True)
    assert tracker is not None
    assert req.recv() == b"tracked"
    server.join(DEADLINE)
    assert tracker.done


def test_an_exact_shadow_takes_the_exchange(two, tmp_path) -> None:
    req, rep = _pair(two, _endpoint("ipc", tmp_path))
    shadow = zreactor.Socket.shadow(req.underlying)
    assert type(shadow) is zreactor.Socket
    count = 50
    server = _serve(rep, count)
    for i in range(count):
        shadow.send(b"%d" % i)
        assert shadow.recv() == b"%d" % i
    server.join(DEADLINE)
    assert req.general_sends <= 0.1 * count and req.general_recvs <= 0.1 * count
