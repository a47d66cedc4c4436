"""The floor: a request/reply round trip in plain Python, behind the few names ``perf.py`` uses.

Why
---
zreactor is pure Python, so a round trip can never cost less than what Python itself needs
to move a message through the kernel and back: one ``send()`` and one ``recv()`` on each
side, with a length prefix to find the message's end. This module is that and nothing more,
dressed in just enough of pyzmq's API (``Context``, ``socket(REQ|REP)``, ``bind``,
``connect``, ``send``, ``recv``, ``getsockopt(LAST_ENDPOINT)``, ``close``, ``term``) that
``perf.py``'s ``local_lat`` and ``remote_lat`` run it unchanged: ``perf.py --lib naive``.
``messaging.py`` prints its latency beside zreactor's and pyzmq's, and ``instructions.py``
counts its instructions, so the gap between zreactor and the floor is measured in the same
run rather than remembered.

What it leaves out is everything a messaging library is for: no ZMTP greeting or framing, no
I/O thread, no reconnection, no heartbeats, no high-water marks, one peer per socket, and
blocking calls only. It is a yardstick, not a transport; nothing outside ``benchmarks/``
imports it.

Wire format: a 4-byte big-endian length, then the body. Endpoints: ``tcp://127.0.0.1:PORT``
(``*`` for any port) and ``ipc://PATH``; a bound socket accepts exactly one connection, on
its first ``recv()``.
"""

from __future__ import annotations

import os
import socket as _socket
import struct

__all__ = ["Context", "LAST_ENDPOINT", "REP", "REQ", "Socket"]

REQ = 3
REP = 4
LAST_ENDPOINT = 32

_HEADER = struct.Struct(">I")
#: the largest message one ``recv_into`` takes whole
_CHUNK = 256 * 1024


def _address(endpoint: str) -> tuple[int, object]:
    """``(family, address)`` of ``endpoint``."""
    scheme, _, rest = endpoint.partition("://")
    if scheme == "tcp":
        host, _, port = rest.rpartition(":")
        return _socket.AF_INET, (host, 0 if port == "*" else int(port))
    if scheme == "ipc":
        return _socket.AF_UNIX, rest
    raise ValueError(f"naive_zmq: unsupported endpoint {endpoint!r} (tcp:// or ipc://)")


class Socket:
    """One end of a length-prefixed exchange: blocking, one peer, no framing beyond a length."""

    def __init__(self, kind: int) -> None:
        if kind not in (REQ, REP):
            raise ValueError(f"naive_zmq: socket type {kind} (REQ or REP only)")
        self._listener: _socket.socket | None = None
        self._sock: _socket.socket | None = None
        self._endpoint = ""
        self._buf = bytearray(_CHUNK)
        self._view = memoryview(self._buf)
        self._start = self._end = 0

    def bind(self, endpoint: str) -> None:
        """Listen on ``endpoint``; the first ``recv()`` accepts the one peer."""
        family, address = _address(endpoint)
        listener = _socket.socket(family, _socket.SOCK_STREAM)
        if family == _socket.AF_INET:
            listener.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(1)
        self._listener = listener
        if family == _socket.AF_INET:
            host, port = listener.getsockname()
            self._endpoint = f"tcp://{host}:{port}"
        else:
            self._endpoint = endpoint

    def connect(self, endpoint: str) -> None:
        """Connect to a bound peer at ``endpoint`` (it must be listening already)."""
        family, address = _address(endpoint)
        sock = _socket.socket(family, _socket.SOCK_STREAM)
        sock.connect(address)
        self._adopt(sock)

    def _adopt(self, sock: _socket.socket) -> None:
        if sock.family == _socket.AF_INET:
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        self._sock = sock

    def getsockopt(self, option: int) -> str:
        """Only ``LAST_ENDPOINT``: the bound endpoint, its port filled in."""
        if option != LAST_ENDPOINT:
            raise ValueError(f"naive_zmq: option {option} (LAST_ENDPOINT only)")
        return self._endpoint

    def send(self, data: bytes) -> None:
        """Write one message: its length, then its body, in one ``sendall``."""
        assert self._sock is not None, "naive_zmq: send() before a peer"
        self._sock.sendall(_HEADER.pack(len(data)) + data)

    def recv(self) -> bytes:
        """Read one message (blocking); accept the peer first if this end was bound."""
        sock = self._sock
        if sock is None:
            assert self._listener is not None, "naive_zmq: recv() before bind() or connect()"
            accepted, _ = self._listener.accept()
            self._adopt(accepted)
            sock = accepted
        while True:
            start, end = self._start, self._end
            if end - start >= 4:
                (size,) = _HEADER.unpack_from(self._buf, start)
                if size + 4 > _CHUNK:
                    raise ValueError(f"naive_zmq: a message of {size} bytes (at most "
                                     f"{_CHUNK - 4})")
                if end - start >= 4 + size:
                    body = bytes(self._view[start + 4:start + 4 + size])
                    start += 4 + size
                    self._start, self._end = (0, 0) if start == end else (start, end)
                    return body
            if start:
                # a partial message not at the front: move it there before reading on
                self._buf[:end - start] = bytes(self._view[start:end])
                self._start, self._end = start, end = 0, end - start
            got = sock.recv_into(self._view[end:])
            if got == 0:
                raise ConnectionError("naive_zmq: the peer closed the connection")
            self._end = end + got

    def close(self, linger: int | None = None) -> None:
        """Close the connection and the listener; an ipc path bound here is removed."""
        for sock in (self._sock, self._listener):
            if sock is not None:
                sock.close()
        if self._listener is not None and self._endpoint.startswith("ipc://"):
            try:
                os.unlink(self._endpoint[len("ipc://"):])
            except OSError:
                pass
        self._sock = self._listener = None


class Context:
    """A factory of :class:`Socket`; holds nothing."""

    def socket(self, kind: int) -> Socket:
        """A new :class:`Socket` of ``kind`` (``REQ`` or ``REP``)."""
        return Socket(kind)

    def term(self) -> None:
        """Nothing to release."""
