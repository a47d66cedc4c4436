"""``zreactor.proxy``: libzmq's ``zmq_proxy`` (a blocking two-way forwarder), on the Poller.

Theory of operation
-------------------
A proxy moves whole messages from ``frontend`` to ``backend`` and back, in the calling thread,
until the context is terminated. Like libzmq's, it never blocks one direction on the other:
a message is taken from a socket only when the socket it goes to can take it (``POLLOUT``).
Each turn of the loop

1. forwards, in each direction, up to :data:`BURST` messages while the source has one and
   the destination has room (libzmq's ``proxy_burst``), copying each to ``capture`` if given;
2. then waits, with a :class:`~zreactor.sockets.poll.Poller`, for exactly what would let it
   continue: the source becoming readable if it was empty, the destination becoming
   writable if it was full. It never polls for ``POLLOUT`` on a destination it has nothing
   for, which would spin.

When the context is terminated, the next socket call raises
:class:`~zreactor.ContextTerminated`, and so does ``proxy()``: the same contract as pyzmq's.
"""

from __future__ import annotations

from .constants import PollEvent, SocketOption
from .sockets.poll import Poller
from .sockets.socket import Socket

__all__ = ["proxy"]

#: messages forwarded in one direction before the other direction gets a turn (libzmq's)
BURST = 1000

POLLIN = int(PollEvent.POLLIN)
POLLOUT = int(PollEvent.POLLOUT)
EVENTS = int(SocketOption.EVENTS)


def proxy(frontend: Socket, backend: Socket, capture: Socket | None = None) -> None:
    """Forward messages between ``frontend`` and ``backend`` until the context terminates.

    Args:
        frontend: the socket clients talk to (ROUTER for a broker, XSUB for a forwarder ...).
        backend: the socket workers talk to (DEALER, XPUB ...); may be ``frontend`` itself.
        capture: if given, every forwarded message is also sent here (blocking), as in libzmq.

    Raises:
        ContextTerminated: the context was terminated (this is how a proxy ends).
        ZMQError: a socket was closed under it (ENOTSOCK) or another socket error.
    """
    routes = [(frontend, backend)]
    if backend is not frontend:
        routes.append((backend, frontend))
    poller = Poller()
    while True:
        wanted: dict[Socket, int] = {}
        for src, dst in routes:
            src_ready = _forward(src, dst, capture)
            if src_ready:  # the destination is full: wait until it has room
                wanted[dst] = wanted.get(dst, 0) | POLLOUT
            else:  # the source is empty: wait for it
                wanted[src] = wanted.get(src, 0) | POLLIN
        for sock in (frontend, backend):
            poller.register(sock, wanted.get(sock, 0))
        poller.poll()


def _forward(src: Socket, dst: Socket, capture: Socket | None) -> bool:
    """Forward up to :data:`BURST` messages; return True if ``src`` still has one waiting."""
    for _ in range(BURST):
        if not src.getsockopt(EVENTS) & POLLIN:
            return False
        if not dst.getsockopt(EVENTS) & POLLOUT:
            return True
        msg = src.recv_multipart()
        dst.send_multipart(msg)
        if capture is not None:
            capture.send_multipart(msg)
    return bool(src.getsockopt(EVENTS) & POLLIN)
