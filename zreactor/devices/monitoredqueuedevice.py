"""MonitoredQueue devices: :func:`~zreactor.devices.monitored_queue` as a device.

Like the proxy devices (in, out and a monitor socket planned with ``*_mon``), but the
monitor copies carry a direction prefix and ROUTER-to-ROUTER queues swap routing ids; see
:mod:`.monitoredqueue`.
"""

from __future__ import annotations

from ..constants import SocketType
from .monitoredqueue import monitored_queue
from .proxydevice import ProcessProxy, Proxy, ProxyBase, ThreadProxy

__all__ = ["MonitoredQueue", "ProcessMonitoredQueue", "ThreadMonitoredQueue"]


class MonitoredQueueBase(ProxyBase):
    """The part shared by the MonitoredQueue devices: the two prefixes."""

    def __init__(self, in_type: int, out_type: int, mon_type: int = SocketType.PUB,
                 in_prefix: bytes = b"in", out_prefix: bytes = b"out") -> None:
        ProxyBase.__init__(self, in_type=in_type, out_type=out_type, mon_type=mon_type)
        self._in_prefix = in_prefix
        self._out_prefix = out_prefix

    def run_device(self) -> None:
        """Relay between in and out, copying each message with its prefix to mon."""
        sockets = self._setup_sockets()  # type: ignore[attr-defined]
        monitored_queue(sockets["in"], sockets["out"], sockets["mon"], self._in_prefix,
                        self._out_prefix)


class MonitoredQueue(MonitoredQueueBase, Proxy):
    """A monitored queue run in the calling thread."""


class ThreadMonitoredQueue(MonitoredQueueBase, ThreadProxy):
    """A monitored queue in a background thread."""


class ProcessMonitoredQueue(MonitoredQueueBase, ProcessProxy):
    """A monitored queue in a background process."""
