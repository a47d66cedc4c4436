"""zreactor.testing: the public fakes other tests do not already exercise (EventRecorder, the
stepped clock)."""

from __future__ import annotations

import threading
import time

import pytest

import zreactor
from zreactor.constants import SocketType
from zreactor.reactor.events import EventBus, EventKind, ReactorEvent
from zreactor.reactor.engine import Engine
from zreactor.reactor.pool import IOThreadPool
from zreactor.testing import EventRecorder, SteppedClock, SteppedContext

pytestmark = pytest.mark.timeout(10)


def test_waits_for_the_nth_event_of_a_kind_emitted_on_another_thread() -> None:
    bus = EventBus()
    recorder = EventRecorder(bus)
    bus.emit(ReactorEvent(EventKind.CONNECTED, "a", 1))  # before anyone waits: kept, not missed

    def emitter() -> None:
        for value in (2, 3):
            time.sleep(0.02)
            bus.emit(ReactorEvent(EventKind.DISCONNECTED, "b", value))
            bus.emit(ReactorEvent(EventKind.CONNECTED, "c", value))

    thread = threading.Thread(target=emitter)
    thread.start()
    try:
        third = recorder.wait(EventKind.CONNECTED, count=3, timeout=5.0)
    finally:
        thread.join()
    assert (third.endpoint, third.value) == ("c", 3)
    assert recorder.wait(EventKind.CONNECTED).value == 1  # the first, already there
    assert [e.value for e in recorder.of(EventKind.DISCONNECTED)] == [2, 3]
    assert [e.kind for e in recorder.events] == [
        EventKind.CONNECTED, EventKind.DISCONNECTED, EventKind.CONNECTED,
        EventKind.DISCONNECTED, EventKind.CONNECTED,
    ]
    assert recorder.of(EventKind.LISTENING) == []


def test_a_missing_event_fails_after_the_bound_and_names_what_arrived() -> None:
    bus = EventBus()
    recorder = EventRecorder(bus, timeout=0.1)
    bus.emit(ReactorEvent(EventKind.CONNECTED))
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"no DISCONNECTED .* got \['CONNECTED'\]"):
        recorder.wait(EventKind.DISCONNECTED)  # the constructor's bound
    assert 0.09 <= time.monotonic() - started < 2.0
    with pytest.raises(AssertionError, match="CONNECTED"):
        recorder.wait(EventKind.CONNECTED, count=2, timeout=0.01)  # one is not two


def test_events_is_a_snapshot_and_close_stops_recording() -> None:
    parent = EventBus()
    child = EventBus(parent)
    recorder = EventRecorder(parent)
    child.emit(ReactorEvent(EventKind.ACCEPTED))  # a parent bus hears its children
    snapshot = recorder.events
    child.emit(ReactorEvent(EventKind.CLOSED))
    assert [e.kind for e in snapshot] == [EventKind.ACCEPTED]
    recorder.close()
    child.emit(ReactorEvent(EventKind.ACCEPTED))
    assert [e.kind for e in recorder.events] == [EventKind.ACCEPTED, EventKind.CLOSED]


def test_records_a_real_socket_handshake() -> None:
    ctx = zreactor.Context()
    try:
        server = ctx.socket(SocketType.PAIR, linger=0)
        client = ctx.socket(SocketType.PAIR, linger=0)
        recorder = EventRecorder(client.event_bus, timeout=5.0)
        server.bind("tcp://127.0.0.1:*")
        endpoint = server.last_endpoint.decode()
        client.connect(endpoint)
        assert recorder.wait(EventKind.HANDSHAKE_SUCCEEDED).endpoint == endpoint
        assert not recorder.of(EventKind.HANDSHAKE_FAILED_PROTOCOL)
    finally:
        for sock in ctx.sockets:
            sock.close(linger=0)
        ctx.term()


# -- the stepped clock ----------------------------------------------------------------------------


class Ticker(Engine):
    """Arms one timer when attached; a due timer arms the next one with no delay at all."""

    def __init__(self, delay: float, chained: bool = False) -> None:
        super().__init__()
        self.delay = delay
        self.chained = chained
        self.attached_event = threading.Event()
        self.fired: list[str] = []

    def attached(self) -> None:
        self.call_later(self.delay, self.first)
        self.attached_event.set()

    def first(self) -> None:
        self.fired.append("first")
        if self.chained:
            self.call_later(0, lambda: self.fired.append("chained"))


def test_a_running_loop_fires_a_timer_only_when_the_stepped_clock_says() -> None:
    with SteppedContext(io_threads=2) as ctx:
        engines = [ctx.launch(Ticker(10.0, chained=True)) for _ in range(2)]
        assert all(e.attached_event.wait(5) for e in engines)
        started = time.monotonic()
        ctx.advance(9.999)
        assert [e.fired for e in engines] == [[], []]
        ctx.advance(0.001)  # returns once the due timers, and what they armed at once, ran
        assert [e.fired for e in engines] == [["first", "chained"]] * 2
        assert time.monotonic() - started < 2.0  # ten fake seconds, no real wait


def test_a_pool_can_be_driven_too() -> None:
    clock = SteppedClock()
    with IOThreadPool(clock=clock) as pool:
        clock.drive(pool)
        engine = pool.launch(Ticker(0.5))
        assert engine.attached_event.wait(5)
        clock.advance(0.5)
        assert engine.fired == ["first"]


def test_a_timer_armed_behind_the_sleeping_loops_back_is_a_lost_wakeup() -> None:
    # What a lease without its wake-up would do: arm a timer under the loop lock from another
    # thread. The loop sleeps on with no timeout; a barrier would wake it and hide the bug.
    with SteppedContext(clock=SteppedClock(confirm=0.1)) as ctx:
        engine = ctx.launch(Ticker(3600.0))
        assert engine.attached_event.wait(5)
        ctx.sync()  # healthy: the loop sleeps until its own timer
        thread = ctx.io_threads[0]
        fired = threading.Event()
        with thread.poller.lock:
            timer = thread.poller.add_timer(1.0, fired.set)
        with pytest.raises(AssertionError, match="lost wake-up"):
            ctx.advance(1.0)
        assert not fired.is_set()
        thread.poller.lock.acquire()
        try:
            timer.cancel()
        finally:
            thread.poller.lock.release()
        ctx.advance(1.0)  # nothing missed any more


def test_advancing_while_term_runs_elsewhere_skips_the_stopped_loops() -> None:
    ctx = SteppedContext()
    engine = ctx.launch(Ticker(3600.0))
    assert engine.attached_event.wait(5)
    ctx.term()
    ctx.advance(1.0)  # no loop left to wait for: returns at once
