"""Transports: ``tcp://`` and ``ipc://`` endpoints for messaging sockets.

Theory of operation
-------------------
``Socket.bind`` and ``Socket.connect`` hand these two transports to this module (``inproc://``
is pipes only, handled by the socket and the context):

:func:`bind`
    parses the endpoint, binds a :class:`~zreactor.reactor.listener.Listener` *on the
    caller's thread* (so ``EADDRINUSE`` and friends surface as :class:`ZMQError` right away,
    and ``last_endpoint`` knows the port the kernel picked), then launches it as a child of
    the socket on the least-loaded I/O thread. Each accepted connection becomes an
    ``ACCEPTED`` :class:`~zreactor.sockets.session.Session`, which hands the socket a pipe once
    the ZMTP handshake is done.
:func:`connect`
    makes a ``CONNECT`` session (which checks the address's syntax now, then resolves and
    dials it from its I/O thread, reconnecting as configured), launches it as the socket's child, and attaches the
    socket's end of its pipe at once unless the pipe is made per connection (``immediate``,
    ROUTER).

Both take a snapshot of the socket's options: later changes affect later endpoints only. A
bind gives its listener zreactor's own options too (``ACCEPT_GRACE``, ``SHED_POLICY``,
``MAX_CONNECTIONS``: :func:`listener_options`), and the socket reaches a bound endpoint's
listener with ``sock.listener(endpoint)``.

Endpoint spelling follows libzmq: ``tcp://*:*`` and ``tcp://HOST:0`` pick a port;
``tcp://[::1]:5555`` is IPv6 (literals are accepted without the ``ipv6`` option, which only
decides what ``*`` and host names resolve to); ``ipc://PATH`` is a Unix socket and
``ipc://@NAME`` Linux's abstract namespace. The key under which the socket remembers a bound
endpoint is the resolved one (``tcp://0.0.0.0:41234``), as in libzmq; ``unbind``/``disconnect``
also accept any spelling that resolves to it (:func:`canonical_endpoint`).

*ipc paths.* libzmq unlinks whatever is at the path before binding, which silently steals the
path from a live listener. We unlink only a *stale* socket file (one nobody accepts on);
binding a path that a live listener holds fails with ``EADDRINUSE``, as a TCP port would. The
listener removes its path when it closes.

Errors: a malformed endpoint is ``EINVAL``; a host that does not resolve is ``ENODEV`` for
bind (libzmq's "no such interface"), while connect accepts it and its connecter keeps
resolving it at each attempt (libzmq's behaviour); an ipc path longer than
``IPC_PATH_MAX_LEN`` is ``ENAMETOOLONG`` for both; bind's own failures keep their
errno (``EADDRINUSE``, ``EACCES``, ``EADDRNOTAVAIL``, ``ENOENT`` for an ipc directory that does
not exist, ...) and are reported as a ``BIND_FAILED`` event too.
"""

from __future__ import annotations

import errno
import os
import socket as _socket
import stat
from typing import TYPE_CHECKING, Any

from ..errors import ZMQError
from ..reactor.address import format_endpoint, parse_endpoint
from ..reactor.events import EventKind, ReactorEvent
from ..constants import ShedPolicyCode
from ..reactor.listener import Listener, ShedPolicy
from .session import Session

if TYPE_CHECKING:
    from .options import Options
    from .socket import Socket

__all__ = ["bind", "canonical_endpoint", "connect", "listener_options"]


def bind(socket: Socket, addr: str) -> tuple[str, Listener]:
    """Listen on ``addr`` for ``socket``; return the resolved endpoint and the listener.

    Raises:
        ZMQError: EINVAL (malformed), ENODEV (unknown host), EADDRINUSE, EACCES, ...
    """
    options = socket.options.copy()
    context = socket.context
    listener: Listener | None = None

    def new_session(conn: _socket.socket) -> Session:
        assert listener is not None
        return Session.accepted(socket, options, listener.endpoint, conn)

    try:
        listener = Listener(addr, new_session, backlog=options.backlog, ipv6=options.ipv6,
                            **listener_options(options))
    except ValueError as exc:
        raise ZMQError(errno.EINVAL, str(exc)) from exc
    except OSError as exc:  # a name that does not resolve; ENAMETOOLONG keeps its errno
        code = errno.ENAMETOOLONG if exc.errno == errno.ENAMETOOLONG else errno.ENODEV
        raise ZMQError(code, str(exc)) from exc
    try:
        if listener.address.family == _socket.AF_UNIX:
            _claim_ipc_path(listener.address.sockaddr)
        with context.fds.opening():
            endpoint = listener.bind()
    except OSError as exc:
        code = exc.errno or errno.EINVAL
        socket.event_bus.emit(ReactorEvent(EventKind.BIND_FAILED, addr, code))
        raise ZMQError(code, f"cannot bind {addr}: {exc.strerror or exc}") from exc
    socket.launch_child(listener, context.choose_io_thread())
    return endpoint, listener


def listener_options(options: Options) -> dict[str, Any]:
    """The :class:`Listener` arguments of zreactor's listener socket options (ms -> s)."""
    return {
        "accept_grace": options.accept_grace / 1000.0,
        "shed_policy": _SHED_POLICIES[options.shed_policy],
        "max_connections": options.max_connections if options.max_connections > 0 else None,
    }


#: ``SHED_POLICY`` values (``zreactor.SHED_RESET`` ...) to the listener's policies
_SHED_POLICIES = {
    ShedPolicyCode.SHED_RESET: ShedPolicy.RESET,
    ShedPolicyCode.SHED_REOPEN: ShedPolicy.REOPEN,
    ShedPolicyCode.SHED_NONE: ShedPolicy.NONE,
}


def connect(socket: Socket, addr: str) -> tuple[str, Session]:
    """Start connecting ``socket`` to ``addr``; return the endpoint key and the session.

    Raises:
        ZMQError: EINVAL (malformed, or the host name does not resolve).
    """
    options = socket.options.copy()
    try:
        session = Session.connecting(socket, options, addr)
    except ValueError as exc:
        raise ZMQError(errno.EINVAL, str(exc)) from exc
    except OSError as exc:  # ENAMETOOLONG: names are resolved later, by the connecter
        raise ZMQError(exc.errno or errno.EINVAL, str(exc)) from exc
    socket.launch_child(session, socket.context.choose_io_thread())
    # after the launch: the pipe's commands to the session need its mailbox
    if session.socket_pipe is not None:
        socket.attach_pipe(session.socket_pipe)
    return addr, session


def canonical_endpoint(addr: str, ipv6: bool = False) -> str | None:
    """The resolved spelling of a tcp endpoint (``tcp://localhost:5555`` ->
    ``tcp://127.0.0.1:5555``, ``tcp://*:5555`` -> ``tcp://0.0.0.0:5555``), or ``None`` if it
    has none (not tcp, a wildcard port, malformed, unresolvable)."""
    if not addr.startswith("tcp://"):
        return None
    try:
        address = parse_endpoint(addr, bind=True, ipv6=ipv6)
    except (ValueError, OSError):
        return None
    if address.sockaddr[1] == 0:
        return None  # tcp://...:* names no particular port
    return format_endpoint(address.family, address.sockaddr)


def _claim_ipc_path(path: str) -> None:
    """Remove a stale Unix socket file at ``path``; refuse one a live listener holds.

    Raises:
        OSError: EADDRINUSE if something accepts on ``path``, or ``path`` is not a socket.
    """
    if path.startswith("\0"):
        return  # the abstract namespace has no files
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(errno.EADDRINUSE, f"{path} exists and is not a socket")
    probe = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        probe.setblocking(False)
        err = probe.connect_ex(path)
    finally:
        probe.close()
    if err == errno.ECONNREFUSED:
        try:
            os.unlink(path)  # nobody listens: a leftover from a process that died
        except FileNotFoundError:
            pass
    elif err != errno.ENOENT:
        raise OSError(errno.EADDRINUSE, f"{path} is in use")
