"""The I/O thread: a named daemon loop whose STOP is a command, with errors contained."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from zreactor.reactor.io_thread import IOThread
from zreactor.reactor.mailbox import Cmd, Command

pytestmark = pytest.mark.timeout(10)


class Dest:
    def __init__(self, log: list) -> None:
        self.log = log

    def process_call(self, fn, args) -> None:
        self.log.append((fn(*args), threading.current_thread().name))


def test_loop_runs_commands_on_its_own_named_daemon_thread() -> None:
    t = IOThread(3, name_prefix="zreactor-test")
    log: list = []
    try:
        t.start()
        assert t._thread is not None and t._thread.daemon
        t.mailbox.send(Command(Dest(log), Cmd.CALL, (lambda: t.is_current, ())))
        deadline = time.monotonic() + 5
        while not log:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert log == [(True, "zreactor-test-3")]
        assert not t.is_current  # not from here
    finally:
        t.stop()
        assert t.join(5)
        t.close()


def test_stop_is_ordered_after_earlier_commands() -> None:
    t = IOThread(0)
    log: list = []
    d = Dest(log)
    for i in range(100):
        t.mailbox.send(Command(d, Cmd.CALL, (lambda i=i: i, ())))
    t.stop()
    t.mailbox.send(Command(d, Cmd.CALL, (lambda: "after stop", ())))
    t.start()
    try:
        assert t.join(5)
        # everything queued before STOP ran; the one batch it was drained with ran too,
        # but the loop did not go round again
        assert [x for x, _ in log][:100] == list(range(100))
    finally:
        t.close()


def test_idle_thread_does_not_spin() -> None:
    t = IOThread(0)
    t.start()
    try:
        before = time.process_time()
        time.sleep(0.3)
        # an idle loop blocks in select(); a spinning one would burn the whole interval
        assert time.process_time() - before < 0.1
    finally:
        t.stop()
        assert t.join(5)
        t.close()


def test_error_in_a_command_for_a_non_engine_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t = IOThread(0)
    log: list = []
    d = Dest(log)
    try:
        with caplog.at_level(logging.ERROR, logger="zreactor"):
            t.mailbox.send(Command(d, Cmd.CALL, (lambda: 1 / 0, ())))
            t.mailbox.send(Command(d, Cmd.CALL, (lambda: "next", ())))
            t.run_once(max_wait=0)
        assert [x for x, _ in log] == ["next"]
        records = [r for r in caplog.records if r.name == "zreactor"]
        assert len(records) == 1 and isinstance(records[0].exc_info[1], ZeroDivisionError)
    finally:
        t.close()


def test_load_counts_fds_and_pending_but_not_the_mailbox() -> None:
    import socket

    t = IOThread(0)
    a, b = socket.socketpair()
    try:
        assert t.load == 0
        t.poller.add_fd(a.fileno(), Dest([]))  # type: ignore[arg-type]
        assert t.load == 1
        t.pending += 2
        assert t.load == 3
    finally:
        a.close()
        b.close()
        t.close()


def test_commands_processed_counter() -> None:
    t = IOThread(0)
    try:
        d = Dest([])
        for _ in range(5):
            t.mailbox.send(Command(d, Cmd.CALL, (lambda: None, ())))
        t.run_once(max_wait=0)
        assert t.commands_processed == 5
    finally:
        t.close()


def test_a_failure_of_the_loop_itself_is_logged_and_the_loop_goes_on(caplog) -> None:
    import selectors

    class FlakySelector(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
        """select() fails twice, then behaves: a selector in trouble, not a handler."""

        failures = 2

        def select(self, timeout=None):  # type: ignore[no-untyped-def]
            if FlakySelector.failures:
                FlakySelector.failures -= 1
                raise RuntimeError("selector trouble")
            return super().select(timeout)

    t = IOThread(0, selector_factory=FlakySelector, name_prefix="zreactor-flaky")
    log: list = []
    try:
        with caplog.at_level(logging.CRITICAL, logger="zreactor"):
            t.start()
            t.mailbox.send(Command(Dest(log), Cmd.CALL, (lambda: "served", ())))
            deadline = time.monotonic() + 5
            while not log:
                assert time.monotonic() < deadline, "the loop died with its selector"
                time.sleep(0.005)
        assert log == [("served", "zreactor-flaky-0")]
        failures = [r for r in caplog.records if "the I/O loop failed" in r.getMessage()]
        assert len(failures) == 2  # each logged, with its traceback
        assert all(r.exc_info for r in failures)
    finally:
        t.stop()
        assert t.join(5)
        t.close()
