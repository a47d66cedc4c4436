"""pyzmq's ``zmq.devices``: proxies that make and run their own sockets in the background.

One module per family, with pyzmq's module names (``from zmq.devices import basedevice``
ports unchanged):

- :mod:`.basedevice`: :class:`Device`, :class:`ThreadDevice`, :class:`ProcessDevice`, the
  thread-ownership rule they exist for, and how a socket plan is recorded and run;
- :mod:`.proxydevice`: ``Proxy``, ``ThreadProxy``, ``ProcessProxy`` (with a monitor socket);
- :mod:`.proxysteerabledevice`: ``ProxySteerable`` and its thread/process forms (with a
  control socket);
- :mod:`.monitoredqueue` and :mod:`.monitoredqueuedevice`: ``monitored_queue`` and
  ``MonitoredQueue``, ``ThreadMonitoredQueue``, ``ProcessMonitoredQueue``.

These sit above the messaging layer and use only its public API, as a user's code would.
"""

from __future__ import annotations

from ..constants import DeviceType
from ..proxy import proxy
from . import basedevice, monitoredqueue, monitoredqueuedevice, proxydevice, proxysteerabledevice
from .basedevice import Device, ProcessDevice, ThreadDevice
from .monitoredqueue import monitored_queue
from .monitoredqueuedevice import MonitoredQueue, ProcessMonitoredQueue, ThreadMonitoredQueue
from .proxydevice import ProcessProxy, Proxy, ThreadProxy
from .proxysteerabledevice import ProcessProxySteerable, ProxySteerable, ThreadProxySteerable

__all__ = [
    "Device",
    "DeviceType",
    "MonitoredQueue",
    "ProcessDevice",
    "ProcessMonitoredQueue",
    "ProcessProxy",
    "ProcessProxySteerable",
    "Proxy",
    "ProxySteerable",
    "ThreadDevice",
    "ThreadMonitoredQueue",
    "ThreadProxy",
    "ThreadProxySteerable",
    "monitored_queue",
    "proxy",
]
