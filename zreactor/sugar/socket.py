"""pyzmq's ``zmq.sugar.socket``: :class:`zreactor.Socket` under pyzmq's module name."""

from __future__ import annotations

from ..sockets.socket import Socket

__all__ = ["Socket"]
