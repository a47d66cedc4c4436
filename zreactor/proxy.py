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

**Steering** (:func:`proxy_steerable`, libzmq's ``zmq_proxy_steerable``). A ``control``
socket is polled for ``POLLIN`` on every turn and read before anything is forwarded. Its
one-frame commands are libzmq's: ``PAUSE`` (forward nothing until ``RESUME``; only the
control socket is watched meanwhile), ``RESUME``, ``TERMINATE`` (return normally) and
``STATISTICS`` (reply on the control socket with eight native-endian ``uint64`` frames:
messages in, bytes in, messages out, bytes out, for the frontend and then the backend; a
multipart message counts once, with the bytes of all its parts, as in libzmq). libzmq
aborts the process on any other command; here an unknown command is ignored.

:func:`device` is pyzmq's ``zmq.device``: the old name, a proxy whatever the device type.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .constants import PollEvent, SocketOption
from .sockets.poll import Poller
from .sockets.socket import Socket

__all__ = ["device", "proxy", "proxy_steerable"]

#: messages forwarded in one direction before the other direction gets a turn (libzmq's)
BURST = 1000

POLLIN = int(PollEvent.POLLIN)
POLLOUT = int(PollEvent.POLLOUT)
EVENTS = int(SocketOption.EVENTS)


@dataclass
class _Counts:
    """One socket's traffic, as ``STATISTICS`` reports it."""

    msg_in: int = 0
    bytes_in: int = 0
    msg_out: int = 0
    bytes_out: int = 0


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
    _run(frontend, backend, capture, None)


def proxy_steerable(frontend: Socket, backend: Socket, capture: Socket | None = None,
                    control: Socket | None = None) -> None:
    """:func:`proxy`, steered by one-frame commands on ``control`` (see the module docstring).

    Returns when ``TERMINATE`` arrives on ``control``. Without ``control`` it is :func:`proxy`.

    Raises:
        ContextTerminated: the context was terminated.
        ZMQError: a socket was closed under it (ENOTSOCK) or another socket error.
    """
    _run(frontend, backend, capture, control)


def device(device_type: int, frontend: Socket, backend: Socket) -> None:
    """pyzmq's ``zmq.device``: :func:`proxy` (libzmq ignores ``device_type`` since 3.2)."""
    proxy(frontend, backend)


def _run(frontend: Socket, backend: Socket, capture: Socket | None,
         control: Socket | None) -> None:
    counts = {id(frontend): _Counts(), id(backend): _Counts()}
    routes = [(frontend, backend)]
    if backend is not frontend:
        routes.append((backend, frontend))
    poller = Poller()
    paused = False
    while True:
        if control is not None and control.getsockopt(EVENTS) & POLLIN:
            command = control.recv()
            if command == b"TERMINATE":
                return
            if command == b"PAUSE":
                paused = True
            elif command == b"RESUME":
                paused = False
            elif command == b"STATISTICS":
                control.send_multipart(_statistics(counts[id(frontend)], counts[id(backend)]))
            continue  # look at the control socket again before forwarding anything
        wanted: dict[Socket, int] = {}
        if not paused:
            for src, dst in routes:
                src_ready = _forward(src, dst, capture, counts[id(src)], counts[id(dst)])
                if src_ready:  # the destination is full: wait until it has room
                    wanted[dst] = wanted.get(dst, 0) | POLLOUT
                else:  # the source is empty: wait for it
                    wanted[src] = wanted.get(src, 0) | POLLIN
        for sock in (frontend, backend):
            poller.register(sock, wanted.get(sock, 0))
        if control is not None:
            poller.register(control, POLLIN)
        poller.poll()


def _forward(src: Socket, dst: Socket, capture: Socket | None, src_counts: _Counts,
             dst_counts: _Counts) -> bool:
    """Forward up to :data:`BURST` messages; return True if ``src`` still has one waiting."""
    for _ in range(BURST):
        if not src.getsockopt(EVENTS) & POLLIN:
            return False
        # one socket as both ends (a REP echo device) can only write after it read: libzmq
        # does not ask it for POLLOUT first, and neither do we
        if dst is not src and not dst.getsockopt(EVENTS) & POLLOUT:
            return True
        msg = src.recv_multipart()
        dst.send_multipart(msg)
        size = sum(len(part) for part in msg)
        src_counts.msg_in += 1
        src_counts.bytes_in += size
        dst_counts.msg_out += 1
        dst_counts.bytes_out += size
        if capture is not None:
            capture.send_multipart(msg)
    return bool(src.getsockopt(EVENTS) & POLLIN)


def _statistics(front: _Counts, back: _Counts) -> list[bytes]:
    return [struct.pack("=Q", n) for c in (front, back)
            for n in (c.msg_in, c.bytes_in, c.msg_out, c.bytes_out)]
