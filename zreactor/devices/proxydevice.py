"""Proxy devices: a :class:`~zreactor.devices.Device` with a third, monitor socket.

Every message forwarded either way is also sent on the monitor socket (``zmq.proxy``'s
``capture``), a PUB by default. ``bind_mon``, ``connect_mon``, ``setsockopt_mon`` and
``bind_mon_to_random_port`` plan it like the other two (see :mod:`.basedevice`).
"""

from __future__ import annotations

from ..constants import SocketType
from ..proxy import proxy
from .basedevice import Device, ProcessDevice, ThreadDevice, _Plan, role_methods

__all__ = ["ProcessProxy", "Proxy", "ThreadProxy"]


class ProxyBase:
    """The monitor-socket part shared by :class:`Proxy`, :class:`ThreadProxy` and
    :class:`ProcessProxy` (put before the launcher class in the bases)."""

    bind_mon, bind_mon_to_random_port, connect_mon, setsockopt_mon = role_methods("mon")

    def __init__(self, in_type: int, out_type: int, mon_type: int = SocketType.PUB) -> None:
        Device.__init__(self, in_type=in_type, out_type=out_type)  # type: ignore[arg-type]
        self.mon_type = mon_type
        self._plans["mon"] = _Plan(mon_type)  # type: ignore[attr-defined]

    def run_device(self) -> None:
        """Forward between in and out, copying every message to mon."""
        sockets = self._setup_sockets()  # type: ignore[attr-defined]
        proxy(sockets["in"], sockets["out"], sockets["mon"])


class Proxy(ProxyBase, Device):
    """A three-socket proxy (in, out, monitor) run in the calling thread."""


class ThreadProxy(ProxyBase, ThreadDevice):
    """A :class:`Proxy` in a background thread."""


class ProcessProxy(ProxyBase, ProcessDevice):
    """A :class:`Proxy` in a background process."""
