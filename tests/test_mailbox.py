"""The mailbox: one wake-up per burst, full drains, no lost wake-ups, blocking waits, dispatch."""

from __future__ import annotations

import enum
import errno
import os
import select
import threading
import time

import pytest

from zreactor.reactor.mailbox import Cmd, Command, Mailbox, Signaler, dispatch

pytestmark = pytest.mark.timeout(20)


def _readable(fd: int, timeout: float = 0.0) -> bool:
    return bool(select.select([fd], [], [], timeout)[0])


class Dest:
    """A command destination that records what it was asked to do."""

    def __init__(self) -> None:
        self.log: list[tuple] = []

    def process_plug(self) -> None:
        self.log.append(("plug",))

    def process_term(self, linger) -> None:
        self.log.append(("term", linger))

    def process_call(self, fn, args) -> None:
        self.log.append(("call", fn(*args)))


@pytest.fixture
def mailbox():
    mb = Mailbox("test")
    yield mb
    mb.close()


def test_a_burst_costs_one_signal(mailbox: Mailbox) -> None:
    d = Dest()
    assert mailbox.signals == 0
    assert not _readable(mailbox.fd)
    for i in range(1000):
        mailbox.send(Command(d, Cmd.TERM, (i,)))
    assert mailbox.signals == 1
    assert _readable(mailbox.fd)
    commands = mailbox.drain()
    assert [c.args[0] for c in commands] == list(range(1000))  # everything, in order
    assert not _readable(mailbox.fd)
    assert len(mailbox.drain()) == 0
    mailbox.send(Command(d, Cmd.PLUG))  # empty again: the next send signals again
    assert mailbox.signals == 2
    assert _readable(mailbox.fd)


def test_drain_takes_everything_and_clears_the_fd(mailbox: Mailbox) -> None:
    d = Dest()
    for _ in range(3):
        for i in range(10):
            mailbox.send(Command(d, Cmd.PLUG))
        assert len(mailbox.drain()) == 10
        assert not _readable(mailbox.fd)
    assert mailbox.signals == 3


def test_concurrent_senders_lose_nothing(mailbox: Mailbox) -> None:
    """Writers hammer send() while the reader drains, woken only by the fd."""
    senders, per_sender = 4, 5000
    d = Dest()
    start = threading.Barrier(senders + 1)

    def hammer(k: int) -> None:
        start.wait()
        for i in range(per_sender):
            mailbox.send(Command(d, Cmd.TERM, (k, i)))
            if i % 500 == 0:
                time.sleep(0)  # let the reader interleave with us

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(senders)]
    for t in threads:
        t.start()
    start.wait()
    received: list[tuple[int, int]] = []
    deadline = time.monotonic() + 10
    while len(received) < senders * per_sender:
        assert time.monotonic() < deadline, "reader did not get everything in time"
        # a lost wake-up shows as a wait that times out while commands are pending
        assert _readable(mailbox.fd, 2.0), f"lost wake-up after {len(received)} commands"
        received.extend(c.args for c in mailbox.drain())
    for t in threads:
        t.join()
    assert len(received) == senders * per_sender
    assert len(set(received)) == len(received)  # exactly once
    for k in range(senders):  # per-sender order is kept
        assert [i for kk, i in received if kk == k] == list(range(per_sender))
    assert len(mailbox.drain()) == 0
    assert mailbox.signals <= len(received)


def test_concurrent_senders_with_a_waiting_reader(mailbox: Mailbox) -> None:
    """The application-thread reader (wait/recv) is just as safe."""
    d = Dest()
    total = 3 * 2000

    def hammer(k: int) -> None:
        for i in range(2000):
            mailbox.send(Command(d, Cmd.TERM, (k, i)))

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    received = []
    deadline = time.monotonic() + 10
    while len(received) < total and time.monotonic() < deadline:
        received.extend(c.args for c in mailbox.recv(timeout=2.0))
    for t in threads:
        t.join()
    assert sorted(received) == sorted((k, i) for k in range(3) for i in range(2000))


def test_wait_times_out_when_empty(mailbox: Mailbox) -> None:
    start = time.monotonic()
    assert mailbox.wait(0.1) is False
    assert 0.09 <= time.monotonic() - start < 1.0
    start = time.monotonic()
    assert len(mailbox.recv(timeout=0.1)) == 0
    assert 0.09 <= time.monotonic() - start < 1.0
    assert mailbox.wait(0) is False


def test_wait_returns_at_once_when_something_is_pending(mailbox: Mailbox) -> None:
    mailbox.send(Command(Dest(), Cmd.PLUG))
    start = time.monotonic()
    assert mailbox.wait(5.0) is True
    assert time.monotonic() - start < 0.5
    assert len(mailbox.recv(timeout=5.0)) == 1


def test_maybe_pending_is_true_from_send_until_drain(mailbox: Mailbox) -> None:
    assert mailbox.maybe_pending is False
    mailbox.send(Command(Dest(), Cmd.PLUG))
    assert mailbox.maybe_pending is True
    mailbox.send(Command(Dest(), Cmd.PLUG))
    assert mailbox.maybe_pending is True
    assert len(mailbox.drain()) == 2
    assert mailbox.maybe_pending is False


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_wait_wakes_when_another_thread_sends(mailbox: Mailbox, timeout) -> None:
    d = Dest()
    sender = threading.Timer(0.1, lambda: mailbox.send(Command(d, Cmd.PLUG)))
    start = time.monotonic()
    sender.start()
    try:
        commands = mailbox.recv(timeout=timeout)
    finally:
        sender.join()
    assert 0.05 <= time.monotonic() - start < 2.0
    assert [c.kind for c in commands] == [Cmd.PLUG]


def test_dispatch_calls_the_named_handler_with_the_arguments() -> None:
    d = Dest()
    dispatch(Command(d, Cmd.PLUG))
    dispatch(Command(d, Cmd.TERM, (0.5,)))
    dispatch(Command(d, Cmd.CALL, (lambda a, b: a + b, (2, 3))))
    assert d.log == [("plug",), ("term", 0.5), ("call", 5)]


def test_dispatch_works_for_any_layers_enum() -> None:
    class PipeCmd(enum.Enum):
        ACTIVATE_READ = "process_activate_read"

    class Pipe:
        def __init__(self) -> None:
            self.seen = []

        def process_activate_read(self, n: int) -> None:
            self.seen.append(n)

    pipe = Pipe()
    dispatch(Command(pipe, PipeCmd.ACTIVATE_READ, (7,)))
    assert pipe.seen == [7]


def test_every_reactor_command_names_a_process_method() -> None:
    for kind in Cmd:
        assert kind.value == "process_" + kind.name.lower()


def test_close_releases_the_fd() -> None:
    mb = Mailbox("closing")
    fd = mb.fd
    os.fstat(fd)
    mb.send(Command(Dest(), Cmd.PLUG))
    mb.close()
    with pytest.raises(OSError) as info:
        os.fstat(fd)
    assert info.value.errno == errno.EBADF
    mb.close()  # idempotent


def test_socketpair_fallback_without_eventfd(monkeypatch: pytest.MonkeyPatch) -> None:
    """Platforms without eventfd get a socketpair; the wake-up semantics are the same."""
    monkeypatch.delattr(os, "eventfd", raising=False)
    sig = Signaler()
    try:
        assert not _readable(sig.fd)
        for _ in range(3):
            sig.signal()
        assert _readable(sig.fd)
        sig.clear()
        assert not _readable(sig.fd)
    finally:
        sig.close()
    sig.close()
    mb = Mailbox("fallback")
    try:
        for _ in range(100):
            mb.send(Command(Dest(), Cmd.PLUG))
        assert mb.signals == 1
        assert mb.wait(1.0)
        assert len(mb.drain()) == 100
        assert not _readable(mb.fd)
    finally:
        mb.close()
