"""The exception hierarchy, pyzmq's ``zmq.error`` included.

One base class, :class:`ZReactorError`, so that a caller can catch everything the library
raises on purpose. Under it sits pyzmq's family with pyzmq's names and shapes, so
``except zmq.ZMQError`` and ``except zmq.Again`` keep working after ``import zreactor as zmq``::

    ZReactorError
     ├── ContextClosedError            (reactor layer: the context is gone)
     ├── ProtocolError                 (a peer broke the wire protocol)
     └── ZMQBaseError                  (pyzmq's base)
          ├── ZMQError (errno, strerror)
          │    ├── Again               EAGAIN
          │    ├── ContextTerminated   ETERM (also a ContextClosedError)
          │    └── InterruptedSystemCall  EINTR (also InterruptedError)
          ├── ZMQBindError             bind_to_random_port found no free port
          └── NotDone                  MessageTracker.wait timed out
    ZMQVersionError (NotImplementedError)   a feature newer than the emulated libzmq

``zreactor.error`` is the same classes under pyzmq's module name.

Errors that describe a single connection (a protocol violation, a peer that vanished) are
reported through engine ``closed(reason)`` hooks and events rather than raised into the
application, because they happen on an I/O thread that has no caller to raise into.
"""

from __future__ import annotations

import errno as _errno
import os

from .constants import Errno

__all__ = [
    "Again",
    "ContextClosedError",
    "ContextTerminated",
    "DescriptorsExhausted",
    "DraftFDWarning",
    "InterruptedSystemCall",
    "NotDone",
    "ProtocolError",
    "ZMQBaseError",
    "ZMQBindError",
    "ZMQError",
    "ZMQVersionError",
    "ZReactorError",
    "strerror",
]

#: libzmq's private errno values, as pyzmq exposes them
ZMQ_HAUSNUMERO = 156384712
EFSM = Errno.EFSM
ENOCOMPATPROTO = Errno.ENOCOMPATPROTO
ETERM = Errno.ETERM
EMTHREAD = Errno.EMTHREAD

#: libzmq's text for its own error numbers (``zmq_strerror``); the rest is the system's
_ZMQ_STRERROR = {
    EFSM: "Operation cannot be accomplished in current state",
    ENOCOMPATPROTO: "The protocol is not compatible with the socket type",
    ETERM: "Context was terminated",
    EMTHREAD: "No thread available",
}


def strerror(errno: int) -> str:
    """The message libzmq gives error number ``errno`` (``zmq.strerror``)."""
    text = _ZMQ_STRERROR.get(errno)
    return text if text is not None else os.strerror(errno)


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


class ZMQBaseError(ZReactorError):
    """Base class of pyzmq's errors (``zmq.ZMQBaseError``)."""


class ZMQError(ZMQBaseError):
    """pyzmq-compatible error carrying an ``errno``.

    Args:
        errno: the error number (``errno.EAGAIN``, ``zreactor.ETERM``, ...); ``None`` when
            there is none (pyzmq would ask libzmq for its last error; there is no such thing).
        msg: an optional message; defaults to :func:`strerror` of ``errno``.
    """

    errno: int | None = None

    def __init__(self, errno: int | None = None, msg: str | None = None) -> None:
        self.errno = errno
        if msg is not None:
            self.strerror = msg
        elif isinstance(errno, int):
            self.strerror = strerror(errno)
        else:
            self.strerror = "zreactor error" if errno is None else str(errno)
        super().__init__(self.strerror)

    def __str__(self) -> str:
        return self.strerror

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self}')"


class Again(ZMQError):
    """The operation would block (EAGAIN): nothing to receive, or the send HWM was reached."""

    def __init__(self, errno: int | str | None = None, msg: str | None = None) -> None:
        super().__init__(_errno.EAGAIN, msg if msg and msg != "ignored" else None)


class ContextTerminated(ZMQError, ContextClosedError):
    """The context was terminated while the call was blocked or before it started (ETERM)."""

    def __init__(self, errno: int | str | None = None, msg: str | None = None) -> None:
        super().__init__(ETERM, msg if msg and msg != "ignored" else None)


class InterruptedSystemCall(ZMQError, InterruptedError):
    """EINTR. zreactor retries interrupted system calls itself; this exists for pyzmq code
    that catches it."""

    def __init__(self, errno: int | str | None = None, msg: str | None = None) -> None:
        super().__init__(_errno.EINTR, msg if msg and msg != "ignored" else None)

    def __str__(self) -> str:
        return f"{self.strerror}: This call should have been retried."


class DescriptorsExhausted(ZMQError, OSError):
    """The call needed a file descriptor and the process (EMFILE) or the system (ENFILE) has
    none left, or the kernel is out of memory for it (ENOBUFS, ENOMEM).

    Both a :class:`ZMQError` (pyzmq-style code catches it) and an :class:`OSError` (code that
    already caught the bare ``OSError`` still does); ``errno`` is the kernel's. Nothing was
    left half-made: close something and call again. See docs/LISTENER.md, "Exhaustion
    beyond accept()".
    """

    def __init__(self, errno: int, msg: str | None = None) -> None:
        text = msg if msg is not None else strerror(errno)
        ZMQError.__init__(self, errno, text)
        OSError.__init__(self, errno, text)  # after: OSError's own init resets both fields


class ZMQBindError(ZMQBaseError):
    """``Socket.bind_to_random_port`` found no free port in its range."""


class NotDone(ZMQBaseError):
    """``MessageTracker.wait`` timed out before the message was done with."""


class ZMQVersionError(NotImplementedError):
    """A feature needs a newer libzmq than the one zreactor emulates (see ``zmq_version``).

    Args:
        min_version: the libzmq version the feature needs (``"4.4"``).
        msg: what the feature is.
    """

    def __init__(self, min_version: str, msg: str = "Feature") -> None:
        from .version import zmq_version

        self.msg = msg
        self.min_version = min_version
        self.version = zmq_version()
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.msg} requires libzmq >= {self.min_version}, have {self.version}"

    def __repr__(self) -> str:
        return f"ZMQVersionError('{self}')"


class DraftFDWarning(RuntimeWarning):
    """pyzmq's warning about ``socket.FD`` on draft sockets; zreactor never emits it (it has
    no draft sockets), it exists so that code filtering it keeps importing."""
