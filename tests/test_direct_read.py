"""The direct read (zreactor/zmtp/direct_read.py): a reply from the kernel straight to recv().

Counted on the shortcut itself (``CallerShortcut.direct_reads``): the path must carry the
replies and requests of a REQ/REP exchange, and give way (to the pipe, exactly as before)
whenever a read brings anything but one whole message, the pipe could not take it, or the
socket has more than one connection; what arrives, and in which order, must never depend
on which way a message went. A scripted ZMTP peer (a raw socket driving a
``ZmtpConnection``) makes the reads the library would never make: two messages in one
``send()``, a PING in front of a request, a hang-up in the middle of a wait.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import zreactor
from zreactor.constants import SocketType
from zreactor.reactor.events import EventKind
from zreactor.sockets.pipe import pipepair
from zreactor.testing import EventRecorder
from zreactor.zmtp import HandshakeComplete, Message, Pong, ZmtpConnection
from zreactor.zmtp import shortcut as shortcut_module
from zreactor.zmtp.shortcut import CallerShortcut, Reader

pytestmark = pytest.mark.timeout(30)

DEADLINE = 5.0
TIMEOUT_MS = int(DEADLINE * 1000)


def _shortcut(sock: zreactor.Socket) -> CallerShortcut:
    """The caller shortcut of the socket's one tcp/ipc pipe (tests may look inside)."""
    (shortcut,) = [pipe.shortcut for pipe in sock._pipes if pipe.shortcut is not None]
    return shortcut


def _direct_reads(*socks: zreactor.Socket) -> int:
    return sum(pipe.shortcut.direct_reads for sock in socks for pipe in sock._pipes
               if pipe.shortcut is not None)


def _endpoint(transport: str, tmp_path: Any) -> str:
    return "tcp://127.0.0.1:*" if transport == "tcp" else f"ipc://{tmp_path}/direct-read.ipc"


def _serve(sock: zreactor.Socket, count: int,
           answer: Callable[[list[bytes]], list[bytes]] = lambda msg: msg) -> threading.Thread:
    def run() -> None:
        for _ in range(count):
            sock.send_multipart(answer(sock.recv_multipart()))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


class RawPeer:
    """A scripted ZMTP peer: a ZmtpConnection glued by hand to a blocking socket."""

    def __init__(self, endpoint: str, socket_type: str = "DEALER") -> None:
        host, port = endpoint[len("tcp://"):].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=DEADLINE)
        self.conn = ZmtpConnection(socket_type)
        self.events: list[Any] = []

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, until: Callable[[list[Any]], bool]) -> None:
        deadline = time.monotonic() + DEADLINE
        self.flush()
        while not until(self.events):
            assert time.monotonic() < deadline, f"timed out; events {self.events!r}"
            data = self.sock.recv(1 << 16)
            assert data, f"connection lost; events {self.events!r}"
            self.events += self.conn.receive_data(data)
            self.flush()

    def handshake(self) -> None:
        self.pump(lambda evs: any(isinstance(e, HandshakeComplete) for e in evs))

    def messages(self) -> list[list[bytes]]:
        return [e.frames for e in self.events if isinstance(e, Message)]

    def wait_messages(self, count: int) -> list[list[bytes]]:
        self.pump(lambda evs: sum(isinstance(e, Message) for e in evs) >= count)
        return self.messages()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def peers() -> Iterator[list[RawPeer]]:
    opened: list[RawPeer] = []
    yield opened
    for peer in opened:
        peer.close()


def _rep_with_raw_peer(ctx: zreactor.Context, peers: list[RawPeer], **options: Any
                       ) -> tuple[zreactor.Socket, RawPeer]:
    rep = ctx.socket(SocketType.REP, **{"rcvtimeo": TIMEOUT_MS, "linger": 0, **options})
    rep.bind("tcp://127.0.0.1:*")
    peer = RawPeer(rep.last_endpoint.decode())
    peers.append(peer)
    peer.handshake()
    _until_served(rep)
    _until_held(rep, peer)
    return rep, peer


def _until_held(rep: zreactor.Socket, peer: RawPeer) -> None:
    """Round trips until the REP holds its connection's read between calls (*The held
    read*: it then waits on the fd without a lease, so a :class:`_Waiter` always sees the
    wait; a lease, only tried, is refused while the loop is busy)."""
    shortcut = _shortcut(rep)
    for i in range(50):
        if shortcut.reader is Reader.HELD:
            break
        peer.conn.send_message([b"", b"warm"])
        peer.flush()
        assert rep.recv_multipart() == [b"warm"]
        rep.send(b"warm")
        peer.wait_messages(i + 1)
    assert shortcut.reader is Reader.HELD, "the REP never held its read"
    peer.events.clear()


@pytest.fixture(autouse=True)
def long_hold_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    """A held read stays held between the steps of a test, however slow the machine."""
    monkeypatch.setattr(shortcut_module, "HOLD_TICK", 3600.0)


def _until_served(sock: zreactor.Socket) -> None:
    """Until ``sock`` has attached its connection's pipe (a command it runs when called)
    and the connection's engine serves the shortcut (after its handshake)."""
    deadline = time.monotonic() + DEADLINE
    while not (sock._pipes and _shortcut(sock)._engine is not None):
        assert time.monotonic() < deadline, "the connection never reached the socket"
        sock.poll(10)


class _Waiter:
    """``sock.recv_multipart()`` on a thread of its own, started only once ``sock`` waits on
    its connection's fd (lent or held: the shortcut counts the lend), so what the test sends
    next is read by the waiting socket's thread, not by the I/O loop."""

    def __init__(self, sock: zreactor.Socket) -> None:
        self.result: list[object] = []
        shortcut = _shortcut(sock)
        lends = shortcut.lends
        self.thread = threading.Thread(target=self._run, args=(sock,), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + DEADLINE
        while shortcut.lends == lends:
            assert time.monotonic() < deadline, "the socket never waited on its connection"
            time.sleep(0.002)
        time.sleep(0.02)  # from the lend to the poll(): a few lines

    def _run(self, sock: zreactor.Socket) -> None:
        try:
            self.result.append(sock.recv_multipart())
        except zreactor.ZMQError as exc:
            self.result.append(exc)

    def join(self) -> object:
        self.thread.join(DEADLINE)
        assert self.result, "recv() did not return"
        return self.result[0]


# -- the path carries the exchange ------------------------------------------------------------


def _req_rep(two: tuple[zreactor.Context, zreactor.Context], endpoint: str, curve: bool = False
             ) -> tuple[zreactor.Socket, zreactor.Socket]:
    """A REQ of the first context connected to a REP of the second, bound at ``endpoint``;
    with ``curve``, over CURVE."""
    rep_options: dict[str, Any] = {"rcvtimeo": TIMEOUT_MS}
    req_options = dict(rep_options)
    if curve:
        server_public, server_secret = zreactor.curve_keypair()
        client_public, client_secret = zreactor.curve_keypair()
        rep_options.update(curve_server=True, curve_secretkey=server_secret)
        req_options.update(curve_serverkey=server_public, curve_publickey=client_public,
                           curve_secretkey=client_secret)
    req_ctx, rep_ctx = two
    rep = rep_ctx.socket(SocketType.REP, **rep_options)
    rep.bind(endpoint)
    req = req_ctx.socket(SocketType.REQ, **req_options)
    req.connect(rep.last_endpoint.decode())
    return req, rep


@pytest.mark.parametrize("transport, curve", [("tcp", False), ("ipc", False), ("tcp", True)])
def test_direct_reads_carry_the_replies_and_the_requests(two, transport, curve,
                                                        tmp_path) -> None:
    req, rep = _req_rep(two, _endpoint(transport, tmp_path), curve)
    count = 300
    server = _serve(rep, 20 + count)
    for i in range(20):  # connection up, handshake done
        req.send(b"warm-%d" % i)
        assert req.recv() == b"warm-%d" % i
    replies, requests = _direct_reads(req), _direct_reads(rep)
    for i in range(count):
        req.send(b"request-%d" % i)
        assert req.recv() == b"request-%d" % i
    server.join(DEADLINE)
    replies, requests = _direct_reads(req) - replies, _direct_reads(rep) - requests
    # a reply that lands while the REQ is still on its way from send() to recv() is read by
    # the recv() itself, without a wait: the pipe; nearly all find it waiting
    assert replies >= 0.9 * count, f"only {replies} of {count} replies were read directly"
    assert requests >= 0.9 * count, f"only {requests} of {count} requests were read directly"
    # neither end counted them: the pipe's books hold the others, each written and read
    for sock in (req, rep):
        (pipe,) = sock._pipes
        assert pipe.pending_in == 0
        assert pipe.peer._msgs_written == pipe._msgs_read == 20 + count - _direct_reads(sock)


def test_multipart_replies_and_envelopes_come_whole(two) -> None:
    req_ctx, rep_ctx = two
    router = rep_ctx.socket(SocketType.ROUTER, rcvtimeo=TIMEOUT_MS)
    router.bind("tcp://127.0.0.1:*")
    req = req_ctx.socket(SocketType.REQ, rcvtimeo=TIMEOUT_MS, req_correlate=True,
                         req_relaxed=True)
    req.connect(router.last_endpoint.decode())

    def answer(msg: list[bytes]) -> list[bytes]:
        # a stale reply first (the id of an earlier request: REQ must drop it), then the
        # real one, three frames after the envelope
        identity, request_id, empty, body = msg
        stale = (int.from_bytes(request_id, "little") - 1) % (1 << 32)
        router.send_multipart([identity, stale.to_bytes(4, "little"), b"", b"stale"])
        return [identity, request_id, empty, body, b"two", b"three"]

    server = _serve(router, 60, answer)
    before = _direct_reads(req)
    for i in range(60):
        req.send(b"q%d" % i)
        assert req.recv() == b"q%d" % i
        assert req.rcvmore
        assert req.recv_multipart() == [b"two", b"three"]
    server.join(DEADLINE)
    # each stale reply and its real one reach the REQ in one read or in two: taken directly
    # only when one arrived alone; the stale ones are dropped either way
    assert _direct_reads(req) > before


def test_rep_keeps_the_envelope_of_a_request_read_directly(ctx, peers) -> None:
    rep, peer = _rep_with_raw_peer(ctx, peers)
    for i in range(20):
        waiter = _Waiter(rep)
        before = _direct_reads(rep)
        peer.conn.send_message([b"hop-%d" % i, b"", b"request-%d" % i])
        peer.flush()
        assert waiter.join() == [b"request-%d" % i]
        assert _direct_reads(rep) == before + 1
        rep.send(b"reply-%d" % i)
        assert peer.wait_messages(i + 1)[i] == [b"hop-%d" % i, b"", b"reply-%d" % i]


# -- and gives way ------------------------------------------------------------------------------


def test_two_messages_in_one_read_take_the_pipe_in_order(ctx, peers) -> None:
    rep, peer = _rep_with_raw_peer(ctx, peers)
    waiter = _Waiter(rep)
    before = _direct_reads(rep)
    peer.conn.send_messages([[b"", b"one"], [b"", b"two"]])
    peer.flush()  # one send(): one read
    assert waiter.join() == [b"one"]
    assert _direct_reads(rep) == before  # two came: neither was taken directly
    rep.send(b"reply-one")
    assert rep.recv_multipart() == [b"two"]  # queued in the pipe, behind it
    rep.send(b"reply-two")
    assert peer.wait_messages(2) == [[b"", b"reply-one"], [b"", b"reply-two"]]


def test_a_message_already_queued_is_received_before_the_one_read(ctx, peers) -> None:
    rep, peer = _rep_with_raw_peer(ctx, peers)
    waiter = _Waiter(rep)
    (pipe,) = rep._pipes
    # A message in the pipe that the waiting socket was not woken for (a loop that read
    # the fd after its tick took it back, racing the socket's wait): written by the
    # engine's end, under the loop's lease, with no flush
    lease = ctx.io_threads[0].wait_lease()
    try:
        assert pipe.peer.write([b"", b"queued"])
    finally:
        lease.release()
    before = _direct_reads(rep)
    peer.conn.send_message([b"", b"read"])
    peer.flush()
    assert waiter.join() == [b"queued"]
    rep.send(b"r1")
    assert rep.recv_multipart() == [b"read"]
    assert _direct_reads(rep) == before  # the read went behind it, into the pipe


def test_a_malformed_request_read_directly_is_dropped(ctx, peers) -> None:
    rep, peer = _rep_with_raw_peer(ctx, peers)
    waiter = _Waiter(rep)
    peer.conn.send_message([b"no delimiter"])
    peer.flush()
    time.sleep(0.1)  # read, dropped: the REP waits on
    peer.conn.send_message([b"", b"good"])
    peer.flush()
    assert waiter.join() == [b"good"]


def test_a_message_split_across_reads_arrives_whole(ctx, peers) -> None:
    rep, peer = _rep_with_raw_peer(ctx, peers)
    waiter = _Waiter(rep)
    peer.conn.send_message([b"", b"x" * 200, b"y" * 200])
    data = peer.conn.data_to_send()
    peer.sock.sendall(data[:150])  # the delimiter and part of the first body: no message
    time.sleep(0.1)
    assert not waiter.result
    peer.sock.sendall(data[150:])
    assert waiter.join() == [b"x" * 200, b"y" * 200]


def test_a_ping_with_a_ttl_in_front_of_a_request_takes_the_pipe_and_is_enforced(
        stepped, peers) -> None:
    rep, peer = _rep_with_raw_peer(stepped, peers, rcvtimeo=1500)  # (real time)
    log = EventRecorder(rep.event_bus, timeout=DEADLINE)
    stepped.sync()
    waiter = _Waiter(rep)
    before = _direct_reads(rep)
    peer.conn.send_ping(ttl=0.3)
    peer.conn.send_message([b"", b"request"])
    peer.flush()  # one read: a PING and a request
    assert waiter.join() == [b"request"]
    assert _direct_reads(rep) == before  # a command came with it: the ordinary way
    peer.pump(lambda evs: any(isinstance(e, Pong) for e in evs))
    rep.send(b"reply")
    peer.wait_messages(1)
    # the TTL timer was armed on the REP's thread, under the lease: the loop must see it
    waiter = _Waiter(rep)  # waiting again (the fd held) while the peer stays silent
    stepped.advance(0.299)
    assert not log.of(EventKind.DISCONNECTED), "dropped before the PING's TTL"
    stepped.advance(0.002)
    log.wait(EventKind.DISCONNECTED)
    peer.sock.settimeout(DEADLINE)
    assert peer.sock.recv(1 << 16) == b"", "still connected after the PING's TTL"
    assert isinstance(waiter.join(), zreactor.Again)  # nothing came: rcvtimeo ran out


def test_eof_during_the_wait_ends_the_connection_and_the_socket_serves_the_next(
        ctx, peers) -> None:
    rep, peer = _rep_with_raw_peer(ctx, peers, rcvtimeo=300)
    log = EventRecorder(rep.event_bus, timeout=DEADLINE)
    waiter = _Waiter(rep)
    peer.close()
    log.wait(EventKind.DISCONNECTED)
    assert isinstance(waiter.join(), zreactor.Again)  # nothing came: rcvtimeo ran out
    rep.rcvtimeo = TIMEOUT_MS
    nxt = RawPeer(rep.last_endpoint.decode())
    peers.append(nxt)
    nxt.handshake()
    _until_served(rep)
    _until_held(rep, nxt)
    waiter = _Waiter(rep)
    before = _direct_reads(rep)
    nxt.conn.send_message([b"", b"after"])
    nxt.flush()
    assert waiter.join() == [b"after"]
    assert _direct_reads(rep) == before + 1


def test_a_request_then_eof_in_one_wait_is_delivered(ctx, peers) -> None:
    rep, peer = _rep_with_raw_peer(ctx, peers)
    log = EventRecorder(rep.event_bus, timeout=DEADLINE)
    waiter = _Waiter(rep)
    peer.conn.send_message([b"", b"last words"])
    peer.flush()
    peer.sock.shutdown(socket.SHUT_WR)
    assert waiter.join() == [b"last words"]
    rep.send(b"to nobody")  # dropped, or lost with the connection
    # the read is held between calls (the EOF is read by the next wait); a recv that
    # does not wait gives it back to the loop, which reads the EOF
    with pytest.raises(zreactor.Again):
        rep.recv(zreactor.DONTWAIT)
    log.wait(EventKind.DISCONNECTED)


def test_a_second_peer_arriving_during_the_wait_is_served_too(two) -> None:
    req_ctx, rep_ctx = two
    rep = rep_ctx.socket(SocketType.REP, rcvtimeo=TIMEOUT_MS)
    rep.bind("tcp://127.0.0.1:*")
    endpoint = rep.last_endpoint.decode()
    first = req_ctx.socket(SocketType.REQ, rcvtimeo=TIMEOUT_MS)
    first.connect(endpoint)
    first.send(b"warm")
    assert rep.recv() == b"warm"
    rep.send(b"warm")
    assert first.recv() == b"warm"
    waiter = _Waiter(rep)  # waiting on the first peer's fd alone
    second = req_ctx.socket(SocketType.REQ, rcvtimeo=TIMEOUT_MS)
    second.connect(endpoint)
    second.send(b"from the second")
    first.send(b"from the first")
    got = [waiter.join()]
    rep.send(b"re: " + got[0][0])  # type: ignore[index]
    got.append(rep.recv_multipart())
    rep.send(b"re: " + got[1][0])  # type: ignore[index]
    assert sorted(got) == [[b"from the first"], [b"from the second"]]  # type: ignore[type-var]
    # each reply went to the pipe its request came from, however it was read
    assert first.recv() == b"re: from the first"
    assert second.recv() == b"re: from the second"
    assert len(rep._pipes) == 2  # now it waits on both, through the pipes


def _request_read_directly(req: zreactor.Socket, rep: zreactor.Socket) -> list[bytes]:
    """Ten round trips to settle, then one request ``rep`` must read directly: its frames."""
    server = _serve(rep, 10)
    for i in range(10):
        req.send(b"warm-%d" % i)
        assert req.recv() == b"warm-%d" % i
    server.join(DEADLINE)
    waiter = _Waiter(rep)
    before = _direct_reads(rep)
    req.send(b"who")
    msg = waiter.join()
    assert msg == [b"who"]
    assert _direct_reads(rep) == before + 1
    return msg  # type: ignore[return-value]


def test_curve_frames_read_directly_keep_their_metadata(two) -> None:
    req, rep = _req_rep(two, "tcp://127.0.0.1:*", curve=True)
    _request_read_directly(req, rep)
    # (recv_multipart copies: ask the pattern's envelope-free frame once more, uncopied)
    rep.send(b"you")
    assert req.recv() == b"you"
    req.send(b"who")
    frame = rep.recv(copy=False)
    assert frame.get("Socket-Type") == "REQ"
    assert frame.get("User-Id") == ""


def test_plain_frames_read_directly_keep_their_metadata(two) -> None:
    # PLAIN labels frames in the engine (no box to open): a lone message decoded for the
    # direct read (zmtp/frames.py, *A lone message*) must be labelled as a batch would be
    from zreactor.auth import ThreadAuthenticator

    req_ctx, rep_ctx = two
    auth = ThreadAuthenticator(rep_ctx)
    auth.start()
    try:
        auth.configure_plain("*", {"admin": "secret"})
        rep = rep_ctx.socket(SocketType.REP, rcvtimeo=TIMEOUT_MS, plain_server=True)
        rep.bind("tcp://127.0.0.1:*")
        req = req_ctx.socket(SocketType.REQ, rcvtimeo=TIMEOUT_MS, plain_username=b"admin",
                             plain_password=b"secret")
        req.connect(rep.last_endpoint.decode())
        (body,) = _request_read_directly(req, rep)
        # (recv() hands the frame over as it was read: the label is the engine's)
        assert body.properties["Socket-Type"] == "REQ"
        assert body.properties["User-Id"] == "admin"
        rep.send(b"you")
        assert req.recv() == b"you"
    finally:
        auth.stop()


def test_a_full_receive_queue_keeps_its_backlog_in_order(ctx, peers) -> None:
    rep, peer = _rep_with_raw_peer(ctx, peers, rcvhwm=1)
    waiter = _Waiter(rep)
    peer.conn.send_messages([[b"", b"m%d" % i] for i in range(5)])
    peer.flush()  # one read: one message into the pipe, four into the engine's backlog
    got = [waiter.join()]
    for i in range(4):
        rep.send(b"r")
        got.append(rep.recv_multipart())
    assert got == [[b"m%d" % i] for i in range(5)]
    rep.send(b"r")
    assert peer.wait_messages(5) == [[b"", b"r"]] * 5


# -- the writer's half (sockets/pipe.py, *Direct reads*) ----------------------------------------


class _Mailbox:
    def __init__(self) -> None:
        self.commands: list[object] = []

    def send(self, command: object) -> None:
        self.commands.append(command)


class _Sink:
    def __init__(self) -> None:
        self.mailbox = _Mailbox()

    def read_activated(self, pipe: object) -> None:
        pass

    def write_activated(self, pipe: object) -> None:
        pass


def test_write_alone_only_with_room_and_nothing_queued() -> None:
    writer, reader = pipepair((_Sink(), _Sink()), (1, 1))
    assert writer.write_alone()
    assert writer.write([b"queued"])
    assert not writer.write_alone()  # something queued ahead, and the HWM reached
    assert reader.read() == [b"queued"]
    # the queue is empty, but the writer has not heard of the read yet: still full
    assert not writer.write_alone()
    writer.process_activate_write(1)  # (what the reader's ACTIVATE_WRITE runs)
    assert writer.write_alone()
    writer.terminate(False)
    assert not writer.write_alone()  # a terminating end writes nothing
