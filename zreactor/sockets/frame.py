"""Frames as the API hands them out: ``bytes`` normally, :class:`Frame` with ``copy=False``.

zreactor keeps every frame as an immutable ``bytes`` object from the moment it is sent, so
there is nothing to share and nothing to track: ``copy=False`` wraps the same bytes in a small
:class:`Frame` (pyzmq's shape: ``.bytes``, ``.buffer``, ``.more``), and :func:`as_frame` turns
whatever a caller passes to ``send`` into ``bytes`` once, at the edge.
"""

from __future__ import annotations

from typing import Any

from ..zmtp.metadata import MetaBytes

__all__ = ["Frame", "MetaBytes", "as_frame"]



class Frame:
    """A received frame when ``copy=False`` (a small subset of pyzmq's ``zmq.Frame``).

    Attributes:
        bytes: the frame's content.
        more: True if more frames of the same message follow.
    """

    __slots__ = ("_properties", "bytes", "more")

    def __init__(self, data: bytes = b"", more: bool = False) -> None:
        self._properties: dict[str, str] | None = getattr(data, "properties", None)
        self.bytes = bytes(data)
        self.more = more

    def get(self, option: str | int) -> Any:
        """A metadata property of the connection the frame came on (``"User-Id"``,
        ``"Socket-Type"``, ``"Peer-Address"``, ZAP metadata names), or ``None``; an int
        asks for ``MORE`` (1), as in pyzmq.

        Metadata is attached to frames from PLAIN and CURVE connections and from NULL
        connections authenticated through ZAP.
        """
        if isinstance(option, int):
            return int(self.more) if option == 1 else None
        props = self._properties or {}
        value = props.get(option)
        if value is None:  # property names are case-insensitive (RFC 37)
            folded = option.lower()
            value = next((v for k, v in props.items() if k.lower() == folded), None)
        return value

    def __getitem__(self, key: str) -> Any:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    @property
    def buffer(self) -> memoryview:
        """The content as a memoryview."""
        return memoryview(self.bytes)

    def __bytes__(self) -> bytes:
        return self.bytes

    def __len__(self) -> int:
        return len(self.bytes)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Frame):
            return self.bytes == other.bytes
        if isinstance(other, (bytes, bytearray, memoryview)):
            return self.bytes == bytes(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.bytes)

    def __repr__(self) -> str:
        return f"<zreactor.Frame {self.bytes[:32]!r}{'...' if len(self.bytes) > 32 else ''}>"


def as_frame(data: Any) -> bytes:
    """``data`` as the immutable ``bytes`` a frame is stored as.

    Raises:
        TypeError: ``data`` is a ``str`` (encode it, or use ``send_string``) or not bytes-like.
    """
    if isinstance(data, bytes):
        return data
    if isinstance(data, Frame):
        return data.bytes
    if isinstance(data, str):
        raise TypeError("unicode not allowed, use send_string")
    try:
        return bytes(memoryview(data))
    except TypeError:
        raise TypeError(f"expected bytes-like frame, got {type(data).__name__}") from None
