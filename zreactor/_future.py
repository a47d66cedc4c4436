"""The event-loop-neutral core of the awaitable sockets (:mod:`zreactor.asyncio`, tornado's
:mod:`zreactor.eventloop.future`).

Theory of operation
-------------------
An awaitable socket wraps one ordinary zreactor socket, the *shadow* (``_shadow_sock``),
and never blocks in it: every ``send``/``recv`` on the shadow is made with ``DONTWAIT``. A
call that cannot complete at once becomes a :class:`_FutureEvent` in one of two FIFO queues
(``_recv_futures``, ``_send_futures``), and the socket asks its event loop to watch the
shadow's wake-up fd (``FD``) for reading. When the fd stirs, :meth:`_AsyncSocket._handle_events`
reads ``EVENTS`` and completes the oldest waiting receive and/or send, one each per wake-up,
then looks again (see *edges* below) until nothing that is waited for is ready.

*What the fd means.* ``FD`` is the socket's command mailbox (:mod:`zreactor.reactor.mailbox`):
it is readable while commands from other threads are queued, and reading ``EVENTS`` runs
those commands, which clears it. Commands arrive on *edges* of the socket's state (a pipe
that had been found empty got a message, a peer came or went, room appeared, the context is
stopping), never once per message. So:

* a wake-up says "something may have changed", never "a message is here" (it can be a
  spurious one: a command that changed nothing asked for);
* after any call into the shadow (even a ``send`` made for another coroutine) the fd can be
  clear while messages are still waiting, because that call ran the command that announced
  them. Every path that touches the shadow therefore ends with
  :meth:`_schedule_remaining_events`: if ``EVENTS`` still shows something a queued future
  waits for, ``_serve_ready`` runs again on the next loop iteration (a ``call_soon``, not
  a timer, and only while something is both waited for and ready: never a busy loop).

*Caller reads.* While a receive waits and nothing is ready, the socket borrows its few
tcp/ipc connections from their sleeping I/O thread (``Socket.lend_reads``, the blocking
socket's caller-I/O wait of :mod:`zreactor.sockets.caller_wait` cut in two) and watches
their fds on the loop too. A reply then wakes the loop directly and is decoded on the
loop's thread (``Socket.read_lent``): no I/O thread wake-up, no command, no fight for the
interpreter lock, which is most of a round trip.

*Kept from receive to receive.* A readable borrowed connection is read and *kept*: the
coroutine its message wakes usually asks for the next one before the loop polls again
(the future's callbacks, which resume it, were scheduled before our look), so lending and
giving back per message (four ``epoll_ctl`` calls and two leases) would be wasted. The rule
that keeps this safe: a connection stays borrowed while a receive waits (as it always
did), and after the last waiting receive was served only until the loop's next pass
(:meth:`_AsyncSocket._give_back_soon`), so a coroutine that stops receiving leaves its
connections to their I/O thread as soon as the loop runs again. Everything else gives the connections
back at once: a wake-up of the wake-up fd (commands: pipes may have come or gone), the last
waiting receive cancelled or timed out, close, context termination, a move to another loop;
a connection that ends or fills the receive queue goes home by itself (``read_lent`` says
so, and the loop stops watching it).

*Cancellation loses nothing.* A receive happens only when its future is still pending at the
moment a message is ready, and the message goes straight into that future. A future
cancelled earlier is skipped (and removed from the queue at once by its done-callback), so
the message stays in the socket for the next receiver. The decoding wrappers
(``recv_json`` ...) cancel the underlying receive when they are cancelled.

*Closing.* :meth:`_AsyncSocket.close` cancels every pending future, stops watching the fd
*before* closing the shadow (the fd is released by the context's reaper thread soon after,
and its number may then be reused), then closes the shadow. So close the awaitable socket,
not its shadow: a shadow closed behind its back leaves the loop watching a released fd
(pyzmq has the same rule).

*Threads.* An awaitable socket belongs to the event loop it is first used on, and is used
from that loop's thread only (as every zreactor socket is used by one thread at a time). If
it is later used from another running loop (a new loop after the old one closed), it moves
its fd registration there.

Subclasses bind this core to a loop (:mod:`zreactor.asyncio`, :mod:`zreactor.eventloop.future`):
they provide ``_Future``, ``_default_loop()``, ``_watch_fd(loop, fd, callback)`` and
``_unwatch_fd(loop, fd)``; ``_call_later``/``_call_soon`` work on both asyncio and tornado
loops as written.
"""

from __future__ import annotations

import errno
import json
import pickle
import time
import warnings
import weakref
from collections import deque
from functools import partial
from typing import Any, Callable, NamedTuple

from .constants import Flag, PollEvent, SocketOption
from .context import Context as _SyncContext
from .errors import Again, ContextTerminated, ZMQError
from .sockets import socket_class
from .sockets.poll import Poller, zmq_poll
from .sockets.poll import as_socket as _sync_socket
from .sockets.socket import Socket as _SyncSocket

__all__ = ["_AsyncContext", "_AsyncPoller", "_AsyncSocket", "_FutureEvent"]

POLLIN = int(PollEvent.POLLIN)
POLLOUT = int(PollEvent.POLLOUT)
DONTWAIT = int(Flag.DONTWAIT)
EVENTS = int(SocketOption.EVENTS)
RCVTIMEO = int(SocketOption.RCVTIMEO)
SNDTIMEO = int(SocketOption.SNDTIMEO)


class _FutureEvent(NamedTuple):
    """One waiting call: its future, what it is (``recv``, ``send_multipart``, ``poll`` ...),
    its arguments, the message to send (sends only) and its timeout timer."""

    future: Any
    kind: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    msg: Any
    timer: Any


#: the latest awaitable socket made over each zreactor socket. A loop watches an fd with one
#: callback, so two awaitable sockets over one socket on one loop would steal each other's
#: wake-ups; the Poller reuses this one rather than making a second.
_WRAPPERS: weakref.WeakKeyDictionary[_SyncSocket, _AsyncSocket] = weakref.WeakKeyDictionary()


class _NoTimer:
    """Stands in for the timer of a call without a timeout."""

    @staticmethod
    def cancel() -> None:
        """Nothing to cancel."""


def _cancel(future: Any) -> None:
    """Cancel ``future``, tolerating a loop that is already closing."""
    try:
        future.cancel()
    except RuntimeError:
        pass


def _chain(inner: Any, outer: Any, transform: Callable[[Any], Any], *,
           warn_dropped: bool = False) -> None:
    """Complete ``outer`` as ``inner`` completes: cancelled, failed, or with
    ``transform(result)`` (an exception from ``transform`` fails it); cancelling ``outer``
    cancels ``inner``.

    ``warn_dropped``: ``inner`` carries a received message, so if ``outer`` was finished by
    someone else after ``inner`` had taken one, say so instead of hiding the loss.
    """

    def forward(_: Any) -> None:
        if outer.done():
            if warn_dropped and not inner.cancelled() and inner.exception() is None:
                warnings.warn(f"{outer} completed while awaiting {inner}: a message was dropped",
                              RuntimeWarning, stacklevel=2)
            return
        if inner.cancelled():
            _cancel(outer)
            return
        exc = inner.exception()
        if exc is not None:
            outer.set_exception(exc)
            return
        try:
            value = transform(inner.result())
        except Exception as err:
            outer.set_exception(err)
        else:
            outer.set_result(value)

    def backward(_: Any) -> None:
        if outer.cancelled() and not inner.done():
            _cancel(inner)

    if inner.done():
        forward(inner)  # at once, so ``poll(0)`` returns a done future as in pyzmq
    else:
        inner.add_done_callback(forward)
    outer.add_done_callback(backward)


class _Async:
    """Which loop an awaitable object is on (the one running when it is first used)."""

    _current_loop: Any = None

    def _default_loop(self) -> Any:
        raise NotImplementedError

    def _get_loop(self) -> Any:
        loop = self._default_loop()
        if loop is not self._current_loop:
            old, self._current_loop = self._current_loop, loop
            self._loop_changed(old, loop)
        return loop

    def _loop_changed(self, old: Any, new: Any) -> None:
        """Hook: the object is now used on ``new`` (``old`` is ``None`` the first time)."""

    def _call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        """Run ``callback`` after ``delay`` seconds; returns something with ``cancel()``."""
        return self._get_loop().call_later(delay, callback)

    def _call_soon(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` on the next iteration of the running loop."""
        self._get_loop()
        self._soon(callback)

    def _soon(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` on the next iteration of the loop we are on, for code that runs on
        it already (a callback of it): no look for the running loop, which costs a
        ``getpid()`` system call on CPython 3.11."""
        loop = self._current_loop
        call_soon = getattr(loop, "call_soon", None)
        if call_soon is None:  # a tornado IOLoop
            loop.add_callback(callback)
        else:
            call_soon(callback)


class _AsyncSocket(_Async):
    """An awaitable socket over a zreactor socket (see the module docstring).

    ``send*``, ``recv*`` and ``poll`` return futures of the bound loop. Every other attribute
    (``bind``, ``connect``, ``setsockopt``, options such as ``sock.linger`` ...) is the
    shadow socket's.

    Args:
        context: the context to create the socket in, or a zreactor socket to shadow.
        socket_type: the socket type, when creating one.
        io_loop: ignored (deprecated in pyzmq 22.2: the running loop is always used).
        shadow: a zreactor socket, or its ``underlying`` address, to shadow.
    """

    _Future: Any = None
    _READ: int = 1
    _shadow_sock: _SyncSocket
    _state = 0
    _fd: int | None = None
    #: connections borrowed while a receive waits (``Socket.lend_reads``)
    _lent: list[tuple[int, Any]] = []
    #: a look for "borrowed, but nobody receives" is scheduled (:meth:`_give_back_if_idle`)
    _idle_check = False
    _poller_class: type[_AsyncPoller]

    def __init__(self, context: Any = None, socket_type: int = -1, io_loop: Any = None,
                 _from_socket: Any = None, shadow: Any = None, **kwargs: Any) -> None:
        if isinstance(context, _SyncSocket):
            context, _from_socket = None, context
        if shadow is not None and not isinstance(shadow, _SyncSocket):
            # a shadow of the pattern's class, whose hooks are its own: an exact ``zmq.Socket``
            # shadow would forward each hook it calls to the socket (sockets/shadow.py)
            shadow = socket_class(_SyncSocket.shadow(shadow).type).shadow(shadow)
        if shadow is not None:
            _from_socket = shadow
        if io_loop is not None:
            warnings.warn(f"{type(self).__name__}(io_loop) is deprecated: the running loop is used",
                          DeprecationWarning, stacklevel=3)
        if _from_socket is None:
            if context is None:
                raise TypeError("an awaitable socket needs a context or a socket to shadow")
            # the blocking socket this one wraps (the context's default class may be us)
            _from_socket = _SyncContext.socket(context, socket_type, socket_class=_SyncSocket,
                                               **kwargs)
        self._shadow_sock = _from_socket
        self._recv_futures: deque[_FutureEvent] = deque()
        self._send_futures: deque[_FutureEvent] = deque()
        self._state = 0
        self._fd = _from_socket.getsockopt(SocketOption.FD)
        _WRAPPERS[_from_socket] = self
        register = getattr(_from_socket.context, "_adopt", None)
        if register is not None:
            register(self)

    @classmethod
    def from_socket(cls, socket: Any, io_loop: Any = None) -> Any:
        """An awaitable socket over the zreactor ``socket`` (sharing its state)."""
        return cls(_from_socket=_sync_socket(socket) or socket, io_loop=io_loop)

    @classmethod
    def shadow(cls, address: Any) -> Any:
        """An awaitable socket over the socket whose ``underlying`` is ``address``."""
        return cls(shadow=address)

    # -- the shadow's attributes ---------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # only reached for names this class does not define: bind, connect, options ...
        if name.startswith("__") or name == "_shadow_sock":
            raise AttributeError(name)
        if name in ("events", "EVENTS"):
            return self.get(EVENTS)  # reading it may make waiting futures ready (see get)
        return getattr(self._shadow_sock, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or hasattr(type(self), name):
            object.__setattr__(self, name, value)
        else:  # ``sock.rcvtimeo = 100``: an option of the shadow
            setattr(self._shadow_sock, name, value)

    def fileno(self) -> int:
        """The wake-up fd (``FD``; see :mod:`zreactor.asyncio` for what it signals)."""
        return self._fd  # type: ignore[return-value]

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(dir(self._shadow_sock)))

    @property
    def closed(self) -> bool:
        """True once the socket (or its shadow) was closed."""
        return self._shadow_sock.closed

    @property
    def context(self) -> Any:
        """The context the socket was made in."""
        return self._shadow_sock.context

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} over {self._shadow_sock!r}>"

    def get(self, option: int) -> Any:
        """``getsockopt``; reading ``EVENTS`` also schedules waiting futures that are ready."""
        result = self._shadow_sock.getsockopt(option)
        if int(option) == EVENTS:
            self._schedule_remaining_events(result)
        return result

    getsockopt = get

    # -- closing ---------------------------------------------------------------------------------

    def close(self, linger: int | None = None) -> None:
        """Cancel every pending future, stop watching the fd, close the shadow. Idempotent."""
        if not self._shadow_sock.closed:
            self._cancel_pending(None)
            self._clear_io_state()
        self._shadow_sock.close(linger=linger)

    def _cancel_pending(self, exc: BaseException | None) -> None:
        """Cancel (``exc`` None) or fail every pending future."""
        self._give_back()
        events = list(self._recv_futures) + list(self._send_futures)
        self._recv_futures.clear()
        self._send_futures.clear()
        for event in events:
            event.timer.cancel()
            if event.future.done():
                continue
            if exc is None:
                _cancel(event.future)
            else:
                event.future.set_exception(exc)
        self._state = 0

    # -- sending ---------------------------------------------------------------------------------

    def send(self, data: Any, flags: int = 0, copy: bool = True, track: bool = False,
             **kwargs: Any) -> Any:
        """Send one frame; returns a future that resolves when it is queued."""
        kwargs.update(flags=flags, copy=copy, track=track)
        return self._add_send_event("send", msg=data, kwargs=kwargs)

    def send_multipart(self, msg_parts: Any, flags: int = 0, copy: bool = True,
                       track: bool = False, **kwargs: Any) -> Any:
        """Send a multipart message; returns a future that resolves when it is queued."""
        kwargs.update(flags=flags, copy=copy, track=track)
        return self._add_send_event("send_multipart", msg=msg_parts, kwargs=kwargs)

    def send_string(self, u: str, flags: int = 0, copy: bool = True, encoding: str = "utf-8",
                    **kwargs: Any) -> Any:
        """Send a str, encoded; returns a future."""
        if not isinstance(u, str):
            raise TypeError("send_string needs a str")
        return self.send(u.encode(encoding), flags=flags, copy=copy, **kwargs)

    send_unicode = send_string

    def send_json(self, obj: Any, flags: int = 0, **kwargs: Any) -> Any:
        """Send ``obj`` as JSON; returns a future."""
        send_kwargs = {k: kwargs.pop(k) for k in ("copy", "track") if k in kwargs}
        return self.send(json.dumps(obj, **kwargs).encode("utf-8"), flags=flags, **send_kwargs)

    def send_pyobj(self, obj: Any, flags: int = 0, protocol: int = pickle.DEFAULT_PROTOCOL,
                   **kwargs: Any) -> Any:
        """Send ``obj`` pickled; returns a future."""
        return self.send(pickle.dumps(obj, protocol), flags=flags, **kwargs)

    def send_serialized(self, msg: Any, serialize: Callable[[Any], Any], flags: int = 0,
                        copy: bool = True, **kwargs: Any) -> Any:
        """Send ``serialize(msg)`` (a list of frames) as one message; returns a future."""
        return self.send_multipart(serialize(msg), flags=flags, copy=copy, **kwargs)

    # -- receiving -------------------------------------------------------------------------------

    def recv(self, flags: int = 0, copy: bool = True, track: bool = False) -> Any:
        """Receive one frame; returns a future of bytes (or a ``Frame`` with ``copy=False``)."""
        return self._add_recv_event("recv", kwargs=dict(flags=flags, copy=copy, track=track))

    def recv_multipart(self, flags: int = 0, copy: bool = True, track: bool = False) -> Any:
        """Receive a whole message; returns a future of its list of frames."""
        return self._add_recv_event("recv_multipart",
                                    kwargs=dict(flags=flags, copy=copy, track=track))

    def recv_into(self, buf: Any, /, *, nbytes: int = 0, flags: int = 0) -> Any:
        """Receive one frame into ``buf``; returns a future of the frame's full length.

        At most ``nbytes`` (0: ``len(buf)``) bytes are copied; the rest is dropped.
        """
        if nbytes < 0:
            raise ValueError(f"nbytes must be non-negative, not {nbytes}")
        return self._add_recv_event("recv_into", args=(buf,), kwargs=dict(nbytes=nbytes, flags=flags))

    def recv_string(self, flags: int = 0, encoding: str = "utf-8") -> Any:
        """Receive a frame and decode it; returns a future of str."""
        return self._deserialize(self.recv(flags), lambda buf: buf.decode(encoding))

    recv_unicode = recv_string

    def recv_json(self, flags: int = 0, **kwargs: Any) -> Any:
        """Receive a frame and parse it as JSON; returns a future."""
        return self._deserialize(self.recv(flags), lambda buf: json.loads(buf, **kwargs))

    def recv_pyobj(self, flags: int = 0) -> Any:
        """Receive a frame and unpickle it (trusted peers only); returns a future."""
        return self._deserialize(self.recv(flags), pickle.loads)

    def recv_serialized(self, deserialize: Callable[[Any], Any], flags: int = 0,
                        copy: bool = True) -> Any:
        """Receive a message and return a future of ``deserialize(frames)``."""
        return self._deserialize(self.recv_multipart(flags, copy=copy), deserialize)

    def _deserialize(self, received: Any, load: Callable[[Any], Any]) -> Any:
        """A future of ``load(received.result())``; cancelling it cancels ``received``."""
        future = self._Future()
        _chain(received, future, load, warn_dropped=True)
        return future

    # -- polling ---------------------------------------------------------------------------------

    def poll(self, timeout: int | None = None, flags: int = POLLIN) -> Any:
        """A future of the events in ``flags`` that become ready within ``timeout`` ms (0 if
        none; ``None``: wait for ever)."""
        if self.closed:
            raise ZMQError(errno.ENOTSUP, "cannot poll a closed socket")
        poller = self._poller_class()
        poller.register(self, flags)
        future = self._Future()
        _chain(poller.poll(timeout), future, lambda ready: dict(ready).get(self, 0))
        return future

    # -- the queues --------------------------------------------------------------------------------

    def _add_timeout(self, future: Any, timeout_ms: int) -> Any:
        def expire() -> None:
            if not future.done():
                future.set_exception(Again())

        return self._call_later(timeout_ms / 1000, expire)

    def _remove_finished_future(self, future: Any, event_list: deque[_FutureEvent],
                                event: _FutureEvent) -> None:
        """Done-callback: forget an event whose future finished without being consumed
        (cancelled, timed out), so it does not wait in the queue for an event that may never
        come; with no receive left waiting, give borrowed connections back."""
        event.timer.cancel()
        if event in event_list:  # not consumed (popped) already; a missed remove() would
            event_list.remove(event)  # cost a repr of the event for its error message
            self._give_back_if_idle()

    def _events_now(self, future: Any) -> int | None:
        """``EVENTS`` of the shadow, or None after failing ``future`` with its error."""
        try:
            return int(self._shadow_sock.getsockopt(EVENTS))
        except ZMQError as exc:
            if not future.done():
                future.set_exception(exc)
            if isinstance(exc, ContextTerminated):
                self._cancel_pending(ContextTerminated())
            return None

    def _enqueue(self, queue: deque[_FutureEvent], f: Any, kind: str, args: tuple[Any, ...],
                 kwargs: dict[str, Any], msg: Any) -> _FutureEvent | None:
        """Queue a waiting call, with its ``rcvtimeo``/``sndtimeo`` timer; None (and ``f``
        failed) if the socket is closed."""
        if self._shadow_sock.closed:
            f.set_exception(ZMQError(errno.ENOTSOCK, "socket is closed"))
            return None
        timer: Any = _NoTimer
        if kind != "poll":
            timeout_ms = self._shadow_sock.getsockopt(
                RCVTIMEO if queue is self._recv_futures else SNDTIMEO)
            if timeout_ms >= 0:
                timer = self._add_timeout(f, timeout_ms)
        event = _FutureEvent(f, kind, args, kwargs, msg, timer)
        queue.append(event)
        return event

    def _add_recv_event(self, kind: str, *, args: tuple[Any, ...] = (),
                        kwargs: dict[str, Any] | None = None, future: Any = None) -> Any:
        """Queue a receive (or a ``poll`` for POLLIN); return its future."""
        f = future or self._Future()
        kwargs = kwargs or {}
        if kind != "poll" and kwargs.get("flags", 0) & DONTWAIT:
            self._run_recv(f, kind, args, kwargs)  # non-blocking: answer now
            return f
        event = self._enqueue(self._recv_futures, f, kind, args, kwargs, None)
        if event is None:
            return f
        events = self._events_now(f)
        if events is None:
            return f
        if events & POLLIN:
            self._handle_recv()  # ready now: answer without waiting for the loop
        if event in self._recv_futures:
            f.add_done_callback(partial(self._remove_finished_future,
                                        event_list=self._recv_futures, event=event))
            # the EVENTS read above still holds unless a receive was answered since
            self._add_io_state(POLLIN, None if events & POLLIN else events)
        return f

    def _add_send_event(self, kind: str, msg: Any = None, kwargs: dict[str, Any] | None = None,
                        future: Any = None) -> Any:
        """Queue a send (or a ``poll`` for POLLOUT); return its future."""
        f = future or self._Future()
        kwargs = kwargs or {}
        if kind != "poll" and not self._send_futures:
            # nobody queued ahead of us: try at once
            flags = kwargs.get("flags", 0)
            try:
                result = getattr(self._shadow_sock, kind)(msg, **dict(kwargs, flags=flags | DONTWAIT))
            except Again as exc:
                if flags & DONTWAIT:
                    f.set_exception(exc)
            except Exception as exc:
                f.set_exception(exc)
            else:
                f.set_result(result)
            if f.done():
                # the send ran the socket's commands: a receive may have become ready
                if self._recv_futures:
                    self._schedule_remaining_events()
                return f
        event = self._enqueue(self._send_futures, f, kind, (), kwargs, msg)
        if event is None:
            return f
        f.add_done_callback(partial(self._remove_finished_future,
                                    event_list=self._send_futures, event=event))
        self._add_io_state(POLLOUT)
        return f

    @staticmethod
    def _next_pending(queue: deque[_FutureEvent]) -> _FutureEvent | None:
        while queue:
            event = queue.popleft()
            if not event.future.done():
                return event
        return None

    def _run_recv(self, f: Any, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            result = self._recv_now(kind, args, kwargs)
        except Exception as exc:
            f.set_exception(exc)
        else:
            f.set_result(result)

    def _recv_now(self, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The shadow's receive of ``kind``, with ``DONTWAIT``; raises what it raises."""
        sock = self._shadow_sock
        flags = kwargs.get("flags", 0) | DONTWAIT
        if kind == "recv_into":
            buf, nbytes = args[0], kwargs.get("nbytes", 0)
            if nbytes < 0:
                raise ValueError(f"nbytes must be non-negative, not {nbytes}")
            return _recv_into(sock, buf, nbytes, flags)
        return getattr(sock, kind)(flags=flags, copy=kwargs.get("copy", True),
                                   track=kwargs.get("track", False))

    def _receive_arrival(self) -> bool:
        """*The arrival*, a fast path: a borrowed connection has just been read, so the
        oldest waiting receive simply tries its ``recv`` (``DONTWAIT``), without the
        ``EVENTS`` look and the generic pass of :meth:`_serve_ready`. The socket's commands
        still run (``recv`` runs them first), and the pass ends as every pass does, with
        :meth:`_schedule_remaining_events`.

        Returns:
            False, having done nothing, when the generic pass must serve instead: no
            receive waits, a ``poll`` waits first, or no whole message arrived (``Again``:
            the read brought part of one, or only a heartbeat).
        """
        queue = self._recv_futures
        while queue and queue[0].future.done():
            queue.popleft()  # cancelled or timed out: its done-callback forgets it anyway
        if not queue or queue[0].kind == "poll":
            return False
        event = queue[0]
        try:
            result = self._recv_now(event.kind, event.args, event.kwargs)
        except Again:
            return False
        except Exception as exc:
            queue.popleft()
            event.timer.cancel()
            event.future.set_exception(exc)
        else:
            queue.popleft()
            event.timer.cancel()
            event.future.set_result(result)
        if not queue:
            self._drop_io_state(POLLIN)
            if self._lent:
                self._give_back_soon()
        self._schedule_remaining_events()
        return True

    def _serve(self, queue: deque[_FutureEvent], state: int,
               run: Callable[[_FutureEvent], None]) -> None:
        """Complete the oldest pending event of ``queue`` (the direction is ready)."""
        event = self._next_pending(queue)
        if not queue:
            self._drop_io_state(state)
        if event is None:
            return
        event.timer.cancel()
        if event.kind == "poll":
            event.future.set_result(None)  # a poll only learns that it is ready
        else:
            run(event)
        if state == POLLIN and self._lent and not queue:
            self._give_back_soon()

    def _handle_recv(self) -> None:
        """Complete the oldest pending receive (a message is ready)."""
        self._serve(self._recv_futures, POLLIN, self._run_recv_event)

    def _run_recv_event(self, event: _FutureEvent) -> None:
        self._run_recv(event.future, event.kind, event.args, event.kwargs)

    def _handle_send(self) -> None:
        """Complete the oldest pending send (there is room)."""
        self._serve(self._send_futures, POLLOUT, self._run_send)

    def _run_send(self, event: _FutureEvent) -> None:
        kwargs = dict(event.kwargs, flags=event.kwargs.get("flags", 0) | DONTWAIT)
        try:
            result = getattr(self._shadow_sock, event.kind)(event.msg, **kwargs)
        except Exception as exc:
            event.future.set_exception(exc)
        else:
            event.future.set_result(result)

    def _handle_events(self, fd: Any = 0, events: Any = 0) -> None:
        """The wake-up fd stirred: commands wait (a pipe came or went, the context is
        stopping ...), so give the borrowed connections back first; then serve."""
        self._give_back()
        self._serve_ready()

    def _serve_ready(self) -> None:
        """Serve what is ready, then look again (a scheduled pass starts here)."""
        if self._shadow_sock.closed:
            self._cancel_pending(None)
            self._clear_io_state()
            return
        try:
            zmq_events = int(self._shadow_sock.getsockopt(EVENTS))
        except ContextTerminated:
            # every waiting call fails as a blocking one would; the fd was drained and
            # stays quiet until the application closes the socket
            self._cancel_pending(ContextTerminated())
            return
        if zmq_events & POLLIN and self._recv_futures:
            self._handle_recv()
        if zmq_events & POLLOUT and self._send_futures:
            self._handle_send()
        self._schedule_remaining_events()

    def _schedule_remaining_events(self, events: int | None = None) -> None:
        """If something waited for is ready (the fd may be clear: see the module docstring),
        serve it on the next loop iteration; if a receive waits for nothing ready yet,
        borrow the socket's connections meanwhile (see *Caller reads*)."""
        if not self._state or self._shadow_sock.closed:
            return
        if events is None:
            try:
                events = int(self._shadow_sock.getsockopt(EVENTS))
            except ContextTerminated:
                self._call_soon(self._serve_ready)  # it fails the waiting futures
                return
        if events & self._state:
            self._call_soon(self._serve_ready)
        elif self._state & POLLIN and not self._lent:
            self._lend()

    # -- caller reads ------------------------------------------------------------------------------

    def _lend(self) -> None:
        loop = self._current_loop
        if loop is None:
            return
        lent = self._shadow_sock.lend_reads()
        if not lent:
            return
        self._lent = lent
        for entry in lent:
            # a registration of this fd number on the loop can only be a stale one, of a
            # connection closed while lent (its number since reused by this one): replace
            # it, or the loop would take the number for watched and never poll this fd
            self._unwatch(loop, entry[0])
            self._watch_fd(loop, entry[0], partial(self._lent_readable, entry))

    def _lent_readable(self, entry: tuple[int, Any]) -> None:
        """A borrowed connection is readable: read it here, keeping it borrowed (the next
        receive is usually queued before the loop polls again); then serve."""
        if entry in self._lent and not self._shadow_sock.read_lent(entry):
            # it went home (ended, or the receive queue is full): stop watching it.
            # The read may have closed the fd and another thread reused its number
            # since; unwatching touches only this loop's registration of the number
            self._lent = [e for e in self._lent if e is not entry]
            self._unwatch(self._current_loop, entry[0])
        if not self._receive_arrival():
            self._serve_ready()

    def _give_back_if_idle(self) -> None:
        """Return the borrowed connections if no receive waits (see *Caller reads*)."""
        self._idle_check = False
        if self._lent:
            for event in self._recv_futures:  # (a loop, not any(): this runs per message)
                if not event.future.done():
                    return
            self._give_back()

    def _give_back(self, readable: tuple[int, ...] = ()) -> None:
        """Return the borrowed connections (reading those in ``readable`` first). Called at
        every wake-up of the wake-up fd, when no receive waits any more, and at close."""
        lent = self._lent
        if not lent:
            return
        self._lent = []
        loop = self._current_loop
        for fd, _ in lent:
            if loop is not None:
                self._unwatch(loop, fd)
        self._shadow_sock.give_back_reads(lent, readable)

    def _add_io_state(self, state: int, events: int | None = None) -> None:
        self._state |= state
        self._get_loop()  # watch the fd on the running loop
        self._schedule_remaining_events(events)

    def _drop_io_state(self, state: int) -> None:
        self._state &= ~state

    def _give_back_soon(self) -> None:
        """The last waiting receive was just served. A coroutine that got its message
        usually asks again in the callback its future scheduled (just now, so ahead of
        ours): keep the borrowed connections until then, and give them back at that pass
        if nobody did."""
        if not self._idle_check:
            self._idle_check = True
            self._soon(self._give_back_if_idle)

    def _loop_changed(self, old: Any, new: Any) -> None:
        if old is not None:
            self._give_back()
            self._unwatch(old)
        self._watch_fd(new, self._fd, self._handle_events)
        # anything that became ready before we watched: the fd may already be clear
        self._call_soon(self._serve_ready)

    def _watch_fd(self, loop: Any, fd: int, callback: Callable[[], Any]) -> None:
        raise NotImplementedError

    def _unwatch_fd(self, loop: Any, fd: int) -> None:
        raise NotImplementedError

    def _unwatch(self, loop: Any, fd: int | None = None) -> None:
        closed = getattr(loop, "is_closed", None)
        if closed is not None and closed():
            return  # a closed asyncio loop has forgotten its readers already
        try:
            self._unwatch_fd(loop, self._fd if fd is None else fd)
        except (ValueError, KeyError, RuntimeError):
            pass

    def _clear_io_state(self) -> None:
        """Stop watching the fd (once, at close)."""
        self._give_back()
        loop, self._current_loop = self._current_loop, None
        if loop is not None:
            self._unwatch(loop)


def _recv_into(sock: _SyncSocket, buf: Any, nbytes: int, flags: int) -> int:
    """pyzmq's ``recv_into`` over ``recv``: copy up to ``nbytes`` (0: all of ``buf``) of the
    next frame into ``buf``; return the frame's full length."""
    native = getattr(sock, "recv_into", None)
    if native is not None:
        return int(native(buf, nbytes=nbytes, flags=flags))
    frame = sock.recv(flags)
    view = memoryview(buf).cast("B")
    room = len(view) if nbytes == 0 else min(nbytes, len(view))
    count = min(room, len(frame))
    view[:count] = frame[:count]
    return len(frame)


class _AsyncPoller(_Async, Poller):
    """A Poller whose ``poll`` returns a future of ``[(socket, events), ...]``.

    Zreactor sockets (awaitable or not) and raw fds may be registered together; the future
    resolves at the first event of any of them, or with ``[]`` at the timeout.
    """

    _socket_class: type[_AsyncSocket]
    _Future: Any = None
    _READ = 1
    _WRITE = 4

    def _watch_raw_socket(self, loop: Any, fd: Any, evt: int, callback: Callable[[], Any]) -> None:
        raise NotImplementedError

    def _unwatch_raw_sockets(self, loop: Any, *fds: Any) -> None:
        raise NotImplementedError

    def _poll_now(self) -> list[tuple[Any, int]]:
        """One non-blocking look at everything registered."""
        return zmq_poll(self.sockets, time.monotonic())

    def poll(self, timeout: float | None = -1) -> Any:  # type: ignore[override]
        """A future of the ready items within ``timeout`` ms (``None``/negative: for ever)."""
        future = self._Future()
        if timeout == 0:
            try:
                future.set_result(self._poll_now())
            except Exception as exc:
                future.set_exception(exc)
            return future
        loop = self._get_loop()
        watcher = self._Future()  # resolves at the first event of anything registered
        raw: list[Any] = []
        temporary: list[_AsyncSocket] = []

        def wake_raw(*_: Any) -> None:
            if not watcher.done():
                watcher.set_result(None)

        for obj, mask in self.sockets:
            sync = _sync_socket(obj)
            if sync is None:
                raw.append(obj)
                evt = (self._READ if mask & POLLIN else 0) | (self._WRITE if mask & POLLOUT else 0)
                self._watch_raw_socket(loop, obj, evt, wake_raw)
                continue
            if sync is obj:  # a blocking socket: watch it through its awaitable socket
                obj = _WRAPPERS.get(sync)
                if not isinstance(obj, self._socket_class):  # none yet: a temporary one
                    obj = self._socket_class.from_socket(sync)
                    temporary.append(obj)
            if mask & POLLIN:
                obj._add_recv_event("poll", future=watcher)
            if mask & POLLOUT:
                obj._add_send_event("poll", future=watcher)

        def clean_up(_: Any) -> None:
            if raw:
                self._unwatch_raw_sockets(loop, *raw)
            for wrapper in temporary:
                wrapper._cancel_pending(None)
                wrapper._clear_io_state()

        watcher.add_done_callback(clean_up)
        _chain(watcher, future, lambda _: self._poll_now())
        if timeout is not None and timeout > 0:
            timer = self._call_later(timeout / 1000, lambda: watcher.done() or watcher.set_result(None))
            future.add_done_callback(lambda _: timer.cancel())

        return future


class _AsyncContext(_SyncContext):
    """A context whose ``socket()`` makes awaitable sockets (its ``_socket_class``: the
    base ``socket()`` makes the blocking socket and wraps it).

    Everything else is :class:`zreactor.Context`: blocking and awaitable sockets can come
    from one context (``ctx.socket(zmq.PUSH, socket_class=zreactor.Socket)`` gives a
    blocking one, and ``Socket(blocking)`` an awaitable view of it). ``instance()`` is
    separate per class.
    """

    _socket_class: type = _AsyncSocket
    _instance = None
    _instance_pid = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaitables: weakref.WeakSet[Any] = weakref.WeakSet()

    def _adopt(self, wrapper: Any) -> None:
        """An awaitable socket over one of our sockets was made (for :meth:`destroy`)."""
        # setdefault: an awaitable shadow of a blocking context (``Context(sync_ctx)``)
        # shares that context's attributes, which have no such set until now
        vars(self).setdefault("_awaitables", weakref.WeakSet()).add(wrapper)

    def destroy(self, linger: int | None = None) -> None:
        """Close every socket (awaitable ones first, so that their futures are cancelled and
        their fds unwatched before the fds go away), then terminate."""
        for wrapper in list(vars(self).get("_awaitables", ())):
            if not wrapper.closed:
                wrapper.close(linger=linger)
        super().destroy(linger)
