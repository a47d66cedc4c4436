"""The socket base: pyzmq's API on top of pipes, commands and one routing pattern.

Theory of operation
-------------------
A :class:`Socket` is libzmq's ``socket_base_t``. It lives in the application thread that
uses it and is **not thread-safe** (as in ZeroMQ): one thread at a time, or hand it over with
a memory barrier such as a queue. The context is thread-safe.

*Commands.* A socket owns a :class:`~zreactor.reactor.mailbox.Mailbox`. I/O threads and
inproc peers reach it only by commands (a new pipe to attach, a pipe that became readable or
writable, a pipe terminating, the context stopping). Nobody runs the socket's commands but
the socket itself, and it runs them whenever the application calls in: before each send or
receive if any are pending (a flag read, not a syscall), and while blocked waiting for a
message or for room, with the mailbox's wake-up fd as the thing it blocks on.

*Patterns.* Subclasses (one module per pattern) implement the ``x*`` hooks: attach a pipe,
send a message, receive one, and react to pipes becoming readable, writable or gone. The base
class owns everything else: options, endpoints, blocking and timeouts, multipart assembly
(a message is sent only when its last frame is), and closing.

*Closing and linger.* :meth:`Socket.close` returns at once; the socket is handed to the
context's reaper (:mod:`~zreactor.sockets.reaper`, on I/O thread 0), which from then on
runs its commands. The reaper terminates the socket's pipes and children (listeners, sessions) with the socket's
``linger``: sessions keep delivering queued messages for up to ``linger`` ms, inproc peers
can still read what was queued for them. ``Context.term()`` returns when every socket has
been closed and reaped.

*One concept per module.* This module is the core: pattern hooks, commands, send/recv,
blocking and closing. The socket's other concepts live beside it and are mixed into
:class:`Socket` (mixins with no state of their own, so the public names stay on the one
class pyzmq users know): :mod:`~zreactor.sockets.endpoints` (bind/connect/unbind/disconnect
and the transports), :mod:`~zreactor.sockets.conveniences` (pyzmq's typed, multipart and
string helpers, and the option attributes such as ``sock.linger``), and
:mod:`~zreactor.sockets.caller_wait` (what the socket does while it blocks: the caller-I/O
wait), a plain function called by :meth:`Socket._retry`.

*Lifecycle.* :data:`SOCKET_TRANSITIONS`: an ``OPEN`` socket is ``STOPPED`` by the context's
``STOP`` (its blocking calls fail with ETERM; ``close()`` still works) and ``CLOSED`` by
``close()``. Entering either folds the state into ``_unusable``, the one flag the per-message
paths test.

*Pending commands.* The per-message paths ask :attr:`Mailbox.maybe_pending
<zreactor.reactor.mailbox.Mailbox.maybe_pending>` before touching the pattern: a flag read,
not a syscall. Why that racy read is safe is written on the property.
"""

from __future__ import annotations

import enum
import errno
import time
import types
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Container

from ..constants import Flag, PollEvent, SocketOption, SocketType
from ..errors import Again, ContextTerminated, ZMQError
from ..reactor.events import EventBus
from ..reactor.fsm import Machine
from ..reactor.mailbox import Mailbox, dispatch
from ..reactor.own import Own
from . import caller_wait
from .conveniences import Conveniences, install_option_attributes
from .endpoints import Endpoints
from .frame import (
    FINISHED_TRACKER,
    COPY_THRESHOLD,
    Frame,
    MessageTracker,
    TrackedMessage,
    as_frame,
    public_module,
)
from .options import (
    SECURITY_OPTIONS,
    Options,
    check_type,
    coerce,
    get_security_option,
    lookup,
    option_name,
    set_security_option,
)
from .pipe import Pipe
from .shadow import HandleTable, make_shadow, origin

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["SOCKET_TRANSITIONS", "Frame", "Socket", "SocketEvent", "SocketState"]
# (Frame lives in .frame; re-exported for the package)

#: options the socket computes (``getsockopt`` answers them itself); setting one is EINVAL
_READ_ONLY = frozenset({SocketOption.RCVMORE, SocketOption.EVENTS, SocketOption.FD})

DONTWAIT = int(Flag.DONTWAIT)
SNDMORE = int(Flag.SNDMORE)
#: plain ints: ``EVENTS`` is read several times per message by event loops, and or-ing the
#: enum members builds a new ``PollEvent`` each time
POLLIN = int(PollEvent.POLLIN)
POLLOUT = int(PollEvent.POLLOUT)
#: the options ``getsockopt`` answers itself, as plain ints: comparing an int with an enum
#: member costs ~0.1 us a time in CPython 3.11, and event loops read ``EVENTS`` and
#: ``RCVTIMEO`` for every message
_RCVMORE, _EVENTS, _FD, _HWM, _IPV4ONLY, _SUBSCRIBE, _UNSUBSCRIBE = (int(o) for o in (
    SocketOption.RCVMORE, SocketOption.EVENTS, SocketOption.FD, SocketOption.HWM,
    SocketOption.IPV4ONLY, SocketOption.SUBSCRIBE, SocketOption.UNSUBSCRIBE))

#: sockets whose ``underlying`` handle was handed out, for :meth:`Socket.shadow`
_HANDLES = HandleTable()


class SocketState(enum.Enum):
    """Where a socket stands in its life (see the module docstring)."""

    OPEN = "open"
    #: the context is terminating: blocking calls fail with ETERM until ``close()``
    STOPPED = "stopped"
    CLOSED = "closed"


class SocketEvent(enum.Enum):
    """What moves a socket through its life."""

    STOP = "STOP (context terminating)"
    CLOSE = "close()"


def _unusable(sock: Socket) -> None:
    sock._unusable = True


#: A socket's life; anything else than ``OPEN`` is unusable.
SOCKET_TRANSITIONS: Machine[SocketState, SocketEvent] = Machine("socket", SocketState.OPEN, {
    (SocketState.OPEN, SocketEvent.STOP): SocketState.STOPPED,
    (SocketState.OPEN, SocketEvent.CLOSE): SocketState.CLOSED,
    (SocketState.STOPPED, SocketEvent.CLOSE): SocketState.CLOSED,
    # closed while the context's STOP was on its way: the reaper runs it
    (SocketState.CLOSED, SocketEvent.STOP): SocketState.CLOSED,
}, attr="_life", entry={SocketState.STOPPED: _unusable, SocketState.CLOSED: _unusable})


class Socket(Endpoints, Conveniences, Own):
    """Base class of every socket type; the pyzmq-compatible API lives here.

    Create sockets with ``ctx.socket(zmq.PUSH)`` (an instance of the pattern's subclass);
    an object of exactly this class is a shadow (:meth:`shadow`), which reads the pattern's
    hooks on its original (``sockets/shadow.py``).
    """

    #: the socket type (``zmq.PAIR`` ...); set by subclasses
    socket_type: int = -1
    #: ``zmq.Socket[bytes]`` in annotations (pyzmq's Socket is generic in what it returns)
    __class_getitem__ = classmethod(types.GenericAlias)
    #: the running :class:`~zreactor.sockets.monitor.Monitor`, if any
    _monitor: Any = None
    #: True for sockets the library closes itself (a monitor's PAIR): ``Context.destroy`` skips them
    _internal = False

    # The public attributes, declared so that strict attribute setting (see
    # ``conveniences.py``) lets exactly these through. A subclass declares its own the same way.
    context: Context
    options: Options
    mailbox: Mailbox
    event_bus: EventBus
    thread: Any
    owner: Any
    own_state: Any
    #: pyzmq's: ``send(copy=False, track=True)`` of a shorter frame reports done at once
    copy_threshold: int = COPY_THRESHOLD
    #: the pattern's next call on its connections is known: REQ and REP alternate strictly
    #: between one send and one recv, PULL and SUB only receive. Between its calls, its few
    #: connections' reads stay on this thread (the *held read* of
    #: :mod:`zreactor.zmtp.shortcut`, arranged by :mod:`~zreactor.sockets.caller_wait`)
    holds_reads = False
    #: a shadow's original (None for a socket that is not one), per object: a shadow shares
    #: the original's attribute dict (``sockets/shadow.py``)
    __slots__ = ("_shadow_obj",)
    _shadow_obj: Socket | None
    #: the methods that register the socket object itself (reaper, inproc names, the
    #: ownership tree): a shadow runs them on its original (``sockets/shadow.py``)
    _SHADOW_DELEGATES = ("bind", "connect", "unbind", "disconnect", "close", "monitor",
                         "get_monitor_socket", "disable_monitor")

    def __new__(cls, context: Context | None = None, socket_type: int = -1,
                *args: Any, shadow: Any = None, **kwargs: Any) -> Socket:
        """``zmq.Socket(ctx, zmq.PUSH)`` (pyzmq's spelling) makes a PUSH socket;
        ``zmq.Socket(other)`` or ``zmq.Socket(shadow=handle)`` a shadow of another (:meth:`shadow`).

        The base class and user subclasses of it name no pattern; the type picks one, and a
        user subclass is combined with it (``class MySocket(zmq.Socket)`` then
        ``MySocket(ctx, zmq.REQ)`` is both a ``MySocket`` and a REQ socket).

        Raises:
            ZMQError: EINVAL for an unknown or unimplemented socket type; ENOTSOCK for a
                handle that names no live socket.
        """
        if shadow is None and context is not None and not hasattr(context, "add_socket"):
            shadow = context  # not a context: pyzmq's positional Socket(other_socket)
        if shadow is not None:
            return _shadow_of(cls, shadow)
        # a pattern class (or a subclass of one), or the pattern the type names
        sock = object.__new__(cls if cls.socket_type >= 0 else _pattern_class(cls, socket_type))
        sock._shadow_obj = None
        return sock

    def __init__(self, context: Context | None = None, socket_type: int | None = None, *,
                 shadow: Any = None, copy_threshold: int | None = None) -> None:
        """Create a socket of ``context``.

        ``ctx.socket(type, **options)`` is the usual spelling; it also applies the
        context's option defaults. With ``shadow`` (or another socket as ``context``), the
        object :meth:`__new__` made is a shadow (:meth:`shadow`), and nothing is done here.

        Raises:
            ZMQError: EINVAL if ``socket_type`` is not this class's type.
            ContextTerminated: the context was terminated.
        """
        if self._shadow_obj is not None:
            return  # ``zmq.Socket(shadow=...)``: made whole by __new__, nothing to reset
        Own.__init__(self)
        if context is None:
            raise TypeError("a socket needs a context: ctx.socket(type) or Socket(ctx, type)")
        if socket_type is not None and socket_type != -1 and socket_type != self.socket_type:
            raise ZMQError(errno.EINVAL, f"{type(self).__name__} is type {self.socket_type}")
        if copy_threshold is not None:
            self.copy_threshold = copy_threshold
        self.context = context
        self.options = Options(type=self.socket_type, type_name=SocketType(self.socket_type).name)
        self.mailbox = Mailbox(f"socket-{SocketType(self.socket_type).name}")  # may be EMFILE
        try:
            # ContextTerminated after term(), EMFILE past MAX_SOCKETS; nothing below can
            # fail, so term() never waits for a half-made socket
            context.add_socket(self)
        except BaseException:
            self.mailbox.close()
            raise
        self.thread = None
        self._pipes: list[Pipe] = []
        #: endpoint -> the objects serving it (listener/session, or inproc pipes)
        self._endpoints: dict[str, list[Any]] = {}
        self._out_frames: list[bytes] = []
        self._in_frames: deque[bytes] = deque()
        self._life = SocketState.OPEN
        #: not OPEN (closed or stopped): the one flag the per-message paths test
        self._unusable = False
        #: the wake-up fd was handed out (``FD``, ``fileno()``): someone may wait on it
        #: elsewhere, so this socket never holds reads (``caller_wait.arrange``)
        self._fd_shared = False
        #: events of this socket's listeners, sessions and engines (monitors subscribe)
        self.event_bus = EventBus(parent=context.events)

    # -- pattern hooks (subclasses) -----------------------------------------------------------

    def xattach_pipe(self, pipe: Pipe, subscribe_to_all: bool = False) -> None:
        """A new pipe is ready to carry messages."""
        raise NotImplementedError

    def xsend(self, msg: list[bytes]) -> bool:
        """Route a whole message; False if it cannot be sent now (all peers full)."""
        raise ZMQError(errno.ENOTSUP, f"{self.options.type_name} sockets cannot send")

    def xrecv(self) -> list[bytes] | None:
        """Return the next whole message, or None if none is ready."""
        raise ZMQError(errno.ENOTSUP, f"{self.options.type_name} sockets cannot receive")

    #: A pattern that takes a message read straight from a connection by the waiting
    #: ``recv()`` (*the direct read*, zreactor/zmtp/direct_read.py) defines this as a method
    #: ``xrecv_direct(pipe, msg)``: ``msg``, whole, would have been the next message read
    #: from ``pipe``; return what :meth:`xrecv` would have returned for it, or None if the
    #: pattern drops it. None (the default): such reads take the pipe.
    xrecv_direct: Callable[[Pipe, list[bytes]], list[bytes] | None] | None = None

    def xhas_in(self) -> bool:
        """True if :meth:`xrecv` would return a message."""
        return False

    def xhas_out(self) -> bool:
        """True if :meth:`xsend` would succeed."""
        return False

    def xread_activated(self, pipe: Pipe) -> None:
        """``pipe`` has messages again."""

    def xwrite_activated(self, pipe: Pipe) -> None:
        """``pipe`` has room again."""

    def xpipe_terminated(self, pipe: Pipe) -> None:
        """``pipe`` is gone; forget it."""

    def xsetsockopt(self, option: int, value: Any) -> bool:
        """Handle a pattern-specific option; return True if handled."""
        return False

    # -- pipe sink interface (called by pipes, on this socket's thread) ------------------------

    def read_activated(self, pipe: Pipe) -> None:
        """Pipe callback: readable again."""
        self.xread_activated(pipe)

    def write_activated(self, pipe: Pipe) -> None:
        """Pipe callback: writable again."""
        self.xwrite_activated(pipe)

    def pipe_terminated(self, pipe: Pipe) -> None:
        """Pipe callback: the pipe finished terminating."""
        self.xpipe_terminated(pipe)
        if pipe in self._pipes:
            self._pipes.remove(pipe)
            self._arrange_caller_reads()
        for objs in self._endpoints.values():
            if pipe in objs:
                objs.remove(pipe)
        if self.terminating:
            self.unregister_term_ack()

    def attach_pipe(self, pipe: Pipe, subscribe_to_all: bool = False) -> None:
        """Adopt ``pipe`` (our end) and hand it to the pattern."""
        pipe.sink = self
        self._pipes.append(pipe)
        self._arrange_caller_reads()
        self.xattach_pipe(pipe, subscribe_to_all)
        if self.terminating:
            # the socket is closing: take the pipe down at once
            self.register_term_acks(1)
            pipe.terminate(False)

    # -- commands ------------------------------------------------------------------------------

    def process_bind(self, pipe: Pipe) -> None:
        """``BIND`` command: a session or an inproc peer offers a new pipe."""
        self.attach_pipe(pipe)

    def process_stop(self) -> None:
        """``STOP`` command: the context is terminating; blocking calls must fail."""
        SOCKET_TRANSITIONS.fire(self, SocketEvent.STOP)

    def _process_commands(self) -> None:
        for command in self.mailbox.drain():
            dispatch(command)
        if self._life is SocketState.STOPPED:
            raise ContextTerminated()

    def _check_usable(self) -> None:
        if self._life is SocketState.CLOSED:
            raise ZMQError(errno.ENOTSOCK, "socket is closed")
        if self._life is SocketState.STOPPED:
            raise ContextTerminated()

    def _arrange_caller_reads(self) -> None:
        """The pipes (or the wake-up fd's audience) changed: may the connections' reads be
        held between calls? (:func:`caller_wait.arrange`)"""
        caller_wait.arrange(self._pipes, self.holds_reads and not self._fd_shared)

    def _share_fd(self) -> int:
        """The wake-up fd, for a caller that may wait on it outside this socket."""
        if not self._fd_shared:
            self._fd_shared = True
            self._arrange_caller_reads()
        return self.mailbox.fd

    def lend_reads(self) -> list[tuple[int, Any]]:
        """For an event loop about to wait for a message: borrow this socket's connections.

        The caller-I/O wait of :mod:`zreactor.sockets.caller_wait`, in two halves for a loop
        that cannot block here: returns ``(fd, token)`` for each tcp/ipc connection lent by
        its sleeping I/O thread (none for inproc, for more than ``MAX_CALLER_READS``
        connections, or while an I/O thread is busy). Watch the fds for reading alongside
        the wake-up fd, and give every one back with :meth:`give_back_reads` at the next
        wake-up of either kind: until then their I/O thread does not read them.

        Socket's thread only.
        """
        return caller_wait.lend(self.mailbox, self._pipes)

    def give_back_reads(self, lent: list[tuple[int, Any]], readable: Container[int]) -> None:
        """Return what :meth:`lend_reads` lent, reading on this thread the fds in ``readable``
        (their messages are then in the socket: read ``EVENTS``)."""
        caller_wait.give_back(lent, readable)

    def read_lent(self, lent: tuple[int, Any]) -> bool:
        """Read one connection of :meth:`lend_reads` that became readable, and keep it lent
        (a loop that goes on waiting on it); its messages are then in the socket. False if
        it went home instead (the connection ended or the receive queue filled): stop
        watching its fd, and leave it out of :meth:`give_back_reads`."""
        return caller_wait.read_lent(lent)

    # -- options ---------------------------------------------------------------------------------

    def setsockopt(self, option: int, value: Any) -> None:
        """Set a socket option (libzmq units: ms, bytes, messages).

        Raises:
            TypeError: ``value`` has the wrong type for the option (pyzmq's check).
            ZMQError: ENOTSUP for a libzmq option zreactor does not implement; EINVAL for an
                unknown option, a read-only one, one that does not apply to this socket
                type, or a value out of range. Messages name the option.
        """
        self._check_usable()
        option = int(option)
        check_type(option, value)
        if option == SocketOption.HWM:
            self.setsockopt(SocketOption.SNDHWM, value)
            self.setsockopt(SocketOption.RCVHWM, value)
            return
        if option == SocketOption.IPV4ONLY:  # libzmq's deprecated inverse of IPV6
            self.options.ipv6 = not value
            return
        if option in _READ_ONLY:
            raise ZMQError(errno.EINVAL, f"{option_name(option)} is read-only")
        if self.xsetsockopt(option, value):
            return
        if option in (SocketOption.SUBSCRIBE, SocketOption.UNSUBSCRIBE):
            raise ZMQError(errno.EINVAL, f"{option_name(option)} applies to SUB/XSUB sockets, "
                                         f"not {self.options.type_name}")
        if option in SECURITY_OPTIONS:  # they also pick the mechanism (options.py)
            set_security_option(self.options, option, value)
            return
        spec = lookup(option, self.options.type_name, write=True)
        setattr(self.options, spec.attr, coerce(option, spec, value))

    def getsockopt(self, option: int) -> Any:
        """Read a socket option.

        Raises:
            ZMQError: ENOTSUP for a libzmq option zreactor does not implement; EINVAL for an
                unknown or write-only option.
        """
        self._check_usable()
        option = int(option)
        if option == _RCVMORE:
            return int(bool(self._in_frames))
        if option == _EVENTS:
            return self._events(released=True)
        if option == _FD:
            return self._share_fd()
        if option == _HWM:
            return self.options.sndhwm
        if option == _IPV4ONLY:
            return int(not self.options.ipv6)
        if option == _SUBSCRIBE or option == _UNSUBSCRIBE:
            raise ZMQError(errno.EINVAL, f"{option_name(option)} is write-only")
        if option in SECURITY_OPTIONS:
            return get_security_option(self.options, option)
        spec = lookup(option, self.options.type_name, write=False)
        value = getattr(self.options, spec.attr)
        if spec.kind is str:  # pyzmq returns bytes (``sock.last_endpoint == b"tcp://..."``)
            return value.encode("utf-8")
        return int(value) if spec.kind is bool else value

    set = setsockopt
    get = getsockopt

    @property
    def type(self) -> int:  # type: ignore[override]
        """The socket type (``zmq.PUSH`` ...)."""
        return self.socket_type

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._life is SocketState.CLOSED

    def fileno(self) -> int:
        """The wake-up fd (the ``FD`` option), so event loops can watch the socket.

        Readable while commands are queued for the socket; a message is announced only on
        the edge from "found empty" to "has one", as libzmq's ``ZMQ_FD``: after it stirs,
        read ``EVENTS`` (see :mod:`zreactor.asyncio`).
        """
        return self._share_fd()

    @property
    def _shadow(self) -> bool:
        """pyzmq's: True for a shadow (:meth:`shadow`), whose ``_shadow_obj`` is the original."""
        return self._shadow_obj is not None

    @property
    def underlying(self) -> int:
        """The socket's handle (pyzmq exposes the C pointer): the same for its shadows.

        :meth:`shadow` turns it back into the socket while the socket is alive.
        """
        return _HANDLES.handle(origin(self))

    @classmethod
    def shadow(cls, address: Any) -> Socket:
        """A second object over the same socket (pyzmq's ``Socket.shadow``).

        Args:
            address: a socket, its :attr:`underlying` handle, or anything with an
                ``underlying`` (an awaitable socket).

        The shadow shares everything with the socket (``sockets/shadow.py``): a send through
        either is a send on the one socket, closing either closes it, and a shadow that is
        garbage collected closes nothing. ``copy.copy(sock)`` and ``zmq.Socket(sock)`` make
        one too. Called on ``zmq.Socket`` itself, the shadow's type is exactly ``zmq.Socket``
        (pyzmq's "cast back to the base class", as ``ZMQStream`` does); on a pattern's class or
        a subclass of yours, it is an instance of that class.

        Raises:
            ZMQError: ENOTSOCK if no live socket has that handle.
        """
        return cls(shadow=address)

    def __copy__(self) -> Socket:
        """``copy.copy(sock)``: a shadow of the same class, as in pyzmq."""
        return (Socket if type(self) is Socket else type(origin(self))).shadow(self)

    def __deepcopy__(self, memo: Any) -> Socket:
        """``copy.deepcopy(sock)``: a shadow too (there is one socket to share)."""
        return self.__copy__()

    # -- sending ---------------------------------------------------------------------------------

    def send(self, data: Any, flags: int = 0, copy: bool = True, track: bool = False,
             routing_id: int | None = None, group: str | None = None) -> MessageTracker | None:
        """Send one frame; with ``SNDMORE``, more frames of the same message follow.

        The message leaves only when its last frame is sent. ``data`` is bytes-like or a
        :class:`Frame`; zreactor never keeps a reference to a mutable buffer (see
        ``sockets/frame.py``), so ``copy`` only decides what ``track`` reports.

        Returns:
            ``None``; with ``track=True`` (or a tracked :class:`Frame` and ``copy=False``) a
            :class:`MessageTracker`, done when zreactor has released the message (at once
            for a copied one, as in pyzmq).

        Raises:
            Again: ``DONTWAIT`` (or ``sndtimeo`` expired) and no peer can take the message.
            ZMQError: EFSM for a send out of turn (REQ/REP), ENOTSUP for receive-only types.
            ContextTerminated: the context was terminated.
            ValueError: ``track=True`` with an untracked :class:`Frame` and ``copy=False``.
        """
        if self._unusable:
            self._check_usable()
        if type(data) is bytes:
            frame = data
        elif track or (not copy and isinstance(data, Frame) and data.tracker is not None):
            return self._send_tracked(data, flags, copy)
        else:
            frame = as_frame(data)
        if track:
            return self._send_tracked(data, flags, copy)
        if flags & SNDMORE:
            self._out_frames.append(frame)
            return None
        if not self._out_frames:
            # one frame, nothing queued: nothing to undo. Try the pattern at once unless
            # commands wait (they may change which pipes exist) or the caller set flags.
            msg = [frame]
            if self.mailbox.maybe_pending or not self.xsend(msg):
                self._send_msg(msg, flags)
            return None
        self._send_queued(self._out_frames, frame, flags)
        return None

    def _send_queued(self, msg: list[bytes], frame: bytes, flags: int) -> None:
        """Send the frames queued with ``SNDMORE`` (``msg``) plus the last one."""
        msg.append(frame)
        try:
            self._send_msg(msg, flags)
        except Again:
            msg.pop()  # the caller may retry the last frame; earlier frames stay queued
            self._out_frames = list(msg)
            raise
        except ZMQError:
            # refused for good (EFSM, EHOSTUNREACH, ...): drop the whole message, as libzmq
            # does, so its first frames cannot end up in front of the next one
            self._out_frames = []
            raise
        except BaseException:
            msg.pop()
            self._out_frames = list(msg)
            raise
        self._out_frames = []

    def _send_tracked(self, data: Any, flags: int, copy: bool) -> MessageTracker:
        """``send`` with a tracker (module docstring of ``sockets/frame.py``)."""
        frame_tracker = data.tracker if isinstance(data, Frame) else None
        if isinstance(data, Frame) and frame_tracker is None and not copy:
            raise ValueError("Not a tracked message")
        frame = as_frame(data)
        copied = copy or len(frame) < self.copy_threshold
        if flags & SNDMORE or (copied and frame_tracker is None):
            self.send(frame, flags)
            return frame_tracker or FINISHED_TRACKER
        msg = TrackedMessage(self._out_frames)
        self._send_queued(msg, frame, flags)
        if frame_tracker is None:
            return msg.tracker
        return MessageTracker(msg.tracker, frame_tracker)

    def _send_msg(self, msg: list[bytes], flags: int) -> None:
        if self.mailbox.maybe_pending:
            self._process_commands()
        if not self.xsend(msg):
            self._retry(lambda: self.xsend(msg), self.options.sndtimeo, flags)

    def _retry(self, attempt: Callable[[], Any], timeout_ms: int, flags: int,
               take: Callable[[Pipe, list[bytes]], list[bytes] | None] | None = None) -> Any:
        """Block until ``attempt()`` returns something true; return it. Between attempts,
        wait for commands (and run them) or ``timeout_ms``.

        While it waits, a socket with only a few tcp/ipc connections also reads them on this
        thread (*caller I/O*): see :mod:`zreactor.sockets.caller_wait`. A ``recv()`` passes
        its pattern's :attr:`xrecv_direct` as ``take``: a message the wait read directly
        is returned as it comes back from ``take``.

        Raises:
            Again: ``DONTWAIT`` was given, ``timeout_ms`` is 0, or it expired.
        """
        if timeout_ms < 0 and not flags & DONTWAIT:
            deadline = None  # (the common blocking call: no clock to read)
        elif flags & DONTWAIT or timeout_ms == 0:
            caller_wait.release(self._pipes)  # back to the application, not waiting here
            raise Again()
        else:
            deadline = time.monotonic() + timeout_ms / 1000
        mailbox = self.mailbox
        timeout = None
        while True:
            if deadline is not None:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    caller_wait.release(self._pipes)
                    raise Again()
            result = caller_wait.wait(mailbox, self._pipes, timeout, take)
            if result is not None:
                return result  # read directly (zreactor/zmtp/direct_read.py)
            if mailbox.maybe_pending:  # a wait that read a connection may have brought none
                self._process_commands()
            result = attempt()
            if result:
                return result

    # -- receiving -------------------------------------------------------------------------------

    def recv(self, flags: int = 0, copy: bool = True, track: bool = False) -> Any:
        """Receive one frame (bytes, or a :class:`Frame` with ``copy=False``).

        After a frame with more to come, ``sock.rcvmore`` is true.

        Raises:
            Again: ``DONTWAIT`` (or ``rcvtimeo`` expired) and no message is ready.
            ContextTerminated: the context was terminated.
        """
        if self._unusable:
            self._check_usable()
        frames = self._in_frames
        if not frames:
            if self.mailbox.maybe_pending:
                msg = self._recv_msg(flags)
            else:
                msg = self.xrecv()
                if msg is None:  # the pattern was just asked: wait (no second look first)
                    if flags or self.options.rcvtimeo >= 0:
                        msg = self._retry(self.xrecv, self.options.rcvtimeo, flags,
                                          self.xrecv_direct)
                    else:
                        # the common blocking call: _retry's first wait, made here (a
                        # request or a reply comes back from it: the express read); then
                        # as after any wait, commands first and the pattern again
                        msg = caller_wait.wait(self.mailbox, self._pipes, None,
                                               self.xrecv_direct)
                        if msg is None:
                            msg = self._recv_msg(flags)
            if len(msg) == 1:  # the common case: no need to queue the frames
                return msg[0] if copy else Frame._received(msg[0], False)
            frames.extend(msg)
        frame = frames.popleft()
        return frame if copy else Frame._received(frame, bool(frames))

    def _recv_msg(self, flags: int) -> list[bytes]:
        if self.mailbox.maybe_pending:
            self._process_commands()
        msg = self.xrecv()
        if msg is not None:
            return msg
        # a message always has at least one frame, so a received one is never falsy
        return self._retry(  # type: ignore[no-any-return]
            self.xrecv, self.options.rcvtimeo, flags, self.xrecv_direct)

    # -- readiness -------------------------------------------------------------------------------

    def _events(self, released: bool = False) -> int:
        """The ``EVENTS`` mask. ``released``: the caller will wait elsewhere than in this
        socket (``EVENTS``, a ``Poller``), so held reads go back to their loop first."""
        if released:
            caller_wait.release(self._pipes)
        if self.mailbox.maybe_pending:
            self._process_commands()
        mask = 0
        if self._in_frames or self.xhas_in():
            mask = POLLIN
        if self.xhas_out():
            mask |= POLLOUT
        return mask

    def poll(self, timeout: int | None = None, flags: int = PollEvent.POLLIN) -> int:
        """Wait up to ``timeout`` ms (None: for ever) for any of ``flags``; return the events."""
        self._check_usable()
        events = self._events() & flags
        if events:
            return events
        try:
            return self._retry(  # type: ignore[no-any-return]
                lambda: self._events() & flags, -1 if timeout is None else timeout, 0
            )
        except Again:
            return 0

    # -- closing ---------------------------------------------------------------------------------

    def close(self, linger: int | None = None) -> None:
        """Close the socket; queued messages are delivered for up to ``linger`` ms.

        Returns at once; ``Context.term()`` waits for the delivery. Idempotent.
        """
        if self._life is SocketState.CLOSED:
            return
        if linger is not None:
            self.options.linger = int(linger)
        caller_wait.release(self._pipes)  # no wait will come to read them any more
        SOCKET_TRANSITIONS.fire(self, SocketEvent.CLOSE)
        self.context.reaper.reap(self)

    def _reap_term(self) -> None:
        """On the reaper thread: start terminating (pipes, children, inproc names)."""
        self.context.inproc.forget(self)
        for pipe in list(self._pipes):
            if pipe.peer is None or pipe.peer.sink is None:
                self._drop_unbound_pipe(pipe)  # inproc connect never matched by a bind
                continue
            self.register_term_acks(1)
            pipe.terminate(False)
        linger = self.options.linger
        self.process_term(None if linger < 0 else linger / 1000)

    def process_destroy(self) -> None:
        """Termination finished: stop monitoring (libzmq does it here too); release the mailbox."""
        if self._monitor is not None:
            from .monitor import stop_monitor

            stop_monitor(self)
        self.context.reaper.reaped(self)

    def monitor(self, addr: str | None, events: int = -1) -> None:
        """Publish this socket's events on a PAIR bound at ``addr`` (inproc).

        ``None`` stops monitoring. See :func:`zreactor.sockets.monitor.get_monitor_socket`.
        """
        from .monitor import start_monitor

        start_monitor(self, addr, events)

    def get_monitor_socket(self, events: int | None = None, addr: str | None = None,
                           linger: int | None = None) -> Socket:
        """Return a PAIR socket receiving this socket's events (pyzmq's helper and signature)."""
        from .monitor import get_monitor_socket

        return get_monitor_socket(self, events, addr, linger=linger)

    def disable_monitor(self) -> None:
        """Stop monitoring."""
        self.monitor(None)

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        """pyzmq's: ``<zmq.Socket(zmq.PUSH) at 0x7f... closed>`` (the class when subclassed)."""
        cls = type(self)
        if cls.__module__.startswith("zreactor."):
            name = f"{public_module()}.Socket"
        else:
            name = f"{cls.__module__}.{cls.__qualname__}"
        closed = " closed" if self.closed else ""
        return f"<{name}({public_module()}.{self.options.type_name}) at {hex(id(self))}{closed}>"


def _shadow_of(cls: type[Socket], address: Any) -> Socket:
    """The shadow ``cls(shadow=address)`` makes (see :meth:`Socket.shadow`)."""
    if isinstance(address, Socket):
        sock: Socket | None = address
    else:
        handle = address if isinstance(address, int) else getattr(address, "underlying", None)
        if not isinstance(handle, int):
            raise TypeError(f"cannot shadow {address!r}: expected a socket or its handle")
        sock = _HANDLES.lookup(handle)
        if sock is None:
            raise ZMQError(errno.ENOTSOCK, f"no live socket at {handle:#x}")
    sock = origin(sock)
    if cls is Socket:
        return make_shadow(sock, Socket)  # exactly a zmq.Socket (``shadow.forward_to_original``)
    if isinstance(sock, cls):
        return make_shadow(sock)
    if cls.socket_type >= 0:
        raise ZMQError(errno.EINVAL, f"a {cls.__name__} cannot shadow a "
                                     f"{sock.options.type_name} socket")
    return make_shadow(sock, _pattern_class(cls, sock.socket_type))


#: (user class, pattern class) -> the class combining them (see ``Socket.__new__``)
_COMBINED: dict[tuple[type, type], type] = {}


def _pattern_class(cls: type[Socket], socket_type: int) -> type[Socket]:
    from . import socket_class

    pattern = socket_class(socket_type)
    if cls is Socket:
        return pattern
    combined = _COMBINED.get((cls, pattern))
    if combined is None:
        combined = type(cls.__name__, (cls, pattern),
                        {"__module__": cls.__module__, "__qualname__": cls.__qualname__})
        _COMBINED[cls, pattern] = combined
    return combined


install_option_attributes(Socket)
