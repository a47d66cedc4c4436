"""The ZMTP 3.x greeting: the first 64 bytes each peer sends.

Theory of operation
-------------------
Layout (RFC 23 and 37, offsets in bytes)::

    0       1..8      9      10     11     12..31          32         33..63
    0xFF    padding   0x7F   major  minor  mechanism name  as-server  filler (zeros)

Version detection happens early: by byte 10 we know whether the peer speaks ZMTP 3.x at
all. libzmq (``zmtp_engine.cpp``, ``receive_greeting``) decides on exactly these bytes:

* byte 0 is not ``0xFF``: a ZMTP 1.0 peer that opened with a short identity frame;
* the low bit of byte 9 is clear: a ZMTP 1.0 peer that opened with a long identity frame
  (libzmq inspects only that bit, and so do we, so any signature libzmq accepts we accept);
* byte 10 (major version) is 1 or 2: ZMTP 2.0;
* anything with major >= 3 is ZMTP 3.x: minor 0 means 3.0, anything else 3.1 (libzmq treats
  unknown higher versions as 3.1, as the RFC asks: "a peer MUST accept higher versions").

zreactor speaks only ZMTP 3.x, so the first three cases are a :class:`ProtocolError` raised
as soon as the deciding byte arrives, instead of waiting for 64 bytes an old peer will never
send. The padding, as-server byte and filler are not validated (the RFC forbids giving the
padding any meaning, and libzmq ignores the other two).

Unlike libzmq we do not send a partial greeting and wait: the RFC allows sending the whole
64 bytes at once when the peer must be ZMTP 3.x anyway, which it must be for us. The padding
is then zero (the RFC's "SHOULD"); libzmq puts its identity length + 1 there for the benefit of
ZMTP 1.0 peers.

Nothing here touches a socket; :class:`GreetingParser` is fed bytes and reports how many it
took, so the caller can hand the rest of the chunk to the frame decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ProtocolError

__all__ = [
    "GREETING_SIZE",
    "Greeting",
    "GreetingParser",
    "encode_greeting",
]

#: Total size of a ZMTP 3.x greeting.
GREETING_SIZE = 64
#: Offsets of the fields inside the greeting.
SIGNATURE_END = 10
MAJOR_OFFSET = 10
MINOR_OFFSET = 11
MECHANISM_OFFSET = 12
MECHANISM_SIZE = 20
AS_SERVER_OFFSET = 32
#: Characters the RFC allows in a mechanism name (plus the NUL padding).
_MECHANISM_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+")


@dataclass(frozen=True, slots=True)
class Greeting:
    """A parsed peer greeting.

    Attributes:
        major: the peer's major protocol version (3 or more).
        minor: the peer's minor protocol version.
        mechanism: the security mechanism name with its NUL padding removed, e.g. ``"NULL"``.
        as_server: the as-server byte was non-zero.
    """

    major: int
    minor: int
    mechanism: str
    as_server: bool

    @property
    def version(self) -> tuple[int, int]:
        """``(major, minor)`` as announced."""
        return (self.major, self.minor)

    @property
    def effective_version(self) -> tuple[int, int]:
        """The version we talk to this peer: ``(3, 0)`` or ``(3, 1)``.

        ZMTP 3.0 peers get subscriptions as messages with a 0x01/0x00 prefix; everybody else
        (3.1 and any higher version, which the RFC says to treat as 3.1) gets commands.
        """
        if self.major == 3 and self.minor == 0:
            return (3, 0)
        return (3, 1)


def encode_greeting(mechanism: str = "NULL", *, as_server: bool = False,
                    major: int = 3, minor: int = 1) -> bytes:
    """Return the 64-byte greeting announcing ``mechanism`` and version ``major.minor``.

    Args:
        mechanism: the mechanism name, at most 20 characters from ``A-Z 0-9 - _ . +``.
        as_server: value of the as-server byte (the RFC wants 0 for NULL).
        major: the major version; zreactor announces 3.
        minor: the minor version; zreactor announces 1.

    Raises:
        ValueError: the mechanism name is empty, too long or has characters the RFC forbids.
    """
    name = mechanism.encode("ascii", "replace")
    if not name or len(name) > MECHANISM_SIZE or not set(name) <= _MECHANISM_CHARS:
        raise ValueError(f"invalid ZMTP mechanism name {mechanism!r}")
    return b"".join((
        b"\xff", bytes(8), b"\x7f",
        bytes((major, minor)),
        name.ljust(MECHANISM_SIZE, b"\x00"),
        b"\x01" if as_server else b"\x00",
        bytes(GREETING_SIZE - AS_SERVER_OFFSET - 1),
    ))


class GreetingParser:
    """Incremental parser of the peer's greeting.

    Feed it chunks of any size with :meth:`feed`; it takes at most the bytes the greeting still
    needs and reports how many it took. Once :attr:`complete` is true, :attr:`greeting` holds
    the result and the caller passes the rest of its chunk to the frame decoder.

    A peer that does not speak ZMTP 3.x is rejected with :class:`ProtocolError` as soon as the
    deciding byte arrives (see the module docstring). After a ``ProtocolError`` the parser is
    spent: discard it with the connection.
    """

    __slots__ = ("_buf", "_greeting")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._greeting: Greeting | None = None

    @property
    def complete(self) -> bool:
        """All 64 bytes have been received and validated."""
        return self._greeting is not None

    @property
    def greeting(self) -> Greeting:
        """The parsed greeting.

        Raises:
            RuntimeError: the greeting is not complete yet.
        """
        if self._greeting is None:
            raise RuntimeError("the peer's greeting is not complete yet")
        return self._greeting

    @property
    def peer_major(self) -> int | None:
        """The peer's major version once byte 10 has arrived, else ``None``."""
        if len(self._buf) > MAJOR_OFFSET:
            return self._buf[MAJOR_OFFSET]
        return None

    def feed(self, data: bytes | bytearray | memoryview) -> int:
        """Consume up to the remaining greeting bytes from ``data``.

        Returns:
            how many bytes of ``data`` belong to the greeting (0 once it is complete).

        Raises:
            ProtocolError: the bytes so far cannot be a ZMTP 3.x greeting.
        """
        if self._greeting is not None:
            return 0
        buf = self._buf
        before = len(buf)
        take = min(GREETING_SIZE - before, len(data))
        buf += memoryview(data)[:take]
        self._check_prefix(before)
        if len(buf) == GREETING_SIZE:
            self._greeting = self._finish()
        return take

    def _check_prefix(self, already_checked: int) -> None:
        """Validate the bytes that decide the peer's protocol family, once each arrives."""
        buf = self._buf
        have = len(buf)
        if already_checked < 1 <= have and buf[0] != 0xFF:
            raise ProtocolError(
                f"greeting byte 0 is 0x{buf[0]:02x}, expected 0xFF (ZMTP signature); the peer "
                "speaks unversioned ZMTP 1.0 or is not a ZMTP peer at all")
        if already_checked < SIGNATURE_END <= have and not buf[SIGNATURE_END - 1] & 0x01:
            raise ProtocolError(
                f"greeting byte 9 is 0x{buf[9]:02x}, expected 0x7F (end of ZMTP signature); "
                "the peer speaks unversioned ZMTP 1.0")
        if already_checked <= MAJOR_OFFSET < have and buf[MAJOR_OFFSET] < 3:
            major = buf[MAJOR_OFFSET]
            raise ProtocolError(
                f"greeting byte 10 announces ZMTP major version {major}; zreactor speaks only "
                "ZMTP 3.0 and later")

    def _finish(self) -> Greeting:
        buf = self._buf
        raw = bytes(buf[MECHANISM_OFFSET:MECHANISM_OFFSET + MECHANISM_SIZE])
        name = raw.rstrip(b"\x00")
        if not name or not set(name) <= _MECHANISM_CHARS:
            raise ProtocolError(
                f"greeting bytes 12..31 hold an invalid mechanism name {raw!r}; expected "
                "characters A-Z 0-9 - _ . + padded with NUL bytes")
        return Greeting(
            major=buf[MAJOR_OFFSET],
            minor=buf[MINOR_OFFSET],
            mechanism=name.decode("ascii"),
            as_server=buf[AS_SERVER_OFFSET] != 0,
        )
