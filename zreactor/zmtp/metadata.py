"""Message metadata: the connection's properties, carried by each received frame.

Theory of operation
-------------------
libzmq attaches a metadata object to every message it receives on a connection; pyzmq reads
it with ``Frame.get("User-Id")``. zreactor frames are immutable ``bytes`` that pass
through pipes and socket patterns untouched, so the cheapest faithful carrier is the frame
itself: :class:`MetaBytes` is ``bytes`` with one extra attribute. The engine labels frames
only on connections that have something to say (PLAIN, CURVE, or ZAP-authenticated NULL),
so the NULL hot path pays nothing; each such connection gets its own subclass holding its
properties (:meth:`MetaBytes.kind`), so labelling a frame costs one ``bytes`` construction.
"""

from __future__ import annotations

__all__ = ["MetaBytes"]


class MetaBytes(bytes):
    """A received frame's bytes with the connection's properties attached.

    Frames from authenticated or encrypted connections carry libzmq's message metadata: the
    peer's handshake properties (``Socket-Type``, ``Identity``, application ``X-`` names),
    ``Peer-Address``, and from ZAP the ``User-Id`` and the handler's own properties. They
    travel through pipes and patterns as these ``bytes`` (equal to, and usable as, plain
    bytes); :class:`Frame` exposes them with ``get()``, as pyzmq's ``Frame.get`` does.
    """

    __slots__ = ()
    #: the connection's properties (set on the per-connection subclass, see :meth:`kind`)
    properties: dict[str, str] = {}

    @classmethod
    def kind(cls, properties: dict[str, str]) -> type[MetaBytes]:
        """A subclass whose frames all carry ``properties``: one per connection, made at the
        handshake. Building a frame is then the C-level ``bytes`` constructor (``kind(data)``),
        with no Python ``__new__`` per frame and no per-frame attribute."""
        return type("MetaBytes", (cls,), {"__slots__": (), "properties": properties})

    def __reduce__(self) -> tuple[type, tuple[bytes]]:  # pickles as the plain bytes
        return (bytes, (bytes(self),))
