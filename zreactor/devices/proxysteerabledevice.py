"""Steerable proxy devices: a proxy device with a fourth, control socket.

The control socket takes libzmq's commands (``PAUSE``, ``RESUME``, ``TERMINATE``,
``STATISTICS``; see :func:`zreactor.proxy_steerable`); ``TERMINATE`` ends the device cleanly.
``bind_ctrl``, ``connect_ctrl``, ``setsockopt_ctrl`` and ``bind_ctrl_to_random_port`` plan
it. Without a control socket type the device is a plain proxy device.
"""

from __future__ import annotations

from ..constants import SocketType
from ..proxy import proxy_steerable
from .basedevice import _Plan, role_methods
from .proxydevice import ProcessProxy, Proxy, ProxyBase, ThreadProxy

__all__ = ["ProcessProxySteerable", "ProxySteerable", "ThreadProxySteerable"]


class ProxySteerableBase(ProxyBase):
    """The control-socket part shared by the steerable proxy devices."""

    bind_ctrl, bind_ctrl_to_random_port, connect_ctrl, setsockopt_ctrl = role_methods("ctrl")

    def __init__(self, in_type: int, out_type: int, mon_type: int = SocketType.PUB,
                 ctrl_type: int | None = None) -> None:
        ProxyBase.__init__(self, in_type, out_type, mon_type)
        self.ctrl_type = ctrl_type
        if ctrl_type is not None:
            self._plans["ctrl"] = _Plan(ctrl_type)  # type: ignore[attr-defined]

    def run_device(self) -> None:
        """Forward between in and out, copying to mon, steered by ctrl."""
        sockets = self._setup_sockets()  # type: ignore[attr-defined]
        proxy_steerable(sockets["in"], sockets["out"], sockets["mon"], sockets.get("ctrl"))


class ProxySteerable(ProxySteerableBase, Proxy):
    """A steerable proxy run in the calling thread."""


class ThreadProxySteerable(ProxySteerableBase, ThreadProxy):
    """A steerable proxy in a background thread."""


class ProcessProxySteerable(ProxySteerableBase, ProcessProxy):
    """A steerable proxy in a background process."""
