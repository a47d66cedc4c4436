"""pyzmq's conveniences on a socket: typed send/recv, multipart, string options, attributes.

Theory of operation
-------------------
pyzmq gives its ``Socket`` a layer of helpers over the core ``send``/``recv``/``setsockopt``:
``send_string``/``recv_string``, ``send_json``, ``send_pyobj``, ``send_multipart``/
``recv_multipart``, ``setsockopt_string``, ``subscribe``, and option *attributes*
(``sock.linger = 0``, ``sock.rcvmore``). None of them is part of the messaging core: each
is a short function of the core calls. They live here, in a mixin of
:class:`~zreactor.sockets.socket.Socket` (:class:`Conveniences`, no state of its own), so
that ``socket.py`` reads as the core alone.

*Multipart.* ``send_multipart`` hands the whole message to the core's ``_send_msg`` at once
(after any frames queued with ``SNDMORE``): it is all or nothing, as in libzmq. A message of
one frame goes through ``send`` instead, which a pattern may override (REQ's and REP's
express exchange).
``recv_multipart`` takes what a partial ``recv`` left queued, else one whole message.

*Option attributes.* :func:`install_option_attributes` puts one data descriptor per option
name on the socket class, once, at import, in both spellings (``sock.linger``,
``sock.LINGER``), so an option attribute costs one descriptor call. A name that is already
a method of the class (``subscribe``) becomes both: calling it calls the method, assigning
to it sets the option. A name that is anything else (``type``, a property) keeps its own
definition.

*Strict attributes* (pyzmq's rule). ``sock.lingr = 0`` must not quietly create an attribute
while the socket keeps lingering: :meth:`Conveniences.__setattr__` lets through a private
name (``_x``: the library's own state), one the class declares (a method, an option
descriptor, an annotation) or one the instance already has; anything else is
``AttributeError: Socket has no such option: LINGR``. A subclass declares its own public
attributes at class level, as with pyzmq. ``dir(sock)`` lists the option names. Reads of an
unknown name fail as on any Python object (``AttributeError: 'SubSocket' object has no
attribute 'lingr'``): every option name is a class attribute, so nothing is left for a
``__getattr__`` to do. An option that cannot be read (``sock.router_mandatory``, write-only)
fails in its descriptor with an ``AttributeError`` naming it, as in pyzmq (``hasattr`` and
``mock.Mock(spec=sock)`` rely on that).

*The per-message fast path* (why there is no ``__getattr__`` and why ``__setattr__`` never
looks at ``self.__dict__`` first). ``send``/``recv`` read half a dozen attributes of the
socket per message, and on CPython 3.11 each read is fast only when the interpreter can
specialize it (``LOAD_ATTR_INSTANCE_VALUE``, ``LOAD_METHOD_WITH_VALUES``). It cannot when
the class defines ``__getattr__`` (its ``tp_getattro`` is no longer the generic one), nor
once the instance's ``__dict__`` has been materialized, which ``name in self.__dict__``
does for good. Together they cost inproc PUSH/PULL 37 % more instructions per send and 46 %
more per receive (docs/PERFORMANCE.md).
So option reads are descriptors, and ``__setattr__`` asks the cheap questions first: the
socket's own ``__init__`` assigns only private or declared names and never reaches the
``__dict__`` test. Assignments still pay for ``__setattr__`` (a Python call), so the
per-message path assigns nothing on the socket.

Everything here runs on the socket's thread.
"""

from __future__ import annotations

import errno
import json
import pickle
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..constants import Flag, ListenerOption, OptType, SocketOption
from ..errors import ZMQError
from .frame import FINISHED_TRACKER, Frame, MessageTracker, TrackedMessage, as_frame

if TYPE_CHECKING:
    from .socket import Socket

__all__ = ["Conveniences", "OPTION_NAMES", "install_option_attributes"]

SNDMORE = int(Flag.SNDMORE)

#: attribute names that map to options (``sock.linger = 0``), pyzmq style
OPTION_NAMES: dict[str, int] = {o.name.lower(): int(o) for o in SocketOption}
OPTION_NAMES["identity"] = int(SocketOption.ROUTING_ID)
OPTION_NAMES.update((o.name.lower(), int(o)) for o in ListenerOption)  # sock.accept_grace
#: and pyzmq's upper-case spelling (``sock.LINGER``), aliases included
OPTION_NAMES.update((name, int(o)) for name, o in SocketOption.__members__.items())
OPTION_NAMES.update((name, int(o)) for name, o in ListenerOption.__members__.items())


def _declared_names(cls: type) -> frozenset[str]:
    """Every attribute name ``cls`` or a base declares (in ``__dict__`` or annotations)."""
    cached = cls.__dict__.get("_declared_cache")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    names: set[str] = set()
    for klass in cls.__mro__:
        names.update(klass.__dict__)
        names.update(klass.__dict__.get("__annotations__", {}))
    frozen = frozenset(names)
    type.__setattr__(cls, "_declared_cache", frozen)
    return frozen


def _no_such_option(name: str) -> AttributeError:
    return AttributeError(f"Socket has no such option: {name.upper()}")


class Conveniences:
    """pyzmq's helper methods (a mixin of :class:`~zreactor.sockets.socket.Socket`)."""

    def __setattr__(self, name: str, value: Any) -> None:
        # cheap tests first, and never ``self.__dict__`` before them: see "The per-message
        # fast path" in the module docstring
        if name[0] == "_" or name in _declared_names(type(self)) or name in self.__dict__:
            object.__setattr__(self, name, value)
            return
        raise _no_such_option(name)

    # No ``__getattr__``, on purpose: see "The per-message fast path" in the module docstring.

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *SocketOption.__members__})

    if TYPE_CHECKING:  # provided by Socket
        copy_threshold: int
        _out_frames: list[bytes]
        _in_frames: deque[bytes]

        def _check_usable(self) -> None: ...
        def _send_msg(self, msg: list[bytes], flags: int) -> None: ...
        def _recv_msg(self, flags: int) -> list[bytes]: ...
        def send(self, data: Any, flags: int = 0, copy: bool = True, track: bool = False,
                 routing_id: int | None = None, group: str | None = None) -> None: ...
        def recv(self, flags: int = 0, copy: bool = True, track: bool = False) -> Any: ...
        def setsockopt(self, option: int, value: Any) -> None: ...
        def getsockopt(self, option: int) -> Any: ...

    # -- options as strings ----------------------------------------------------------------

    def setsockopt_string(self, option: int, value: str, encoding: str = "utf-8") -> None:
        """Set a bytes option from a str."""
        self.setsockopt(option, value.encode(encoding))

    def getsockopt_string(self, option: int, encoding: str = "utf-8") -> str:
        """Read a bytes option as str.

        Raises:
            TypeError: ``option`` is not a bytes option (pyzmq's check).
        """
        try:
            bytes_option = SocketOption(option).opt_type is OptType.bytes
        except ValueError:
            bytes_option = False
        if not bytes_option:
            raise TypeError(f"option {option} will not return a string to be decoded")
        return self.getsockopt(option).decode(encoding)  # type: ignore[no-any-return]

    setsockopt_unicode = setsockopt_string
    getsockopt_unicode = getsockopt_string

    set_string = setsockopt_string
    get_string = getsockopt_string

    def set_hwm(self, value: int) -> None:
        """Set both ``SNDHWM`` and ``RCVHWM`` (pyzmq's ``sock.hwm = n``)."""
        self.setsockopt(SocketOption.HWM, value)

    def get_hwm(self) -> int:
        """The high-water mark (``SNDHWM``; pyzmq's convention)."""
        return int(self.getsockopt(SocketOption.HWM))

    # -- sending ------------------------------------------------------------------------------

    def send_multipart(self, msg_parts: Sequence[Any], flags: int = 0, copy: bool = True,
                       track: bool = False, **kwargs: Any) -> MessageTracker | None:
        """Send a multipart message (a sequence of bytes-like frames or :class:`Frame`).

        Returns:
            ``None``, or with ``track=True`` (or tracked frames and ``copy=False``) a
            :class:`MessageTracker` for the whole message (see :meth:`Socket.send`).

        Raises:
            TypeError: a frame is not bytes-like (str must be encoded first).
        """
        self._check_usable()
        frames = [as_frame(part) for part in msg_parts]
        if not frames:
            raise ZMQError(errno.EINVAL, "cannot send an empty multipart message")
        msg = self._out_frames + frames
        frame_trackers = [] if copy else [
            p.tracker for p in msg_parts if isinstance(p, Frame) and p.tracker is not None]
        if not (track or frame_trackers):
            if len(msg) == 1:
                # one frame: send() itself, so a pattern's own send (the express exchange of
                # REQ and REP, ``sockets/reqrep.py``) sees it as it sees send(frame)
                self.send(msg[0], flags & ~SNDMORE)
                return None
            self._send_msg(msg, flags & ~SNDMORE)
            self._out_frames = []
            return None
        if not frame_trackers and (copy or all(len(f) < self.copy_threshold for f in frames)):
            self._send_msg(msg, flags & ~SNDMORE)  # copied, as pyzmq would: done at once
            self._out_frames = []
            return FINISHED_TRACKER
        tracked = TrackedMessage(msg)
        self._send_msg(tracked, flags & ~SNDMORE)
        self._out_frames = []
        return MessageTracker(tracked.tracker, *frame_trackers)

    def send_string(self, u: str, flags: int = 0, copy: bool = True, encoding: str = "utf-8",
                    **kwargs: Any) -> None:
        """Send a str, encoded."""
        if not isinstance(u, str):
            raise TypeError("send_string needs a str")
        self.send(u.encode(encoding), flags)

    send_unicode = send_string

    def send_json(self, obj: Any, flags: int = 0, **kwargs: Any) -> None:
        """Send ``obj`` serialised as JSON."""
        self.send(json.dumps(obj, **kwargs).encode("utf-8"), flags)

    def send_pyobj(self, obj: Any, flags: int = 0, protocol: int = pickle.DEFAULT_PROTOCOL,
                   **kwargs: Any) -> None:
        """Send ``obj`` pickled (only between trusted peers)."""
        self.send(pickle.dumps(obj, protocol), flags)

    # -- receiving ----------------------------------------------------------------------------

    def recv_multipart(self, flags: int = 0, copy: bool = True, track: bool = False) -> list[Any]:
        """Receive all frames of the next message."""
        self._check_usable()
        if self._in_frames:
            parts = list(self._in_frames)
            self._in_frames.clear()
        else:
            parts = self._recv_msg(flags)
        if copy:
            return list(parts)
        last = len(parts) - 1
        return [Frame._received(p, i < last) for i, p in enumerate(parts)]

    def recv_into(self, buffer: Any, /, *, nbytes: int = 0, flags: int = 0) -> int:
        """Receive the next frame into ``buffer`` (writable, contiguous); return its size.

        At most ``nbytes`` (default: ``len(buffer)``) are copied; a longer frame is
        truncated and the returned size, larger than what was copied, says so (pyzmq's and
        libzmq's ``zmq_recv`` contract). ``recv_into(bytearray())`` discards a frame.

        Raises:
            BufferError: ``buffer`` is read-only or not contiguous. ValueError: ``nbytes``
                is negative or larger than the buffer. Again, ContextTerminated: as ``recv``.
        """
        view = memoryview(buffer)
        if view.readonly:
            raise BufferError("recv_into needs a writable buffer")
        if not view.contiguous:
            raise BufferError("recv_into needs a contiguous buffer")
        view = view.cast("B")
        if nbytes < 0 or nbytes > len(view):
            raise ValueError(f"nbytes={nbytes} outside 0..{len(view)}")
        limit = nbytes or len(view)
        frame = self.recv(flags)
        count = min(limit, len(frame))
        view[:count] = frame[:count]
        return len(frame)

    def send_serialized(self, msg: Any, serialize: Callable[[Any], Sequence[Any]], flags: int = 0,
                        copy: bool = True, **kwargs: Any) -> MessageTracker | None:
        """Send ``serialize(msg)`` (a list of frames) as one multipart message."""
        return self.send_multipart(serialize(msg), flags=flags, copy=copy, **kwargs)

    def recv_serialized(self, deserialize: Callable[[list[Any]], Any], flags: int = 0,
                        copy: bool = True) -> Any:
        """Receive a multipart message and return ``deserialize(frames)``."""
        return deserialize(self.recv_multipart(flags, copy=copy))

    def recv_string(self, flags: int = 0, encoding: str = "utf-8") -> str:
        """Receive a frame and decode it."""
        return self.recv(flags).decode(encoding)

    recv_unicode = recv_string

    def recv_json(self, flags: int = 0, **kwargs: Any) -> Any:
        """Receive a frame and parse it as JSON."""
        return json.loads(self.recv(flags).decode("utf-8"), **kwargs)

    def recv_pyobj(self, flags: int = 0) -> Any:
        """Receive a frame and unpickle it (only from trusted peers)."""
        return pickle.loads(self.recv(flags))

    # -- subscriptions (SUB/XSUB override; everyone else refuses) -------------------------------

    def subscribe(self, topic: str | bytes) -> None:
        """Subscribe to ``topic`` (SUB sockets)."""
        if isinstance(topic, str):
            topic = topic.encode("utf-8")
        self.setsockopt(SocketOption.SUBSCRIBE, topic)

    def unsubscribe(self, topic: str | bytes) -> None:
        """Unsubscribe from ``topic`` (SUB sockets)."""
        if isinstance(topic, str):
            topic = topic.encode("utf-8")
        self.setsockopt(SocketOption.UNSUBSCRIBE, topic)


class _OptionAttribute:
    """``sock.linger`` reads and ``sock.linger = 0`` writes the option, pyzmq style.

    Installed on :class:`~zreactor.sockets.socket.Socket` once per option name (see
    :func:`install_option_attributes`).
    """

    def __init__(self, option: int, name: str) -> None:
        self.option = option
        self.__doc__ = f"The ``{name.upper()}`` socket option (getsockopt/setsockopt)."

    def __get__(self, obj: Socket | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return _read_attribute(obj, self.option)

    def __set__(self, obj: Socket, value: Any) -> None:
        if isinstance(value, str) and self.option in _TOPIC_OPTIONS:
            value = value.encode("utf-8")  # pyzmq: ``sock.subscribe = "topic"``
        obj.setsockopt(self.option, value)


_TOPIC_OPTIONS = frozenset({SocketOption.SUBSCRIBE, SocketOption.UNSUBSCRIBE})


def _read_attribute(sock: Any, option: int) -> Any:
    """``getsockopt`` for an attribute read; an option that cannot be read is an
    ``AttributeError`` (pyzmq's rule, which ``hasattr`` and ``mock.Mock(spec=sock)`` need)."""
    try:
        return sock.getsockopt(option)
    except ZMQError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOTSUP):
            raise AttributeError(str(exc)) from None
        raise


class _MethodAndOption(_OptionAttribute):
    """``sock.subscribe(topic)`` calls the method; ``sock.subscribe = topic`` sets the option."""

    def __init__(self, option: int, name: str, method: Callable[..., Any]) -> None:
        super().__init__(option, name)
        self.method = method
        self.__doc__ = method.__doc__

    def __get__(self, obj: Socket | None, owner: type | None = None) -> Any:
        return self.method if obj is None else self.method.__get__(obj, owner)


def install_option_attributes(cls: type) -> None:
    """Give ``cls`` (the socket base class) one attribute per option name; see the module
    docstring for what happens to names the class (or a mixin of it) already defines."""
    for name, option in OPTION_NAMES.items():
        existing = next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), None)
        if existing is None:
            setattr(cls, name, _OptionAttribute(option, name))
        elif callable(existing):
            setattr(cls, name, _MethodAndOption(option, name, existing))
        # anything else (``type``, a property) keeps its own definition
