"""The messaging context: an I/O thread pool, plus the sockets, their reaper and inproc names.

Theory of operation
-------------------
A :class:`Context` composes a reactor-layer :class:`~zreactor.reactor.pool.IOThreadPool`
(the threads, placement, load and fd accounting, the root of the ownership tree) and adds what
messaging needs on top of it:

* the **sockets** created here, and the **reaper** that finishes the closed ones: a
  :class:`~zreactor.sockets.reaper.Reaper` on I/O thread 0, a child of the pool's root, that
  polls each closed socket's mailbox and runs its commands until its pipes and children are
  gone;
* the **inproc registry** (bound names, connections waiting for a bind);
* **option defaults** for new sockets (``ctx.linger = 0``, pyzmq style).

``listen``, ``connect``, ``launch`` and ``choose_io_thread`` are the pool's, checked against
the context's own closed flag. Engines never see the context: they reach the pool through
their thread.

``term()`` is libzmq's order: wake every socket's blocking calls with ``ETERM``, wait until
the application has closed them all, then terminate the pool (``TERM(linger)`` down the
tree, every engine and reaped socket finishes and acknowledges, the threads stop and are
joined). After ``term()`` returns, no thread and no fd created by the context remains.

The context is thread-safe: any application thread may create sockets, launch engines or
terminate it. ``term()`` must not be called from one of the context's own I/O threads (it
would wait for itself); that raises.
"""

from __future__ import annotations

import errno
import os
import threading
import types
import warnings
from typing import Any, Callable, TypeVar

from .constants import ContextOption, SocketOption
from .errors import ContextClosedError, ContextTerminated, ZMQError, ZReactorError
from .reactor.connecter import Connecter
from .reactor.engine import Engine
from .reactor.io_thread import IOThread
from .reactor.listener import Listener
from .reactor.mailbox import Cmd, Signaler
from .reactor.pool import IOThreadPool
from .sockets.inproc import InprocRegistry
from .sockets.frame import public_module
from .sockets.reaper import Reaper
from .sockets.shadow import HandleTable, make_shadow, origin
from .sockets.socket import Socket

__all__ = ["Context"]

E = TypeVar("E", bound=Engine)

#: contexts whose ``underlying`` handle was handed out, for :meth:`Context.shadow`
_HANDLES = HandleTable()

#: options a context can hold as defaults for new sockets (``ctx.linger = 0``), pyzmq style;
#: the read-only ones make no sense as defaults
_SOCKOPT_NAMES: dict[str, int] = {
    o.name.lower(): int(o)
    for o in SocketOption
    if o not in (SocketOption.RCVMORE, SocketOption.FD, SocketOption.EVENTS,
                 SocketOption.TYPE, SocketOption.LAST_ENDPOINT)
}
_SOCKOPT_NAMES["identity"] = int(SocketOption.ROUTING_ID)
#: context options as attributes (``ctx.max_sockets = 100``); ``io_threads`` is the thread
#: list here, so ``ctx.get(zmq.IO_THREADS)`` (or ``ctx.IO_THREADS``) reads the count
_CTX_OPTION_NAMES: dict[str, int] = {
    o.name.lower(): int(o) for o in ContextOption if o is not ContextOption.IO_THREADS
}
#: pyzmq's upper-case spellings (``ctx.IO_THREADS = 4``, ``ctx.LINGER = 0``)
_CTX_OPTION_UPPER: dict[str, int] = {o.name: int(o) for o in ContextOption}
_SOCKOPT_UPPER: dict[str, int] = {name.upper(): value for name, value in _SOCKOPT_NAMES.items()}


def _context_option(name: str) -> int | None:
    """The context option an attribute name spells (``max_sockets``, ``IO_THREADS``), if any."""
    return _CTX_OPTION_UPPER.get(name) if name.isupper() else _CTX_OPTION_NAMES.get(name)


def _socket_option(name: str) -> int | None:
    """The socket option an attribute name spells as a default (``linger``, ``LINGER``)."""
    return _SOCKOPT_UPPER.get(name) if name.isupper() else _SOCKOPT_NAMES.get(name)


class Context:
    """Owns an I/O thread pool, the messaging sockets and everything launched on them.

    Args:
        io_threads: number of I/O threads (>= 1).
        poller: force a poller backend by name (``"epoll"``, ``"poll"``, ``"select"``, ...);
            default: ``$ZREACTOR_POLLER`` or the best available.
        term_linger: how long :meth:`term` lets engines flush queued output, in seconds;
            ``None`` waits for ever (libzmq's -1), ``0`` drops it at once. (Messaging
            sockets use their own ``linger`` option, in milliseconds, as in pyzmq.)
        clock: monotonic clock for every poller (tests pass a fake one).

    Attributes:
        pool: the :class:`~zreactor.reactor.pool.IOThreadPool` the context runs on.
        io_threads: the pool's threads; ``fds``, ``events`` and ``poller_name`` are the
            pool's too.

    Use it as a context manager, or call :meth:`term` when done::

        with zreactor.Context(io_threads=2) as ctx:
            listener = ctx.listen("tcp://127.0.0.1:0", MyEngine)
            ...
    """

    _start_threads = True  # ManualContext (zreactor.testing) steps the loops itself
    #: the class ``socket()`` instantiates (pyzmq's hook; a subclass of ``zreactor.Socket``)
    _socket_class: type = Socket
    #: ``zmq.Context[zmq.Socket]`` in annotations (pyzmq's Context is generic in its socket
    #: class; ipykernel annotates with it at import time)
    __class_getitem__ = classmethod(types.GenericAlias)
    _instance: Context | None = None
    _instance_lock = threading.Lock()
    _instance_pid: int | None = None
    #: pyzmq's: True for a shadow (:meth:`shadow`), whose ``_shadow_obj`` is the original
    _shadow = False
    _shadow_obj: Context | None = None

    def __new__(cls, *args: Any, shadow: Any = None, **kwargs: Any) -> Context:
        """``Context(other)`` or ``Context(shadow=handle)`` makes a shadow (:meth:`shadow`).

        Raises:
            ZMQError: EFAULT for a handle that names no live context.
        """
        if shadow is None and args and isinstance(args[0], Context):
            shadow = args[0]  # pyzmq's positional spelling: zmq.asyncio.Context(sync_ctx)
        if shadow is None:
            return object.__new__(cls)
        if not isinstance(shadow, Context):
            handle = shadow if isinstance(shadow, int) else getattr(shadow, "underlying", None)
            if not isinstance(handle, int):
                raise TypeError(f"cannot shadow {shadow!r}: expected a context or its handle")
            shadow = _HANDLES.lookup(handle)
            if shadow is None:
                raise ZMQError(errno.EFAULT, f"no live context at {handle:#x}")
        return make_shadow(shadow, cls)

    def __init__(
        self,
        io_threads: int = 1,
        *,
        poller: str | None = None,
        term_linger: float | None = None,
        clock: Callable[[], float] | None = None,
        shadow: Any = None,
    ) -> None:
        """See the class docstring; ``shadow`` (or a context as ``io_threads``) is
        :meth:`__new__`'s, which makes a shadow instead (this never runs for one)."""
        if isinstance(io_threads, int) and not isinstance(io_threads, bool) and io_threads < 0:
            raise ZMQError(errno.EINVAL, f"io_threads must be >= 1, got {io_threads}")
        if term_linger is not None and term_linger < 0:
            term_linger = None  # libzmq's -1
        #: socket option defaults applied to every new socket (pyzmq's ``ctx.sockopts``)
        self.sockopts: dict[int, Any] = {}
        self.term_linger = term_linger
        self.pool = IOThreadPool(io_threads, poller=poller, clock=clock,
                                 start=self._start_threads)
        self.io_threads: list[IOThread] = self.pool.threads
        self.events = self.pool.events
        self.fds = self.pool.fds
        self.poller_name = self.pool.poller_name
        self._lock = threading.Lock()
        self._closed = False
        self._terminated = threading.Event()
        #: readable for good once the sockets were sent STOP (see ``closing_fd``); made on
        #: first use, so a context nobody polls costs no fd for it
        self._closing: Signaler | None = None
        self._sockets_stopped = False
        #: the inproc transport's names (bound sockets, connections waiting for a bind)
        self.inproc = InprocRegistry()
        #: keeps the live sockets and finishes the closed ones (a child of the pool's root)
        self.reaper = Reaper()
        self.pool.adopt(self.reaper, self.io_threads[0])
        #: libzmq's context options (``get``/``set``); IO_THREADS is fixed at construction
        self._ctx_options: dict[int, int] = {
            ContextOption.MAX_SOCKETS: 1023,
            ContextOption.MAX_MSGSZ: 2**31 - 1,
        }

    @classmethod
    def instance(cls, io_threads: int = 1) -> Context:
        """The process-wide shared context (pyzmq's ``Context.instance()``); thread-safe.

        Created on first use; a new one is created if the previous one was terminated, or
        after a ``fork()``. ``io_threads`` only matters when it is created.
        """
        inst = cls._instance
        if inst is None or inst.closed or cls._instance_pid != os.getpid():
            with cls._instance_lock:
                inst = cls._instance
                if inst is None or inst.closed or cls._instance_pid != os.getpid():
                    inst = cls(io_threads=io_threads)
                    cls._instance = inst
                    cls._instance_pid = os.getpid()
        return inst

    # -- handles and shadows (pyzmq) ----------------------------------------------------------

    @property
    def underlying(self) -> int:
        """The context's handle (pyzmq exposes the C pointer): the same for its shadows."""
        return _HANDLES.handle(origin(self))

    @classmethod
    def shadow(cls, address: Any) -> Context:
        """A second object over the same context (pyzmq's ``Context.shadow``).

        Args:
            address: a context, or its :attr:`underlying` handle.

        The shadow shares everything with the context (``sockets/shadow.py``), option
        defaults included; ``cls`` may be another context class over the same state
        (``zreactor.asyncio.Context.shadow(ctx)``, or ``zreactor.asyncio.Context(ctx)``: its
        sockets are awaitable). Terminating either terminates the context; a shadow that is
        garbage collected terminates nothing. ``copy.copy(ctx)`` makes one too.

        Raises:
            ZMQError: EFAULT if no live context has that handle.
        """
        return cls(shadow=address)

    def __copy__(self) -> Context:
        """``copy.copy(ctx)``: a shadow, as in pyzmq."""
        return type(origin(self)).shadow(self)

    def __deepcopy__(self, memo: Any) -> Context:
        """``copy.deepcopy(ctx)``: a shadow too (there is one context to share)."""
        return self.__copy__()

    # -- context options (pyzmq's ctx.get/set) -----------------------------------------------

    def set(self, option: int, optval: int) -> None:
        """Set a context option (``zmq.MAX_SOCKETS``, ``zmq.IO_THREADS``, ``zmq.MAX_MSGSZ``;
        also ``ctx.max_sockets = n``, ``ctx.IO_THREADS = n``).

        ``MAX_SOCKETS`` is enforced by :meth:`socket`. ``IO_THREADS`` changes the number of
        I/O threads until the first engine is placed on them (a tcp/ipc ``bind`` or
        ``connect``, or :meth:`launch`): libzmq counts it until its first socket starts the
        threads; zreactor's run from construction and are replaced. ``MAX_MSGSZ`` is
        recorded and read back, and bounds nothing, exactly as in libzmq 4.3 (which stores
        it in ``ctx_t::set`` and never consults it; messages are bounded per socket by
        ``MAXMSGSIZE``).

        Raises:
            TypeError: ``optval`` is not an int. ZMQError: ENOTSUP for ``IO_THREADS`` once an
                engine was placed, and for the thread scheduling options zreactor does not
                implement; EINVAL for a bad value (``IO_THREADS`` 0: zreactor's reaper
                needs a thread) or an unknown option.
        """
        if not isinstance(optval, int):
            raise TypeError(f"expected int, got: {optval!r}")
        option = int(option)
        if option == ContextOption.MAX_SOCKETS:
            if optval < 1:
                raise ZMQError(errno.EINVAL, "MAX_SOCKETS must be >= 1")
            self._ctx_options[option] = optval
            return
        if option == ContextOption.MAX_MSGSZ:
            if optval < 0:
                raise ZMQError(errno.EINVAL, "MAX_MSGSZ must be >= 0")
            self._ctx_options[option] = min(optval, 2**31 - 1)  # libzmq clips to INT_MAX
            return
        if option == ContextOption.IO_THREADS:
            if optval < 1:
                raise ZMQError(errno.EINVAL, "IO_THREADS must be >= 1 in zreactor (the "
                                             "socket reaper runs on I/O thread 0)")
            try:
                self.pool.resize(optval)
            except ZReactorError:
                raise ZMQError(errno.ENOTSUP, "IO_THREADS can change only until the first "
                                              "tcp/ipc bind or connect (or launch) places an "
                                              "engine on the threads") from None
            return
        try:
            name = ContextOption(option).name
        except ValueError:
            raise ZMQError(errno.EINVAL, f"unknown context option {option}") from None
        raise ZMQError(errno.ENOTSUP, f"zreactor does not implement context option {name}")

    def get(self, option: int) -> int:
        """Read a context option (``IO_THREADS``, ``MAX_SOCKETS``, ``SOCKET_LIMIT``, ...).

        Raises:
            ZMQError: EINVAL for an option zreactor does not implement.
        """
        option = int(option)
        if option == ContextOption.IO_THREADS:
            return len(self.io_threads)
        if option == ContextOption.SOCKET_LIMIT:
            return 65535  # libzmq's limit with its default poller
        if option == ContextOption.MSG_T_SIZE:
            return 64  # sizeof(zmq_msg_t) in libzmq 4.3
        if option in self._ctx_options:
            return self._ctx_options[option]
        raise ZMQError(errno.EINVAL, f"context option {option} cannot be read")

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *ContextOption.__members__})

    # -- socket option defaults (pyzmq) -------------------------------------------------------

    def setsockopt(self, option: int, value: Any) -> None:
        """Set a default option for sockets created from now on (``ctx.linger = 0`` too).

        Options that do not apply to a socket's type are skipped for it, as pyzmq does.
        This is distinct from ``term_linger`` (seconds), which bounds the reactor's own
        engines at :meth:`term`.
        """
        self.sockopts[int(option)] = value

    def getsockopt(self, option: int) -> Any:
        """A default set with :meth:`setsockopt`.

        Raises:
            KeyError: no default was set for ``option``.
        """
        return self.sockopts[int(option)]

    def __setattr__(self, name: str, value: Any) -> None:
        ctx_option = _context_option(name)
        if ctx_option is not None and name not in self.__dict__:
            self.set(ctx_option, value)
            return
        option = _socket_option(name)
        if option is None or name in self.__dict__ or hasattr(type(self), name):
            object.__setattr__(self, name, value)
        else:
            self.sockopts[option] = value

    def __getattr__(self, name: str) -> Any:
        # only reached for names that are not real attributes
        ctx_option = _context_option(name)
        if ctx_option is not None and "_ctx_options" in self.__dict__:
            try:
                return self.get(ctx_option)
            except ZMQError as exc:  # pyzmq's rule: an option that cannot be read is absent
                raise AttributeError(f"{type(self).__name__!r} object has no attribute "
                                     f"{name!r}: {exc}") from None
        option = _socket_option(name)
        sockopts = self.__dict__.get("sockopts")
        if option is None or sockopts is None or option not in sockopts:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return sockopts[option]

    def __delattr__(self, name: str) -> None:
        option = _socket_option(name)
        if option is None or name in self.__dict__:
            object.__delattr__(self, name)
        elif self.sockopts.pop(option, None) is None:
            raise AttributeError(name)

    # -- state ----------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`term` has started."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ContextClosedError("the context was terminated")

    # -- launching --------------------------------------------------------------------------------

    def choose_io_thread(self) -> IOThread:
        """Pick the least-loaded I/O thread (ties: lowest index) and count one engine on it.

        Thread-safe. The count is released when the engine is plugged. (The pool's
        :meth:`~zreactor.reactor.pool.IOThreadPool.choose`.)
        """
        return self.pool.choose()

    def launch(self, engine: E, io_thread: IOThread | None = None) -> E:
        """Start ``engine`` on ``io_thread`` (default: the least-loaded one); return it.

        Raises:
            ContextClosedError: the context was terminated.
        """
        self._check_open()
        return self.pool.launch(engine, io_thread)

    def listen(self, endpoint: str, factory: Callable[..., Engine], **options: Any) -> Listener:
        """Bind ``endpoint`` now and accept connections on an I/O thread.

        Each accepted socket is passed to ``factory`` and the engine it returns is launched on
        the least-loaded I/O thread. ``options`` go to :class:`Listener`.

        Returns:
            the listener; ``listener.endpoint`` holds the bound address (real port).

        Raises:
            OSError: bind/listen failed. ContextClosedError: the context was terminated.
        """
        self._check_open()
        return self.pool.listen(endpoint, factory, **options)

    def connect(self, endpoint: str, factory: Callable[..., Engine], **options: Any) -> Connecter:
        """Connect to ``endpoint`` from an I/O thread, reconnecting as configured.

        ``options`` go to :class:`Connecter` (``reconnect_ivl``, ``reconnect_ivl_max``, ...).
        """
        self._check_open()
        return self.pool.connect(endpoint, factory, **options)

    # -- messaging sockets --------------------------------------------------------------------------

    def socket(self, socket_type: int, socket_class: type | None = None, **kwargs: Any) -> Socket:
        """Create a messaging socket (``zmq.PUSH`` ...).

        Args:
            socket_type: the type.
            socket_class: the class to instantiate (default :attr:`_socket_class`, pyzmq's
                hook for subclasses: ``zmq.Socket`` or a subclass of it).
            kwargs: option names (``linger=0``) set options, after the context's defaults;
                other keywords go to the socket class's constructor, as in pyzmq.

        Raises:
            ZMQError: EINVAL for an unknown type; ContextTerminated after term.
        """
        cls = socket_class or self._socket_class
        awaitable = None
        if not issubclass(cls, Socket):
            # an awaitable class (zreactor.asyncio, zreactor.eventloop.future): it wraps the
            # blocking socket made here, as pyzmq's do
            awaitable, cls = cls, Socket
        options = {name: kwargs.pop(name) for name in list(kwargs) if name in _SOCKOPT_NAMES}
        sock = cls(self, socket_type, **kwargs)
        for option, value in list(self.sockopts.items()):
            try:
                sock.setsockopt(option, value)
            except (ZMQError, TypeError):
                pass  # e.g. SUBSCRIBE on a non-SUB socket: pyzmq skips these too
        for name, value in options.items():
            setattr(sock, name, value)
        return sock if awaitable is None else awaitable.from_socket(sock)

    def add_socket(self, sock: Socket) -> None:
        """Register a new socket (``Socket.__init__`` calls this), so term() waits for it.

        Raises:
            ContextTerminated: the context was terminated.
        """
        with self._lock:
            if self._closed or self._sockets_stopped:
                if self._shadow:  # libzmq's answer for a handle to a terminated context
                    raise ZMQError(errno.EFAULT, "the context this shadows was terminated")
                raise ContextTerminated()
            limit = self._ctx_options[ContextOption.MAX_SOCKETS]
            if len(self.reaper.sockets) >= limit:
                raise ZMQError(errno.EMFILE, f"too many sockets: MAX_SOCKETS is {limit}")
            self.reaper.add(sock)  # under the lock: term() cannot miss it

    @property
    def sockets(self) -> frozenset[Socket]:
        """The sockets created here and not closed yet."""
        return self.reaper.sockets

    # -- termination ------------------------------------------------------------------------------

    def term(self, linger: float | None = ...) -> None:  # type: ignore[assignment]
        """Terminate every engine (acknowledged, honouring ``linger``), then the threads.

        Args:
            linger: seconds each engine may spend flushing output; ``None`` waits for
                ever; default: the context's ``term_linger``.

        Idempotent: a second call (from any thread) waits for the first to finish.

        Raises:
            ZReactorError: called from one of this context's I/O threads.
        """
        if self.pool.is_current:
            raise ZReactorError("term() called from an I/O thread of the same context")
        if linger is ...:
            linger = self.term_linger
        elif linger is not None and linger < 0:
            linger = None
        with self._lock:
            first = not self._closed
            self._closed = True
        if not first:
            self._terminated.wait()
            return
        try:
            self._shutdown(linger)
        finally:
            with self._lock:
                self._terminated.set()
                if self._closing is not None:
                    self._closing.close()

    def _shutdown(self, linger: float | None) -> None:
        # 1. wake every socket's blocking calls with ETERM, 2. wait until the application has
        # closed them all (libzmq's rule), 3. terminate the pool's tree (the reaper finishes
        # the closed sockets before it acknowledges).
        self._stop_sockets()
        self.reaper.wait_closed()
        self.pool.term(linger)

    def _stop_sockets(self) -> None:
        """Send every live socket ``STOP`` (once: ``destroy()`` then ``term()`` both call
        this), then make :attr:`closing_fd` readable: blocking calls (and a Poller blocked
        on them in any thread) wake and fail with ``ETERM``, or ``ENOTSOCK`` once the socket
        is closed. From then on :meth:`add_socket` refuses new sockets."""
        with self._lock:
            if self._sockets_stopped:
                return
            self._sockets_stopped = True  # under the lock: add_socket cannot slip one in
            sockets = self.reaper.sockets
        for sock in sockets:
            sock.send_command(sock, Cmd.STOP)
        with self._lock:
            if self._closing is not None:
                self._closing.signal()

    @property
    def closing_fd(self) -> int:
        """An fd that becomes readable, and stays so, once the context stops its sockets
        (``term()``, ``destroy()``).

        :class:`~zreactor.Poller` watches it beside the sockets' own wake-up fds. A socket's
        fd is not enough when another thread *closes* the socket (``destroy()``): the
        context's reaper then reads that fd, and may consume the wake-up before the sleeping
        poll sees it. By the time this fd is readable every socket has its ``STOP`` queued
        or is closed, so a poll that wakes on it finds an error to raise, never a reason to
        sleep again. Closed when :meth:`term` finishes.

        Raises:
            ContextTerminated: the context finished terminating.
        """
        with self._lock:
            if self._closing is None:
                if self._terminated.is_set():
                    raise ContextTerminated()
                self._closing = Signaler()
                if self._sockets_stopped:
                    self._closing.signal()
            return self._closing.fd

    def close(self, linger: float | None = ...) -> None:  # type: ignore[assignment]
        """Alias of :meth:`term` (reads better in ``finally`` blocks)."""
        self.term(linger)

    def destroy(self, linger: int | None = None) -> None:
        """Close every socket (with ``linger`` in **milliseconds**, as pyzmq), then terminate.

        Like pyzmq's, this closes sockets that other threads may be using: their blocked
        calls (``recv``, ``Poller.poll``) are woken first and fail with ``ETERM`` or
        ``ENOTSOCK``; call it only when those threads are done with the sockets. Leaving a
        ``with Context() as ctx:`` block calls it, with a ``ResourceWarning`` for each socket
        still open.
        """
        if self._warn_destroy_close and not self._closed:
            for sock in self.reaper.application_sockets:
                warnings.warn(f"Destroying context with unclosed socket {sock}",
                              ResourceWarning, stacklevel=3, source=sock)
        if not self._closed:
            # first, as term() does: wake the calls other threads are blocked in on these
            # sockets (a socket closed while a Poller sleeps on its fd would not wake it)
            self._stop_sockets()
        self.reaper.close_all(linger)
        self.term(... if linger is None else (None if linger < 0 else linger / 1000))

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """``destroy()``, as pyzmq: a socket left open cannot hang the ``with`` block."""
        self._warn_destroy_close = True
        self.destroy()

    #: set by ``__exit__``: destroy() then warns about sockets left open
    _warn_destroy_close = False

    def __repr__(self) -> str:
        """pyzmq's: ``<zmq.Context(2 sockets) at 0x7f...>``, ``closed`` once terminated."""
        cls = type(self)
        if cls.__module__.startswith("zreactor"):
            name = f"{public_module()}.{cls.__name__}"
        else:
            name = f"{cls.__module__}.{cls.__qualname__}"
        count = 0 if self._closed else len(self.reaper.application_sockets)
        sockets = f"{count} socket{'s' if count > 1 else ''}" if count else ""
        closed = " closed" if self._closed else ""
        return f"<{name}({sockets}) at {hex(id(self))}{closed}>"
