"""The loop lease: granted only while the loop sleeps, never waiting; what is done under it
(timers, interest) reaches the sleeping loop through one wake-up on release."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from zreactor.reactor.io_thread import IOThread
from zreactor.reactor.lease import LeaseError, LoopLease, check_owners, checks_owners
from zreactor.reactor.mailbox import Cmd, Command

pytestmark = pytest.mark.timeout(20)

DEADLINE = 5.0


@pytest.fixture(params=["epoll", "poll", "select"])
def io_thread(request: pytest.FixtureRequest):
    from zreactor.reactor.poller import available_pollers, choose_selector

    if request.param not in available_pollers():
        pytest.skip(f"no {request.param} here")
    thread = IOThread(0, selector_factory=choose_selector(request.param))
    thread.start()
    yield thread
    thread.stop()
    assert thread.join(DEADLINE)
    thread.close()


def lease_when_asleep(thread: IOThread) -> LoopLease:
    """try_lease until the loop, started a moment ago, is asleep in select()."""
    deadline = time.monotonic() + DEADLINE
    while True:
        lease = thread.try_lease()
        if lease is not None:
            return lease
        assert time.monotonic() < deadline, "the loop never went to sleep"
        time.sleep(0.001)


class Dest:
    def __init__(self) -> None:
        self.calls: list[object] = []

    def process_call(self, fn, args) -> None:
        self.calls.append(fn(*args))


def test_a_timer_armed_under_a_lease_fires_on_time(io_thread: IOThread) -> None:
    fired = threading.Event()
    time.sleep(0.05)  # the loop sleeps with no timer at all: select() for ever
    lease = lease_when_asleep(io_thread)
    armed_at = time.monotonic()
    io_thread.poller.add_timer(0.1, fired.set)
    lease.release()
    assert fired.wait(DEADLINE)
    late = time.monotonic() - armed_at
    assert 0.09 <= late < 0.6, f"fired after {late:.3f} s"
    assert io_thread.lease_wakeups == 1


def test_a_timer_after_the_loops_own_wake_up_costs_no_wake_up(io_thread: IOThread) -> None:
    fired: list[str] = []
    io_thread.mailbox.send(Command(Dest(), Cmd.CALL, (
        lambda: io_thread.poller.add_timer(0.3, lambda: fired.append("first")), ())))
    time.sleep(0.1)  # the loop has gone back to sleep, now until the first timer
    with lease_when_asleep(io_thread):
        io_thread.poller.add_timer(0.4, lambda: fired.append("second"))
    assert io_thread.lease_wakeups == 0  # the loop wakes at 0.3 s anyway, then sees it
    deadline = time.monotonic() + DEADLINE
    while len(fired) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert fired == ["first", "second"]


def test_interest_set_under_a_lease_is_seen_by_the_sleeping_loop(io_thread: IOThread) -> None:
    a, b = socket.socketpair()
    seen = threading.Event()

    class Handler:
        def in_event(self) -> None:
            a.recv(100)
            seen.set()

        def out_event(self) -> None:
            pass

    try:
        time.sleep(0.05)
        with lease_when_asleep(io_thread):
            handle = io_thread.poller.add_fd(a.fileno(), Handler())
            io_thread.poller.set_pollin(handle)
        b.send(b"x")
        assert seen.wait(DEADLINE)
        # a kernel-held fd set needs no wake-up; poll() and select() get one
        expected = 0 if io_thread.poller.name == "epoll" else 1
        assert io_thread.lease_wakeups == expected
        with lease_when_asleep(io_thread):
            io_thread.poller.rm_fd(handle)
    finally:
        a.close()
        b.close()


def test_no_lease_while_the_loop_runs_handlers(io_thread: IOThread) -> None:
    inside, go_on = threading.Event(), threading.Event()
    from_the_loop: list[object] = []

    def busy() -> None:
        from_the_loop.append(io_thread.try_lease())
        inside.set()
        go_on.wait(DEADLINE)

    io_thread.mailbox.send(Command(Dest(), Cmd.CALL, (busy, ())))
    assert inside.wait(DEADLINE)
    started = time.monotonic()
    assert io_thread.try_lease() is None  # busy: refused at once, never waited for
    assert time.monotonic() - started < 0.1
    go_on.set()
    assert from_the_loop == [None]  # the loop's own handlers never get one
    lease_when_asleep(io_thread).release()


@contextlib.contextmanager
def _owner_checks(on: bool) -> Iterator[None]:
    """Owner-checking mode on or off for a block, restored afterwards (reactor/lease.py,
    *Checks*; the suite itself runs with the checks on: conftest.py)."""
    was = checks_owners()
    check_owners(on)
    try:
        yield
    finally:
        check_owners(was)


def test_a_lease_is_released_once_by_its_holder(io_thread: IOThread) -> None:
    with _owner_checks(True):
        lease = lease_when_asleep(io_thread)
    errors: list[BaseException] = []

    def elsewhere() -> None:
        try:
            lease.release()
        except LeaseError as exc:
            errors.append(exc)

    other = threading.Thread(target=elsewhere)
    other.start()
    other.join(DEADLINE)
    assert len(errors) == 1 and lease.held
    lease.release()
    assert not lease.held
    with pytest.raises(LeaseError):
        lease.release()


def test_without_owner_checks_a_lease_is_still_released_once(io_thread: IOThread) -> None:
    with _owner_checks(False):
        lease = lease_when_asleep(io_thread)
    assert lease.held
    lease.release()
    assert not lease.held
    with pytest.raises(LeaseError, match="twice"):
        lease.release()  # (the loop may hold the lock by now: it must not be let go)
    again = lease_when_asleep(io_thread)  # and the loop lends itself as before
    again.release()


def test_the_mailbox_wake_up_carries_no_command() -> None:
    thread = IOThread(0)  # not started: the test reads its mailbox itself
    try:
        thread.mailbox.wake()
        thread.mailbox.wake()
        assert thread.mailbox.signals == 1  # one write for both, as send() does
        assert thread.mailbox.wait(0) is True
        assert len(thread.mailbox.drain()) == 0
        assert thread.mailbox.wait(0) is False
    finally:
        thread.close()
