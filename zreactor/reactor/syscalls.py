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
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import DescriptorsExhausted
from .accept_errors import CAPACITY

if TYPE_CHECKING:
    from .address import Address

__all__ = ["Syscalls", "check_listening", "opening_for", "set_abortive", "unlink_ipc_path"]


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

    def accept_queue_length(self, listener: socket.socket) -> int | None:
        """How many connections wait in ``listener``'s accept queue; ``None``: unknown here.

        Linux: ``getsockopt(TCP_INFO)`` on a socket in ``LISTEN``, where ``tcp_get_info()``
        puts the accept-queue length (``sk_ack_backlog``) in ``tcpi_unacked`` and the
        backlog (``sk_max_ack_backlog``) in ``tcpi_sacked`` (checked on Linux 6.18: three
        connections queued read as 3, one accept later as 2). The BSDs and macOS: the
        ``data`` of an ``EVFILT_READ`` kevent on the listening socket. Unix-domain
        sockets, and other platforms, report ``None``. Needs no descriptor on Linux, which
        matters: this is asked while the process has none to spare.
        """
        if listener.family not in (socket.AF_INET, socket.AF_INET6):
            return None
        if _TCP_INFO is not None:
            try:
                info = listener.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_LEN)
            except OSError:
                return None
            if len(info) < _TCPI_UNACKED + 4 or info[0] != _TCP_LISTEN:
                return None
            return int(struct.unpack_from("I", info, _TCPI_UNACKED)[0])
        return _kqueue_backlog(listener)  # pragma: no cover - BSD and macOS only

    def abort_connection(self, sock: socket.socket) -> None:
        """Close ``sock`` with ``SO_LINGER {1, 0}``: the peer gets a RST (ECONNRESET), not FIN.

        A FIN would look like an orderly "no more data", which a client that has not read
        anything yet cannot tell from a server that answered nothing; a reset is unambiguous.
        """
        set_abortive(sock)
        sock.close()

    def nofile_limit(self) -> int:
        """The soft ``RLIMIT_NOFILE`` (``RLIM_INFINITY`` is reported as a large number)."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return soft if soft != resource.RLIM_INFINITY else 1 << 20


# struct tcp_info (linux/tcp.h): eight one-byte fields, then u32 rto, ato, snd_mss, rcv_mss,
# unacked, ...: tcpi_unacked is at offset 24. TCP_LISTEN is 10 in tcpi_state.
# (FreeBSD also has TCP_INFO, with another layout: only Linux's is read.)
_TCP_INFO: int | None = getattr(socket, "TCP_INFO", None) if sys.platform.startswith("linux") else None
_TCP_INFO_LEN = 104
_TCPI_UNACKED = 24
_TCP_LISTEN = 10


def _kqueue_backlog(listener: socket.socket) -> int | None:  # pragma: no cover - not Linux
    """The backlog length from a one-shot ``EVFILT_READ`` kevent (BSD, macOS); else ``None``.

    Costs a kqueue descriptor for the duration of the call: at the limit it fails with
    EMFILE and the listener falls back to the one stall clock for that look.
    """
    if not hasattr(select, "kqueue"):
        return None
    try:
        kq = select.kqueue()
    except OSError:
        return None
    try:
        event = select.kevent(listener.fileno(), select.KQ_FILTER_READ, select.KQ_EV_ADD)
        ready = kq.control([event], 1, 0)
    except OSError:
        return None
    finally:
        kq.close()
    return int(ready[0].data) if ready else 0


def check_listening(sock: socket.socket) -> None:
    """Refuse a socket that is not a listening stream socket (see accept_errors: EOPNOTSUPP)."""
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"a listener needs a SOCK_STREAM socket, got {sock.type!r}")
    try:
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except (OSError, AttributeError):  # pragma: no cover - no SO_ACCEPTCONN (macOS)
        return
    if not listening:
        raise ValueError("a listener needs a socket that is already listening")


def unlink_ipc_path(address: Address) -> None:
    """Remove the file of an ``ipc://`` path (not an abstract name); harmless if absent."""
    path = address.sockaddr
    if address.family != socket.AF_UNIX or not isinstance(path, str):
        return
    if path and not path.startswith("\0"):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def set_abortive(sock: socket.socket) -> None:
    """``SO_LINGER {1, 0}``: the coming ``close()`` sends a RST and drops unsent data.

    No FIN, so no TIME_WAIT on this side and no CLOSE_WAIT left on the peer's; the price is
    that anything still queued is lost and the peer sees ``ECONNRESET``.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:  # pragma: no cover - not a socket that lingers; the close still happens
        pass


@contextmanager
def opening_for(what: str) -> Iterator[None]:
    """Open a descriptor for ``what``; a capacity errno becomes ``DescriptorsExhausted``.

    Args:
        what: the thing that needed it, for the message ("a socket's mailbox").

    Raises:
        DescriptorsExhausted: the ``OSError`` inside had errno EMFILE, ENFILE, ENOBUFS or
            ENOMEM (other ``OSError``s pass through unchanged).
    """
    try:
        yield
    except DescriptorsExhausted:
        raise
    except OSError as exc:
        if exc.errno not in CAPACITY:
            raise
        raise DescriptorsExhausted(
            exc.errno, f"{exc.strerror or exc}: no descriptor left for {what}") from exc
