"""The context: threads, balancing, acknowledged termination with linger, misuse errors."""

from __future__ import annotations

import errno

import socket
import threading
import time

import pytest

import zreactor
from zreactor import Context, ContextClosedError, Engine, EngineState, StreamEngine, ZReactorError
from zreactor.reactor.poller import available_pollers
from zreactor.testing import SteppedContext

pytestmark = pytest.mark.timeout(20)

PAYLOAD = 4 * 1024 * 1024  # far more than a socketpair's kernel buffers


def zreactor_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("zreactor")]


class Flooder(StreamEngine):
    """Writes PAYLOAD bytes as soon as it is attached; the peer decides when to read."""

    close_linger = 5.0

    def __init__(self, sock: socket.socket, close_after_write: bool = False) -> None:
        super().__init__(sock, high_water=PAYLOAD * 2)
        self.close_after_write = close_after_write
        self.reasons: list[BaseException | None] = []
        self.attached_event = threading.Event()
        self.closed_event = threading.Event()

    def attached(self) -> None:
        self.write(b"z" * PAYLOAD)
        if self.close_after_write:
            self.close()
        self.attached_event.set()

    def closed(self, reason) -> None:
        self.reasons.append(reason)
        self.closed_event.set()


def read_all(sock: socket.socket, timeout: float = 5.0) -> int:
    """Read until EOF (or reset); return the byte count."""
    sock.settimeout(timeout)
    total = 0
    try:
        while True:
            data = sock.recv(1 << 20)
            if not data:
                return total
            total += len(data)
    except ConnectionResetError:
        return total


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


# -- linger ---------------------------------------------------------------------------------


class Terminator:
    """``ctx.term(...)`` on a thread of its own, so the test can step the clock meanwhile."""

    def __init__(self, ctx: Context, *args: object) -> None:
        self.thread = threading.Thread(target=ctx.term, args=args)
        self.thread.start()

    def done(self) -> bool:
        self.thread.join(0.05)  # the stepped clock already ran what was due: only a short join
        return not self.thread.is_alive()

    def join(self) -> None:
        self.thread.join(5)
        assert not self.thread.is_alive(), "term() still running"


def test_linger_bounds_the_flush_to_a_peer_that_does_not_read(pair) -> None:
    mine, peer = pair
    ctx = SteppedContext()
    engine = ctx.launch(Flooder(mine))
    assert engine.attached_event.wait(5)
    assert engine.write_buffer_size > 0
    terminator = Terminator(ctx, 0.2)
    ctx.advance(0.199)
    assert not terminator.done(), "term() gave up before its linger"
    assert engine.state is EngineState.CLOSING
    ctx.advance(0.002)
    terminator.join()
    assert engine.state is EngineState.CLOSED
    # output was dropped: the engine says so, and the connection was reset, not FIN'd
    (reason,) = engine.reasons
    assert isinstance(reason, TimeoutError) and "still queued" in str(reason)
    assert mine.fileno() == -1  # the engine's socket is closed
    assert read_all(peer) < PAYLOAD  # what was not flushed in time is gone


def test_linger_zero_drops_output_at_once(pair) -> None:
    mine, peer = pair
    ctx = SteppedContext()
    engine = ctx.launch(Flooder(mine))
    assert engine.attached_event.wait(5)
    ctx.term(linger=0)  # returns with the clock never moved: no timer involved
    assert mine.fileno() == -1
    assert read_all(peer) < PAYLOAD


@pytest.mark.parametrize("linger", [None, -1])
def test_infinite_linger_waits_until_the_peer_reads(pair, linger) -> None:
    mine, peer = pair
    ctx = SteppedContext()
    engine = ctx.launch(Flooder(mine))
    assert engine.attached_event.wait(5)
    terminator = Terminator(ctx, linger)
    ctx.advance(3600)  # an hour of nobody reading
    assert not terminator.done(), "term() returned while output was still queued"
    assert engine.state is EngineState.CLOSING
    received = read_all(peer)
    terminator.join()
    assert received == PAYLOAD  # every byte was flushed before the socket closed
    assert engine.reasons == [None]


def test_context_default_linger_is_used(pair) -> None:
    mine, peer = pair
    ctx = SteppedContext(term_linger=0.2)
    engine = ctx.launch(Flooder(mine))
    assert engine.attached_event.wait(5)
    terminator = Terminator(ctx)
    ctx.advance(0.199)
    assert not terminator.done()
    ctx.advance(0.002)
    terminator.join()


def test_term_linger_caps_an_engine_already_closing(pair) -> None:
    """An engine that was flushing on its own close() is still bound by term(linger)."""
    mine, peer = pair
    ctx = SteppedContext()
    engine = ctx.launch(Flooder(mine, close_after_write=True))
    assert engine.attached_event.wait(5)
    assert engine.state is EngineState.CLOSING
    terminator = Terminator(ctx, 0.2)
    ctx.advance(0.201)  # not the engine's own close_linger (5 s)
    terminator.join()
    assert engine.state is EngineState.CLOSED


def test_engine_close_flushes_before_closing(pair) -> None:
    mine, peer = pair
    ctx = Context()
    try:
        engine = ctx.launch(Flooder(mine, close_after_write=True))
        assert engine.attached_event.wait(5)
        assert read_all(peer) == PAYLOAD
        assert engine.closed_event.wait(5)
        assert engine.reasons == [None]
    finally:
        ctx.term(linger=0)


# -- lifecycle ------------------------------------------------------------------------------


def test_threads_are_started_named_and_gone_after_term() -> None:
    ctx = Context(io_threads=3)
    names = sorted(t.name for t in zreactor_threads())
    assert names == ["zreactor-io-0", "zreactor-io-1", "zreactor-io-2"]
    assert all(t.daemon for t in zreactor_threads())
    ctx.term()
    assert zreactor_threads() == []
    assert ctx.closed


def test_context_manager_terminates() -> None:
    with Context(io_threads=2) as ctx:
        assert not ctx.closed
        assert len(zreactor_threads()) == 2
    assert ctx.closed
    assert zreactor_threads() == []


def test_context_manager_terminates_on_error() -> None:
    with pytest.raises(KeyError):
        with Context() as ctx:
            raise KeyError("x")
    assert ctx.closed and zreactor_threads() == []


@pytest.mark.parametrize("method", ["term", "close", "destroy"])
def test_term_is_idempotent(method: str) -> None:
    ctx = Context()
    getattr(ctx, method)()
    getattr(ctx, method)()
    ctx.term()
    assert zreactor_threads() == []


def test_concurrent_term_from_two_threads(pair) -> None:
    mine, peer = pair
    ctx = Context(io_threads=2)
    engine = ctx.launch(Flooder(mine))
    assert engine.attached_event.wait(5)
    errors: list[BaseException] = []
    done: list[float] = []

    def term() -> None:
        try:
            ctx.term(linger=0.3)
            done.append(time.monotonic())
        except BaseException as exc:  # reported below
            errors.append(exc)

    start = time.monotonic()
    threads = [threading.Thread(target=term) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert errors == []
    assert len(done) == 2
    # the second caller waited for the first to finish, not just returned
    assert all(t - start >= 0.28 for t in done)
    (reason,) = engine.reasons  # one close, whose linger ran out with output queued
    assert isinstance(reason, TimeoutError)


def test_use_after_term_raises(pair) -> None:
    ctx = Context()
    ctx.term()
    with pytest.raises(ContextClosedError):
        ctx.launch(Engine())
    with pytest.raises(ContextClosedError):
        ctx.connect("tcp://127.0.0.1:1", Engine)
    with pytest.raises(ContextClosedError):
        ctx.listen("tcp://127.0.0.1:0", Engine)
    assert isinstance(ContextClosedError(), ZReactorError)


def test_term_from_an_io_thread_raises() -> None:
    outcome: list[BaseException | None] = []
    ready = threading.Event()

    class Suicidal(Engine):
        def attached(self) -> None:
            try:
                ctx.term()  # the messaging context's term(), from its own I/O thread
                outcome.append(None)
            except ZReactorError as exc:
                outcome.append(exc)
            ready.set()

    ctx = Context()
    try:
        ctx.launch(Suicidal())
        assert ready.wait(5)
        assert len(outcome) == 1 and isinstance(outcome[0], ZReactorError)
        assert not ctx.closed  # the refused call did not start termination
    finally:
        ctx.term()


@pytest.mark.parametrize("bad", [0, 1.5, "2", None])
def test_io_threads_validation(bad) -> None:
    with pytest.raises(ValueError):
        Context(io_threads=bad)
    assert zreactor_threads() == []


def test_negative_io_threads_is_pyzmqs_einval() -> None:
    with pytest.raises(zreactor.ZMQError) as info:
        Context(io_threads=-1)
    assert info.value.errno == errno.EINVAL
    assert zreactor_threads() == []


def test_unknown_poller_is_refused_before_anything_starts() -> None:
    with pytest.raises(ValueError):
        Context(poller="nope")
    assert zreactor_threads() == []


def test_launching_twice_is_refused() -> None:
    with Context() as ctx:
        e = ctx.launch(Engine())
        with pytest.raises(ValueError):
            ctx.launch(e)


# -- balancing ------------------------------------------------------------------------------


class Holder(Engine):
    """An engine that keeps one fd registered (the unit of load)."""

    def __init__(self) -> None:
        super().__init__()
        self.sock, self.peer = socket.socketpair()
        self.attached_event = threading.Event()
        self.closed_event = threading.Event()

    def attached(self) -> None:
        self.set_pollin(self.add_fd(self.sock.fileno()))
        self.attached_event.set()

    def readable(self) -> None:
        self.sock.recv(100)

    def release_resources(self) -> None:
        self.sock.close()
        self.peer.close()

    def closed(self, reason) -> None:
        self.closed_event.set()


def test_least_loaded_thread_with_ties_to_the_lowest_index() -> None:
    with Context(io_threads=3) as ctx:
        engines = [ctx.launch(Holder()) for _ in range(6)]
        assert [e.io_thread.index for e in engines] == [0, 1, 2, 0, 1, 2]
        for e in engines:
            assert e.attached_event.wait(5)
        assert [t.load for t in ctx.io_threads] == [2, 2, 2]
        for e in engines:
            if e.io_thread.index == 1:
                e.close_threadsafe()
                assert e.closed_event.wait(5)
        deadline = time.monotonic() + 5
        while ctx.io_threads[1].load and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [t.load for t in ctx.io_threads] == [2, 0, 2]
        more = [ctx.launch(Holder()) for _ in range(3)]
        assert [e.io_thread.index for e in more] == [1, 1, 0]


def test_engines_in_flight_count_as_load() -> None:
    """A burst of launches spreads out even before any engine has registered its fd."""
    with Context(io_threads=4) as ctx:
        engines = [ctx.launch(Holder()) for _ in range(40)]
        counts = [sum(1 for e in engines if e.io_thread.index == i) for i in range(4)]
        assert counts == [10, 10, 10, 10]
        for e in engines:
            assert e.attached_event.wait(5)
        assert all(t.pending == 0 for t in ctx.io_threads)


def test_explicit_io_thread() -> None:
    with Context(io_threads=2) as ctx:
        e = ctx.launch(Holder(), ctx.io_threads[1])
        assert e.attached_event.wait(5)
        assert e.io_thread is ctx.io_threads[1]


# -- every poller -------------------------------------------------------------------------------


class Echo(StreamEngine):
    def data_received(self, data: bytes) -> None:
        self.write(data)


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_every_poller_serves(poller_name: str, how: str, pair, monkeypatch) -> None:
    mine, peer = pair
    if how == "argument":
        ctx = Context(io_threads=2, poller=poller_name)
    else:
        monkeypatch.setenv("ZREACTOR_POLLER", poller_name)
        ctx = Context(io_threads=2)
    with ctx:
        assert ctx.poller_name == poller_name
        assert all(t.poller.name == poller_name for t in ctx.io_threads)
        ctx.launch(Echo(mine))
        peer.settimeout(5)
        peer.sendall(b"ping")
        assert peer.recv(10) == b"ping"


def test_available_pollers_is_public() -> None:
    assert zreactor.available_pollers() == available_pollers()
    assert available_pollers()
