"""The exception hierarchy.

One base class, :class:`ZReactorError`, so that a caller can catch everything the library
raises on purpose. The messaging layer adds the pyzmq-compatible :class:`ZMQError` family
underneath it, so ``except zmq.ZMQError`` keeps working after ``import zreactor as zmq``.

Errors that describe a single connection (a protocol violation, a peer that vanished) are
reported through engine ``closed(reason)`` hooks and events rather than raised into the
application, because they happen on an I/O thread that has no caller to raise into.
"""

from __future__ import annotations

import errno as _errno
import os


class ZReactorError(Exception):
    """Base class of every exception zreactor raises deliberately."""


class ContextClosedError(ZReactorError):
    """The context was terminated; it cannot start threads, engines or sockets any more."""


class ProtocolError(ZReactorError):
    """A peer sent bytes that break the wire protocol. The connection is dropped.

    Args:
        message: what was wrong, for logs and ``closed(reason)``.
        messages: complete messages a codec decoded *before* the fault, in the same chunk;
            engines deliver them before dropping the connection, so nothing good is lost.
    """

    def __init__(self, message: str = "", messages: list[object] | None = None) -> None:
        super().__init__(message)
        self.messages: list[object] = list(messages or ())


class ZMQError(ZReactorError):
    """pyzmq-compatible error carrying an ``errno``.

    Args:
        errno: the error number (``errno.EAGAIN``, ``zreactor.ETERM``, ...).
        msg: an optional message; defaults to the system's text for ``errno``.
    """

    def __init__(self, errno: int | None = None, msg: str | None = None) -> None:
        self.errno = errno
        self.strerror = msg if msg is not None else _strerror(errno)
        super().__init__(self.strerror)

    def __str__(self) -> str:
        return self.strerror


class Again(ZMQError):
    """The operation would block (EAGAIN): nothing to receive, or the send HWM was reached."""

    def __init__(self, errno: int | None = _errno.EAGAIN, msg: str | None = None) -> None:
        super().__init__(errno, msg or "Resource temporarily unavailable")


#: libzmq's private errno values, as pyzmq exposes them.
ZMQ_HAUSNUMERO = 156384712
EFSM = ZMQ_HAUSNUMERO + 51
ENOCOMPATPROTO = ZMQ_HAUSNUMERO + 52
ETERM = ZMQ_HAUSNUMERO + 53
EMTHREAD = ZMQ_HAUSNUMERO + 54


class ContextTerminated(ZMQError, ContextClosedError):
    """The context was terminated while the call was blocked or before it started (ETERM)."""

    def __init__(self, errno: int | None = ETERM, msg: str | None = None) -> None:
        super().__init__(errno, msg or "Context was terminated")


def _strerror(errno: int | None) -> str:
    if errno is None:
        return "zreactor error"
    special = {
        EFSM: "Operation cannot be accomplished in current state",
        ENOCOMPATPROTO: "The protocol is not compatible with the socket type",
        ETERM: "Context was terminated",
        EMTHREAD: "No thread available",
    }
    if errno in special:
        return special[errno]
    return os.strerror(errno)
