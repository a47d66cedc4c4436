"""STREAM sockets through the public API, against plain Python sockets over loopback.

What a user of ``zmq.STREAM`` relies on (libzmq's semantics, ``sockets/stream.py``): raw
bytes both ways, ``[routing_id, chunk]`` on receipt, the empty-message notifications of a
connection made and lost, closing a connection with an empty send, ``EHOSTUNREACH`` for an
unknown routing id, ``CONNECT_ROUTING_ID``, many connections at once, flow control, monitor
events, polling, tcp and ipc.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import pytest

import zreactor as zmq

pytestmark = pytest.mark.timeout(30)

MS = 5000


def stream(ctx: zmq.Context, **options: Any) -> zmq.Socket:
    """A bounded STREAM socket (linger 0, 5 s timeouts)."""
    sock = ctx.socket(zmq.STREAM)
    for name, value in {"linger": 0, "rcvtimeo": MS, "sndtimeo": MS, **options}.items():
        sock.setsockopt(getattr(zmq, name.upper()), value)
    return sock


def bound(ctx: zmq.Context, **options: Any) -> tuple[zmq.Socket, int]:
    sock = stream(ctx, **options)
    return sock, sock.bind_to_random_port("tcp://127.0.0.1")


def client(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn.settimeout(5)
    return conn


def read_to_eof(conn: socket.socket) -> bytes:
    data = bytearray()
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return bytes(data)
        data += chunk


def recv_exactly(sock: zmq.Socket, rid: bytes, size: int) -> bytes:
    """Chunks from ``rid`` until ``size`` bytes came (the kernel splits a stream anywhere)."""
    data = bytearray()
    while len(data) < size:
        got_rid, chunk = sock.recv_multipart()
        assert got_rid == rid and chunk, (got_rid, chunk)
        data += chunk
    return bytes(data)


class PlainServer:
    """A listening plain socket on loopback; ``accept()`` with a timeout."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]

    def accept(self) -> socket.socket:
        conn, _ = self.sock.accept()
        conn.settimeout(5)
        return conn

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def plain_server() -> Any:
    server = PlainServer()
    yield server
    server.close()


# -- a server for plain clients ---------------------------------------------------------------


def test_an_http_like_exchange_with_a_plain_client(ctx: zmq.Context) -> None:
    server, port = bound(ctx)
    conn = client(port)
    rid, empty = server.recv_multipart()
    assert empty == b"" and rid[:1] == b"\x00" and len(rid) == 5  # the connect notification
    conn.sendall(b"GET /index HTTP/1.0\r\n\r\n")
    assert recv_exactly(server, rid, 23) == b"GET /index HTTP/1.0\r\n\r\n"
    body = b"<html>" + b"x" * 100_000 + b"</html>"
    server.send_multipart([rid, b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)])
    server.send_multipart([rid, body])
    server.send_multipart([rid, b""])  # close: everything before goes out first
    # the FIN comes without another call into the socket
    assert read_to_eof(conn) == b"HTTP/1.0 200 OK\r\nContent-Length: 100013\r\n\r\n" + body
    conn.close()
    # our own close is not reported as a disconnection
    assert server.poll(200) == 0


def test_the_connection_notifications(ctx: zmq.Context) -> None:
    server, port = bound(ctx)
    conn = client(port)
    rid, empty = server.recv_multipart()
    assert empty == b""
    conn.sendall(b"hello")
    assert server.recv_multipart() == [rid, b"hello"]
    conn.close()  # the peer vanishes
    assert server.recv_multipart() == [rid, b""]


def test_notifications_can_be_turned_off(ctx: zmq.Context) -> None:
    server, port = bound(ctx, stream_notify=0)
    conn = client(port)
    conn.sendall(b"first")
    rid, data = server.recv_multipart()
    assert data == b"first"
    conn.close()
    assert server.poll(300) == 0  # no disconnection message either
    with pytest.raises(zmq.ZMQError) as info:
        server.getsockopt(zmq.STREAM_NOTIFY)  # write-only, as in libzmq
    assert info.value.errno == zmq.EINVAL


def test_a_peer_that_half_closes_is_disconnected_after_our_queue_flushes(ctx: zmq.Context) -> None:
    server, port = bound(ctx)
    conn = client(port)
    rid, _ = server.recv_multipart()
    conn.sendall(b"request")
    conn.shutdown(socket.SHUT_WR)
    assert server.recv_multipart() == [rid, b"request"]
    assert server.recv_multipart() == [rid, b""]  # libzmq: a FIN is a lost connection
    assert read_to_eof(conn) == b""
    conn.close()


def test_unknown_routing_ids_are_unreachable(ctx: zmq.Context) -> None:
    server, port = bound(ctx)
    with pytest.raises(zmq.ZMQError) as info:
        server.send_multipart([b"\x00nope", b"data"])
    assert info.value.errno == zmq.EHOSTUNREACH
    conn = client(port)
    rid, _ = server.recv_multipart()
    server.send(rid)  # one frame names nobody: dropped
    server.send_multipart([rid, b"ok", b"odd"])  # a trailing odd frame: dropped
    server.send_multipart([rid, b"", b"\x00nope"])
    assert read_to_eof(conn) == b"ok"
    conn.close()


def test_pairs_in_one_message_go_out_in_order(ctx: zmq.Context) -> None:
    server, port = bound(ctx)
    conn = client(port)
    rid, _ = server.recv_multipart()
    # a message of several pairs is checked whole: nothing of it goes out
    with pytest.raises(zmq.ZMQError) as info:
        server.send_multipart([rid, b"never", b"\x00nope", b"x"])
    assert info.value.errno == zmq.EHOSTUNREACH
    server.send_multipart([rid, b"ab", rid, b"cd", rid, b""])  # pairs, as libzmq reads them
    assert read_to_eof(conn) == b"abcd"
    conn.close()


def test_pairs_for_one_connection_are_never_split_by_a_full_pipe(ctx: zmq.Context) -> None:
    # sndhwm=1: a pipe with room for one write. Each message names the connection twice;
    # checking room per connection and writing pair by pair dropped the second pair.
    server, port = bound(ctx, sndhwm=1)
    conn = client(port)
    rid, _ = server.recv_multipart()
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(read_to_eof(conn)))
    reader.start()
    expected = bytearray()
    for i in range(200):
        first, second = b"%05d<" % i + b"a" * 20_000, b">%05d" % i + b"b" * 20_000
        server.send_multipart([rid, first, rid, second])
        expected += first + second
    server.send_multipart([rid, b""])
    reader.join(10)
    assert got and got[0] == bytes(expected)
    conn.close()


def test_a_pair_after_its_connection_closed_in_the_same_message_is_refused(
    ctx: zmq.Context,
) -> None:
    server, port = bound(ctx)
    conn = client(port)
    rid, _ = server.recv_multipart()
    with pytest.raises(zmq.ZMQError) as info:
        server.send_multipart([rid, b"a", rid, b"", rid, b"late"])
    assert info.value.errno == zmq.EHOSTUNREACH
    server.send_multipart([rid, b"whole", rid, b""])  # nothing of the refused one went out
    assert read_to_eof(conn) == b"whole"
    conn.close()


def test_a_closed_connection_becomes_unreachable(ctx: zmq.Context) -> None:
    server, port = bound(ctx)
    conn = client(port)
    rid, _ = server.recv_multipart()
    server.send_multipart([rid, b"bye"])
    server.send_multipart([rid, b""])
    assert read_to_eof(conn) == b"bye"
    conn.close()
    # once the pipe's termination has run (the send waits for it), the id names nobody
    with pytest.raises(zmq.ZMQError) as info:
        server.send_multipart([rid, b"more"])
    assert info.value.errno == zmq.EHOSTUNREACH


def test_a_vanished_peer_becomes_unreachable(ctx: zmq.Context) -> None:
    server, port = bound(ctx)
    conn = client(port)
    rid, _ = server.recv_multipart()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()  # a reset
    assert server.recv_multipart() == [rid, b""]
    with pytest.raises(zmq.ZMQError) as info:
        server.send_multipart([rid, b"anyone?"])
    assert info.value.errno == zmq.EHOSTUNREACH


def test_many_connections(ctx: zmq.Context) -> None:
    server, port = bound(ctx)
    conns = [client(port) for _ in range(60)]
    ids = set()
    for _ in conns:
        rid, empty = server.recv_multipart()
        assert empty == b""
        ids.add(rid)
    assert len(ids) == 60
    for n, conn in enumerate(conns):
        conn.sendall(b"n=%03d;" % n)
    seen: dict[bytes, bytes] = {}
    while len(seen) < 60 or any(len(v) < 6 for v in seen.values()):
        rid, chunk = server.recv_multipart()
        seen[rid] = seen.get(rid, b"") + chunk
    for rid, text in seen.items():
        server.send_multipart([rid, text.upper()])
        server.send_multipart([rid, b""])
    replies = sorted(read_to_eof(conn) for conn in conns)
    assert replies == sorted(b"N=%03d;" % n for n in range(60))
    for conn in conns:
        conn.close()


def test_large_streams_both_ways_keep_their_bytes_and_order(ctx: zmq.Context) -> None:
    server, port = bound(ctx, rcvhwm=4)  # a tiny pipe: the engine must stop reading
    conn = client(port)
    rid, _ = server.recv_multipart()
    upload = os.urandom(3_000_000)
    sender = threading.Thread(target=conn.sendall, args=(upload,))
    sender.start()
    time.sleep(0.2)  # let the pipe fill up and the kernel buffers too
    assert recv_exactly(server, rid, len(upload)) == upload
    sender.join(5)
    download = os.urandom(3_000_000)
    got = bytearray()
    reader = threading.Thread(target=lambda: got.extend(read_to_eof(conn)))
    reader.start()
    server.send_multipart([rid, download[:1_000_000]])
    server.send_multipart([rid, download[1_000_000:]])
    server.send_multipart([rid, b""])
    reader.join(10)
    assert bytes(got) == download
    conn.close()


def test_received_chunks_carry_the_peer_address(ctx: zmq.Context) -> None:
    server, port = bound(ctx)
    conn = client(port)
    server.recv_multipart()
    conn.sendall(b"who am I")
    rid = server.recv(copy=False)
    frame = server.recv(copy=False)
    assert frame.bytes == b"who am I"
    assert frame.get("Peer-Address") == "127.0.0.1"
    conn.close()


def test_poll_and_events(ctx: zmq.Context) -> None:
    server, port = bound(ctx)
    assert server.getsockopt(zmq.EVENTS) == zmq.POLLOUT  # always writable, as libzmq
    poller = zmq.Poller()
    poller.register(server, zmq.POLLIN)
    assert poller.poll(50) == []
    conn = client(port)
    assert dict(poller.poll(MS)) == {server: zmq.POLLIN}
    rid, _ = server.recv_multipart()
    assert poller.poll(50) == []
    conn.sendall(b"x")
    assert dict(poller.poll(MS)) == {server: zmq.POLLIN}
    assert server.recv_multipart() == [rid, b"x"]
    conn.close()


def test_monitor_events(ctx: zmq.Context, plain_server: PlainServer) -> None:
    from zreactor.utils.monitor import recv_monitor_message

    server, port = bound(ctx)
    mon = server.get_monitor_socket()
    conn = client(port)
    server.recv_multipart()
    conn.close()
    server.recv_multipart()
    seen = []
    while zmq.EVENT_DISCONNECTED not in seen:
        assert mon.poll(MS)
        seen.append(recv_monitor_message(mon)["event"])
    assert zmq.EVENT_ACCEPTED in seen
    dialer = stream(ctx)
    cmon = dialer.get_monitor_socket()
    dialer.connect(f"tcp://127.0.0.1:{plain_server.port}")
    accepted = plain_server.accept()
    assert cmon.poll(MS)
    events = []
    while zmq.EVENT_CONNECTED not in events:
        assert cmon.poll(MS)
        events.append(recv_monitor_message(cmon)["event"])
    accepted.close()
    server.disable_monitor()
    dialer.disable_monitor()
    mon.close()
    cmon.close()


# -- a client of plain servers ----------------------------------------------------------------


def test_a_client_learns_its_routing_id_at_connect(ctx: zmq.Context, plain_server: PlainServer) -> None:
    dialer = stream(ctx)
    dialer.connect(f"tcp://127.0.0.1:{plain_server.port}")
    rid = dialer.getsockopt(zmq.ROUTING_ID)
    assert len(rid) == 5 and rid[:1] == b"\x00"
    conn = plain_server.accept()
    assert dialer.recv_multipart() == [rid, b""]
    dialer.send_multipart([rid, b"ping"])
    assert conn.recv(4) == b"ping"
    conn.sendall(b"pong")
    assert dialer.recv_multipart() == [rid, b"pong"]
    conn.close()
    assert dialer.recv_multipart() == [rid, b""]  # lost...
    again = plain_server.accept()  # ...and redialled, under the same routing id (libzmq's)
    assert dialer.recv_multipart() == [rid, b""]
    dialer.send_multipart([rid, b"still me"])
    assert again.recv(8) == b"still me"
    dialer.send_multipart([rid, b""])  # closing ends the redialling too
    assert read_to_eof(again) == b""
    again.close()
    plain_server.sock.settimeout(0.5)
    with pytest.raises(socket.timeout):
        plain_server.accept()


def test_data_sent_before_the_connection_exists_waits_for_it(ctx: zmq.Context) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]  # not listening yet: the first attempts are refused
    dialer = stream(ctx, reconnect_ivl=20)
    dialer.connect(f"tcp://127.0.0.1:{port}")
    rid = dialer.getsockopt(zmq.ROUTING_ID)
    dialer.send_multipart([rid, b"early"])
    time.sleep(0.1)
    listener.listen(1)
    listener.settimeout(5)
    conn, _ = listener.accept()
    conn.settimeout(5)
    assert conn.recv(5) == b"early"
    assert dialer.recv_multipart() == [rid, b""]
    conn.close()
    listener.close()


def test_connect_routing_id(ctx: zmq.Context, plain_server: PlainServer) -> None:
    dialer = stream(ctx)
    dialer.setsockopt(zmq.CONNECT_ROUTING_ID, b"backend-1")
    dialer.connect(f"tcp://127.0.0.1:{plain_server.port}")
    first = plain_server.accept()
    assert dialer.recv_multipart() == [b"backend-1", b""]
    # one-shot: the next connect gets a generated id
    dialer.connect(f"tcp://127.0.0.1:{plain_server.port}")
    second = plain_server.accept()
    rid, empty = dialer.recv_multipart()
    assert rid[:1] == b"\x00" and empty == b""
    dialer.send_multipart([b"backend-1", b"one"])
    dialer.send_multipart([rid, b"two"])
    assert (first.recv(3), second.recv(3)) == (b"one", b"two")
    dialer.setsockopt(zmq.CONNECT_ROUTING_ID, b"backend-1")
    with pytest.raises(zmq.ZMQError) as info:  # libzmq aborts the process here
        dialer.connect(f"tcp://127.0.0.1:{plain_server.port}")
    assert info.value.errno == zmq.EINVAL
    for bad in (b"", b"x" * 256):
        with pytest.raises(zmq.ZMQError):
            dialer.setsockopt(zmq.CONNECT_ROUTING_ID, bad)
    with pytest.raises(zmq.ZMQError):
        dialer.getsockopt(zmq.CONNECT_ROUTING_ID)
    first.close()
    second.close()


def test_connect_routing_id_names_a_router_s_peer(ctx: zmq.Context) -> None:
    dealer = ctx.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.rcvtimeo = MS
    port = dealer.bind_to_random_port("tcp://127.0.0.1")
    router = ctx.socket(zmq.ROUTER)
    router.linger = 0
    router.router_mandatory = 1
    router.setsockopt(zmq.CONNECT_ROUTING_ID, b"the-dealer")
    router.connect(f"tcp://127.0.0.1:{port}")
    deadline = time.monotonic() + 5
    while True:  # the name exists once the handshake completed
        try:
            router.send_multipart([b"the-dealer", b"hello"])
            break
        except zmq.ZMQError as exc:
            assert exc.errno == zmq.EHOSTUNREACH and time.monotonic() < deadline
            time.sleep(0.01)
    assert dealer.recv() == b"hello"


# -- transports ---------------------------------------------------------------------------------


def test_ipc(ctx: zmq.Context, ipc_dir: str) -> None:
    path = os.path.join(ipc_dir, "raw")
    server = stream(ctx)
    server.bind(f"ipc://{path}")
    conn = socket.socket(socket.AF_UNIX)
    conn.settimeout(5)
    conn.connect(path)
    rid, _ = server.recv_multipart()
    conn.sendall(b"over a unix socket")
    assert recv_exactly(server, rid, 18) == b"over a unix socket"
    server.send_multipart([rid, b"ok"])
    server.send_multipart([rid, b""])
    assert read_to_eof(conn) == b"ok"
    conn.close()


def test_inproc_is_refused(ctx: zmq.Context) -> None:
    sock = stream(ctx)
    for call in (sock.bind, sock.connect):
        with pytest.raises(zmq.ZMQError) as info:
            call("inproc://raw")
        assert info.value.errno == zmq.EPROTONOSUPPORT


def test_a_stream_socket_meets_a_stream_socket(ctx: zmq.Context) -> None:
    server, port = bound(ctx)
    dialer = stream(ctx)
    dialer.connect(f"tcp://127.0.0.1:{port}")
    rid = dialer.getsockopt(zmq.ROUTING_ID)
    assert dialer.recv_multipart() == [rid, b""]
    srid, _ = server.recv_multipart()
    dialer.send_multipart([rid, b"raw bytes"])
    assert recv_exactly(server, srid, 9) == b"raw bytes"
    server.send_multipart([srid, b"back"])
    assert recv_exactly(dialer, rid, 4) == b"back"


def test_an_asyncio_stream_server_with_asyncio_clients() -> None:
    import asyncio

    import zreactor.asyncio as zaio

    async def scenario() -> list[bytes]:
        ctx = zaio.Context()
        server = ctx.socket(zmq.STREAM)
        server.linger = 0
        port = server.bind_to_random_port("tcp://127.0.0.1")

        async def serve(expected: int) -> None:
            done = 0
            while done < expected:
                rid, data = await server.recv_multipart()
                if data:  # echo upper-cased, then close
                    await server.send_multipart([rid, data.upper()])
                    await server.send_multipart([rid, b""])
                    done += 1

        async def client(n: int) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"client %d" % n)
            await writer.drain()
            reply = await reader.read()  # to EOF: the server closed
            writer.close()
            return reply

        try:
            task = asyncio.ensure_future(serve(5))
            replies = await asyncio.wait_for(asyncio.gather(*(client(n) for n in range(5))), 10)
            await asyncio.wait_for(task, 10)
            return list(replies)
        finally:
            server.close()
            ctx.term()

    assert asyncio.run(scenario()) == [b"CLIENT %d" % n for n in range(5)]


def test_request_and_response_go_through_the_caller_shortcut(ctx: zmq.Context) -> None:
    """A raw connection serves its session's caller shortcut as a ZMTP one does: a waiting
    server reads the request itself and writes the response itself (zmtp/shortcut.py)."""
    server, port = bound(ctx)
    conn = client(port)
    rid, _ = server.recv_multipart()
    (pipe,) = server._pipes  # tests look inside: the connection's pipe and its shortcut
    shortcut = pipe.shortcut
    answers: list[bytes] = []

    def requests() -> None:
        for n in range(100):
            time.sleep(0.002)  # the server is waiting by now: it reads the request itself
            conn.sendall(b"request %03d" % n)
            got = b""
            while len(got) < 12:
                got += conn.recv(12 - len(got))
            answers.append(got)

    thread = threading.Thread(target=requests)
    thread.start()
    for n in range(100):
        assert recv_exactly(server, rid, 11) == b"request %03d" % n
        server.send_multipart([rid, b"response %03d" % n])
    thread.join(10)
    assert answers == [b"response %03d" % n for n in range(100)]
    assert shortcut.reads > 0 and shortcut.writes > 0, (shortcut.reads, shortcut.writes)
    conn.close()


def test_a_peer_that_does_not_read_makes_send_block(ctx: zmq.Context) -> None:
    server, port = bound(ctx, sndhwm=2, sndtimeo=200)
    conn = client(port)
    rid, _ = server.recv_multipart()
    chunk = b"z" * 1_000_000
    sent = 0
    with pytest.raises(zmq.Again):
        for _ in range(100):  # the kernel, the engine's queue, then two in the pipe
            server.send_multipart([rid, chunk])
            sent += 1
    assert 2 < sent < 100
    server.send_multipart([rid, b""])  # closing never waits for room
    assert len(read_to_eof(conn)) == sent * len(chunk)
    conn.close()


def test_closing_the_socket_delivers_within_linger(ctx: zmq.Context, plain_server: PlainServer) -> None:
    server, port = bound(ctx)
    conn = client(port)
    rid, _ = server.recv_multipart()
    payload = os.urandom(3_000_000)
    server.send_multipart([rid, payload])
    server.close(linger=5000)
    assert read_to_eof(conn) == payload
    conn.close()
    dialer = stream(ctx, linger=5000)
    dialer.connect(f"tcp://127.0.0.1:{plain_server.port}")
    rid = dialer.getsockopt(zmq.ROUTING_ID)
    dialer.send_multipart([rid, b"queued before the connection existed"])
    dialer.close()
    accepted = plain_server.accept()
    assert read_to_eof(accepted) == b"queued before the connection existed"
    accepted.close()
