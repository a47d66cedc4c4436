"""RawEngine alone: over a ``socketpair``, serving a fake session whose pipe is two deques.

The seam the STREAM socket would otherwise hide: the session calls in their order, the
notifications and which endings write one, the close marker, and the flow control when
the pipe is full (``zmtp/raw_engine.py``).
"""

from __future__ import annotations

import queue
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import zreactor
from zreactor.reactor.stream import ReadState
from zreactor.zmtp.engine import Flow
from zreactor.zmtp.raw_engine import NO_HANDSHAKE, ClosedBySocket, RawEngine

pytestmark = pytest.mark.timeout(20)

DEADLINE = 5.0


class Pipe:
    """What the engine uses of a pipe (write, write_batch, flush, read_batch), over two
    deques."""

    def __init__(self, capacity: int) -> None:
        self.to_socket: deque[list[bytes]] = deque()
        self.to_engine: deque[list[bytes]] = deque()
        self.capacity = capacity
        #: the socket terminated the pipe: once ``to_engine`` is empty, reading has ended
        self.closing = False

    @property
    def reading_ended(self) -> bool:
        return self.closing and not self.to_engine

    def write(self, msg: list[bytes]) -> bool:
        if len(self.to_socket) >= self.capacity:
            return False
        self.to_socket.append(msg)
        return True

    def write_batch(self, msgs: list[list[bytes]]) -> int:
        """The first of ``msgs`` that fit; how many (as ``Pipe.write_batch``)."""
        taken = 0
        for msg in msgs:
            if not self.write(msg):
                break
            taken += 1
        return taken

    def flush(self) -> None:
        pass

    def read_batch(self, limit: int) -> list[list[bytes]]:
        out = self.to_engine
        return [out.popleft() for _ in range(min(limit, len(out)))]


class Session:
    """Records the engine's calls, in order."""

    def __init__(self, capacity: int) -> None:
        self.pipe = Pipe(capacity)
        #: the notice the engine handed over with ``engine_closed`` (a real session queues it)
        self.farewell: list[bytes] | None = None
        self.calls: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()

    def engine_attached(self, engine: RawEngine) -> None:
        self.calls.put(("attached", None))

    def engine_ready(self, engine: RawEngine, handshake: Any) -> None:
        self.calls.put(("ready", handshake))

    def engine_closed(self, engine: RawEngine, reason: BaseException | None,
                      farewell: list[bytes] | None = None) -> None:
        self.farewell = farewell  # set before the call is seen: next_call() orders them
        self.calls.put(("closed", reason))

    def next_call(self) -> tuple[str, Any]:
        return self.calls.get(timeout=DEADLINE)


def wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def received(session: Session) -> bytes:
    return b"".join(m[0] for m in session.pipe.to_socket)


@pytest.fixture
def engine() -> Iterator[Callable[..., tuple[RawEngine, Session, socket.socket]]]:
    """Start a raw engine on one end of a socketpair; returns (engine, session, the other end)."""
    contexts: list[zreactor.Context] = []
    others: list[socket.socket] = []

    def start(capacity: int = 1000, **kwargs: Any) -> tuple[RawEngine, Session, socket.socket]:
        context = zreactor.Context()
        contexts.append(context)
        ours, theirs = socket.socketpair()
        theirs.settimeout(DEADLINE)
        others.append(theirs)
        session = Session(capacity)
        eng = RawEngine(ours, session, **kwargs)
        context.launch(eng)
        assert session.next_call() == ("attached", None)
        assert session.next_call() == ("ready", NO_HANDSHAKE)
        return eng, session, theirs

    yield start
    for context in contexts:
        context.term(0)
    for sock in others:
        sock.close()


def test_attach_reports_the_connection_and_chunks_become_messages(engine) -> None:
    eng, session, peer = engine()
    wait_for(lambda: list(session.pipe.to_socket) == [[b""]])
    peer.sendall(b"hello ")
    peer.sendall(b"world")
    wait_for(lambda: received(session) == b"hello world")
    assert all(len(m) == 1 and m[0] for m in list(session.pipe.to_socket)[1:])


def test_messages_from_the_pipe_are_written_raw(engine) -> None:
    eng, session, peer = engine()
    session.pipe.to_engine.extend([[b"GET "], [b"/ HTTP/1.0\r\n\r\n"]])
    eng.call_threadsafe(eng.restart_output)
    data = b""
    while len(data) < 18:
        data += peer.recv(100)
    assert data == b"GET / HTTP/1.0\r\n\r\n"


def test_a_pipe_read_to_its_end_flushes_then_closes_without_a_notification(engine) -> None:
    eng, session, peer = engine()
    session.pipe.to_engine.extend([[b"last "], [b"words"]])
    session.pipe.closing = True
    eng.call_threadsafe(eng.restart_output)
    data = b""
    while chunk := peer.recv(100):
        data += chunk
    assert data == b"last words"  # then our FIN
    call, reason = session.next_call()
    assert call == "closed" and isinstance(reason, ClosedBySocket)
    assert list(session.pipe.to_socket) == [[b""]]  # the connect notice only
    assert session.farewell is None


@pytest.mark.parametrize("how", ["fin", "reset"])
def test_a_lost_connection_writes_the_disconnection_notice(engine, how: str) -> None:
    eng, session, peer = engine()
    peer.sendall(b"data")
    wait_for(lambda: received(session) == b"data")
    if how == "reset":
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        peer.close()
    else:
        peer.shutdown(socket.SHUT_WR)
    call, reason = session.next_call()
    assert call == "closed" and reason is not None and not isinstance(reason, ClosedBySocket)
    # the notice goes to the session, which queues it (with the pipe's end if that ends too)
    assert session.farewell == [b""]
    assert list(session.pipe.to_socket) == [[b""], [b"data"]]


def test_without_notify_only_data_reaches_the_pipe(engine) -> None:
    eng, session, peer = engine(notify=False)
    peer.sendall(b"x")
    wait_for(lambda: received(session) == b"x")
    peer.close()
    assert session.next_call()[0] == "closed"
    assert list(session.pipe.to_socket) == [[b"x"]]
    assert session.farewell is None


def test_a_full_pipe_stops_reading_until_it_has_room(engine) -> None:
    eng, session, peer = engine(capacity=2)  # the notice and one chunk fit
    wait_for(lambda: len(session.pipe.to_socket) == 1)
    peer.sendall(b"one")
    wait_for(lambda: len(session.pipe.to_socket) == 2)
    peer.sendall(b"two")
    wait_for(lambda: eng.input is Flow.BLOCKED and eng.read_state is ReadState.PAUSED)
    peer.sendall(b"three")  # stays in the kernel: the engine is not reading
    time.sleep(0.05)
    assert received(session) == b"one"
    session.pipe.capacity = 100
    eng.call_threadsafe(eng.restart_input)
    wait_for(lambda: received(session) == b"onetwothree")
    assert eng.input is Flow.RUNNING and eng.read_state is ReadState.OPEN


def test_terminated_by_its_owner_it_writes_no_notice(engine) -> None:
    eng, session, peer = engine()
    wait_for(lambda: len(session.pipe.to_socket) == 1)
    eng.close_threadsafe()
    assert session.next_call() == ("closed", None)
    assert peer.recv(10) == b""
    assert list(session.pipe.to_socket) == [[b""]]
    assert session.farewell is None
