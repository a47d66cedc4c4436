"""asyncio support: sockets whose ``send``/``recv``/``poll`` return awaitables (pyzmq's
``zmq.asyncio``).

Use it as pyzmq's::

    import zreactor as zmq
    import zreactor.asyncio

    ctx = zreactor.asyncio.Context()
    sock = ctx.socket(zmq.REP)
    sock.bind("tcp://127.0.0.1:5555")

    async def serve():
        while True:
            request = await sock.recv_multipart()
            await sock.send_multipart(request)

Theory of operation
-------------------
Each :class:`Socket` wraps an ordinary zreactor socket and registers that socket's wake-up
fd (``sock.getsockopt(zmq.FD)``) with the running loop's ``add_reader``; while a receive
waits, also the fds of its few tcp/ipc connections, borrowed from the sleeping I/O thread so
that a reply wakes the loop directly (*caller reads* in :mod:`zreactor._future`). Nothing
else runs: no helper thread per socket, no timer that polls. An idle socket costs one
registered fd and no CPU. Any asyncio loop with ``add_reader`` works (the default selector loop, uvloop). The
loop-neutral machinery (queues of waiting futures, cancellation, timeouts) is in
:mod:`zreactor._future`, shared with the tornado sockets of :mod:`zreactor.eventloop.future`.

The ``FD``/``EVENTS`` contract, edge and level
----------------------------------------------
libzmq documents ``ZMQ_FD`` as *edge-triggered*: it signals that ``ZMQ_EVENTS`` *may* have
changed, it may not signal again while messages stay queued, and any operation on the socket
(even a ``send``) may consume the signal. Code that waits on it must read ``EVENTS`` after
every wake-up and after every operation, and keep receiving while ``POLLIN`` is set.

zreactor's ``FD`` is the socket's command mailbox, an ``eventfd`` (a socketpair where there
is none). As an fd it is **level-triggered**: it stays readable from the moment another
thread queues a command until the socket's own thread runs the commands, which reading
``EVENTS`` (or any send/recv) does. As a message-readiness signal it is **edge-triggered,
exactly like libzmq's**: a pipe sends its reader a command only when it goes from "found
empty" to "has a message" (and on attach, detach, room after a full HWM and context stop), so
a burst of messages is one wake-up, and a second message behind the first is announced by
nothing. Both halves matter:

* Level on the fd is what lets a plain level-triggered ``add_reader`` (select, poll, epoll
  in its default mode, uvloop's libuv) watch it without spinning: each wake-up runs the
  commands, which clears the fd, so the callback is called once per burst of commands,
  not in a loop. (It would also work edge-triggered: a new command after the drain writes
  the fd again.)
* Edge on messages is why this module never trusts the fd alone. After serving a wake-up,
  and after every call that touched the socket (a ``send`` that completed at once, a
  receive answered without waiting), it reads ``EVENTS`` once more and, if something a
  waiting future wants is ready, schedules another pass with ``call_soon``. That repeats
  only while there is work, so it is not a busy loop.

Why not make the fd level-triggered on messages (readable while a message is queued)? The
writer is another thread; it would have to write the fd for every message and the reader
re-read it after every receive: two system calls per message on the hot path, which the
edge protocol (from libzmq's ``ypipe``) exists to avoid. A spurious wake-up costs one
``EVENTS`` read.

Semantics kept from pyzmq
-------------------------
* A cancelled ``recv`` loses no message: a message is taken from the socket only for a
  future that is still pending at that moment.
* Waiting calls are served in order (FIFO per direction), one per wake-up pass.
* ``close()`` cancels every pending future; ``Context.term()`` in another thread fails every
  pending future with :class:`~zreactor.ContextTerminated` (then close the socket).
* ``rcvtimeo``/``sndtimeo`` make waiting calls fail with :class:`~zreactor.Again`.
* A socket is used from the thread of the loop it runs on; used on a new loop (after the
  old one closed), it follows.
* ``Socket(sync_socket)`` / ``Socket.from_socket(s)`` / ``Socket(shadow=s.underlying)`` make
  an awaitable socket over an existing zreactor socket (the same socket, two interfaces).
"""

from __future__ import annotations

import asyncio
import selectors
import warnings
from typing import Any, Callable

from . import _future

__all__ = ["Context", "Poller", "Socket"]


class _AsyncIO:
    """Binds the loop-neutral core to asyncio."""

    _Future = asyncio.Future
    _READ = selectors.EVENT_READ
    _WRITE = selectors.EVENT_WRITE

    def _default_loop(self) -> asyncio.AbstractEventLoop:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            warnings.warn("no running event loop: zreactor.asyncio should be used from "
                          "within an asyncio loop", RuntimeWarning, stacklevel=4)
        return asyncio.get_event_loop_policy().get_event_loop()


class Poller(_AsyncIO, _future._AsyncPoller):
    """A Poller whose ``poll(timeout)`` returns an awaitable of ``[(socket, events), ...]``."""

    def _watch_raw_socket(self, loop: Any, fd: Any, evt: int, callback: Callable[[], Any]) -> None:
        if evt & self._READ:
            loop.add_reader(fd, callback)
        if evt & self._WRITE:
            loop.add_writer(fd, callback)

    def _unwatch_raw_sockets(self, loop: Any, *fds: Any) -> None:
        if loop.is_closed():
            return
        for fd in fds:
            loop.remove_reader(fd)
            loop.remove_writer(fd)


class Socket(_AsyncIO, _future._AsyncSocket):
    """A socket whose ``send*``, ``recv*`` and ``poll`` return :class:`asyncio.Future`."""

    _poller_class = Poller

    def _watch_fd(self, loop: Any, fd: int, callback: Callable[[], Any]) -> None:
        loop.add_reader(fd, callback)

    def _unwatch_fd(self, loop: Any, fd: int) -> None:
        loop.remove_reader(fd)


Poller._socket_class = Socket


class Context(_future._AsyncContext):
    """A context whose ``socket()`` makes awaitable asyncio sockets (:class:`Socket`); in
    everything else a :class:`zreactor.Context`."""

    _socket_class = Socket
    _instance = None
    _instance_pid = None


def install() -> None:
    """Does nothing (pyzmq 17 made special loop integration unnecessary; kept for old code)."""
    warnings.warn("zreactor.asyncio.install() is not needed", DeprecationWarning, stacklevel=2)
