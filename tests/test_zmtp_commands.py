"""Tests for zreactor.zmtp.commands, including libzmq's own byte vectors."""

from __future__ import annotations

import pytest

from zreactor.errors import ProtocolError
from zreactor.zmtp import commands
from zreactor.zmtp.frames import FrameDecoder, encode_command_frame

pytestmark = pytest.mark.timeout(30)

# libzmq tests/testutil.hpp ``zmtp_ready_dealer`` (also tests/test_heartbeats.cpp): the READY
# command frame of a DEALER with an empty identity.
LIBZMQ_READY_DEALER = bytes(
    [4, 41, 5, *b"READY", 11, *b"Socket-Type", 0, 0, 0, 6, *b"DEALER",
     8, *b"Identity", 0, 0, 0, 0])
# libzmq tests/test_mock_pub_sub.cpp ``zmtp_ready_sub``.
LIBZMQ_READY_SUB = bytes([4, 25, 5, *b"READY", 11, *b"Socket-Type", 0, 0, 0, 3, *b"SUB"])
# libzmq tests/testutil.hpp ``zmtp_ready_xpub`` ("XPUB has one extra byte").
LIBZMQ_READY_XPUB = bytes([4, 26, 5, *b"READY", 11, *b"Socket-Type", 0, 0, 0, 4, *b"XPUB"])
# libzmq tests/test_heartbeats.cpp, mock_handshake(): PING with TTL 0 and context "LOL", and
# the PONG libzmq answers with.
LIBZMQ_PING = bytes([4, 10, 4, *b"PING", 0, 0, *b"LOL"])
LIBZMQ_PONG = bytes([4, 8, 4, *b"PONG", *b"LOL"])
# libzmq tests/test_mock_pub_sub.cpp: a ZMTP 3.1 SUBSCRIBE command for topic "A".
LIBZMQ_SUBSCRIBE_A = bytes([4, 11, 9, *b"SUBSCRIBE", *b"A"])


def body_of(frame: bytes) -> bytes:
    [(flags, body)] = FrameDecoder().feed(frame)
    assert flags == 0x04
    return body


def test_ready_dealer_vector_encodes_exactly() -> None:
    body = commands.encode_ready([("Socket-Type", b"DEALER"), ("Identity", b"")])
    assert encode_command_frame(body) == LIBZMQ_READY_DEALER


@pytest.mark.parametrize(("vector", "expected"), [
    (LIBZMQ_READY_DEALER, {"Socket-Type": b"DEALER", "Identity": b""}),
    (LIBZMQ_READY_SUB, {"Socket-Type": b"SUB"}),
    (LIBZMQ_READY_XPUB, {"Socket-Type": b"XPUB"}),
])
def test_ready_vectors_decode(vector: bytes, expected: dict[str, bytes]) -> None:
    name, data = commands.decode_command(body_of(vector))
    assert name == commands.READY
    assert commands.decode_metadata(data) == expected


def test_ping_vector_decodes() -> None:
    name, data = commands.decode_command(body_of(LIBZMQ_PING))
    assert name == commands.PING
    assert commands.decode_ping(data) == (0, b"LOL")


def test_pong_vector_encodes_exactly() -> None:
    assert encode_command_frame(commands.encode_pong(b"LOL")) == LIBZMQ_PONG


def test_long_ping_context_is_truncated_to_16_bytes_like_libzmq() -> None:
    # test_heartbeats.cpp sends the PING above with its size byte set to 65 ('z' padding)
    # and expects a PONG echoing only the first 16 context bytes: "LOL" + 13 * 'z'.
    frame = bytearray(LIBZMQ_PING + b"z" * 55)
    frame[1] = 65
    _, data = commands.decode_command(body_of(bytes(frame)))
    ttl, context = commands.decode_ping(data)
    assert ttl == 0
    assert context == b"LOL" + b"z" * 13
    expected_pong = bytes([4, 21, 4, *b"PONG", *b"LOL"]) + b"z" * 13
    assert encode_command_frame(commands.encode_pong(context)) == expected_pong


def test_subscribe_vector() -> None:
    assert encode_command_frame(commands.encode_command(commands.SUBSCRIBE, b"A")) \
        == LIBZMQ_SUBSCRIBE_A
    assert commands.decode_command(body_of(LIBZMQ_SUBSCRIBE_A)) == (b"SUBSCRIBE", b"A")


def test_ping_ttl_is_big_endian_deciseconds() -> None:
    assert commands.encode_ping(0x1234, b"c") == b"\x04PING\x12\x34c"
    assert commands.decode_ping(b"\xff\xff") == (0xFFFF, b"")


@pytest.mark.parametrize(("ttl", "context"), [(-1, b""), (0x10000, b""), (0, b"x" * 17)])
def test_ping_encoder_rejects_out_of_range(ttl: int, context: bytes) -> None:
    with pytest.raises(ValueError):
        commands.encode_ping(ttl, context)


def test_ping_without_ttl_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="2-byte TTL"):
        commands.decode_ping(b"\x01")


def test_error_round_trip_and_trailing_bytes_ignored() -> None:
    body = commands.encode_error("Invalid socket type")
    name, data = commands.decode_command(body)
    assert name == commands.ERROR
    assert commands.decode_error(data) == "Invalid socket type"
    assert commands.decode_error(data + b"junk") == "Invalid socket type"


@pytest.mark.parametrize("data", [b"", b"\x05abc"])
def test_malformed_error_is_a_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError, match="ERROR"):
        commands.decode_error(data)


def test_error_reason_limit() -> None:
    with pytest.raises(ValueError):
        commands.encode_error("x" * 256)


@pytest.mark.parametrize("body", [b"", b"\x05REA", b"\xff"])
def test_malformed_command_body(body: bytes) -> None:
    with pytest.raises(ProtocolError, match="command"):
        commands.decode_command(body)


def test_command_with_empty_data() -> None:
    assert commands.decode_command(b"\x04PONG") == (b"PONG", b"")


def test_encode_command_rejects_bad_names() -> None:
    with pytest.raises(ValueError):
        commands.encode_command(b"")
    with pytest.raises(ValueError):
        commands.encode_command(b"x" * 256)


def test_metadata_first_value_wins_and_names_keep_spelling() -> None:
    data = commands.encode_metadata([("X-A", b"1"), ("x-a", b"2"), ("X-A", b"3")])
    assert commands.decode_metadata(data) == {"X-A": b"1", "x-a": b"2"}


def test_metadata_accepts_empty_values_and_binary_names() -> None:
    data = b"\x02\xff\x00" + b"\x00\x00\x00\x00"
    assert commands.decode_metadata(data) == {"\xff\x00": b""}


@pytest.mark.parametrize(("data", "match"), [
    (b"\x05ab", "name of 5 bytes"),
    (b"\x01a\x00\x00", "4-byte value length"),
    (b"\x01a\x00\x00\x00\x09abc", "value length 9"),
    (b"\x00", "4-byte value length"),
])
def test_truncated_metadata_is_a_protocol_error(data: bytes, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        commands.decode_metadata(data)


def test_metadata_encoder_rejects_bad_names() -> None:
    with pytest.raises(ValueError):
        commands.encode_metadata([("", b"")])
    with pytest.raises(ValueError):
        commands.encode_metadata([("n" * 256, b"")])
