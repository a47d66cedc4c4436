"""Pipe termination handshake: every row of PIPE_TRANSITIONS, plus HWM and wake-ups.

Which rows a scenario took is read through the table's own seam, ``Machine.record()``.

Two pipe ends are driven by hand: each sink has a real Mailbox, and ``pump`` dispatches the
commands the ends sent each other, one sink at a time, in the order a test chooses. That
order is what makes the races (delimiter before PIPE_TERM, PIPE_TERMs crossing) reachable.
"""

from __future__ import annotations

import pytest

from zreactor.reactor.fsm import IllegalMove
from zreactor.reactor.mailbox import Mailbox, dispatch
from zreactor.sockets.pipe import (
    PIPE_TRANSITIONS,
    Pipe,
    PipeCmd,
    PipeEvent,
    PipeState,
    compute_lwm,
    pipepair,
)

S = PipeState


class Sink:
    """A pipe owner that records what the pipe tells it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.mailbox = Mailbox(name)
        self.log: list[tuple[str, Pipe]] = []

    def read_activated(self, pipe: Pipe) -> None:
        self.log.append(("read", pipe))

    def write_activated(self, pipe: Pipe) -> None:
        self.log.append(("write", pipe))

    def pipe_terminated(self, pipe: Pipe) -> None:
        self.log.append(("terminated", pipe))

    def kinds(self) -> list[str]:
        return [k for k, _ in self.log]

    def pump(self) -> list[PipeCmd]:
        """Run every queued command; return their kinds."""
        kinds = []
        for command in self.mailbox.drain():
            kinds.append(command.kind)
            dispatch(command)
        return kinds


@pytest.fixture
def pair():
    a, b = Sink("a"), Sink("b")
    pa, pb = pipepair((a, b), (10, 10))
    yield a, b, pa, pb
    a.mailbox.close()
    b.mailbox.close()


def moves(run):
    """Run a scenario; return the rows ``(source, event)`` both ends took, in order."""

    def recorded(pair):
        with PIPE_TRANSITIONS.record() as steps:
            run(pair)
        return [(step.source, step.event) for step in steps]

    return recorded


# Each scenario drives the ends into one table row; ``moves`` returns the rows both took.
def _run_full_handshake(pair, delay_b: bool, read_first: bool):
    a, b, pa, pb = pair
    pb.delay = delay_b
    pa.send([b"queued"])
    pa.terminate(delay=False)  # PIPE_TERM + delimiter after the queued message
    if read_first:
        assert pb.read() == [b"queued"]
        assert pb.read() is None  # the delimiter, before b processes PIPE_TERM
    b.pump()  # PIPE_TERM (+ maybe ACTIVATE_READ)
    if not read_first and delay_b:
        assert pb.read() == [b"queued"]  # still delivered while waiting for the delimiter
        assert pb.read() is None  # the delimiter: ack
    a.pump()  # ack from b -> a TERMINATED, acks back
    b.pump()  # final ack -> b TERMINATED


@moves
def _delayed(pair):
    _run_full_handshake(pair, True, False)


@moves
def _not_delayed(pair):
    _run_full_handshake(pair, False, False)


@moves
def _read_first(pair):
    _run_full_handshake(pair, True, True)


@moves
def _read_first_not_delayed(pair):
    _run_full_handshake(pair, False, True)


def _crossing_run(pair, delay: bool):
    a, b, pa, pb = pair
    pa.terminate(delay=delay)  # with delay on, the crossing PIPE_TERM is "delay" for a
    pb.terminate(delay=delay)
    a.pump()
    b.pump()
    a.pump()
    b.pump()


@moves
def _crossing(pair):
    _crossing_run(pair, False)


@moves
def _crossing_delayed(pair):
    _crossing_run(pair, True)


def _delimiter_then_local_terminate(pair, delay: bool):
    a, b, pa, pb = pair
    pa.terminate(delay=False)
    assert pb.read() is None  # delimiter read before PIPE_TERM arrives
    pb.terminate(delay=delay)  # b decides to go too: DELIMITER_RECEIVED -> TERM_REQ_SENT1
    b.pump()
    a.pump()
    b.pump()
    a.pump()


@moves
def _delimiter_then_terminate(pair):
    _delimiter_then_local_terminate(pair, True)


@moves
def _delimiter_then_terminate_no_delay(pair):
    _delimiter_then_local_terminate(pair, False)


@moves
def _waiting_then_terminate_without_delay(pair):
    a, b, pa, pb = pair
    pa.send([b"never read"])
    pa.terminate(delay=False)
    b.pump()  # WAITING_FOR_DELIMITER (delay is on by default)
    pb.terminate(delay=True)  # no row: still delivering, nothing changes
    assert pb.state is S.WAITING_FOR_DELIMITER
    pb.terminate(delay=False)  # give up on the queued message: ack at once
    a.pump()
    b.pump()


@moves
def _local_terminate_with_delay(pair):
    a, b, pa, pb = pair
    pa.terminate(delay=True)
    b.pump()  # PIPE_TERM: b waits for the delimiter
    assert pb.read() is None  # the delimiter: b acks
    a.pump()
    b.pump()


E = PipeEvent
SCENARIOS = {
    (S.ACTIVE, E.TERMINATE): _local_terminate_with_delay,
    (S.ACTIVE, E.TERMINATE_NO_DELAY): _delayed,
    (S.ACTIVE, E.PEER_TERM_DELAY): _delayed,
    (S.ACTIVE, E.PEER_TERM): _not_delayed,
    (S.ACTIVE, E.DELIMITER): _read_first,
    (S.DELIMITER_RECEIVED, E.PEER_TERM_DELAY): _read_first,
    (S.DELIMITER_RECEIVED, E.PEER_TERM): _read_first_not_delayed,
    (S.DELIMITER_RECEIVED, E.TERMINATE): _delimiter_then_terminate,
    (S.DELIMITER_RECEIVED, E.TERMINATE_NO_DELAY): _delimiter_then_terminate_no_delay,
    (S.WAITING_FOR_DELIMITER, E.DELIMITER): _delayed,
    (S.WAITING_FOR_DELIMITER, E.TERMINATE_NO_DELAY): _waiting_then_terminate_without_delay,
    (S.TERM_REQ_SENT1, E.PEER_TERM_DELAY): _crossing_delayed,
    (S.TERM_REQ_SENT1, E.PEER_TERM): _crossing,
    (S.TERM_REQ_SENT1, E.PEER_TERM_ACK): _delayed,
    (S.TERM_REQ_SENT2, E.PEER_TERM_ACK): _crossing,
    (S.TERM_ACK_SENT, E.PEER_TERM_ACK): _delayed,
}

ROWS = list(PIPE_TRANSITIONS)


def test_every_row_has_a_scenario() -> None:
    assert sorted(ROWS, key=str) == sorted(SCENARIOS, key=str)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r[0].name}-{r[1].name}")
def test_row(pair, row) -> None:
    seen = SCENARIOS[row](pair)
    assert row in seen, f"{row} not among {seen}"
    a, b, pa, pb = pair
    # whatever the path, both ends finish and each sink hears about it exactly once
    assert pa.state is S.TERMINATED and pb.state is S.TERMINATED
    assert a.kinds().count("terminated") == 1
    assert b.kinds().count("terminated") == 1


def test_waiting_end_can_give_up(pair) -> None:
    a, b, pa, pb = pair
    seen = _waiting_then_terminate_without_delay(pair)
    assert (S.WAITING_FOR_DELIMITER, E.TERMINATE_NO_DELAY) in seen
    assert pa.terminated and pb.terminated


def test_illegal_move_raises(pair) -> None:
    _, _, pa, _ = pair
    with pytest.raises(IllegalMove, match="illegal pipe move ACTIVE on PEER_TERM_ACK"):
        pa.process_pipe_term_ack()  # nobody asked to terminate: no row
    assert pa.state is S.ACTIVE


def test_no_writes_or_reads_after_terminate(pair) -> None:
    a, b, pa, pb = pair
    pa.terminate(delay=False)
    assert not pa.send([b"late"])
    assert pa.read() is None


def test_hwm_blocks_then_lwm_reactivates(pair) -> None:
    a, b, pa, pb = pair  # hwm 10 each way; lwm = 5
    assert compute_lwm(10) == 5
    for i in range(10):
        assert pa.send([b"%d" % i])
    assert not pa.send([b"full"])
    assert not pa.check_write()
    for _ in range(5):
        assert pb.read() is not None
    a.pump()  # ACTIVATE_WRITE(5) after lwm reads
    assert a.kinds() == ["write"]
    assert pa.send([b"room again"])


def test_zero_hwm_is_unbounded() -> None:
    a, b = Sink("a"), Sink("b")
    pa, pb = pipepair((a, b), (0, 0))
    try:
        for i in range(5000):
            assert pa.write([b"x"])
        pa.flush()
        assert pb.pending_in == 5000
    finally:
        a.mailbox.close()
        b.mailbox.close()


def test_lwm_follows_libzmq() -> None:
    assert compute_lwm(1000) == 500
    assert compute_lwm(5000) == 5000 - 1024
    assert compute_lwm(1) == 1


def test_one_wakeup_per_burst(pair) -> None:
    a, b, pa, pb = pair
    assert pb.read() is None  # reader goes to sleep
    for i in range(5):
        assert pa.send([b"%d" % i])
    assert b.pump() == [PipeCmd.ACTIVATE_READ]  # one command for the whole burst
    assert b.kinds() == ["read"]
    assert [pb.read() for _ in range(5)] == [[b"%d" % i] for i in range(5)]
    assert b.pump() == []


def test_awake_reader_gets_no_command(pair) -> None:
    a, b, pa, pb = pair
    assert pa.send([b"1"])  # the reader never slept
    assert b.pump() == []
    assert pb.read() == [b"1"]


def test_messages_written_before_terminate_are_delivered_with_delay(pair) -> None:
    a, b, pa, pb = pair
    for i in range(3):
        pa.send([b"%d" % i])
    pa.terminate(delay=False)
    b.pump()
    assert [pb.read() for _ in range(3)] == [[b"0"], [b"1"], [b"2"]]
    assert pb.read() is None
    a.pump()
    b.pump()
    assert pa.terminated and pb.terminated


def test_peer_without_delay_drops_queued_messages(pair) -> None:
    a, b, pa, pb = pair
    pb.delay = False
    pa.send([b"dropped"])
    pa.terminate(delay=False)
    b.pump()
    assert pb.read() is None
    a.pump()
    b.pump()
    assert pa.terminated and pb.terminated
