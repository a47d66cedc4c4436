"""The accept-error state machine as data: states, triggers, moves, and their diagram.

Theory of operation
-------------------
Rule one: everything that decides *where* a :class:`~zreactor.reactor.listener.Listener`'s
accept path may go lives here, as data. The listener engine does the I/O and calls
``Listener._move(trigger)``, which looks the move up in :data:`TRANSITIONS` and raises on
anything the table does not list; it never sets a state by hand. The same table draws the
diagram in ``docs/LISTENER.md`` (:func:`render_mermaid`), and the tests walk every row, so
the code, the picture and the tests cannot drift apart.

What each state means, and why each move exists, is told in the listener module's docstring.
This module also holds the knobs' defaults, with the reasoning behind them.

Nothing here touches a socket or a thread.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from .events import EventKind

__all__ = [
    "BACKOFF_MAX",
    "BACKOFF_MIN",
    "DEFAULT_ACCEPT_GRACE",
    "DEFAULT_RECOVERY_TRIES",
    "LOG_QUIET_PERIOD",
    "ListenerState",
    "Move",
    "ShedPolicy",
    "TRANSITIONS",
    "Trigger",
    "default_fd_budget",
    "render_mermaid",
]


class ListenerState(enum.Enum):
    """Where a listener's accept path stands (see the module docstring)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REOPENING = "reopening"
    FAILED = "failed"
    CLOSED = "closed"


class Trigger(enum.Enum):
    """What happened, as far as the state machine is concerned."""

    #: An accept batch found room: it took connections, or found the backlog empty.
    ROOM = "room"
    #: ``accept()`` failed with a CAPACITY errno (EMFILE, ENFILE, ENOBUFS, ENOMEM).
    CAPACITY = "capacity"
    #: The framework holds ``max_connections`` descriptors; accept() was not tried.
    BUDGET = "budget"
    #: ``accept()`` failed with a FATAL errno, or one we do not know.
    FATAL = "fatal"
    #: A connection waited ``accept_grace`` seconds while nothing could be accepted.
    GRACE_EXPIRED = "grace expired"
    #: Shedding left the reserve or the listening socket missing; retried on the timer.
    RETRY_LATER = "retry later"
    #: ``recovery_tries`` attempts to re-take the reserve or re-bind all failed.
    GAVE_UP = "gave up"
    #: ``restart()`` bound the address again.
    RESTART = "restart"
    #: ``restart()`` could not bind (or take the reserve).
    RESTART_FAILED = "restart failed"
    #: The listener is being closed.
    CLOSE = "close"


class Move(NamedTuple):
    """One row's outcome: the state to enter and the event that announces it."""

    target: ListenerState
    #: ``None``: a move that changes nothing the user can see (a retry that failed).
    event: EventKind | None


_A, _S, _R, _F, _C = (
    ListenerState.ACTIVE,
    ListenerState.SUSPENDED,
    ListenerState.REOPENING,
    ListenerState.FAILED,
    ListenerState.CLOSED,
)

#: Every move the accept path may make: ``(state, trigger) -> Move(target, event)``.
#: The docs' state diagram is generated from this table (:func:`render_mermaid`).
TRANSITIONS: dict[tuple[ListenerState, Trigger], Move] = {
    (_A, Trigger.ROOM): Move(_A, None),  # a batch ended normally
    (_A, Trigger.CAPACITY): Move(_S, EventKind.SUSPENDED),
    (_A, Trigger.BUDGET): Move(_S, EventKind.SUSPENDED),
    (_A, Trigger.FATAL): Move(_F, EventKind.FAILED),
    (_A, Trigger.CLOSE): Move(_C, EventKind.CLOSED),
    (_S, Trigger.ROOM): Move(_A, EventKind.RESUMED),
    (_S, Trigger.CAPACITY): Move(_S, None),  # a retry failed: still suspended
    (_S, Trigger.BUDGET): Move(_S, None),
    # The shedding policy announces itself once it has run: SHED (with the count) for
    # "reset", REOPENED for "reopen". Its outcome is only known then.
    (_S, Trigger.GRACE_EXPIRED): Move(_R, None),
    (_S, Trigger.FATAL): Move(_F, EventKind.FAILED),
    (_S, Trigger.CLOSE): Move(_C, EventKind.CLOSED),
    (_R, Trigger.ROOM): Move(_A, EventKind.RESUMED),
    (_R, Trigger.CAPACITY): Move(_S, EventKind.SUSPENDED),
    (_R, Trigger.BUDGET): Move(_S, EventKind.SUSPENDED),
    (_R, Trigger.RETRY_LATER): Move(_R, None),
    (_R, Trigger.GAVE_UP): Move(_F, EventKind.FAILED),
    (_R, Trigger.FATAL): Move(_F, EventKind.FAILED),
    (_R, Trigger.CLOSE): Move(_C, EventKind.CLOSED),
    (_F, Trigger.RESTART): Move(_A, EventKind.LISTENING),
    (_F, Trigger.RESTART_FAILED): Move(_F, EventKind.FAILED),
    (_F, Trigger.CLOSE): Move(_C, EventKind.CLOSED),
}


def render_mermaid(transitions: dict[tuple[ListenerState, Trigger], Move] = TRANSITIONS) -> str:
    """Render the transition table as a Mermaid ``stateDiagram-v2`` (for the docs).

    Rows that share a source and a target become one edge, labelled with every trigger.
    """
    edges: dict[tuple[ListenerState, ListenerState], list[str]] = {}
    for (source, trigger), move in transitions.items():
        edges.setdefault((source, move.target), []).append(trigger.value)
    lines = ["stateDiagram-v2", f"    [*] --> {ListenerState.ACTIVE.name}"]
    for (source, target), triggers in edges.items():
        lines.append(f"    {source.name} --> {target.name}: {' / '.join(triggers)}")
    lines.append(f"    {ListenerState.CLOSED.name} --> [*]")
    return "\n".join(lines)


class ShedPolicy(enum.Enum):
    """How a listener tells clients it cannot serve (see the module docstring)."""

    RESET = "reset"
    REOPEN = "reopen"
    NONE = "none"


#: The first retry delay while suspended, in seconds; it doubles up to :data:`BACKOFF_MAX`.
BACKOFF_MIN = 0.005
#: The longest retry delay while suspended, in seconds.
BACKOFF_MAX = 1.0
#: How long a connection may wait, with nothing accepted, before it is shed (seconds).
#: Long enough to ride out a brief spike of descriptor use (a burst of closes frees them
#: within tens to hundreds of milliseconds; the benchmark's spike lasts 200 ms), short
#: enough that a waiting client hears "no" long before its own timeouts (connect/read
#: timeouts are typically many seconds) and can retry elsewhere; it is also TCP's initial
#: retransmission timeout (RFC 6298), the scale on which a client expects to retry.
DEFAULT_ACCEPT_GRACE = 1.0
#: Default number of attempts to re-take the reserve / re-bind before giving up.
DEFAULT_RECOVERY_TRIES = 8
#: Seconds during which a second episode's log lines are folded into a count.
LOG_QUIET_PERIOD = 10.0


def default_fd_budget(nofile: int, headroom: int | None = None) -> int:
    """The default ``max_connections`` for a soft ``RLIMIT_NOFILE`` of ``nofile``.

    The headroom (default: ``nofile // 16``, at least 16 and at most 1024) stays free for
    what the framework does not count: stdio, the pollers' and mailboxes' descriptors, the
    reserve descriptor, and the application's own files, logs and outgoing connections.
    """
    if headroom is None:
        headroom = min(1024, max(16, nofile // 16))
    return max(1, nofile - headroom)
