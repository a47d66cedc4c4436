"""The syscall shim: the seam through which tests replace the kernel.

Theory of operation
-------------------
Engines that make decisions from syscall *results* (the listener deciding what an accept()
errno means, the connecter deciding when to retry) do not call the ``socket`` module
directly; they call a :class:`Syscalls` object they were given. Production code uses the
default instance, which is a thin pass-through. Tests hand in
:class:`zreactor.testing.ScriptedSyscalls`, which replays a script of sockets and
``OSError`` values, so that every errno class and every state transition can be driven
deterministically, without mocks and without exhausting real descriptors.

Only the calls whose outcome matters to a state machine live here. Everything else (reading
and writing connected sockets) uses the socket objects directly.
"""

from __future__ import annotations

import os
import resource
import socket
from typing import Any

__all__ = ["Syscalls"]


class Syscalls:
    """Pass-through implementation of the calls engines route through the shim."""

    def accept(self, listener: socket.socket) -> tuple[socket.socket, Any]:
        """``listener.accept()``: a new connected socket and the peer address."""
        return listener.accept()

    def socket(self, family: int, type: int = socket.SOCK_STREAM) -> socket.socket:
        """Create a socket."""
        return socket.socket(family, type)

    def connect(self, sock: socket.socket, address: Any) -> int:
        """Start a non-blocking connect; return 0 or the errno (``connect_ex``)."""
        return sock.connect_ex(address)

    def open_reserve(self) -> int:
        """Open the listener's reserve descriptor (a cheap fd: ``/dev/null``)."""
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)

    def close_fd(self, fd: int) -> None:
        """Close a raw descriptor."""
        os.close(fd)

    def nofile_limit(self) -> int:
        """The soft ``RLIMIT_NOFILE`` (``RLIM_INFINITY`` is reported as a large number)."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return soft if soft != resource.RLIM_INFINITY else 1 << 20
