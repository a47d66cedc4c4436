"""The listener against a real kernel: a server process under a low RLIMIT_NOFILE.

Each test starts ``tests/rlimit_server.py`` (a zreactor line-echo server that lowers its own
RLIMIT_NOFILE and reports its listener's events and stats as JSON lines), fills it with real
loopback clients until ``accept()`` fails, and watches what the waiting clients and the
established ones experience. Unless a test is about the fd budget, the budget is lifted
(``--max-connections 1000``) so that the kernel's EMFILE is what stops the listener.

Every process and socket has a timeout, every loop is bounded, and only loopback is used.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

if not sys.platform.startswith("linux"):  # pragma: no cover
    pytest.skip("RLIMIT_NOFILE behaviour is checked on Linux", allow_module_level=True)

pytestmark = [pytest.mark.timeout(30), pytest.mark.slow]

HELPER = Path(__file__).resolve().parent / "rlimit_server.py"
ROOT = HELPER.parent.parent
NOFILE = 32
NO_BUDGET = ("--max-connections", "1000")  # let EMFILE be what stops the listener


class Server:
    """The helper process: its events and stats as dicts, read by a background thread."""

    def __init__(self, *args: str, nofile: int = NOFILE) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen(
            [sys.executable, str(HELPER), "--nofile", str(nofile), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env, cwd=str(ROOT),
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        hello = self._next(lambda m: "listening" in m, 10)
        host, port = hello["listening"].removeprefix("tcp://").rsplit(":", 1)
        self.address = (host, int(port))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def _next(self, match: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out; events so far: {self.events}; "
                                     f"stderr: {self.stderr_if_dead()}")
            try:
                message = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if "event" in message:
                self.events.append(message)
            if match(message):
                return message

    def stderr_if_dead(self) -> str:
        if self.proc.poll() is None:
            return "(running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def wait_event(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        """The first event of ``kind`` (already received, or coming within ``timeout``)."""
        for event in self.events:
            if event["event"] == kind:
                return event
        return self._next(lambda m: m.get("event") == kind, timeout)

    def stats(self, fds: bool = False) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("stats fds\n" if fds else "stats\n")
        self.proc.stdin.flush()
        return self._next(lambda m: "stats" in m, 5)

    def kinds(self) -> list[str]:
        self.drain()
        return [e["event"] for e in self.events]

    def drain(self) -> None:
        while True:
            try:
                message = self.lines.get_nowait()
            except queue.Empty:
                return
            if "event" in message:
                self.events.append(message)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=5)
        finally:
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def servers():
    started: list[Server] = []
    clients: list[socket.socket] = []

    def start(*args: str, nofile: int = NOFILE) -> Server:
        server = Server(*args, nofile=nofile)
        started.append(server)
        return server

    start.clients = clients  # type: ignore[attr-defined]
    yield start
    for client in clients:
        client.close()
    for server in started:
        server.close()


def connect(servers: Any, server: Server, count: int) -> list[socket.socket]:
    """Open ``count`` clients; each sends one line at once."""
    made = []
    for i in range(count):
        sock = socket.create_connection(server.address, timeout=3)
        sock.sendall(f"hello {i}\n".encode())
        servers.clients.append(sock)
        made.append(sock)
    return made


def echoed(sock: socket.socket, timeout: float) -> bool:
    """True if a whole line comes back within ``timeout`` (False on silence or reset)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while not data.endswith(b"\n"):
            chunk = sock.recv(100)
            if not chunk:
                return False
            data += chunk
    except (TimeoutError, socket.timeout, ConnectionResetError):
        return False
    return True


def ping(sock: socket.socket) -> bool:
    sock.sendall(b"ping\n")
    return echoed(sock, 3)


def fill(
    servers: Any, server: Server, extra: int
) -> tuple[list[socket.socket], list[socket.socket]]:
    """Connect until the server is full, then ``extra`` waiting clients.

    Clients are added one at a time, each waiting for its echo or for the server's
    SUSPENDED event, so the split is exact and the waiting clients all arrive right after
    the suspension. Returns (served, waiting).
    """
    served: list[socket.socket] = []
    for _ in range(NOFILE + 8):
        (client,) = connect(servers, server, 1)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if echoed(client, 0.02):
                served.append(client)
                break
            server.drain()
            if any(e["event"] == "SUSPENDED" for e in server.events):
                return served, [client, *connect(servers, server, extra - 1)]
        else:
            raise AssertionError("neither an echo nor a suspension")
    raise AssertionError("the server never stopped accepting")


def reset_seen(sock: socket.socket, timeout: float = 3) -> bool:
    """True if ``sock`` is reset (ECONNRESET), or closed without an answer."""
    sock.settimeout(timeout)
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True
    except (TimeoutError, socket.timeout):
        return False


def test_suspends_without_spinning_and_resumes_on_release(servers):
    server = servers(*NO_BUDGET, "--accept-grace", "30")
    served, waiting = fill(servers, server, extra=4)
    suspended = server.wait_event("SUSPENDED")
    suspended_at = time.monotonic()
    assert suspended["detail"]["errno"] == "EMFILE"
    assert len(served) >= 10

    # Over about a second the server waits: CPU near zero, established clients served.
    before = server.stats()
    for client in served[:4]:
        assert ping(client)
    time.sleep(1.0)
    after = server.stats()
    cpu = (after["cpu"] - before["cpu"]) / (after["t"] - before["t"])
    assert cpu < 0.20, f"{cpu:.0%} of a core while suspended"
    assert after["stats"]["state"] == "suspended"
    assert after["stats"]["retries"] < 30  # a backoff, not a loop
    assert all(not echoed(client, 0.05) for client in waiting)

    # ~1.4 s into the episode the backoff timer is 0.9 s away; a release must not wait for it.
    time.sleep(max(0.0, suspended_at + 1.4 - time.monotonic()))
    released_at = time.monotonic()
    served.pop(0).close()
    assert echoed(waiting[0], 2.0)
    assert time.monotonic() - released_at < 0.6, "served by the timer, not by the release"

    # Releasing enough serves every waiting client, and the listener is ACTIVE again.
    for client in served[:4]:
        client.close()
    for client in waiting[1:]:
        assert echoed(client, 2.0)
    resumed = server.wait_event("RESUMED")
    assert resumed["value"] >= 1400  # ms spent suspended
    final = server.stats()["stats"]
    assert final["state"] == "active" and final["episodes"] == 1 and final["shed"] == 0


def test_budget_suspends_before_the_kernel_says_emfile(servers):
    server = servers("--accept-grace", "30", nofile=40)  # budget: 40 - 16 = 24 framework fds
    served, waiting = fill(servers, server, extra=2)
    suspended = server.wait_event("SUSPENDED")
    assert (suspended["value"], suspended["detail"]["errno"]) == (0, "0")
    assert suspended["detail"]["open_fds"] == suspended["detail"]["max_connections"] == 24
    assert len(served) == 23  # the listening socket is the 24th
    stats = server.stats(fds=True)
    assert stats["fds"] is not None and stats["fds"] < 40  # headroom left for the app
    served[0].close()
    assert echoed(waiting[0], 2.0)


def test_sheds_after_the_grace_period_with_a_reset(servers):
    server = servers(*NO_BUDGET, "--accept-grace", "0.3")
    served, waiting = fill(servers, server, extra=5)
    suspended = server.wait_event("SUSPENDED")
    shed = server.wait_event("SHED")
    assert shed["value"] >= 1 and shed["detail"]["reserve"] == "held"
    assert shed["t"] - suspended["t"] >= 0.3
    for client in waiting:  # each after its own grace (Linux reads the accept-queue length)
        assert reset_seen(client), "a waiting client was left hanging"
    while sum(e["value"] for e in server.events if e["event"] == "SHED") < 5:
        server._next(lambda m: m.get("event") == "SHED", 3)
    for client in served:  # established connections never noticed
        assert ping(client)
    # a client arriving later, while still full, gets its own grace period and a reset
    (late,) = connect(servers, server, 1)
    arrived = time.monotonic()
    assert reset_seen(late, timeout=3)
    assert 0.25 <= time.monotonic() - arrived < 2.0
    # (the client hears its reset while the dance is still running: wait for its end)
    server._next(lambda m: m.get("event") == "SHED" and m["value"] == 1, 3)
    server._next(lambda m: m.get("event") == "SUSPENDED", 3)
    stats = server.stats()["stats"]
    assert stats["shed"] == 6 and stats["state"] == "suspended"


def test_a_late_arrival_is_served_when_descriptors_return_after_the_early_ones_deadline(servers):
    """Grace per connection under a real RLIMIT_NOFILE: the kernel's accept-queue length
    (TCP_INFO) lets the listener shed only the client whose own grace ran out."""
    server = servers(*NO_BUDGET, "--accept-grace", "1.0")
    served, (early,) = fill(servers, server, extra=1)
    time.sleep(0.8)
    (late,) = connect(servers, server, 1)
    assert reset_seen(early, timeout=3)  # at its own deadline
    server._next(lambda m: m.get("event") == "SHED", 3)
    time.sleep(0.5)
    assert not reset_seen(late, timeout=0.05)  # still waiting, not reset with the early one
    served[0].close()  # descriptors come back 0.5 s after the early one's deadline
    assert echoed(late, 2.0)
    assert server.stats()["stats"]["shed"] == 1


def test_reopen_drops_the_backlog(servers):
    server = servers(*NO_BUDGET, "--accept-grace", "0.3", "--shed-policy", "reopen")
    served, waiting = fill(servers, server, extra=4)
    reopened = server.wait_event("REOPENED")
    assert reopened["detail"]["policy"] == "reopen"
    for client in waiting:
        assert reset_seen(client), "the backlog was not dropped"
    for client in served[:3]:
        assert ping(client)
    # the same address listens again: with room, a new client is served
    for client in served[:3]:
        client.close()
    (newcomer,) = connect(servers, server, 1)
    assert echoed(newcomer, 2.0)
    assert server.stats()["stats"]["reopens"] >= 1


def test_failed_when_the_reserve_cannot_be_taken_back(servers):
    server = servers(*NO_BUDGET, "--accept-grace", "0.2", "--recovery-tries", "3",
                     "--reserve-fails-after", "1")
    served, waiting = fill(servers, server, extra=3)
    failed = server.wait_event("FAILED", timeout=5)
    assert failed["detail"] == {"errno": "EMFILE", "from": "REOPENING", "trigger": "gave up"}
    kinds = server.kinds()
    assert kinds.index("SUSPENDED") < kinds.index("SHED") < kinds.index("FAILED")
    for client in waiting:
        assert reset_seen(client)  # the shed happened before the reserve was lost
    stats = server.stats()
    assert stats["stats"]["state"] == "failed" and stats["stats"]["failures"] == 1
    with pytest.raises(ConnectionRefusedError):  # refused at once, not hung
        socket.create_connection(server.address, timeout=3).close()
    for client in served[:3]:  # established connections keep working
        assert ping(client)
    # and the process is not spinning
    before = server.stats()
    time.sleep(0.5)
    after = server.stats()
    assert (after["cpu"] - before["cpu"]) / (after["t"] - before["t"]) < 0.2


def test_a_messaging_router_sheds_by_its_accept_grace_and_serves_everyone_after_a_release():
    """ACCEPT_GRACE on a ROUTER under RLIMIT_NOFILE=64, against libzmq DEALERs: the waiting
    DEALERs are reset after the socket option's grace (and reconnect by themselves), the
    listener's stats are read through ``sock.listener()``, and a release serves them all."""
    zmq = pytest.importorskip("zmq")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(
        [sys.executable, str(HELPER.parent / "router_rlimit_child.py"), "--grace", "300"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))
    ctx = zmq.Context()
    dealers: list[Any] = []
    try:
        assert child.stdout is not None and child.stdin is not None
        endpoint = json.loads(child.stdout.readline())["listening"]

        def stats() -> dict[str, Any]:
            child.stdin.write("stats\n")
            child.stdin.flush()
            return json.loads(child.stdout.readline())["stats"]

        def ask(name: bytes) -> Any:
            sock = ctx.socket(zmq.DEALER)
            sock.linger = 0
            sock.connect(endpoint)
            sock.send(name)
            dealers.append(sock)
            return sock

        served, waiting = [], []
        for i in range(70):  # more than the budget (48 of 64) lets in
            sock = ask(b"d%d" % i)
            (served if sock.poll(300) else waiting).append(sock)
            if waiting:
                break
        waiting += [ask(b"w%d" % i) for i in range(5)]
        time.sleep(1.0)  # several graces: the waiting DEALERs were reset, and reconnected
        mid = stats()
        assert mid["state"] == "suspended" and mid["shed"] >= len(waiting)
        assert not any(sock.poll(0) for sock in waiting)
        for sock in served[:10]:
            sock.close(linger=0)
        for sock in waiting:
            assert sock.poll(3000), "a waiting DEALER was not served after the release"
        assert stats()["accepted"] >= len(served) + len(waiting)
    finally:
        for sock in dealers:
            sock.close(linger=0)
        ctx.term()
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
        if child.stdout is not None:
            child.stdout.close()
