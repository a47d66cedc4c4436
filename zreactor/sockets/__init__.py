"""The messaging layer: pipes, sessions, socket types, transports, polling and monitoring.

:data:`SOCKET_CLASSES` maps each socket type number to the class implementing it; the
context's ``socket()`` looks types up here. One module per pattern: :mod:`.pair`,
:mod:`.pubsub` (PUB, SUB, XPUB, XSUB), :mod:`.reqrep` (REQ, REP), :mod:`.dealer_router`
(DEALER, ROUTER), :mod:`.pipeline` (PUSH, PULL) and :mod:`.stream` (STREAM: raw tcp/ipc).
"""

from __future__ import annotations

from ..constants import SocketType
from .dealer_router import DealerSocket, RouterSocket
from .pair import PairSocket
from .pipeline import PullSocket, PushSocket
from .pubsub import PubSocket, SubSocket, XPubSocket, XSubSocket
from .reqrep import RepSocket, ReqSocket
from .shadow import forward_to_original
from .socket import Socket
from .stream import StreamSocket

# Imported now rather than at the first bind()/connect() that needs them: an import opens its
# source file, which fails with EMFILE when the process is at its descriptor limit, so a
# lazy import would turn "connect at the limit" into an ImportError-shaped failure (issue 12).
# ``encodings.idna`` is what the socket module imports on the first name resolution.
import encodings.idna  # noqa: E402,F401  isort:skip
from . import transports as _transports  # noqa: E402,F401  isort:skip
from ..zmtp import security as _security  # noqa: E402,F401  isort:skip

__all__ = ["SOCKET_CLASSES", "Socket", "socket_class"]

#: socket type number -> implementation
SOCKET_CLASSES: dict[int, type[Socket]] = {
    SocketType.PAIR: PairSocket,
    SocketType.PUB: PubSocket,
    SocketType.SUB: SubSocket,
    SocketType.REQ: ReqSocket,
    SocketType.REP: RepSocket,
    SocketType.DEALER: DealerSocket,
    SocketType.ROUTER: RouterSocket,
    SocketType.PULL: PullSocket,
    SocketType.PUSH: PushSocket,
    SocketType.XPUB: XPubSocket,
    SocketType.XSUB: XSubSocket,
    SocketType.STREAM: StreamSocket,
}

# ``zmq.Socket.shadow(sock)`` is exactly a ``Socket``: it reads every name a pattern defines
# on its original (see ``sockets/shadow.py``)
forward_to_original(Socket, SOCKET_CLASSES.values())


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
