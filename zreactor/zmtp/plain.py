"""PLAIN (RFC 24): a user name and password in clear text, judged by the ZAP handler.

Theory of operation
-------------------
PLAIN authenticates; it does not encrypt. Use it on trusted networks, or under CURVE's
cousin TLS elsewhere. The exchange (RFC 24, with libzmq's checks)::

    client                                  server
    HELLO  username(1+n) password(1+n)  ->
                                            (asks ZAP: mechanism "PLAIN", username, password)
                                        <-  WELCOME          (ZAP 200)
                                        <-  ERROR "400"      (ZAP 400/500; 300: silent close)
    INITIATE  properties                ->
                                        <-  READY  properties

The server queues nothing of its own before the ZAP answer, and if no ZAP handler is bound it
refuses the connection (libzmq 4.3: ``HANDSHAKE_FAILED_NO_DETAIL`` with ``EFAULT``): a PLAIN
server without a handler cannot tell a right password from a wrong one. The password is
compared by the handler (:mod:`zreactor.auth` uses :func:`hmac.compare_digest`), never here.

HELLO must be consumed exactly: libzmq rejects trailing bytes after the password, and so do
we (``MALFORMED_COMMAND_HELLO``). WELCOME must be empty. An ERROR from the server whose reason
is a ZAP status code (``300``/``400``/``500``) is an authentication failure on the client
(libzmq's ``handle_error_reason`` emits ``HANDSHAKE_FAILED_AUTH`` with it).

The phases are :data:`CLIENT_TRANSITIONS` and :data:`SERVER_TRANSITIONS`.
"""

from __future__ import annotations

import enum
import errno
from collections.abc import Mapping, Sequence
from typing import Any

from . import commands
from .handshake import (
    PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO,
    PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME,
    PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND,
    ClientPhase,
    HandshakeError,
    Mechanism,
    MechanismEvent,
    client_machine,
    mechanism_machine,
)

__all__ = [
    "CLIENT_TRANSITIONS",
    "LIBZMQ_ERROR_PREFIX",
    "SERVER_TRANSITIONS",
    "ClientPhase",
    "PlainClient",
    "PlainServer",
    "ServerPhase",
    "decode_hello",
    "encode_hello",
]

HELLO = b"HELLO"
WELCOME = b"WELCOME"
INITIATE = b"INITIATE"
#: How libzmq 4.3 writes a PLAIN ERROR: its ``plain_common.hpp`` spells the prefix
#: ``"\x05ERROR"``, and a C hex escape eats every hex digit after ``\x``, so ``\x05E`` is the
#: single byte 0x5E (``^``): on the wire ``^RROR``, then the reason length and the reason. Its
#: PLAIN client recognises only that form (a well-formed ERROR is UNEXPECTED_COMMAND there), so
#: our server writes it and our client reads both.
LIBZMQ_ERROR_PREFIX = b"^RROR"


def encode_hello(username: bytes, password: bytes) -> bytes:
    """Return the body of a PLAIN HELLO command.

    Raises:
        ValueError: the user name or password is longer than 255 bytes.
    """
    if len(username) > 255 or len(password) > 255:
        raise ValueError("PLAIN user name and password must be at most 255 bytes each")
    return commands.encode_command(
        HELLO, bytes((len(username),)) + username + bytes((len(password),)) + password)


def decode_hello(data: bytes) -> tuple[bytes, bytes]:
    """Return ``(username, password)`` from HELLO data.

    Raises:
        HandshakeError: truncated fields or trailing bytes (``MALFORMED_COMMAND_HELLO``).
    """
    if not data:
        raise HandshakeError("PLAIN HELLO has no user name length",
                             PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO)
    ulen = data[0]
    if 1 + ulen + 1 > len(data):
        raise HandshakeError("PLAIN HELLO user name runs past the end of the command",
                             PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO)
    username = data[1:1 + ulen]
    plen = data[1 + ulen]
    if 2 + ulen + plen != len(data):
        raise HandshakeError("PLAIN HELLO password length does not match the command size",
                             PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO)
    return username, data[2 + ulen:]


class ServerPhase(enum.Enum):
    """Phases of a PLAIN server."""

    WAIT_HELLO = "waiting for HELLO"
    ZAP_WAIT = "waiting for the ZAP handler"
    WELCOME_SENT = "WELCOME sent"
    DONE = "done"
    REFUSED = "refused by ZAP"
    ERROR = "peer ERROR"


_S = ServerPhase
#: the client's phases are :class:`~.handshake.ClientPhase`, shared with CURVE
CLIENT_TRANSITIONS = client_machine("PLAIN client")
SERVER_TRANSITIONS = mechanism_machine("PLAIN server", ServerPhase.WAIT_HELLO, {
    (_S.WAIT_HELLO, MechanismEvent.ASK_ZAP): _S.ZAP_WAIT,
    (_S.WAIT_HELLO, MechanismEvent.GOT_ERROR): _S.ERROR,
    (_S.ZAP_WAIT, MechanismEvent.ZAP_OK): _S.WELCOME_SENT,
    (_S.ZAP_WAIT, MechanismEvent.ZAP_REFUSED): _S.REFUSED,
    (_S.WELCOME_SENT, MechanismEvent.GOT_INITIATE): _S.DONE,
    (_S.WELCOME_SENT, MechanismEvent.GOT_ERROR): _S.ERROR,
})


class PlainClient(Mechanism):
    """The PLAIN client: sends the credentials, then its properties.

    Args:
        username, password: the credentials (``PLAIN_USERNAME``/``PLAIN_PASSWORD``).
        others: as :class:`~.handshake.Mechanism`.
    """

    name = "PLAIN"
    number = 1
    MACHINE = CLIENT_TRANSITIONS

    def __init__(self, socket_type: str, identity: bytes = b"",
                 metadata: Mapping[str, bytes] | None = None, *, username: bytes = b"",
                 password: bytes = b"", zap: Any = None) -> None:
        super().__init__(socket_type, identity, metadata)
        self._hello = encode_hello(bytes(username), bytes(password))

    def split_command(self, body: bytes) -> tuple[bytes, bytes]:
        """Also read libzmq's ``^RROR`` spelling of ERROR (:data:`LIBZMQ_ERROR_PREFIX`)."""
        return _split_libzmq(body)

    def start(self) -> None:
        """Queue HELLO."""
        self._move(MechanismEvent.SEND_HELLO)
        self._commands.append(self._hello)
        self._hello = b""  # the credentials are not kept past their use

    def process_command(self, name: bytes, data: bytes) -> None:
        """WELCOME: send INITIATE; READY: done; ERROR: the server refused us."""
        if name == commands.ERROR:
            self._peer_error(data)
        elif name == WELCOME:
            if data:
                raise HandshakeError("PLAIN WELCOME must be empty",
                                     PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME)
            self._move(MechanismEvent.GOT_WELCOME)
            self._commands.append(commands.encode_command(INITIATE, self.properties()))
        elif name == commands.READY:
            self._move(MechanismEvent.GOT_READY)
            self.peer = self._accept_properties(data, "READY")
            self.complete = True
        else:
            raise HandshakeError(f"unexpected {name!r} command in the PLAIN handshake",
                                 PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND)


def _split_libzmq(body: bytes) -> tuple[bytes, bytes]:
    if body[:5] == LIBZMQ_ERROR_PREFIX:
        return commands.ERROR, body[5:]
    return commands.decode_command(body)


def _libzmq_error(reason: str) -> bytes:
    raw = reason.encode("utf-8")[:255]
    return LIBZMQ_ERROR_PREFIX + bytes((len(raw),)) + raw


class PlainServer(Mechanism):
    """The PLAIN server: asks the ZAP handler, then exchanges properties.

    Args: as :class:`~.handshake.Mechanism`; ``zap`` is required.
    """

    name = "PLAIN"
    number = 1
    MACHINE = SERVER_TRANSITIONS
    as_server = True

    def start(self) -> None:
        """The server waits for HELLO."""

    def split_command(self, body: bytes) -> tuple[bytes, bytes]:
        """Also read libzmq's ``^RROR`` spelling of ERROR."""
        return _split_libzmq(body)

    def _error_command(self, reason: str) -> bytes:
        """ERROR as libzmq's PLAIN client understands it (:data:`LIBZMQ_ERROR_PREFIX`)."""
        return _libzmq_error(reason)

    def process_command(self, name: bytes, data: bytes) -> None:
        """HELLO: ask ZAP; INITIATE: send READY, done."""
        if name == HELLO and self.phase is ServerPhase.WAIT_HELLO:
            username, password = decode_hello(data)
            if self._zap is None:
                self.zap_unavailable()
            self._ask_zap((username, password))
        elif name == INITIATE:
            self._move(MechanismEvent.GOT_INITIATE)  # the table first: is it INITIATE's turn?
            self.peer = self._accept_properties(data, "INITIATE")
            self._commands.append(commands.encode_command(commands.READY, self.properties()))
            self.complete = True
        elif name == commands.ERROR:
            self._peer_error(data)
        else:
            raise HandshakeError(
                f"unexpected {name!r} command in the PLAIN handshake (phase {self.phase.name})",
                PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND)

    def process_zap_reply(self, frames: Sequence[bytes]) -> None:
        """200: send WELCOME; otherwise refuse (ERROR with the code, or silence for 300)."""
        if self.phase is not ServerPhase.ZAP_WAIT:
            super().process_zap_reply(frames)
        if self._zap_verdict(frames) == 200:
            self._commands.append(commands.encode_command(WELCOME))

    def zap_unavailable(self) -> None:
        """A PLAIN server cannot judge a password without a handler: drop the connection."""
        raise HandshakeError(
            "PLAIN server has no ZAP handler bound to inproc://zeromq.zap.01 to check "
            "passwords (start a zreactor.auth authenticator)", None, errno.EFAULT)
