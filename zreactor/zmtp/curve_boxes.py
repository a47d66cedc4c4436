"""CURVE traffic: the MESSAGE boxes of an established connection, a batch per call.

Theory of operation
-------------------
Once a CURVE handshake is done, every ZMTP frame travels as one MESSAGE command (RFC 26)::

    frame header (flags 0, or LONG; size) | "\\x07MESSAGE" | nonce (8) | MAC (16) | box
    box = XSalsa20(flags (1: bit 0 MORE, bit 1 COMMAND) + body)

boxed with the key both sides precomputed from the short-term keys (``crypto_box_beforenm``)
and the 24-byte nonce ``CurveZMQMESSAGEC`` (client to server) or ``CurveZMQMESSAGES``
followed by the 8-byte counter, which starts where the handshake left it. Nothing here is
cryptography: libsodium (through PyNaCl) boxes and opens; this module only lays out bytes.
One :class:`MessageBoxes` per connection owns the key and both counters; it is touched by
whichever thread drives that connection's codec, one at a time, so it has no lock.

Rules it keeps, each tested (``tests/test_zmtp_curve.py``, ``tests/test_curve_boxes.py``):

* *Our nonces strictly increase*: one counter, incremented per frame, never reset, so no
  nonce is used twice with one key.
* *The peer's nonces strictly increase* (libzmq's ``check_validity``): a box whose counter
  is not above every counter seen before is a replay or a reordering, a
  :class:`~.handshake.HandshakeError` (``INVALID_SEQUENCE``) that drops the connection,
  checked before the box is opened. A box that does not open is ``CRYPTOGRAPHIC``.
* *The key is never shown*: no repr carries it, nor does any error message.

The fast path: a batch in place
-------------------------------
A 100-byte message costs libsodium about 0.3 us to box. Called the obvious way, through
``nacl.bindings``, it costs 2.4 us: the binding checks its arguments in Python, prepends the
flags byte (a copy of the body), boxes into a new buffer and copies the result out twice, and
the frame header, name and nonce are one more concatenation. A stream of small messages is
bound by that overhead, so both directions take a batch per call and do the least Python per
frame that the layout allows:

* *Sealing* (:meth:`MessageBoxes.seal_messages`): one pass adds up the sizes; one
  ``bytearray`` of exactly that size receives the whole batch. Per frame, one ``pack_into``
  writes header, name, counter and the flags byte, and the body is copied after it, both
  where the MAC will be; the counter is packed into a preallocated nonce; and
  ``crypto_box_easy_afternm`` encrypts *in place*, given one pointer for plaintext and box
  (libsodium moves overlapping plaintext up by the MAC's 16 bytes, into the free bytes at the
  frame's end, and writes the MAC before it), straight from PyNaCl's cffi handle on
  libsodium (``nacl._sodium``), which takes pointers and does no checks of its own. The
  buffer is what the engine writes: the body is copied exactly once, into it.
* *Opening in place* (:meth:`MessageBoxes.open_spans`): the frame decoder hands out the
  complete frames as spans of its read buffer, consumed and ours to overwrite (``frames.py``,
  *Spans, for boxed traffic*), so the kernel's copy of a box is the only one made before
  libsodium's: per frame, one ``unpack_from`` reads the name and the counter, the counter is
  checked and packed into the preallocated nonce, and ``crypto_box_open_easy_afternm`` opens
  the box where it lies, given one pointer for box and plaintext (the plaintext lands where
  the MAC was; libsodium verifies the MAC first and writes nothing if it fails). The body is cut out of the buffer as the ``bytes`` the socket hands to the
  application (or straight as the connection's labelled kind) and messages are assembled
  from the inner MORE flags in the same loop.

Where ``nacl._sodium`` is missing (no PyNaCl release has lacked it), the same bytes come from
the public ``nacl.bindings``, a frame at a time.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

from .frames import COMMAND, LONG, MORE, Frame, Span
from .handshake import (
    PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC,
    PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE,
    PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE,
    PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND,
    HandshakeError,
)

__all__ = ["CLIENT_NONCE_PREFIX", "SERVER_NONCE_PREFIX", "MessageBoxes"]

#: the 16-byte nonce prefixes of MESSAGE boxes, by sender
CLIENT_NONCE_PREFIX = b"CurveZMQMESSAGEC"
SERVER_NONCE_PREFIX = b"CurveZMQMESSAGES"

_NAME = b"\x07MESSAGE"
_COUNTER = struct.Struct(">Q")
#: frame header (flags 0 and a 1-byte size, or LONG and an 8-byte size), name, counter and
#: the box's inner flags byte, which (with the body after it) goes where the MAC will be
_SHORT_HEAD = struct.Struct(">BB8sQB")
_LONG_HEAD = struct.Struct(">BQ8sQB")
#: a MESSAGE body's name and counter
_BODY_HEAD = struct.Struct(">8sQ")
#: what a box adds to a body: name 8, counter 8, MAC 16, flags 1
_OVERHEAD = 33
#: the largest body whose MESSAGE still fits a short frame
_SHORT_BODY = 255 - _OVERHEAD
_FIRST = itemgetter(0)
#: a box's inner flags byte (bit 0 MORE, bit 1 COMMAND) as ZMTP frame flags
_INNER_FLAGS = (0, MORE, COMMAND, MORE | COMMAND)


def _raw_sodium() -> tuple[Any, Any] | None:
    """PyNaCl's own cffi handle on libsodium (``ffi``, ``lib``), or None."""
    try:
        from nacl._sodium import ffi, lib
    except ImportError:  # pragma: no cover - every PyNaCl release since 1.0 has it
        return None
    return ffi, lib


#: the C type libsodium's byte arguments have
_BYTES = "unsigned char[]"


def _pointer(ffi: Any, buffer: Any) -> Any:
    """An ``unsigned char *`` into ``buffer`` (no copy; valid while it is not resized)."""
    return ffi.from_buffer(_BYTES, buffer)


def _replayed(value: int, last: int) -> HandshakeError:
    return HandshakeError(
        f"CURVE nonce {value} is not above the peer's last {last}: a replayed or reordered "
        "box", PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE)


def _malformed(body: bytes) -> HandshakeError:
    if body[:8] != _NAME:
        return HandshakeError("CURVE traffic must be MESSAGE commands",
                              PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND)
    return HandshakeError(f"CURVE MESSAGE of {len(body)} bytes is too short",
                          PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE)


class MessageBoxes:
    """One connection's traffic crypto: the precomputed key and the two nonce counters.

    Args:
        nacl: ``nacl.bindings`` (the fallback, and what the handshake uses).
        out_prefix, in_prefix: the nonce prefixes of our boxes and of the peer's
            (:data:`CLIENT_NONCE_PREFIX`, :data:`SERVER_NONCE_PREFIX`).
        fast: False takes the public ``nacl.bindings`` path even where ``nacl._sodium`` is
            there (the tests hold both paths to the same bytes).

    The handshake sets :attr:`key` and moves the counters past its own boxes
    (:meth:`next_nonce`, :meth:`take_peer_nonce`) before any MESSAGE is sealed or opened.
    """

    __slots__ = ("_ffi", "_in_nonce", "_in_nonce_p", "_lib", "_nacl",
                 "_out_nonce", "_out_nonce_p", "frame_type", "key", "nonce", "peer_nonce")

    def __init__(self, nacl: Any, out_prefix: bytes, in_prefix: bytes, *,
                 fast: bool = True) -> None:
        self._nacl = nacl
        raw = _raw_sodium() if fast else None
        self._ffi, self._lib = raw if raw is not None else (None, None)
        #: the 24-byte nonces, prefix fixed, the counter packed into the last 8 bytes per
        #: box; never resized, so the pointers libsodium reads them through stay valid
        self._out_nonce = bytearray(out_prefix + bytes(8))
        self._in_nonce = bytearray(in_prefix + bytes(8))
        ffi = self._ffi
        self._out_nonce_p = _pointer(ffi, self._out_nonce) if ffi is not None else None
        self._in_nonce_p = _pointer(ffi, self._in_nonce) if ffi is not None else None
        #: the precomputed key (``crypto_box_beforenm``), set by the handshake
        self.key = b""
        #: what opened frames are built as: None for ``bytes``, or the engine's labelled
        #: subclass (:class:`~.metadata.MetaBytes`), made straight from the opened box
        self.frame_type: Callable[[Any], bytes] | None = None
        #: our next counter (the handshake's HELLO or READY used 1)
        self.nonce = 1
        #: the greatest counter the peer used
        self.peer_nonce = 0

    def __repr__(self) -> str:
        return f"<CURVE boxes nonce={self.nonce} peer_nonce={self.peer_nonce}>"

    # -- the handshake's counters ----------------------------------------------------------

    def next_nonce(self) -> bytes:
        """Take our next counter, as the 8 bytes a handshake box carries."""
        value = self.nonce
        self.nonce = value + 1
        return _COUNTER.pack(value)

    def take_peer_nonce(self, raw: bytes) -> None:
        """Check and record the peer's counter from a handshake box.

        Raises:
            HandshakeError: ``INVALID_SEQUENCE``, not above the last one.
        """
        value = _COUNTER.unpack(raw)[0]
        if value <= self.peer_nonce:
            raise _replayed(value, self.peer_nonce)
        self.peer_nonce = value

    # -- sealing -----------------------------------------------------------------------------

    def seal_frame(self, flags: int, body: bytes) -> bytearray:
        """One frame (``MORE``/``COMMAND`` in ``flags``) as a whole MESSAGE wire frame."""
        inner = (1 if flags & MORE else 0) | (2 if flags & COMMAND else 0)
        return self._seal([[body]], inner)[0]

    def seal_messages(self, messages: Sequence[Sequence[bytes]]) -> tuple[bytearray, int]:
        """Every frame of every message as MESSAGE wire frames, in one buffer.

        Returns:
            ``(wire bytes, body bytes)``: the buffer to write, and the messages' size.
        """
        return self._seal(messages, 0)

    def _seal(self, messages: Sequence[Sequence[bytes]], inner: int) -> tuple[bytearray, int]:
        """:meth:`seal_messages`; ``inner`` is ORed into every frame's inner flags (2 boxes
        a command, which is always a single frame)."""
        # the frames and their sizes first, in C-level loops: the batch goes into one
        # exactly-sized buffer
        if sum(map(len, messages)) == len(messages):  # single-frame messages: no MORE
            bodies = list(map(_FIRST, messages))
            flags: Iterable[int] = repeat(inner)
        else:
            bodies = list(chain.from_iterable(messages))
            flags = [inner | more for frames in messages
                     for more in [1] * (len(frames) - 1) + [0]]
        lengths = list(map(len, bodies))
        size = sum(lengths)
        total = size + (_OVERHEAD + 2) * len(lengths)
        if lengths and max(lengths) > _SHORT_BODY:  # long frames have 7 more header bytes
            total += 7 * sum(1 for n in lengths if n > _SHORT_BODY)
        lib = self._lib
        if lib is None:
            return self._seal_slowly(bodies, flags, total), size
        buf = bytearray(total)
        ffi = self._ffi
        base = _pointer(ffi, buf)
        view = memoryview(buf)  # a slice assignment through it copies without a temporary
        box = lib.crypto_box_easy_afternm
        nonce, nonce_p, key = self._out_nonce, self._out_nonce_p, self.key
        short, long_, counter = _SHORT_HEAD.pack_into, _LONG_HEAD.pack_into, _COUNTER.pack_into
        value = self.nonce
        pos = 0
        for body, n, flag in zip(bodies, lengths, flags):
            # one pack: frame header, name, counter, and the inner flags byte where the MAC
            # will be; the body follows it
            if n <= _SHORT_BODY:
                short(buf, pos, 0, n + _OVERHEAD, _NAME, value, flag)
                mac = pos + 18
            else:
                long_(buf, pos, LONG, n + _OVERHEAD, _NAME, value, flag)
                mac = pos + 25
            counter(nonce, 16, value)
            value += 1
            pos = mac + 1
            view[pos:pos + n] = body
            pos += n + 16
            # in place, one pointer for both: libsodium moves the plaintext up over the 16
            # free bytes at the frame's end, boxes it there and writes the MAC before it
            at = base + mac
            box(at, at, n + 1, nonce_p, key)
        self.nonce = value
        view.release()
        ffi.release(base)
        return buf, size

    def _seal_slowly(self, bodies: list[bytes], flags: Iterable[int], total: int) -> bytearray:
        """:meth:`_seal` through the public bindings (no ``nacl._sodium``)."""
        out = bytearray()
        prefix = bytes(self._out_nonce[:16])
        for body, flag in zip(bodies, flags):
            counter = self.next_nonce()
            sealed = _NAME + counter + self._nacl.crypto_box_easy_afternm(
                bytes((flag,)) + bytes(body), prefix + counter, self.key)
            n = len(sealed)
            out += bytes((0, n)) if n <= 255 else struct.pack(">BQ", LONG, n)
            out += sealed
        assert len(out) == total
        return out

    # -- opening -----------------------------------------------------------------------------

    def open_frame(self, body: bytes) -> Frame:
        """Open one MESSAGE body into ``(zmtp flags, frame)``.

        Raises:
            HandshakeError: as :meth:`open_messages`.
        """
        items, partial, _ = self.open_messages([(0, body)], [])
        if partial:
            return MORE, partial[0]
        item = items[0]
        return item if type(item) is tuple else (0, item[0])  # type: ignore[return-value]

    def open_messages(self, frames: Sequence[Frame], partial: list[bytes]
                      ) -> tuple[list[list[bytes] | Frame], list[bytes], int]:
        """:meth:`open_spans` for frames decoded as ``(flags, body)``: their bodies are
        copied into one buffer first.

        Raises:
            HandshakeError: as :meth:`open_spans`.
        """
        buffer = bytearray()
        spans: list[Span] = []
        for flags, body in frames:
            start = len(buffer)
            buffer += body
            spans.append((flags, start, len(buffer)))
        return self.open_spans(buffer, spans, partial)

    def open_spans(self, buffer: bytearray, spans: Sequence[Span], partial: list[bytes]
                   ) -> tuple[list[list[bytes] | Frame], list[bytes], int]:
        """Open MESSAGE frames in place and assemble messages from their inner MORE flags.

        Args:
            buffer: where the frames lie; their bytes are overwritten (each box opens where
                it is).
            spans: each frame's ``(flags, start, end)`` in ``buffer``, as the frame decoder's
                span methods return them (their own flags do not matter: MORE travels
                inside the box).
            partial: the frames of the message in progress, from the previous call.

        Returns:
            ``(items, partial, commands)`` as :meth:`~.frames.FrameDecoder.feed_messages`:
            each completed message as a list of bodies and each boxed command as a
            ``(flags, body)`` tuple, in order; the message still in progress; the number of
            commands.

        Raises:
            HandshakeError: a frame that is not a MESSAGE (``UNEXPECTED_COMMAND``) or too short
                (``MALFORMED_COMMAND_MESSAGE``), a counter not above the last one
                (``INVALID_SEQUENCE``), or a box that does not open (``CRYPTOGRAPHIC``).
        """
        lib = self._lib
        if lib is None:
            return self._open_slowly([(flags, bytes(buffer[start:end]))
                                      for flags, start, end in spans], partial)
        items: list[list[bytes] | Frame] = []
        if not spans:
            return items, partial, 0
        opened = lib.crypto_box_open_easy_afternm
        head, counter = _BODY_HEAD.unpack_from, _COUNTER.pack_into
        nonce, nonce_p, key = self._in_nonce, self._in_nonce_p, self.key
        make = self.frame_type
        view = memoryview(buffer)
        base = _pointer(self._ffi, buffer)
        boxes = base + 16  # a box (MAC first) is 16 bytes into its frame body
        last = self.peer_nonce
        append = items.append
        commands = 0
        try:
            for _, start, end in spans:
                if end - start < _OVERHEAD:
                    raise _malformed(bytes(buffer[start:end]))
                name, value = head(buffer, start)
                if name != _NAME:
                    raise _malformed(bytes(buffer[start:end]))
                if value <= last:
                    raise _replayed(value, last)
                last = value
                counter(nonce, 16, value)
                # in place, one pointer for both: the plaintext (flags byte, body) lands where
                # the MAC was (libsodium checks the MAC first, and writes nothing if it fails)
                box = boxes + start
                if opened(box, box, end - start - 16, nonce_p, key):
                    raise HandshakeError("CURVE MESSAGE: the box does not open",
                                         PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
                inner = buffer[start + 16]
                plain = (view[start + 17:end - 16].tobytes() if make is None
                         else make(view[start + 17:end - 16]))
                if not inner:  # the last (or only) frame of a message
                    if partial:
                        partial.append(plain)
                        append(partial)
                        partial = []
                    else:
                        append([plain])
                elif inner & 2:
                    append((_INNER_FLAGS[inner & 3], plain))
                    commands += 1
                else:
                    partial.append(plain)
        finally:
            self.peer_nonce = last
            view.release()
        return items, partial, commands

    def _open_slowly(self, frames: Sequence[Frame], partial: list[bytes]
                     ) -> tuple[list[list[bytes] | Frame], list[bytes], int]:
        """:meth:`open_messages` through the public bindings (no ``nacl._sodium``)."""
        items: list[list[bytes] | Frame] = []
        commands = 0
        for _, body in frames:
            body = bytes(body)
            if len(body) < _OVERHEAD or not body.startswith(_NAME):
                raise _malformed(body)
            self.take_peer_nonce(body[8:16])
            try:
                opened = self._nacl.crypto_box_open_easy_afternm(
                    body[16:], bytes(self._in_nonce[:16]) + body[8:16], self.key)
            except Exception:  # nacl.exceptions.CryptoError
                raise HandshakeError("CURVE MESSAGE: the box does not open",
                                     PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) from None
            inner, plain = opened[0], opened[1:]
            if self.frame_type is not None:
                plain = self.frame_type(plain)
            if inner & 2:
                items.append((_INNER_FLAGS[inner & 3], plain))
                commands += 1
            elif inner & 1:
                partial.append(plain)
            else:
                partial.append(plain)
                items.append(partial)
                partial = []
        return items, partial, commands
