"""The connecter: libzmq's reconnect backoff (fake clock), real tcp/ipc connects, events."""

from __future__ import annotations

import errno
import os
import queue
import socket
import threading
import time
from collections import deque
from typing import Any, Iterator

import pytest

from zreactor import Connecter, ConnecterState, Context, Engine, EngineState, EventKind, StreamEngine
from zreactor.reactor.connecter import CONNECTER_TRANSITIONS, ConnecterEvent, next_reconnect_ivl
from zreactor.reactor.syscalls import Syscalls
from zreactor.testing import FakeClock, ManualContext

pytestmark = pytest.mark.timeout(20)

REFUSED = errno.ECONNREFUSED


# -- the backoff formula ------------------------------------------------------------------------


def test_wait_is_current_plus_jitter_times_ivl() -> None:
    assert next_reconnect_ivl(0.1, 0.1, 0.0, 0.0) == (0.1, 0.1)
    wait, current = next_reconnect_ivl(0.1, 0.1, 0.0, 0.5)
    assert wait == pytest.approx(0.15) and current == 0.1
    wait, _ = next_reconnect_ivl(0.4, 0.1, 0.8, 0.999)
    assert 0.4 <= wait < 0.5  # the jitter is below one base interval, whatever current is


def test_current_doubles_up_to_the_max() -> None:
    current, seen = 0.1, []
    for _ in range(6):
        _, current = next_reconnect_ivl(current, 0.1, 0.8, 0.0)
        seen.append(current)
    assert seen == pytest.approx([0.2, 0.4, 0.8, 0.8, 0.8, 0.8])
    _, capped = next_reconnect_ivl(0.5, 0.1, 0.7, 0.0)
    assert capped == pytest.approx(0.7)


@pytest.mark.parametrize("ivl_max", [0.0, 0.1, 0.05])
def test_no_doubling_unless_max_is_above_ivl(ivl_max: float) -> None:
    current = 0.1
    for _ in range(5):
        wait, current = next_reconnect_ivl(current, 0.1, ivl_max, 0.0)
        assert wait == current == 0.1


# -- the schedule, on a fake clock --------------------------------------------------------------


class ClockedSyscalls(Syscalls):
    """connect() returns scripted errnos (then ECONNREFUSED) and notes when it was called."""

    def __init__(self, clock: FakeClock, results: list[int] = ()) -> None:
        self.clock = clock
        self.results = deque(results)
        self.times: list[float] = []

    def connect(self, sock: socket.socket, address: Any) -> int:
        self.times.append(self.clock())
        return self.results.popleft() if self.results else REFUSED


class Holder(Engine):
    """Owns the connected socket and nothing else; the test closes it at will."""

    instances: list[Holder] = []

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        Holder.instances.append(self)

    def release_resources(self) -> None:
        self.sock.close()


@pytest.fixture
def manual() -> Iterator[tuple[ManualContext, FakeClock, list]]:
    clock = FakeClock()
    ctx = ManualContext(clock=clock)
    events: list = []
    ctx.events.subscribe(events.append)
    Holder.instances = []
    yield ctx, clock, events
    ctx.term(linger=0)


def run_for(ctx: ManualContext, seconds: float) -> None:
    """Let ``seconds`` of fake time pass, jumping from one timer deadline to the next."""
    poller = ctx.io_threads[0].poller
    end = ctx.clock() + seconds
    while True:
        ctx.step(3)
        wait = poller.execute_timers()
        if wait is None or ctx.clock() + wait > end:
            break
        ctx.clock.advance(wait)
    ctx.clock.advance(max(0.0, end - ctx.clock()))
    ctx.step(3)


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


def kinds(events: list, *wanted: EventKind) -> list[EventKind]:
    return [e.kind for e in events if e.kind in wanted]


def test_backoff_schedule(manual) -> None:
    ctx, clock, events = manual
    sc = ClockedSyscalls(clock)
    ctx.connect(
        "tcp://127.0.0.1:1", Holder, syscalls=sc,
        reconnect_ivl=0.1, reconnect_ivl_max=0.8, rng=lambda: 0.5,
    )
    ctx.step(3)
    assert sc.times == [clock()]  # the first attempt starts at once
    run_for(ctx, 2.6)
    # wait = current + 0.5 * 0.1, current doubling 0.1 -> 0.2 -> 0.4 -> 0.8 (capped)
    assert gaps(sc.times) == pytest.approx([0.15, 0.25, 0.45, 0.85, 0.85], abs=1e-9)
    retried = [e.value for e in events if e.kind is EventKind.CONNECT_RETRIED]
    assert retried[:5] == [150, 250, 450, 850, 850]


def test_backoff_without_max_stays_flat(manual) -> None:
    ctx, clock, events = manual
    sc = ClockedSyscalls(clock)
    ctx.connect("tcp://127.0.0.1:1", Holder, syscalls=sc, reconnect_ivl=0.2, rng=lambda: 0.25)
    ctx.step(3)
    run_for(ctx, 1.2)
    assert gaps(sc.times) == pytest.approx([0.25] * 4, abs=1e-9)


def test_backoff_resets_after_a_success(manual) -> None:
    ctx, clock, events = manual
    sc = ClockedSyscalls(clock, [REFUSED, REFUSED, 0])  # the third attempt connects
    c = ctx.connect(
        "tcp://127.0.0.1:1", Holder, syscalls=sc,
        reconnect_ivl=0.1, reconnect_ivl_max=1.0, rng=lambda: 0.0,
    )
    ctx.step(3)
    run_for(ctx, 0.5)
    assert gaps(sc.times) == pytest.approx([0.1, 0.2], abs=1e-9)
    assert c.connecter_state is ConnecterState.CONNECTED
    assert c.connections == 1 and len(Holder.instances) == 1
    child = Holder.instances[0]
    assert child.state is EngineState.ATTACHED and child.owner is c
    run_for(ctx, 1.0)
    assert len(sc.times) == 3  # no attempt while connected
    child.close()  # the connection ends (its own thread: the test steps it)
    closed_at = clock()
    ctx.step(3)
    assert c.connecter_state is ConnecterState.WAITING
    run_for(ctx, 0.75)
    # back to the base interval, then doubling again: 0.1, 0.2, 0.4
    assert [t - closed_at for t in sc.times[3:]] == pytest.approx([0.1, 0.3, 0.7], abs=1e-9)
    assert kinds(events, EventKind.CONNECTED, EventKind.DISCONNECTED) == [
        EventKind.CONNECTED,
        EventKind.DISCONNECTED,
    ]


def test_every_connecter_row_is_taken(manual) -> None:
    ctx, clock, events = manual
    sc = ClockedSyscalls(clock, [REFUSED, 0])  # one failure, then a connection
    with CONNECTER_TRANSITIONS.record() as steps:
        c = ctx.connect("tcp://127.0.0.1:1", Holder, syscalls=sc, reconnect_ivl=0.1, rng=lambda: 0.0)
        ctx.step(3)
        run_for(ctx, 0.15)
        assert c.connecter_state is ConnecterState.CONNECTED
        Holder.instances[0].close()  # the connection ends
        ctx.step(3)
    assert [(s.source, s.event) for s in steps] == [
        (ConnecterState.WAITING, ConnecterEvent.ATTEMPT),
        (ConnecterState.CONNECTING, ConnecterEvent.FAILED),
        (ConnecterState.WAITING, ConnecterEvent.ATTEMPT),
        (ConnecterState.CONNECTING, ConnecterEvent.SUCCEEDED),
        (ConnecterState.CONNECTED, ConnecterEvent.DISCONNECTED),
    ]
    assert {(s.source, s.event) for s in steps} == set(CONNECTER_TRANSITIONS)
    assert c.connecter_state is ConnecterState.WAITING


def test_delay_first_waits_one_interval(manual) -> None:
    ctx, clock, events = manual
    sc = ClockedSyscalls(clock)
    start = clock()
    ctx.connect(
        "tcp://127.0.0.1:1", Holder, syscalls=sc, reconnect_ivl=0.3, delay_first=True,
        rng=lambda: 0.0,
    )
    ctx.step(3)
    assert sc.times == []
    run_for(ctx, 0.35)
    assert [t - start for t in sc.times] == pytest.approx([0.3], abs=1e-9)


@pytest.mark.parametrize("ivl", [None, -1, -0.5])
def test_reconnect_disabled(manual, ivl) -> None:
    ctx, clock, events = manual
    sc = ClockedSyscalls(clock)
    c = ctx.connect("tcp://127.0.0.1:1", Holder, syscalls=sc, reconnect_ivl=ivl)
    ctx.step(3)
    run_for(ctx, 2.0)
    assert len(sc.times) == 1  # one failure and it gave up
    assert c.state is EngineState.CLOSED
    assert kinds(events, EventKind.CONNECT_RETRIED) == []
    assert kinds(events, EventKind.CLOSED) == [EventKind.CLOSED]  # reported once


def test_reconnect_disabled_after_a_disconnect(manual) -> None:
    ctx, clock, events = manual
    sc = ClockedSyscalls(clock, [0])
    c = ctx.connect("tcp://127.0.0.1:1", Holder, syscalls=sc, reconnect_ivl=None)
    ctx.step(3)
    assert c.connecter_state is ConnecterState.CONNECTED
    Holder.instances[0].close()
    ctx.step(3)
    run_for(ctx, 1.0)
    assert len(sc.times) == 1
    assert c.state is EngineState.CLOSED
    assert kinds(events, EventKind.DISCONNECTED, EventKind.CLOSED) == [
        EventKind.DISCONNECTED,
        EventKind.CLOSED,
    ]


def test_bad_reconnect_ivl_max() -> None:
    with pytest.raises(ValueError):
        Connecter("tcp://127.0.0.1:1", Holder, reconnect_ivl_max=-1)


# -- real sockets -------------------------------------------------------------------------------


class Echo(StreamEngine):
    def data_received(self, data: bytes) -> None:
        self.write(data)


@pytest.fixture
def ctx() -> Iterator[Context]:
    c = Context(io_threads=2)
    yield c
    c.term(linger=0)


def collect(ctx: Context) -> queue.SimpleQueue:
    q: queue.SimpleQueue = queue.SimpleQueue()
    ctx.events.subscribe(q.put)
    return q


def next_kinds(q: queue.SimpleQueue, count: int, timeout: float = 5.0) -> list[EventKind]:
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < count:
        out.append(q.get(timeout=max(0.01, deadline - time.monotonic())).kind)
    return out


def ping(conn: socket.socket, data: bytes = b"ping") -> None:
    conn.settimeout(5)
    conn.sendall(data)
    assert conn.recv(100) == data


@pytest.fixture
def server() -> Iterator[socket.socket]:
    s = socket.create_server(("127.0.0.1", 0))
    s.settimeout(5)
    yield s
    s.close()


def test_connects_to_a_listener(ctx: Context, server: socket.socket) -> None:
    events = collect(ctx)
    port = server.getsockname()[1]
    c = ctx.connect(f"tcp://127.0.0.1:{port}", Echo)
    conn, _ = server.accept()
    with conn:
        ping(conn)
        assert c.connecter_state is ConnecterState.CONNECTED
        assert c.connections == 1
        assert next_kinds(events, 2) == [EventKind.CONNECT_DELAYED, EventKind.CONNECTED]
        assert c.connection is not None and c.connection.endpoint.startswith("tcp://127.0.0.1:")


def test_reconnects_after_the_peer_closes(ctx: Context, server: socket.socket) -> None:
    events = collect(ctx)
    port = server.getsockname()[1]
    c = ctx.connect(f"tcp://127.0.0.1:{port}", Echo, reconnect_ivl=0.05)
    conn, _ = server.accept()
    ping(conn, b"one")
    assert next_kinds(events, 2) == [EventKind.CONNECT_DELAYED, EventKind.CONNECTED]
    conn.close()
    again, _ = server.accept()  # it came back by itself
    with again:
        ping(again, b"two")
        assert next_kinds(events, 4) == [
            EventKind.DISCONNECTED,
            EventKind.CONNECT_RETRIED,
            EventKind.CONNECT_DELAYED,
            EventKind.CONNECTED,
        ]
        assert c.connections == 2


def test_retries_until_the_listener_appears(ctx: Context) -> None:
    events = collect(ctx)
    # Bound but not listening: connects are refused, and the port stays ours (closed, it
    # could be taken, even by one of our own attempts connecting to itself: TCP's
    # simultaneous open, when the kernel picks the port we dial as the source port).
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    ctx.connect(f"tcp://127.0.0.1:{port}", Echo, reconnect_ivl=0.02)
    retries = 0
    deadline = time.monotonic() + 5
    while retries < 3:
        assert time.monotonic() < deadline
        if events.get(timeout=5).kind is EventKind.CONNECT_RETRIED:
            retries += 1
    server.listen()
    server.settimeout(5)
    with server:
        conn, _ = server.accept()
        with conn:
            ping(conn)


def test_ipc_connect(ctx: Context, tmp_path) -> None:
    path = str(tmp_path / "connecter.sock")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen(8)
        server.settimeout(5)
        c = ctx.connect(f"ipc://{path}", Echo)
        conn, _ = server.accept()
        with conn:
            ping(conn)
            assert c.endpoint == f"ipc://{path}"


def test_ipc_abstract_connect(ctx: Context) -> None:
    name = f"zreactor-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("\0" + name)
        server.listen(8)
        server.settimeout(5)
        ctx.connect(f"ipc://@{name}", Echo)
        conn, _ = server.accept()
        with conn:
            ping(conn)


def test_ipc_full_backlog_is_a_failed_attempt_not_a_connection(ctx: Context, tmp_path) -> None:
    """A Unix connect() refused with EAGAIN (backlog full) is retried, never 'connected'."""
    path = str(tmp_path / "full.sock")
    events = collect(ctx)
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen(0)
        filler = socket.socket(socket.AF_UNIX)
        filler.setblocking(False)
        filler.connect_ex(path)  # takes the only backlog slot
        try:
            c = ctx.connect(f"ipc://{path}", Echo, reconnect_ivl=0.02)
            seen = next_kinds(events, 4)
            assert EventKind.CONNECTED not in seen, seen
            assert c.connections == 0
            assert seen.count(EventKind.CONNECT_RETRIED) >= 2
            # once the backlog has room, the connection goes through
            server.settimeout(5)
            first, _ = server.accept()  # the filler's
            first.close()
            conn, _ = server.accept()
            with conn:
                ping(conn)
        finally:
            filler.close()


def test_factory_that_raises_does_not_leak_the_socket(
    ctx: Context, server: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    events = collect(ctx)
    port = server.getsockname()[1]

    def broken(sock: socket.socket) -> Engine:
        raise RuntimeError("factory failed")

    c = ctx.connect(f"tcp://127.0.0.1:{port}", broken)
    conn, _ = server.accept()
    with conn:
        deadline = time.monotonic() + 5
        while c.state is not EngineState.CLOSED:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert EventKind.ENGINE_FAILED in next_kinds(events, 3)
        conn.settimeout(5)
        assert conn.recv(10) == b""  # our end was closed, not leaked
    # the leak fixture checks that no descriptor stays open


def test_connection_counts_as_load_on_its_thread(ctx: Context, server: socket.socket) -> None:
    """A connecter's connection is load on its thread like any other engine."""
    port = server.getsockname()[1]
    c = ctx.connect(f"tcp://127.0.0.1:{port}", Echo)
    conn, _ = server.accept()
    with conn:
        ping(conn)
        assert c.io_thread.index == 0
        assert [t.pending for t in ctx.io_threads] == [0, 0]
        assert [t.load for t in ctx.io_threads] == [1, 0]
        a, b = socket.socketpair()
        with a, b:
            e = ctx.launch(Echo(a))
            assert e.io_thread.index == 1  # the idle thread, not the one serving the connection
            ping(b)
