"""The context: owns the I/O threads, the root of the ownership tree, and shuts it all down.

Theory of operation
-------------------
A :class:`Context` starts ``io_threads`` :class:`~zreactor.reactor.io_thread.IOThread`
objects and plants the root of the ownership tree (:class:`_Root`) on the first of them.
Everything the application starts through the context (listeners, connecters, engines) is
launched as a child of the root, on the least-loaded I/O thread (ties go to the lowest index).

``term()`` is libzmq's acknowledged shutdown: the context sends ``TERM(linger)`` to the root,
the root forwards it down the tree, every engine finishes (flushing output for at most
``linger`` seconds) and acknowledges, and the root's acknowledgement finally lands in the
context's own mailbox, where ``term()`` is waiting. Only then are the I/O threads stopped
(``STOP`` is a command too, so it is ordered after everything else) and joined, and their
pollers and mailboxes closed. After ``term()`` returns, no thread and no fd created by the
context remains.

The context is thread-safe: any application thread may launch engines or terminate it.
``term()`` must not be called from one of the context's own I/O threads (it would wait for
itself); that raises.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, TypeVar

from .errors import ContextClosedError, ZReactorError
from .reactor.connecter import Connecter
from .reactor.engine import Engine, EngineState
from .reactor.events import EventBus
from .reactor.fds import FdRegistry
from .reactor.io_thread import IOThread
from .reactor.listener import Listener
from .reactor.mailbox import Cmd, Mailbox, dispatch
from .reactor.own import Own
from .reactor.poller import choose_selector

__all__ = ["Context"]

E = TypeVar("E", bound=Engine)


class _Root(Own):
    """The root of the ownership tree; lives on I/O thread 0; its owner is the context."""

    def __init__(self, context: Context, thread: IOThread) -> None:
        super().__init__()
        self.owner = context
        self.thread = thread
        self.mailbox = thread.mailbox
        self.events = context.events


class Context:
    """Owns I/O threads and everything launched on them.

    Args:
        io_threads: number of I/O threads (>= 1).
        poller: force a poller backend by name (``"epoll"``, ``"poll"``, ``"select"``, ...);
            default: ``$ZREACTOR_POLLER`` or the best available.
        linger: default linger for :meth:`term`, in seconds; ``None`` waits for ever
            (libzmq's -1), ``0`` drops queued output at once.
        clock: monotonic clock for every poller (tests pass a fake one).

    Use it as a context manager, or call :meth:`term` when done::

        with zreactor.Context(io_threads=2) as ctx:
            listener = ctx.listen("tcp://127.0.0.1:0", MyEngine)
            ...
    """

    _start_threads = True  # ManualContext (zreactor.testing) steps the loops itself

    def __init__(
        self,
        io_threads: int = 1,
        *,
        poller: str | None = None,
        linger: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(io_threads, int) or io_threads < 1:
            raise ValueError(f"io_threads must be a positive int, got {io_threads!r}")
        if linger is not None and linger < 0:
            linger = None  # libzmq's -1
        selector_factory = choose_selector(poller)
        self.linger = linger
        self.events = EventBus()
        self.fds = FdRegistry()
        self._lock = threading.Lock()
        self._closed = False
        self._terminated = threading.Event()
        self._root_acked = False
        self.mailbox = Mailbox("context")
        self.io_threads: list[IOThread] = []
        try:
            for index in range(io_threads):
                self.io_threads.append(IOThread(index, self, selector_factory, clock))
        except BaseException:
            for thread in self.io_threads:
                thread.close()
            self.mailbox.close()
            raise
        self.poller_name = self.io_threads[0].poller.name
        self._root = _Root(self, self.io_threads[0])
        if self._start_threads:
            for thread in self.io_threads:
                thread.start()

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

        Thread-safe. The count is released when the engine is plugged.
        """
        with self._lock:
            thread = min(self.io_threads, key=lambda t: t.load)
            thread.pending += 1
        return thread

    def _plugged(self, thread: IOThread) -> None:
        with self._lock:
            thread.pending -= 1

    def launch(self, engine: E, io_thread: IOThread | None = None) -> E:
        """Start ``engine`` on ``io_thread`` (default: the least-loaded one); return it.

        Raises:
            ContextClosedError: the context was terminated.
        """
        if engine.state is not EngineState.NEW or engine.owner is not None:
            raise ValueError(f"{engine!r} was already launched")
        with self._lock:
            self._check_open()
            if io_thread is None:
                io_thread = min(self.io_threads, key=lambda t: t.load)
            io_thread.pending += 1
            # under the lock: the root's sequence counter has one writer at a time
            self._root.launch_child(engine, io_thread)
        return engine

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
        listener = Listener(endpoint, factory, **options)
        with self.fds.opening():
            listener.bind()
        try:
            return self.launch(listener)
        except BaseException:
            listener.close()
            raise

    def connect(self, endpoint: str, factory: Callable[..., Engine], **options: Any) -> Connecter:
        """Connect to ``endpoint`` from an I/O thread, reconnecting as configured.

        ``options`` go to :class:`Connecter` (``reconnect_ivl``, ``reconnect_ivl_max``, ...).
        """
        self._check_open()
        return self.launch(Connecter(endpoint, factory, **options))

    # -- termination ------------------------------------------------------------------------------

    def term(self, linger: float | None = ...) -> None:  # type: ignore[assignment]
        """Terminate every engine (acknowledged, honouring ``linger``), then the threads.

        Args:
            linger: seconds each engine may spend flushing output; ``None`` waits for
                ever; default: the context's ``linger``.

        Idempotent: a second call (from any thread) waits for the first to finish.

        Raises:
            ZReactorError: called from one of this context's I/O threads.
        """
        if any(t.is_current for t in self.io_threads):
            raise ZReactorError("term() called from an I/O thread of the same context")
        if linger is ...:
            linger = self.linger
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
            self._terminated.set()

    def _shutdown(self, linger: float | None) -> None:
        root = self._root
        root.send_command(root, Cmd.TERM, linger)
        while not self._root_acked:
            self._wait_commands()
        for thread in self.io_threads:
            thread.stop()
        for thread in self.io_threads:
            self._join(thread)
        for thread in self.io_threads:
            thread.close()
        self.mailbox.close()

    def _wait_commands(self) -> None:
        for command in self.mailbox.recv(timeout=None):
            dispatch(command)

    def _join(self, thread: IOThread) -> None:
        thread.join()

    def process_term_ack(self) -> None:
        """``TERM_ACK`` from the root (dispatched on the thread waiting in ``term()``)."""
        self._root_acked = True

    def close(self, linger: float | None = ...) -> None:  # type: ignore[assignment]
        """Alias of :meth:`term` (reads better in ``finally`` blocks)."""
        self.term(linger)

    def destroy(self, linger: float | None = ...) -> None:  # type: ignore[assignment]
        """Terminate with ``linger``; pyzmq's name for closing everything at once."""
        self.term(linger)

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.term()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<zreactor.Context {state} io_threads={len(self.io_threads)} poller={self.poller_name}>"
