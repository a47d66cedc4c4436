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
import select
import socket
import struct
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .address import Address

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

    def listen_socket(self, address: Address, backlog: int) -> socket.socket:
        """Create a non-blocking socket, bind it to ``address`` and listen.

        ``SO_REUSEADDR`` is set on TCP sockets, so a listener can bind its port again at once
        after closing it (the ``reopen`` shedding policy, ``restart()``).

        Raises:
            OSError: socket creation, bind or listen failed; nothing is left open.
        """
        sock = socket.socket(address.family, socket.SOCK_STREAM)
        try:
            if address.family != socket.AF_UNIX:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if address.family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(address.sockaddr)
            sock.listen(backlog)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    def backlog_pending(self, listener: socket.socket) -> bool:
        """True if a connection waits in ``listener``'s backlog (a zero-timeout poll).

        ``select.poll`` needs no descriptor of its own, which matters: this is asked while
        the process has none to spare.
        """
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(listener.fileno(), select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([listener], [], [], 0)  # pragma: no cover
        return bool(readable)  # pragma: no cover

    def abort_connection(self, sock: socket.socket) -> None:
        """Close ``sock`` with ``SO_LINGER {1, 0}``: the peer gets a RST (ECONNRESET), not FIN.

        A FIN would look like an orderly "no more data", which a client that has not read
        anything yet cannot tell from a server that answered nothing; a reset is unambiguous.
        """
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:  # pragma: no cover - not a socket that lingers (the close still happens)
            pass
        sock.close()

    def nofile_limit(self) -> int:
        """The soft ``RLIMIT_NOFILE`` (``RLIM_INFINITY`` is reported as a large number)."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return soft if soft != resource.RLIM_INFINITY else 1 << 20
