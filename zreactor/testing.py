"""Public fakes for testing engines: a fake clock, a hand-stepped context, scripted syscalls.

Theory of operation
-------------------
State machines are tested best without threads, real time, or a kernel that must be coaxed
into failing. This module gives users the same seams zreactor's own tests use:

* :class:`FakeClock`: a monotonic clock that moves only when told (``advance``).
* :class:`ManualContext`: a :class:`~zreactor.Context` whose I/O threads never start; the
  test calls :meth:`ManualContext.step` to run one iteration of every loop (never blocking),
  so timers fire exactly when the fake clock says and commands are processed in order.
* :class:`ScriptedSyscalls`: a :class:`~zreactor.reactor.syscalls.Syscalls` whose
  ``accept()`` replays a script of sockets and ``OSError`` values (trio's ``FakeSocket``
  idea), whose ``connect()`` replays errno values, and whose descriptor limit and reserve-fd
  opening can be scripted too.

Nothing here patches private methods: every fake enters through a constructor argument.
"""

from __future__ import annotations

import errno
import socket
from collections import deque
from typing import Any, Callable, Iterable, Union

from .context import Context
from .reactor.syscalls import Syscalls

__all__ = [
    "FakeClock",
    "ManualContext",
    "ScriptedSyscalls",
    "os_error",
    "socketpair_factory",
]


class FakeClock:
    """A monotonic clock under the test's control.

    Args:
        start: the initial reading, in seconds.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go backwards")
        self.now += seconds


class ManualContext(Context):
    """A context whose I/O loops run only when :meth:`step` is called, on the caller's thread.

    Args:
        io_threads: number of (unstarted) I/O threads.
        clock: the clock for every poller; defaults to a new :class:`FakeClock`.
        **kwargs: passed to :class:`~zreactor.Context`.
    """

    _start_threads = False

    def __init__(self, io_threads: int = 1, *, clock: Any = None, **kwargs: Any) -> None:
        self.clock = clock if clock is not None else FakeClock()
        super().__init__(io_threads, clock=self.clock, **kwargs)

    def step(self, rounds: int = 1) -> int:
        """Run ``rounds`` non-blocking iterations of every I/O loop; return events handled."""
        handled = 0
        for _ in range(rounds):
            for thread in self.io_threads:
                handled += thread.run_once(max_wait=0)
        return handled

    def advance(self, seconds: float, rounds: int = 3) -> None:
        """Move the fake clock forward and step the loops so due timers fire."""
        self.clock.advance(seconds)
        self.step(rounds)

    def run_until(self, predicate: Callable[[], bool], max_rounds: int = 1000) -> None:
        """Step until ``predicate()`` is true.

        Raises:
            AssertionError: still false after ``max_rounds`` rounds.
        """
        for _ in range(max_rounds):
            if predicate():
                return
            self.step()
        if not predicate():
            raise AssertionError(f"condition still false after {max_rounds} rounds")

    def _wait_commands(self) -> None:
        self.step()
        for command in self.mailbox.drain():
            command.destination.process_term_ack()

    def _join(self, thread: Any) -> None:
        thread.run_once(max_wait=0)  # processes the STOP command


def os_error(code: int) -> OSError:
    """An ``OSError`` for ``code`` with the system's message (``os_error(errno.EMFILE)``)."""
    import os

    return OSError(code, os.strerror(code))


ScriptItem = Union[socket.socket, BaseException, Callable[[], Any]]


class ScriptedSyscalls(Syscalls):
    """Syscalls that replay a script instead of asking the kernel.

    Args:
        accepts: what successive ``accept()`` calls return: a socket (returned with a fake
            peer address), an exception instance (raised), or a zero-argument callable
            (called; its result is handled the same way). When the script runs out,
            ``accept()`` raises ``BlockingIOError`` (EAGAIN), as an empty backlog does.
        connects: errno values successive ``connect()`` calls return (default: real calls).
        nofile: the soft descriptor limit to report (default: the real one).
        reserve_failures: how many coming ``open_reserve()`` calls fail with EMFILE.

    Attributes:
        calls: a log of ``(name, detail)`` tuples for every scripted call, in order.
    """

    def __init__(
        self,
        accepts: Iterable[ScriptItem] = (),
        *,
        connects: Iterable[int] | None = None,
        nofile: int | None = None,
        reserve_failures: int = 0,
    ) -> None:
        self.accepts: deque[ScriptItem] = deque(accepts)
        self.connects: deque[int] | None = deque(connects) if connects is not None else None
        self.nofile = nofile
        self.reserve_failures = reserve_failures
        self.calls: list[tuple[str, Any]] = []

    def push(self, *items: ScriptItem) -> None:
        """Append more results to the accept script."""
        self.accepts.extend(items)

    @property
    def accept_calls(self) -> int:
        """How many times ``accept()`` was called."""
        return sum(1 for name, _ in self.calls if name == "accept")

    def accept(self, listener: socket.socket) -> tuple[socket.socket, Any]:
        """Replay the next scripted accept result."""
        if not self.accepts:
            self.calls.append(("accept", "EAGAIN"))
            raise BlockingIOError(errno.EAGAIN, "scripted: backlog empty")
        item = self.accepts.popleft()
        if callable(item) and not isinstance(item, socket.socket):
            item = item()
        if isinstance(item, BaseException):
            self.calls.append(("accept", errno.errorcode.get(getattr(item, "errno", 0), item)))
            raise item
        self.calls.append(("accept", item.fileno()))
        return item, ("127.0.0.1", 0)

    def connect(self, sock: socket.socket, address: Any) -> int:
        """Replay the next scripted connect errno, or connect for real."""
        if self.connects is None:
            return super().connect(sock, address)
        code = self.connects.popleft() if self.connects else errno.ECONNREFUSED
        self.calls.append(("connect", code))
        return code

    def nofile_limit(self) -> int:
        """The scripted descriptor limit, or the real one."""
        return self.nofile if self.nofile is not None else super().nofile_limit()

    def open_reserve(self) -> int:
        """Open the reserve fd, unless the script says this attempt fails with EMFILE."""
        if self.reserve_failures > 0:
            self.reserve_failures -= 1
            self.calls.append(("open_reserve", "EMFILE"))
            raise os_error(errno.EMFILE)
        fd = super().open_reserve()
        self.calls.append(("open_reserve", fd))
        return fd


def socketpair_factory() -> tuple[socket.socket, socket.socket]:
    """A connected pair for scripts: give the first to ``accepts``, keep the second."""
    return socket.socketpair()
