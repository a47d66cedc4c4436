"""Tornado integration (pyzmq's ``zmq.eventloop``): :mod:`.zmqstream`, :mod:`.future`,
:mod:`.ioloop`.

Tornado (6 or later) is an optional dependency, ``pip install zreactor[tornado]``: it is
imported here, so only code that imports this package needs it. Nothing here adds a loop of
its own. Tornado 6 runs on asyncio, and a socket is watched through its wake-up fd with
``IOLoop.add_handler``, the same mechanism :mod:`zreactor.asyncio` uses with ``add_reader``
(read that module for what the fd signals and why every handler re-reads ``EVENTS``).
"""

from __future__ import annotations

from tornado.ioloop import IOLoop

__all__ = ["IOLoop"]
