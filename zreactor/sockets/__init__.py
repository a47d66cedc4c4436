"""The messaging layer: pipes, sessions, socket types, transports, polling and monitoring.

:data:`SOCKET_CLASSES` maps each socket type number to the class implementing it; the
context's ``socket()`` looks types up here.
"""

from __future__ import annotations

from ..constants import SocketType
from .pair import PairSocket
from .socket import Socket

__all__ = ["SOCKET_CLASSES", "Socket", "socket_class"]

#: socket type number -> implementation
SOCKET_CLASSES: dict[int, type[Socket]] = {
    SocketType.PAIR: PairSocket,
}


def socket_class(socket_type: int) -> type[Socket]:
    """The class implementing ``socket_type``.

    Raises:
        ZMQError: EINVAL for an unknown or unsupported type.
    """
    import errno

    from ..errors import ZMQError

    try:
        return SOCKET_CLASSES[int(socket_type)]
    except (KeyError, TypeError, ValueError):
        raise ZMQError(errno.EINVAL, f"unsupported socket type {socket_type!r}") from None
