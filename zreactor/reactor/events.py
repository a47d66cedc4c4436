"""Events: what engines report about themselves, and who hears it.

Theory of operation
-------------------
Every engine move a user may care about (a listener bound, a connection accepted, a
listener suspended for lack of descriptors, a handler that raised) becomes a :class:`ReactorEvent`
emitted on an :class:`EventBus`. The kinds reuse libzmq's monitor event numbers where libzmq
has one, so a monitor socket can forward them unchanged, and add the listener's new states
above libzmq's range.

Buses form a chain: an engine's bus forwards to its parent's (a listener's bus forwards to
the context's), so a subscriber can listen to one listener or to the whole context.

*Threads.* ``emit`` runs on the emitting engine's I/O thread and calls subscribers right
there, synchronously. A subscriber must therefore be quick and must not block; to hand events
to another thread, append them to a ``queue.SimpleQueue`` or post them to a mailbox. A
subscriber that raises is logged and otherwise ignored: a faulty observer must not break the
engine it observes. Subscribing and unsubscribing are thread-safe (copy-on-write tuple).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["EventBus", "EventKind", "ReactorEvent", "Subscription"]

log = logging.getLogger("zreactor")


class EventKind(enum.IntFlag):
    """Event kinds. Values up to ``HANDSHAKE_FAILED_AUTH`` are libzmq's ``ZMQ_EVENT_*``."""

    CONNECTED = 0x0001
    CONNECT_DELAYED = 0x0002
    CONNECT_RETRIED = 0x0004
    LISTENING = 0x0008
    BIND_FAILED = 0x0010
    ACCEPTED = 0x0020
    ACCEPT_FAILED = 0x0040
    CLOSED = 0x0080
    CLOSE_FAILED = 0x0100
    DISCONNECTED = 0x0200
    MONITOR_STOPPED = 0x0400
    HANDSHAKE_FAILED_NO_DETAIL = 0x0800
    HANDSHAKE_SUCCEEDED = 0x1000
    HANDSHAKE_FAILED_PROTOCOL = 0x2000
    HANDSHAKE_FAILED_AUTH = 0x4000
    # -- zreactor's own, above libzmq's range -------------------------------------------
    #: The listener stopped accepting: out of descriptors (value: the errno, or 0 for the
    #: fd budget).
    SUSPENDED = 0x0002_0000
    #: The listener accepts again (value: milliseconds spent suspended).
    RESUMED = 0x0004_0000
    #: Waiting clients were told to go away (value: how many were reset).
    SHED = 0x0008_0000
    #: The listening socket was closed and bound again to drop its backlog.
    REOPENED = 0x0010_0000
    #: The listener gave up; it stays down until restarted (value: the errno).
    FAILED = 0x0020_0000
    #: A handler raised; its engine was closed (detail: the exception).
    ENGINE_FAILED = 0x0040_0000

    @classmethod
    def all(cls) -> EventKind:
        """Every kind, as a mask."""
        mask = cls(0)
        for kind in cls:
            mask |= kind
        return mask


@dataclass(frozen=True, slots=True)
class ReactorEvent:
    """One thing that happened (``zreactor.ReactorEvent``; ``zreactor.Event`` is pyzmq's
    monitor-event flag, whose numbers :class:`EventKind` shares).

    Attributes:
        kind: what happened.
        endpoint: the address concerned (``tcp://127.0.0.1:5555``) or ``""``.
        value: libzmq's numeric value for the kind (an fd, an errno, a count, milliseconds).
        detail: extra, kind-specific facts (for example ``{"errno": "EMFILE"}``).
        time: ``time.monotonic()`` when it was emitted.
    """

    kind: EventKind
    endpoint: str = ""
    value: int = 0
    detail: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.monotonic)


#: The record's name before it was renamed to make room for pyzmq's ``zmq.Event`` flag;
#: private to the package (``zreactor.Event`` is pyzmq's flag). Prefer ``ReactorEvent``.
Event = ReactorEvent

Callback = Callable[[ReactorEvent], object]


@dataclass(frozen=True, slots=True)
class Subscription:
    """A handle returned by :meth:`EventBus.subscribe`; pass it to ``unsubscribe``."""

    callback: Callback
    mask: EventKind


class EventBus:
    """Delivers events to subscribers, then to the parent bus.

    Args:
        parent: a bus that also receives every event emitted here.
    """

    def __init__(self, parent: EventBus | None = None) -> None:
        self.parent = parent
        self._subs: tuple[Subscription, ...] = ()
        self._lock = threading.Lock()

    def subscribe(self, callback: Callback, mask: EventKind | None = None) -> Subscription:
        """Call ``callback(event)`` for every event whose kind is in ``mask`` (default: all).

        The callback runs on the emitting I/O thread; it must not block.
        """
        sub = Subscription(callback, EventKind.all() if mask is None else mask)
        with self._lock:
            self._subs = (*self._subs, sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop delivering to ``sub``; harmless if it is not subscribed."""
        with self._lock:
            self._subs = tuple(s for s in self._subs if s is not sub)

    def emit(self, event: ReactorEvent) -> None:
        """Deliver ``event`` to every matching subscriber here and up the chain."""
        bus: EventBus | None = self
        while bus is not None:
            for sub in bus._subs:
                if event.kind & sub.mask:
                    try:
                        sub.callback(event)
                    except Exception:  # an observer's bug must not break the engine
                        log.exception("event subscriber %r raised", sub.callback)
            bus = bus.parent
