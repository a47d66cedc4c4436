"""Local port forwarding over a paramiko transport (pyzmq's ``zmq.ssh.forward``).

Theory of operation
-------------------
:func:`forward_tunnel` is what ``ssh -L 127.0.0.1:LPORT:HOST:PORT`` does, for the paramiko
tunnel of :mod:`.tunnel`: a threading TCP server on ``127.0.0.1:LPORT``; for each connection
accepted, one ``direct-tcpip`` channel to ``HOST:PORT`` on the logged-in transport, and a
thread that copies bytes both ways (``select`` on the socket and the channel, which paramiko
gives a file descriptor) until either side closes, then closes both. It runs in the child
process :func:`~zreactor.ssh.tunnel.paramiko_tunnel` starts, until that process is ended.
"""

from __future__ import annotations

import select
import socket
import socketserver
from typing import Any

__all__ = ["forward_tunnel"]

#: bytes copied per read, each way
CHUNK = 1 << 16


class _ForwardServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, lport: int, remote: tuple[str, int], transport: Any) -> None:
        self.remote = remote
        self.transport = transport
        super().__init__(("127.0.0.1", lport), _Forward)


class _Forward(socketserver.BaseRequestHandler):
    """One forwarded connection: a channel to the remote end, bytes copied both ways."""

    server: _ForwardServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            channel = self.server.transport.open_channel(
                "direct-tcpip", self.server.remote, sock.getpeername())
        except Exception:  # refused by the server (paramiko raises its own kinds)
            return
        if channel is None:
            return
        try:
            while True:
                readable, _, _ = select.select([sock, channel], [], [])
                if sock in readable:
                    data = sock.recv(CHUNK)
                    if not data:
                        break
                    channel.sendall(data)
                if channel in readable:
                    data = channel.recv(CHUNK)
                    if not data:
                        break
                    sock.sendall(data)
        except OSError:
            pass  # either side reset: the forward ends
        finally:
            channel.close()
            sock.close()


def forward_tunnel(local_port: int, remote_host: str, remote_port: int, transport: Any) -> None:
    """Serve ``127.0.0.1:local_port``, forwarding each connection to
    ``remote_host:remote_port`` over ``transport`` (a logged-in ``paramiko.Transport``).

    Blocks for ever (the tunnel process is ended to stop it).
    """
    server = _ForwardServer(local_port, (remote_host, remote_port), transport)
    server.serve_forever()
