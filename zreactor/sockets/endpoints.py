"""Endpoints of a socket: ``bind``, ``connect``, ``unbind``, ``disconnect``.

Theory of operation
-------------------
This is one concept of :class:`~zreactor.sockets.socket.Socket`, kept in its own module and
mixed into the socket class (:class:`Endpoints` holds no state of its own: the socket's
``_endpoints`` map is created by ``Socket.__init__``). Everything here runs on the socket's
thread, like the rest of the socket API.

*What an endpoint is.* ``_endpoints`` maps each endpoint string, as reported in
``last_endpoint`` (the real port after ``tcp://*:*``), to the objects serving it:

* a bound ``tcp://`` / ``ipc://`` endpoint: its listener (a child of the socket);
* a connected one: the socket's end of the session's pipe, then the session (a child);
* ``inproc://``: nothing for a bind (the context's registry knows the name), the socket's end
  of the pipe for a connect.

*Dropping one.* ``unbind``/``disconnect`` first run pending commands (an ``OWN`` command
from launching the child may still be queued, and ``term_child`` must know the child, as in
libzmq's ``term_endpoint``), then terminate children through the ownership tree and pipes
through their termination handshake. The socket's pipe end is listed before the session, so
it is terminated first and the session still delivers what was queued, within linger.

*What ``bind``/``connect`` return* is pyzmq's :class:`SocketContext`: ignore it, or use it
in a ``with`` block that unbinds (disconnects) on exit. Addresses may be ``str`` or UTF-8
``bytes``; anything else is a ``TypeError``, and every failure names the endpoint, from the
call itself (an ipc path too long is ``ENAMETOOLONG`` here, not an I/O thread's traceback).

*Transports.* ``inproc://`` pipes are made by the context's registry; ``tcp://`` and
``ipc://`` go through :mod:`zreactor.sockets.transports` (imported when first used, since it
imports the listener and session machinery the inproc-only user never needs).
"""

from __future__ import annotations

import contextlib
import errno
import random
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import ZMQBindError, ZMQError
from .pipe import Pipe

if TYPE_CHECKING:
    from ..context import Context
    from ..reactor.listener import Listener
    from ..reactor.mailbox import Mailbox
    from .options import Options

__all__ = ["Endpoints", "SocketContext", "endpoint_str"]


def endpoint_str(addr: Any) -> str:
    """``addr`` as a str: str as is, bytes decoded from UTF-8 (pyzmq accepts both).

    Raises:
        TypeError: anything else (pyzmq's message).
    """
    if isinstance(addr, str):
        return addr
    if isinstance(addr, (bytes, bytearray)):
        return bytes(addr).decode("utf-8")
    raise TypeError(f"Expected addr to be str, got addr={addr!r}")


@contextlib.contextmanager
def _naming(addr: str) -> Iterator[None]:
    """Append ``(addr='...')`` to a ``ZMQError`` raised inside, as pyzmq's bind/connect do."""
    try:
        yield
    except ZMQError as exc:
        if addr not in exc.strerror:
            exc.strerror += f" (addr={addr!r})"
            exc.args = (exc.strerror,)
        raise


class SocketContext:
    """What ``bind``/``connect`` return: a context manager that unbinds/disconnects on exit.

    Attributes:
        socket: the socket. kind: ``"bind"`` or ``"connect"``. addr: the endpoint (for a bind,
        the resolved one, so ``tcp://127.0.0.1:0`` unbinds the port it got).
    """

    def __init__(self, socket: Any, kind: str, addr: str) -> None:
        self.socket = socket
        self.kind = kind
        self.addr = addr

    def __enter__(self) -> Any:
        return self.socket

    def __exit__(self, *exc_info: object) -> None:
        if self.socket.closed:
            return
        if self.kind == "bind":
            self.socket.unbind(self.addr)
        else:
            self.socket.disconnect(self.addr)

    def __repr__(self) -> str:
        return f"<SocketContext({self.kind}={self.addr!r})>"


class Endpoints:
    """The endpoint methods of a socket (a mixin of :class:`~zreactor.sockets.socket.Socket`)."""

    if TYPE_CHECKING:  # provided by Socket
        context: Context
        options: Options
        mailbox: Mailbox
        _endpoints: dict[str, list[Any]]
        _pipes: list[Pipe]

        def _check_usable(self) -> None: ...
        def _process_commands(self) -> None: ...
        def xpipe_terminated(self, pipe: Pipe) -> None: ...
        def term_child(self, child: Any) -> None: ...

    def bind(self, addr: str | bytes) -> SocketContext:
        """Bind to ``tcp://``, ``ipc://`` or ``inproc://`` address.

        Returns:
            a :class:`SocketContext` (``with sock.bind(addr): ...`` unbinds on exit).

        Raises:
            TypeError: ``addr`` is not str or bytes.
            ZMQError: EADDRINUSE, EINVAL (malformed), EPROTONOSUPPORT (unknown transport),
                ENAMETOOLONG (ipc path).
        """
        addr = endpoint_str(addr)
        with _naming(addr):
            return self._bind(addr)

    def _bind(self, addr: str) -> SocketContext:
        transport, rest = self._endpoint_prelude(addr)
        if transport == "inproc":
            self.context.inproc.bind(rest, self)
            self._endpoints.setdefault(addr, [])
            self.options.last_endpoint = addr
            return SocketContext(self, "bind", addr)
        from . import transports

        endpoint, listener = transports.bind(self, addr)
        self._endpoints.setdefault(endpoint, []).append(listener)
        self.options.last_endpoint = endpoint
        return SocketContext(self, "bind", endpoint)

    def listener(self, endpoint: str | None = None) -> Listener:
        """The listener serving a bound ``tcp://`` or ``ipc://`` endpoint of this socket.

        Its accept state (``listener_state``), ``stats()``, ``wait_failed()``,
        ``wait_state()`` and ``restart()`` are safe to use from any thread; see
        docs/LISTENER.md.

        Args:
            endpoint: as given to, or reported by, ``bind`` (default: ``last_endpoint``).

        Raises:
            ZMQError: ENOENT if this socket has no such bound endpoint.
        """
        from ..reactor.listener import Listener
        from .transports import canonical_endpoint

        key = endpoint if endpoint is not None else self.options.last_endpoint
        for spelling in (key, canonical_endpoint(key, self.options.ipv6)):
            for child in self._endpoints.get(spelling or "", ()):
                if isinstance(child, Listener):
                    return child
        raise ZMQError(errno.ENOENT, f"no listener bound at {key!r} on this socket")

    def _endpoint_prelude(self, addr: str) -> tuple[str, str]:
        """What bind and connect do first: check the socket, run pending commands, and split
        ``addr`` into a supported transport and the rest.

        Raises:
            ZMQError: EINVAL (malformed), EPROTONOSUPPORT (unknown transport).
        """
        self._check_usable()
        if self.mailbox.maybe_pending:
            self._process_commands()
        transport, sep, rest = addr.partition("://")
        if not sep or not rest:
            raise ZMQError(errno.EINVAL, f"invalid endpoint {addr!r}")
        if transport not in ("inproc", "tcp", "ipc"):
            raise ZMQError(errno.EPROTONOSUPPORT, f"transport {transport!r} is not supported")
        return transport, rest

    def bind_to_random_port(self, addr: str, min_port: int = 49152, max_port: int = 65536,
                            max_tries: int = 100) -> int:
        """Bind ``addr`` (``tcp://HOST``) to a random port in ``[min_port, max_port)``.

        Raises:
            ZMQBindError: ``max_tries`` ports were all in use (pyzmq's error).
            ZMQError: any other bind failure, at once.
        """
        if min_port == 49152 and max_port == 65536:
            self.bind(f"{addr}:*")
            return int(self.options.last_endpoint.rsplit(":", 1)[1])
        for _ in range(max_tries):
            port = random.randrange(min_port, max_port)
            try:
                self.bind(f"{addr}:{port}")
            except ZMQError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            return port
        raise ZMQBindError(f"Could not bind socket to a random port in [{min_port}, {max_port}) "
                           f"after {max_tries} tries")

    def connect(self, addr: str | bytes) -> SocketContext:
        """Connect to ``tcp://``, ``ipc://`` or ``inproc://`` address (asynchronously).

        A host name is resolved when connecting, and again at each reconnection: one that
        does not resolve yet is retried with the reconnect backoff (``CONNECT_RETRIED`` on
        the monitor), as libzmq does.

        Returns:
            a :class:`SocketContext` (``with sock.connect(addr): ...`` disconnects on exit).

        Raises:
            TypeError: ``addr`` is not str or bytes.
            ZMQError: EINVAL (malformed), EPROTONOSUPPORT (unknown transport), ENAMETOOLONG
                (ipc path).
        """
        addr = endpoint_str(addr)
        with _naming(addr):
            return self._connect(addr)

    def _connect(self, addr: str) -> SocketContext:
        transport, rest = self._endpoint_prelude(addr)
        if transport == "inproc":
            pipe = self.context.inproc.connect(rest, self)
            self.options.connect_routing_id = b""  # it named this connection only (libzmq's)
            self._endpoints.setdefault(addr, []).append(pipe)
            self.options.last_endpoint = addr
            return SocketContext(self, "connect", addr)
        from . import transports

        endpoint, session = transports.connect(self, addr)
        self.options.connect_routing_id = b""  # it named this connection only (libzmq's)
        objs = self._endpoints.setdefault(endpoint, [])
        if session.socket_pipe is not None:
            # listed first: disconnect() terminates our end before the session (as libzmq),
            # so the session still delivers what we queued, within linger
            objs.append(session.socket_pipe)
        objs.append(session)
        self.options.last_endpoint = endpoint
        return SocketContext(self, "connect", endpoint)

    def unbind(self, addr: str | bytes) -> None:
        """Stop listening on ``addr`` (as given to, or reported by, ``bind``).

        Raises:
            ZMQError: ENOENT if the socket is not bound there.
        """
        addr = endpoint_str(addr)
        self._check_usable()
        if addr.startswith("inproc://"):
            if addr not in self._endpoints:
                raise ZMQError(errno.ENOENT, f"not bound to {addr}")
            self.context.inproc.unbind(addr[len("inproc://"):], self)
            self._drop_endpoint(addr)
            return
        self._drop_endpoint(addr)

    def disconnect(self, addr: str | bytes) -> None:
        """Stop connecting to ``addr``; queued messages to it are dropped.

        Raises:
            ZMQError: ENOENT if the socket is not connected there.
        """
        addr = endpoint_str(addr)
        self._check_usable()
        self._drop_endpoint(addr)

    def _drop_endpoint(self, addr: str) -> None:
        # OWN commands from launch_child() may still be queued: run them, or term_child()
        # would not know the child yet (libzmq's term_endpoint does the same)
        self._process_commands()
        objs = self._endpoints.pop(addr, None)
        if objs is None and addr.startswith("tcp://"):
            # another spelling of a tcp endpoint (tcp://localhost:N, tcp://*:N), as libzmq
            from .transports import canonical_endpoint

            key = canonical_endpoint(addr, self.options.ipv6)
            objs = self._endpoints.pop(key, None) if key is not None else None
        if objs is None:
            raise ZMQError(errno.ENOENT, f"no such endpoint: {addr}")
        for obj in objs:
            if not isinstance(obj, Pipe):
                self.term_child(obj)
            elif obj.peer is None or obj.peer.sink is None:
                self.context.inproc.cancel_pending(obj)
                self._drop_unbound_pipe(obj)
            else:
                obj.terminate(False)

    def _drop_unbound_pipe(self, pipe: Pipe) -> None:
        """Forget a pipe whose other end was never attached (nobody to hand-shake with)."""
        self.xpipe_terminated(pipe)
        if pipe in self._pipes:
            self._pipes.remove(pipe)
