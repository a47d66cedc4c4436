"""Message metadata: the connection's properties, carried by each received frame.

Theory of operation
-------------------
libzmq attaches a metadata object to every message it receives on a connection; pyzmq reads
it with ``Frame.get("User-Id")``. zreactor frames are immutable ``bytes`` that pass
through pipes and socket patterns untouched, so the cheapest faithful carrier is the frame
itself: :class:`MetaBytes` is ``bytes`` with one extra attribute. The engine labels frames
only on connections that have something to say (PLAIN, CURVE, or ZAP-authenticated NULL),
so the NULL hot path pays nothing.
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

    properties: dict[str, str]

    def __new__(cls, data: bytes, properties: dict[str, str]) -> MetaBytes:
        self = super().__new__(cls, data)
        self.properties = properties
        return self

    def __reduce__(self) -> tuple[type, tuple[bytes]]:  # pickles as the plain bytes
        return (bytes, (bytes(self),))
