"""Behaviour of examples/echo_server.py: 200 concurrent clients, 1 and 4 I/O threads.

(a) runs the example as a real process, exactly as the README shows, and talks to it over
loopback; (b) runs its ``EchoEngine`` in-process to show the connections (and the work) are
spread over the I/O threads.
"""

from __future__ import annotations

import collections
import importlib.util
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import zreactor

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "echo_server.py"

pytestmark = pytest.mark.timeout(60)


@dataclass
class Client:
    """One non-blocking loopback client: what it still has to send, what it got back."""

    index: int
    sock: socket.socket
    expected: bytes
    out: memoryview
    got: bytearray = field(default_factory=bytearray)


def make_payload(index: int, lines: int) -> bytes:
    return b"".join(
        f"client {index} line {i} {'x' * (i % 40)}\n".encode() for i in range(lines)
    )


def run_clients(address: tuple[str, int], clients: int, lines: int, timeout: float = 40.0) -> None:
    """Drive ``clients`` concurrent connections, each sending ``lines`` lines, from one
    selectors loop; fail unless each gets its own bytes back intact, in order, in time."""
    sel = selectors.DefaultSelector()
    open_clients: list[Client] = []
    try:
        for k in range(clients):
            sock = socket.socket()
            sock.setblocking(False)
            err = sock.connect_ex(address)
            assert err in (0, 115, 36), os.strerror(err)  # EINPROGRESS (Linux / BSD)
            payload = make_payload(k, lines)
            c = Client(k, sock, payload, memoryview(payload))
            open_clients.append(c)
            sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
        pending = len(open_clients)
        deadline = time.monotonic() + timeout
        while pending:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{pending} of {clients} clients unfinished"
            for key, mask in sel.select(timeout=min(1.0, remaining)):
                c: Client = key.data
                if mask & selectors.EVENT_WRITE and c.out:
                    try:
                        n = c.sock.send(c.out[:65536])
                    except BlockingIOError:
                        n = 0
                    c.out = c.out[n:]
                    if not c.out:
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                if mask & selectors.EVENT_READ:
                    try:
                        data = c.sock.recv(65536)
                    except BlockingIOError:
                        continue
                    assert data, f"client {c.index}: server closed after {len(c.got)} bytes"
                    c.got += data
                    assert len(c.got) <= len(c.expected), f"client {c.index}: too much data"
                    if len(c.got) == len(c.expected):
                        sel.unregister(c.sock)
                        pending -= 1
        for c in open_clients:
            assert bytes(c.got) == c.expected, f"client {c.index}: echo differs"
            assert len(c.got.splitlines()) == lines
    finally:
        sel.close()
        for c in open_clients:
            c.sock.close()


# -- (a) the example as a process -------------------------------------------------------------


def start_example(*args: str) -> tuple[subprocess.Popen, tuple[str, int]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    ready = sel.select(timeout=15)
    sel.close()
    if not ready:
        proc.kill()
        proc.communicate()
        pytest.fail("the example printed nothing within 15 s")
    first = proc.stdout.readline().decode()
    match = re.fullmatch(r"listening tcp://(127\.0\.0\.1):(\d+)\n", first)
    if not match:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"unexpected first line {first!r}; stderr: {err.decode()[-2000:]}")
    return proc, (match.group(1), int(match.group(2)))


@pytest.mark.parametrize("io_threads", [1, 4])
def test_example_process_serves_200_clients(io_threads: int) -> None:
    proc, address = start_example("--io-threads", str(io_threads))
    try:
        run_clients(address, clients=200, lines=1000)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "shut down cleanly" in err.decode()
    assert "accepted 200 connections" in err.decode()


# -- (b) the engine in-process: the work is spread -----------------------------------------------


def load_example():
    spec = importlib.util.spec_from_file_location("echo_server_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_work_is_spread_over_io_threads() -> None:
    example = load_example()
    engines_per_thread: collections.Counter[str] = collections.Counter()
    lines_per_thread: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    class Recording(example.EchoEngine):
        def attached(self) -> None:
            super().attached()
            with lock:
                engines_per_thread[threading.current_thread().name] += 1

        def message_received(self, message: bytes) -> None:
            super().message_received(message)
            with lock:
                lines_per_thread[threading.current_thread().name] += 1

    clients, lines = 200, 200
    with zreactor.Context(io_threads=4) as ctx:
        listener = ctx.listen("tcp://127.0.0.1:0", Recording)
        host, port = listener.endpoint[len("tcp://") :].rsplit(":", 1)
        run_clients((host, int(port)), clients=clients, lines=lines)
    names = [f"zreactor-io-{i}" for i in range(4)]
    assert sorted(engines_per_thread) == names, engines_per_thread
    assert sum(engines_per_thread.values()) == clients
    for name in names:  # every thread serves a fair share of the connections ...
        assert 30 <= engines_per_thread[name] <= 70, engines_per_thread
    assert sum(lines_per_thread.values()) == clients * lines
    for name in names:  # ... and so a fair share of the work
        assert 0.15 <= lines_per_thread[name] / (clients * lines) <= 0.35, lines_per_thread


def _run_example(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True,
                          text=True, timeout=30, env=env)


def test_an_unknown_poller_is_one_line_not_a_traceback() -> None:
    done = _run_example("--poller", "no-such-poller")
    assert done.returncode == 2
    assert done.stderr.startswith("echo_server: error: unknown poller 'no-such-poller'")
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_a_port_in_use_is_one_line_not_a_traceback() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        done = _run_example("--port", str(taken.getsockname()[1]))
    assert done.returncode == 1
    assert "cannot listen on tcp://127.0.0.1:" in done.stderr
    assert "Address already in use" in done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr

