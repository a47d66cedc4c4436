"""pyzmq's ``zmq.sugar.context``: :class:`zreactor.Context` under pyzmq's module name."""

from __future__ import annotations

from ..context import Context

__all__ = ["Context"]
