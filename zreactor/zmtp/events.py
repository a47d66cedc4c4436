"""Events a :class:`~zreactor.zmtp.connection.ZmtpConnection` reports for received bytes.

Theory of operation
-------------------
``ZmtpConnection.receive_data(data)`` returns a list of these, in wire order. They are small
frozen value objects; an engine dispatches on their type (``match event: case Message(...)``)
and never needs to look at a frame. Which event a frame becomes depends on the connection's
state and socket type, which is the connection's business, not the event's.
(:class:`MessageBatch` alone is not frozen: one is made per read in traffic, and a frozen
dataclass's ``__init__`` costs three times a plain one's. Treat it as frozen all the same.)

The grammar of one connection's events::

    HandshakeComplete (Message | Subscribe | Cancel | Ping | Pong)* [PeerError]
    | PeerError

``ZmtpConnection.receive_batch(data)`` reports the same things, except that each run of
consecutive messages comes as one :class:`MessageBatch` instead of one :class:`Message` per
message: the engine's hot path then handles one event per ``recv()``, not one per message.

Nothing follows a :class:`PeerError`: the peer has declared the connection dead.

Two events belong to server mechanisms that ask the ZAP handler: :class:`ZapRequest` (carry
these frames to the handler, then call ``conn.zap_reply(frames)`` or
``conn.zap_unavailable()``), and :class:`AuthFailed` (the handler refused the peer; the
connection queued the ERROR it owes, if any, and is closed). So during the handshake::

    [ZapRequest] (HandshakeComplete | AuthFailed | PeerError)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Cancel",
    "Event",
    "HandshakeComplete",
    "Message",
    "MessageBatch",
    "PeerError",
    "Ping",
    "Pong",
    "Subscribe",
    "ZapRequest",
    "AuthFailed",
]


@dataclass(frozen=True, slots=True)
class HandshakeComplete:
    """Both READY commands have crossed: messages may flow both ways.

    Attributes:
        peer_socket_type: the peer's ``Socket-Type`` property, e.g. ``"DEALER"``; already
            checked to be compatible with ours.
        peer_identity: the peer's ``Identity`` property, ``b""`` if it sent none (libzmq sends
            one only from REQ, DEALER and ROUTER sockets).
        metadata: every property of the peer's READY, ``Socket-Type`` and ``Identity``
            included, under the names as the peer spelled them.
        version: the ZMTP version we use with this peer, ``(3, 0)`` or ``(3, 1)``.
    """

    peer_socket_type: str
    peer_identity: bytes
    metadata: dict[str, bytes]
    version: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Message:
    """A complete multipart message.

    Attributes:
        frames: the message's frames, at least one.
    """

    frames: list[bytes]


@dataclass(slots=True)  # (not frozen: made once per read, and a frozen init costs 3 k instructions)
class MessageBatch:
    """Consecutive complete messages, in order (from ``receive_batch`` only).

    Attributes:
        messages: each message as a list of its frames; never empty.
    """

    messages: list[list[bytes]]


@dataclass(frozen=True, slots=True)
class Subscribe:
    """The peer subscribed to ``topic`` (reported only on PUB and XPUB connections).

    Attributes:
        topic: the prefix the peer wants; ``b""`` matches everything.
    """

    topic: bytes


@dataclass(frozen=True, slots=True)
class Cancel:
    """The peer cancelled one subscription to ``topic`` (PUB and XPUB connections only).

    Attributes:
        topic: the prefix whose subscription is cancelled.
    """

    topic: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    """The peer sent a heartbeat PING. The connection does not answer it by itself.

    Attributes:
        ttl: the peer's time-to-live hint in seconds (0.0 for none): the peer may close the
            connection if it receives nothing from us for that long after its PING. libzmq
            acts on it by closing its side if nothing arrives within ``ttl``.
        context: up to 16 bytes to echo in the PONG.
    """

    ttl: float
    context: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    """The peer answered one of our PINGs.

    Attributes:
        context: the context of the PING it answers.
    """

    context: bytes


@dataclass(frozen=True, slots=True)
class PeerError:
    """The peer sent an ERROR command: it is closing the connection and will not retry.

    Attributes:
        reason: the peer's reason text.
    """

    reason: str


@dataclass(frozen=True, slots=True)
class ZapRequest:
    """Ask the ZAP handler about the peer (RFC 27); answer with ``conn.zap_reply``.

    Attributes:
        frames: the request, delimiter first, exactly as libzmq sends it.
    """

    frames: list[bytes]

    def __repr__(self) -> str:
        # the frames hold the peer's credentials: never shown
        return f"ZapRequest(<{len(self.frames)} frames>)"


@dataclass(frozen=True, slots=True)
class AuthFailed:
    """The ZAP handler refused the peer; the connection is closed.

    Attributes:
        status: the ZAP status code, 300, 400 or 500.
        reason: a short explanation for the log.
    """

    status: int
    reason: str


#: Anything :meth:`ZmtpConnection.receive_data` may return (``receive_batch`` may also
#: return :class:`MessageBatch`).
Event = (HandshakeComplete | Message | MessageBatch | Subscribe | Cancel | Ping | Pong | PeerError
         | ZapRequest | AuthFailed)
