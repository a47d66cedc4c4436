"""Socket monitoring: a socket's events as messages on an inproc PAIR (libzmq's monitor).

Theory of operation
-------------------
``socket.monitor("inproc://mon", events)`` creates an internal PAIR socket, binds it at that
address, and subscribes a :class:`Monitor` to the socket's :attr:`~Socket.event_bus`. The
application connects its own PAIR to the address (or lets :func:`get_monitor_socket` do it)
and reads one two-frame message per event; :func:`recv_monitor_message` decodes them.

*Who sends, and why it never blocks.* Events are emitted by the socket's listeners, sessions
and engines, on I/O threads (a few, such as a failed bind, on the application thread). The
monitor sends each event on its PAIR right there, so the PAIR is used by several threads; a
lock serialises them, which is the memory barrier the socket rules ask for (libzmq guards its
monitor socket with ``monitor_sync`` the same way). Every send is ``DONTWAIT``: if nobody is
connected yet, or the reader has fallen ``sndhwm + rcvhwm`` messages behind, the event is
*dropped and counted* in :attr:`Monitor.dropped`. An I/O thread never waits for a slow
monitor reader; losing an event is the lesser harm.

*Wire format.* libzmq's version-1 event message, so readers written for libzmq decode it:

====================  =====================================================================
frame 1 (6 bytes)     ``struct.pack("=HI", event, value)``: event id (uint16), value
                      (uint32; decoded as int32 like pyzmq), native byte order, no padding
frame 2               the endpoint, UTF-8 bytes (``b""`` if none)
====================  =====================================================================

zreactor's own kinds (listener states, above ``0xFFFF``) do not fit in 16 bits; they travel
with an 8-byte first frame, ``struct.pack("=II", event, value)``. :func:`parse_monitor_message`
accepts both. A monitor started with ``events=zmq.EVENT_ALL`` (``0xFFFF``) only ever sends
6-byte frames, so pyzmq's own decoder can read it; ``-1`` (or ``EventKind.all()``) adds zreactor's.

*Stopping.* Monitoring stops when ``socket.monitor(None)`` (``disable_monitor()``) is called,
when a new monitor replaces it, or when the monitored socket is destroyed (after ``close()``
and its linger). Then ``MONITOR_STOPPED`` is sent (if it is in the event mask) and the
internal PAIR is closed with linger 0; messages already queued stay readable by the reader,
as on any inproc pipe. After ``Context.term()`` has started, sends fail and are counted as
dropped, as in libzmq.
"""

from __future__ import annotations

import errno
import struct
import threading
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Sequence, TypedDict

from ..constants import Flag, SocketType
from ..errors import ZMQError
from ..reactor.events import EventBus, EventKind, ReactorEvent, Subscription

if TYPE_CHECKING:
    from .socket import Socket

__all__ = [
    "Monitor",
    "MonitorMessage",
    "encode_event",
    "get_monitor_socket",
    "parse_monitor_message",
    "recv_monitor_message",
    "start_monitor",
    "stop_monitor",
]

#: libzmq's ZMQ_EVENT_ALL: every kind a 16-bit event id can carry
LIBZMQ_EVENTS = 0xFFFF
ALL_EVENTS = int(EventKind.all())

_V1 = struct.Struct("=HI")  # libzmq: uint16 event + uint32 value
_V1_DECODE = struct.Struct("=Hi")  # pyzmq reads the value as int32
_EXT = struct.Struct("=II")  # zreactor: uint32 event + uint32 value
_EXT_DECODE = struct.Struct("=Ii")


class MonitorMessage(TypedDict):
    """A decoded monitor message (pyzmq's shape)."""

    event: int
    value: int
    endpoint: bytes


def encode_event(kind: int, value: int = 0, endpoint: str | bytes = "") -> list[bytes]:
    """The two frames of one monitor message (see the module docstring)."""
    kind = int(kind)
    if kind < 0 or kind > 0xFFFF_FFFF:
        raise ValueError(f"event kind out of range: {kind:#x}")
    fmt = _V1 if kind <= 0xFFFF else _EXT
    if isinstance(endpoint, str):
        endpoint = endpoint.encode("utf-8")
    return [fmt.pack(kind, int(value) & 0xFFFF_FFFF), bytes(endpoint)]


def parse_monitor_message(msg: Sequence[Any]) -> MonitorMessage:
    """Decode a monitor message: ``{"event": ..., "value": ..., "endpoint": bytes}``.

    ``event`` is an :class:`~zreactor.EventKind` (an int) when the kind is known, else the
    plain int. Accepts libzmq's 6-byte first frame and zreactor's 8-byte one.

    Raises:
        RuntimeError: the frames are not a monitor message (pyzmq raises the same).
    """
    frames = [bytes(f) for f in msg]
    if len(frames) != 2 or len(frames[0]) not in (_V1.size, _EXT.size):
        raise RuntimeError(f"Invalid event message format: {msg!r}")
    decoder = _V1_DECODE if len(frames[0]) == _V1.size else _EXT_DECODE
    kind, value = decoder.unpack(frames[0])
    event: int
    try:
        event = EventKind(kind)
    except ValueError:  # pragma: no cover - IntFlag keeps unknown bits on 3.11+
        event = kind
    return {"event": event, "value": value, "endpoint": frames[1]}


def recv_monitor_message(socket: Socket, flags: int = 0) -> Any:
    """Receive one message on a monitor PAIR and decode it (pyzmq's helper).

    With an awaitable socket (:mod:`zreactor.asyncio`) this returns an awaitable of the
    decoded message, as pyzmq's does.

    Raises:
        Again: ``flags=DONTWAIT`` and nothing is queued. RuntimeError: not a monitor message.
    """
    msg = socket.recv_multipart(flags)
    if isinstance(msg, Awaitable):
        return _parse_when_received(msg)
    return parse_monitor_message(msg)


async def _parse_when_received(msg: Awaitable[list[bytes]]) -> MonitorMessage:
    return parse_monitor_message(await msg)


class Monitor:
    """Forwards one socket's events to a PAIR bound at an inproc address.

    Created by :func:`start_monitor`; see the module docstring for the threading rules.

    Attributes:
        endpoint: the inproc address the PAIR is bound at.
        mask: the event kinds forwarded.
        sent: events delivered to the PAIR.
        dropped: events lost because no reader was connected, it was full, or the context
            was terminating.
    """

    def __init__(self, socket: Socket, endpoint: str, mask: int, pair: Socket) -> None:
        self.socket = socket
        self.endpoint = endpoint
        self.mask = mask
        self.sent = 0
        self.dropped = 0
        self._pair: Socket | None = pair
        #: the PAIR :func:`get_monitor_socket` connected, if it made one
        self.reader: Socket | None = None
        self._lock = threading.Lock()
        self._bus: EventBus = socket.event_bus
        self._subscription: Subscription | None = self._bus.subscribe(
            self._deliver, EventKind(mask & ALL_EVENTS))

    @property
    def active(self) -> bool:
        """True until :meth:`stop`."""
        return self._pair is not None

    def _deliver(self, event: ReactorEvent) -> None:
        # runs on the emitting thread (usually an I/O thread): never block
        self.send(event.kind, event.value, event.endpoint)

    def send(self, kind: int, value: int = 0, endpoint: str | bytes = "") -> bool:
        """Send one event without waiting; False (and counted in ``dropped``) if it was lost."""
        frames = encode_event(kind, value, endpoint)
        with self._lock:
            return self._send_locked(self._pair, frames)

    def _send_locked(self, pair: Socket | None, frames: list[bytes]) -> bool:
        if pair is None:
            return False
        try:
            pair.send_multipart(frames, Flag.DONTWAIT)
        except ZMQError:  # Again (no reader, or full), ETERM, ENOTSOCK: drop, never wait
            self.dropped += 1
            return False
        self.sent += 1
        return True

    def stop(self) -> None:
        """Stop forwarding; send ``MONITOR_STOPPED`` (if in the mask) and close the PAIR.

        Any thread; idempotent. ``MONITOR_STOPPED`` is the last message the PAIR carries: an
        event racing with ``stop()`` is either sent before it or not at all.
        """
        with self._lock:
            subscription, self._subscription = self._subscription, None
            if subscription is not None:
                self._bus.unsubscribe(subscription)
            pair, self._pair = self._pair, None
            if pair is not None and self.mask & EventKind.MONITOR_STOPPED:
                self._send_locked(pair, encode_event(EventKind.MONITOR_STOPPED))
        if pair is not None:
            pair.close(linger=0)

    def __repr__(self) -> str:
        state = "active" if self.active else "stopped"
        return f"<zreactor Monitor {self.endpoint} {state} sent={self.sent} dropped={self.dropped}>"


def _event_mask(events: int | None) -> int:
    if events is None or events == -1:
        return ALL_EVENTS
    events = int(events)
    if events < 0:
        raise ZMQError(errno.EINVAL, f"invalid event mask {events}")
    return events & ALL_EVENTS


def start_monitor(socket: Socket, addr: str | None, events: int | None = -1) -> Monitor | None:
    """``socket.monitor(addr, events)``: publish ``socket``'s events on a PAIR bound at ``addr``.

    Args:
        socket: the socket to watch.
        addr: an ``inproc://`` address, or ``None`` to stop monitoring.
        events: a mask of :class:`~zreactor.EventKind` values; ``-1`` (or ``None``): every
            kind, zreactor's included; ``EVENT_ALL`` (``0xFFFF``): libzmq's kinds only.

    Returns:
        the :class:`Monitor` (``None`` when stopping). A monitor already running on
        ``socket`` is stopped first.

    Raises:
        ZMQError: EPROTONOSUPPORT for a non-inproc address, EADDRINUSE if it is taken,
            ENOTSOCK if ``socket`` is closed.
    """
    socket._check_usable()
    if addr is None:
        stop_monitor(socket)
        return None
    if not addr.startswith("inproc://"):
        raise ZMQError(errno.EPROTONOSUPPORT, f"monitor endpoints must be inproc://, got {addr!r}")
    mask = _event_mask(events)
    stop_monitor(socket)
    from .socket import Socket  # (socket.py imports this module)

    # a blocking socket whatever the context makes by default: an awaitable context's
    # sockets could not be written from the I/O threads that publish the events
    pair = socket.context.socket(SocketType.PAIR, socket_class=Socket)
    pair._internal = True  # closed by the monitor, not by Context.destroy()
    pair.linger = 0  # never hold up termination for unread events (libzmq does the same)
    try:
        pair.bind(addr)
    except BaseException:
        pair.close(linger=0)
        raise
    monitor = Monitor(socket, addr, mask, pair)
    socket._monitor = monitor
    return monitor


def stop_monitor(socket: Socket) -> None:
    """Stop ``socket``'s monitor, if any (``MONITOR_STOPPED`` is sent). Any thread."""
    monitor = socket._monitor
    if monitor is not None:
        socket._monitor = None
        monitor.stop()


def get_monitor_socket(socket: Socket, events: int | None = None, addr: str | None = None,
                       *, linger: int | None = None) -> Socket:
    """Start monitoring ``socket`` and return a connected PAIR to read events from.

    pyzmq's helper: binds a monitor at ``addr`` (default ``inproc://monitor.s-<id>``), creates
    a PAIR in the same context, connects it, and returns it. If this helper already returned
    a reader for a monitor that is still running and the reader is open, that reader is
    returned again (as in pyzmq). Read it with :func:`recv_monitor_message`; close it when
    done (``socket.disable_monitor()`` first if the socket stays open).

    Args:
        events: as for :func:`start_monitor`; ``None`` means every kind.
        addr: the inproc address to use.
        linger: ``linger`` option (ms) of the returned socket.
    """
    socket._check_usable()
    current = socket._monitor
    if current is not None and current.reader is not None and not current.reader.closed:
        return current.reader
    if addr is None:
        addr = f"inproc://monitor.s-{id(socket):x}"
    monitor = start_monitor(socket, addr, events)
    assert monitor is not None
    reader = socket.context.socket(SocketType.PAIR)
    try:
        if linger is not None:
            reader.linger = linger
        reader.connect(addr)
    except BaseException:
        reader.close(linger=0)
        stop_monitor(socket)
        raise
    monitor.reader = reader
    return reader
