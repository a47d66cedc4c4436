"""The listener: accepts connections and hands each to an engine on the least-loaded thread.

Theory of operation
-------------------
A :class:`Listener` owns one listening socket. The socket is created and bound on the
thread that asks for it (so ``bind`` errors surface to the caller, and ``endpoint`` knows the
real port at once); the listener is then launched onto an I/O thread, which polls it.

When the socket is readable the listener accepts a bounded batch of connections
(:meth:`Listener._accept_batch`). For each it calls the user's engine factory and launches
the engine, as the listener's own child, on the least-loaded I/O thread of the context.
The accept path goes only through the :class:`~zreactor.reactor.syscalls.Syscalls` shim, so
tests drive it with a script of sockets and errors.

This is the basic listener: an accept error ends the batch and is reported as an
``ACCEPT_FAILED`` event. It does not yet defend against descriptor exhaustion.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Callable

from .address import Address, format_endpoint, parse_endpoint
from .engine import Engine
from .events import EventKind
from .poller import _FdHandle
from .syscalls import Syscalls

__all__ = ["Listener"]

EngineFactory = Callable[[socket.socket], Engine]


class Listener(Engine):
    """Accepts connections on ``endpoint``; each becomes a child engine made by ``factory``.

    Args:
        endpoint: ``tcp://HOST:PORT`` (port ``0`` or ``*`` picks a free one) or ``ipc://PATH``.
        factory: called with each accepted socket (on the listener's thread); returns the
            engine to drive it. It must not block.
        backlog: the ``listen()`` backlog.
        accept_batch: most connections accepted per readiness event, so one busy listener
            cannot starve the other engines of its thread.
        ipv6: bind ``*`` to IPv6 (dual-stack) instead of IPv4.
        syscalls: the syscall shim; tests inject :class:`zreactor.testing.ScriptedSyscalls`.
    """

    def __init__(
        self,
        endpoint: str,
        factory: EngineFactory,
        *,
        backlog: int = 128,
        accept_batch: int = 64,
        ipv6: bool = False,
        syscalls: Syscalls | None = None,
    ) -> None:
        super().__init__(endpoint)
        if backlog < 0:
            raise ValueError(f"backlog must be >= 0, got {backlog!r}")
        if accept_batch < 1:
            raise ValueError(f"accept_batch must be >= 1, got {accept_batch!r}")
        self.address: Address = parse_endpoint(endpoint, bind=True, ipv6=ipv6)
        self.factory = factory
        self.backlog = backlog
        self.accept_batch = accept_batch
        self.syscalls = syscalls or Syscalls()
        self.sock: socket.socket | None = None
        self._handle: _FdHandle | None = None
        #: connections accepted so far.
        self.accepted = 0
        #: accept() calls that failed.
        self.accept_errors = 0

    # -- binding (caller's thread) ------------------------------------------------------------

    def bind(self, sock: socket.socket | None = None) -> str:
        """Create, bind and listen (on the calling thread); return the bound endpoint.

        Args:
            sock: an already-bound listening socket to adopt instead (for tests and
                socket activation).

        Raises:
            OSError: the address is in use, not permitted, ...
        """
        if sock is None:
            sock = socket.socket(self.address.family, socket.SOCK_STREAM)
            try:
                if self.address.family != socket.AF_UNIX:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    if self.address.family == socket.AF_INET6:
                        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                sock.bind(self.address.sockaddr)
                sock.listen(self.backlog)
            except OSError:
                sock.close()
                raise
        sock.setblocking(False)
        self.sock = sock
        self.endpoint = format_endpoint(self.address.family, sock.getsockname())
        return self.endpoint

    # -- on the I/O thread ----------------------------------------------------------------------

    def attached(self) -> None:
        """Start polling the listening socket."""
        if self.sock is None:
            self.bind()
        assert self.sock is not None
        self.context.fds.track(self.sock)
        self._handle = self.add_fd(self.sock.fileno())
        self.set_pollin(self._handle)
        self.emit(EventKind.LISTENING, self.sock.fileno())

    def readable(self) -> None:
        """The listening socket is readable: accept a batch."""
        self._accept_batch()

    def _accept_batch(self) -> None:
        assert self.sock is not None
        for _ in range(self.accept_batch):
            try:
                with self.context.fds.opening():
                    conn, _peer = self.syscalls.accept(self.sock)
                    self.context.fds.track(conn)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.accept_errors += 1
                self.emit(
                    EventKind.ACCEPT_FAILED,
                    exc.errno or 0,
                    errno=errno.errorcode.get(exc.errno or 0, "?"),
                )
                return
            self._hand_off(conn)

    def _hand_off(self, conn: socket.socket) -> None:
        """Build the connection's engine and launch it on the least-loaded thread."""
        self.accepted += 1
        self.emit(EventKind.ACCEPTED, conn.fileno())
        try:
            engine = self.factory(conn)
        except Exception:
            self.context.fds.close(conn)
            raise
        self.launch_child(engine, self.context.choose_io_thread())

    def release_resources(self) -> None:
        """Close the listening socket (and remove its ipc path)."""
        self._handle = None
        if self.sock is None:
            return
        if self.thread is not None:
            self.context.fds.close(self.sock)
        else:
            self.sock.close()
        self.sock = None
        if self.address.family == socket.AF_UNIX and not self.address.sockaddr.startswith("\0"):
            try:
                os.unlink(self.address.sockaddr)
            except OSError:
                pass
        self.emit(EventKind.CLOSED)
