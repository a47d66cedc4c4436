"""The caller's read stops at CALLER_READ_BYTES as well as CALLER_READ_CHUNKS (shortcut.py,
*The read's byte bound*)."""

from __future__ import annotations

import pytest

from zreactor.zmtp import shortcut
from zreactor.zmtp.shortcut import CALLER_READ_BYTES, CALLER_READ_CHUNKS, CallerShortcut


class _Engine:
    """Just what CallerShortcut._read asks of an engine: every read returns ``nbytes``."""

    read_size = 65536

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes
        self.calls = 0

    def _caller_read_fd(self) -> int:
        return 3

    def read_once(self) -> int:
        self.calls += 1
        return self.nbytes


@pytest.mark.parametrize(("nbytes", "reads"), [
    (65536, CALLER_READ_BYTES // 65536),   # full chunks of small messages: bytes bound
    (262180, 1),                           # a read of four 64 KiB frames is the whole bound
    (300_000, 1),
    (200_000, 1),                          # what is left (56 KiB) would not hold a chunk
    (1000, 1),                             # a short read: drained
])
def test_read_stops_at_its_byte_bound(nbytes: int, reads: int) -> None:
    engine = _Engine(nbytes)
    caller = CallerShortcut()
    caller._read(engine)  # type: ignore[arg-type]
    assert engine.calls == reads
    assert caller.reads == reads


def test_chunk_bound_still_holds_for_small_chunks() -> None:
    engine = _Engine(4096)
    engine.read_size = 4096  # every read full, far under the byte bound
    caller = CallerShortcut()
    caller._read(engine)  # type: ignore[arg-type]
    assert engine.calls == CALLER_READ_CHUNKS


def test_budget_spent_by_a_first_read_reads_nothing_more() -> None:
    engine = _Engine(65536)
    caller = CallerShortcut()
    caller._read(engine, CALLER_READ_CHUNKS - 1, CALLER_READ_BYTES - 262180)  # type: ignore[arg-type]
    assert engine.calls == 0


def test_bound_is_under_the_chunk_bound_of_full_small_reads() -> None:
    # the bound only binds large-frame streams and a far-behind small stream
    assert shortcut.CALLER_READ_BYTES < CALLER_READ_CHUNKS * 65536
