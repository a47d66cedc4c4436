"""Loopback tcp ports for tests that must name a port before anyone binds it.

A test that lets a client dial first, or that binds, unbinds and binds the same address
again, needs a port that stays free until it is bound. A port from ``bind(0)``, once its
probe is closed, does not: it comes from the kernel's ephemeral range, which every
``connect()`` on the machine draws its source port from (and every other ``bind(0)``), so on
a busy machine someone takes it now and then; and a client redialling such a port before
its server binds can even connect to itself (TCP's simultaneous open, when the kernel picks
the port it dials as its source port). Below the ephemeral range only a process that names
the same port can take it.

Where a test can let the binder choose (``tcp://127.0.0.1:*``, or an example's ``--port 0``
and its ``listening`` line), it should: that has no race at all. This module is imported by
its bare name, as ``socket_env`` is (see there).
"""

from __future__ import annotations

import random
import socket

__all__ = ["free_ports"]


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return 49152  # IANA's dynamic range, the default elsewhere


def free_ports(n: int) -> list[int]:
    """``n`` distinct loopback ports nobody has bound now, below the ephemeral range."""
    low = max(_ephemeral_low(), 11000)  # (a range starting lower leaves no safe place)
    rng = random.Random()
    ports: list[int] = []
    while len(ports) < n:
        port = rng.randrange(10000, low)
        if port in ports:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    return ports
