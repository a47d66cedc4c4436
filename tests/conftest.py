"""Shared fixtures: every test is checked for leaked threads and file descriptors; a bounded
context (``ctx``), one on a stepped clock (``stepped``), a folder for ipc paths
(``ipc_dir``) and every poller (``poller_name``)."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest

import zreactor
from zreactor.reactor.lease import check_owners
from zreactor.reactor.poller import available_pollers
from zreactor.testing import SteppedContext

# The suite runs in the loop lease's owner-checking mode (zreactor/reactor/lease.py, *Checks*):
# a lease given back by another thread than its holder's fails whichever test does it.
check_owners(True)


def _open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")} if os.path.isdir("/proc/self/fd") else set()


def _fd_targets(fds: set[int]) -> dict[int, str]:
    out = {}
    for fd in fds:
        try:
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    return out


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest):
    """Fail a test that leaves a zreactor thread or a new fd behind.

    Tests that deliberately keep something open mark themselves ``allow_leaks``.
    """
    if request.node.get_closest_marker("allow_leaks"):
        yield
        return
    fds_before = _open_fds()
    yield
    deadline = time.monotonic() + 2.0
    while True:
        threads = [t for t in threading.enumerate() if t.name.startswith("zreactor")]
        leaked = {fd for fd in _open_fds() - fds_before if fd not in fds_before}
        # the poller of /proc listing itself is gone by now; ignore fds that closed meanwhile
        leaked = set(_fd_targets(leaked))
        if (not threads and not leaked) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not threads, f"zreactor threads left running: {threads}"
    assert not leaked, f"file descriptors leaked: {_fd_targets(leaked)}"


@pytest.fixture(params=available_pollers())
def poller_name(request: pytest.FixtureRequest) -> str:
    """Every poller backend this machine offers."""
    return request.param


@pytest.fixture
def ctx() -> Iterator[zreactor.Context]:
    """A zreactor context; afterwards its open sockets are closed with linger 0 and it terminates.

    Modules that need another kind of context (two I/O threads, a pyzmq one) define their own.
    """
    context = zreactor.Context()
    yield context
    for sock in context.sockets:
        sock.close(linger=0)
    context.term()


@pytest.fixture
def two() -> Iterator[tuple[zreactor.Context, zreactor.Context]]:
    """Two contexts: each socket with an I/O thread of its own, as two processes would
    (the caller-I/O tests: each end's loop lends itself to its own socket only)."""
    a, b = zreactor.Context(), zreactor.Context()
    yield a, b
    for context in (a, b):
        for sock in context.sockets:
            sock.close(linger=0)
        context.term()


@pytest.fixture
def stepped() -> Iterator[SteppedContext]:
    """A context whose I/O threads run on a stepped clock (``stepped.advance(seconds)``).

    Sockets work for real; engine timers (heartbeats, handshake, linger, reconnect) move only
    with ``advance``. Cleaned up like ``ctx``.
    """
    context = SteppedContext()
    yield context
    for sock in context.sockets:
        sock.close(linger=0)
    context.term()


@pytest.fixture
def ipc_dir() -> Iterator[str]:
    """A fresh folder under /tmp (``sun_path`` is short) for ``ipc://`` paths.

    Removed after the test: the files left in it, then the folder.
    """
    path = tempfile.mkdtemp(prefix="zr-", dir="/tmp")
    yield path
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))
    os.rmdir(path)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_leaks: skip the thread/fd leak check")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
