"""``monitored_queue``: a two-way queue that copies each message, prefixed, to a monitor.

pyzmq's function (a C loop in its Cython backend, Python on PyPy). It differs from
``proxy(in, out, mon)`` in two ways:

- every copy on the monitor socket starts with a frame naming its direction
  (``in_prefix`` for messages that arrived on ``in_socket``, ``out_prefix`` for the others),
  so one subscriber can tell requests from replies;
- when *both* sockets are ROUTERs, the first two frames (the sender's and the addressee's
  routing ids) are swapped as the message passes, so a ROUTER-to-ROUTER queue routes
  replies back: a client sends ``[worker_id, '', body]`` and the worker receives
  ``[client_id, '', body]``.

It blocks, sending as it receives (a full peer stalls it, as in pyzmq), and ends with
:class:`~zreactor.ContextTerminated` when the context is terminated.
"""

from __future__ import annotations

from ..constants import PollEvent, SocketType
from ..sockets.poll import Poller
from ..sockets.socket import Socket

__all__ = ["monitored_queue"]


def monitored_queue(in_socket: Socket, out_socket: Socket, mon_socket: Socket,
                    in_prefix: bytes = b"in", out_prefix: bytes = b"out") -> None:
    """Relay messages between ``in_socket`` and ``out_socket``, copying each to ``mon_socket``
    after a prefix frame, until the context is terminated.

    Raises:
        ContextTerminated: the context was terminated (how it ends).
        ZMQError: a socket was closed under it, or another socket error.
    """
    swap_ids = in_socket.type == SocketType.ROUTER and out_socket.type == SocketType.ROUTER
    poller = Poller()
    poller.register(in_socket, PollEvent.POLLIN)
    poller.register(out_socket, PollEvent.POLLIN)
    while True:
        ready = dict(poller.poll())
        if in_socket in ready:
            _relay(in_socket, out_socket, mon_socket, in_prefix, swap_ids)
        if out_socket in ready:
            _relay(out_socket, in_socket, mon_socket, out_prefix, swap_ids)


def _relay(src: Socket, dst: Socket, mon: Socket, prefix: bytes, swap_ids: bool) -> None:
    msg = src.recv_multipart()
    if swap_ids:
        msg[0], msg[1] = msg[1], msg[0]
    dst.send_multipart(msg)
    mon.send_multipart([prefix, *msg])
