"""The ownership tree's termination handshake, stepped by hand on unstarted I/O threads.

Every command goes through a real mailbox and a real I/O loop iteration; the test only
decides *when* each thread runs, which is how the races (TERM overtaking PLUG, OWN arriving
after TERM) are produced deterministically.
"""

from __future__ import annotations

import socket
from typing import Iterator

import pytest

from zreactor.reactor.engine import Engine, EngineState
from zreactor.reactor.io_thread import IOThread
from zreactor.reactor.mailbox import Cmd, Command, Mailbox
from zreactor.reactor.fsm import IllegalMove
from zreactor.reactor.own import OWN_TRANSITIONS, Own, OwnState
from zreactor.reactor.stream import StreamEngine

pytestmark = pytest.mark.timeout(10)


class Sink:
    """Stands in for the context: the owner of a root, with a mailbox of its own."""

    def __init__(self) -> None:
        self.mailbox = Mailbox("sink")
        self.acks = 0

    def process_term_ack(self) -> None:
        self.acks += 1

    def pump(self) -> None:
        for command in self.mailbox.drain():
            assert command.destination is self
            getattr(self, command.kind.value)(*command.args)


class Node(Own):
    """An Own that writes every handshake step to a shared log."""

    def __init__(self, name: str, log: list[tuple]) -> None:
        super().__init__()
        self.name = name
        self.log = log

    def process_plug(self) -> None:
        self.log.append((self.name, "plug"))

    def process_own(self, child: Own) -> None:
        self.log.append((self.name, "own", getattr(child, "name", child)))
        super().process_own(child)

    def process_term_req(self, child: Own) -> None:
        self.log.append((self.name, "term_req", getattr(child, "name", child)))
        super().process_term_req(child)

    def process_term(self, linger) -> None:
        self.log.append((self.name, "term", linger))
        super().process_term(linger)

    def process_term_ack(self) -> None:
        self.log.append((self.name, "term_ack"))
        super().process_term_ack()

    def process_destroy(self) -> None:
        self.log.append((self.name, "destroyed"))

    def __repr__(self) -> str:
        return f"<Node {self.name}>"


@pytest.fixture
def threads() -> Iterator[list[IOThread]]:
    ts = [IOThread(i) for i in range(2)]
    yield ts
    for t in ts:
        t.close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.mailbox.close()


def settle(threads: list[IOThread], sink: Sink | None = None, rounds: int = 20) -> None:
    for _ in range(rounds):
        for t in threads:
            t.run_once(max_wait=0)
        if sink is not None:
            sink.pump()


@pytest.fixture
def log() -> list[tuple]:
    """Where every Node of the test writes its handshake steps."""
    return []


@pytest.fixture
def root(threads: list[IOThread], sink: Sink, log: list[tuple]) -> Node:
    """The tree's root: owned by the sink (the context's stand-in), living on the first thread."""
    node = Node("root", log)
    node.owner = sink
    node.thread = threads[0]
    node.mailbox = threads[0].mailbox
    return node


@pytest.fixture
def socketpair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """``(mine, peer)``: the engine's socket and the far end; both closed after the test."""
    mine, peer = socket.socketpair()
    yield mine, peer
    mine.close()
    peer.close()


def index(log: list[tuple], *entry) -> int:
    return log.index(tuple(entry))


def test_termination_walks_down_and_acks_back_up(threads, sink, log, root) -> None:
    a, b = threads
    c1, c2, g = Node("c1", log), Node("c2", log), Node("g", log)
    root.launch_child(c1, b)
    root.launch_child(c2, a)
    settle(threads)
    c1.launch_child(g, b)  # c1's own thread is b; the test stands in for it
    settle(threads)
    assert root.children == {c1, c2} and c1.children == {g}
    assert all(entry in log for entry in [("c1", "plug"), ("c2", "plug"), ("g", "plug")])

    log.clear()
    root.send_command(root, Cmd.TERM, 0.5)
    settle(threads, sink)

    assert sink.acks == 1
    # TERM goes down, with the linger, before any ack comes up
    assert index(log, "root", "term", 0.5) < index(log, "c1", "term", 0.5)
    assert index(log, "root", "term", 0.5) < index(log, "c2", "term", 0.5)
    assert index(log, "c1", "term", 0.5) < index(log, "g", "term", 0.5)
    # a node is destroyed only after all its children acknowledged
    assert index(log, "g", "destroyed") < index(log, "c1", "term_ack") < index(log, "c1", "destroyed")
    assert log.count(("root", "term_ack")) == 2
    assert log[-1] == ("root", "destroyed")
    for node in (root, c1, c2, g):
        assert node.own_state is OwnState.TERMINATED
        assert log.count((node.name, "destroyed")) == 1


def test_root_acks_only_after_the_slowest_child(threads, sink, log, root) -> None:
    a, b = threads
    child = Node("child", log)
    root.launch_child(child, b)
    settle(threads)
    root.send_command(root, Cmd.TERM, None)
    for _ in range(5):  # the child's thread never runs: no ack can come
        a.run_once(max_wait=0)
        sink.pump()
    assert sink.acks == 0
    assert root.own_state is OwnState.TERMINATING
    settle(threads, sink)
    assert sink.acks == 1


def test_term_req_terminates_one_child_only(threads, sink, log, root) -> None:
    _, b = threads
    c1, c2 = Node("c1", log), Node("c2", log)
    root.launch_child(c1, b)
    root.launch_child(c2, b)
    settle(threads)
    c1.terminate()  # on c1's thread: ask the owner
    settle(threads, sink)
    assert log[-4:] == [
        ("root", "term_req", "c1"),
        ("c1", "term", None),
        ("c1", "destroyed"),
        ("root", "term_ack"),
    ]
    assert root.children == {c2}
    assert root.own_state is OwnState.ACTIVE and c2.own_state is OwnState.ACTIVE
    assert sink.acks == 0
    c1.terminate()  # already gone: harmless
    settle(threads, sink)
    assert log.count(("c1", "term", None)) == 1


def test_term_req_while_the_owner_terminates_is_ignored(threads, sink, log, root) -> None:
    _, b = threads
    child = Node("child", log)
    root.launch_child(child, b)
    settle(threads)
    root.send_command(root, Cmd.TERM, 1.0)  # the owner's TERM is queued first ...
    child.terminate()  # ... then the child's request
    settle(threads, sink)
    assert ("root", "term_req", "child") in log
    assert log.count(("child", "term", 1.0)) == 1  # one TERM, not two
    assert sink.acks == 1


def test_term_req_from_a_stranger_is_ignored(threads, sink, log, root) -> None:
    stranger = Node("stranger", log)
    root.send_command(root, Cmd.TERM_REQ, stranger)
    settle(threads, sink)
    assert ("stranger", "term", None) not in log
    assert root.own_state is OwnState.ACTIVE


def test_own_arriving_after_term_is_waited_for(threads, sink, log, root) -> None:
    """A child launched while TERM is already queued: the seqnum keeps the owner waiting."""
    a, b = threads
    root.send_command(root, Cmd.TERM, 0.25)  # TERM is ahead of OWN in the owner's mailbox
    late = Node("late", log)
    root.launch_child(late, b)
    a.run_once(max_wait=0)  # processes TERM, then OWN
    sink.pump()
    assert log[:2] == [("root", "term", 0.25), ("root", "own", "late")]
    assert sink.acks == 0, "acknowledged while a child was still being launched"
    settle(threads, sink)
    assert ("late", "term", 0.25) in log  # the late child got the same linger
    assert index(log, "late", "destroyed") < index(log, "root", "term_ack")
    assert sink.acks == 1


def test_term_with_a_launch_in_flight_waits_for_own(threads, sink, log, root) -> None:
    """OWN still in flight when TERM is processed: no ack until it lands."""
    _, b = threads
    late = Node("late", log)
    # what launch_child does, cut in two: the seqnum is counted, OWN is not yet sent
    late.owner, late.thread, late.mailbox = root, b, b.mailbox
    root._sent_seqnum += 1
    root.send_command(root, Cmd.TERM, None)
    settle(threads, sink)
    assert sink.acks == 0
    root.send_command(root, Cmd.OWN, late)
    root.send_command(late, Cmd.PLUG)
    settle(threads, sink)
    assert sink.acks == 1
    assert late.own_state is OwnState.TERMINATED


class Stream(StreamEngine):
    def __init__(self, sock: socket.socket, log: list[str]) -> None:
        super().__init__(sock)
        self.log = log

    def attached(self) -> None:
        self.log.append("attached")

    def closed(self, reason) -> None:
        self.log.append(f"closed:{reason!r}")


def test_term_overtaking_plug(threads, sink, root, socketpair) -> None:
    """TERM reaches an engine before its PLUG: it releases its socket and never attaches."""
    a, b = threads
    mine, peer = socketpair
    hooks: list[str] = []
    engine = Stream(mine, hooks)
    # the launching thread is pre-empted between OWN and PLUG ...
    engine.owner, engine.thread, engine.mailbox = root, b, b.mailbox
    root._sent_seqnum += 1
    root.send_command(root, Cmd.OWN, engine)
    a.run_once(max_wait=0)
    # ... the owner terminates and its TERM lands in the engine's mailbox first
    root.send_command(root, Cmd.TERM, 5.0)
    a.run_once(max_wait=0)
    b.run_once(max_wait=0)
    assert engine.state is EngineState.CLOSED
    assert hooks == ["closed:None"]
    assert mine.fileno() == -1  # the socket was released without ever being polled
    # ... then PLUG finally arrives, and must do nothing
    b.mailbox.send(Command(engine, Cmd.PLUG))
    settle(threads, sink)
    assert hooks == ["closed:None"]
    assert b.poller.load == 1  # only the thread's own mailbox
    assert sink.acks == 1
    assert peer.recv(10) == b""  # the peer sees the connection closed


def test_engine_terminated_before_plug_then_launch_order(threads, sink, root, socketpair) -> None:
    """The normal order (PLUG, then TERM) attaches and closes exactly once."""
    _, b = threads
    mine, peer = socketpair
    hooks: list[str] = []
    engine = Stream(mine, hooks)
    root.launch_child(engine, b)
    settle(threads)
    root.send_command(root, Cmd.TERM, 0)
    settle(threads, sink)
    assert hooks == ["attached", "closed:None"]
    assert sink.acks == 1


def test_plain_engine_terminates_with_its_owner(threads, sink, root) -> None:
    _, b = threads
    engines = [Engine() for _ in range(5)]
    for e in engines:
        root.launch_child(e, b)
    settle(threads)
    assert all(e.state is EngineState.ATTACHED for e in engines)
    root.send_command(root, Cmd.TERM, None)
    settle(threads, sink)
    assert all(e.state is EngineState.CLOSED for e in engines)
    assert all(e.own_state is OwnState.TERMINATED for e in engines)
    assert sink.acks == 1


def test_a_second_term_is_an_illegal_move() -> None:
    node = Node("n", [])
    node.process_term(None)
    assert node.own_state is OwnState.TERMINATED
    with pytest.raises(IllegalMove, match="illegal ownership move TERMINATED on TERM"):
        node.process_term(None)


def test_every_handshake_row_is_taken_and_terminated_acknowledges(threads, sink, log, root) -> None:
    _, b = threads
    child = Node("child", log)
    root.launch_child(child, b)
    settle(threads)
    with OWN_TRANSITIONS.record() as steps:
        root.send_command(root, Cmd.TERM, None)
        settle(threads, sink)
    assert {(s.source, s.event) for s in steps} == set(OWN_TRANSITIONS)
    # the child acknowledged (entry into TERMINATED) before the root could terminate
    assert [(s.obj, s.target) for s in steps if s.target is OwnState.TERMINATED] == [
        (child, OwnState.TERMINATED), (root, OwnState.TERMINATED)]
    assert index(log, "child", "destroyed") < index(log, "root", "term_ack")
    assert sink.acks == 1
