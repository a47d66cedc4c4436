"""Z85 (RFC 32): the reference vectors, round trips, and loud failures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zreactor.utils import z85


def test_rfc_32_vector() -> None:
    raw = bytes([0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B])
    assert z85.encode(raw) == b"HelloWorld"
    assert z85.decode(b"HelloWorld") == raw
    assert z85.decode("HelloWorld") == raw


def test_libzmq_key_vector() -> None:
    public = bytes.fromhex("bb88471d65e2659b30c55a5321cebb5aab2b70a398645c26dca2b2fcb43fc518")
    assert z85.encode(public) == b"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"


@given(st.binary(max_size=64).map(lambda b: b[:len(b) - len(b) % 4]))
def test_round_trip(raw: bytes) -> None:
    assert z85.decode(z85.encode(raw)) == raw


@pytest.mark.parametrize("bad", [b"abcd", b"abcd\x00", b"~~~~~", b"#####"])
def test_bad_input_fails(bad: bytes) -> None:
    with pytest.raises(ValueError):
        z85.decode(bad)
    with pytest.raises(ValueError):
        z85.encode(b"abc")
