"""pyzmq's ``zmq.utils.monitor``: decode socket monitor messages.

``from zmq.utils.monitor import recv_monitor_message`` becomes
``from zreactor.utils.monitor import recv_monitor_message``. The implementation, and the
description of the wire format, live in :mod:`zreactor.sockets.monitor`.
"""

from __future__ import annotations

from ..sockets.monitor import parse_monitor_message, recv_monitor_message

__all__ = ["parse_monitor_message", "recv_monitor_message"]
