"""The poller: fds, interest, level-triggering, timers, never busy-waiting, error routing.

Every test that touches a selector runs once per backend this machine offers.
"""

from __future__ import annotations

import selectors
import socket
import time
from typing import Iterator

import pytest

from zreactor.errors import ZReactorError
from zreactor.reactor.poller import (
    POLLER_ENV,
    POLLERS,
    Poller,
    available_pollers,
    choose_selector,
)
from zreactor.testing import FakeClock

pytestmark = pytest.mark.timeout(10)


class Recorder:
    """A poll handler that logs its calls and can run an action on each."""

    def __init__(self, name: str = "h", on_in=None, on_out=None) -> None:
        self.name = name
        self.calls: list[str] = []
        self.on_in = on_in
        self.on_out = on_out

    def in_event(self) -> None:
        self.calls.append("in")
        if self.on_in:
            self.on_in()

    def out_event(self) -> None:
        self.calls.append("out")
        if self.on_out:
            self.on_out()


@pytest.fixture
def poller(poller_name: str) -> Iterator[Poller]:
    p = Poller(choose_selector(poller_name))
    yield p
    p.close()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def _fill(sock: socket.socket) -> None:
    """Write until the kernel refuses more, so ``sock`` is not writable."""
    chunk = b"x" * 65536
    while True:
        try:
            sock.send(chunk)
        except BlockingIOError:
            return


# -- fds and interest ------------------------------------------------------------------------


def test_poller_name_matches_backend(poller: Poller, poller_name: str) -> None:
    assert poller.name == poller_name


def test_add_and_remove_fd_changes_load(poller: Poller, pair) -> None:
    a, b = pair
    assert poller.load == 0
    ha = poller.add_fd(a.fileno(), Recorder())
    hb = poller.add_fd(b.fileno(), Recorder())
    assert poller.load == 2
    poller.rm_fd(ha)
    assert poller.load == 1
    poller.rm_fd(ha)  # a second removal is harmless
    assert poller.load == 1
    poller.rm_fd(hb)
    assert poller.load == 0


def test_adding_an_fd_twice_is_refused(poller: Poller, pair) -> None:
    a, _ = pair
    poller.add_fd(a.fileno(), Recorder())
    with pytest.raises(ValueError):
        poller.add_fd(a.fileno(), Recorder())


def test_no_interest_means_no_events(poller: Poller, pair) -> None:
    a, b = pair
    h = Recorder()
    poller.add_fd(a.fileno(), h)
    b.send(b"x")
    poller.add_timer(10, lambda: None)  # something to wait for
    assert poller.run_once(max_wait=0.05) == 0
    assert h.calls == []


def test_pollin_reports_readable(poller: Poller, pair) -> None:
    a, b = pair
    h = Recorder()
    handle = poller.add_fd(a.fileno(), h)
    poller.set_pollin(handle)
    assert poller.run_once(max_wait=0) == 0
    assert h.calls == []
    b.send(b"x")
    assert poller.run_once(max_wait=1.0) == 1
    assert h.calls == ["in"]


def test_level_triggered_until_drained(poller: Poller, pair) -> None:
    a, b = pair
    h = Recorder()
    handle = poller.add_fd(a.fileno(), h)
    poller.set_pollin(handle)
    b.send(b"xyz")
    for _ in range(3):  # not consumed: reported again on every iteration
        poller.run_once(max_wait=1.0)
    assert h.calls == ["in", "in", "in"]
    a.recv(100)
    poller.run_once(max_wait=0)
    assert h.calls == ["in", "in", "in"]


def test_level_triggered_until_interest_reset(poller: Poller, pair) -> None:
    a, b = pair
    h = Recorder()
    handle = poller.add_fd(a.fileno(), h)
    poller.set_pollin(handle)
    b.send(b"x")
    poller.run_once(max_wait=1.0)
    poller.reset_pollin(handle)
    poller.run_once(max_wait=0)
    assert h.calls == ["in"]
    poller.set_pollin(handle)  # still readable: reported again once interest is back
    poller.run_once(max_wait=1.0)
    assert h.calls == ["in", "in"]


def test_pollout_set_and_reset(poller: Poller, pair) -> None:
    a, _ = pair
    h = Recorder()
    handle = poller.add_fd(a.fileno(), h)
    poller.set_pollout(handle)
    poller.run_once(max_wait=1.0)
    assert h.calls == ["out"]
    poller.reset_pollout(handle)
    poller.run_once(max_wait=0)
    assert h.calls == ["out"]


def test_pollout_not_reported_while_buffer_full(poller: Poller, pair) -> None:
    a, b = pair
    h = Recorder()
    handle = poller.add_fd(a.fileno(), h)
    _fill(a)
    poller.set_pollout(handle)
    poller.run_once(max_wait=0.05)
    assert h.calls == []
    while True:  # drain the peer: we become writable
        try:
            b.recv(1 << 20)
        except BlockingIOError:
            break
    poller.run_once(max_wait=1.0)
    assert h.calls == ["out"]


def test_in_and_out_interest_together(poller: Poller, pair) -> None:
    a, b = pair
    h = Recorder()
    handle = poller.add_fd(a.fileno(), h)
    poller.set_pollin(handle)
    poller.set_pollout(handle)
    b.send(b"x")
    poller.run_once(max_wait=1.0)
    assert sorted(h.calls) == ["in", "out"]
    poller.reset_pollout(handle)
    h.calls.clear()
    poller.run_once(max_wait=1.0)
    assert h.calls == ["in"]


def test_handler_removing_its_own_fd_gets_no_out_event(poller: Poller, pair) -> None:
    a, b = pair
    holder = {}
    h = Recorder(on_in=lambda: poller.rm_fd(holder["h"]))
    holder["h"] = poller.add_fd(a.fileno(), h)
    poller.set_pollin(holder["h"])
    poller.set_pollout(holder["h"])
    b.send(b"x")
    poller.run_once(max_wait=1.0)
    assert h.calls == ["in"]
    assert poller.load == 0


def test_fd_removed_earlier_in_the_same_batch_is_not_dispatched(poller: Poller) -> None:
    pairs = [socket.socketpair() for _ in range(2)]
    try:
        handles = {}
        first = Recorder("0", on_in=lambda: poller.rm_fd(handles["1"]))
        second = Recorder("1", on_in=lambda: poller.rm_fd(handles["0"]))
        handles["0"] = poller.add_fd(pairs[0][0].fileno(), first)
        handles["1"] = poller.add_fd(pairs[1][0].fileno(), second)
        for key in handles:
            poller.set_pollin(handles[key])
        for _, peer in pairs:
            peer.send(b"x")
        time.sleep(0.01)
        poller.run_once(max_wait=1.0)
        # whichever ran first removed the other: exactly one handler was called
        assert len(first.calls) + len(second.calls) == 1
    finally:
        for x, y in pairs:
            x.close()
            y.close()


def test_fd_number_can_be_reused_after_removal(poller: Poller) -> None:
    a, b = socket.socketpair()
    handle = poller.add_fd(a.fileno(), Recorder())
    poller.set_pollin(handle)
    poller.rm_fd(handle)
    fd = a.fileno()
    a.close()
    b.close()
    c, d = socket.socketpair()
    try:
        assert fd in (c.fileno(), d.fileno())  # POSIX: lowest free number
        h = Recorder()
        handle = poller.add_fd(fd, h)
        poller.set_pollin(handle)
        (d if c.fileno() == fd else c).send(b"x")
        poller.run_once(max_wait=1.0)
        assert h.calls == ["in"]
    finally:
        c.close()
        d.close()


def test_interest_calls_on_a_removed_handle_are_ignored(poller: Poller, pair) -> None:
    a, b = pair
    h = Recorder()
    handle = poller.add_fd(a.fileno(), h)
    poller.rm_fd(handle)
    poller.set_pollin(handle)
    poller.set_pollout(handle)
    b.send(b"x")
    poller.add_timer(10, lambda: None)
    poller.run_once(max_wait=0.02)
    assert h.calls == []
    assert poller.load == 0


# -- timers (fake clock: deterministic) ---------------------------------------------------------


def _fake_poller(clock: FakeClock) -> Poller:
    return Poller(choose_selector(available_pollers()[-1]), clock=clock)


@pytest.fixture
def fake() -> Iterator[tuple[Poller, FakeClock]]:
    clock = FakeClock()
    p = _fake_poller(clock)
    yield p, clock
    p.close()


def test_timers_fire_in_deadline_order(fake) -> None:
    p, clock = fake
    fired: list[str] = []
    for delay, name in [(3, "c"), (1, "a"), (2, "b"), (5, "e"), (4, "d")]:
        p.add_timer(delay, lambda name=name: fired.append(name))
    assert p.execute_timers() == pytest.approx(1)
    assert fired == []
    clock.advance(3.5)
    assert p.execute_timers() == pytest.approx(0.5)
    assert fired == ["a", "b", "c"]
    clock.advance(10)
    assert p.execute_timers() is None
    assert fired == ["a", "b", "c", "d", "e"]
    assert p.timer_count == 0


def test_equal_deadlines_fire_in_insertion_order(fake) -> None:
    p, clock = fake
    fired: list[int] = []
    for i in range(50):
        p.add_timer(1.0, lambda i=i: fired.append(i))
    clock.advance(1.0)
    p.execute_timers()
    assert fired == list(range(50))


def test_timer_fires_exactly_at_its_deadline(fake) -> None:
    p, clock = fake
    fired = []
    p.add_timer(1.0, lambda: fired.append(1))
    clock.advance(0.999)
    p.execute_timers()
    assert fired == []
    clock.advance(0.001)
    p.execute_timers()
    assert fired == [1]


def test_cancel_prevents_firing(fake) -> None:
    p, clock = fake
    fired = []
    t = p.add_timer(1.0, lambda: fired.append("t"))
    p.add_timer(2.0, lambda: fired.append("u"))
    assert t.active
    p.cancel_timer(t)
    assert not t.active
    assert p.timer_count == 1
    assert p.execute_timers() == pytest.approx(2.0)  # the cancelled one does not count
    clock.advance(5)
    p.execute_timers()
    assert fired == ["u"]


def test_cancel_of_expired_cancelled_none_or_foreign_timer_is_harmless(fake) -> None:
    p, clock = fake
    other = _fake_poller(clock)
    try:
        fired = []
        expired = p.add_timer(0, lambda: fired.append("expired"))
        p.execute_timers()
        live = p.add_timer(1.0, lambda: fired.append("live"))
        foreign = other.add_timer(1.0, lambda: fired.append("foreign"))
        p.cancel_timer(expired)
        p.cancel_timer(expired)
        p.cancel_timer(None)
        cancelled = p.add_timer(1.0, lambda: fired.append("cancelled"))
        p.cancel_timer(cancelled)
        p.cancel_timer(cancelled)
        assert p.timer_count == 1
        p.cancel_timer(foreign)  # cancels it where it lives; our count is untouched
        assert p.timer_count == 1
        assert other.timer_count == 0
        clock.advance(2)
        p.execute_timers()
        other.execute_timers()
        assert fired == ["expired", "live"]
        assert live.active is False
    finally:
        other.close()


def test_negative_delay_is_refused(fake) -> None:
    p, _ = fake
    with pytest.raises(ValueError):
        p.add_timer(-0.1, lambda: None)


def test_timer_is_popped_before_its_callback_so_it_can_rearm(fake) -> None:
    p, clock = fake
    seen = []
    holder = {}

    def tick() -> None:
        seen.append((clock(), holder["t"].active, p.timer_count))
        if len(seen) < 3:
            holder["t"] = p.add_timer(1.0, tick)

    holder["t"] = p.add_timer(1.0, tick)
    for _ in range(5):
        clock.advance(1.0)
        p.execute_timers()
    # inside the callback the timer is already inactive and out of the count
    assert seen == [(1001.0, False, 0), (1002.0, False, 0), (1003.0, False, 0)]
    assert p.timer_count == 0


def test_callback_may_cancel_a_later_timer(fake) -> None:
    p, clock = fake
    fired = []
    later = p.add_timer(2.0, lambda: fired.append("later"))
    p.add_timer(1.0, lambda: (fired.append("first"), later.cancel()))
    clock.advance(3)
    p.execute_timers()
    assert fired == ["first"]


def test_zero_delay_rearm_does_not_starve_the_loop(fake) -> None:
    """A callback re-arming itself with delay 0 runs once per iteration, not for ever."""
    p, clock = fake
    runs = []

    def again() -> None:
        runs.append(1)
        if len(runs) < 1000:  # bound the damage if the poller loops
            p.add_timer(0, again)

    p.add_timer(0, again)
    assert p.execute_timers() == 0  # another one is due: poll fds without blocking, come back
    assert len(runs) == 1
    p.execute_timers()
    assert len(runs) == 2


def test_heap_is_compacted_after_many_cancels(fake) -> None:
    p, clock = fake
    keep = [p.add_timer(100 + i, lambda: None) for i in range(10)]
    doomed = [p.add_timer(50, lambda: None) for _ in range(1000)]
    for t in doomed:
        t.cancel()
    assert p.timer_count == 10
    assert len(p._timers) < 200  # dead entries do not accumulate
    # a timer re-armed on every message never grows the heap without bound
    t = p.add_timer(1, lambda: None)
    for _ in range(10_000):
        t.cancel()
        t = p.add_timer(1, lambda: None)
    assert p.timer_count == 11
    assert len(p._timers) < 200
    assert all(k.active for k in keep)


def test_compaction_inside_a_callback_keeps_new_timers(fake) -> None:
    """A callback that cancels many timers (compacting the heap) and arms a new one."""
    p, clock = fake
    fired = []
    p.add_timer(10.0, lambda: fired.append("far"))
    doomed = [p.add_timer(5.0, lambda: fired.append("doomed")) for _ in range(200)]

    def sweep() -> None:
        for t in doomed:
            t.cancel()
        p.add_timer(0.05, lambda: fired.append("soon"))

    p.add_timer(0, sweep)
    assert p.execute_timers() == pytest.approx(0.05)
    assert p.timer_count == 2
    clock.advance(0.05)
    assert p.execute_timers() == pytest.approx(9.95)
    assert fired == ["soon"]
    clock.advance(10)
    assert p.execute_timers() is None
    assert fired == ["soon", "far"]
    assert p.timer_count == 0


def test_timer_count_stays_consistent_through_mixed_use(fake) -> None:
    import random

    p, clock = fake
    rng = random.Random(7)
    live = set()
    fired = []
    for step in range(3000):
        op = rng.random()
        if op < 0.5:
            t = p.add_timer(rng.random() * 5, lambda: None)
            live.add(t)
        elif op < 0.8 and live:
            t = live.pop()
            t.cancel()
        else:
            clock.advance(rng.random())
            p.execute_timers()
            live = {t for t in live if t.active}
        assert p.timer_count == len(live), step
    clock.advance(100)
    p.execute_timers()
    assert p.timer_count == 0
    del fired


# -- never busy-wait (real clock) ---------------------------------------------------------------


@pytest.mark.parametrize("with_fd", [False, True], ids=["no-fds", "idle-fd"])
def test_run_once_sleeps_until_the_timer(poller_name: str, pair, with_fd: bool) -> None:
    p = Poller(choose_selector(poller_name))
    try:
        if with_fd:
            handle = p.add_fd(pair[0].fileno(), Recorder())
            p.set_pollin(handle)
        fired = []
        p.add_timer(0.2, lambda: fired.append(time.monotonic()))
        start = time.monotonic()
        p.run_once()  # one call: sleeps until the deadline
        elapsed = time.monotonic() - start
        assert 0.18 <= elapsed < 0.5
        assert fired == []  # due now, runs at the start of the next iteration
        p.run_once(max_wait=0)
        assert len(fired) == 1
    finally:
        p.close()


@pytest.mark.parametrize("with_fd", [False, True], ids=["no-fds", "idle-fd"])
def test_idle_loop_iterates_only_a_few_times(poller_name: str, pair, with_fd: bool) -> None:
    p = Poller(choose_selector(poller_name))
    try:
        if with_fd:
            handle = p.add_fd(pair[0].fileno(), Recorder())
            p.set_pollin(handle)
        for delay in (0.1, 0.2, 0.3):  # the last one bounds the final wait
            p.add_timer(delay, lambda: None)
        iterations = 0
        end = time.monotonic() + 0.25
        while time.monotonic() < end:
            p.run_once()
            iterations += 1
        assert iterations <= 5  # one wake-up per deadline; a busy loop would do thousands
    finally:
        p.close()


def test_nothing_to_wait_for_raises(poller: Poller) -> None:
    with pytest.raises(ZReactorError):
        poller.run_once()
    assert poller.run_once(max_wait=0) == 0


def test_max_wait_bounds_a_wait_with_no_timer(poller: Poller, pair) -> None:
    handle = poller.add_fd(pair[0].fileno(), Recorder())
    poller.set_pollin(handle)
    start = time.monotonic()
    assert poller.run_once(max_wait=0.1) == 0
    assert 0.08 <= time.monotonic() - start < 0.5


def test_ready_fd_wakes_a_long_wait(poller: Poller, pair) -> None:
    import threading

    a, b = pair
    h = Recorder()
    handle = poller.add_fd(a.fileno(), h)
    poller.set_pollin(handle)
    poller.add_timer(30, lambda: None)
    timer = threading.Timer(0.05, lambda: b.send(b"x"))
    timer.start()
    start = time.monotonic()
    try:
        poller.run_once()
    finally:
        timer.join()
    assert time.monotonic() - start < 2.0
    assert h.calls == ["in"]


# -- errors -----------------------------------------------------------------------------------


def test_handler_exception_goes_to_on_error(poller_name: str, pair) -> None:
    a, b = pair
    errors = []
    p = Poller(choose_selector(poller_name), on_error=lambda owner, exc: errors.append((owner, exc)))
    try:
        boom = RuntimeError("boom")

        def explode() -> None:
            raise boom

        bad = Recorder("bad", on_in=explode)
        good = Recorder("good")
        hb = p.add_fd(a.fileno(), bad)
        hg = p.add_fd(b.fileno(), good)
        p.set_pollin(hb)
        p.set_pollout(hb)  # in_event raised: out_event is skipped for this round
        p.set_pollout(hg)
        b.send(b"x")
        p.run_once(max_wait=1.0)
        assert errors == [(bad, boom)]
        assert bad.calls == ["in"]
        assert good.calls == ["out"]  # the other handler was still served
    finally:
        p.close()


def test_an_fd_closed_behind_the_pollers_back_blames_its_handler(poller_name: str, pair) -> None:
    a, b = pair
    errors = []
    p = Poller(choose_selector(poller_name), on_error=lambda owner, exc: errors.append((owner, exc)))
    try:
        victim_sock, _ = socket.socketpair()
        victim = Recorder("victim")
        good = Recorder("good")
        hv = p.add_fd(victim_sock.fileno(), victim)
        hg = p.add_fd(a.fileno(), good)
        p.set_pollin(hv)
        p.set_pollin(hg)
        _.close()
        victim_sock.close()  # closed without rm_fd: poll/select refuse the whole set
        b.send(b"x")
        for _round in range(3):  # the loop keeps going and serves the healthy fd
            p.run_once(max_wait=0.5)
            if good.calls:
                break
        assert good.calls and good.calls[0] == "in"
        if poller_name == "select":  # select() refuses the whole set: the poller must find it
            assert [owner for owner, _exc in errors] == [victim]
            assert p.load == 1
        elif poller_name == "poll":  # POLLNVAL: reported to the victim's own handler
            assert victim.calls and victim.calls[0] == "in"
        # (epoll forgets a closed fd by itself: nothing to report)
    finally:
        p.close()


def test_timer_exception_goes_to_on_error_with_its_owner() -> None:
    clock = FakeClock()
    errors = []
    p = Poller(clock=clock, on_error=lambda owner, exc: errors.append((owner, exc)))
    try:
        owner = object()
        fired = []
        p.add_timer(1, lambda: 1 / 0, owner=owner)
        p.add_timer(2, lambda: fired.append("next"))
        clock.advance(3)
        p.execute_timers()
        assert len(errors) == 1 and errors[0][0] is owner
        assert isinstance(errors[0][1], ZeroDivisionError)
        assert fired == ["next"]  # later timers still ran
    finally:
        p.close()


def test_without_on_error_exceptions_propagate(fake) -> None:
    p, clock = fake
    p.add_timer(0, lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        p.execute_timers()


# -- choosing a backend --------------------------------------------------------------------------


def test_choose_selector_by_name(poller_name: str) -> None:
    factory = choose_selector(poller_name)
    assert factory is getattr(selectors, POLLERS[poller_name])


def test_default_is_best_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POLLER_ENV, raising=False)
    assert choose_selector() is getattr(selectors, POLLERS[available_pollers()[0]])


def test_environment_variable_forces_a_backend(
    monkeypatch: pytest.MonkeyPatch, poller_name: str
) -> None:
    monkeypatch.setenv(POLLER_ENV, poller_name)
    assert choose_selector() is getattr(selectors, POLLERS[poller_name])
    p = Poller()
    try:
        assert p.name == poller_name
    finally:
        p.close()


def test_empty_environment_variable_means_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POLLER_ENV, "")
    assert choose_selector() is getattr(selectors, POLLERS[available_pollers()[0]])


@pytest.mark.parametrize("name", ["nope", "EPOLL", "Selector"])
def test_unknown_name_is_an_error(name: str) -> None:
    with pytest.raises(ValueError, match="unknown poller"):
        choose_selector(name)


def test_unknown_name_in_environment_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POLLER_ENV, "nope")
    with pytest.raises(ValueError, match="unknown poller"):
        choose_selector()


def test_unavailable_backend_is_an_error() -> None:
    missing = [name for name in POLLERS if name not in available_pollers()]
    if not missing:
        pytest.skip("every backend is available here")
    with pytest.raises(ValueError, match="not available"):
        choose_selector(missing[0])


def test_close_releases_the_selector_fd(poller_name: str) -> None:
    import os

    before = set(os.listdir("/proc/self/fd"))
    p = Poller(choose_selector(poller_name))
    p.close()
    assert set(os.listdir("/proc/self/fd")) <= before
