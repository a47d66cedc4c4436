"""pyzmq's ``zmq.sugar.poll``: :class:`zreactor.Poller` and :func:`zreactor.select`."""

from __future__ import annotations

from ..sockets.poll import Poller, select

__all__ = ["Poller", "select"]
