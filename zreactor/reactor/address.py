"""Endpoint strings (``tcp://host:port``, ``ipc://path``) parsed into socket addresses.

Theory of operation
-------------------
Endpoints follow libzmq's syntax:

* ``tcp://HOST:PORT``: HOST is an IPv4 literal, a bracketed IPv6 literal (``[::1]``), a
  name resolved with ``getaddrinfo``, or ``*`` (every interface; IPv4 unless ``ipv6`` is
  asked for). PORT is a number, or ``*`` / ``0`` for a port the kernel picks.
* ``ipc://PATH``: a Unix domain socket; ``ipc://@NAME`` is Linux's abstract namespace.

Parsing is pure (no sockets are created); name resolution is the one blocking call, and it
runs on the thread that calls :func:`parse_endpoint`. Listeners resolve before they are
launched (a bind to a name that does not resolve fails in the call). Connecters, like
libzmq's, resolve at each connect attempt on their I/O thread (``resolve=False`` checks the
syntax only), so ``connect("tcp://db:5555")`` works before ``db`` exists in DNS and follows it
when its address changes; a failed resolution is a failed attempt, retried with the backoff.

``ipc://`` paths longer than a Unix socket address holds (``IPC_PATH_MAX_LEN``, 107 bytes on
Linux) fail here with ``ENAMETOOLONG``, as libzmq's ``zmq_connect`` does, rather than on the
I/O thread later.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from typing import Any

__all__ = ["IPC_PATH_MAX_LEN", "Address", "format_endpoint", "parse_endpoint"]

#: the longest ipc path, in bytes: ``sizeof(sockaddr_un.sun_path) - 1`` (Linux: 108 - 1)
IPC_PATH_MAX_LEN = 107


@dataclass(frozen=True, slots=True)
class Address:
    """A parsed endpoint.

    Attributes:
        transport: ``"tcp"`` or ``"ipc"``.
        family: ``socket.AF_INET``, ``AF_INET6`` or ``AF_UNIX``.
        sockaddr: what ``bind()`` / ``connect()`` take.
    """

    transport: str
    family: int
    sockaddr: Any

    def endpoint(self) -> str:
        """The endpoint string for this address."""
        return format_endpoint(self.family, self.sockaddr)


def parse_endpoint(endpoint: str, *, bind: bool = False, ipv6: bool = False,
                   resolve: bool = True) -> Address:
    """Parse ``endpoint`` into an :class:`Address`.

    Args:
        endpoint: ``tcp://HOST:PORT`` or ``ipc://PATH``.
        bind: True when the address is for ``bind()`` (``*`` is then allowed as host).
        ipv6: resolve ``*`` and names to IPv6 when possible.
        resolve: False to check the syntax only: a host *name* is then left unresolved, in an
            ``Address`` whose family is ``AF_UNSPEC`` and sockaddr ``(name, port)``.

    Raises:
        ValueError: the endpoint is malformed or uses another transport.
        OSError: the host name cannot be resolved; ``ENAMETOOLONG`` for an ipc path too long.
    """
    if not isinstance(endpoint, str):
        raise TypeError(f"endpoint must be a str, not {type(endpoint).__name__}")
    transport, sep, rest = endpoint.partition("://")
    if not sep or not rest:
        raise ValueError(f"invalid endpoint {endpoint!r}: expected TRANSPORT://ADDRESS")
    if transport == "ipc":
        if rest == "*":
            raise ValueError("ipc://* is not supported; name a path")
        path = "\0" + rest[1:] if rest.startswith("@") else rest
        if len(path.encode("utf-8")) > IPC_PATH_MAX_LEN:
            raise OSError(errno.ENAMETOOLONG, f"ipc path too long ({len(path.encode())} bytes, "
                                              f"at most {IPC_PATH_MAX_LEN}): {endpoint!r}")
        return Address("ipc", socket.AF_UNIX, path)
    if transport != "tcp":
        raise ValueError(f"unsupported transport {transport!r} in {endpoint!r}")
    host, port = _split_host_port(endpoint, rest)
    if host == "*":
        if not bind:
            raise ValueError(f"cannot connect to a wildcard host: {endpoint!r}")
        return (
            Address("tcp", socket.AF_INET6, ("::", port, 0, 0))
            if ipv6
            else Address("tcp", socket.AF_INET, ("0.0.0.0", port))
        )
    if not resolve and not _is_literal(host):
        return Address("tcp", socket.AF_UNSPEC, (host, port))
    family = socket.AF_INET6 if ":" in host else socket.AF_UNSPEC
    if family == socket.AF_UNSPEC and not ipv6:
        family = socket.AF_INET
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(exc.errno, f"cannot resolve {host!r} in {endpoint!r}: {exc}") from exc
    fam, _, _, _, sockaddr = infos[0]
    return Address("tcp", fam, sockaddr)


def _is_literal(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return True
    return False


def _split_host_port(endpoint: str, rest: str) -> tuple[str, int]:
    if rest.startswith("["):
        host, bracket, tail = rest[1:].partition("]")
        if not bracket or not tail.startswith(":"):
            raise ValueError(f"invalid IPv6 endpoint {endpoint!r}: expected [ADDR]:PORT")
        port_text = tail[1:]
    else:
        host, colon, port_text = rest.rpartition(":")
        if not colon or not host:
            raise ValueError(f"invalid tcp endpoint {endpoint!r}: expected tcp://HOST:PORT")
    if port_text == "*":
        return host, 0
    # Digits only: int() would also take " 5", "+5" and "5_555".
    if not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(f"invalid port {port_text!r} in {endpoint!r}")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} out of range in {endpoint!r}")
    return host, port


def format_endpoint(family: int, sockaddr: Any) -> str:
    """Render a socket address as an endpoint string (``getsockname()`` → ``tcp://...``)."""
    if family == socket.AF_UNIX:
        path = sockaddr.decode() if isinstance(sockaddr, bytes) else sockaddr
        return "ipc://" + ("@" + path[1:] if path.startswith("\0") else path)
    if family == socket.AF_INET6:
        return f"tcp://[{sockaddr[0]}]:{sockaddr[1]}"
    return f"tcp://{sockaddr[0]}:{sockaddr[1]}"
