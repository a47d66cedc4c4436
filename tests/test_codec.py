"""LineCodec: the same lines however the input is chunked; bounded buffering; encoding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zreactor.errors import ProtocolError
from zreactor.reactor.codec import LengthPrefixedCodec, LineCodec

pytestmark = pytest.mark.timeout(30)


def _feed_chunks(codec: LineCodec, data: bytes, cuts: list[int]) -> list[bytes]:
    out: list[bytes] = []
    prev = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        out.extend(codec.feed(data[prev:cut]))
        prev = cut
    return out


lines_strategy = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30)


@settings(max_examples=300, deadline=None)
@given(lines=lines_strategy, tail=st.binary(max_size=10), data=st.data())
def test_any_split_gives_the_same_lines(lines: list[bytes], tail: bytes, data) -> None:
    tail = tail.replace(b"\n", b"")
    stream = b"".join(line + b"\n" for line in lines) + tail
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20))
    codec = LineCodec()
    assert _feed_chunks(codec, stream, cuts) == lines
    assert codec.buffered == len(tail)  # the unterminated tail waits for its delimiter


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(
        st.binary(max_size=30).filter(lambda b: b"\r\n" not in b),
        max_size=20,
    ),
    data=st.data(),
)
def test_multibyte_delimiter_split_anywhere(lines: list[bytes], data) -> None:
    stream = b"".join(line + b"\r\n" for line in lines)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20))
    assert _feed_chunks(LineCodec(delimiter=b"\r\n"), stream, cuts) == lines


def test_byte_by_byte_equals_all_at_once() -> None:
    stream = b"alpha\nbeta\n\ngamma\n"
    one = LineCodec().feed(stream)
    codec = LineCodec()
    many = [line for i in range(len(stream)) for line in codec.feed(stream[i : i + 1])]
    assert one == many == [b"alpha", b"beta", b"", b"gamma"]


def test_line_of_exactly_max_line_is_accepted() -> None:
    codec = LineCodec(max_line=8)
    assert codec.feed(b"12345678\n") == [b"12345678"]
    codec = LineCodec(max_line=8)
    assert codec.feed(b"1234") == []
    assert codec.feed(b"5678\n") == [b"12345678"]


@pytest.mark.parametrize("chunk", [1, 3, 100])
def test_terminated_line_over_max_line_raises(chunk: int) -> None:
    codec = LineCodec(max_line=8)
    stream = b"ok\n" + b"x" * 9 + b"\n"
    with pytest.raises(ProtocolError):
        for i in range(0, len(stream), chunk):
            codec.feed(stream[i : i + chunk])


def test_unterminated_input_cannot_grow_without_bound() -> None:
    codec = LineCodec(max_line=100)
    with pytest.raises(ProtocolError):
        for _ in range(1000):
            codec.feed(b"x")
            assert codec.buffered <= 100 + 1
    codec = LineCodec(max_line=100)
    with pytest.raises(ProtocolError):
        codec.feed(b"y" * 10_000)


def test_encode_appends_the_delimiter() -> None:
    assert LineCodec().encode(b"hi") == b"hi\n"
    assert LineCodec(delimiter=b"\r\n").encode(b"hi") == b"hi\r\n"
    assert LineCodec().encode(bytearray(b"x")) == b"x\n"


def test_encode_refuses_an_embedded_delimiter() -> None:
    with pytest.raises(ValueError):
        LineCodec().encode(b"a\nb")


def test_round_trip() -> None:
    codec = LineCodec()
    messages = [b"one", b"", b"three"]
    assert codec.feed(b"".join(codec.encode(m) for m in messages)) == messages


@pytest.mark.parametrize("kwargs", [{"max_line": 0}, {"max_line": -1}, {"delimiter": b""}])
def test_bad_arguments(kwargs) -> None:
    with pytest.raises(ValueError):
        LineCodec(**kwargs)


# -- LengthPrefixedCodec -------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(messages=st.lists(st.binary(max_size=300), max_size=20),
       header=st.sampled_from([2, 4, 8]), data=st.data())
def test_length_prefixed_any_split_gives_the_same_messages(messages, header, data) -> None:
    codec = LengthPrefixedCodec(max_size=1000, header=header)
    stream = b"".join(codec.encode(m) for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    out: list[bytes] = []
    prev = 0
    for cut in cuts + [len(stream)]:
        out.extend(codec.feed(stream[prev:cut]))
        prev = cut
    assert out == messages and codec.buffered == 0


def test_length_prefixed_header_and_partial_body_wait() -> None:
    codec = LengthPrefixedCodec()
    assert codec.encode(b"abc") == b"\x00\x00\x00\x03abc"
    assert codec.feed(b"\x00\x00") == [] and codec.buffered == 2
    assert codec.feed(b"\x00\x03ab") == [] and codec.buffered == 6
    assert codec.feed(b"c\x00\x00\x00\x00") == [b"abc", b""]  # an empty message is a zero
    assert codec.buffered == 0


def test_length_prefixed_refuses_an_oversized_header_before_buffering_the_body() -> None:
    codec = LengthPrefixedCodec(max_size=10, header=2)
    with pytest.raises(ProtocolError) as info:
        codec.feed(codec.encode(b"ok") + b"\x00\x0bxx")
    assert info.value.messages == [b"ok"]  # the good one before it travels on the error
    with pytest.raises(ValueError):
        codec.encode(b"x" * 11)


@pytest.mark.parametrize("kwargs", [{"header": 3}, {"max_size": -1}, {"max_size": 256, "header": 1}])
def test_length_prefixed_bad_arguments(kwargs) -> None:
    with pytest.raises(ValueError):
        LengthPrefixedCodec(**kwargs)
