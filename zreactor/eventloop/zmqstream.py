"""Callbacks on a tornado IOLoop when a socket can receive or send (pyzmq's ``ZMQStream``).

Theory of operation
-------------------
A :class:`ZMQStream` owns one blocking zreactor socket and registers it (its wake-up fd,
``socket.fileno()``) with ``IOLoop.add_handler`` for reading. Nothing here blocks: the
socket is only asked to receive when ``EVENTS`` says a message is ready and to send when it
says there is room.

*State.* The stream wants ``POLLIN`` while an ``on_recv`` callback is set and ``POLLOUT``
while its send queue is not empty. Each wake-up reads ``EVENTS``, receives one message (and
passes it to the callback) and/or sends one queued message (and reports it to the
``on_send`` callback), then rebuilds the wanted state.

*Edges.* The fd announces a message only on the edge from "empty" to "has one", and every
call into the socket may consume that announcement (see :mod:`zreactor.asyncio`). So
whenever the wanted state is (re)computed, if ``EVENTS`` already shows something wanted,
the stream schedules another pass with ``add_callback`` instead of waiting for the fd, which
would stay quiet. That keeps a burst flowing one message per loop iteration, fairly with the
other handlers of the loop, and stops as soon as nothing wanted is ready.

*Callbacks* (what ipykernel relies on): ``on_recv(cb)`` is called as ``cb(frames)`` with the
list ``recv_multipart`` returns (``Frame`` objects with ``copy=False``); ``on_send(cb)`` as
``cb(msg, status)`` after each send; ``on_recv_stream``/``on_send_stream`` also pass the
stream first. A callback may be a coroutine function: its coroutine is scheduled with
``asyncio.ensure_future`` and an exception in it is logged on ``tornado.general``, as one in
a plain callback is (and re-raised to the loop). :meth:`ZMQStream.flush` handles what is
pending right now, bypassing the loop, and suppresses the loop's own pass until the next
iteration so nothing is handled twice.

*Threads.* A stream is used from its IOLoop's thread only, like its socket.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import warnings
from collections import deque
from collections.abc import Awaitable
from typing import Any, Callable, Sequence

from tornado.ioloop import IOLoop
from tornado.log import gen_log

from ..constants import Flag, PollEvent, SocketOption
from ..errors import Again, ZMQError
from ..sockets.poll import Poller
from ..sockets.socket import Socket

__all__ = ["ZMQStream", "gen_log"]

POLLIN = int(PollEvent.POLLIN)
POLLOUT = int(PollEvent.POLLOUT)
EVENTS = int(SocketOption.EVENTS)
NOBLOCK = int(Flag.DONTWAIT)


class ZMQStream:
    """Register callbacks for a socket's messages on a tornado IOLoop.

    Args:
        socket: a zreactor socket (an awaitable one is replaced by a ``zmq.Socket`` shadow
            of it, with a ``RuntimeWarning``, as in pyzmq).
        io_loop: the loop; default ``IOLoop.current()``.

    ``bind``, ``bind_to_random_port``, ``connect``, ``setsockopt``, ``getsockopt`` and their
    ``_string`` forms are the socket's own methods.
    """

    def __init__(self, socket: Any, io_loop: IOLoop | None = None) -> None:
        if not isinstance(socket, Socket):
            shadow = getattr(socket, "_shadow_sock", None)
            if isinstance(shadow, Socket):
                warnings.warn("ZMQStream only supports blocking sockets: using a zmq.Socket "
                              "shadow of this awaitable one", RuntimeWarning, stacklevel=2)
                socket = Socket(shadow=shadow)  # exactly a zmq.Socket, as pyzmq's
        self.socket: Socket | None = socket
        self.io_loop = io_loop or IOLoop.current()
        self.poller = Poller()
        self._fd = socket.fileno()
        self._send_queue: deque[tuple[Any, dict[str, Any]]] = deque()
        self._recv_callback: Callable[..., Any] | None = None
        self._send_callback: Callable[..., Any] | None = None
        self._close_callback: Callable[[], Any] | None = None
        self._recv_copy = True
        self._flushed = False
        self._state = 0
        # the socket object, not its fd: IOLoop.close(all_fds=True) then closes the socket
        self.io_loop.add_handler(socket, self._handle_events, IOLoop.READ)
        self.bind = socket.bind
        self.bind_to_random_port = socket.bind_to_random_port
        self.connect = socket.connect
        self.setsockopt = socket.setsockopt
        self.getsockopt = socket.getsockopt
        self.setsockopt_string = self.setsockopt_unicode = socket.setsockopt_string
        self.getsockopt_string = self.getsockopt_unicode = socket.getsockopt_string

    # -- callbacks --------------------------------------------------------------------------------

    def on_recv(self, callback: Callable[[list[Any]], Any] | None, copy: bool = True) -> None:
        """Call ``callback(frames)`` for every message received; ``None`` stops receiving.

        One callback at a time: a new one replaces the old. ``copy=False`` passes ``Frame``
        objects instead of bytes.
        """
        self._check_closed()
        assert callback is None or callable(callback), "on_recv needs a callable or None"
        self._recv_callback = callback
        self._recv_copy = copy
        if callback is None:
            self._drop_io_state(POLLIN)
        else:
            self._add_io_state(POLLIN)
            # and one pass on the next iteration whatever EVENTS says now: a socket closed
            # behind the stream's back before anything arrives sends no wake-up (its fd is
            # released), and that pass is what notices and closes the stream too
            self.io_loop.add_callback(lambda: self._handle_events(self.socket, 0))

    def on_recv_stream(self, callback: Callable[[ZMQStream, list[Any]], Any] | None,
                       copy: bool = True) -> None:
        """Like :meth:`on_recv`, calling ``callback(stream, frames)``."""
        if callback is None:
            self.stop_on_recv()
        else:
            self.on_recv(lambda msg: callback(self, msg), copy=copy)

    def on_send(self, callback: Callable[[list[Any], Any], Any] | None) -> None:
        """Call ``callback(msg, status)`` after each send (``status``: what
        ``send_multipart`` returned, or the ``ZMQError`` it raised); ``None`` stops it."""
        self._check_closed()
        assert callback is None or callable(callback), "on_send needs a callable or None"
        self._send_callback = callback

    def on_send_stream(self, callback: Callable[[ZMQStream, list[Any], Any], Any] | None) -> None:
        """Like :meth:`on_send`, calling ``callback(stream, msg, status)``."""
        if callback is None:
            self.stop_on_send()
        else:
            self.on_send(lambda msg, status: callback(self, msg, status))

    def stop_on_recv(self) -> None:
        """Stop receiving (``on_recv(None)``)."""
        self.on_recv(None)

    def stop_on_send(self) -> None:
        """Stop the send callback (``on_send(None)``)."""
        self.on_send(None)

    def on_err(self, callback: Any) -> None:
        """Does nothing (deprecated in pyzmq); logs a warning."""
        gen_log.warning("on_err does nothing, and will be removed")

    def stop_on_err(self) -> None:
        """Does nothing (deprecated in pyzmq); logs a warning."""
        gen_log.warning("on_err does nothing, and will be removed")

    def set_close_callback(self, callback: Callable[[], Any] | None) -> None:
        """Call ``callback()`` when the stream is closed."""
        self._close_callback = callback

    # -- sending ----------------------------------------------------------------------------------

    def send_multipart(self, msg: Sequence[Any], flags: int = 0, copy: bool = True,
                       track: bool = False, callback: Callable[..., Any] | None = None,
                       **kwargs: Any) -> None:
        """Queue a multipart message; it is sent when the socket has room.

        ``callback`` (if given) becomes the ``on_send`` callback.
        """
        kwargs.update(flags=flags, copy=copy, track=track)
        self._send_queue.append((msg, kwargs))
        self.on_send(callback or self._send_callback or (lambda *args: None))
        self._add_io_state(POLLOUT)

    def send(self, msg: Any, flags: int = 0, copy: bool = True, track: bool = False,
             callback: Callable[..., Any] | None = None, **kwargs: Any) -> None:
        """Queue a one-frame message (see :meth:`send_multipart`)."""
        self.send_multipart([msg], flags=flags, copy=copy, track=track, callback=callback,
                            **kwargs)

    def send_string(self, u: str, flags: int = 0, encoding: str = "utf-8",
                    callback: Callable[..., Any] | None = None, **kwargs: Any) -> None:
        """Queue a str, encoded."""
        if not isinstance(u, str):
            raise TypeError("send_string needs a str")
        self.send(u.encode(encoding), flags=flags, callback=callback, **kwargs)

    send_unicode = send_string

    def send_json(self, obj: Any, flags: int = 0, callback: Callable[..., Any] | None = None,
                  **kwargs: Any) -> None:
        """Queue ``obj`` as JSON."""
        self.send(json.dumps(obj).encode("utf-8"), flags=flags, callback=callback, **kwargs)

    def send_pyobj(self, obj: Any, flags: int = 0, protocol: int = -1,
                   callback: Callable[..., Any] | None = None, **kwargs: Any) -> None:
        """Queue ``obj`` pickled."""
        self.send(pickle.dumps(obj, protocol), flags, callback=callback, **kwargs)

    # -- state ------------------------------------------------------------------------------------

    def receiving(self) -> bool:
        """True while an ``on_recv`` callback is set."""
        return self._recv_callback is not None

    def sending(self) -> bool:
        """True while messages wait in the send queue."""
        return bool(self._send_queue)

    def closed(self) -> bool:
        """True once closed (closing the stream too if its socket was closed behind it)."""
        if self.socket is None:
            return True
        if self.socket.closed:
            self.close()
            return True
        return False

    def close(self, linger: int | None = None) -> None:
        """Stop watching the socket, close it (with ``linger`` ms), run the close callback."""
        if self.socket is None:
            return
        if self.socket.closed:
            # closed behind our back: its fd may be released (and reused) already
            warnings.warn(f"Unregistering FD {self._fd} after closing socket. This could "
                          "unregister the handler of another fd; close the stream instead "
                          "of its socket.", stacklevel=2)
            self.io_loop.remove_handler(self._fd)
        else:
            self.io_loop.remove_handler(self.socket)
            self.socket.close(linger)
        self.socket = None
        if self._close_callback:
            self._run_callback(self._close_callback)

    def flush(self, flag: int = POLLIN | POLLOUT, limit: int | None = None) -> int:
        """Handle pending incoming and/or outgoing messages now, bypassing the loop.

        Incoming messages are received even without an ``on_recv`` callback (and so
        dropped). Stops when nothing matching ``flag`` is pending or after ``limit`` events.

        Returns:
            the number of messages received and sent.
        """
        self._check_closed()
        already_flushed, self._flushed = self._flushed, False
        count = 0

        def wanted() -> int:
            return (flag & POLLIN) | (POLLOUT if self.sending() and flag & POLLOUT else 0)

        events = self._poll_now(wanted())
        while events and (not limit or count < limit):
            if events & POLLIN:
                self._handle_recv()
                count += 1
                if self.socket is None:
                    break  # a callback closed the stream
            if events & POLLOUT and self.sending():
                self._handle_send()
                count += 1
                if self.socket is None:
                    break
            events = self._poll_now(wanted())
        if count:
            # the loop's pass this iteration would handle the same events again: skip it
            self._flushed = True
            if not already_flushed:
                self.io_loop.add_callback(self._finish_flush)
        elif already_flushed:
            self._flushed = True
        self._rebuild_io_state()
        return count

    def _poll_now(self, flags: int) -> int:
        if not flags or self.socket is None:
            return 0
        self.poller.register(self.socket, flags)
        ready = self.poller.poll(0)
        return ready[0][1] if ready else 0

    def _finish_flush(self) -> None:
        self._flushed = False

    def _check_closed(self) -> None:
        if self.socket is None:
            raise OSError("Stream is closed")

    # -- the loop's side --------------------------------------------------------------------------

    def _run_callback(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run a user callback; schedule it if it returned an awaitable; log its errors."""
        try:
            result = callback(*args)
        except Exception:
            gen_log.error("Uncaught exception in ZMQStream callback", exc_info=True)
            raise  # and let the loop report it too
        if isinstance(result, Awaitable):
            task = asyncio.ensure_future(result)
            task.add_done_callback(_log_task_error)

    def _handle_events(self, fd: Any, events: int) -> None:
        """The fd stirred (or a pass was scheduled): receive/send one message each."""
        if not self.socket:
            gen_log.warning("Got events for closed stream %s", self)
            return
        try:
            zmq_events = int(self.socket.getsockopt(EVENTS))
        except ZMQError as exc:
            if self.closed():
                gen_log.warning("Got events for stream %s attached to closed socket: %s", self, exc)
            else:
                gen_log.warning("Got events for stream %s after terminating context: %s", self, exc)
                self.close()
            return
        if zmq_events & POLLIN and self.receiving():
            self._handle_recv()
            if not self.socket:
                return
        if zmq_events & POLLOUT and self.sending():
            self._handle_send()
            if not self.socket:
                return
        self._rebuild_io_state()

    def _handle_recv(self) -> None:
        if self._flushed or self.socket is None:
            return
        try:
            msg = self.socket.recv_multipart(NOBLOCK, copy=self._recv_copy)
        except Again:
            return  # the state changed since EVENTS was read
        if self._recv_callback:
            self._run_callback(self._recv_callback, msg)

    def _handle_send(self) -> None:
        if self._flushed or self.socket is None or not self.sending():
            return
        msg, kwargs = self._send_queue.popleft()
        try:
            status: Any = self.socket.send_multipart(msg, **kwargs)
        except ZMQError as exc:
            gen_log.error("SEND Error: %s", exc)
            status = exc
        if self._send_callback:
            self._run_callback(self._send_callback, msg, status)

    def _rebuild_io_state(self) -> None:
        if self.socket is None:
            return
        self._state = (POLLIN if self.receiving() else 0) | (POLLOUT if self.sending() else 0)
        self._update_handler(self._state)

    def _add_io_state(self, state: int) -> None:
        self._state |= state
        self._update_handler(self._state)

    def _drop_io_state(self, state: int) -> None:
        self._state &= ~state
        self._update_handler(self._state)

    def _update_handler(self, state: int) -> None:
        """If something wanted is ready already, handle it on the next iteration (the fd
        would not say so again: see the module docstring)."""
        if self.socket is None or not state or self.socket.closed:
            return
        try:
            ready = int(self.socket.getsockopt(EVENTS)) & state
        except ZMQError:
            ready = 1  # let _handle_events see the error and close the stream
        if ready:
            self.io_loop.add_callback(lambda: self._handle_events(self.socket, 0))


def _log_task_error(task: asyncio.Future[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        gen_log.error("Uncaught exception in ZMQStream callback", exc_info=exc)
