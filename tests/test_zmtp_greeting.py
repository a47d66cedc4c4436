"""Tests for zreactor.zmtp.greeting: encoding, incremental parsing, early version rejection."""

from __future__ import annotations

import pytest

from zreactor.errors import ProtocolError
from zreactor.zmtp.greeting import GREETING_SIZE, Greeting, GreetingParser, encode_greeting

pytestmark = pytest.mark.timeout(30)

# libzmq tests/testutil.hpp, ``zmtp_greeting_null``: a ZMTP 3.0 greeting with NULL mechanism.
LIBZMQ_GREETING_NULL_3_0 = bytes(
    [0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 0, ord("N"), ord("U"), ord("L"), ord("L")]
    + [0] * 48)
# libzmq tests/testutil.hpp, ``zmtp_greeting_curve``.
LIBZMQ_GREETING_CURVE_3_0 = bytes(
    [0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 0] + list(b"CURVE") + [0] * 47)


def test_encoded_greeting_matches_rfc_layout() -> None:
    greeting = encode_greeting()
    assert len(greeting) == GREETING_SIZE == 64
    assert greeting[0] == 0xFF and greeting[9] == 0x7F
    assert greeting[1:9] == bytes(8)
    assert greeting[10:12] == b"\x03\x01"
    assert greeting[12:32] == b"NULL" + bytes(16)
    assert greeting[32] == 0
    assert greeting[33:] == bytes(31)


def test_encoded_greeting_differs_from_libzmq_3_0_vector_only_in_minor_version() -> None:
    ours = bytearray(encode_greeting())
    ours[11] = 0
    assert bytes(ours) == LIBZMQ_GREETING_NULL_3_0


def test_as_server_byte() -> None:
    assert encode_greeting(as_server=True)[32] == 1


@pytest.mark.parametrize("name", ["", "null", "X" * 21, "NU LL"])
def test_encode_rejects_invalid_mechanism_names(name: str) -> None:
    with pytest.raises(ValueError):
        encode_greeting(name)


def test_parse_whole_greeting() -> None:
    parser = GreetingParser()
    assert parser.feed(LIBZMQ_GREETING_NULL_3_0 + b"extra") == 64
    assert parser.complete
    assert parser.greeting == Greeting(major=3, minor=0, mechanism="NULL", as_server=False)
    assert parser.greeting.effective_version == (3, 0)
    assert parser.feed(b"more") == 0


def test_parse_byte_by_byte_reports_consumption_and_version_early() -> None:
    parser = GreetingParser()
    data = encode_greeting()
    for index, byte in enumerate(data):
        assert not parser.complete
        assert parser.peer_major == (3 if index > 10 else None)
        assert parser.feed(bytes([byte])) == 1
    assert parser.complete
    assert parser.greeting.version == (3, 1)


def test_greeting_not_ready_raises() -> None:
    with pytest.raises(RuntimeError):
        GreetingParser().greeting  # noqa: B018 (property access is the test)


def test_curve_greeting_parses_mechanism_name() -> None:
    parser = GreetingParser()
    parser.feed(LIBZMQ_GREETING_CURVE_3_0)
    assert parser.greeting.mechanism == "CURVE"


@pytest.mark.parametrize(("major", "minor", "effective"), [
    (3, 0, (3, 0)), (3, 1, (3, 1)), (3, 7, (3, 1)), (4, 0, (3, 1)), (255, 255, (3, 1))])
def test_higher_versions_are_spoken_to_as_3_1(major: int, minor: int,
                                               effective: tuple[int, int]) -> None:
    parser = GreetingParser()
    parser.feed(encode_greeting(major=major, minor=minor))
    assert parser.greeting.effective_version == effective


def test_garbage_first_byte_is_rejected_immediately() -> None:
    parser = GreetingParser()
    with pytest.raises(ProtocolError, match="byte 0 is 0x47.*0xFF"):
        parser.feed(b"G")  # "GET / HTTP/1.1"


def test_zmtp_1_0_long_identity_is_rejected_at_byte_9() -> None:
    parser = GreetingParser()
    parser.feed(b"\xff" + bytes(7))
    with pytest.raises(ProtocolError, match="byte 9 is 0x00.*ZMTP 1.0"):
        parser.feed(b"\x05\x00")


@pytest.mark.parametrize("major", [0, 1, 2])
def test_pre_3_major_versions_are_rejected_at_byte_10(major: int) -> None:
    parser = GreetingParser()
    parser.feed(b"\xff" + bytes(8) + b"\x7f")
    with pytest.raises(ProtocolError, match=f"major version {major}.*3.0"):
        parser.feed(bytes([major]))


def test_libzmq_style_padding_is_accepted() -> None:
    # libzmq puts its identity length + 1 into the padding and checks only bit 0 of byte 9.
    data = bytearray(encode_greeting())
    data[1:9] = (1).to_bytes(8, "big")
    data[9] = 0x01
    parser = GreetingParser()
    parser.feed(bytes(data))
    assert parser.complete


@pytest.mark.parametrize("raw", [bytes(20), b"NULL\x00X" + bytes(14), b"null" + bytes(16)])
def test_invalid_mechanism_field_is_rejected(raw: bytes) -> None:
    data = encode_greeting()[:12] + raw + bytes(32)
    with pytest.raises(ProtocolError, match="bytes 12..31"):
        GreetingParser().feed(data)
