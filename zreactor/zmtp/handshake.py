"""The one interface every security mechanism implements, and what they share.

Theory of operation
-------------------
A ZMTP mechanism (NULL, PLAIN, CURVE) is the part of the handshake that comes after the
greeting: a short exchange of commands, maybe a question to the ZAP handler, and for CURVE the
encryption of every frame afterwards. Like the codec around it, a mechanism is sans-I/O: it
never touches a socket, a pipe or a clock. The :class:`~.connection.ZmtpConnection` drives it
with four calls and drains four results after each::

    calls                               results (drained by the connection)
    -----                               -----------------------------------
    start()          peer greeting ok   take_commands()   command bodies to send, in order
    process_command(name, data)         take_zap_request() ZAP frames to ask the handler
    process_zap_reply(frames)           peer_error         the peer's ERROR (PeerError)
    zap_unavailable()                   refused            the status code we refused with
                                        complete, peer     handshake over; peer's properties

The call grammar, which each mechanism's transition table enforces::

    start -> (process_command | process_zap_reply | zap_unavailable)*
          -> complete | refused | peer_error

Every mechanism keeps its phase in one ``enum`` and one module-level table
``{(phase, MechanismEvent): next_phase}`` in a :class:`~zreactor.reactor.fsm.Machine` built by
:func:`mechanism_machine`; :meth:`Mechanism._move` (``MACHINE.fire``) is the only way a phase
changes and raises :class:`HandshakeError` (``PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND``) for a move the
table does not list, so a peer that sends commands out of order is dropped, never obeyed.

*Errors as data.* Whatever the peer does wrong becomes a :class:`HandshakeError` carrying the
``PROTOCOL_ERROR_*`` code libzmq puts in its ``HANDSHAKE_FAILED_PROTOCOL`` monitor event for
the same fault, so a monitor cannot tell us from libzmq. An authentication refusal is not a
protocol error: the server queues ERROR with the ZAP status code (except for 300, which
libzmq answers by closing silently) and sets :attr:`Mechanism.refused`; the engine reports
``HANDSHAKE_FAILED_AUTH`` with that code and closes after flushing.

*Properties.* Each side sends libzmq's "basic properties" in READY (NULL), INITIATE (client)
or READY (server): ``Socket-Type``, then ``Identity`` from REQ, DEALER and ROUTER sockets,
then the application's ``ZMQ_METADATA``. The peer's properties are checked as libzmq's
``mechanism_t::check_socket_type`` does (see :mod:`.mechanisms`).

*Secrets.* Credentials are compared with :func:`hmac.compare_digest`; no mechanism's
``repr`` shows a password or a key, and no log line carries one.
"""

from __future__ import annotations

import enum
import errno as _errno
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ProtocolError
from ..reactor.fsm import Machine
from . import commands
from .events import PeerError
from .frames import BytesLike

__all__ = [
    "COMPATIBLE_PEERS",
    "IDENTITY_SENDERS",
    "SOCKET_TYPES",
    "AuthenticationFailed",
    "ClientPhase",
    "HandshakeError",
    "Mechanism",
    "PeerReady",
    "MechanismEvent",
    "client_machine",
    "failure_log",
    "mechanism_machine",
]

log = logging.getLogger("zreactor")

# libzmq's ZMQ_PROTOCOL_ERROR_* values (zmq.h): the value of HANDSHAKE_FAILED_PROTOCOL.
PROTOCOL_ERROR_ZMTP_UNSPECIFIED = 0x10000000
PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND = 0x10000001
PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE = 0x10000002
PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE = 0x10000003
PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED = 0x10000011
PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE = 0x10000012
PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO = 0x10000013
PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_INITIATE = 0x10000014
PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_ERROR = 0x10000015
PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_READY = 0x10000016
PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME = 0x10000017
PROTOCOL_ERROR_ZMTP_INVALID_METADATA = 0x10000018
PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC = 0x11000001
PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH = 0x11000002
PROTOCOL_ERROR_ZAP_UNSPECIFIED = 0x20000000
PROTOCOL_ERROR_ZAP_MALFORMED_REPLY = 0x20000001
PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID = 0x20000002
PROTOCOL_ERROR_ZAP_BAD_VERSION = 0x20000003
PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE = 0x20000004
PROTOCOL_ERROR_ZAP_INVALID_METADATA = 0x20000005

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

#: Socket types whose properties carry an ``Identity`` (libzmq's rule: only these types have
#: a routing id a ROUTER peer could use).
IDENTITY_SENDERS: frozenset[str] = frozenset({"REQ", "DEALER", "ROUTER"})

_SOCKET_TYPE = "socket-type"
_IDENTITY = "identity"
#: ZAP status codes a refusing server sends in its ERROR (300 closes silently instead).
_ERROR_STATUSES = frozenset({400, 500})
#: ERROR reasons a client reads as an authentication failure (libzmq's handle_error_reason).
AUTH_ERROR_REASONS = {"300": 300, "400": 400, "500": 500}


def _unexpected(message: str) -> HandshakeError:
    return HandshakeError(message, PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND)


def mechanism_machine(name: str, initial: Any, table: Mapping[Any, Any]) -> Machine[Any, Any]:
    """A mechanism's phase machine: state in ``mechanism.phase``; an unlisted move is the
    peer's fault, a :class:`HandshakeError` with ``UNEXPECTED_COMMAND``."""
    return Machine(name, initial, table, attr="phase", error=_unexpected)


class HandshakeError(ProtocolError):
    """The peer broke the mechanism's grammar or its cryptography.

    Attributes:
        code: libzmq's ``PROTOCOL_ERROR_*`` value for the fault (the value of the
            ``HANDSHAKE_FAILED_PROTOCOL`` monitor event), or ``None`` where libzmq reports
            ``HANDSHAKE_FAILED_NO_DETAIL`` instead (with :attr:`errno`, e.g. no ZAP handler
            for PLAIN: ``EFAULT``).
        errno: the value of that ``HANDSHAKE_FAILED_NO_DETAIL`` event.
    """

    def __init__(self, message: str, code: int | None = PROTOCOL_ERROR_ZMTP_UNSPECIFIED,
                 errno: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.errno = errno


class AuthenticationFailed(ProtocolError):
    """Authentication failed: the ZAP handler refused the peer, or the peer refused us.

    Not retried (like every protocol error). The engine reports ``HANDSHAKE_FAILED_AUTH``
    with :attr:`status`.

    Attributes:
        status: the ZAP status code, 300, 400 or 500.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class MechanismEvent(enum.Enum):
    """What moves a mechanism between its phases (the events of every mechanism's table)."""

    START = "peer greeting accepted"
    SEND_HELLO = "HELLO sent"
    GOT_HELLO = "HELLO received"
    SEND_WELCOME = "WELCOME sent"
    GOT_WELCOME = "WELCOME received"
    SEND_INITIATE = "INITIATE sent"
    GOT_INITIATE = "INITIATE received"
    SEND_READY = "READY sent"
    GOT_READY = "READY received"
    ASK_ZAP = "ZAP request sent"
    ZAP_OK = "ZAP 200 (or no handler, where allowed)"
    ZAP_REFUSED = "ZAP 300/400/500"
    GOT_ERROR = "ERROR received"


class ClientPhase(enum.Enum):
    """Phases of a PLAIN or CURVE client: both speak HELLO, WELCOME, INITIATE, READY."""

    START = "start"
    HELLO_SENT = "HELLO sent"
    INITIATE_SENT = "INITIATE sent"
    DONE = "done"
    ERROR = "peer ERROR"


def client_machine(name: str) -> Machine[Any, Any]:
    """The phase machine of a PLAIN or CURVE client (``name``: the diagram's title): HELLO
    sent, WELCOME answered with INITIATE, READY; a peer ERROR in either wait ends it."""
    c, e = ClientPhase, MechanismEvent
    return mechanism_machine(name, c.START, {
        (c.START, e.SEND_HELLO): c.HELLO_SENT,
        (c.HELLO_SENT, e.GOT_WELCOME): c.INITIATE_SENT,
        (c.HELLO_SENT, e.GOT_ERROR): c.ERROR,
        (c.INITIATE_SENT, e.GOT_READY): c.DONE,
        (c.INITIATE_SENT, e.GOT_ERROR): c.ERROR,
    })


@dataclass(frozen=True, slots=True)
class PeerReady:
    """The peer's properties, validated.

    Attributes:
        socket_type: the peer's ``Socket-Type``.
        identity: the peer's ``Identity``, ``b""`` if absent.
        metadata: all of the peer's properties.
    """

    socket_type: str
    identity: bytes
    metadata: dict[str, bytes]


class Mechanism:
    """The base of every mechanism: the interface of the module docstring and the shared
    property and ZAP helpers.

    Args:
        socket_type: our socket type, one of :data:`SOCKET_TYPES`.
        identity: our routing id; sent only if ``socket_type`` is in :data:`IDENTITY_SENDERS`.
        metadata: extra properties (libzmq's ``ZMQ_METADATA``).
        zap: for a server, how to ask the ZAP handler (``None``: a client, or no ZAP).

    Raises:
        ValueError: unknown socket type.

    Attributes:
        complete: the handshake is over; :attr:`peer` holds the peer's properties.
        refused: the ZAP status code we refused the peer with, else ``None``.
        peer_error: the peer's ERROR, else ``None``.
        user_id: the ZAP handler's user id for the peer (``b""`` without ZAP).
        zap_metadata: the ZAP handler's metadata for the peer.
    """

    #: the name in the greeting
    name: ClassVar[str] = ""
    #: libzmq's ``ZMQ_MECHANISM`` value (``NULL`` 0, ``PLAIN`` 1, ``CURVE`` 2)
    number: ClassVar[int] = 0
    #: the phase machine (:func:`mechanism_machine`)
    MACHINE: ClassVar[Machine[Any, MechanismEvent] | None] = None
    #: True if frames are boxed after the handshake (CURVE)
    encrypts: ClassVar[bool] = False
    #: the greeting's as-server byte
    as_server: bool = False

    def __init__(self, socket_type: str, identity: bytes = b"",
                 metadata: Mapping[str, bytes] | None = None, *, zap: Any = None) -> None:
        if socket_type not in COMPATIBLE_PEERS:
            raise ValueError(
                f"unknown socket type {socket_type!r}; expected one of {sorted(SOCKET_TYPES)}")
        self.socket_type = socket_type
        self._identity = bytes(identity)
        self._extra = dict(metadata or {})
        self._zap = zap
        self._commands: list[bytes] = []
        self._zap_request: list[bytes] | None = None
        self.phase: Any = self.MACHINE.initial if self.MACHINE is not None else None
        self.complete = False
        self.peer: PeerReady | None = None
        self.refused: int | None = None
        self.peer_error: PeerError | None = None
        self.user_id = b""
        self.zap_metadata: dict[str, bytes] = {}

    def __repr__(self) -> str:
        # never the credentials or keys: only what a log line may show
        phase = getattr(self.phase, "name", self.phase)
        return f"<{type(self).__name__} {self.socket_type} {phase}>"

    # -- the interface (module docstring) -------------------------------------------------

    def start(self) -> None:
        """The peer's greeting was accepted: queue our first command, if we speak first."""
        raise NotImplementedError

    def process_command(self, name: bytes, data: bytes) -> None:
        """Judge one handshake command from the peer.

        Raises:
            HandshakeError: an unexpected or malformed command, failed cryptography,
                incompatible properties.
        """
        raise NotImplementedError

    def process_zap_reply(self, frames: Sequence[bytes]) -> None:
        """The ZAP handler answered our request.

        Raises:
            HandshakeError: no request was outstanding, or the reply is malformed.
        """
        raise HandshakeError("unexpected ZAP reply", PROTOCOL_ERROR_ZAP_UNSPECIFIED)

    def zap_unavailable(self) -> None:
        """No ZAP handler is bound: decide as libzmq does for this mechanism.

        Raises:
            HandshakeError: this mechanism cannot go on without one.
        """
        raise HandshakeError("no ZAP handler is bound to inproc://zeromq.zap.01")

    def take_commands(self) -> list[bytes]:
        """Return and forget the command bodies queued since the last call."""
        out, self._commands = self._commands, []
        return out

    def take_zap_request(self) -> list[bytes] | None:
        """Return and forget the ZAP request queued since the last call, if any."""
        request, self._zap_request = self._zap_request, None
        return request

    def split_command(self, body: bytes) -> tuple[bytes, bytes]:
        """Split a handshake command body into ``(name, data)`` (a mechanism may know a
        peer's dialect; see :class:`~.plain.PlainClient`).

        Raises:
            ProtocolError: the body is not a command.
        """
        return commands.decode_command(body)

    def _error_command(self, reason: str) -> bytes:
        """The ERROR this mechanism sends to refuse the peer."""
        return commands.encode_error(reason)

    def encrypt_frame(self, flags: int, body: bytes) -> BytesLike:
        """Box one frame (``MORE``/``COMMAND`` in ``flags``) into a MESSAGE command, returned
        as the whole wire frame (encrypting mechanisms only)."""
        raise NotImplementedError

    def encrypt_messages(self, messages: Sequence[Sequence[bytes]]) -> tuple[BytesLike, int]:
        """Box every frame of many messages: ``(their wire frames, their body bytes)``
        (encrypting only; the batch form of :meth:`encrypt_frame`)."""
        raise NotImplementedError

    def decrypt(self, body: bytes) -> tuple[int, bytes]:
        """Open one MESSAGE command body into ``(zmtp_flags, body)`` (encrypting only)."""
        raise NotImplementedError

    def label_frames(self, kind: Callable[[Any], bytes]) -> bool:
        """Build the frames of received messages with ``kind`` (a ``bytes`` subclass that
        carries the connection's metadata) from now on, if this mechanism builds them.

        Returns:
            True if it does (encrypting mechanisms, which make every frame anew as its box
            opens, so the label costs nothing more); False if the caller must label them.
        """
        return False

    def decrypt_spans(self, buffer: bytearray, spans: Sequence[tuple[int, int, int]],
                      partial: list[bytes]) -> tuple[list[Any], list[bytes], int]:
        """Open the wire frames at ``spans`` of ``buffer`` (the result of
        :meth:`~.frames.FrameDecoder.spans_received`; their bytes may be overwritten) and
        assemble messages, with the result of :meth:`~.frames.FrameDecoder.feed_messages`
        (encrypting only; the batch form of :meth:`decrypt`)."""
        raise NotImplementedError

    # -- shared helpers ---------------------------------------------------------------------

    def _move(self, event: MechanismEvent) -> None:
        """Take the table's move for ``event`` from the current phase, or reject the peer."""
        assert self.MACHINE is not None
        self.MACHINE.fire(self, event)

    def properties(self) -> bytes:
        """Our basic properties, encoded (libzmq's ``add_basic_properties``)."""
        properties: list[tuple[str, bytes]] = [("Socket-Type", self.socket_type.encode())]
        if self.socket_type in IDENTITY_SENDERS:
            properties.append(("Identity", self._identity))
        properties += self._extra.items()
        return commands.encode_metadata(properties)

    def _accept_properties(self, data: bytes, command: str) -> PeerReady:
        """Decode and check the peer's properties (``Socket-Type`` compatible with ours).

        Raises:
            HandshakeError: malformed properties (``INVALID_METADATA``), a missing or
                incompatible ``Socket-Type``.
        """
        try:
            metadata = commands.decode_metadata(data, command=command)
        except ProtocolError as exc:
            raise HandshakeError(str(exc), PROTOCOL_ERROR_ZMTP_INVALID_METADATA) from None
        socket_type: str | None = None
        identity = b""
        for key, value in metadata.items():
            folded = key.lower()
            if folded == _SOCKET_TYPE and socket_type is None:
                socket_type = value.decode("latin-1")
            elif folded == _IDENTITY and not identity:
                identity = value
        if socket_type is None:
            raise HandshakeError(f"peer's {command} has no Socket-Type property",
                                 PROTOCOL_ERROR_ZMTP_INVALID_METADATA)
        accepted = COMPATIBLE_PEERS[self.socket_type]
        if socket_type not in accepted:
            raise HandshakeError(
                f"peer socket type {socket_type!r} is incompatible with our "
                f"{self.socket_type}; {self.socket_type} accepts {', '.join(sorted(accepted))}",
                PROTOCOL_ERROR_ZMTP_INVALID_METADATA)
        return PeerReady(socket_type, identity, metadata)

    def _peer_error(self, data: bytes) -> None:
        """Record the peer's ERROR (the connection closes; status codes mean auth failed)."""
        try:
            reason = commands.decode_error(data)
        except ProtocolError as exc:
            raise HandshakeError(str(exc), PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_ERROR) from None
        self._move(MechanismEvent.GOT_ERROR)
        self.peer_error = PeerError(reason)

    def _enforced(self) -> None:
        """``ZAP_ENFORCE_DOMAIN`` with no handler bound: refuse, as libzmq does (EFAULT)."""
        if self._zap is not None and self._zap.enforce:
            raise HandshakeError(
                "ZAP_ENFORCE_DOMAIN is set and no ZAP handler is bound to "
                "inproc://zeromq.zap.01", None, _errno.EFAULT)

    def _ask_zap(self, credentials: Sequence[bytes]) -> None:
        """Queue a ZAP request for the peer (``self._zap`` must be set)."""
        from .zap import encode_request  # zap imports this module

        self._move(MechanismEvent.ASK_ZAP)
        self._zap_request = encode_request(self._zap, self.name.encode(), credentials)

    def _zap_verdict(self, frames: Sequence[bytes]) -> int:
        """Judge a ZAP reply; record user id and metadata; queue ERROR on 400/500.

        Returns:
            the status code. On 200 the caller continues the handshake; otherwise
            :attr:`refused` is set and the handshake is over.
        """
        from .zap import parse_reply

        reply = parse_reply(frames)
        if reply.status == 200:
            self._move(MechanismEvent.ZAP_OK)
            self.user_id = reply.user_id
            self.zap_metadata = reply.metadata
            return 200
        self._move(MechanismEvent.ZAP_REFUSED)
        if reply.status in _ERROR_STATUSES:
            self._commands.append(self._error_command(str(reply.status)))
        self.refused = reply.status
        return reply.status


#: Seconds during which the same failure on the same endpoint is logged once.
FAILURE_LOG_INTERVAL = 30.0
_logged: dict[tuple[str, str], float] = {}
_logged_lock = threading.Lock()


def failure_log(endpoint: str, reason: BaseException,
                clock: Any = time.monotonic) -> bool:
    """Log a handshake failure as one warning, at most once per endpoint and reason per
    :data:`FAILURE_LOG_INTERVAL` (a client retrying a wrong password every 100 ms must not
    flood the log). Returns True if it logged. Any I/O thread.
    """
    kind = type(reason).__name__
    key = (endpoint, f"{kind}:{reason}")
    now = clock()
    with _logged_lock:
        last = _logged.get(key)
        if last is not None and now - last < FAILURE_LOG_INTERVAL:
            return False
        if len(_logged) > 1024:
            _logged.clear()
        _logged[key] = now
    log.warning("zreactor: handshake with %s failed: %s", endpoint or "peer", reason)
    return True
