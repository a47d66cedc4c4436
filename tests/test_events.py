"""Event buses: masks, the chain to the parent, faulty subscribers."""

from __future__ import annotations

import logging

import pytest

from zreactor.reactor.events import EventBus, EventKind, ReactorEvent

pytestmark = pytest.mark.timeout(10)


def test_mask_filters_and_parent_hears_everything() -> None:
    parent = EventBus()
    child = EventBus(parent)
    connected: list[ReactorEvent] = []
    everything: list[ReactorEvent] = []
    child.subscribe(connected.append, EventKind.CONNECTED | EventKind.DISCONNECTED)
    parent.subscribe(everything.append)
    child.emit(ReactorEvent(EventKind.CONNECTED, "tcp://x:1", 7))
    child.emit(ReactorEvent(EventKind.LISTENING))
    parent.emit(ReactorEvent(EventKind.DISCONNECTED))  # goes up, never down
    assert [e.kind for e in connected] == [EventKind.CONNECTED]
    assert [e.kind for e in everything] == [
        EventKind.CONNECTED,
        EventKind.LISTENING,
        EventKind.DISCONNECTED,
    ]
    assert connected[0].value == 7 and connected[0].endpoint == "tcp://x:1"


def test_unsubscribe() -> None:
    bus = EventBus()
    seen: list[ReactorEvent] = []
    sub = bus.subscribe(seen.append)
    bus.emit(ReactorEvent(EventKind.CLOSED))
    bus.unsubscribe(sub)
    bus.unsubscribe(sub)  # harmless
    bus.emit(ReactorEvent(EventKind.CLOSED))
    assert len(seen) == 1


def test_a_raising_subscriber_is_logged_and_the_others_still_hear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    parent = EventBus()
    bus = EventBus(parent)
    seen: list[ReactorEvent] = []

    def broken(event: ReactorEvent) -> None:
        raise RuntimeError("observer bug")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    parent.subscribe(seen.append)
    with caplog.at_level(logging.ERROR, logger="zreactor"):
        bus.emit(ReactorEvent(EventKind.ACCEPTED))
    assert len(seen) == 2
    assert len([r for r in caplog.records if r.name == "zreactor"]) == 1


def test_libzmq_values_are_kept() -> None:
    assert EventKind.CONNECTED == 0x0001
    assert EventKind.DISCONNECTED == 0x0200
    assert EventKind.HANDSHAKE_FAILED_AUTH == 0x4000
    assert all(kind & EventKind.all() for kind in EventKind)
