"""pyzmq's ``zmq.ssh``: SSH tunnels to endpoints behind an SSH server (see :mod:`.tunnel`)."""

from __future__ import annotations

from .tunnel import (
    open_tunnel,
    openssh_tunnel,
    paramiko_tunnel,
    select_random_ports,
    ssh_tunnel,
    try_passwordless_ssh,
    tunnel_connection,
)

__all__ = [
    "open_tunnel",
    "openssh_tunnel",
    "paramiko_tunnel",
    "select_random_ports",
    "ssh_tunnel",
    "try_passwordless_ssh",
    "tunnel_connection",
]
