"""StreamEngine over real loopback TCP: echo, backpressure, half-close, EOF, resets, codecs."""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
import time
from typing import Iterator

import pytest

from zreactor import (
    Context,
    EngineState,
    LineCodec,
    ProtocolError,
    ReadState,
    StreamEngine,
    WriteState,
)
from zreactor.reactor.stream import READ_TRANSITIONS, WRITE_TRANSITIONS, ReadEvent, WriteEvent

pytestmark = pytest.mark.timeout(20)


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        assert chunk, f"EOF after {len(buf)} of {n} bytes"
        buf += chunk
    return bytes(buf)


def recv_until_eof(sock: socket.socket) -> bytes:
    buf = bytearray()
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return bytes(buf)
        buf += chunk


class Tracked(StreamEngine):
    """A stream engine that records its ending."""

    def __init__(self, sock: socket.socket, **kwargs) -> None:
        super().__init__(sock, **kwargs)
        self.reasons: list[BaseException | None] = []
        self.received = bytearray()
        self.eofs = 0
        self.attached_event = threading.Event()
        self.closed_event = threading.Event()

    def attached(self) -> None:
        self.attached_event.set()

    def data_received(self, data: bytes) -> None:
        self.received += data

    def eof_received(self):
        self.eofs += 1
        return super().eof_received()

    def closed(self, reason) -> None:
        self.reasons.append(reason)
        self.closed_event.set()


class Echo(Tracked):
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.write(data)


@pytest.fixture
def ctx() -> Iterator[Context]:
    c = Context(io_threads=2)
    yield c
    c.term(linger=0)


@pytest.fixture
def tcp() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(server side for the engine, client side for the test), connected over loopback."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname(), timeout=5)
    server, _ = listener.accept()
    listener.close()
    yield server, client
    server.close()
    client.close()


def test_echo_over_loopback(ctx: Context, tcp) -> None:
    server, client = tcp
    e = ctx.launch(Echo(server))
    assert e.endpoint == "tcp://127.0.0.1:%d" % client.getsockname()[1]
    payload = bytes(range(256)) * 4000  # ~1 MB, several reads and writes
    sender = threading.Thread(target=client.sendall, args=(payload,))
    sender.start()
    assert recv_exactly(client, len(payload)) == payload
    sender.join()
    client.close()
    assert e.closed_event.wait(5)  # after closed(), the I/O thread is done counting
    assert e.bytes_received == e.bytes_sent == len(payload)
    assert e.reasons == [None] and e.eofs == 1


#: The rows of the two half-stream tables, and the test that takes each (checked below).
HALF_ROWS = {
    (ReadState.OPEN, ReadEvent.PAUSE): "test_write_backpressure_pauses_and_resumes_reading",
    (ReadState.PAUSED, ReadEvent.RESUME): "test_write_backpressure_pauses_and_resumes_reading",
    (ReadState.OPEN, ReadEvent.EOF): "test_half_close_shutdown_write",
    (WriteState.OPEN, WriteEvent.SHUTDOWN): "test_half_close_shutdown_write",
    (WriteState.SHUTTING, WriteEvent.FIN): "test_half_close_shutdown_write",
}


@pytest.fixture
def half_rows():
    """The half-stream rows taken during the test, per engine: ``rows(engine)``."""
    with READ_TRANSITIONS.record() as reads, WRITE_TRANSITIONS.record() as writes:
        yield lambda engine: {(s.source, s.event) for s in reads + writes if s.obj is engine}


def _rows_of(test_name: str) -> set:
    return {row for row, name in HALF_ROWS.items() if name == test_name}


def test_every_half_stream_row_has_a_test() -> None:
    assert set(HALF_ROWS) == set(READ_TRANSITIONS) | set(WRITE_TRANSITIONS)


def test_write_backpressure_pauses_and_resumes_reading(ctx: Context, tcp, half_rows) -> None:
    server, client = tcp
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    e = ctx.launch(Echo(server, high_water=64 * 1024, low_water=16 * 1024))
    assert e.attached_event.wait(5)
    client.setblocking(False)
    sent = hashlib.sha256()
    sent_bytes = 0
    chunk = bytes(range(256)) * 256  # 64 KiB
    # Send without reading until nobody can take more: the engine must have stopped reading.
    deadline = time.monotonic() + 10
    blocked_since = None
    while True:
        assert time.monotonic() < deadline, f"never blocked; engine {e.read_state}"
        try:
            n = client.send(chunk)
            sent.update(chunk[:n])
            sent_bytes += n
            blocked_since = None
        except BlockingIOError:
            blocked_since = blocked_since or time.monotonic()
            if time.monotonic() - blocked_since > 0.2:
                break
            time.sleep(0.01)
    assert e.read_state is ReadState.PAUSED
    assert e.write_buffer_size > e.high_water
    frozen = e.bytes_received
    time.sleep(0.1)
    assert e.bytes_received == frozen, "the engine kept reading while paused"
    assert frozen < sent_bytes

    # Now the peer reads: the queue drains below the low mark and reading resumes.
    client.setblocking(True)
    client.settimeout(5)
    got = hashlib.sha256()
    received = 0
    while received < sent_bytes:
        data = client.recv(1 << 20)
        assert data
        got.update(data)
        received += len(data)
    assert got.hexdigest() == sent.hexdigest()  # intact and in order
    wait_for(lambda: e.read_state is ReadState.OPEN)
    assert e.bytes_received == sent_bytes
    assert e.write_buffer_size == 0
    assert half_rows(e) == _rows_of("test_write_backpressure_pauses_and_resumes_reading")


def test_half_close_shutdown_write(ctx: Context, tcp, half_rows) -> None:
    server, client = tcp
    errors: list[BaseException] = []

    class HalfCloser(Tracked):
        def attached(self) -> None:
            self.write(b"hello")
            self.shutdown_write()
            assert self.write_state in (WriteState.SHUTTING, WriteState.SHUT)
            try:
                self.write(b"more")
            except RuntimeError as exc:
                errors.append(exc)
            super().attached()

    e = ctx.launch(HalfCloser(server))
    assert recv_until_eof(client) == b"hello"  # our FIN reached the peer
    assert e.attached_event.wait(5)
    assert e.write_state is WriteState.SHUT
    assert len(errors) == 1  # writing after shutdown_write is refused
    client.sendall(b"still reading")
    wait_for(lambda: bytes(e.received) == b"still reading")
    assert e.state is EngineState.ATTACHED
    client.shutdown(socket.SHUT_WR)  # both halves done: the engine closes
    assert e.closed_event.wait(5)
    assert e.reasons == [None]
    assert half_rows(e) == _rows_of("test_half_close_shutdown_write")


def test_eof_received_true_keeps_writing(ctx: Context, tcp) -> None:
    server, client = tcp

    class Responder(Tracked):
        def eof_received(self):
            super().eof_received()
            self.call_later(0.05, self.reply)
            return True

        def reply(self) -> None:
            self.write(b"got " + bytes(self.received))
            self.shutdown_write()

    e = ctx.launch(Responder(server))
    client.sendall(b"request")
    client.shutdown(socket.SHUT_WR)
    assert recv_until_eof(client) == b"got request"
    assert e.closed_event.wait(5)
    assert e.eofs == 1 and e.reasons == [None]


def test_eof_closes_by_default(ctx: Context, tcp) -> None:
    server, client = tcp
    e = ctx.launch(Tracked(server))
    client.sendall(b"last words")
    client.close()
    assert e.closed_event.wait(5)
    assert bytes(e.received) == b"last words"
    assert e.eofs == 1 and e.reasons == [None]
    assert e.read_state is ReadState.EOF


def test_eof_flushes_pending_output_before_closing(ctx: Context, tcp) -> None:
    server, client = tcp
    big = b"q" * (4 * 1024 * 1024)

    class Bulk(Tracked):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self.write(big)

    # a high mark above the payload: the engine keeps reading, so it sees the EOF while
    # megabytes are still queued (below the mark it would pause and see it only later)
    e = ctx.launch(Bulk(server, high_water=len(big) * 2))
    client.sendall(b"go")
    client.shutdown(socket.SHUT_WR)
    wait_for(lambda: e.eofs == 1)
    assert e.state is EngineState.CLOSING
    assert recv_until_eof(client) == big
    assert e.closed_event.wait(5)
    assert e.reasons == [None]


def test_connection_reset_closes_with_the_error(ctx: Context, tcp) -> None:
    server, client = tcp
    e = ctx.launch(Tracked(server))
    assert e.attached_event.wait(5)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # RST
    assert e.closed_event.wait(5)
    assert len(e.reasons) == 1 and isinstance(e.reasons[0], ConnectionError)
    assert e.state is EngineState.CLOSED


def test_write_to_a_reset_peer_closes_with_the_error(ctx: Context, tcp) -> None:
    server, client = tcp

    class Writer(Tracked):
        def attached(self) -> None:
            self.reset_pollin(self._handle)  # only the write path can notice
            super().attached()

    e = ctx.launch(Writer(server))
    assert e.attached_event.wait(5)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    time.sleep(0.05)
    for _ in range(50):
        e.write_threadsafe(b"x" * 65536)
        if e.closed_event.wait(0.02):
            break
    assert e.closed_event.wait(5)
    assert len(e.reasons) == 1 and isinstance(e.reasons[0], ConnectionError)


def test_write_threadsafe_from_other_threads(ctx: Context, tcp) -> None:
    server, client = tcp
    e = ctx.launch(Tracked(server))
    assert e.attached_event.wait(5)

    def writer(k: int) -> None:
        for i in range(200):
            e.write_threadsafe(f"{k}:{i}\n".encode())

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = sum(len(f"{k}:{i}\n") for k in range(4) for i in range(200))
    lines = recv_exactly(client, expected).decode().splitlines()
    for k in range(4):
        assert [int(x.split(":")[1]) for x in lines if x.startswith(f"{k}:")] == list(range(200))
    e.close_threadsafe()
    assert e.closed_event.wait(5)
    e.write_threadsafe(b"ignored")  # after the end: dropped, no error
    time.sleep(0.05)
    assert recv_until_eof(client) == b""


class Upper(Tracked):
    """Line protocol: answer each line in upper case."""

    def __init__(self, sock: socket.socket, max_line: int = 1024) -> None:
        super().__init__(sock, codec=LineCodec(max_line=max_line))
        self.messages: list[bytes] = []

    def message_received(self, message: bytes) -> None:
        self.messages.append(message)
        self.send(message.upper())


def test_codec_path(ctx: Context, tcp) -> None:
    server, client = tcp
    e = ctx.launch(Upper(server))
    data = b"hello\nworld\n\nlast\n"
    for i in range(len(data)):  # one byte at a time: the codec reassembles
        client.send(data[i : i + 1])
    assert recv_exactly(client, len(data)) == data.upper()
    assert e.messages == [b"hello", b"world", b"", b"last"]


def test_send_without_codec_is_refused(ctx: Context, tcp) -> None:
    server, _ = tcp
    e = ctx.launch(Tracked(server))
    assert e.attached_event.wait(5)
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            e.send(b"x")
        except RuntimeError as exc:
            outcome.append(exc)

    e.call_threadsafe(attempt)
    wait_for(lambda: outcome)


def test_protocol_error_drops_only_that_connection(ctx: Context) -> None:
    pairs = []
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        for _ in range(2):
            client = socket.create_connection(listener.getsockname(), timeout=5)
            server, _ = listener.accept()
            pairs.append((server, client))
    finally:
        listener.close()
    try:
        bad = ctx.launch(Upper(pairs[0][0], max_line=16), ctx.io_threads[0])
        good = ctx.launch(Upper(pairs[1][0], max_line=16), ctx.io_threads[0])
        pairs[0][1].sendall(b"ok\n")
        assert recv_exactly(pairs[0][1], 3) == b"OK\n"
        pairs[0][1].sendall(b"x" * 100 + b"\n")
        assert bad.closed_event.wait(5)
        assert len(bad.reasons) == 1 and isinstance(bad.reasons[0], ProtocolError)
        assert recv_until_eof(pairs[0][1]) == b""  # dropped
        pairs[1][1].sendall(b"fine\n")
        assert recv_exactly(pairs[1][1], 5) == b"FINE\n"
        assert good.state is EngineState.ATTACHED
    finally:
        for s, c in pairs:
            s.close()
            c.close()


def test_good_lines_before_an_oversize_one_are_delivered(ctx: Context, tcp) -> None:
    server, client = tcp
    e = ctx.launch(Upper(server, max_line=16))
    client.sendall(b"a\nb\n" + b"x" * 100 + b"\n")  # one chunk: two good lines, then a bad one
    assert e.closed_event.wait(5)
    assert e.messages == [b"a", b"b"]
    assert isinstance(e.reasons[0], ProtocolError)


def test_watermark_validation(tcp) -> None:
    server, _ = tcp
    with pytest.raises(ValueError):
        StreamEngine(server, high_water=10, low_water=11)
    with pytest.raises(ValueError):
        StreamEngine(server, high_water=10, low_water=-1)


def test_write_before_attach_is_refused(tcp) -> None:
    server, _ = tcp
    e = StreamEngine(server)
    with pytest.raises(RuntimeError):
        e.write(b"x")


class Responder(Tracked):
    """Answers one request with ``size`` bytes, then closes (flushing for ``close_linger``)."""

    def __init__(self, sock: socket.socket, size: int, linger: float, **kwargs) -> None:
        super().__init__(sock, **kwargs)
        self.size = size
        self.close_linger = linger

    def data_received(self, data: bytes) -> None:
        self.write(b"x" * self.size)
        self.close()


def test_a_linger_that_runs_out_resets_and_says_why(ctx: Context, tcp) -> None:
    """A slow reader must not take a truncated response for a whole one (no clean FIN)."""
    server, client = tcp
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    e = ctx.launch(Responder(server, 8 << 20, linger=0.3, high_water=16 << 20))
    assert e.attached_event.wait(5)
    client.sendall(b"GET\n")
    assert e.closed_event.wait(5)  # the reader did not read: the linger ran out
    (reason,) = e.reasons
    assert isinstance(reason, TimeoutError) and "still queued" in str(reason)
    got = 0
    with pytest.raises(ConnectionResetError):
        while True:  # what the kernel had taken arrives, then the reset, never an EOF
            chunk = client.recv(1 << 20)
            assert chunk, f"a clean EOF after {got} of {8 << 20} bytes: silent truncation"
            got += len(chunk)
    assert got < 8 << 20


def test_a_flush_within_the_linger_still_ends_with_a_clean_fin(ctx: Context, tcp) -> None:
    server, client = tcp
    e = ctx.launch(Responder(server, 1 << 20, linger=5.0))
    assert e.attached_event.wait(5)
    client.sendall(b"GET\n")
    assert len(recv_until_eof(client)) == 1 << 20
    assert e.closed_event.wait(5) and e.reasons == [None]


def test_a_term_that_caps_a_running_flush_resets_too(tcp) -> None:
    """close() started a long flush; the owner's term(linger) cuts it short: still a reset."""
    server, client = tcp
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    c = Context(io_threads=1)
    e = c.launch(Responder(server, 8 << 20, linger=30.0, high_water=16 << 20))
    assert e.attached_event.wait(5)
    client.sendall(b"GET\n")
    wait_for(lambda: e.state is EngineState.CLOSING)
    c.term(linger=0.2)
    (reason,) = e.reasons
    assert isinstance(reason, TimeoutError)
    with pytest.raises(ConnectionResetError):
        while client.recv(1 << 20):
            pass


class IntoBuffer(Tracked):
    """Reads with recv_into into a small buffer of its own (the get_buffer hook)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.buffer = bytearray(1000)
        self.reads = 0

    def get_buffer(self) -> memoryview:
        return memoryview(self.buffer)

    def buffer_updated(self, nbytes: int) -> None:
        self.reads += 1
        self.received += self.buffer[:nbytes]


def test_an_engine_can_read_into_its_own_buffer(ctx: Context, tcp) -> None:
    server, client = tcp
    e = ctx.launch(IntoBuffer(server))
    payload = hashlib.sha256(b"seed").digest() * 4096  # 128 KiB
    client.sendall(payload)
    client.close()
    assert e.closed_event.wait(5)
    assert bytes(e.received) == payload
    assert e.reads >= len(payload) // 1000  # every read went into the 1000-byte buffer
    assert e.bytes_received == len(payload) and e.eofs == 1 and e.reasons == [None]


class SmallChunks(IntoBuffer):
    """Reads into its buffer only while asks_buffer says so: after each read into it, the
    next read is a recv() chunk, and after each chunk the next goes to the buffer again."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.asked = self.chunks = 0

    def get_buffer(self) -> memoryview:
        assert self.asks_buffer  # never asked while it said it needs no buffer
        self.asked += 1
        return super().get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        super().buffer_updated(nbytes)
        self.asks_buffer = False

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.chunks += 1
        self.asks_buffer = True


def test_an_engine_that_needs_no_buffer_for_its_next_read_is_not_asked(ctx: Context,
                                                                       tcp) -> None:
    with socket.socket() as unused:
        assert not Tracked(unused).asks_buffer  # no get_buffer of its own: never asked
    server, client = tcp
    e = ctx.launch(SmallChunks(server))
    assert e.asks_buffer  # it overrides get_buffer: asked until it says otherwise
    payload = hashlib.sha256(b"seed").digest() * 4096  # 128 KiB
    client.sendall(payload)
    client.close()
    assert e.closed_event.wait(5)
    assert bytes(e.received) == payload and e.reasons == [None]
    # (the read that finds EOF may have asked for a buffer it did not fill)
    assert e.asked - e.reads in (0, 1) and e.chunks >= 1 and e.reads >= 1
    assert abs(e.reads - e.chunks) <= 1  # they alternate
