"""The NULL security mechanism and the socket-type compatibility rules it enforces.

Theory of operation
-------------------
ZMTP names a security mechanism in the greeting and both peers must name the same one (RFC 37:
"If the mechanism that the peer received does not exactly match the mechanism it sent, it MUST
close the connection"). zreactor implements only NULL: no authentication, no encryption.
:func:`check_mechanism` turns any other name into a :class:`ProtocolError` that says so.

The NULL handshake is one command each way (RFC 37)::

    null = ready *message | error

Each peer sends READY carrying its metadata as soon as it has parsed the other's greeting
(that is when libzmq's ``null_mechanism_t::next_handshake_command`` runs), then waits for the
peer's READY or ERROR. Our READY carries, in libzmq's order (``mechanism_t::
add_basic_properties``): ``Socket-Type``; ``Identity``, only from REQ, DEALER and ROUTER
sockets; then any application properties.

The peer's READY is checked like libzmq's ``mechanism_t::check_socket_type`` does it: the
``Socket-Type`` value must be one our type accepts (:data:`COMPATIBLE_PEERS`, RFC 37's table
restricted to the classic socket types), compared case-sensitively. The property *names* are
matched case-insensitively as the RFC asks (libzmq matches them exactly; nobody sends other
spellings). One deliberate difference: libzmq accepts a READY without ``Socket-Type``; we
reject it, because the engine above needs the peer's type and every real ZMTP 3 stack sends it.

Whatever does not parse, or an unexpected command (anything but READY or ERROR while the
handshake runs), is a :class:`ProtocolError`, as in libzmq's
``null_mechanism_t::process_handshake_command``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import ProtocolError
from . import commands
from .events import PeerError

__all__ = [
    "COMPATIBLE_PEERS",
    "IDENTITY_SENDERS",
    "SOCKET_TYPES",
    "NullMechanism",
    "PeerReady",
    "check_mechanism",
]

#: The socket types zreactor's ZMTP codec knows, and which peer types each accepts.
COMPATIBLE_PEERS: Mapping[str, frozenset[str]] = {
    "PAIR": frozenset({"PAIR"}),
    "PUB": frozenset({"SUB", "XSUB"}),
    "XPUB": frozenset({"SUB", "XSUB"}),
    "SUB": frozenset({"PUB", "XPUB"}),
    "XSUB": frozenset({"PUB", "XPUB"}),
    "REQ": frozenset({"REP", "ROUTER"}),
    "REP": frozenset({"REQ", "DEALER"}),
    "DEALER": frozenset({"REP", "DEALER", "ROUTER"}),
    "ROUTER": frozenset({"REQ", "DEALER", "ROUTER"}),
    "PUSH": frozenset({"PULL"}),
    "PULL": frozenset({"PUSH"}),
}

#: Every socket type in :data:`COMPATIBLE_PEERS`.
SOCKET_TYPES: frozenset[str] = frozenset(COMPATIBLE_PEERS)

#: Socket types whose READY carries an ``Identity`` property (libzmq's rule: only these
#: types have a routing id a ROUTER peer could use).
IDENTITY_SENDERS: frozenset[str] = frozenset({"REQ", "DEALER", "ROUTER"})

#: Mechanisms libzmq implements that we do not, with what they would need.
_UNSUPPORTED_MECHANISMS = {
    "PLAIN": "user name/password authentication (RFC 24)",
    "CURVE": "CurveZMQ encryption (RFC 25/26)",
    "GSSAPI": "Kerberos authentication",
}

_SOCKET_TYPE = "socket-type"
_IDENTITY = "identity"


def check_mechanism(name: str) -> None:
    """Accept the peer's greeting mechanism ``name`` or explain why we cannot.

    Raises:
        ProtocolError: ``name`` is not ``"NULL"``.
    """
    if name == "NULL":
        return
    if name in _UNSUPPORTED_MECHANISMS:
        raise ProtocolError(
            f"peer requires the {name} security mechanism ({_UNSUPPORTED_MECHANISMS[name]}); "
            "zreactor implements only NULL")
    raise ProtocolError(
        f"peer announced unknown security mechanism {name!r}; zreactor implements only NULL")


@dataclass(frozen=True, slots=True)
class PeerReady:
    """The peer's READY, validated.

    Attributes:
        socket_type: the peer's ``Socket-Type``.
        identity: the peer's ``Identity``, ``b""`` if absent.
        metadata: all of the peer's properties.
    """

    socket_type: str
    identity: bytes
    metadata: dict[str, bytes]


class NullMechanism:
    """Builds our READY and judges the peer's READY or ERROR.

    Args:
        socket_type: our socket type, one of :data:`SOCKET_TYPES`.
        identity: our routing id; sent only if ``socket_type`` is in
            :data:`IDENTITY_SENDERS`.
        metadata: extra properties for our READY (libzmq's ``ZMQ_METADATA``; the RFC reserves
            names starting with ``X-`` for applications).

    Raises:
        ValueError: unknown socket type.
    """

    __slots__ = ("_extra", "_identity", "socket_type")

    def __init__(self, socket_type: str, identity: bytes = b"",
                 metadata: Mapping[str, bytes] | None = None) -> None:
        if socket_type not in COMPATIBLE_PEERS:
            raise ValueError(
                f"unknown socket type {socket_type!r}; expected one of {sorted(SOCKET_TYPES)}")
        self.socket_type = socket_type
        self._identity = bytes(identity)
        self._extra = dict(metadata or {})

    def ready_command(self) -> bytes:
        """Return the body of our READY command."""
        properties: list[tuple[str, bytes]] = [("Socket-Type", self.socket_type.encode())]
        if self.socket_type in IDENTITY_SENDERS:
            properties.append(("Identity", self._identity))
        properties += self._extra.items()
        return commands.encode_ready(properties)

    def process_command(self, name: bytes, data: bytes) -> PeerReady | PeerError:
        """Judge one command received during the handshake.

        Returns:
            :class:`PeerReady` for a valid READY, :class:`PeerError` for an ERROR.

        Raises:
            ProtocolError: another command, malformed metadata, a missing ``Socket-Type`` or
                one incompatible with ours.
        """
        if name == commands.READY:
            return self._process_ready(data)
        if name == commands.ERROR:
            return PeerError(commands.decode_error(data))
        raise ProtocolError(
            f"unexpected {name!r} command during the NULL handshake; expected READY or ERROR")

    def _process_ready(self, data: bytes) -> PeerReady:
        metadata = commands.decode_metadata(data)
        socket_type: str | None = None
        identity = b""
        for key, value in metadata.items():
            folded = key.lower()
            if folded == _SOCKET_TYPE and socket_type is None:
                socket_type = value.decode("latin-1")
            elif folded == _IDENTITY and not identity:
                identity = value
        if socket_type is None:
            raise ProtocolError("peer's READY has no Socket-Type property")
        accepted = COMPATIBLE_PEERS[self.socket_type]
        if socket_type not in accepted:
            raise ProtocolError(
                f"peer socket type {socket_type!r} is incompatible with our "
                f"{self.socket_type}; {self.socket_type} accepts {', '.join(sorted(accepted))}")
        return PeerReady(socket_type, identity, metadata)
