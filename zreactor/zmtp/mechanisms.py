"""The NULL mechanism, the greeting's mechanism check, and the socket-type rules.

Theory of operation
-------------------
ZMTP names a security mechanism in the greeting and both peers must name the same one (RFC 37:
"If the mechanism that the peer received does not exactly match the mechanism it sent, it MUST
close the connection"). :func:`check_mechanism` turns a mismatch into a
:class:`~.handshake.HandshakeError` that says which side wants what, so the one log line and
the monitor event that report it name the cure ("peer requires the PLAIN security
mechanism").

The NULL handshake is one command each way (RFC 37)::

    null = ready *message | error

Each peer sends READY carrying its properties as soon as it has parsed the other's greeting
(when libzmq's ``null_mechanism_t::next_handshake_command`` runs), then waits for the peer's
READY or ERROR. With a ``ZAP_DOMAIN`` set, libzmq first asks the ZAP handler (mechanism
``NULL``, no credentials) and holds its READY until the answer: 200 sends READY, 400/500 send
ERROR with the code, 300 closes silently. No handler bound: the handshake goes on as if no
domain were set (libzmq without ``ZAP_ENFORCE_DOMAIN``). The peer's READY may arrive while we
wait; it is judged at once and the handshake completes when both READYs have crossed.

The phases (:data:`NULL_TRANSITIONS`)::

    START --start--> READY_SENT | ZAP_WAIT
    ZAP_WAIT --ZAP 200--> READY_SENT          ZAP_WAIT --ZAP refused--> REFUSED
    READY_SENT --READY--> DONE                (a READY while in ZAP_WAIT is kept for later)

The peer's READY is checked like libzmq's ``mechanism_t::check_socket_type`` does it: the
``Socket-Type`` value must be one our type accepts (:data:`COMPATIBLE_PEERS`, RFC 37's table
restricted to the classic socket types), compared case-sensitively. The property *names* are
matched case-insensitively as the RFC asks. One deliberate difference: libzmq accepts a READY
without ``Socket-Type``; we reject it, because the engine above needs the peer's type and every
real ZMTP 3 stack sends it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

from . import commands
from .handshake import (
    COMPATIBLE_PEERS,
    IDENTITY_SENDERS,
    PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH,
    PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND,
    SOCKET_TYPES,
    HandshakeError,
    Mechanism,
    MechanismEvent,
    PeerReady,
    mechanism_machine,
)

__all__ = [
    "COMPATIBLE_PEERS",
    "IDENTITY_SENDERS",
    "MECHANISMS",
    "NULL_TRANSITIONS",
    "SOCKET_TYPES",
    "NullMechanism",
    "NullPhase",
    "PeerReady",
    "check_mechanism",
]

#: Mechanisms zreactor implements, with what each one does.
MECHANISMS = {
    "NULL": "no security",
    "PLAIN": "user name/password authentication (RFC 24)",
    "CURVE": "CurveZMQ encryption and authentication (RFC 26)",
}


def check_mechanism(theirs: str, ours: str = "NULL") -> None:
    """Accept the peer's greeting mechanism ``theirs`` if it is ``ours``, or explain.

    Raises:
        HandshakeError: the names differ (``PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH``).
    """
    if theirs == ours:
        return
    if theirs in MECHANISMS:
        what = f"the {theirs} security mechanism ({MECHANISMS[theirs]})"
    else:
        what = f"unknown security mechanism {theirs!r}"
    raise HandshakeError(
        f"peer requires {what}; this socket uses {ours}"
        + ("" if theirs in MECHANISMS else f" (zreactor implements {', '.join(MECHANISMS)})"),
        PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)


class NullPhase(enum.Enum):
    """Phases of the NULL handshake (module docstring)."""

    START = "start"
    ZAP_WAIT = "waiting for the ZAP handler"
    READY_SENT = "READY sent"
    DONE = "done"
    REFUSED = "refused by ZAP"
    ERROR = "peer ERROR"


_N = NullPhase
NULL_TRANSITIONS = mechanism_machine("NULL mechanism", NullPhase.START, {
    (_N.START, MechanismEvent.SEND_READY): _N.READY_SENT,
    (_N.START, MechanismEvent.ASK_ZAP): _N.ZAP_WAIT,
    (_N.ZAP_WAIT, MechanismEvent.ZAP_OK): _N.READY_SENT,
    (_N.ZAP_WAIT, MechanismEvent.ZAP_REFUSED): _N.REFUSED,
    (_N.ZAP_WAIT, MechanismEvent.GOT_ERROR): _N.ERROR,
    (_N.READY_SENT, MechanismEvent.GOT_READY): _N.DONE,
    (_N.READY_SENT, MechanismEvent.GOT_ERROR): _N.ERROR,
})


class NullMechanism(Mechanism):
    """NULL: properties both ways, optionally after asking the ZAP handler.

    Args: as :class:`~.handshake.Mechanism`; ``zap`` set means a ``ZAP_DOMAIN`` is set.
    """

    name = "NULL"
    number = 0
    MACHINE = NULL_TRANSITIONS

    def __init__(self, socket_type: str, identity: bytes = b"",
                 metadata: Mapping[str, bytes] | None = None, *, zap: Any = None) -> None:
        super().__init__(socket_type, identity, metadata, zap=zap)
        self._early_ready: PeerReady | None = None

    def ready_command(self) -> bytes:
        """Return the body of our READY command."""
        return commands.encode_command(commands.READY, self.properties())

    def start(self) -> None:
        """Queue READY, or first ask the ZAP handler if a domain is set."""
        if self._zap is not None and self._zap.domain:
            self._ask_zap(())
        else:
            self._send_ready()

    def process_command(self, name: bytes, data: bytes) -> PeerReady | Any:
        """Judge READY or ERROR; return the :class:`PeerReady` or the
        :class:`~.events.PeerError` (also recorded on the mechanism)."""
        if name == commands.ERROR:
            self._peer_error(data)
            return self.peer_error
        if name != commands.READY:
            raise HandshakeError(
                f"unexpected {name!r} command during the NULL handshake; expected READY or ERROR",
                PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND)
        if self.peer is not None or self._early_ready is not None:
            raise HandshakeError("peer sent READY twice", PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND)
        peer = self._accept_properties(data, "READY")
        if self.phase is NullPhase.ZAP_WAIT:
            self._early_ready = peer  # judged; completes once the ZAP handler agrees
        else:
            self._move(MechanismEvent.GOT_READY)
            self.peer = peer
            self.complete = self.phase is NullPhase.DONE
        return peer

    def process_zap_reply(self, frames: Sequence[bytes]) -> None:
        """Send READY on 200 (completing if the peer's READY already came); else refuse."""
        if self.phase is not NullPhase.ZAP_WAIT:
            super().process_zap_reply(frames)
        if self._zap_verdict(frames) == 200:
            self._send_ready()

    def zap_unavailable(self) -> None:
        """No handler: go on without one, as libzmq does unless ZAP_ENFORCE_DOMAIN."""
        self._enforced()
        self._move(MechanismEvent.ZAP_OK)
        self._send_ready()

    def _send_ready(self) -> None:
        if self.phase is NullPhase.START:
            self._move(MechanismEvent.SEND_READY)
        self._commands.append(self.ready_command())
        early, self._early_ready = self._early_ready, None
        if early is not None:
            self._move(MechanismEvent.GOT_READY)
            self.peer = early
            self.complete = True
