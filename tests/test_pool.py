"""The reactor layer alone: an IOThreadPool runs engines with no messaging Context at all.

Nothing here imports ``zreactor.context`` or ``zreactor.sockets``: listening, connecting,
placement, fd accounting and termination are all the pool's.
"""

from __future__ import annotations

import socket
import threading

import pytest

from zreactor.errors import ContextClosedError, ZReactorError
from zreactor.reactor.engine import Engine
from zreactor.reactor.own import Own
from zreactor.reactor.pool import IOThreadPool
from zreactor.reactor.stream import StreamEngine


class Echo(StreamEngine):
    def data_received(self, data: bytes) -> None:
        self.write(data)


class Idle(Engine):
    def __init__(self) -> None:
        super().__init__()
        self.attached_event = threading.Event()

    def attached(self) -> None:
        self.attached_event.set()


def test_a_pool_listens_and_serves_a_protocol() -> None:
    with IOThreadPool(io_threads=2) as pool:
        listener = pool.listen("tcp://127.0.0.1:0", Echo)
        host, port = listener.endpoint.rsplit("/", 1)[1].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as client:
            client.sendall(b"ping")
            assert client.recv(10) == b"ping"
        # the listening socket and the accepted one went through the pool's fd registry
        assert pool.fds.open_count >= 1
    assert pool.closed


def test_the_pool_connects_through_its_own_fd_registry() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, IOThreadPool() as pool:
        port = server.getsockname()[1]
        got: list[Echo] = []

        def factory(sock: socket.socket) -> Echo:
            engine = Echo(sock)
            got.append(engine)
            return engine

        connecter = pool.connect(f"tcp://127.0.0.1:{port}", factory)
        server.settimeout(5)
        peer, _ = server.accept()
        with peer:
            peer.settimeout(5)
            peer.sendall(b"hello")
            assert peer.recv(10) == b"hello"
        assert connecter.pool is pool and got[0].pool is pool


def test_placement_counts_engines_in_flight_and_releases_them_when_plugged() -> None:
    pool = IOThreadPool(io_threads=3, start=False)  # nothing is plugged until we step
    try:
        engines = [pool.launch(Idle()) for _ in range(6)]
        assert [e.io_thread.index for e in engines] == [0, 1, 2, 0, 1, 2]
        assert [t.pending for t in pool.threads] == [2, 2, 2]
        pool.run_once()
        assert all(e.attached_event.is_set() for e in engines)
        assert [t.pending for t in pool.threads] == [0, 0, 0]
        thread = pool.choose()
        assert thread.index == 0 and thread.pending == 1
        assert pool.choose().index == 1  # the one in flight counts as load
    finally:
        pool.term()


def test_a_service_is_adopted_without_load_and_an_engine_is_not() -> None:
    with IOThreadPool(io_threads=2) as pool:
        pool.adopt(Own(), pool.threads[0])
        assert [t.pending for t in pool.threads] == [0, 0]
        with pytest.raises(TypeError):
            pool.adopt(Idle(), pool.threads[0])


def test_manual_mode_runs_only_when_stepped_and_terminates_by_stepping() -> None:
    pool = IOThreadPool(start=False)
    engine = pool.launch(Idle())
    assert not engine.attached_event.is_set()
    pool.run_once()
    assert engine.attached_event.is_set()
    pool.term()
    assert engine.state.value == "closed"
    with pytest.raises(ContextClosedError):
        pool.launch(Idle())


def test_term_from_an_io_thread_raises() -> None:
    with IOThreadPool() as pool:
        errors: list[BaseException] = []
        done = threading.Event()

        class Terminator(Engine):
            def attached(self) -> None:
                try:
                    pool.term()
                except ZReactorError as exc:
                    errors.append(exc)
                done.set()

        pool.launch(Terminator())
        assert done.wait(5)
        assert len(errors) == 1



def test_engine_context_is_a_deprecated_name_of_the_pool() -> None:
    pool = IOThreadPool(start=False)
    try:
        engine = pool.launch(Idle())
        pool.run_once()
        with pytest.warns(DeprecationWarning, match="Engine.pool"):
            assert engine.context is pool
        assert engine.pool is pool
    finally:
        pool.term()


def test_resize_until_the_first_launch() -> None:
    with IOThreadPool(io_threads=1) as pool:
        pool.resize(3)
        assert [t.index for t in pool.threads] == [0, 1, 2]
        running = {t.name for t in threading.enumerate()}
        assert all(t.name in running for t in pool.threads)
        pool.resize(2)
        assert len(pool.threads) == 2
        with pytest.raises(ValueError):
            pool.resize(0)
        engine = pool.launch(Idle(), pool.threads[1])
        assert engine.attached_event.wait(5)
        with pytest.raises(ZReactorError):
            pool.resize(4)
        assert len(pool.threads) == 2
    with pytest.raises(ZReactorError):
        pool.resize(2)  # closed
