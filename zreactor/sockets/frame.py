"""Frames and message tracking as the API hands them out: pyzmq's ``Frame`` and ``MessageTracker``.

Theory of operation
-------------------
zreactor keeps every frame *in flight* as an immutable ``bytes`` object from the moment it is
sent, so a caller's buffer is never shared with an I/O thread: :func:`as_frame` turns whatever
a caller passes to ``send`` into ``bytes`` once, at the edge (a ``bytes`` object is kept as
is, since nobody can change it; a ``bytearray``, ``memoryview``, numpy array or
:class:`Frame` is copied).

*The Frame and its buffer.* A :class:`Frame` is what the API hands out for
``recv(copy=False)`` and what callers build to send: pyzmq's shape (``.bytes``, ``.buffer``,
``.more``, ``get(zmq.MORE)``, ``frame["User-Id"]``) and pyzmq's buffer, which is *writable*
(it is libzmq's message memory there): ``memoryview(frame)``, ``numpy.frombuffer(frame)``
and ``frame.buffer`` see it. A pure-Python class can export the buffer protocol itself only
from Python 3.12 (``__buffer__``); to export it on every supported version, :class:`Frame`
*is* a ``bytearray`` (the one builtin whose buffer is writable, one-dimensional, format
``"B"`` and subclassable with slots), holding the frame's content. The costs, said once:

* building a frame copies its data into the frame (pyzmq's ``copy=True``; zreactor has no
  zero-copy frames, see the garbage collector in :mod:`zreactor.utils.garbage`), and a
  received frame is one copy of the bytes the wire delivered;
* ``.bytes`` is a ``bytes`` snapshot, made on first access and then always the same object
  (pyzmq's rule); for a received frame the snapshot is taken at reception, from the bytes the
  wire delivered, so it costs no copy. Writing into the buffer later changes what a ``send``
  of the frame sends (its current content) but not an earlier snapshot, as in pyzmq.
* ``bytearray``'s own methods (``append``, slicing ...) are inherited; pyzmq's frames have
  none of them. ``frame[key]`` is pyzmq's ``frame.get(key)``, not indexing.

*Tracking* (``send(..., track=True)``, ``Frame(track=True)``). pyzmq's :class:`MessageTracker`
answers "is ZeroMQ done with this message?", which for libzmq means it released the buffer.
zreactor's honest equivalent: done when zreactor dropped its last reference to the message,
because it was written to the connection, read by an inproc peer, or discarded (HWM on PUB,
a closed pipe). A tracked send wraps the message in a :class:`TrackedMessage`, a ``list``
subclass that can be weakly referenced; ``weakref.finalize`` sets the tracker's event when
the message is freed. Patterns edit that list in place (ROUTER strips the routing frame, REQ
adds its delimiter) and never copy it, so the tracker follows the message to the pipe, the
engine and the wire. Untracked messages are plain lists, so tracking costs nothing unless
asked for. A tracked :class:`Frame` built with ``copy=False`` (pyzmq's zero-copy case) adds
its own event, set when the frame object itself is freed, as pyzmq's is when libzmq and Python
both let go of it; a copied one is done at once, as in pyzmq.

*Metadata.* Frames received on PLAIN, CURVE or ZAP-authenticated connections arrive as
:class:`~zreactor.zmtp.metadata.MetaBytes` carrying the connection's properties;
``Frame.get("User-Id")`` reads them, as pyzmq's does.
"""

from __future__ import annotations

import builtins
import sys
import threading
import time
import weakref
from typing import Any

from ..zmtp.metadata import MetaBytes

__all__ = [
    "FINISHED_TRACKER", "Frame", "Message", "MessageTracker", "MetaBytes", "TrackedMessage", "as_frame",
    "public_module",
]

#: pyzmq copies frames smaller than this in ``Frame(data)``; zreactor follows (``COPY_THRESHOLD``)
COPY_THRESHOLD = 65536


def public_module() -> str:
    """The name reprs use for the package: ``zmq`` under ``install_as_zmq()``, else ``zreactor``."""
    package = sys.modules.get("zreactor")
    return "zmq" if package is not None and sys.modules.get("zmq") is package else "zreactor"


class MessageTracker:
    """Tells when zreactor is done with one or more messages (pyzmq's ``zmq.MessageTracker``).

    Args:
        towatch: ``threading.Event`` objects, other trackers, or tracked :class:`Frame` objects.

    Raises:
        ValueError: a :class:`Frame` that is not tracked. TypeError: anything else.
    """

    def __init__(self, *towatch: Any) -> None:
        self.events: set[threading.Event] = set()
        self.peers: set[MessageTracker] = set()
        for obj in towatch:
            if isinstance(obj, threading.Event):
                self.events.add(obj)
            elif isinstance(obj, MessageTracker):
                self.peers.add(obj)
            elif isinstance(obj, Frame):
                if not obj.tracker:
                    raise ValueError("Not a tracked message")
                self.peers.add(obj.tracker)
            else:
                raise TypeError(f"Require Events or Message Frames, not {type(obj)}")

    @property
    def done(self) -> bool:
        """True once every watched message has been released."""
        return all(e.is_set() for e in self.events) and all(p.done for p in self.peers)

    def wait(self, timeout: float | int = -1) -> None:
        """Block until :attr:`done`, or ``timeout`` seconds (``-1``: no limit).

        Raises:
            NotDone: the timeout passed first.
        """
        from ..errors import NotDone

        deadline = None if timeout is False or timeout < 0 else time.monotonic() + timeout
        while True:
            event = self._pending_event()
            if event is None:
                return
            remaining = None if deadline is None else deadline - time.monotonic()
            if (remaining is not None and remaining <= 0) or not event.wait(remaining):
                raise NotDone

    def _pending_event(self) -> threading.Event | None:
        """One watched event not set yet (here or in a peer), or None when all are done."""
        for event in self.events:
            if not event.is_set():
                return event
        for peer in self.peers:
            event = peer._pending_event()
            if event is not None:
                return event
        return None


#: the tracker of a message zreactor was done with before ``send`` returned
#: (``zmq._FINISHED_TRACKER`` in pyzmq)
FINISHED_TRACKER = MessageTracker()


class TrackedMessage(list):  # type: ignore[type-arg]
    """A message (list of frames) whose release sets :attr:`event`; see the module docstring."""

    __slots__ = ("__weakref__", "tracker")

    def __init__(self, frames: list[bytes]) -> None:
        super().__init__(frames)
        event = threading.Event()
        weakref.finalize(self, event.set)
        self.tracker = MessageTracker(event)


class Frame(bytearray):
    """One frame of a message (pyzmq's ``zmq.Frame``; ``zmq.Message`` is the same class).

    The frame is a ``bytearray`` holding its content (see the module docstring), so it
    exports a writable buffer: ``memoryview(frame)``, ``numpy.frombuffer(frame, dtype)``.

    Args:
        data: bytes-like content (not ``str``: encode it); ``None`` is an empty frame.
        track: give the frame a :attr:`tracker`: done when the frame is freed, or at once
            when the data was copied (``copy=True``, or a short frame by default), as pyzmq.
        copy: pyzmq's choice between copying ``data`` and sharing it with libzmq (default:
            share it from ``copy_threshold`` bytes on). zreactor always copies it into the
            frame; ``copy`` decides only what ``track`` reports, as a pyzmq caller expects.
        copy_threshold: see ``copy`` (default ``zmq.COPY_THRESHOLD``).

    Attributes:
        more: True if more frames of the same message follow (received frames).
        tracker: a :class:`MessageTracker`, or ``None`` when not tracked.

    Raises:
        TypeError: ``data`` is a ``str`` or not bytes-like. BufferError: not contiguous.
    """

    __slots__ = ("more", "tracker", "_bytes", "_view", "_properties", "__weakref__")

    def __init__(self, data: Any = None, track: bool = False, copy: bool | None = None,
                 copy_threshold: int | None = None) -> None:
        if isinstance(data, str):
            raise TypeError("Str objects not allowed. Only: bytes, buffer interfaces.")
        if data is None:
            data = b""
        try:
            view = memoryview(data)  # refuses ints, which bytearray(5) would take as a size
        except TypeError:
            raise TypeError(f"expected a bytes-like object, got {type(data).__name__}") from None
        if not view.contiguous:
            raise BufferError("a Frame needs a contiguous buffer")
        bytearray.__init__(self, view)
        self.more = False
        self._bytes: bytes | None = None
        self._view: weakref.ref[memoryview] | None = None
        self._properties: dict[str, str] | None = None
        self.tracker: MessageTracker | None = None
        if track:
            threshold = COPY_THRESHOLD if copy_threshold is None else copy_threshold
            if copy or (copy is None and view.nbytes < threshold):
                self.tracker = FINISHED_TRACKER  # copied: nothing of the caller's is held
            else:
                event = threading.Event()
                weakref.finalize(self, event.set)
                self.tracker = MessageTracker(event)

    @classmethod
    def _received(cls, data: bytes, more: bool) -> Frame:
        """A frame for ``recv(copy=False)``: ``data`` (as the wire delivered it) is also the
        :attr:`bytes` snapshot, so reading ``.bytes`` copies nothing."""
        frame = cls.__new__(cls)
        bytearray.__init__(frame, data)
        frame.more = more
        frame._bytes = data if type(data) is bytes else None  # MetaBytes: a plain copy later
        frame._view = None
        frame._properties = getattr(data, "properties", None)  # MetaBytes (see module doc)
        frame.tracker = None
        return frame

    @property
    def bytes(self) -> bytes:
        """The content as ``bytes``: a copy made on first access, the same object afterwards."""
        snapshot = self._bytes
        if snapshot is None:
            snapshot = self._bytes = builtins.bytes(self)
        return snapshot

    @property
    def buffer(self) -> memoryview:
        """A (writable) memoryview of the content; the same object while anyone holds it.

        Held weakly, as pyzmq does: a view held by the frame itself would make every frame
        that was ever viewed a reference cycle, freed (and its tracker done) only by the
        cyclic garbage collector. While a view exists the frame cannot change size.
        """
        view = None if self._view is None else self._view()
        if view is None:
            view = memoryview(self)
            self._view = weakref.ref(view)
        return view

    @property
    def closed(self) -> bool:
        """Always False (pyzmq's frames can be closed; zreactor's are plain memory)."""
        return False

    def get(self, option: int | str) -> Any:
        """A frame property: ``zmq.MORE`` (1 if more frames follow), ``zmq.SHARED`` (0), or
        by name a metadata property of the connection the frame came on (``"User-Id"``,
        ``"Socket-Type"``, ``"Peer-Address"``, ZAP metadata names), ``None`` if it has none.

        Metadata is attached to frames from PLAIN and CURVE connections and from NULL
        connections authenticated through ZAP. Property names are case-insensitive (RFC 37).

        Raises:
            ZMQError: EINVAL for an int option other than ``MORE``/``SHARED``.
        """
        import errno

        from ..constants import MessageOption
        from ..errors import ZMQError

        if isinstance(option, int):
            if option == MessageOption.MORE:
                return int(self.more)
            if option == MessageOption.SHARED:
                return 0
            raise ZMQError(errno.EINVAL, f"frame property {option!r} is not available")
        props = self._properties or {}
        value = props.get(option)
        if value is None:
            folded = option.lower()
            value = next((v for k, v in props.items() if k.lower() == folded), None)
        return value

    def set(self, option: int | str, value: Any) -> None:
        """pyzmq's ``Frame.set``; no property is writable here.

        Raises:
            ZMQError: EINVAL always (``routing_id``/``group`` are libzmq draft features).
        """
        import errno

        from ..errors import ZMQError

        raise ZMQError(errno.EINVAL, f"frame property {option!r} cannot be set")

    def __getitem__(self, key: int | str) -> Any:  # type: ignore[override]
        """``frame["User-Id"]`` is ``frame.get("User-Id")`` (pyzmq), not indexing.

        Raises:
            KeyError: the frame has no such property.
        """
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def fast_copy(self) -> Frame:
        """A new frame with the same content, snapshot, properties and tracker."""
        frame = Frame._received(self, self.more)
        frame._bytes = self._bytes
        frame._properties = self._properties
        frame.tracker = self.tracker
        return frame

    __copy__ = fast_copy

    def __hash__(self) -> int:  # type: ignore[override]
        """By content, like ``==`` (do not change a frame's content while it is a dict key)."""
        return hash(builtins.bytes(self))

    def __repr__(self) -> str:
        """pyzmq's: ``<zmq.Frame(b'xxxxxxxxxxxx'...2kB)>``."""
        nbytes = len(self)
        suffix = ""
        if nbytes > 16:
            shown = builtins.bytes(memoryview(self)[:12])
            for limit, unit, divisor in ((1e9, "GB", 1e9), (2**20, "MB", 1e6), (1e3, "kB", 1e3)):
                if nbytes >= limit:
                    suffix = f"...{nbytes // divisor:.0f}{unit}"
                    break
            else:
                suffix = f"...{nbytes}B"
        else:
            shown = builtins.bytes(self)
        return f"<{public_module()}.{type(self).__name__}({shown!r}{suffix})>"

    __str__ = __repr__


#: pyzmq's other name for :class:`Frame`
Message = Frame


def as_frame(data: Any) -> bytes:
    """``data`` as the immutable ``bytes`` a frame is stored as.

    Raises:
        TypeError: ``data`` is a ``str`` (encode it, or use ``send_string``) or not bytes-like.
    """
    if isinstance(data, bytes):
        return data
    if isinstance(data, Frame):
        return bytes(data)  # its current content (the buffer may have been written)
    if isinstance(data, str):
        raise TypeError("unicode not allowed, use send_string")
    try:
        return bytes(memoryview(data))
    except TypeError:
        raise TypeError(f"expected bytes-like frame, got {type(data).__name__}") from None
