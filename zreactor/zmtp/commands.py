"""ZMTP command bodies: READY, ERROR, SUBSCRIBE, CANCEL, PING, PONG.

Theory of operation
-------------------
A command is a single frame with the COMMAND flag whose body is::

    name length (1 byte) | name (1..255 bytes) | data

This module turns command bodies into Python values and back; framing lives in
:mod:`.frames` and the decision of what a command *means* in a given connection state lives in
:mod:`.connection`. Every decoder raises :class:`ProtocolError` naming the command and the byte
that broke it.

The grammars, and where we follow libzmq rather than the letter of the RFC:

* ``READY`` data is metadata: repeated ``name-length(1) name value-length(4, big-endian)
  value``. Parsing follows ``mechanism_t::parse_metadata``: a zero-length name is accepted,
  the data must be consumed exactly, and when a name repeats the first value wins. Names are
  decoded as latin-1 so any byte string round-trips.
* ``ERROR`` data is ``reason-length(1) reason``; bytes after the reason are ignored, as in
  ``null_mechanism_t::process_error_command``.
* ``PING`` data is ``ttl(2, big-endian, deciseconds) context(0..16)``. libzmq reads the TTL
  without checking that the two bytes exist; we reject a shorter PING. A context longer than
  16 bytes is truncated to 16, exactly as libzmq does before echoing it in its PONG
  (``zmtp_engine_t::process_heartbeat_message``; see ``tests/test_heartbeats.cpp``).
* ``SUBSCRIBE``/``CANCEL`` data is the topic; ``PONG`` data is the echoed context.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from ..errors import ProtocolError

__all__ = [
    "CANCEL",
    "ERROR",
    "PING",
    "PING_CONTEXT_MAX",
    "PING_TTL_MAX",
    "PONG",
    "READY",
    "SUBSCRIBE",
    "decode_command",
    "decode_error",
    "decode_metadata",
    "decode_ping",
    "encode_command",
    "encode_error",
    "encode_metadata",
    "encode_ping",
    "encode_pong",
    "encode_ready",
]

#: Command names defined by ZMTP 3.1 (RFC 37).
READY = b"READY"
ERROR = b"ERROR"
SUBSCRIBE = b"SUBSCRIBE"
CANCEL = b"CANCEL"
PING = b"PING"
PONG = b"PONG"

#: A PING context is at most 16 bytes; the TTL is an unsigned 16-bit count of deciseconds.
PING_CONTEXT_MAX = 16
PING_TTL_MAX = 0xFFFF
#: Metadata values are limited to INT32_MAX bytes by the RFC.
_VALUE_MAX = 0x7FFFFFFF

_u32 = struct.Struct(">I")
_u16 = struct.Struct(">H")


def encode_command(name: bytes, data: bytes = b"") -> bytes:
    """Return the body of command ``name`` carrying ``data``.

    Raises:
        ValueError: ``name`` is empty or longer than 255 bytes.
    """
    if not 0 < len(name) <= 255:
        raise ValueError(f"command name must be 1..255 bytes, got {len(name)}")
    return b"".join((bytes((len(name),)), name, data))


def decode_command(body: bytes) -> tuple[bytes, bytes]:
    """Split a command body into ``(name, data)``.

    Raises:
        ProtocolError: the body is empty or its name length runs past its end.
    """
    if not body:
        raise ProtocolError("empty command frame: expected a name length byte")
    name_len = body[0]
    if name_len + 1 > len(body):
        raise ProtocolError(
            f"command name length byte says {name_len} but the command body has only "
            f"{len(body) - 1} bytes after it")
    return body[1:1 + name_len], body[1 + name_len:]


def encode_metadata(properties: Iterable[tuple[str, bytes]]) -> bytes:
    """Encode ``(name, value)`` pairs as READY metadata.

    Raises:
        ValueError: a name is empty, longer than 255 bytes or not latin-1; or a value exceeds
            INT32_MAX bytes.
    """
    parts: list[bytes] = []
    for name, value in properties:
        raw = name.encode("latin-1")
        if not 0 < len(raw) <= 255:
            raise ValueError(f"metadata name must be 1..255 bytes, got {name!r}")
        if len(value) > _VALUE_MAX:
            raise ValueError(f"metadata value for {name!r} exceeds INT32_MAX bytes")
        parts += (bytes((len(raw),)), raw, _u32.pack(len(value)), bytes(value))
    return b"".join(parts)


def decode_metadata(data: bytes, *, command: str = "READY") -> dict[str, bytes]:
    """Decode READY metadata into a dict; the first value of a repeated name wins.

    Args:
        data: the command data after the name.
        command: the command's name, for error messages.

    Raises:
        ProtocolError: a property is truncated (name, value length or value runs past the end).
    """
    properties: dict[str, bytes] = {}
    pos = 0
    end = len(data)
    while pos < end:
        name_len = data[pos]
        name_at = pos + 1
        if name_at + name_len > end:
            raise ProtocolError(
                f"{command} metadata byte {pos}: property name of {name_len} bytes runs past "
                f"the end of the command ({end - name_at} bytes left)")
        value_len_at = name_at + name_len
        if value_len_at + 4 > end:
            raise ProtocolError(
                f"{command} metadata byte {value_len_at}: expected a 4-byte value length, "
                f"found {end - value_len_at} bytes")
        value_len = _u32.unpack_from(data, value_len_at)[0]
        value_at = value_len_at + 4
        if value_at + value_len > end:
            raise ProtocolError(
                f"{command} metadata byte {value_len_at}: value length {value_len} runs past "
                f"the end of the command ({end - value_at} bytes left)")
        name = data[name_at:value_len_at].decode("latin-1")
        properties.setdefault(name, data[value_at:value_at + value_len])
        pos = value_at + value_len
    return properties


def encode_ready(properties: Iterable[tuple[str, bytes]]) -> bytes:
    """Return the body of a READY command carrying ``properties``."""
    return encode_command(READY, encode_metadata(properties))


def encode_error(reason: str) -> bytes:
    """Return the body of an ERROR command.

    Raises:
        ValueError: ``reason`` is longer than 255 bytes in UTF-8.
    """
    raw = reason.encode("utf-8")
    if len(raw) > 255:
        raise ValueError(f"ERROR reason must be at most 255 bytes, got {len(raw)}")
    return encode_command(ERROR, bytes((len(raw),)) + raw)


def decode_error(data: bytes) -> str:
    """Return the reason carried by ERROR command data (undecodable bytes are replaced).

    Raises:
        ProtocolError: the reason length byte is missing or runs past the end.
    """
    if not data:
        raise ProtocolError("ERROR command has no reason length byte")
    size = data[0]
    if size > len(data) - 1:
        raise ProtocolError(
            f"ERROR reason length byte says {size} but only {len(data) - 1} bytes follow")
    return data[1:1 + size].decode("utf-8", "replace")


def encode_ping(ttl_deciseconds: int, context: bytes = b"") -> bytes:
    """Return the body of a PING command.

    Raises:
        ValueError: the TTL is outside 0..65535 or the context exceeds 16 bytes.
    """
    if not 0 <= ttl_deciseconds <= PING_TTL_MAX:
        raise ValueError(f"PING TTL must be 0..{PING_TTL_MAX} deciseconds, got {ttl_deciseconds}")
    if len(context) > PING_CONTEXT_MAX:
        raise ValueError(f"PING context must be at most 16 bytes, got {len(context)}")
    return encode_command(PING, _u16.pack(ttl_deciseconds) + bytes(context))


def decode_ping(data: bytes) -> tuple[int, bytes]:
    """Return ``(ttl_deciseconds, context)`` from PING data; the context is cut to 16 bytes.

    Raises:
        ProtocolError: fewer than the 2 TTL bytes are present.
    """
    if len(data) < 2:
        raise ProtocolError(f"PING command needs a 2-byte TTL, got {len(data)} data bytes")
    return _u16.unpack_from(data)[0], data[2:2 + PING_CONTEXT_MAX]


def encode_pong(context: bytes = b"") -> bytes:
    """Return the body of a PONG command echoing ``context``.

    Raises:
        ValueError: the context exceeds 16 bytes.
    """
    if len(context) > PING_CONTEXT_MAX:
        raise ValueError(f"PONG context must be at most 16 bytes, got {len(context)}")
    return encode_command(PONG, bytes(context))
