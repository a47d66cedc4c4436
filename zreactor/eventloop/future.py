"""Awaitable sockets for tornado coroutines (pyzmq's ``zmq.eventloop.future``).

The same sockets as :mod:`zreactor.asyncio` (the machinery is :mod:`zreactor._future`),
bound to ``IOLoop.current()``: the socket itself is registered with ``IOLoop.add_handler``
(so ``IOLoop.close(all_fds=True)`` closes it), timers are ``IOLoop.call_later``, and the
futures are tornado's with pyzmq's cancellation: ``cancel()`` completes a future with
:class:`CancelledError`, which ``cancelled()`` then reports.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

from tornado.concurrent import Future
from tornado.ioloop import IOLoop

from .. import _future

__all__ = ["CancelledError", "Context", "Poller", "Socket"]


class CancelledError(Exception):
    """The result of a cancelled tornado future of this module."""


class _TornadoFuture(Future):  # type: ignore[misc]
    """A tornado future whose ``cancel()`` completes it with :class:`CancelledError`."""

    def cancel(self, msg: Any = None) -> bool:
        if self.done():
            return False
        self.set_exception(CancelledError())
        return True

    def cancelled(self) -> bool:
        return self.done() and isinstance(self.exception(), CancelledError)


class _CancellableTimeout:
    """A tornado timeout handle with ``cancel()``, like asyncio's."""

    def __init__(self, loop: IOLoop, handle: object) -> None:
        self.loop = loop
        self.handle = handle

    def cancel(self) -> None:
        self.loop.remove_timeout(self.handle)


class _AsyncTornado:
    """Binds the loop-neutral core to tornado's current IOLoop."""

    _Future = _TornadoFuture
    _READ = IOLoop.READ
    _WRITE = IOLoop.WRITE

    def _default_loop(self) -> IOLoop:
        return IOLoop.current()

    def _call_later(self, delay: float, callback: Callable[[], Any]) -> _CancellableTimeout:
        loop = self._get_loop()  # type: ignore[attr-defined]
        return _CancellableTimeout(loop, loop.call_later(delay, callback))


class Poller(_AsyncTornado, _future._AsyncPoller):
    """A Poller whose ``poll(timeout)`` returns a tornado future."""

    def _watch_raw_socket(self, loop: Any, fd: Any, evt: int, callback: Callable[[], Any]) -> None:
        loop.add_handler(fd, lambda *_: callback(), evt)

    def _unwatch_raw_sockets(self, loop: Any, *fds: Any) -> None:
        for fd in fds:
            loop.remove_handler(fd)


class Socket(_AsyncTornado, _future._AsyncSocket):
    """A socket whose ``send*``, ``recv*`` and ``poll`` return tornado futures."""

    _poller_class = Poller

    def _watch_fd(self, loop: Any, fd: int, callback: Callable[[], Any]) -> None:
        # our wake-up fd as the socket object, not the number: IOLoop.close(all_fds=True)
        # then closes the socket (a borrowed connection's fd is registered as a number)
        loop.add_handler(self if fd == self._fd else fd, lambda *_: callback(), IOLoop.READ)

    def _unwatch_fd(self, loop: Any, fd: int) -> None:
        loop.remove_handler(fd)


Poller._socket_class = Socket


class Context(_future._AsyncContext):
    """A context whose ``socket()`` makes tornado-awaitable sockets (:class:`Socket`)."""

    _socket_class = Socket
    _instance = None
    _instance_pid = None

    def __init__(self, *args: Any, io_loop: Any = None, **kwargs: Any) -> None:
        if io_loop is not None:
            warnings.warn("Context(io_loop) is deprecated: the current IOLoop is used",
                          DeprecationWarning, stacklevel=2)
        super().__init__(*args, **kwargs)
