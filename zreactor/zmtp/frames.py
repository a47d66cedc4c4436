"""ZMTP 3.x framing: the flags byte, short and long sizes, and the incremental decoder.

Theory of operation
-------------------
After the greeting every byte belongs to a frame::

    flags (1 byte) | size (1 byte, or 8 bytes big-endian if LONG) | body (size bytes)

Flags: bit 0 MORE (another frame of this message follows), bit 1 LONG (8-byte size), bit 2
COMMAND (the frame is a command, never part of a message). Bits 3-7 are reserved and "MUST be
zero" (RFC 37); we reject them, where libzmq's ``v2_decoder`` silently ignores them. A command
with MORE set is rejected too (the RFC: "This bit SHALL be zero on command frames").

``maxmsgsize`` is checked the way libzmq checks it (``v2_decoder_t::size_ready``): against the
size of *each frame*, commands included, as soon as the size field is complete and before any of
the body is buffered, so an oversized frame cannot make us allocate. A multipart message may
therefore total more than ``maxmsgsize`` if no single frame does.

Speed
-----
The decoder is on the hot path, so it works on one buffer with index arithmetic, and each
body is copied exactly once on its way from the kernel to the application.

*Reading into the decoder.* The decoder owns the buffer the engine reads into (a
:class:`~zreactor.reactor.readbuffer.ReadBuffer`, whose docstring explains its sizing), as
libzmq's decoders own theirs: only the grammar knows how much the frame in progress still
needs, and where the incomplete tail begins. The engine asks :meth:`FrameDecoder.get_buffer`
for a ``memoryview``, ``recv_into()`` it, and reports the byte count with
:meth:`FrameDecoder.messages_received` (or :meth:`FrameDecoder.frames_received`). The
kernel writes into the buffer, complete frames are cut out of it, and an incomplete tail
simply stays there for the next read: nothing is appended or joined. For a stream of 64 KiB
messages that replaces ``recv()`` bytes → tail buffer → joined copy → body (three copies
and two allocations per message, and a read per part-frame) with one copy per body and four
messages per read.

*Two copy strategies.* Cutting a small body out of a ``bytes`` object is one cheap slice;
cutting it out of a ``bytearray`` needs a ``memoryview`` slice and a copy, about three times
the interpreter work. So while messages are small the decoder copies the whole window into
one ``bytes`` (one fast ``memcpy``) and slices the bodies out of that; once the last read's
messages averaged :data:`LARGE_MESSAGE` bytes or more, or the frame in progress is that
large, it copies each body straight out of the buffer instead, so a large body is copied
once rather than twice.

*Chunks.* :meth:`FrameDecoder.feed` and :meth:`FrameDecoder.feed_messages` take bytes read
by someone else (the handshake, encrypted traffic, tests). A chunk that arrives while
nothing is buffered is parsed where it is, and only its incomplete tail is copied into the
buffer; otherwise the chunk is appended to the window first. Both ways in feed the same
window, so a connection may switch between them at any frame boundary or in mid-frame (it
does, when the handshake completes).

*Spans, for boxed traffic.* An encrypting mechanism (CURVE) makes every frame anew as its
box opens, so a copy of the box is wasted work. :meth:`FrameDecoder.spans_received` and
:meth:`FrameDecoder.feed_spans` return the buffer itself and a :data:`Span` ``(flags, start,
end)`` per complete frame instead of its body: the bytes are consumed at once, and the caller
may read *and overwrite* them (CURVE opens each box in place) until its next call on the
decoder, which is when the read buffer may move or reuse them.

The encoder side never builds a frame by concatenation: it appends headers and bodies to a
list that the caller joins once (:func:`encode_messages`), which is what lets an engine batch
thousands of small messages into one ``send()``. (One message written alone is the exception
that proves it: *The small message* below joins its two or four pieces at once.)

The traffic fast path
---------------------
:meth:`FrameDecoder.feed` returns frames; a connection in traffic would then walk them again to
assemble messages. :meth:`FrameDecoder.feed_messages` and
:meth:`FrameDecoder.messages_received` do both in one loop, for the state where nearly every
frame is message data: they return finished messages (lists of frames) with any command
frames left in place as ``(flags, body)`` tuples, plus a count of those commands, so a caller
that sees no command takes the whole list as it is. The commonest frame of all, the short
last frame of a single-frame message, has a branch of its own. The size of the frame in
progress is remembered (``_need``), so a large frame arriving in small pieces is not parsed
again until it is complete.

:func:`append_messages` is the matching encoder for frames already known to be ``bytes`` (the
socket layer makes them so), with the same special case for short single-frame messages.

*The small message.* A request or a reply written on its own (the engine's direct write,
zmtp/direct.py) is a batch of one: one or two short frames (REQ's empty delimiter and the
body). :func:`encode_small` returns its wire bytes from one join of its headers and bodies,
without the list that :func:`append_messages` fills and the caller joins and clears (for the
empty delimiter and a body, one concatenation of a pre-built four-byte header and the body);
any other message gets ``None`` and takes that list.

A lone message
--------------
A request or a reply read on its own (the direct read, :mod:`zreactor.zmtp.direct_read`) is
one chunk holding exactly one message of one or two short data frames: a body, or the empty
delimiter and a body. :meth:`FrameDecoder.lone_message` recognises that chunk with a few
comparisons and slices its bodies out, or, for anything else (something buffered, a
command, a long frame, a third frame, a partial or a second message, a ``maxmsgsize`` small
enough that short frames need the check), consumes nothing and returns None, so that the
caller feeds the chunk to :meth:`FrameDecoder.feed_messages` as before. What it accepts,
``feed_messages`` would return as ``[msg]`` with nothing left over: its branches are the
loop's first two, unrolled for two frames.

Equal runs
----------
A stream of messages of one size (a throughput test, fixed-size records, samples) is a run
of identical headers, each followed by a body of the same length. Both directions then
hand the whole run to C instead of a Python step per message:

* decoding (:meth:`FrameDecoder._equal_run`, tried at a message boundary before the
  per-frame loop): the window's first frame gives the header and the stride; one strided
  slice per header byte, ``lstrip``-ed, counts how many frames in a row carry that header,
  and one :meth:`struct.Struct.iter_unpack` cuts their bodies out. Only final data frames
  form a run, so commands, MORE frames, bad flags and oversized frames are all left to the
  loop, which checks them as before; a window shorter than :data:`EQUAL_RUN` frames is not
  tried. The bodies are the same ``bytes`` the loop would slice.
* encoding (:func:`append_messages`): a batch of at least :data:`EQUAL_RUN` single-frame
  messages of one size under :data:`LARGE_MESSAGE` is ``header.join([b"", *bodies])``, one
  string the caller's join returns unchanged when nothing else is queued. Any other batch
  takes the loop (a large body is not copied here: an engine hands it to the kernel as it is).

Per 100-byte message this is about 1.1 k instructions instead of 2.7 k to decode, and 0.6 k
instead of 1.5 k to encode and join (callgrind; docs/PERFORMANCE.md, *Throughput at small
sizes*). A stream of mixed sizes pays only the test: a few comparisons per read, and one
pass over the sizes per encoded batch.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import NoReturn

from ..errors import ProtocolError
from ..reactor.readbuffer import ReadBuffer

__all__ = [
    "COMMAND",
    "DELIMITED_HEADERS",
    "EQUAL_RUN",
    "LONG",
    "MORE",
    "BytesLike",
    "Frame",
    "FrameDecoder",
    "FramingError",
    "LARGE_MESSAGE",
    "Span",
    "append_command",
    "append_message",
    "append_messages",
    "encode_command_frame",
    "encode_messages",
    "encode_small",
]

#: Flag bits of the first byte of a frame.
MORE = 0x01
LONG = 0x02
COMMAND = 0x04
RESERVED = 0xF8
#: Largest body a short frame can carry; libzmq switches to a long size above it.
SHORT_MAX = 255
#: The RFC caps a long size at 2**63 - 1.
LONG_MAX = (1 << 63) - 1
#: Average message size from which the decoder copies bodies straight out of its read buffer
#: instead of slicing a ``bytes`` copy of the window (*Two copy strategies*).
LARGE_MESSAGE = 2048

_unpack_long = struct.Struct(">Q").unpack_from
_pack_long_header = struct.Struct(">BQ").pack
#: Fewest equal frames (or single-frame messages) handled as one run (*Equal runs*): below
#: it the test costs more than the per-frame loop it would save.
EQUAL_RUN = 8
#: ``iter_unpack`` structs of the runs seen, by (header length, body size); cleared when it
#: holds :data:`_RUN_STRUCTS_MAX` (sizes that keep changing then cost a compile per run).
_run_structs: dict[tuple[int, int], struct.Struct] = {}
_RUN_STRUCTS_MAX = 64


def _run_struct(header: int, size: int) -> struct.Struct:
    """The struct that cuts a run's frames into 1-tuples of their bodies."""
    key = (header, size)
    cut = _run_structs.get(key)
    if cut is None:
        if len(_run_structs) >= _RUN_STRUCTS_MAX:
            _run_structs.clear()
        cut = _run_structs[key] = struct.Struct(f"{header}x{size}s")
    return cut

# Pre-built 2-byte headers for short frames, indexed [flags][size]: the common case of a small
# frame then costs one list lookup instead of a bytes() construction.
_SHORT_HEADERS: tuple[tuple[bytes, ...], ...] = tuple(
    tuple(bytes((flags, size)) for size in range(SHORT_MAX + 1))
    for flags in range(COMMAND + MORE + 1)
)
#: the short headers of a data frame with MORE, and of a last frame (*The small message*)
_MORE_HEADERS, _FINAL_HEADERS = _SHORT_HEADERS[MORE], _SHORT_HEADERS[0]
#: the headers of a delimited message, by body size (at most :data:`SHORT_MAX`): the empty
#: delimiter's frame and the body's header in one string, so that ``[b"", body]`` is
#: ``DELIMITED_HEADERS[len(body)] + body`` on the wire (*The small message*; the express
#: write, ``zmtp/direct.py``, encodes a request or a reply with it)
DELIMITED_HEADERS = tuple(_MORE_HEADERS[0] + header for header in _FINAL_HEADERS)


#: What the encoder accepts as a frame body.
BytesLike = bytes | bytearray | memoryview

#: One decoded frame: ``(flags, body)``. ``flags`` is the raw flags byte (test it against
#: :data:`MORE` and :data:`COMMAND`); ``body`` the frame's bytes. A plain tuple rather than a
#: named one because the decoder builds one per frame and a plain tuple costs a tenth as much.
Frame = tuple[int, bytes]

#: Where one decoded frame lies in a buffer: ``(flags, start, end)``, its body being
#: ``buffer[start:end]`` (see *Spans, for boxed traffic*).
Span = tuple[int, int, int]


class FramingError(ProtocolError):
    """A frame header broke ZMTP framing.

    Attributes:
        frames: the complete frames that preceded the violation in the same
            :meth:`FrameDecoder.feed` call, in order. A caller may still act on them; the
            connection does, so that an ERROR command sent just before garbage is reported as
            the peer's ERROR (libzmq stops reading at the ERROR too). From a span method
            they are :data:`Span` tuples into :attr:`buffer`.
        buffer: the buffer those spans index (span methods only; else None).
    """

    buffer: bytearray | None = None

    def __init__(self, message: str, frames: list[Frame]) -> None:
        super().__init__(message)
        self.frames = frames


class FrameDecoder:
    """Turns a byte stream into :data:`Frame` tuples ``(flags, body)``, chunk by chunk.

    Args:
        maxmsgsize: the largest frame body accepted, in bytes; ``-1`` for no limit.
        offset: the stream offset of the first byte fed (64 when the decoder starts after the
            greeting); used only to say where a violation happened.

    Two ways in, which may be mixed (the bytes are one stream either way):

    * *chunks*: :meth:`feed` / :meth:`feed_messages` take bytes someone else read;
    * *the read buffer*: ``n = sock.recv_into(decoder.get_buffer())``, then
      :meth:`frames_received` / :meth:`messages_received` with ``n`` (see the module
      docstring, *Reading into the decoder*).

    The decoder is a pure function of the bytes given so far: a stream in one piece or one
    byte at a time yields the same frames. After it raises :class:`ProtocolError` it must be
    discarded.
    """

    __slots__ = ("_large", "_limit", "_maxmsgsize", "_need", "_offset", "_rb")

    def __init__(self, maxmsgsize: int = -1, *, offset: int = 0) -> None:
        self._rb = ReadBuffer()
        self._maxmsgsize = maxmsgsize
        #: The largest body accepted, as one comparison: maxmsgsize, or LONG_MAX for none.
        self._limit = maxmsgsize if maxmsgsize >= 0 else LONG_MAX
        #: Stream offset of the window's first byte (``_rb.start``).
        self._offset = offset
        #: Bytes the frame at the window's start needs in all, when its header is complete
        #: (else 0): nothing is parsed again until that many are there.
        self._need = 0
        #: The last read's messages averaged at least LARGE_MESSAGE bytes: copy bodies
        #: straight out of the buffer (see *Two copy strategies*).
        self._large = False

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet form a complete frame."""
        return len(self._rb)

    # -- the read buffer ------------------------------------------------------------------

    def get_buffer(self) -> memoryview:
        """Where the next read should land: ``sock.recv_into(decoder.get_buffer())``.

        The view has room for at least the rest of the frame in progress. Use it for one read
        only, then report what it received with :meth:`frames_received` or
        :meth:`messages_received` before asking again.
        """
        return self._rb.space(self._need)

    def frames_received(self, nbytes: int) -> list[Frame]:
        """The last read put ``nbytes`` into :meth:`get_buffer`: return the frames completed.

        Raises:
            FramingError: as :meth:`feed`.
        """
        self._rb.filled(nbytes)
        return self._buffered_frames()

    def messages_received(
        self, nbytes: int, partial: list[bytes]
    ) -> tuple[list[list[bytes] | Frame], list[bytes], int]:
        """The last read put ``nbytes`` into :meth:`get_buffer`: the traffic fast path.

        Args and returns as :meth:`feed_messages`.

        Raises:
            FramingError: as :meth:`feed`.
        """
        self._rb.filled(nbytes)
        return self._buffered_messages(partial)

    def spans_received(self, nbytes: int) -> tuple[bytearray, list[Span]]:
        """The last read put ``nbytes`` into :meth:`get_buffer`: the frames completed, as
        spans of the buffer (*Spans, for boxed traffic*).

        Returns:
            ``(buffer, spans)``: each complete frame's :data:`Span` into ``buffer``, already
            consumed; the caller may read and overwrite those bytes until its next call here.

        Raises:
            FramingError: as :meth:`feed`, its ``frames`` spans into its ``buffer``.
        """
        self._rb.filled(nbytes)
        return self._buffered_spans()

    # -- chunks ---------------------------------------------------------------------------

    def feed(self, data: BytesLike) -> list[Frame]:
        """Consume ``data`` and return the frames it completed, in order.

        Raises:
            FramingError: a flags byte has reserved bits or is a command with MORE set, a
                long size exceeds 2**63-1, or a frame is larger than ``maxmsgsize``. The frames
                completed before the violation travel in the exception.
        """
        rb = self._rb
        if len(rb):
            rb.append(data)
            return self._buffered_frames()
        with memoryview(data) as view:  # nothing buffered: parse the chunk where it is
            frames, pos = self._frames(view, 0, len(view))
            if pos < len(view):
                rb.append(view[pos:])
        self._offset += pos
        return frames

    def feed_messages(
        self, data: BytesLike, partial: list[bytes]
    ) -> tuple[list[list[bytes] | Frame], list[bytes], int]:
        """Consume ``data`` in traffic: return the messages it completed, assembled.

        Args:
            data: the next chunk of the stream.
            partial: the frames of the message in progress (those with MORE so far), as
                returned by the previous call; ``[]`` at a message boundary.

        Returns:
            ``(items, partial, commands)``: ``items`` holds, in stream order, each completed
            message as a ``list`` of frame bodies and each command frame as a :data:`Frame`
            tuple; ``partial`` is the message in progress (pass it to the next call);
            ``commands`` counts the tuples in ``items`` (0: every item is a message).

        Raises:
            FramingError: as :meth:`feed`; its ``frames`` are the items completed before the
                violation.
        """
        rb = self._rb
        if rb.end != rb.start or type(data) is not bytes:  # (len(rb), without its call)
            rb.append(data)
            return self._buffered_messages(partial)
        items, partial, commands, used = self._small_messages(data, partial)
        if used < len(data):  # nothing buffered: the chunk was parsed where it is
            with memoryview(data) as view:
                rb.append(view[used:])
        self._offset += used
        return items, partial, commands

    def lone_message(self, data: bytes) -> list[bytes] | None:
        """*A lone message*: if ``data`` is exactly one message of one or two short data
        frames and nothing is buffered, consume it and return its frame bodies; else None,
        having consumed nothing (feed it with :meth:`feed_messages`).

        Only at a message boundary (no frames of a message in progress: the caller's
        ``partial`` is empty).
        """
        rb = self._rb
        if rb.end != rb.start or self._limit < SHORT_MAX:
            return None  # something buffered; or short frames need the maxmsgsize check
        size = len(data)
        try:  # (a header cut short is an IndexError: no length test before each index)
            flags = data[0]
            end = 2 + data[1]
            if flags == MORE:  # the first of two frames: the second must end the chunk
                if end == 2:
                    # the empty delimiter first (a REQ's request, a REP's reply: the common
                    # case), then the body: no slice for the delimiter, one add fewer
                    if data[2] or 4 + data[3] != size:
                        return None
                    msg = [b"", data[4:]]
                elif data[end] or end + 2 + data[end + 1] != size:
                    return None
                else:
                    msg = [data[2:end], data[end + 2:]]
            elif flags or end != size:
                return None
            else:
                msg = [data[2:]]
        except IndexError:
            return None
        self._offset += size
        return msg

    def feed_spans(self, data: BytesLike) -> tuple[bytearray, list[Span]]:
        """Consume ``data`` and return the frames it completed as spans, as
        :meth:`spans_received` does for a read into the buffer.

        A chunk that arrives while nothing is buffered is copied once into a ``bytearray`` of
        its own (the spans' buffer, which the caller may overwrite); only its incomplete tail
        goes into the read buffer.

        Raises:
            FramingError: as :meth:`spans_received`.
        """
        rb = self._rb
        if len(rb):
            rb.append(data)
            return self._buffered_spans()
        buffer = bytearray(data)
        try:
            spans, pos = self._spans(buffer, 0, len(buffer))
        except FramingError as exc:
            exc.buffer = buffer
            raise
        if pos < len(buffer):
            with memoryview(buffer) as view:
                rb.append(view[pos:])
        self._offset += pos
        return buffer, spans

    # -- the parsing loops ----------------------------------------------------------------

    def _buffered_spans(self) -> tuple[bytearray, list[Span]]:
        rb = self._rb
        data = rb.data
        if len(rb) < self._need:
            return data, []  # the frame in progress is still incomplete
        start = rb.start
        try:
            spans, pos = self._spans(data, start, rb.end)
        except FramingError as exc:
            exc.buffer = data
            raise
        # consume() never writes the array (it moves indices or drops it), so the spans stay
        # valid until the next read or chunk moves the window
        rb.consume(pos - start)
        self._offset += pos - start
        return data, spans

    def _buffered_frames(self) -> list[Frame]:
        rb = self._rb
        if len(rb) < self._need:
            return []  # the frame in progress is still incomplete
        start = rb.start
        with memoryview(rb.data) as view:
            frames, pos = self._frames(view, start, rb.end)
        rb.consume(pos - start)
        self._offset += pos - start
        return frames

    def _buffered_messages(
        self, partial: list[bytes]
    ) -> tuple[list[list[bytes] | Frame], list[bytes], int]:
        rb = self._rb
        need = self._need
        if len(rb) < need:
            return [], partial, 0  # the frame in progress is still incomplete
        start = rb.start
        if self._large or need >= LARGE_MESSAGE:
            items, partial, commands, used = self._large_messages(rb.data, start, rb.end,
                                                                  partial)
        else:
            # an equal run is cut straight out of the buffer, the rest out of one copy
            run: list[list[bytes] | Frame] = []
            taken = 0 if partial else self._equal_run(rb.data, start, rb.end, run)
            with memoryview(rb.data) as view:
                window = view[start + taken:rb.end].tobytes()
            # (a run may start where this one broke off; where none was found, none is)
            items, partial, commands, used = self._small_messages(window, partial,
                                                                  taken > 0)
            if taken:
                run += items
                items = run
                used += taken
        if items:
            self._large = used >= LARGE_MESSAGE * len(items)
        rb.consume(used)
        self._offset += used
        return items, partial, commands

    def _frames(self, view: memoryview, pos: int, end_of_data: int) -> tuple[list[Frame], int]:
        """Frames from ``view[pos:end_of_data]``; returns them and where parsing stopped."""
        try:
            spans, pos = self._spans(view, pos, end_of_data)
        except FramingError as exc:
            raise FramingError(str(exc), [(flags, view[start:end].tobytes())
                                          for flags, start, end in exc.frames]) from None
        return [(flags, view[start:end].tobytes()) for flags, start, end in spans], pos

    def _spans(self, data: BytesLike, pos: int, end_of_data: int) -> tuple[list[Span], int]:
        """Spans of the frames in ``data[pos:end_of_data]``; returns them and where parsing
        stopped. Offsets in a :class:`FramingError` are relative to ``pos``."""
        spans: list[Span] = []
        append = spans.append
        base = pos
        limit = self._limit
        need = 0
        while end_of_data - pos >= 2:
            flags = data[pos]
            if flags < LONG or flags == COMMAND:
                # Short data frame (last or MORE) or short command: the common case.
                size = data[pos + 1]
                start = pos + 2
            elif flags & RESERVED or flags & (COMMAND | MORE) == COMMAND | MORE:
                self._reject(flags, 0, pos - base, spans)  # type: ignore[arg-type]
            else:
                if end_of_data - pos < 9:
                    break
                size = _unpack_long(data, pos + 1)[0]
                if size > LONG_MAX:
                    self._reject(flags, size, pos - base, spans)  # type: ignore[arg-type]
                start = pos + 9
            if size > limit:
                self._reject(flags, size, pos - base, spans)  # type: ignore[arg-type]
            end = start + size
            if end > end_of_data:
                need = end - pos
                break
            append((flags, start, end))
            pos = end
        self._need = need
        return spans, pos

    def _small_messages(
        self, src: bytes, partial: list[bytes], runs: bool = True
    ) -> tuple[list[list[bytes] | Frame], list[bytes], int, int]:
        """Messages from all of ``src``, bodies sliced out of it; returns ``(items, partial,
        commands, bytes used)``. ``runs``: look for an equal run at the start (False: the
        caller just looked there)."""
        items: list[list[bytes] | Frame] = []
        append = items.append
        commands = 0
        limit = self._limit
        # Short last frames of single-frame messages take the first branch, other short data
        # frames the second, unless a maxmsgsize below 255 means even short frames must be
        # checked (then neither matches).
        fast = 0 if limit >= SHORT_MAX else -1
        end_of_data = len(src)
        last = end_of_data - 1  # a frame header needs two bytes: pos < last
        pos = 0
        need = 0
        if runs and not partial and end_of_data >= EQUAL_RUN * 2 and not src[0] & ~LONG:
            pos = self._equal_run(src, 0, end_of_data, items)  # (*Equal runs*)
        while pos < last:
            flags = src[pos]
            if flags == fast and not partial:
                start = pos + 2
                end = start + src[pos + 1]
                if end > end_of_data:
                    need = end - pos
                    break
                append([src[start:end]])
                pos = end
                continue
            if flags < LONG and not fast:
                # Any other short data frame: a frame of a multipart message (a request or
                # a reply: its envelope, its body), whose size needs no check either.
                start = pos + 2
                end = start + src[pos + 1]
                if end > end_of_data:
                    need = end - pos
                    break
                partial.append(src[start:end])
                if not flags:
                    append(partial)
                    partial = []
                pos = end
                continue
            if flags < LONG or flags == COMMAND:
                size = src[pos + 1]
                start = pos + 2
            elif flags & RESERVED or flags & (COMMAND | MORE) == COMMAND | MORE:
                self._reject(flags, 0, pos, items)  # type: ignore[arg-type]
            else:
                if end_of_data - pos < 9:
                    break
                size = _unpack_long(src, pos + 1)[0]
                if size > LONG_MAX:
                    self._reject(flags, size, pos, items)  # type: ignore[arg-type]
                start = pos + 9
            if size > limit:
                self._reject(flags, size, pos, items)  # type: ignore[arg-type]
            end = start + size
            if end > end_of_data:
                need = end - pos
                break
            body = src[start:end]
            if flags & COMMAND:
                append((flags, body))
                commands += 1
            elif flags & MORE:
                partial.append(body)
            else:
                partial.append(body)
                append(partial)
                partial = []
            pos = end
        self._need = need
        return items, partial, commands, pos

    def _equal_run(self, data: BytesLike, pos: int, end_of_data: int,
                   items: list[list[bytes] | Frame]) -> int:
        """*Equal runs*: append to ``items`` the single-frame messages at ``data[pos]`` that
        share the first one's header, if there are at least :data:`EQUAL_RUN` of them before
        ``end_of_data``; return the bytes they took (0: none taken, the loop decodes them)."""
        flags = data[pos]
        if flags == 0:
            header, size = 2, data[pos + 1]
        elif flags == LONG and end_of_data - pos >= 9:
            header, size = 9, _unpack_long(data, pos + 1)[0]
        else:
            return 0  # not a final data frame, or its header is incomplete
        stride = header + size
        count = (end_of_data - pos) // stride
        if count < EQUAL_RUN or size > self._limit:
            return 0  # too short to pay, or oversized: the loop rejects it
        # How many frames in a row repeat each header byte: one strided slice per byte, no
        # step per frame. Frame i is looked at only if the i before it matched, so it starts
        # exactly i strides in.
        for index in range(pos, pos + header):
            column = data[index:index + count * stride:stride]
            same = count - len(column.lstrip(column[:1]))
            if same < count:
                count = same
                if count < EQUAL_RUN:
                    return 0
        end = pos + count * stride
        with memoryview(data) as view:
            items.extend(map(list, _run_struct(header, size).iter_unpack(view[pos:end])))
        return end - pos

    def _large_messages(
        self, data: bytearray, pos: int, end_of_data: int, partial: list[bytes]
    ) -> tuple[list[list[bytes] | Frame], list[bytes], int, int]:
        """As :meth:`_small_messages` over ``data[pos:end_of_data]``, each body copied
        straight out of ``data`` (its only copy)."""
        items: list[list[bytes] | Frame] = []
        append = items.append
        commands = 0
        limit = self._limit
        base = pos
        need = 0
        with memoryview(data) as view:
            while end_of_data - pos >= 2:
                flags = data[pos]
                if flags < LONG or flags == COMMAND:
                    size = data[pos + 1]
                    start = pos + 2
                elif flags & RESERVED or flags & (COMMAND | MORE) == COMMAND | MORE:
                    self._reject(flags, 0, pos - base, items)  # type: ignore[arg-type]
                else:
                    if end_of_data - pos < 9:
                        break
                    size = _unpack_long(data, pos + 1)[0]
                    if size > LONG_MAX:
                        self._reject(flags, size, pos - base, items)  # type: ignore[arg-type]
                    start = pos + 9
                if size > limit:
                    self._reject(flags, size, pos - base, items)  # type: ignore[arg-type]
                end = start + size
                if end > end_of_data:
                    need = end - pos
                    break
                body = view[start:end].tobytes()
                if flags & COMMAND:
                    append((flags, body))
                    commands += 1
                elif flags & MORE:
                    partial.append(body)
                else:
                    partial.append(body)
                    append(partial)
                    partial = []
                pos = end
        self._need = need
        return items, partial, commands, pos - base

    def _reject(self, flags: int, size: int, pos: int, frames: list[Frame]) -> NoReturn:
        """Raise the :class:`FramingError` for the frame at window offset ``pos``."""
        where = f"frame at stream offset {self._offset + pos}"
        if flags & RESERVED:
            problem = (f"flags byte 0x{flags:02x} has reserved bits 0x{flags & RESERVED:02x} "
                       "set; only MORE (0x01), LONG (0x02) and COMMAND (0x04) are defined")
        elif flags & COMMAND and flags & MORE:
            problem = (f"flags byte 0x{flags:02x} marks a command frame with MORE; commands "
                       "are single frames")
        elif size > LONG_MAX:
            problem = f"long size {size} exceeds the ZMTP limit 2**63-1"
        else:
            problem = f"frame of {size} bytes exceeds maxmsgsize {self._maxmsgsize}"
        raise FramingError(f"{where}: {problem}", frames)


def append_message(out: list[BytesLike], frames: Sequence[BytesLike]) -> None:
    """Append the wire form of the multipart message ``frames`` to ``out``.

    ``out`` receives alternating headers and bodies; ``b"".join(out)`` is the wire data. The
    bodies are not copied, so they must not be mutated until the list is joined.

    Raises:
        ValueError: ``frames`` is empty (a ZMTP message has at least one frame).
    """
    last = len(frames) - 1
    if last < 0:
        raise ValueError("a ZMTP message needs at least one frame")
    more = _SHORT_HEADERS[MORE]
    final = _SHORT_HEADERS[0]
    append = out.append
    for index, body in enumerate(frames):
        size = len(body)
        if size <= SHORT_MAX:
            append(more[size] if index < last else final[size])
        else:
            append(_pack_long_header((MORE if index < last else 0) | LONG, size))
        append(body)


def append_messages(out: list[BytesLike], messages: Iterable[Sequence[bytes]]) -> int:
    """Append the wire form of many messages to ``out``; return the bytes of their bodies.

    The frames must already be ``bytes`` (or other bytes-like objects) and each message must
    have at least one frame: this is the encoder for messages the socket layer has checked,
    and it checks nothing itself (an empty message would raise ``IndexError``). A batch of
    single-frame messages of one size is encoded as one run (*Equal runs*).
    """
    if type(messages) is list and len(messages) >= EQUAL_RUN:
        total = _append_equal_run(out, messages)
        if total >= 0:
            return total
    final = _SHORT_HEADERS[0]
    append = out.append
    total = 0
    for frames in messages:
        if len(frames) == 1:
            body = frames[0]
            size = len(body)
            total += size
            append(final[size] if size <= SHORT_MAX else _pack_long_header(LONG, size))
            append(body)
        else:
            append_message(out, frames)
            for body in frames:
                total += len(body)
    return total


def encode_small(frames: Sequence[bytes]) -> bytes | None:
    """*The small message*: the wire bytes of the message ``frames`` (``bytes``, checked by
    the socket layer) if it has one or two frames of at most :data:`SHORT_MAX` bytes; else
    None, and the caller encodes it with :func:`append_messages`."""
    try:  # (a frame over SHORT_MAX: IndexError, past the end of the header tables)
        if len(frames) == 2:
            first, last = frames
            if not first:  # a delimited message (REQ's, REP's reply): one concatenation
                return DELIMITED_HEADERS[len(last)] + last
            return b"".join((_MORE_HEADERS[len(first)], first, _FINAL_HEADERS[len(last)], last))
        if len(frames) == 1:
            last = frames[0]
            return _FINAL_HEADERS[len(last)] + last
    except IndexError:
        pass
    return None


def _append_equal_run(out: list[BytesLike], messages: list[Sequence[bytes]]) -> int:
    """*Equal runs*: if every one of ``messages`` is a single frame of one size, append them
    to ``out`` as one string and return their body bytes; else append nothing, return -1."""
    try:
        bodies = [b""]
        bodies += [body for body, in messages]  # (ValueError: a multipart message)
    except ValueError:
        return -1
    size = len(bodies[1])
    if size >= LARGE_MESSAGE:
        return -1  # a large body goes to the kernel uncopied (the engine's gathered send)
    sizes = list(map(len, bodies))
    sizes[0] = size  # (the leading b"")
    if sizes.count(size) != len(sizes):
        return -1
    header = _SHORT_HEADERS[0][size] if size <= SHORT_MAX else _pack_long_header(LONG, size)
    out.append(header.join(bodies))  # b"" first: header, body, header, body, ...
    return size * len(messages)


def append_command(out: list[BytesLike], body: bytes) -> None:
    """Append a command frame carrying ``body`` (name length, name, data) to ``out``."""
    size = len(body)
    if size <= SHORT_MAX:
        out.append(_SHORT_HEADERS[COMMAND][size])
    else:
        out.append(_pack_long_header(COMMAND | LONG, size))
    out.append(body)


def encode_command_frame(body: bytes) -> bytes:
    """Return the complete command frame carrying ``body``."""
    out: list[BytesLike] = []
    append_command(out, body)
    return b"".join(out)


def encode_messages(messages: Iterable[Sequence[BytesLike]]) -> bytes:
    """Return the wire form of several messages as one ``bytes``, ready for one ``send()``."""
    out: list[BytesLike] = []
    for frames in messages:
        append_message(out, frames)
    return b"".join(out)
