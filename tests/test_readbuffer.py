"""Tests for zreactor.reactor.readbuffer: the window, compaction, growth, dropping."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zreactor.reactor.readbuffer import MIN_SPACE, ReadBuffer

pytestmark = pytest.mark.timeout(30)


def read(rb: ReadBuffer, data: bytes, need: int = 0) -> int:
    """One simulated ``recv_into``: as much of ``data`` as the space takes."""
    space = rb.space(need)
    n = min(len(space), len(data))
    space[:n] = data[:n]
    rb.filled(n)
    return n


def window(rb: ReadBuffer) -> bytes:
    return bytes(rb.data[rb.start:rb.end])


def test_no_array_until_the_first_read_and_then_the_base_size() -> None:
    rb = ReadBuffer(size=4096)
    assert rb.capacity == 0 and len(rb) == 0
    space = rb.space()
    assert len(space) == rb.capacity == max(4096, MIN_SPACE)


def test_window_fills_and_consumes_in_order() -> None:
    rb = ReadBuffer()
    read(rb, b"hello world")
    assert window(rb) == b"hello world"
    rb.consume(6)
    assert window(rb) == b"world" and len(rb) == 5
    read(rb, b"!")
    assert window(rb) == b"world!"


def test_the_window_moves_to_the_front_when_the_tail_is_short() -> None:
    rb = ReadBuffer(size=64 * 1024)
    data = bytes(range(256)) * 256  # 64 KiB: fills the array
    assert read(rb, data) == 64 * 1024
    rb.consume(64 * 1024 - 10)  # 10 bytes left at the very end
    array = rb.data
    space = rb.space()
    assert rb.data is array, "room was made by moving the window, not by a new array"
    assert rb.start == 0 and window(rb) == data[-10:]
    assert len(space) == rb.capacity - 10


def test_an_array_grows_to_hold_several_frames_of_the_awaited_size() -> None:
    rb = ReadBuffer(size=64 * 1024, frames=4, limit=512 * 1024)
    read(rb, b"x" * 100)
    frame = 65545  # a 64 KiB body behind a long header
    rb.consume(0)
    read(rb, b"y" * (64 * 1024 - 100))  # the array is full now
    space = rb.space(frame)
    assert rb.capacity == 4 * frame
    assert len(space) >= frame - len(rb)
    assert window(rb) == b"x" * 100 + b"y" * (64 * 1024 - 100)


def test_a_huge_announced_frame_is_not_allocated_up_front() -> None:
    rb = ReadBuffer(size=64 * 1024, limit=512 * 1024)
    read(rb, b"z" * 9)
    space = rb.space(1 << 40)  # a peer announced a terabyte
    assert rb.capacity <= 512 * 1024 + 64 * 1024
    assert len(space) > 0
    # ... and it grows as the bytes arrive, never far past what it holds. Each step fills
    # all the room offered, so the array grows fourfold per step: three steps reach 8 MiB
    # and show the rule three times (six reached 512 MiB, a 400 MB bytes object to read
    # in: >30 s under load, and nothing more tested).
    for _ in range(3):
        read(rb, b"z" * len(rb.space(1 << 40)))
        assert rb.capacity <= 4 * (len(rb) + 512 * 1024) + MIN_SPACE


def test_a_frame_far_larger_than_the_limit_grows_in_o_n_copies() -> None:
    """Reads of 64 KiB into a 16 MiB frame: the array grows fourfold, so it is
    reallocated a handful of times, not once per read (that was O(n**2))."""
    rb = ReadBuffer(size=64 * 1024, limit=512 * 1024)
    need = 16 << 20
    arrays = 0
    previous = rb.data
    while len(rb) < need:
        space = rb.space(need)
        if rb.data is not previous:
            arrays += 1
            previous = rb.data
        n = min(len(space), 64 * 1024, need - len(rb))
        rb.filled(n)  # (the bytes themselves do not matter here)
    assert arrays <= 10
    assert rb.capacity <= need + MIN_SPACE


def test_a_large_frame_appended_in_chunks_grows_in_o_n_copies() -> None:
    """A codec fed 64 KiB chunks of a 32 MiB frame: a few arrays, not one per chunk (each
    a copy of everything before it: 512 arrays and ~40 s before)."""
    rb = ReadBuffer(size=64 * 1024, limit=512 * 1024)
    chunk = b"c" * (64 * 1024)
    arrays, previous = 0, rb.data
    while len(rb) < 32 << 20:
        rb.append(chunk)
        if rb.data is not previous:
            arrays, previous = arrays + 1, rb.data
    assert arrays <= 12
    assert window(rb) == chunk * 512


def test_an_emptied_window_drops_the_array_after_a_small_read() -> None:
    rb = ReadBuffer()
    read(rb, b"abc")  # a request, a reply: a quiet connection
    rb.consume(3)
    assert rb.capacity == 0 and len(rb) == 0


@pytest.mark.parametrize("size", [MIN_SPACE, 60_000, 1 << 20])
def test_an_emptied_window_keeps_the_array_after_a_streams_read(size: int) -> None:
    rb = ReadBuffer(size=64 * 1024)
    n = read(rb, b"q" * size)  # a stream's read, full or not (a Unix socket: one send)
    rb.consume(n)
    assert rb.capacity == 64 * 1024 and rb.start == rb.end == 0


def test_an_array_grown_past_the_limit_is_dropped_once_empty() -> None:
    rb = ReadBuffer(size=64 * 1024, limit=128 * 1024)
    rb.append(b"w" * (1 << 20))  # one large frame's worth
    space = rb.space()
    assert rb.capacity >= 1 << 20
    read(rb, b"w" * len(space))  # a full read: a stream would keep its array...
    rb.consume(len(rb))
    assert rb.capacity == 0  # ... but not one grown past the limit


def test_a_view_still_held_does_not_block_moving_or_growing() -> None:
    rb = ReadBuffer(size=64 * 1024)
    held = rb.space()
    read(rb, b"a" * (64 * 1024 - 5))
    rb.consume(64 * 1024 - 10)
    rb.space(200_000)  # moves and grows while `held` still exports the old array
    assert window(rb) == b"a" * 5
    held.release()


def test_append_copies_chunks_after_the_window() -> None:
    rb = ReadBuffer()
    rb.append(b"one ")
    rb.append(memoryview(b"two "))
    rb.append(bytearray(b"three"))
    assert window(rb) == b"one two three"


@pytest.mark.parametrize("size, frames, limit", [(0, 1, 10), (10, 0, 10), (20, 1, 10)])
def test_bad_sizes_are_refused(size: int, frames: int, limit: int) -> None:
    with pytest.raises(ValueError):
        ReadBuffer(size, frames=frames, limit=limit)


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(min_size=0, max_size=200_000),
    steps=st.lists(st.tuples(st.integers(1, 90_000), st.integers(0, 90_000),
                             st.integers(0, 300_000)), min_size=1, max_size=40),
)
def test_the_window_is_always_the_stream_minus_what_was_consumed(
        data: bytes, steps: list[tuple[int, int, int]]) -> None:
    """Whatever the reads, consumes and needs: the window holds exactly the unconsumed
    bytes, in order, and the array never grows far past what it holds."""
    rb = ReadBuffer(size=16 * 1024, limit=128 * 1024)
    pos = consumed = 0
    for read_size, eat, need in steps:
        array, held = rb.data, len(rb)
        space = rb.space(need)
        if rb.data is not array:  # it grew: never far past what it holds
            assert rb.capacity <= 4 * (held + 128 * 1024) + MIN_SPACE
        n = min(read_size, len(space), len(data) - pos)
        space[:n] = data[pos:pos + n]
        rb.filled(n)
        pos += n
        eat = min(eat, len(rb))
        rb.consume(eat)
        consumed += eat
        assert window(rb) == data[consumed:pos]
