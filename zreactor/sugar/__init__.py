"""pyzmq's ``zmq.sugar`` module path: the Python layer over pyzmq's backend.

In pyzmq, ``zmq.sugar.context.Context`` and ``zmq.sugar.socket.Socket`` are the classes
``zmq.Context`` and ``zmq.Socket`` (subclasses of the compiled backend's). Code reaches for
these paths to subclass, to reset ``Context._instance``, or in ``isinstance`` checks. In
zreactor they are the same classes as ``zreactor.Context`` and ``zreactor.Socket``: the
submodules here re-export them under pyzmq's module names and add nothing.
"""

from __future__ import annotations

from . import context, poll, socket, version
from .context import Context
from .poll import Poller, select
from .socket import Socket

__all__ = ["Context", "Poller", "Socket", "context", "poll", "select", "socket", "version"]
