"""zreactor.testing: the public fakes other tests do not already exercise (EventRecorder)."""

from __future__ import annotations

import threading
import time

import pytest

import zreactor
from zreactor.constants import SocketType
from zreactor.reactor.events import EventBus, EventKind, ReactorEvent
from zreactor.testing import EventRecorder

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
