"""What a listener tells the outside world: counters, move history, and its log lines.

Theory of operation
-------------------
A listener lives on one I/O thread, but its users read it from others: a health check wants
the counters, a supervisor waits for ``FAILED``. This module keeps that boundary in one place.

:class:`Ledger`
    The counters and the last moves, behind one lock. The I/O thread is the only writer;
    any thread may take a :meth:`Ledger.snapshot` (an immutable :class:`ListenerStats`, so
    nothing a reader holds changes under it) or block in :meth:`Ledger.wait_for` until the
    accept state (kept on the listener by its machine) is one it wants.
:class:`EpisodeLog`
    The rule for log lines: one line when the listener stops accepting, one when it starts
    again, at most one per kind of note in between, whatever the number of retries; and an
    episode that starts within :data:`~zreactor.reactor.accept_states.LOG_QUIET_PERIOD` of
    the last reported one is not reported at all, only counted and mentioned by the next
    report. A listener flapping at the edge of its budget a hundred times a second must not
    become a hundred log lines a second.

An *episode* runs from leaving ``ACTIVE`` for ``SUSPENDED`` until the listener is ``ACTIVE``
again (or ``FAILED``/``CLOSED``); its time counts as ``suspended_seconds``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .accept_errors import errno_name
from .accept_states import LOG_QUIET_PERIOD, ListenerState, Trigger
from .events import EventKind

__all__ = ["EpisodeLog", "Ledger", "ListenerStats", "MoveRecord", "announce"]

_A, _S, _R, _F = (
    ListenerState.ACTIVE,
    ListenerState.SUSPENDED,
    ListenerState.REOPENING,
    ListenerState.FAILED,
)


@dataclass(frozen=True, slots=True)
class ListenerStats:
    """A consistent snapshot of a listener's counters (safe to read from any thread).

    Attributes:
        state: the accept state when the snapshot was taken.
        accepted: connections accepted and handed to the factory.
        shed: waiting connections reset by the ``reset`` policy.
        skipped: per-connection ``accept()`` errors skipped (ECONNABORTED, ...).
        accept_errors: ``accept()`` calls that failed, of any class.
        episodes: times the listener stopped accepting (left ``ACTIVE`` for ``SUSPENDED``).
        suspended_seconds: total time spent not accepting (``SUSPENDED`` and ``REOPENING``),
            the current stretch included.
        retries: retries made while suspended (timer, descriptor release, arrival).
        reopens: times the ``reopen`` policy bound the socket again.
        failures: times the listener entered ``FAILED``.
        open_fds: descriptors the framework holds (``ctx.fds.open_count``).
        max_connections: the fd budget.
        last_errno: name of the last capacity or fatal errno (``""`` if none yet).
    """

    state: ListenerState
    accepted: int
    shed: int
    skipped: int
    accept_errors: int
    episodes: int
    suspended_seconds: float
    retries: int
    reopens: int
    failures: int
    open_fds: int
    max_connections: int
    last_errno: str


@dataclass(frozen=True, slots=True)
class MoveRecord:
    """One move of the accept state machine, as kept by :meth:`Ledger.history`."""

    time: float
    source: ListenerState
    trigger: Trigger
    target: ListenerState
    errno: int


#: The counters a ledger keeps (the integer fields of :class:`ListenerStats`).
COUNTERS = ("accepted", "shed", "skipped", "accept_errors", "episodes", "retries", "reopens",
            "failures")


class Ledger:
    """Counters and history of one listener. Written by its I/O thread only.

    Args:
        state: reads the accept state (the attribute the listener's machine writes).
        history: how many recent moves to keep.
    """

    def __init__(self, state: Callable[[], ListenerState], history: int = 64) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._state = state
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._suspended_total = 0.0
        self._episode_start: float | None = None
        self._last_errno = 0
        self._history: deque[MoveRecord] = deque(maxlen=history)

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name`` (I/O thread)."""
        with self._cond:
            self._counts[name] += n

    def get(self, name: str) -> int:
        """One counter's current value (any thread)."""
        return self._counts[name]

    def moved(
        self, source: ListenerState, trigger: Trigger, target: ListenerState, code: int, now: float
    ) -> int:
        """Record a move (I/O thread). Returns the episode's length in ms if it just ended."""
        episode_ms = 0
        with self._cond:
            if code:
                self._last_errno = code
            if source is _A and target is _S:
                self._counts["episodes"] += 1
                self._episode_start = now
            elif self._episode_start is not None and target not in (_S, _R):
                episode_ms = int((now - self._episode_start) * 1000)
                self._suspended_total += now - self._episode_start
                self._episode_start = None
            if target is _F and source is not _F:
                self._counts["failures"] += 1
            self._history.append(MoveRecord(now, source, trigger, target, code))
        return episode_ms

    def notify(self) -> None:
        """Wake :meth:`wait_for` callers (I/O thread, once a move's effects are in place)."""
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, states: Iterable[ListenerState], timeout: float | None) -> bool:
        """Block until the state is in ``states``; False on timeout (any thread)."""
        wanted = frozenset(states)
        with self._cond:
            return self._cond.wait_for(lambda: self._state() in wanted, timeout)

    def history(self) -> tuple[MoveRecord, ...]:
        """The most recent moves, oldest first (any thread)."""
        with self._cond:
            return tuple(self._history)

    def snapshot(self, now: float | None, open_fds: int, max_connections: int) -> ListenerStats:
        """An immutable copy of everything (any thread). ``now`` ``None``: not started."""
        with self._cond:
            suspended = self._suspended_total
            if self._episode_start is not None and now is not None:
                suspended += max(0.0, now - self._episode_start)
            return ListenerStats(
                state=self._state(),
                suspended_seconds=suspended,
                open_fds=open_fds,
                max_connections=max_connections,
                last_errno=errno_name(self._last_errno) if self._last_errno else "",
                **self._counts,
            )


class EpisodeLog:
    """Rate-limited log lines for a listener (see the module docstring). I/O thread only.

    Args:
        logger: where the lines go (the ``zreactor`` logger).
        prefix: put before every line (the listener's endpoint).
        quiet: seconds after a reported episode during which new episodes are only counted.
    """

    def __init__(
        self, logger: logging.Logger, prefix: str, quiet: float = LOG_QUIET_PERIOD
    ) -> None:
        self.logger = logger
        self.prefix = prefix
        self.quiet = quiet
        self._reported = False  # the current episode was reported
        self._notes: set[str] = set()
        self._last_report: float | None = None
        self._folded = 0  # episodes not reported since the last report

    def begin(self, now: float, message: str, *args: Any) -> None:
        """An episode starts: WARNING, unless inside the quiet period of the last report."""
        self._notes.clear()
        if self._last_report is not None and now - self._last_report < self.quiet:
            self._folded += 1
            self._reported = False
            return
        more = f" ({self._folded} more episodes since the last report)" if self._folded else ""
        self.logger.warning("%s: " + message + "%s", self.prefix, *args, more)
        self._last_report = now
        self._folded = 0
        self._reported = True

    def note(self, key: str, message: str, *args: Any) -> None:
        """Something happened inside the episode: INFO, once per ``key`` per reported episode."""
        if self._reported and key not in self._notes:
            self._notes.add(key)
            self.logger.info("%s: " + message, self.prefix, *args)

    def end(self, message: str, *args: Any) -> None:
        """The episode is over: INFO if its start was reported."""
        if self._reported:
            self.logger.info("%s: " + message, self.prefix, *args)
        self._reported = False

    def alarm(self, message: str, *args: Any) -> None:
        """Always ERROR (the listener failed: someone has to act); ends the episode."""
        self.logger.error("%s: " + message, self.prefix, *args)
        self._reported = False


def announce(
    listener: Any, episodes: EpisodeLog, kind: EventKind, source: ListenerState,
    trigger: Trigger, code: int, episode_ms: int,
) -> None:
    """Emit the event announcing one move of ``listener``, and log it as ``episodes``
    allows (I/O thread; after the move's actions ran)."""
    detail: dict[str, Any] = {"from": source.name, "trigger": trigger.value}
    if kind is EventKind.SUSPENDED:
        open_fds = listener.pool.fds.open_count
        budget = listener.max_connections
        listener.emit(kind, code, errno=errno_name(code), open_fds=open_fds,
                      max_connections=budget, **detail)
        if source is _A:
            why = (errno_name(code) if trigger is Trigger.CAPACITY
                   else f"fd budget reached ({open_fds}/{budget})")
            episodes.begin(listener.clock(), "not accepting: %s; shedding after %.3g s (%s)",
                           why, listener.accept_grace, listener.shed_policy.value)
    elif kind is EventKind.RESUMED:
        listener.emit(kind, episode_ms, **detail)
        episodes.end("accepting again after %d ms", episode_ms)
    elif kind is EventKind.FAILED:
        listener.emit(kind, code, errno=errno_name(code), **detail)
        episodes.alarm("listener FAILED (%s, %s); refusing connections until restart()",
                       trigger.value, errno_name(code))
    elif kind is EventKind.LISTENING:
        listener.emit(kind, listener.sock.fileno(), **detail)
        episodes.logger.info("%s: listening again after restart()", listener.endpoint)
    else:
        listener.emit(kind, 0, **detail)
