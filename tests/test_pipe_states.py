"""Pipe termination handshake: every row of PIPE_TRANSITIONS, plus HWM and wake-ups.

Two pipe ends are driven by hand: each sink has a real Mailbox, and ``pump`` dispatches the
commands the ends sent each other, one sink at a time, in the order a test chooses. That
order is what makes the races (delimiter before PIPE_TERM, PIPE_TERMs crossing) reachable.
"""

from __future__ import annotations

import pytest

from zreactor.reactor.mailbox import Mailbox, dispatch
from zreactor.sockets.pipe import (
    PIPE_TRANSITIONS,
    Pipe,
    PipeCmd,
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
    _MOVES.clear()
    a, b = Sink("a"), Sink("b")
    pa, pb = pipepair((a, b), (10, 10))
    yield a, b, pa, pb
    a.mailbox.close()
    b.mailbox.close()


_MOVES: dict[int, list[tuple[PipeState, PipeState]]] = {}


class RecordingPipe(Pipe):
    """A Pipe that records its moves (same slots, so an end can switch class in place)."""

    __slots__ = ()

    def _transition(self, new: PipeState) -> None:
        _MOVES.setdefault(id(self), []).append((self.state, new))
        super()._transition(new)


def moves(pipe: Pipe) -> list[tuple[PipeState, PipeState]]:
    """Start recording every move this end makes; return the live list."""
    pipe.__class__ = RecordingPipe
    return _MOVES.setdefault(id(pipe), [])


# Each scenario drives the ends into one table row and returns the moves seen on both ends.
def _run_full_handshake(pair, delay_b: bool, read_first: bool):
    a, b, pa, pb = pair
    pb.delay = delay_b
    la, lb = moves(pa), moves(pb)
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
    return la + lb


SCENARIOS = {
    (S.ACTIVE, S.TERM_REQ_SENT1): lambda p: _run_full_handshake(p, True, False),
    (S.ACTIVE, S.WAITING_FOR_DELIMITER): lambda p: _run_full_handshake(p, True, False),
    (S.WAITING_FOR_DELIMITER, S.TERM_ACK_SENT): lambda p: _run_full_handshake(p, True, False),
    (S.ACTIVE, S.TERM_ACK_SENT): lambda p: _run_full_handshake(p, False, False),
    (S.ACTIVE, S.DELIMITER_RECEIVED): lambda p: _run_full_handshake(p, True, True),
    (S.DELIMITER_RECEIVED, S.TERM_ACK_SENT): lambda p: _run_full_handshake(p, True, True),
    (S.TERM_REQ_SENT1, S.TERMINATED): lambda p: _run_full_handshake(p, True, False),
    (S.TERM_ACK_SENT, S.TERMINATED): lambda p: _run_full_handshake(p, True, False),
}


def _crossing(pair):
    a, b, pa, pb = pair
    la, lb = moves(pa), moves(pb)
    pa.terminate(delay=False)
    pb.terminate(delay=False)
    a.pump()
    b.pump()
    a.pump()
    b.pump()
    return la + lb


def _delimiter_then_local_terminate(pair):
    a, b, pa, pb = pair
    la, lb = moves(pa), moves(pb)
    pa.terminate(delay=False)
    assert pb.read() is None  # delimiter read before PIPE_TERM arrives
    pb.terminate(delay=False)  # b decides to go too: DELIMITER_RECEIVED -> TERM_REQ_SENT1
    b.pump()
    a.pump()
    b.pump()
    a.pump()
    return la + lb


def _waiting_then_terminate_without_delay(pair):
    a, b, pa, pb = pair
    la, lb = moves(pa), moves(pb)
    pa.send([b"never read"])
    pa.terminate(delay=False)
    b.pump()  # WAITING_FOR_DELIMITER (delay is on by default)
    pb.terminate(delay=False)  # give up on the queued message: ack at once
    a.pump()
    b.pump()
    return la + lb


SCENARIOS[(S.TERM_REQ_SENT1, S.TERM_REQ_SENT2)] = _crossing
SCENARIOS[(S.TERM_REQ_SENT2, S.TERMINATED)] = _crossing
SCENARIOS[(S.DELIMITER_RECEIVED, S.TERM_REQ_SENT1)] = _delimiter_then_local_terminate

ROWS = [(src, dst) for src, dsts in PIPE_TRANSITIONS.items() for dst in dsts]


def test_every_row_has_a_scenario() -> None:
    assert sorted(ROWS, key=str) == sorted(SCENARIOS, key=str)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r[0].name}->{r[1].name}")
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
    assert (S.WAITING_FOR_DELIMITER, S.TERM_ACK_SENT) in seen
    assert pa.terminated and pb.terminated


def test_illegal_move_raises(pair) -> None:
    _, _, pa, _ = pair
    with pytest.raises(AssertionError):
        pa._transition(S.TERMINATED)


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
