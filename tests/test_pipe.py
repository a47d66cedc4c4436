"""Tests for zreactor.sockets.pipe: the batch forms of reading and writing keep the pipe's rules
(high-water mark, low-water ACTIVATE_WRITE, the ypipe sleep/wake handshake, the delimiter)."""

from __future__ import annotations

from typing import Any

import pytest

from zreactor.reactor.mailbox import Command, dispatch
from zreactor.sockets.pipe import DELIMITER, Pipe, PipeCmd, PipeState, pipepair

pytestmark = pytest.mark.timeout(30)


class ListMailbox:
    """The one mailbox method a pipe uses, over a list: commands wait until the test runs
    them (a real ``Mailbox`` would also work, at the price of an eventfd per sink)."""

    def __init__(self) -> None:
        self._commands: list[Command] = []

    def send(self, command: Command) -> None:
        self._commands.append(command)

    def drain(self) -> list[Command]:
        commands, self._commands = self._commands, []
        return commands


class Sink:
    """A pipe owner that records what the pipe tells it; its commands wait in a mailbox."""

    def __init__(self) -> None:
        self.mailbox = ListMailbox()
        self.calls: list[tuple[str, Pipe]] = []

    def read_activated(self, pipe: Pipe) -> None:
        self.calls.append(("read_activated", pipe))

    def write_activated(self, pipe: Pipe) -> None:
        self.calls.append(("write_activated", pipe))

    def pipe_terminated(self, pipe: Pipe) -> None:
        self.calls.append(("pipe_terminated", pipe))

    def commands(self) -> list[Any]:
        """The kinds of the commands pending for this sink (without running them)."""
        return [command.kind for command in self.mailbox._commands]

    def run(self) -> None:
        for command in self.mailbox.drain():
            dispatch(command)


def make(hwm: int = 0) -> tuple[Pipe, Pipe, Sink, Sink]:
    """A writer end ``w`` (sink ``ws``) and a reader end ``r`` (sink ``rs``); ``hwm`` bounds
    what ``w`` may have queued towards ``r``."""
    ws, rs = Sink(), Sink()
    w, r = pipepair((ws, rs), (hwm, 0))
    return w, r, ws, rs


def msgs(n: int, start: int = 0) -> list[list[bytes]]:
    return [[str(i).encode()] for i in range(start, start + n)]


def test_write_batch_without_hwm_takes_everything_and_read_batch_returns_it_in_order() -> None:
    w, r, _, _ = make(hwm=0)
    assert w.write_batch(msgs(5000)) == 5000
    w.flush()
    assert r.read_batch(3000) == msgs(3000)
    assert r.read_batch(3000) == msgs(2000, 3000)
    assert r.read_batch(3000) == []


def test_write_batch_takes_only_what_fits_under_the_hwm_and_goes_inactive() -> None:
    w, r, ws, rs = make(hwm=10)
    assert w.write_batch(msgs(4)) == 4
    assert w.write_batch(msgs(10, 4)) == 6  # 6 of 10 fit
    assert not w.check_write()  # full: inactive, as after a refused write()
    assert w.write_batch(msgs(1)) == 0
    assert not w.write([b"x"])
    # the reader reads past its low-water mark (5 for hwm 10): ACTIVATE_WRITE re-enables
    assert r.read_batch(100) == msgs(10)
    assert ws.commands() == [PipeCmd.ACTIVATE_WRITE]
    ws.run()
    assert ws.calls == [("write_activated", w)]
    assert w.write_batch(msgs(20)) == 10


def test_a_batch_that_exactly_fills_the_pipe_stays_active_until_the_next_write() -> None:
    w, _, _, _ = make(hwm=3)
    assert w.write_batch(msgs(3)) == 3
    assert w._out_active  # like write(): full is noticed by the next attempt
    assert w.write_batch(msgs(1)) == 0
    assert not w._out_active


def test_read_batch_sends_one_activate_write_per_crossed_low_water_mark() -> None:
    w, r, ws, _ = make(hwm=0)
    r.lwm = 100
    w.write_batch(msgs(1000))
    r.read_batch(99)
    assert ws.commands() == []  # 99 read: no mark crossed
    r.read_batch(2)  # 101: crosses 100
    r.read_batch(500)  # 601: crosses 200..600, still one command
    kinds = ws.commands()
    assert kinds == [PipeCmd.ACTIVATE_WRITE, PipeCmd.ACTIVATE_WRITE]
    assert [c.args for c in ws.mailbox._commands] == [(101,), (601,)]


def test_read_batch_and_read_count_alike_for_the_watermarks() -> None:
    w1, r1, ws1, _ = make(hwm=0)
    w2, r2, ws2, _ = make(hwm=0)
    r1.lwm = r2.lwm = 7
    w1.write_batch(msgs(50))
    w2.write_batch(msgs(50))
    for _ in range(50):
        r1.read()
    while r2.read_batch(9):
        pass
    assert r1._msgs_read == r2._msgs_read == 50
    # read() reports at each mark (7, 14, ... 49); batches of 9 report the count after each
    # batch that crossed one (9, 18, 27, 36, 45, 50): the same marks crossed, one per batch
    assert [c.args for c in ws1.mailbox._commands] == [(n,) for n in range(7, 50, 7)]
    assert [c.args for c in ws2.mailbox._commands] == [(9,), (18,), (27,), (36,), (45,), (50,)]


def test_empty_read_batch_puts_the_reader_to_sleep_and_a_write_wakes_it() -> None:
    w, r, _, rs = make()
    assert r.read_batch(10) == []
    assert r._in.reader_asleep and not r._in_active
    assert w.write_batch(msgs(3)) == 3
    w.flush()  # the reader sleeps: one ACTIVATE_READ
    assert rs.commands() == [PipeCmd.ACTIVATE_READ]
    rs.run()
    assert rs.calls == [("read_activated", r)]
    assert r.read_batch(10) == msgs(3)


def test_read_batch_of_a_nonempty_queue_does_not_sleep() -> None:
    w, r, _, rs = make()
    w.write_batch(msgs(5))
    assert r.read_batch(2) == msgs(2)
    assert not r._in.reader_asleep
    w.write_batch(msgs(1))
    w.flush()
    assert rs.commands() == []  # the reader is awake: no command needed


def test_read_batch_stops_at_the_delimiter_and_processes_it() -> None:
    w, r, _, rs = make()
    w.write_batch(msgs(3))
    w.terminate(delay=True)  # delimiter after the three messages, PIPE_TERM to the reader
    rs.run()  # PIPE_TERM: with delay, keep delivering until the delimiter
    assert r.state is PipeState.WAITING_FOR_DELIMITER
    assert r.read_batch(100) == msgs(3)  # the delimiter is not returned...
    assert r.state is PipeState.TERM_ACK_SENT  # ...but it was read
    assert r.read_batch(100) == []


def test_read_batch_delimiter_alone_before_pipe_term() -> None:
    w, r, _, _ = make()
    w._out.items.append(DELIMITER)  # what terminate() queues, before its PIPE_TERM arrives
    assert r.read_batch(10) == []
    assert r.state is PipeState.DELIMITER_RECEIVED


def test_a_last_message_comes_with_the_end_so_its_reader_never_sees_the_pipe_open() -> None:
    w, r, _, rs = make()
    w.terminate(delay=False, last=[b"bye"])  # PIPE_TERM still waits in the reader's mailbox
    assert rs.commands() == [PipeCmd.PIPE_TERM]  # sent before the message could be read
    assert r.read() == [b"bye"]
    assert r.check_write()  # the reader may not know yet...
    assert not r.check_read()  # ...until it looks once more: the end is already behind it
    assert r.state is PipeState.DELIMITER_RECEIVED and not r.check_write()


def test_a_last_message_that_finds_the_pipe_full_is_dropped_and_the_end_still_comes() -> None:
    w, r, _, _ = make(hwm=1)
    assert w.write([b"fills it"])
    w.terminate(delay=True, last=[b"bye"])
    assert r.read() == [b"fills it"]
    assert r.read() is None and r.state is PipeState.DELIMITER_RECEIVED


def test_write_batch_after_terminate_takes_nothing() -> None:
    w, _, _, _ = make()
    w.terminate(delay=True)
    assert w.write_batch(msgs(3)) == 0


# -- waking by hand (the reader's thread makes its writer write: caller I/O) ------------------


def test_a_roused_reader_gets_no_activate_read_and_settle_activates_it() -> None:
    w, r, ws, rs = make()
    assert r.read() is None  # asleep
    assert r.rouse()
    w.write([b"reply"])
    w.flush()
    assert rs.commands() == []  # no command from the reader's own thread to itself
    r.settle()
    assert rs.calls == [("read_activated", r)]  # what ACTIVATE_READ would have done
    assert r.read() == [b"reply"]


def test_settle_with_nothing_written_sleeps_again_and_the_next_write_wakes_it() -> None:
    w, r, ws, rs = make()
    assert r.read() is None
    assert r.rouse()
    r.settle()
    assert rs.calls == [] and r.read() is None
    w.write([b"later"])  # from the writer's thread, long after: the ordinary wake-up
    w.flush()
    assert rs.commands() == [PipeCmd.ACTIVATE_READ]
    rs.run()
    assert rs.calls == [("read_activated", r)]
    assert r.read() == [b"later"]


def test_rouse_on_an_awake_reader_does_nothing() -> None:
    w, r, ws, rs = make()
    w.write([b"m"])
    w.flush()  # the reader never slept: no command either
    assert not r.rouse()
    assert r.read() == [b"m"]
    r.terminate(False)
    assert not r.rouse()  # nor on an end that may not read any more
