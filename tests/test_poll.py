"""Poller and select over inproc PAIRs and raw fds: readiness, timeouts, wake-ups, no spinning."""

from __future__ import annotations

import os
import select as _select
import socket as _socket
import threading
import time
from typing import Any, Iterator

import pytest

import zreactor as zmq
from zreactor.sockets.poll import Poller

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def pair(ctx: zmq.Context) -> Iterator[tuple[zmq.Socket, zmq.Socket]]:
    a = ctx.socket(zmq.PAIR)
    b = ctx.socket(zmq.PAIR)
    a.bind("inproc://poll-pair")
    b.connect("inproc://poll-pair")
    yield a, b
    a.close(linger=0)
    b.close(linger=0)


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


class CountingPoll:
    """A ``select.poll`` that counts how often the Poller blocks (the seam for spin tests)."""

    made = 0
    calls = 0

    def __init__(self) -> None:
        type(self).made += 1
        self._poll = _select.poll()

    def register(self, fd: int, mask: int) -> None:
        self._poll.register(fd, mask)

    def poll(self, timeout: Any = None) -> list[tuple[int, int]]:
        type(self).calls += 1
        return self._poll.poll(timeout)


def test_pollin_only_when_a_message_is_waiting(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    a, b = pair
    poller = zmq.Poller()
    poller.register(a, zmq.POLLIN)
    assert poller.poll(0) == []
    b.send(b"hello")
    assert poller.poll(1000) == [(a, zmq.POLLIN)]
    assert a.recv() == b"hello"
    assert poller.poll(0) == []


def test_pollout_follows_the_peer_and_the_hwm(ctx: zmq.Context) -> None:
    a = ctx.socket(zmq.PAIR, sndhwm=2, rcvhwm=2)
    b = ctx.socket(zmq.PAIR, sndhwm=2, rcvhwm=2)
    try:
        poller = zmq.Poller()
        poller.register(a, zmq.POLLOUT)
        a.bind("inproc://hwm")
        assert poller.poll(0) == []  # no peer: nowhere to send
        b.connect("inproc://hwm")
        assert poller.poll(1000) == [(a, zmq.POLLOUT)]
        sent = 0
        while poller.poll(0):
            a.send(b"x", zmq.DONTWAIT)
            sent += 1
            assert sent < 100
        assert sent == 4  # inproc HWMs add up
        with pytest.raises(zmq.Again):
            a.send(b"x", zmq.NOBLOCK)
        # the reader drains from another thread; the blocked poll wakes with POLLOUT
        reader = threading.Thread(target=lambda: [time.sleep(0.1), [b.recv() for _ in range(4)]])
        started = time.monotonic()
        reader.start()
        assert poller.poll(5000) == [(a, zmq.POLLOUT)]
        assert time.monotonic() - started < 3
        reader.join()
    finally:
        a.close(linger=0)
        b.close(linger=0)


def test_register_modify_unregister_like_pyzmq(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    a, b = pair
    poller = zmq.Poller()
    poller.register(a)  # default POLLIN | POLLOUT
    poller.register(b, zmq.POLLIN)
    assert a in poller and b in poller
    assert poller.sockets == [(a, zmq.POLLIN | zmq.POLLOUT), (b, zmq.POLLIN)]
    assert poller.poll(0) == [(a, zmq.POLLOUT)]
    poller.modify(a, zmq.POLLIN)
    assert poller.poll(0) == []
    poller.register(a, 0)  # zero flags unregister
    assert a not in poller
    poller.unregister(b)
    assert poller.sockets == []
    with pytest.raises(KeyError):
        poller.unregister(b)
    poller.register(a, 0)  # registering nothing is a no-op
    assert poller.sockets == []


def test_results_keep_registration_order(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    a, b = pair
    poller = zmq.Poller()
    poller.register(b, zmq.POLLOUT)
    poller.register(a, zmq.POLLOUT)
    assert [s for s, _ in poller.poll(0)] == [b, a]
    poller.unregister(b)
    poller.register(b, zmq.POLLOUT)
    assert [s for s, _ in poller.poll(0)] == [a, b]


@pytest.mark.parametrize("timeout_ms", [0, 50, 250])
def test_timeout_is_honoured(pair: tuple[zmq.Socket, zmq.Socket], timeout_ms: int) -> None:
    a, _ = pair
    poller = zmq.Poller()
    poller.register(a, zmq.POLLIN)
    started = time.monotonic()
    assert poller.poll(timeout_ms) == []
    elapsed = time.monotonic() - started
    assert timeout_ms / 1000 - 0.005 <= elapsed < timeout_ms / 1000 + 0.5


def test_float_timeout_is_truncated_to_int_ms_like_pyzmq(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    a, _ = pair
    poller = zmq.Poller()
    poller.register(a, zmq.POLLIN)
    started = time.monotonic()
    assert poller.poll(0.9) == []  # 0 ms
    assert time.monotonic() - started < 0.1


@pytest.mark.parametrize("timeout", [None, -1, 5000])
def test_blocked_poll_wakes_when_a_peer_sends_from_another_thread(
        pair: tuple[zmq.Socket, zmq.Socket], timeout: int | None) -> None:
    a, b = pair
    poller = zmq.Poller()
    poller.register(a, zmq.POLLIN)
    sender = threading.Timer(0.1, b.send, (b"late",))
    started = time.monotonic()
    sender.start()
    try:
        assert poller.poll(timeout) == [(a, zmq.POLLIN)]
    finally:
        sender.join()
    assert 0.09 <= time.monotonic() - started < 3
    assert a.recv() == b"late"


def test_idle_poll_does_not_spin(pair: tuple[zmq.Socket, zmq.Socket], pipe: tuple[int, int]) -> None:
    a, b = pair
    CountingPoll.made = CountingPoll.calls = 0
    poller = Poller(poll_factory=CountingPoll)
    poller.register(a, zmq.POLLIN)
    poller.register(b, zmq.POLLIN)
    poller.register(pipe[0], zmq.POLLIN)
    cpu = time.process_time()
    started = time.monotonic()
    assert poller.poll(300) == []
    assert time.monotonic() - started >= 0.295
    # one non-blocking look at the raw fd, one blocking wait, maybe one more look at the end
    assert CountingPoll.calls <= 4, CountingPoll.calls
    assert CountingPoll.made == 1
    assert time.process_time() - cpu < 0.1


def test_idle_poll_without_fds_blocks_once(pair: tuple[zmq.Socket, zmq.Socket]) -> None:
    a, _ = pair
    CountingPoll.made = CountingPoll.calls = 0
    poller = Poller(poll_factory=CountingPoll)
    poller.register(a, zmq.POLLIN)
    assert poller.poll(300) == []
    assert CountingPoll.calls <= 2, CountingPoll.calls


def test_commands_that_change_nothing_asked_for_cost_one_wakeup_each(ctx: zmq.Context) -> None:
    # a is polled for POLLIN only, while its peer slowly drains what a sent earlier: each
    # low-water batch read sends a an ACTIVATE_WRITE, which wakes a's mailbox without making
    # it readable. The poller must look again and go back to sleep, not spin.
    a = ctx.socket(zmq.PAIR, sndhwm=4, rcvhwm=4)
    b = ctx.socket(zmq.PAIR, sndhwm=4, rcvhwm=4)
    try:
        a.bind("inproc://wakeups")
        b.connect("inproc://wakeups")
        sent = 0
        while a.poll(0, zmq.POLLOUT):
            a.send(b"m")
            sent += 1
        assert sent == 8
        CountingPoll.made = CountingPoll.calls = 0
        poller = Poller(poll_factory=CountingPoll)
        poller.register(a, zmq.POLLIN)

        def drain() -> None:
            for _ in range(sent):
                time.sleep(0.02)
                b.recv()

        reader = threading.Thread(target=drain)
        reader.start()
        try:
            assert poller.poll(400) == []
        finally:
            reader.join()
        assert 2 <= CountingPoll.calls <= 10, CountingPoll.calls
        assert a.poll(0, zmq.POLLOUT) == zmq.POLLOUT
    finally:
        a.close(linger=0)
        b.close(linger=0)


def test_raw_fds_ints_and_fileno_objects(pipe: tuple[int, int]) -> None:
    r, w = pipe
    left, right = _socket.socketpair()
    try:
        poller = zmq.Poller()
        poller.register(r, zmq.POLLIN)
        poller.register(right, zmq.POLLIN)
        assert poller.poll(0) == []
        os.write(w, b"x")
        assert poller.poll(1000) == [(r, zmq.POLLIN)]
        left.send(b"y")
        # a raw item is reported by its fd number, as pyzmq and select.poll do
        assert poller.poll(1000) == [(r, zmq.POLLIN), (right.fileno(), zmq.POLLIN)]
        poller.register(w, zmq.POLLOUT)
        poller.unregister(r)
        assert dict(poller.poll(0)) == {right.fileno(): zmq.POLLIN, w: zmq.POLLOUT}
    finally:
        left.close()
        right.close()


def test_hung_up_fd_reports_pollerr(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.close(w)
    poller = zmq.Poller()
    poller.register(r, zmq.POLLIN)
    events = dict(poller.poll(1000))
    assert events[r] & zmq.POLLERR


def test_sockets_and_fds_together(pair: tuple[zmq.Socket, zmq.Socket], pipe: tuple[int, int]) -> None:
    a, b = pair
    r, w = pipe
    poller = zmq.Poller()
    poller.register(a, zmq.POLLIN)
    poller.register(r, zmq.POLLIN)
    threading.Timer(0.05, os.write, (w, b"!")).start()
    assert poller.poll(5000) == [(r, zmq.POLLIN)]
    b.send(b"m")
    assert poller.poll(5000) == [(a, zmq.POLLIN), (r, zmq.POLLIN)]
    assert a.recv() == b"m"


def test_something_that_cannot_be_polled_is_refused_at_register() -> None:
    with pytest.raises(TypeError):
        zmq.Poller().register(object(), zmq.POLLIN)


def test_closed_socket_raises_enotsock(ctx: zmq.Context) -> None:
    s = ctx.socket(zmq.PAIR)
    poller = zmq.Poller()
    poller.register(s, zmq.POLLIN)
    s.close()
    with pytest.raises(zmq.ZMQError) as info:
        poller.poll(0)
    assert info.value.errno == zmq.ENOTSOCK


def test_term_wakes_a_blocked_poll_with_context_terminated() -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.PAIR)
    outcome: list[BaseException] = []
    polling = threading.Event()

    def run() -> None:
        poller = zmq.Poller()
        poller.register(s, zmq.POLLIN)
        polling.set()
        try:
            poller.poll()
        except zmq.ContextTerminated as exc:
            outcome.append(exc)
        finally:
            s.close()

    t = threading.Thread(target=run)
    t.start()
    polling.wait(5)
    ctx.term()
    t.join(5)
    assert len(outcome) == 1 and outcome[0].errno == zmq.ETERM


def test_select(pair: tuple[zmq.Socket, zmq.Socket], pipe: tuple[int, int]) -> None:
    a, b = pair
    r, w = pipe
    assert zmq.select([a, r], [], [], 0) == ([], [], [])
    b.send(b"s")
    os.write(w, b"s")
    rlist, wlist, xlist = zmq.select([a, b, r], [a, w], [a], 1.0)
    assert rlist == [a, r]
    assert wlist == [a, w]
    assert xlist == []
    left, right = _socket.socketpair()
    try:
        left.send(b"f")
        assert zmq.select([right], [], [], 1.0) == ([right.fileno()], [], [])
    finally:
        left.close()
        right.close()
    started = time.monotonic()
    assert zmq.select([b], [], [], 0.2) == ([], [], [])
    assert 0.19 <= time.monotonic() - started < 1.0


@pytest.mark.parametrize("end", ["destroy", "term"])
def test_ending_the_context_wakes_a_poller_in_another_thread(end: str) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.bind("inproc://poller-woken")
    outcome: list[BaseException] = []
    started = threading.Event()

    def poll() -> None:
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        started.set()
        try:
            poller.poll(30_000)
        except zmq.ZMQError as exc:
            outcome.append(exc)
        if end == "term":
            sock.close()  # term() waits for the application to close its sockets

    thread = threading.Thread(target=poll)
    thread.start()
    started.wait(5)
    time.sleep(0.1)  # let it block in poll(2)
    if end == "destroy":
        ctx.destroy(linger=0)  # closes the socket under the poller: pyzmq says ENOTSOCK
    else:
        ctx.term()
    thread.join(10)
    assert not thread.is_alive(), "the poller slept through the end of its context"
    assert len(outcome) == 1 and outcome[0].errno in (zmq.ENOTSOCK, zmq.ETERM)
