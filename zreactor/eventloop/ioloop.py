"""The ``zmq.eventloop.ioloop`` shim: tornado's own IOLoop, which needs no zmq integration
since pyzmq 17 (a socket is watched through its fd like any other). Kept so that old code
(``ioloop.install()``, ``ZMQIOLoop``) keeps running; importing it warns."""

from __future__ import annotations

import warnings

from tornado.ioloop import *  # noqa: F401,F403  (the module re-exports tornado's names)
from tornado.ioloop import IOLoop

__all__ = ["IOLoop", "ZMQIOLoop", "install"]

#: pyzmq's old name for its IOLoop subclass; tornado's IOLoop itself now
ZMQIOLoop = IOLoop


def _deprecated() -> None:
    warnings.warn("zreactor.eventloop.ioloop is deprecated: use tornado's IOLoop directly, "
                  "zmq sockets need no special loop", DeprecationWarning, stacklevel=3)


def install() -> None:
    """Does nothing but warn (pyzmq 17 made installing a special loop unnecessary)."""
    _deprecated()


_deprecated()
