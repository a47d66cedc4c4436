"""Sans-I/O codecs: bytes in, messages out; messages in, bytes out.

Theory of operation
-------------------
A codec owns a protocol's grammar and nothing else. It never touches a socket, a thread or a
clock, which is what lets it be tested in memory, fuzzed, and reused by any engine (h11's
lesson). A :class:`~zreactor.reactor.stream.StreamEngine` given a codec feeds it every chunk
it reads and hands each decoded message to ``message_received``; ``send(message)`` encodes
and writes.

The contract a codec keeps:

* :meth:`Codec.feed` accepts chunks of any size, split anywhere, and returns the messages
  completed so far (possibly none). It buffers partial input itself.
* Malformed or oversized input raises :class:`~zreactor.errors.ProtocolError`, never anything
  else; the engine then drops that one connection. Messages completed earlier in the same
  chunk travel on the exception (``exc.messages``) and are delivered first.
* :meth:`Codec.encode` returns the wire bytes for one message.

:class:`LineCodec` is the reference implementation, and what ``examples/echo_server.py``
uses; :class:`LengthPrefixedCodec` is the other common framing (a byte count, then that many
bytes), for binary messages a delimiter cannot separate. The ZMTP codec in
:mod:`zreactor.zmtp` follows the same rules. docs/ENGINE.md shows both inside an engine.
"""

from __future__ import annotations

import struct
from typing import Generic, Protocol, TypeVar

from ..errors import ProtocolError

__all__ = ["Codec", "LengthPrefixedCodec", "LineCodec"]

M = TypeVar("M")


class Codec(Protocol, Generic[M]):
    """What a :class:`~zreactor.reactor.stream.StreamEngine` needs from a codec."""

    def feed(self, data: bytes) -> list[M]:
        """Consume ``data``; return the messages it completed. Raise ``ProtocolError``."""
        ...

    def encode(self, message: M) -> bytes:
        """Return the bytes that carry ``message``."""
        ...


class LineCodec:
    """Newline-delimited messages.

    Args:
        max_line: longest accepted line in bytes, delimiter excluded; a longer one raises
            :class:`ProtocolError` (so a peer cannot make us buffer without bound).
        delimiter: the line terminator.

    ``feed`` returns lines without the delimiter; ``encode`` appends it.
    """

    def __init__(self, max_line: int = 65536, delimiter: bytes = b"\n") -> None:
        if max_line <= 0:
            raise ValueError(f"max_line must be positive, got {max_line!r}")
        if not delimiter:
            raise ValueError("delimiter must not be empty")
        self.max_line = max_line
        self.delimiter = delimiter
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Split buffered input into lines; keep the unterminated tail."""
        buf = self._buffer
        start_search = max(0, len(buf) - len(self.delimiter) + 1)
        buf += data
        lines: list[bytes] = []
        start = 0
        delim = self.delimiter
        while True:
            end = buf.find(delim, max(start, start_search))
            if end < 0:
                break
            if end - start > self.max_line:
                raise ProtocolError(
                    f"line of {end - start} bytes exceeds max_line {self.max_line}", lines
                )
            lines.append(bytes(buf[start:end]))
            start = end + len(delim)
        if start:
            del buf[:start]
        if len(buf) > self.max_line + len(delim):
            raise ProtocolError(f"unterminated line exceeds max_line {self.max_line}", lines)
        return lines

    def encode(self, message: bytes) -> bytes:
        """Return ``message`` followed by the delimiter. The message must not contain it."""
        if self.delimiter in message:
            raise ValueError("message contains the delimiter")
        return bytes(message) + self.delimiter

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete line."""
        return len(self._buffer)


class LengthPrefixedCodec:
    """Messages framed by a big-endian unsigned length header (4 bytes by default).

    Args:
        max_size: largest accepted message in bytes; a header announcing more raises
            :class:`ProtocolError` at once, before any of the body is buffered.
        header: the size of the length field: 1, 2, 4 or 8 bytes.

    ``feed`` returns the message bodies; ``encode`` prefixes the length. An empty message
    is a header of zero and is delivered as ``b""``.
    """

    _FORMATS = {1: ">B", 2: ">H", 4: ">I", 8: ">Q"}

    def __init__(self, max_size: int = 1 << 20, header: int = 4) -> None:
        if header not in self._FORMATS:
            raise ValueError(f"header must be 1, 2, 4 or 8 bytes, got {header!r}")
        if not 0 <= max_size < 1 << (8 * header):
            raise ValueError(f"max_size must fit a {header}-byte header, got {max_size!r}")
        self.max_size = max_size
        self.header = header
        self._struct = struct.Struct(self._FORMATS[header])
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Cut every complete message out of the buffered input; keep the partial tail."""
        buf = self._buffer
        buf += data
        messages: list[bytes] = []
        start = 0
        header = self.header
        while len(buf) - start >= header:
            (size,) = self._struct.unpack_from(buf, start)
            if size > self.max_size:
                del buf[:start]
                raise ProtocolError(
                    f"message of {size} bytes announced, max_size is {self.max_size}", messages)
            end = start + header + size
            if end > len(buf):
                break
            messages.append(bytes(buf[start + header:end]))
            start = end
        if start:
            del buf[:start]
        return messages

    def encode(self, message: bytes) -> bytes:
        """Return the length header followed by ``message``.

        Raises:
            ValueError: ``message`` is longer than ``max_size``.
        """
        if len(message) > self.max_size:
            raise ValueError(f"message of {len(message)} bytes exceeds max_size {self.max_size}")
        return self._struct.pack(len(message)) + bytes(message)

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._buffer)
