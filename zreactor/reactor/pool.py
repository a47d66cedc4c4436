"""The I/O thread pool: the reactor's threads, where engines go, and what they hold.

Theory of operation
-------------------
An :class:`IOThreadPool` is everything the reactor layer needs to run engines, and nothing
about messaging. It owns:

* the **threads**: ``io_threads`` :class:`~zreactor.reactor.io_thread.IOThread` objects, each
  with its poller and mailbox, all on one poller backend (:attr:`IOThreadPool.poller_name`);
* the **root of the ownership tree** (a private :class:`Own` on thread 0) whose children are
  the engines launched through the pool, and which ``term()`` terminates;
* **placement and load accounting**: :meth:`IOThreadPool.choose` picks the least-loaded
  thread (ties go to the lowest index, like libzmq's ``choose_io_thread``) and counts one
  engine *in flight* on it; the engine's ``PLUG`` releases the count
  (:meth:`IOThreadPool.plugged`). Counting engines before they register an fd keeps a burst
  of accepts from all landing on one thread;
* **fd accounting**: one :class:`~zreactor.reactor.fds.FdRegistry` (:attr:`IOThreadPool.fds`)
  shared by every engine of the pool, because ``RLIMIT_NOFILE`` is per process and a
  suspended listener wants to hear of a release anywhere;
* the **event bus** at the top of the engines' event chain (:attr:`IOThreadPool.events`).

Engines reach the pool through their thread (``engine.pool`` is ``engine.thread.pool``), so
a listener launching an accepted connection, a connecter counting its engine, and a stream
closing its socket all speak to the pool, never to whatever composed it. The messaging
:class:`~zreactor.Context` is one such composer: it builds a pool and adds sockets, the
reaper, the inproc registry and option defaults on top. Someone writing a protocol on the
reactor alone uses a pool directly::

    with IOThreadPool(io_threads=2) as pool:
        listener = pool.listen("tcp://127.0.0.1:0", EchoEngine)
        ...

*Termination* is libzmq's acknowledged handshake (see :mod:`~zreactor.reactor.own`):
``term(linger)`` sends ``TERM`` to the root, the tree winds down, and the root's
``TERM_ACK`` lands in the pool's own mailbox, where ``term()`` waits. Only then are the
threads stopped (``STOP`` is a command, ordered after everything else), joined and closed.

*Manual mode.* ``IOThreadPool(start=False)`` starts no thread: the caller runs the loops with
:meth:`IOThreadPool.run_once` (on its own thread, never blocking), and ``term()`` steps them
itself. :class:`zreactor.testing.ManualContext` is built on this, with a fake clock.

Thread rules: every public method is thread-safe, except that ``term()`` must not be called
from one of the pool's own I/O threads (it would wait for itself); that raises.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, TypeVar

from ..errors import ContextClosedError, ZReactorError
from .connecter import Connecter
from .engine import Engine, EngineState
from .events import EventBus
from .fds import FdRegistry
from .io_thread import IOThread
from .listener import Listener
from .mailbox import Cmd, Mailbox, dispatch
from .own import Own
from .poller import choose_selector

__all__ = ["IOThreadPool"]

E = TypeVar("E", bound=Engine)


class _Root(Own):
    """The root of the pool's ownership tree; lives on thread 0, owned by the pool."""

    def __init__(self, pool: IOThreadPool, thread: IOThread) -> None:
        super().__init__()
        self.owner = pool
        self.thread = thread
        self.mailbox = thread.mailbox
        self.event_bus = pool.events


class IOThreadPool:
    """The reactor's I/O threads, with placement, load and fd accounting.

    Args:
        io_threads: number of I/O threads (>= 1).
        poller: force a poller backend by name (``"epoll"``, ``"poll"``, ``"select"``, ...);
            default: ``$ZREACTOR_POLLER`` or the best available.
        clock: monotonic clock for every poller (tests pass a fake one).
        start: start the threads now; ``False`` is manual mode (see the module docstring).
        name_prefix: thread names are ``f"{name_prefix}-{index}"``.

    Attributes:
        threads: the :class:`IOThread` objects, in index order.
        fds: the :class:`FdRegistry` every engine of the pool opens and closes fds through.
        events: the bus every engine's events reach last.
        poller_name: the poller backend the threads use.
    """

    def __init__(
        self,
        io_threads: int = 1,
        *,
        poller: str | None = None,
        clock: Callable[[], float] | None = None,
        start: bool = True,
        name_prefix: str = "zreactor-io",
    ) -> None:
        if not isinstance(io_threads, int) or isinstance(io_threads, bool) or io_threads < 1:
            raise ValueError(f"io_threads must be a positive int, got {io_threads!r}")
        selector_factory = choose_selector(poller)
        #: what :meth:`resize` makes new threads with
        self._new_thread = (selector_factory, clock, name_prefix)
        #: set by the first placement or launch: the thread count is fixed from then on
        self._launched = False
        self.events = EventBus()
        self.fds = FdRegistry()
        self.started = start
        self._lock = threading.Lock()
        self._closed = False
        self._terminated = threading.Event()
        self._root_acked = False
        self.mailbox = Mailbox("pool")
        self.threads: list[IOThread] = []
        try:
            for index in range(io_threads):
                self.threads.append(
                    IOThread(index, self, selector_factory, clock, name_prefix=name_prefix))
        except BaseException:
            for thread in self.threads:
                thread.close()
            self.mailbox.close()
            raise
        self.poller_name = self.threads[0].poller.name
        self._root = _Root(self, self.threads[0])
        if start:
            for thread in self.threads:
                thread.start()

    # -- state --------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`term` has started."""
        return self._closed

    @property
    def is_current(self) -> bool:
        """True when called from one of the pool's I/O threads."""
        return any(t.is_current for t in self.threads)

    # -- placement and load -------------------------------------------------------------------

    def choose(self) -> IOThread:
        """Pick the least-loaded thread (ties: lowest index) and count one engine on it.

        Thread-safe. The engine's ``PLUG`` releases the count (:meth:`plugged`), so launch
        an engine on the thread you were given.
        """
        with self._lock:
            self._launched = True
            thread = min(self.threads, key=lambda t: t.load)
            thread.pending += 1
        return thread

    def launching(self, thread: IOThread) -> None:
        """Count one engine on its way to ``thread``, for an owner that picked the thread.

        A connecter launching its connection on its own thread calls this, so that the
        engine counts as load until its ``PLUG`` like any other (any thread).
        """
        with self._lock:
            self._launched = True
            thread.pending += 1

    def plugged(self, thread: IOThread) -> None:
        """An engine counted by :meth:`choose` or :meth:`launching` arrived (``PLUG``)."""
        with self._lock:
            thread.pending -= 1

    def resize(self, io_threads: int) -> None:
        """Grow or shrink the pool to ``io_threads`` threads, until the first launch.

        libzmq's ``IO_THREADS`` context option, which counts until its context starts its
        threads: here they start at once, so a different count replaces them (new ones
        start; removed ones, which nothing was ever placed on, stop and are joined) as long
        as no engine was placed or launched. Thread 0, the root's, always stays. Any thread
        but the pool's own.

        Raises:
            ValueError: ``io_threads`` is not a positive int.
            ZReactorError: an engine was placed or launched already, or the pool is closed.
        """
        if not isinstance(io_threads, int) or isinstance(io_threads, bool) or io_threads < 1:
            raise ValueError(f"io_threads must be a positive int, got {io_threads!r}")
        selector_factory, clock, name_prefix = self._new_thread
        added: list[IOThread] = []
        count = len(self.threads)
        try:  # made first, outside the lock: a new thread's mailbox may fail (EMFILE)
            for index in range(count, io_threads):
                added.append(IOThread(index, self, selector_factory, clock,
                                      name_prefix=name_prefix))
            with self._lock:
                if self._launched or self._closed:
                    raise ZReactorError("the pool's thread count is fixed once an engine was "
                                        "placed or launched")
                if len(self.threads) != count:
                    raise ZReactorError("the pool was resized by another thread meanwhile")
                removed = self.threads[io_threads:]
                del self.threads[io_threads:]
                self.threads.extend(added)
        except BaseException:
            for thread in added:
                thread.close()
            raise
        for thread in removed:
            thread.stop()
            if self.started:
                thread.join()
            else:
                thread.run_once(max_wait=0)  # processes the STOP command
            thread.close()
        if self.started:
            for thread in added:
                thread.start()

    # -- launching ----------------------------------------------------------------------------

    def launch(self, engine: E, io_thread: IOThread | None = None) -> E:
        """Start ``engine`` as a child of the pool's root; return it (any thread).

        Args:
            io_thread: where it runs; default: the least-loaded thread.

        Raises:
            ValueError: ``engine`` was launched before.
            ContextClosedError: the pool was terminated.
        """
        if engine.state is not EngineState.NEW or engine.owner is not None:
            raise ValueError(f"{engine!r} was already launched")
        with self._lock:
            if self._closed:
                raise ContextClosedError("the I/O thread pool was terminated")
            self._launched = True
            if io_thread is None:
                io_thread = min(self.threads, key=lambda t: t.load)
            io_thread.pending += 1
            # under the lock: the root's sequence counter has one writer at a time
            self._root.launch_child(engine, io_thread)
        return engine

    def adopt(self, child: Own, io_thread: IOThread) -> None:
        """Make ``child`` a child of the pool's root on ``io_thread``, without counting load.

        For a service that is not an engine and holds no fd of its own (the messaging
        context's socket reaper): it terminates with the tree, but placement ignores it.
        Any thread.

        Raises:
            TypeError: ``child`` is an :class:`Engine` (use :meth:`launch`).
            ContextClosedError: the pool was terminated.
        """
        if isinstance(child, Engine):
            raise TypeError("engines are launched (launch()), so that their load is counted")
        with self._lock:
            if self._closed:
                raise ContextClosedError("the I/O thread pool was terminated")
            self._root.launch_child(child, io_thread)

    def listen(self, endpoint: str, factory: Callable[..., Engine], **options: Any) -> Listener:
        """Bind ``endpoint`` now and accept connections on an I/O thread.

        Each accepted socket is passed to ``factory`` and the engine it returns is launched
        on the least-loaded thread. ``options`` go to :class:`Listener`.

        Returns:
            the listener; ``listener.endpoint`` holds the bound address (real port).

        Raises:
            OSError: bind/listen failed. ContextClosedError: the pool was terminated.
        """
        if self._closed:
            raise ContextClosedError("the I/O thread pool was terminated")
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
        return self.launch(Connecter(endpoint, factory, **options))

    # -- manual mode --------------------------------------------------------------------------

    def run_once(self) -> int:
        """Manual mode: run one non-blocking iteration of every loop; return events handled."""
        return sum(thread.run_once(max_wait=0) for thread in self.threads)

    # -- termination --------------------------------------------------------------------------

    def term(self, linger: float | None = None) -> None:
        """Terminate every engine (acknowledged, honouring ``linger``), then the threads.

        Args:
            linger: seconds each engine may spend flushing output; ``None`` waits for ever.

        Idempotent: a second call (from any thread) waits for the first to finish.

        Raises:
            ZReactorError: called from one of this pool's I/O threads.
        """
        if self.is_current:
            raise ZReactorError("term() called from an I/O thread of the same pool")
        with self._lock:
            first = not self._closed
            self._closed = True
        if not first:
            self._terminated.wait()
            return
        try:
            root = self._root
            root.send_command(root, Cmd.TERM, linger)
            while not self._root_acked:
                self._wait_commands()
            for thread in self.threads:
                thread.stop()
            for thread in self.threads:
                if self.started:
                    thread.join()
                else:
                    thread.run_once(max_wait=0)  # processes the STOP command
            for thread in self.threads:
                thread.close()
            self.mailbox.close()
        finally:
            self._terminated.set()

    def _wait_commands(self) -> None:
        if self.started:
            commands = self.mailbox.recv(timeout=None)
        else:
            self.run_once()
            commands = self.mailbox.drain()
        for command in commands:
            dispatch(command)

    def process_term_ack(self) -> None:
        """``TERM_ACK`` from the root (dispatched on the thread waiting in ``term()``)."""
        self._root_acked = True

    def __enter__(self) -> IOThreadPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.term()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<IOThreadPool {state} threads={len(self.threads)} poller={self.poller_name}>"
