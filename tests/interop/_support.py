"""Helpers for the interop tests against real libzmq (pyzmq as the peer).

:class:`Libs` holds a test's two contexts (the ``libs`` fixture in ``conftest.py`` makes and
terminates them) and makes bounded sockets of either library by type name, so one test body
runs with zreactor on either side, either side binding, over tcp and ipc.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import zreactor

zmq = pytest.importorskip("zmq")

DEADLINE = 5.0
MS = int(DEADLINE * 1000)
TRANSPORTS = ["tcp", "ipc"]


@dataclass
class Libs:
    """The two contexts of a test, and where ipc endpoints go."""

    z: zreactor.Context
    p: Any  # zmq.Context
    ipc_dir: str

    def socket(self, lib: str, type_name: str, **options: Any) -> Any:
        """A socket of ``lib`` ("zreactor" or "pyzmq"), bounded: linger 0, timeouts."""
        if lib == "zreactor":
            sock = self.z.socket(getattr(zreactor.constants.SocketType, type_name))
        else:
            sock = self.p.socket(getattr(zmq, type_name))
        options = {"linger": 0, "rcvtimeo": MS, "sndtimeo": MS, **options}
        for name, value in options.items():
            sock.setsockopt(getattr(zmq, name.upper()), value)
        return sock

    def address(self, transport: str) -> str:
        if transport == "tcp":
            return "tcp://127.0.0.1:*"
        return f"ipc://{self.ipc_dir}/s{next(_counter)}"


def _count() -> Iterator[int]:
    n = 0
    while True:
        n += 1
        yield n


_counter = _count()


def endpoint_of(sock: Any) -> str:
    value = sock.getsockopt(zmq.LAST_ENDPOINT)
    return value.decode() if isinstance(value, bytes) else value


def bind_connect(binder: Any, connecter: Any, address: str) -> str:
    """Bind ``binder`` at ``address``, connect ``connecter`` to where it landed."""
    binder.bind(address)
    endpoint = endpoint_of(binder)
    connecter.connect(endpoint)
    return endpoint


def wait_until(check: Callable[[], bool], timeout: float = DEADLINE,
               step: Callable[[], None] | None = None) -> None:
    """Call ``step`` (default: sleep 10 ms) until ``check()``; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        if step is not None:
            step()
        else:
            time.sleep(0.01)


def recv_monitor_events(monitor: Any, seconds: float) -> list[int]:
    """Every pyzmq monitor event that arrives within ``seconds``."""
    from zmq.utils.monitor import recv_monitor_message

    events = []
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not monitor.poll(max(1, int(remaining * 1000))):
            return events
        events.append(recv_monitor_message(monitor)["event"])


def exchange(client: Any, server: Any, client_type: str) -> None:
    """One message each way (or PUB -> SUB) over an established pairing."""
    if client_type == "SUB":
        client.setsockopt(zmq.SUBSCRIBE, b"")
        deadline = time.monotonic() + 5
        while True:  # the subscription has to reach the PUB first
            server.send(b"news")
            if client.poll(50):
                assert client.recv() == b"news"
                return
            assert time.monotonic() < deadline
    client.send(b"ping")
    if client_type == "DEALER":
        ident, body = server.recv_multipart()
        assert body == b"ping"
        server.send_multipart([ident, b"pong"])
    else:
        assert server.recv() == b"ping"
        server.send(b"pong")
    assert client.recv() == b"pong"


def monitor_events(monitor: Any, lib: str, seconds: float = 1.0) -> list[tuple[int, int]]:
    """``(event, value)`` pairs read from a monitor socket of ``lib`` for ``seconds``."""
    if lib == "pyzmq":
        from zmq.utils.monitor import recv_monitor_message as recv
    else:
        from zreactor.utils.monitor import recv_monitor_message as recv
    events = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if monitor.poll(50):
            try:
                event = recv(monitor)
            except (zmq.Again, zreactor.Again):  # a poll can wake without a whole event
                continue
            events.append((event["event"], event["value"]))
    return events
