"""Tests for zreactor.zmtp.frames: flags, short/long sizes, maxmsgsize, incremental decoding."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zreactor.errors import ProtocolError
from zreactor.zmtp.frames import (
    COMMAND,
    EQUAL_RUN,
    LARGE_MESSAGE,
    LONG,
    MORE,
    FrameDecoder,
    append_command,
    append_message,
    append_messages,
    encode_command_frame,
    encode_messages,
    encode_small,
)

pytestmark = pytest.mark.timeout(30)


def decode_all(data: bytes, *, chunk: int | None = None, maxmsgsize: int = -1
               ) -> list[tuple[int, bytes]]:
    decoder = FrameDecoder(maxmsgsize)
    if chunk is None:
        return decoder.feed(data)
    frames = []
    for start in range(0, len(data), chunk):
        frames += decoder.feed(data[start:start + chunk])
    assert decoder.buffered == 0
    return frames


def test_short_message_bytes() -> None:
    # libzmq tests/test_mock_pub_sub.cpp: an XPUB sends "ALOL" as {0, 4, 'A', 'L', 'O', 'L'}.
    assert encode_messages([[b"ALOL"]]) == b"\x00\x04ALOL"


def test_multipart_sets_more_on_all_but_last() -> None:
    assert encode_messages([[b"a", b"bc", b""]]) == b"\x01\x01a\x01\x02bc\x00\x00"


def test_255_is_short_and_256_is_long() -> None:
    assert encode_messages([[b"x" * 255]])[:2] == b"\x00\xff"
    wire = encode_messages([[b"x" * 256, b"y"]])
    assert wire[:9] == bytes([MORE | LONG]) + struct.pack(">Q", 256)
    assert decode_all(wire) == [(MORE | LONG, b"x" * 256), (0, b"y")]


def test_command_frames() -> None:
    assert encode_command_frame(b"\x04PING\x00\x00") == b"\x04\x07\x04PING\x00\x00"
    long_body = b"\x05READY" + b"z" * 300
    wire = encode_command_frame(long_body)
    assert wire[0] == COMMAND | LONG
    assert decode_all(wire) == [(COMMAND | LONG, long_body)]


def test_append_functions_batch_into_one_list() -> None:
    out: list[bytes] = []
    append_message(out, [b"m1"])
    append_command(out, b"\x04PONG")
    append_message(out, [b"a", b"b"])
    wire = b"".join(out)
    assert decode_all(wire) == [(0, b"m1"), (COMMAND, b"\x04PONG"), (MORE, b"a"), (0, b"b")]


def test_empty_message_is_refused() -> None:
    with pytest.raises(ValueError):
        append_message([], [])


def test_long_frame_over_one_megabyte_round_trips_in_small_chunks() -> None:
    body = bytes(range(256)) * 5000  # 1.28 MB
    wire = encode_messages([[body], [b"after"]])
    assert decode_all(wire, chunk=4096) == [(LONG, body), (0, b"after")]


def test_chunk_size_independence_including_one_byte_at_a_time() -> None:
    messages = [[b"a"], [b"b" * 300, b""], [b"c" * 255, b"d" * 256, b"e"]]
    wire = encode_messages(messages) + encode_command_frame(b"\x04PING\x00\x0aLOL")
    expected = decode_all(wire)
    assert len(expected) == 7
    for chunk in (1, 2, 3, 8, 9, 10, 255, 1000):
        assert decode_all(wire, chunk=chunk) == expected


def test_long_size_may_encode_a_small_body() -> None:
    wire = bytes([LONG]) + struct.pack(">Q", 3) + b"abc"
    assert decode_all(wire) == [(LONG, b"abc")]


def test_partial_frame_waits_for_more_data() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x00\x05ab") == []
    assert decoder.buffered == 4
    assert decoder.feed(b"cde\x00") == [(0, b"abcde")]
    assert decoder.buffered == 1


def test_decoder_accepts_memoryview_and_bytearray() -> None:
    wire = encode_messages([[b"hello"], [b"world"]])
    decoder = FrameDecoder()
    assert decoder.feed(memoryview(wire)[:4]) == []
    assert decoder.feed(bytearray(wire[4:])) == [(0, b"hello"), (0, b"world")]


@pytest.mark.parametrize("flags", [0x08, 0x10, 0x20, 0x40, 0x80, 0xFF, 0x09, 0x0C])
def test_reserved_flag_bits_are_a_protocol_error(flags: int) -> None:
    with pytest.raises(ProtocolError, match=f"flags byte 0x{flags:02x} has reserved bits"):
        decode_all(bytes([flags, 0]))


@pytest.mark.parametrize("flags", [COMMAND | MORE, COMMAND | MORE | LONG])
def test_command_with_more_is_a_protocol_error(flags: int) -> None:
    with pytest.raises(ProtocolError, match="command frame with MORE"):
        decode_all(bytes([flags]) + bytes(8))


def test_error_names_the_stream_offset() -> None:
    decoder = FrameDecoder(offset=64)
    with pytest.raises(ProtocolError, match="stream offset 68"):
        decoder.feed(b"\x00\x02ab\x80\x00")


def test_long_size_beyond_2_63_is_rejected() -> None:
    with pytest.raises(ProtocolError, match="2\\*\\*63-1"):
        decode_all(bytes([LONG]) + struct.pack(">Q", 1 << 63))


def test_maxmsgsize_is_checked_per_frame_like_libzmq() -> None:
    # libzmq's v2_decoder_t::size_ready compares each frame's size with ZMQ_MAXMSGSIZE.
    wire = encode_messages([[b"x" * 10, b"y" * 10]])
    assert len(decode_all(wire, maxmsgsize=10)) == 2
    with pytest.raises(ProtocolError, match="11 bytes exceeds maxmsgsize 10"):
        decode_all(encode_messages([[b"x" * 11]]), maxmsgsize=10)


def test_maxmsgsize_applies_to_commands_too() -> None:
    with pytest.raises(ProtocolError, match="maxmsgsize"):
        decode_all(encode_command_frame(b"\x05READY" + bytes(20)), maxmsgsize=10)


def test_maxmsgsize_fires_on_the_header_before_the_body_arrives() -> None:
    decoder = FrameDecoder(maxmsgsize=1000)
    with pytest.raises(ProtocolError, match="maxmsgsize"):
        decoder.feed(bytes([LONG]) + struct.pack(">Q", 1 << 40))


def test_maxmsgsize_zero_allows_only_empty_frames() -> None:
    assert decode_all(b"\x00\x00", maxmsgsize=0) == [(0, b"")]
    with pytest.raises(ProtocolError):
        decode_all(b"\x00\x01x", maxmsgsize=0)


# -- the traffic fast path: feed_messages ---------------------------------------------------


def messages_all(data: bytes, *, chunk: int | None = None, maxmsgsize: int = -1
                 ) -> tuple[list[object], int]:
    decoder = FrameDecoder(maxmsgsize)
    items: list[object] = []
    partial: list[bytes] = []
    commands = 0
    for start in range(0, len(data), chunk or max(len(data), 1)):
        got, partial, count = decoder.feed_messages(data[start:start + (chunk or len(data))],
                                                    partial)
        items += got
        commands += count
    assert decoder.buffered == 0 and partial == []
    return items, commands


def test_feed_messages_assembles_messages_and_leaves_commands_in_place() -> None:
    ping = encode_command_frame(b"\x04PINGxx")
    wire = (encode_messages([[b"a"]]) + b"\x01\x02bc" + ping + b"\x00\x01d"
            + encode_messages([[b"x" * 300, b""]]))
    items, commands = messages_all(wire)
    assert items == [[b"a"], (COMMAND, b"\x04PINGxx"), [b"bc", b"d"], [b"x" * 300, b""]]
    assert commands == 1
    assert all(type(body) is bytes for item in items if type(item) is list for body in item)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1000])
def test_feed_messages_does_not_depend_on_chunking(chunk: int) -> None:
    messages = [[b"x" * n] for n in (0, 1, 254, 255, 256, 3000)] + [[b"a", b"b" * 400, b"c"]]
    wire = encode_messages(messages)
    assert messages_all(wire, chunk=chunk) == (messages, 0)


def test_feed_messages_large_frame_in_small_pieces_waits_without_reparsing() -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    wire = encode_messages([[body], [b"after"]])
    decoder = FrameDecoder()
    got: list[object] = []
    partial: list[bytes] = []
    for start in range(0, len(wire), 4096):
        items, partial, _ = decoder.feed_messages(wire[start:start + 4096], partial)
        got += items
        if not got:
            assert decoder._need == len(body) + 9  # the header is known: append only
    assert got == [[body], [b"after"]]


def test_feed_messages_accepts_memoryview_and_bytearray() -> None:
    wire = encode_messages([[b"hello"], [b"a", b"b"]])
    for data in (memoryview(wire), bytearray(wire)):
        items, partial, _ = FrameDecoder().feed_messages(data, [])
        assert items == [[b"hello"], [b"a", b"b"]] and partial == []


def test_feed_messages_checks_short_frames_against_a_small_maxmsgsize() -> None:
    decoder = FrameDecoder(maxmsgsize=4)
    with pytest.raises(ProtocolError, match="exceeds maxmsgsize 4") as info:
        decoder.feed_messages(encode_messages([[b"ok"], [b"too long"]]), [])
    assert info.value.frames == [[b"ok"]]  # what came before the violation


@pytest.mark.parametrize("flags", [0x08, 0x80, COMMAND | MORE])
def test_feed_messages_rejects_bad_flags(flags: int) -> None:
    with pytest.raises(ProtocolError):
        FrameDecoder().feed_messages(bytes([flags, 0]), [])


def test_append_messages_matches_append_message_and_counts_body_bytes() -> None:
    messages = [[b"a"], [b"b" * 255], [b"c" * 256], [b"d", b"e" * 300], [b""]]
    fast: list[object] = []
    total = append_messages(fast, messages)  # type: ignore[arg-type]
    assert b"".join(fast) == encode_messages(messages)  # type: ignore[arg-type]
    assert total == sum(len(f) for m in messages for f in m)


@pytest.mark.parametrize("message", [
    [b""], [b"a"], [b"x" * 255], [b"", b"req"], [b"e" * 255, b"b" * 255], [b"", b""]])
def test_encode_small_is_the_wire_of_a_small_message(message: list[bytes]) -> None:
    assert encode_small(message) == encode_messages([message])


@pytest.mark.parametrize("message", [
    [b"x" * 256], [b"", b"x" * 256], [b"x" * 256, b""], [b"a", b"b", b"c"]])
def test_encode_small_refuses_any_other_message(message: list[bytes]) -> None:
    assert encode_small(message) is None


# -- reading into the decoder: get_buffer / messages_received / frames_received -------------


#: Most reads one delivery of a wire takes (see :func:`read_sizes`).
MAX_READS = 10_000


def read_sizes(sizes: list[int], total: int) -> list[int]:
    """``sizes``, each raised so that ``total`` bytes take at most :data:`MAX_READS` reads.

    Hypothesis likes ``sizes=[1]``: over a 280 KB wire that is 280,000 reads (4 s alone,
    past the timeout on a loaded machine), and it tests nothing that 1-byte reads of a small
    wire and 29-byte reads of a large one (which still split every header) do not.
    """
    floor = -(-total // MAX_READS)
    return [max(size, floor) for size in sizes]


def read_into(decoder: FrameDecoder, data: bytes, sizes: list[int], *, messages: bool = True
              ) -> tuple[list[object], list[bytes]]:
    """Deliver ``data`` as reads of the given sizes (cycled, and bounded by
    :func:`read_sizes`), each written into ``get_buffer()`` as ``recv_into`` would; return
    what the decoder completed."""
    got: list[object] = []
    partial: list[bytes] = []
    sizes = read_sizes(sizes, len(data))
    pos = 0
    step = 0
    while pos < len(data):
        view = decoder.get_buffer()
        assert len(view) > 0
        n = min(sizes[step % len(sizes)], len(view), len(data) - pos)
        step += 1
        view[:n] = data[pos:pos + n]
        view.release()
        pos += n
        if messages:
            items, partial, _ = decoder.messages_received(n, partial)
            got += items
        else:
            got += decoder.frames_received(n)
    return got, partial


def test_reads_into_the_decoder_give_the_messages() -> None:
    messages = [[b"a"], [b"b" * 300, b""], [b"c" * 70_000], [b"d", b"e"]]
    got, partial = read_into(FrameDecoder(), encode_messages(messages), [65536])
    assert got == messages and partial == []
    assert all(type(body) is bytes for message in got for body in message)  # type: ignore


def test_large_messages_are_copied_straight_out_of_the_buffer() -> None:
    # after a read of large messages the decoder slices bodies from its buffer; the
    # messages, their order and their types are the same as on the other path
    messages = [[bytes([i]) * 65536] for i in range(12)] + [[b"small"]] * 3
    decoder = FrameDecoder()
    got, _ = read_into(decoder, encode_messages(messages), [1 << 20])
    assert got == messages
    assert all(type(message[0]) is bytes for message in got)  # type: ignore[index]


def test_a_frame_larger_than_the_buffer_still_arrives_whole() -> None:
    body = bytes(range(256)) * 8192  # 2 MiB
    got, _ = read_into(FrameDecoder(), encode_messages([[body], [b"after"]]), [100_000])
    assert got == [[body], [b"after"]]


def test_reads_and_chunks_can_be_mixed() -> None:
    messages = [[b"x" * n] for n in (1, 255, 256, 5000, 70_000)]
    wire = encode_messages(messages)
    decoder = FrameDecoder()
    items, partial, _ = decoder.feed_messages(wire[:1000], [])
    got, partial = list(items), partial
    view = decoder.get_buffer()
    n = min(len(view), len(wire) - 1000)
    view[:n] = wire[1000:1000 + n]
    items, partial, _ = decoder.messages_received(n, partial)
    got += items
    items, partial, _ = decoder.feed_messages(wire[1000 + n:], partial)
    assert got + items == messages and partial == [] and decoder.buffered == 0


def test_frames_received_matches_feed() -> None:
    ping = encode_command_frame(b"\x04PINGxx")
    wire = encode_messages([[b"a", b"b" * 400]]) + ping + encode_messages([[b"c" * 9000]])
    got, _ = read_into(FrameDecoder(), wire, [7], messages=False)
    assert got == FrameDecoder().feed(wire)


def test_an_announced_huge_frame_is_not_allocated() -> None:
    decoder = FrameDecoder()
    view = decoder.get_buffer()
    header = bytes([LONG]) + struct.pack(">Q", 1 << 40)  # a terabyte, no maxmsgsize
    view[:9] = header
    view.release()
    assert decoder.messages_received(9, []) == ([], [], 0)
    assert len(decoder.get_buffer()) <= 1 << 20  # room grows with the bytes, not the claim


def test_an_oversize_frame_is_refused_from_its_header() -> None:
    decoder = FrameDecoder(maxmsgsize=1000)
    wire = encode_messages([[b"ok"], [b"x" * 5000]])
    view = decoder.get_buffer()
    n = 2 + 2 + 9  # the first message and the second one's header: no body yet
    view[:n] = wire[:n]
    view.release()
    with pytest.raises(ProtocolError, match="exceeds maxmsgsize 1000") as info:
        decoder.messages_received(n, [])
    assert info.value.frames == [[b"ok"]]


# Messages whose frames straddle the short/long boundary, the buffer's sizes and both copy
# strategies; commands between them.
_sizes = st.sampled_from([0, 1, 2, 100, 254, 255, 256, 2047, 2048, 5000, 65_536, 70_000])
_message = st.lists(_sizes.map(lambda n: b"m" * n), min_size=1, max_size=3)
_item = st.one_of(_message, st.just("PING"))


def _wire(items: list[object]) -> tuple[bytes, list[object]]:
    """The wire bytes for ``items`` and what messages_received should give for them."""
    parts: list[bytes] = []
    expected: list[object] = []
    for item in items:
        if item == "PING":
            parts.append(encode_command_frame(b"\x04PINGxx"))
            expected.append((COMMAND, b"\x04PINGxx"))
        else:
            parts.append(encode_messages([item]))  # type: ignore[list-item]
            expected.append(item)
    return b"".join(parts), expected


@settings(max_examples=150, deadline=None)
@given(items=st.lists(_item, min_size=1, max_size=12),
       sizes=st.lists(st.integers(1, 300_000), min_size=1, max_size=8))
def test_every_split_into_reads_gives_the_same_messages(items: list[object],
                                                        sizes: list[int]) -> None:
    wire, expected = _wire(items)
    decoder = FrameDecoder()
    got, partial = read_into(decoder, wire, sizes)
    assert got == expected and partial == [] and decoder.buffered == 0


@settings(max_examples=100, deadline=None)
@given(items=st.lists(_item, min_size=1, max_size=8),
       sizes=st.lists(st.integers(1, 100_000), min_size=1, max_size=6),
       chunked=st.lists(st.booleans(), min_size=1, max_size=6))
def test_reads_and_chunks_in_any_mix_give_the_same_messages(
        items: list[object], sizes: list[int], chunked: list[bool]) -> None:
    wire, expected = _wire(items)
    sizes = read_sizes(sizes, len(wire))
    decoder = FrameDecoder()
    got: list[object] = []
    partial: list[bytes] = []
    pos = step = 0
    while pos < len(wire):
        if chunked[step % len(chunked)]:
            n = min(sizes[step % len(sizes)], len(wire) - pos)
            items_, partial, _ = decoder.feed_messages(wire[pos:pos + n], partial)
        else:
            view = decoder.get_buffer()
            n = min(sizes[step % len(sizes)], len(view), len(wire) - pos)
            view[:n] = wire[pos:pos + n]
            view.release()
            items_, partial, _ = decoder.messages_received(n, partial)
        got += items_
        pos += n
        step += 1
    assert got == expected and partial == []


@settings(max_examples=100, deadline=None)
@given(items=st.lists(_item, max_size=6), sizes=st.lists(st.integers(1, 80_000), min_size=1,
                                                          max_size=6),
       maxmsgsize=st.integers(0, 60_000))
def test_an_oversize_frame_is_an_error_whatever_the_split(
        items: list[object], sizes: list[int], maxmsgsize: int) -> None:
    wire, expected = _wire(items)
    bad = encode_messages([[b"o" * (maxmsgsize + 1)]])
    if any(type(e) is list and any(len(f) > maxmsgsize for f in e) for e in expected) \
            or maxmsgsize < 7:  # a PING's body (7 bytes) is a frame too
        return  # the violation would come earlier; other tests cover that
    decoder = FrameDecoder(maxmsgsize)
    with pytest.raises(ProtocolError, match="exceeds maxmsgsize"):
        read_into(decoder, wire + bad, sizes)


@settings(max_examples=100, deadline=None)
@given(items=st.lists(_item, max_size=6),
       flags=st.integers(0, 255).filter(lambda f: f & 0xF8 or f & 0x05 == 0x05),
       tail=st.binary(max_size=20),
       sizes=st.lists(st.integers(1, 80_000), min_size=1, max_size=6))
def test_garbage_is_an_error_whatever_the_split(items: list[object], flags: int, tail: bytes,
                                                sizes: list[int]) -> None:
    wire, _ = _wire(items)
    decoder = FrameDecoder()
    with pytest.raises(ProtocolError):
        read_into(decoder, wire + bytes([flags, 0]) + tail, sizes)


# -- equal runs (module docstring, *Equal runs*) --------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 100, 255, 256, 1024])
def test_an_equal_run_is_cut_in_one_step(size: int) -> None:
    messages = [[bytes([i]) * size] for i in range(EQUAL_RUN + 3)]
    wire = encode_messages(messages)
    items: list[object] = []
    data = wire + b"\x00\x05ab"  # and an incomplete frame
    taken = FrameDecoder()._equal_run(data, 0, len(data), items)
    assert taken == len(wire) and items == messages


@pytest.mark.parametrize("breaker", [
    [b"y" * 99],  # another size
    [b"x" * 100, b"more"],  # a multipart message
    "PING",  # a command
])
def test_an_equal_run_ends_where_the_header_changes(breaker: object) -> None:
    before = [[b"x" * 100]] * EQUAL_RUN
    wire, expected = _wire([*before, breaker, *before])
    items: list[object] = []
    taken = FrameDecoder()._equal_run(wire, 0, len(wire), items)
    assert taken == 102 * EQUAL_RUN and items == before
    # and the decoder as a whole gives every item, in order
    got, partial, commands = FrameDecoder().feed_messages(wire, [])
    assert got == expected and partial == [] and commands == (breaker == "PING")


def test_a_run_shorter_than_equal_run_takes_the_loop() -> None:
    wire = encode_messages([[b"x" * 10]] * (EQUAL_RUN - 1) + [[b"y"]] * 5)
    assert FrameDecoder()._equal_run(wire, 0, len(wire), []) == 0
    got, _, _ = FrameDecoder().feed_messages(wire, [])
    assert got == [[b"x" * 10]] * (EQUAL_RUN - 1) + [[b"y"]] * 5


def test_an_equal_run_over_maxmsgsize_is_still_an_error() -> None:
    wire = encode_messages([[b"x" * 100]] * (EQUAL_RUN * 2))
    assert FrameDecoder(99)._equal_run(wire, 0, len(wire), []) == 0
    with pytest.raises(ProtocolError, match="exceeds maxmsgsize"):
        FrameDecoder(99).feed_messages(wire, [])


@settings(max_examples=150, deadline=None)
@given(runs=st.lists(st.tuples(st.sampled_from([0, 1, 100, 255, 256, 1500]),
                               st.integers(1, 3 * EQUAL_RUN), st.sampled_from(["", "more", "PING"])),
                     min_size=1, max_size=5),
       sizes=st.lists(st.integers(1, 20_000), min_size=1, max_size=6))
def test_equal_runs_any_split_give_the_same_messages(runs: list[tuple[int, int, str]],
                                                    sizes: list[int]) -> None:
    items: list[object] = []
    for size, count, after in runs:
        items += [[b"r" * size]] * count
        if after == "more":
            items.append([b"a", b"b" * size])
        elif after == "PING":
            items.append("PING")
    wire, expected = _wire(items)
    got, partial = read_into(FrameDecoder(), wire, sizes)
    assert got == expected and partial == []


@pytest.mark.parametrize("size", [0, 3, 255, 256, LARGE_MESSAGE - 1])
def test_append_messages_encodes_an_equal_batch_as_one_string(size: int) -> None:
    messages = [[bytes([i]) * size] for i in range(EQUAL_RUN)]
    out: list[object] = []
    assert append_messages(out, messages) == size * EQUAL_RUN  # type: ignore[arg-type]
    assert len(out) == 1 and out[0] == encode_messages(messages)  # type: ignore[arg-type]


@pytest.mark.parametrize("messages", [
    [[b"x" * 10]] * (EQUAL_RUN - 1),  # too few
    [[b"x" * 10]] * EQUAL_RUN + [[b"y"]],  # two sizes
    [[b"x" * 10]] * EQUAL_RUN + [[b"x" * 5, b"x" * 5]],  # a multipart message
    [[b"x" * LARGE_MESSAGE]] * EQUAL_RUN,  # large bodies are not copied
])
def test_append_messages_gives_way_to_the_loop(messages: list[list[bytes]]) -> None:
    out: list[object] = []
    total = append_messages(out, messages)  # type: ignore[arg-type]
    assert len(out) == 2 * sum(map(len, messages))  # a header and a body per frame
    assert b"".join(out) == encode_messages(messages)  # type: ignore[arg-type]
    assert total == sum(len(f) for m in messages for f in m)


# -- a lone message (the direct read's decode) ----------------------------------------------


@pytest.mark.parametrize("message", [[b""], [b"reply"], [b"x" * 255], [b"", b"reply"],
                                     [b"", b""], [b"", b"x" * 255], [b"id", b"x" * 255],
                                     [b"id", b""]])
def test_a_lone_message_is_decoded_in_one_step(message: list[bytes]) -> None:
    decoder = FrameDecoder()
    wire = encode_messages([message])
    assert decoder.lone_message(wire) == message
    assert decoder.buffered == 0
    # the stream goes on where it stopped: the next chunk decodes as usual
    assert decoder.feed_messages(encode_messages([[b"next"]]), []) == ([[b"next"]], [], 0)


@pytest.mark.parametrize("wire", [
    encode_messages([[b"a"], [b"b"]]),              # a second message
    encode_messages([[b"a", b"b", b"c"]]),          # a third frame
    encode_messages([[b"x" * 256]]),                # a long frame
    encode_messages([[b"", b"x" * 256]]),           # a long second frame
    encode_command_frame(b"\x04PINGxx"),            # a command
    encode_messages([[b"a"]]) + encode_command_frame(b"\x04PINGxx"),
    encode_messages([[b"", b"reply"]])[:-1],        # a partial frame
    encode_messages([[b"", b"reply"]])[:3],         # a partial second header
    encode_messages([[b"", b"reply"]]) + b"\x00",   # a delimited message and a byte more
    encode_messages([[b"", b"a", b"b"]]),           # the delimiter, then two frames
    b"\x01\x00" + encode_command_frame(b"\x04PINGxx"),  # the delimiter, then a command
    b"\x01\x00",                                    # a MORE frame alone
    b"\x00",                                        # half a header
    b"",
    bytes([0x08, 0]),                               # reserved flags: the decoder's error
])
def test_anything_but_a_lone_message_is_left_to_the_decoder(wire: bytes) -> None:
    decoder = FrameDecoder()
    assert decoder.lone_message(wire) is None
    assert decoder.buffered == 0 and decoder._offset == 0  # nothing consumed


def test_a_lone_message_waits_behind_buffered_bytes() -> None:
    decoder = FrameDecoder()
    wire = encode_messages([[b"", b"first"]]) + encode_messages([[b"", b"second"]])
    assert decoder.feed_messages(wire[:5], []) == ([], [b""], 0)
    rest = wire[5:]
    assert decoder.lone_message(rest) is None  # the partial frame comes first
    assert decoder.feed_messages(rest, [b""])[0] == [[b"", b"first"], [b"", b"second"]]


def test_a_lone_message_under_a_small_maxmsgsize_is_left_to_the_check() -> None:
    decoder = FrameDecoder(maxmsgsize=4)
    assert decoder.lone_message(encode_messages([[b"too long"]])) is None
    with pytest.raises(ProtocolError, match="exceeds maxmsgsize 4"):
        decoder.feed_messages(encode_messages([[b"too long"]]), [])


@settings(max_examples=200, deadline=None)
@given(wire=st.one_of(
    st.lists(st.lists(st.binary(max_size=300), min_size=1, max_size=3), min_size=1,
             max_size=2).map(encode_messages),
    st.binary(max_size=20)))
def test_a_lone_message_is_what_feed_messages_returns(wire: bytes) -> None:
    lone = FrameDecoder().lone_message(wire)
    if lone is not None:
        assert FrameDecoder().feed_messages(wire, []) == ([lone], [], 0)
