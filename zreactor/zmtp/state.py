"""The ZMTP connection's state machine: states, triggers and the one table of legal moves.

Theory of operation
-------------------
Everything that moves a :class:`~zreactor.zmtp.connection.ZmtpConnection` from one phase to
the next is a :class:`Trigger`, and :data:`TRANSITIONS` lists every legal
``(state, trigger) -> state`` move. The connection changes state only through its
``_transition(trigger)`` method, which raises :class:`LocalProtocolError` for a move the table
does not list; the documentation's diagram is generated from the same table by
:func:`render_mermaid`, so the picture cannot drift from the code.

The phases::

    GREETING   our greeting is queued; waiting for the peer's 64 bytes
    HANDSHAKE  peer greeting parsed, our READY queued; waiting for the peer's READY or ERROR
    TRAFFIC    both READYs crossed: messages and commands flow both ways
    CLOSED     an ERROR command was sent or received; input is ignored, sending is refused
    FAILED     the peer broke the protocol; every later receive_data() raises again

The peer cannot make us take an illegal move: every byte it sends either fits a row of the
table or is a protocol violation (trigger ``VIOLATION``). Illegal moves can only come from the
local side, e.g. ``send_error()`` on a closed connection, hence :class:`LocalProtocolError`.
"""

from __future__ import annotations

import enum

from ..errors import ZReactorError

__all__ = [
    "TRANSITIONS",
    "LocalProtocolError",
    "State",
    "Trigger",
    "render_mermaid",
]


class LocalProtocolError(ZReactorError):
    """The local side asked for something ZMTP does not allow now or for this socket type.

    Examples: sending a message before :class:`~zreactor.zmtp.events.HandshakeComplete`,
    ``send_subscribe()`` on a PUSH connection, anything on a closed connection. This is a bug
    in the caller, never something the peer can cause (that is
    :class:`~zreactor.errors.ProtocolError`).
    """


class State(enum.Enum):
    """Phases of a ZMTP connection (see the module docstring)."""

    GREETING = "greeting"
    HANDSHAKE = "handshake"
    TRAFFIC = "traffic"
    CLOSED = "closed"
    FAILED = "failed"


class Trigger(enum.Enum):
    """What moves the connection between states."""

    #: The peer's 64-byte greeting arrived and was accepted.
    PEER_GREETING = "peer greeting"
    #: The peer's READY arrived and was accepted.
    PEER_READY = "peer READY"
    #: The peer sent an ERROR command.
    PEER_ERROR = "peer ERROR"
    #: We sent an ERROR command.
    LOCAL_ERROR = "send_error()"
    #: The peer's bytes broke the protocol.
    VIOLATION = "protocol violation"


#: Every legal move: ``TRANSITIONS[state][trigger]`` is the next state.
TRANSITIONS: dict[State, dict[Trigger, State]] = {
    State.GREETING: {
        Trigger.PEER_GREETING: State.HANDSHAKE,
        Trigger.LOCAL_ERROR: State.CLOSED,
        Trigger.VIOLATION: State.FAILED,
    },
    State.HANDSHAKE: {
        Trigger.PEER_READY: State.TRAFFIC,
        Trigger.PEER_ERROR: State.CLOSED,
        Trigger.LOCAL_ERROR: State.CLOSED,
        Trigger.VIOLATION: State.FAILED,
    },
    State.TRAFFIC: {
        Trigger.PEER_ERROR: State.CLOSED,
        Trigger.LOCAL_ERROR: State.CLOSED,
        Trigger.VIOLATION: State.FAILED,
    },
    State.CLOSED: {},
    State.FAILED: {},
}


def render_mermaid() -> str:
    """Return :data:`TRANSITIONS` as a Mermaid ``stateDiagram-v2`` for the documentation."""
    lines = ["stateDiagram-v2", f"    [*] --> {State.GREETING.name}"]
    for source, moves in TRANSITIONS.items():
        for trigger, target in moves.items():
            lines.append(f"    {source.name} --> {target.name}: {trigger.value}")
        if not moves:
            lines.append(f"    {source.name} --> [*]")
    return "\n".join(lines) + "\n"
