"""The engine contract: hook order, one thread, isolation of a failing hook, thread-safe calls."""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time

import pytest

from zreactor import Context, Engine, EngineState, EventKind, StreamEngine
from zreactor.reactor.engine import ENGINE_TRANSITIONS, EngineEvent
from zreactor.reactor.fsm import IllegalMove
from zreactor.testing import SteppedContext

pytestmark = pytest.mark.timeout(20)

LOOP_HOOKS = {"readable", "writable", "timer", "call"}


class Boom(Exception):
    pass


class Recorder(Engine):
    """Records every hook with the thread it ran on; optionally raises in one of them."""

    def __init__(self, raise_in: str | None = None) -> None:
        super().__init__()
        self.sock, self.peer = socket.socketpair()
        self.sock.setblocking(False)
        self.peer.settimeout(5)
        self.raise_in = raise_in
        self.calls: list[tuple[str, str]] = []
        self.reasons: list[BaseException | None] = []
        self.attached_event = threading.Event()
        self.closed_event = threading.Event()
        self.handle = None

    def record(self, hook: str) -> None:
        self.calls.append((hook, threading.current_thread().name))
        if hook == self.raise_in:
            raise Boom(hook)

    @property
    def hooks(self) -> list[str]:
        return [hook for hook, _ in self.calls]

    def attached(self) -> None:
        self.handle = self.add_fd(self.sock.fileno())
        self.set_pollin(self.handle)
        self.set_pollout(self.handle)
        self.call_later(0.01, lambda: self.record("timer"))
        self.attached_event.set()
        self.record("attached")

    def readable(self) -> None:
        data = self.sock.recv(1024)
        if data == b"close":
            self.close()
            return
        self.record("readable")
        if data.startswith(b"echo"):
            self.sock.send(data)

    def writable(self) -> None:
        self.reset_pollout(self.handle)
        self.record("writable")

    def release_resources(self) -> None:
        self.sock.close()

    def closed(self, reason: BaseException | None) -> None:
        self.calls.append(("closed", threading.current_thread().name))
        self.reasons.append(reason)
        self.closed_event.set()

    def finish(self) -> None:
        self.peer.close()


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def assert_grammar(engine: Recorder) -> None:
    """attached -> (readable | writable | timer | call)* -> closed, all on one I/O thread."""
    hooks = engine.hooks
    assert hooks[0] == "attached", hooks
    assert hooks[-1] == "closed", hooks
    assert hooks.count("attached") == 1 and hooks.count("closed") == 1, hooks
    assert set(hooks[1:-1]) <= LOOP_HOOKS, hooks
    threads = {name for _, name in engine.calls}
    assert threads == {engine.io_thread.name}


@pytest.fixture
def ctx():
    c = Context(io_threads=2)
    yield c
    c.term(linger=0)


@pytest.fixture
def stepped_ctx():
    c = SteppedContext(io_threads=2)
    yield c
    c.term(linger=0)


def test_call_grammar_order(stepped_ctx: SteppedContext) -> None:
    ctx = stepped_ctx
    e = ctx.launch(Recorder())
    try:
        wait_for(lambda: {"attached", "writable"} <= set(e.hooks))
        ctx.advance(0.01)  # the timer armed in attached()
        assert "timer" in e.hooks
        e.peer.send(b"data")
        wait_for(lambda: "readable" in e.hooks)
        e.call_threadsafe(e.record, "call")
        wait_for(lambda: "call" in e.hooks)
        late = []
        e.call_threadsafe(lambda: e.call_later(0.1, lambda: late.append("timer")))
        e.close_threadsafe()
        assert e.closed_event.wait(5)
        # nothing after closed: not data, not calls, not the timer armed before closing
        e.call_threadsafe(e.record, "call")
        ctx.advance(0.2)  # the timer's time comes and goes; the call was processed first
        assert late == []
        assert_grammar(e)
        assert e.reasons == [None]
        assert e.state is EngineState.CLOSED
        assert e.peer.recv(10) == b""  # its socket was closed
    finally:
        e.finish()


def test_grammar_when_the_context_terminates_it() -> None:
    ctx = Context()
    e = ctx.launch(Recorder())
    try:
        wait_for(lambda: "writable" in e.hooks)
        ctx.term()
        assert_grammar(e)
        assert e.reasons == [None]
    finally:
        e.finish()


def test_closing_from_inside_a_hook(ctx: Context) -> None:
    e = ctx.launch(Recorder())
    try:
        wait_for(lambda: "attached" in e.hooks)
        e.peer.send(b"close")
        assert e.closed_event.wait(5)
        time.sleep(0.05)
        assert_grammar(e)
    finally:
        e.finish()


@pytest.mark.parametrize("hook", ["attached", "readable", "writable", "timer", "call"])
def test_a_raising_hook_closes_only_its_engine(
    hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    events: queue.SimpleQueue = queue.SimpleQueue()
    ctx = Context(io_threads=1)  # both engines share the thread
    ctx.events.subscribe(events.put, EventKind.ENGINE_FAILED)
    good = ctx.launch(Recorder())
    bad = ctx.launch(Recorder(raise_in=hook))
    try:
        with caplog.at_level(logging.ERROR, logger="zreactor"):
            wait_for(lambda: "attached" in bad.hooks)
            if hook == "readable":
                bad.peer.send(b"x")
            elif hook == "call":
                bad.call_threadsafe(bad.record, "call")
            assert bad.closed_event.wait(5)
            time.sleep(0.05)  # room for a second (wrong) report

        assert len(bad.reasons) == 1 and isinstance(bad.reasons[0], Boom)
        assert bad.hooks[-1] == "closed" and bad.hooks.count("closed") == 1
        assert bad.hooks[-2] == hook  # nothing ran between the failure and closed
        assert bad.state is EngineState.CLOSED
        assert bad.peer.recv(10) == b""

        records = [r for r in caplog.records if r.name == "zreactor" and r.levelno >= logging.ERROR]
        assert len(records) == 1, [r.getMessage() for r in records]
        assert records[0].exc_info is not None and records[0].exc_info[1] is bad.reasons[0]

        failed = events.get(timeout=1)
        assert failed.kind is EventKind.ENGINE_FAILED
        assert failed.detail["error"] is bad.reasons[0]
        assert events.empty()

        # the thread is alive and still serves the other engine
        good.peer.send(b"echo-after")
        assert good.peer.recv(100) == b"echo-after"
        assert good.state is EngineState.ATTACHED
    finally:
        ctx.term(linger=0)
        good.finish()
        bad.finish()
    assert_grammar(good)


def test_a_raising_closed_hook_does_not_hang_term(caplog: pytest.LogCaptureFixture) -> None:
    class BadClose(Recorder):
        def closed(self, reason) -> None:
            super().closed(reason)
            raise Boom("closed")

    ctx = Context()
    e = ctx.launch(BadClose())
    try:
        wait_for(lambda: "attached" in e.hooks)
        with caplog.at_level(logging.ERROR, logger="zreactor"):
            start = time.monotonic()
            ctx.term()
            assert time.monotonic() - start < 2
        assert e.hooks.count("closed") == 1
        assert any(r.name == "zreactor" for r in caplog.records)
    finally:
        e.finish()


def test_call_threadsafe_runs_on_the_engine_thread_in_order(ctx: Context) -> None:
    e = ctx.launch(Recorder())
    try:
        assert e.attached_event.wait(5)
        seen: list[tuple[int, int, str]] = []

        def note(k: int, i: int) -> None:
            seen.append((k, i, threading.current_thread().name))

        def sender(k: int) -> None:
            for i in range(200):
                e.call_threadsafe(note, k, i)

        senders = [threading.Thread(target=sender, args=(k,)) for k in range(3)]
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        wait_for(lambda: len(seen) == 600)
        assert {name for _, _, name in seen} == {e.io_thread.name}
        for k in range(3):
            assert [i for kk, i, _ in seen if kk == k] == list(range(200))
    finally:
        e.finish()


def test_close_threadsafe_closes_on_the_engine_thread(ctx: Context) -> None:
    e = ctx.launch(Recorder())
    try:
        assert e.attached_event.wait(5)
        e.close_threadsafe()
        e.close_threadsafe()  # a second request is harmless
        assert e.closed_event.wait(5)
        time.sleep(0.05)
        assert e.reasons == [None]
        assert e.calls[-1] == ("closed", e.io_thread.name)
        assert e.hooks.count("closed") == 1
    finally:
        e.finish()


def test_close_with_a_reason_passes_it_to_closed(ctx: Context) -> None:
    e = ctx.launch(Recorder())
    try:
        assert e.attached_event.wait(5)
        reason = ValueError("done")
        e.call_threadsafe(e.close, reason)
        assert e.closed_event.wait(5)
        assert e.reasons == [reason]
    finally:
        e.finish()


def test_timers_are_cancelled_on_close(stepped_ctx: SteppedContext) -> None:
    ctx = stepped_ctx
    fired: list[str] = []
    timers = []

    class Timed(Recorder):
        def attached(self) -> None:
            super().attached()
            timers.append(self.call_later(0.05, lambda: fired.append("a")))
            timers.append(self.call_later(0.1, lambda: fired.append("b")))
            self.close()

    e = ctx.launch(Timed())
    try:
        assert e.closed_event.wait(5)
        ctx.advance(0.2)  # past both deadlines
        assert fired == []
        assert timers and not any(t.active for t in timers)
        assert "timer" not in e.hooks
    finally:
        e.finish()


def test_a_cancelled_timer_does_not_fire_and_others_do(ctx: Context) -> None:
    fired: list[str] = []
    done = threading.Event()

    class Timed(Recorder):
        def attached(self) -> None:
            super().attached()
            t = self.call_later(0.02, lambda: fired.append("cancelled"))
            self.call_later(0.05, lambda: (fired.append("kept"), done.set()))
            t.cancel()

    e = ctx.launch(Timed())
    try:
        assert done.wait(5)
        assert fired == ["kept"]
    finally:
        e.finish()


def test_call_threadsafe_before_launch_is_an_error() -> None:
    e = Recorder()
    try:
        with pytest.raises(RuntimeError, match="not launched"):
            e.call_threadsafe(lambda: None)
    finally:
        e.sock.close()
        e.finish()


def test_closing_an_unlaunched_engine_releases_it() -> None:
    e = Recorder()
    try:
        e.close()
        assert e.state is EngineState.CLOSED
        assert e.hooks == ["closed"]
        assert e.sock.fileno() == -1
    finally:
        e.finish()


def test_every_lifecycle_row_is_taken(ctx: Context) -> None:
    """Each row of ENGINE_TRANSITIONS, seen through the table's own record seam."""

    class Bulk(StreamEngine):
        """Queues more than the socket takes, then closes: it must flush first (CLOSING)."""

        def attached(self) -> None:
            self.write(b"q" * (4 << 20))
            self.close()

    with ENGINE_TRANSITIONS.record() as steps:
        unlaunched = Recorder()
        unlaunched.close()  # NEW -> CLOSED
        unlaunched.finish()
        plain = ctx.launch(Recorder())  # NEW -> ATTACHED
        assert plain.attached_event.wait(5)
        plain.close_threadsafe()  # ATTACHED -> CLOSED
        assert plain.closed_event.wait(5)
        plain.finish()
        mine, peer = socket.socketpair()
        bulk = ctx.launch(Bulk(mine, high_water=8 << 20))  # ATTACHED -> CLOSING -> CLOSED
        # Nothing is read until the engine is CLOSING: a reader draining concurrently could
        # let the whole 4 MB through the first write, and close() would then skip CLOSING.
        wait_for(lambda: bulk.state is EngineState.CLOSING)
        peer.settimeout(5)
        received = 0
        while chunk := peer.recv(1 << 20):
            received += len(chunk)
        peer.close()
        assert received == 4 << 20
        wait_for(lambda: bulk.state is EngineState.CLOSED)
    seen = {(step.source, step.event) for step in steps}
    assert seen == set(ENGINE_TRANSITIONS), set(ENGINE_TRANSITIONS) - seen


def test_an_illegal_lifecycle_move_raises() -> None:
    e = Recorder()
    try:
        e.close()
        with pytest.raises(IllegalMove, match="illegal engine move CLOSED on PLUG"):
            ENGINE_TRANSITIONS.fire(e, EngineEvent.PLUG)
    finally:
        e.finish()
