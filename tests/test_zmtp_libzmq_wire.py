"""Interop: ZmtpConnection over a raw TCP socket, with real libzmq (via pyzmq) as the peer.

Each test drives the codec by hand over a blocking socket with timeouts; every loop is bounded
by a deadline. This is the proof that the codec's bytes are the bytes libzmq speaks.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from zreactor.errors import ProtocolError
from zreactor.zmtp import (
    Event,
    HandshakeComplete,
    Message,
    Ping,
    Pong,
    Subscribe,
    ZmtpConnection,
)

zmq = pytest.importorskip("zmq")

pytestmark = pytest.mark.timeout(30)

DEADLINE = 5.0


class RawPeer:
    """A ZmtpConnection glued to a blocking TCP socket."""

    def __init__(self, sock: socket.socket, conn: ZmtpConnection,
                 rewrite_greeting: Callable[[bytes], bytes] | None = None) -> None:
        self.sock = sock
        self.conn = conn
        self.raw_received = bytearray()
        self._rewrite = rewrite_greeting

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if self._rewrite is not None and data:
            data = self._rewrite(data)
            self._rewrite = None
        if data:
            self.sock.sendall(data)

    def pump(self, until: Callable[[list[Event]], bool],
             between: Callable[[], None] | None = None) -> list[Event]:
        """Flush, read and feed until ``until(events)``; fail after DEADLINE seconds."""
        events: list[Event] = []
        deadline = time.monotonic() + DEADLINE
        self.flush()
        while not until(events):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting; events so far: {events!r}")
            if between is not None:
                between()
            self.sock.settimeout(min(remaining, 0.05 if between else 0.5))
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            if not data:
                raise AssertionError(f"libzmq closed the connection; events: {events!r}")
            self.raw_received += data
            events += self.conn.receive_data(data)
            self.flush()
        return events

    def handshake(self) -> HandshakeComplete:
        events = self.pump(lambda evs: any(isinstance(e, HandshakeComplete) for e in evs))
        assert isinstance(events[0], HandshakeComplete)
        return events[0]

    def messages(self, count: int) -> list[Message]:
        events = self.pump(lambda evs: sum(isinstance(e, Message) for e in evs) >= count)
        return [e for e in events if isinstance(e, Message)]


_open_sockets: list[socket.socket] = []


@pytest.fixture
def ctx() -> Iterator[object]:
    """A pyzmq context; it and every raw socket a test opened are closed afterwards."""
    context = zmq.Context()
    yield context
    while _open_sockets:
        _open_sockets.pop().close()
    context.destroy(linger=0)


def bind(ctx: object, socket_type: int, **options: int) -> tuple[object, int]:
    zsock = ctx.socket(socket_type)  # type: ignore[attr-defined]
    zsock.linger = 0
    for name, value in options.items():
        zsock.setsockopt(getattr(zmq, name), value)
    port = zsock.bind_to_random_port("tcp://127.0.0.1")
    return zsock, port


def connect(port: int, conn: ZmtpConnection, **kwargs: object) -> RawPeer:
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    _open_sockets.append(sock)
    return RawPeer(sock, conn, **kwargs)  # type: ignore[arg-type]


def zrecv(zsock: object) -> list[bytes]:
    assert zsock.poll(int(DEADLINE * 1000)), "libzmq socket received nothing"  # type: ignore[attr-defined]
    return zsock.recv_multipart()  # type: ignore[attr-defined, no-any-return]


def test_pair_handshake_and_messages_both_ways(ctx: object) -> None:
    zpair, port = bind(ctx, zmq.PAIR)
    peer = connect(port, ZmtpConnection("PAIR"))
    done = peer.handshake()
    assert done.peer_socket_type == "PAIR"
    assert done.version == (3, 1)
    assert done.metadata["Socket-Type"] == b"PAIR"

    peer.conn.send_message([b"hello", b"", b"x" * 300])
    peer.flush()
    assert zrecv(zpair) == [b"hello", b"", b"x" * 300]

    big = bytes(range(256)) * 12288  # 3 MB: long frames, many recv() calls
    zpair.send_multipart([b"small", big])  # type: ignore[attr-defined]
    assert peer.messages(1) == [Message([b"small", big])]

    peer.conn.send_messages([[b"batch-%d" % i] for i in range(500)])
    peer.flush()
    assert [zrecv(zpair) for _ in range(500)] == [[b"batch-%d" % i] for i in range(500)]


def test_sub_subscribes_to_libzmq_pub(ctx: object) -> None:
    zpub, port = bind(ctx, zmq.PUB)
    peer = connect(port, ZmtpConnection("SUB"))
    assert peer.handshake().peer_socket_type == "PUB"
    peer.conn.send_subscribe(b"top")

    def publish() -> None:
        zpub.send(b"other")  # type: ignore[attr-defined]
        zpub.send(b"top-1")  # type: ignore[attr-defined]

    events = peer.pump(lambda evs: any(isinstance(e, Message) for e in evs), between=publish)
    messages = [e.frames for e in events if isinstance(e, Message)]
    assert messages and all(frames == [b"top-1"] for frames in messages)


def test_rep_answers_libzmq_req(ctx: object) -> None:
    zreq, port = bind(ctx, zmq.REQ)
    peer = connect(port, ZmtpConnection("REP"))
    assert peer.handshake().peer_socket_type == "REQ"
    zreq.send(b"question")  # type: ignore[attr-defined]
    assert peer.messages(1) == [Message([b"", b"question"])]  # REQ's empty delimiter
    peer.conn.send_message([b"", b"answer"])
    peer.flush()
    assert zrecv(zreq) == [b"answer"]


def test_dealer_identity_is_used_by_libzmq_router(ctx: object) -> None:
    zrouter, port = bind(ctx, zmq.ROUTER)
    peer = connect(port, ZmtpConnection("DEALER", identity=b"dealer-1"))
    done = peer.handshake()
    assert done.peer_socket_type == "ROUTER"
    assert "Identity" in done.metadata  # libzmq's ROUTER sends an (empty) Identity too
    peer.conn.send_message([b"hi"])
    peer.flush()
    assert zrecv(zrouter) == [b"dealer-1", b"hi"]
    zrouter.send_multipart([b"dealer-1", b"back"])  # type: ignore[attr-defined]
    assert peer.messages(1) == [Message([b"back"])]


def test_libzmq_answers_our_ping(ctx: object) -> None:
    _zpair, port = bind(ctx, zmq.PAIR)
    peer = connect(port, ZmtpConnection("PAIR"))
    peer.handshake()
    peer.conn.send_ping(1.0, b"ctx-42")
    events = peer.pump(lambda evs: any(isinstance(e, Pong) for e in evs))
    assert Pong(b"ctx-42") in events


def test_libzmq_heartbeat_ping_carries_its_ttl(ctx: object) -> None:
    _zpair, port = bind(ctx, zmq.PAIR, HEARTBEAT_IVL=50, HEARTBEAT_TTL=3000)
    peer = connect(port, ZmtpConnection("PAIR"))
    peer.handshake()
    events = peer.pump(lambda evs: any(isinstance(e, Ping) for e in evs))
    ping = next(e for e in events if isinstance(e, Ping))
    assert ping == Ping(ttl=3.0, context=b"")
    peer.conn.answer_ping(ping)
    peer.flush()


def _accept_libzmq_sub(ctx: object, conn: ZmtpConnection,
                       **kwargs: object) -> tuple[object, RawPeer]:
    listener = socket.socket()
    _open_sockets.append(listener)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(DEADLINE)
    zsub = ctx.socket(zmq.SUB)  # type: ignore[attr-defined]
    zsub.linger = 0
    zsub.setsockopt(zmq.SUBSCRIBE, b"A")
    zsub.connect(f"tcp://127.0.0.1:{listener.getsockname()[1]}")
    sock, _ = listener.accept()
    _open_sockets.append(sock)
    return zsub, RawPeer(sock, conn, **kwargs)  # type: ignore[arg-type]


def test_libzmq_sub_subscribes_to_us_with_a_command(ctx: object) -> None:
    zsub, peer = _accept_libzmq_sub(ctx, ZmtpConnection("PUB"))
    events = peer.pump(lambda evs: Subscribe(b"A") in evs)
    assert isinstance(events[0], HandshakeComplete)
    assert bytes([4, 11, 9, *b"SUBSCRIBE", *b"A"]) in peer.raw_received  # ZMTP 3.1 form
    peer.conn.send_message([b"A-data"])
    peer.flush()
    assert zrecv(zsub) == [b"A-data"]


def test_libzmq_sub_downgrades_to_a_message_for_a_3_0_peer(ctx: object) -> None:
    def announce_3_0(data: bytes) -> bytes:
        assert data[10:12] == b"\x03\x01"
        return data[:11] + b"\x00" + data[12:]

    zsub, peer = _accept_libzmq_sub(ctx, ZmtpConnection("PUB"), rewrite_greeting=announce_3_0)
    peer.pump(lambda evs: Subscribe(b"A") in evs)
    assert bytes([0, 2, 1, *b"A"]) in peer.raw_received  # ZMTP 3.0 form: a message
    peer.conn.send_message([b"A-data"])
    peer.flush()
    assert zrecv(zsub) == [b"A-data"]


def test_incompatible_libzmq_socket_is_refused(ctx: object) -> None:
    _zpush, port = bind(ctx, zmq.PUSH)
    peer = connect(port, ZmtpConnection("PUSH"))
    with pytest.raises(ProtocolError, match="'PUSH' is incompatible with our PUSH"):
        peer.handshake()
