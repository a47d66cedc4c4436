"""Z85 (RFC 32): binary as printable text, four bytes to five characters.

Theory of operation
-------------------
Z85 is how ZeroMQ prints CURVE keys (40 characters for 32 bytes) and how certificate files
store them. Each 4-byte big-endian group is a number below ``85**5`` written in base 85 with
the alphabet below, most significant digit first. The input length must be a multiple of 4
(encoding) or 5 (decoding); RFC 32 leaves padding to the caller, as pyzmq's ``z85`` does.

Decoding rejects characters outside the alphabet and groups above ``2**32 - 1`` with
``ValueError``: a mistyped key fails loudly instead of becoming another key.
"""

from __future__ import annotations

import struct

__all__ = ["Z85CHARS", "decode", "encode"]

#: The Z85 alphabet (RFC 32).
Z85CHARS = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
_DIGIT = {char: value for value, char in enumerate(Z85CHARS)}
_POWERS = (85 ** 4, 85 ** 3, 85 ** 2, 85, 1)


def encode(rawbytes: bytes | bytearray | memoryview) -> bytes:
    """Encode ``rawbytes`` (a multiple of 4 bytes long) as Z85.

    Raises:
        ValueError: the length is not a multiple of 4.
    """
    raw = bytes(rawbytes)
    if len(raw) % 4:
        raise ValueError(f"Z85 encodes a multiple of 4 bytes, got {len(raw)}")
    out = bytearray()
    for (value,) in struct.iter_unpack(">I", raw):
        out += bytes(Z85CHARS[value // power % 85] for power in _POWERS)
    return bytes(out)


def decode(z85bytes: bytes | str) -> bytes:
    """Decode Z85 text (a multiple of 5 characters long) to bytes.

    Raises:
        ValueError: a bad length, a character outside the alphabet, or a group that
            overflows 32 bits.
    """
    text = z85bytes.encode("ascii") if isinstance(z85bytes, str) else bytes(z85bytes)
    if len(text) % 5:
        raise ValueError(f"Z85 decodes a multiple of 5 characters, got {len(text)}")
    out = bytearray()
    for start in range(0, len(text), 5):
        value = 0
        for char in text[start:start + 5]:
            digit = _DIGIT.get(char)
            if digit is None:
                raise ValueError(f"invalid Z85 character {chr(char)!r}")
            value = value * 85 + digit
        if value > 0xFFFFFFFF:
            raise ValueError("Z85 group overflows 32 bits")
        out += struct.pack(">I", value)
    return bytes(out)
