"""ZAP (RFC 27) on the wire: the request a server mechanism sends, the reply it judges.

Theory of operation
-------------------
A server mechanism (PLAIN, CURVE, or NULL with a ``ZAP_DOMAIN``) does not decide by itself
who may connect: it asks the ZAP handler, a REP or ROUTER socket the application binds to
``inproc://zeromq.zap.01``. This module is the sans-I/O half of that conversation: the frames
of a request, and the judgement of a reply, exactly as libzmq's ``zap_client_t`` writes and
reads them. Carrying the frames over inproc is the messaging layer's business
(:mod:`zreactor.sockets.zap`).

A request, as libzmq 4.3 sends it (the leading empty frame is the REQ-style envelope
delimiter a REP handler strips)::

    ""  "1.0"  "1"  domain  address  routing-id  mechanism  credentials*

``address`` is the peer's IP address without the port (empty for ipc), ``routing-id`` our
own socket's routing id, and the credentials depend on the mechanism: none for NULL, user
name and password for PLAIN, the client's 32-byte long-term public key for CURVE. libzmq
always uses request id ``"1"``: a connection has at most one request outstanding.

A reply must have exactly seven frames (delimiter included) or it is malformed::

    ""  "1.0"  "1"  status-code  status-text  user-id  metadata

Each check below raises :class:`~.mechanisms.HandshakeError` with the ``PROTOCOL_ERROR_ZAP_*``
code libzmq reports on its monitor for the same fault. The status code must be 200, 300, 400
or 500 (libzmq checks ``[2-5]00``); the metadata frame uses READY's property encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..errors import ProtocolError
from . import commands
from .handshake import (
    PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID,
    PROTOCOL_ERROR_ZAP_BAD_VERSION,
    PROTOCOL_ERROR_ZAP_INVALID_METADATA,
    PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE,
    PROTOCOL_ERROR_ZAP_MALFORMED_REPLY,
    PROTOCOL_ERROR_ZAP_UNSPECIFIED,
    HandshakeError,
)

__all__ = ["ZAP_ENDPOINT", "ZAP_VERSION", "ZapReply", "ZapSettings", "encode_request",
           "parse_reply"]

#: Where the ZAP handler binds (RFC 27).
ZAP_ENDPOINT = "inproc://zeromq.zap.01"
#: The protocol version every request and reply carries.
ZAP_VERSION = b"1.0"
#: libzmq's fixed request id: one request per connection at a time.
REQUEST_ID = b"1"
_REPLY_FRAMES = 7
_STATUS_CODES = frozenset({b"200", b"300", b"400", b"500"})


@dataclass(frozen=True, slots=True)
class ZapSettings:
    """What a server mechanism needs to build a ZAP request for one connection.

    Attributes:
        domain: the socket's ``ZAP_DOMAIN``.
        address: the peer's IP address (no port), ``""`` for ipc.
        routing_id: our socket's routing id.
        enforce: ``ZAP_ENFORCE_DOMAIN``: with a domain set, no handler means no entry (NULL,
            CURVE); without a domain a CURVE server then skips ZAP altogether (libzmq 4.3).
    """

    domain: bytes = b""
    address: bytes = b""
    routing_id: bytes = b""
    enforce: bool = False


@dataclass(frozen=True, slots=True)
class ZapReply:
    """A well-formed ZAP reply.

    Attributes:
        status: 200, 300, 400 or 500.
        text: the handler's status text.
        user_id: the authenticated user's id (``User-Id`` on every message received).
        metadata: the handler's properties, added to every message's metadata.
    """

    status: int
    text: bytes = b""
    user_id: bytes = b""
    metadata: dict[str, bytes] = field(default_factory=dict)


def encode_request(settings: ZapSettings, mechanism: bytes,
                   credentials: Sequence[bytes] = ()) -> list[bytes]:
    """Return the frames of a ZAP request, the empty delimiter first (module docstring)."""
    return [b"", ZAP_VERSION, REQUEST_ID, settings.domain, settings.address,
            settings.routing_id, mechanism, *credentials]


def parse_reply(frames: Sequence[bytes]) -> ZapReply:
    """Judge a ZAP reply (delimiter included) as libzmq's ``zap_client_t`` does.

    Raises:
        HandshakeError: with libzmq's ``PROTOCOL_ERROR_ZAP_*`` code for the first fault.
    """
    if len(frames) != _REPLY_FRAMES:
        raise HandshakeError(
            f"malformed ZAP reply: {len(frames)} frames, expected {_REPLY_FRAMES}",
            PROTOCOL_ERROR_ZAP_MALFORMED_REPLY)
    delimiter, version, request_id, status, text, user_id, metadata = (
        bytes(f) for f in frames)
    if delimiter:
        raise HandshakeError("ZAP reply does not start with an empty delimiter frame",
                             PROTOCOL_ERROR_ZAP_UNSPECIFIED)
    if version != ZAP_VERSION:
        raise HandshakeError(f"ZAP reply has version {version!r}, expected b'1.0'",
                             PROTOCOL_ERROR_ZAP_BAD_VERSION)
    if request_id != REQUEST_ID:
        raise HandshakeError(f"ZAP reply answers request {request_id!r}, not b'1'",
                             PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID)
    if status not in _STATUS_CODES:
        raise HandshakeError(f"ZAP reply has invalid status code {status[:8]!r}",
                             PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE)
    try:
        properties = commands.decode_metadata(metadata, command="ZAP reply")
    except ProtocolError as exc:
        raise HandshakeError(str(exc), PROTOCOL_ERROR_ZAP_INVALID_METADATA) from None
    return ZapReply(int(status), text, user_id, properties)
