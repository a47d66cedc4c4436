"""The stream engine's write queue (reactor/stream.py, *The write queue holds parts*): what the
kernel did not take is queued as the parts themselves, mutable ones copied, and every byte
still reaches the peer once, in order, whatever each ``send()``/``sendmsg()`` took."""

from __future__ import annotations

import socket
from typing import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zreactor.reactor.stream import StreamEngine
from zreactor.testing import ManualContext

pytestmark = pytest.mark.timeout(60)


class Metered(socket.socket):
    """A socket whose ``send()``/``sendmsg()`` take at most the next budget of a script
    (0: ``EAGAIN``), and anything once the script is used up: a kernel buffer that fills
    and drains wherever the test says."""

    budgets: list[int]

    def _take(self, wanted: int) -> int:
        if not self.budgets:
            return wanted
        budget = self.budgets.pop(0)
        if budget == 0:
            raise BlockingIOError
        return min(budget, wanted)

    def send(self, data, flags: int = 0) -> int:  # type: ignore[override]
        view = memoryview(data)
        return super().send(view[:self._take(len(view))], flags)

    def sendmsg(self, buffers, *args) -> int:  # type: ignore[override]
        joined = b"".join(memoryview(b) for b in buffers)
        return super().send(joined[:self._take(len(joined))])


@pytest.fixture
def pair() -> Iterator[tuple[Metered, socket.socket]]:
    a, b = socket.socketpair()
    metered = Metered(a.family, a.type, fileno=a.detach())
    metered.budgets = []
    b.setblocking(False)
    yield metered, b
    metered.close()
    b.close()


def drain(peer: socket.socket) -> bytes:
    out = bytearray()
    while True:
        try:
            chunk = peer.recv(1 << 20)
        except BlockingIOError:
            return bytes(out)
        out += chunk


def launched(sock: socket.socket) -> tuple[ManualContext, StreamEngine]:
    ctx = ManualContext()
    engine = ctx.launch(StreamEngine(sock, high_water=1 << 30))
    ctx.run_until(lambda: engine.state.name == "ATTACHED")
    return ctx, engine


_part = st.one_of(
    st.binary(max_size=3000),
    st.binary(max_size=3000).map(bytearray),
    st.binary(max_size=3000).map(lambda b: memoryview(bytearray(b))),
)


@settings(max_examples=150, deadline=None)
@given(
    writes=st.lists(st.lists(_part, min_size=1, max_size=6), min_size=1, max_size=12),
    budgets=st.lists(st.integers(0, 5000), max_size=30),
    steps=st.lists(st.booleans(), max_size=12),
)
def test_every_byte_arrives_once_in_order_whatever_each_send_takes(writes, budgets, steps):
    a, b = socket.socketpair()
    sock = Metered(a.family, a.type, fileno=a.detach())
    sock.budgets = list(budgets)
    b.setblocking(False)
    ctx, engine = launched(sock)
    try:
        expected = bytearray()
        for index, parts in enumerate(writes):
            size = sum(len(p) for p in parts)
            if not size:
                continue
            expected += b"".join(bytes(p) for p in parts)
            engine.send_now(parts, size)
            for part in parts:  # the caller reuses its buffers at once: what was queued
                if not isinstance(part, bytes) and len(part):  # must be a copy
                    part[:] = b"\xff" * len(part)
            assert engine.write_buffer_size == len(expected) - engine.bytes_sent
            if index < len(steps) and steps[index]:
                ctx.step()
        sock.budgets.clear()
        ctx.run_until(lambda: engine.write_buffer_size == 0)
        assert drain(b) == expected
        assert ctx.step() == 0  # drained: no write interest left behind to spin on
    finally:
        ctx.term(linger=0)
        sock.close()
        b.close()


def test_a_short_gathered_write_queues_the_rest_without_copying_it(pair) -> None:
    sock, peer = pair
    ctx, engine = launched(sock)
    try:
        body = b"b" * 70_000
        sock.budgets = [1000]
        engine.send_now((b"head", body), 4 + len(body))
        assert engine.write_buffer_size == 4 + len(body) - 1000
        rest = engine._wqueue[0]  # the front of the body itself, not a copy of it
        assert isinstance(rest, memoryview) and rest.obj is body
        ctx.run_until(lambda: engine.write_buffer_size == 0)
        assert drain(peer) == b"head" + body
    finally:
        ctx.term(linger=0)


def test_empty_parts_behind_a_queue_do_not_keep_write_interest(pair) -> None:
    sock, peer = pair
    ctx, engine = launched(sock)
    try:
        sock.budgets = [3]
        engine.send_now((b"abcdef",), 6)
        engine.send_now((b"", b"gh", b""), 2)  # (a frame with an empty body)
        ctx.run_until(lambda: engine.write_buffer_size == 0)
        assert drain(peer) == b"abcdefgh"
        assert ctx.step() == 0
    finally:
        ctx.term(linger=0)
