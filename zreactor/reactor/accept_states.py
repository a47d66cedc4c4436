"""The accept-error state machine as data: states, triggers, moves, and their diagram.

Theory of operation
-------------------
Rule one: everything that decides *where* a :class:`~zreactor.reactor.listener.Listener`'s
accept path may go, and *what happens on the way in*, lives here, as data: one
:class:`~zreactor.reactor.fsm.Machine`, :data:`ACCEPT`, whose rows name the action each move
runs and the event that announces it, and whose entry actions say what entering SUSPENDED
and FAILED always does. The listener engine does the I/O and calls ``Listener._fire(trigger)``,
which hands the trigger to the machine; it never sets a state, and never decides on
``(state, trigger)`` pairs, by hand. The same machine draws the diagram in
``docs/LISTENER.md`` (:func:`render_mermaid`, the one renderer of :mod:`~.fsm`), and the
tests walk every row, so the code, the picture and the tests cannot drift apart.

The actions are named here and implemented by the listener (and, for REOPENING, by
:mod:`~zreactor.reactor.reopening`): a table of data cannot import the engine it drives.

What each state means, and why each move exists, is told in the listener module's docstring.
This module also holds the knobs' defaults, with the reasoning behind them.

Nothing here touches a socket or a thread.
"""

from __future__ import annotations

import enum
from typing import Any, Callable

from .events import EventKind
from .fsm import Machine, Row
from .fsm import render_mermaid as _render

__all__ = [
    "BACKOFF_MAX",
    "BACKOFF_MIN",
    "DEFAULT_ACCEPT_GRACE",
    "DEFAULT_RECOVERY_TRIES",
    "LOG_QUIET_PERIOD",
    "ACCEPT",
    "ListenerState",
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


def _action(name: str) -> Callable[[Any], object]:
    """An action of the table: calls the listener's method ``name`` (named in the diagram)."""

    def action(listener: Any) -> object:
        return getattr(listener, name)()

    action.__name__ = action.__qualname__ = name.lstrip("_")
    return action


#: Leaving the waiting states: drop their timers and watches, read interest back on.
_resume = _action("_resume")
#: SUSPENDED's entry action: never spin, but hear of every chance to retry.
_wait_for_room = _action("_wait_for_room")
#: GRACE_EXPIRED's action: shed the connections whose grace ran out (``reopening``).
_shed = _action("_shed")
#: RETRY_LATER's action: arm the backoff timer (and a release watch) for another attempt.
_retry_later = _action("_retry_later")
#: FAILED's entry action: stop polling, cancel every timer, close the socket and reserve.
_shut_down = _action("_shut_down")

_A, _S, _R, _F, _C = (
    ListenerState.ACTIVE,
    ListenerState.SUSPENDED,
    ListenerState.REOPENING,
    ListenerState.FAILED,
    ListenerState.CLOSED,
)

#: Every move the accept path may make: ``(state, trigger) -> Row(target, action, event)``.
#: A row's ``data`` is the event that announces the move once its actions ran (``None``: a
#: move nothing outside sees, such as a retry that failed). Entering SUSPENDED always runs
#: ``wait_for_room``, entering FAILED always ``shut_down``; the rest is per row.
#: The docs' state diagram is generated from this machine (:func:`render_mermaid`).
ACCEPT: Machine[ListenerState, Trigger] = Machine(
    "listener",
    _A,
    {
        (_A, Trigger.ROOM): Row(_A),  # a batch ended normally: the hot path does nothing
        (_A, Trigger.CAPACITY): Row(_S, data=EventKind.SUSPENDED),
        (_A, Trigger.BUDGET): Row(_S, data=EventKind.SUSPENDED),
        (_A, Trigger.FATAL): Row(_F, data=EventKind.FAILED),
        (_A, Trigger.CLOSE): Row(_C, data=EventKind.CLOSED),
        (_S, Trigger.ROOM): Row(_A, _resume, EventKind.RESUMED),
        (_S, Trigger.CAPACITY): Row(_S),  # a retry failed: still suspended
        (_S, Trigger.BUDGET): Row(_S),
        # The shedding announces itself once it has run: SHED (with the count) for
        # "reset", REOPENED for "reopen". Its outcome is only known then.
        (_S, Trigger.GRACE_EXPIRED): Row(_R, _shed),
        (_S, Trigger.FATAL): Row(_F, data=EventKind.FAILED),
        (_S, Trigger.CLOSE): Row(_C, data=EventKind.CLOSED),
        (_R, Trigger.ROOM): Row(_A, _resume, EventKind.RESUMED),
        (_R, Trigger.CAPACITY): Row(_S, data=EventKind.SUSPENDED),
        (_R, Trigger.BUDGET): Row(_S, data=EventKind.SUSPENDED),
        (_R, Trigger.RETRY_LATER): Row(_R, _retry_later),
        (_R, Trigger.GAVE_UP): Row(_F, data=EventKind.FAILED),
        (_R, Trigger.FATAL): Row(_F, data=EventKind.FAILED),
        (_R, Trigger.CLOSE): Row(_C, data=EventKind.CLOSED),
        (_F, Trigger.RESTART): Row(_A, _resume, EventKind.LISTENING),
        (_F, Trigger.RESTART_FAILED): Row(_F, data=EventKind.FAILED),
        (_F, Trigger.CLOSE): Row(_C, data=EventKind.CLOSED),
    },
    attr="listener_state",
    entry={_S: _wait_for_room, _F: _shut_down},
)

#: The same machine under its old name: ``TRANSITIONS[(state, trigger)].target``.
TRANSITIONS = ACCEPT


def render_mermaid(machine: Machine[ListenerState, Trigger] = ACCEPT) -> str:
    """The accept machine as a Mermaid ``stateDiagram-v2``, by the one renderer (``fsm``)."""
    return _render(machine)


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
