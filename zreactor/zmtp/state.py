"""The ZMTP connection's state machine: states, triggers and the one table of legal moves.

Theory of operation
-------------------
Everything that moves a :class:`~zreactor.zmtp.connection.ZmtpConnection` from one phase to
the next is a :class:`Trigger`, and :data:`TRANSITIONS` lists every legal
``(state, trigger) -> state`` move. :data:`TRANSITIONS` is a
:class:`~zreactor.reactor.fsm.Machine`: the connection changes state only through
``TRANSITIONS.fire(connection, trigger)``, which raises :class:`LocalProtocolError` for a move
the table does not list; the documentation's diagram is generated from the same table by
:func:`render_mermaid` (the fsm helper's one renderer, re-exported here for users of the
sans-I/O package), so the picture cannot drift from the code.

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
from ..reactor.fsm import Machine, render_mermaid

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


_G, _H, _T = State.GREETING, State.HANDSHAKE, State.TRAFFIC

#: Every legal move: ``(state, trigger) -> next state``; CLOSED and FAILED are final.
TRANSITIONS: Machine[State, Trigger] = Machine("ZMTP connection", State.GREETING, {
    (_G, Trigger.PEER_GREETING): State.HANDSHAKE,
    (_G, Trigger.LOCAL_ERROR): State.CLOSED,
    (_G, Trigger.VIOLATION): State.FAILED,
    (_H, Trigger.PEER_READY): State.TRAFFIC,
    (_H, Trigger.PEER_ERROR): State.CLOSED,
    (_H, Trigger.LOCAL_ERROR): State.CLOSED,
    (_H, Trigger.VIOLATION): State.FAILED,
    (_T, Trigger.PEER_ERROR): State.CLOSED,
    (_T, Trigger.LOCAL_ERROR): State.CLOSED,
    (_T, Trigger.VIOLATION): State.FAILED,
}, attr="_state", error=LocalProtocolError)
