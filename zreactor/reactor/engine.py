"""The engine base class: the extension point for protocols and fd-driven objects.

Theory of operation
-------------------
An :class:`Engine` is an object that lives on one I/O thread and reacts to what happens
there: its fds becoming ready, its timers firing, commands arriving. Listeners, connecters and
stream connections are engines; so is anything a user writes on top of the reactor.

An engine is created on any thread, then *launched* by its owner (the
:class:`~zreactor.reactor.pool.IOThreadPool`'s root, a listener, a connecter), which picks an
I/O thread and sends it ``PLUG``. From then on every hook runs on
that thread and may touch the engine's state without locks. An engine ends either because it
decides to (:meth:`Engine.close`) or because its owner terminates it (pool ``term()``,
listener closed); both paths end in exactly one ``closed(reason)`` call, after which the fds
are gone and no other hook runs.

The lifecycle is :class:`EngineState` with the moves in :data:`ENGINE_TRANSITIONS` (a
:class:`~zreactor.reactor.fsm.Machine` fired with :class:`EngineEvent`); the
termination handshake with the owner is inherited from :class:`~zreactor.reactor.own.Own`.
"""

from __future__ import annotations

import enum
import logging
import warnings
from typing import TYPE_CHECKING, Any, Callable

from .events import EventBus, EventKind, ReactorEvent
from .fsm import Machine
from .mailbox import Cmd
from .own import Own, OwnState

if TYPE_CHECKING:
    from .io_thread import IOThread
    from .pool import IOThreadPool
    from .poller import Poller, Timer, _FdHandle

__all__ = ["ENGINE_TRANSITIONS", "Engine", "EngineEvent", "EngineState"]

log = logging.getLogger("zreactor")


class EngineState(enum.Enum):
    """Lifecycle of an engine."""

    #: Created, not yet on its I/O thread.
    NEW = "new"
    #: Plugged into its I/O thread: hooks run.
    ATTACHED = "attached"
    #: Finishing (for a stream: flushing queued output) before releasing its fds.
    CLOSING = "closing"
    #: Fds released and ``closed(reason)`` called. Terminal.
    CLOSED = "closed"


class EngineEvent(enum.Enum):
    """What moves an engine through its lifecycle."""

    #: ``PLUG`` arrived: the engine is on its thread.
    PLUG = "PLUG"
    #: ``close()`` or ``TERM`` found work to finish first (a stream's queued output).
    FINISH = "finish (flush output)"
    #: the fds and timers were dropped and ``closed(reason)`` is next.
    RELEASE = "release"


#: The only lifecycle moves an engine may make.
ENGINE_TRANSITIONS: Machine[EngineState, EngineEvent] = Machine("engine", EngineState.NEW, {
    (EngineState.NEW, EngineEvent.PLUG): EngineState.ATTACHED,
    (EngineState.NEW, EngineEvent.RELEASE): EngineState.CLOSED,  # terminated before plugged
    (EngineState.ATTACHED, EngineEvent.FINISH): EngineState.CLOSING,
    (EngineState.ATTACHED, EngineEvent.RELEASE): EngineState.CLOSED,
    (EngineState.CLOSING, EngineEvent.RELEASE): EngineState.CLOSED,
})


class Engine(Own):
    """Base class of everything that runs on an I/O thread.

    Call grammar (every hook runs on the engine's I/O thread, or on a thread holding that
    loop's :class:`~zreactor.reactor.lease.LoopLease`, one at a time either way)::

        attached -> (readable | writable | timer | call)* -> closed(reason)

    * ``attached()`` runs once, after the engine is plugged into its thread. Register fds
      here (:meth:`add_fd`, :meth:`set_pollin`, ...) and start timers.
    * ``readable()`` / ``writable()`` run while an fd registered with :meth:`add_fd` is ready
      and the matching interest is set. The poller is level-triggered: consume the readiness
      or reset the interest, or the hook is called again at once.
    * a timer callback runs when a timer from :meth:`call_later` is due.
    * a callable sent with :meth:`call_threadsafe` runs on this thread.
    * ``closed(reason)`` runs exactly once, after the engine's fds were removed from the
      poller and its timers cancelled. ``reason`` is ``None`` for an orderly close and the
      exception otherwise. No hook runs after it. An engine closed or terminated before it
      was attached (its owner went away first) gets ``closed`` alone, without ``attached``.

    A hook that raises aborts this engine only: ``closed(exc)`` runs, an
    :attr:`~EventKind.ENGINE_FAILED` event is emitted and one line is logged on the
    ``zreactor`` logger. The I/O thread goes on serving the others.

    Subclasses may touch their own state and the services below from hooks; they must not
    block, and must not touch other engines directly (send them a command instead).

    Attributes:
        state: the :class:`EngineState`.
        endpoint: the address this engine serves, for events and logs (may be ``""``).
        events: the engine's :class:`EventBus`; it forwards to its owner's bus.
    """

    #: how long :meth:`close` may wait for queued output before giving up (seconds).
    close_linger: float | None = 30.0

    def __init__(self, endpoint: str = "") -> None:
        super().__init__()
        self.state = EngineState.NEW
        self.endpoint = endpoint
        self.events = EventBus()
        self.event_bus = self.events
        self._handles: list[_FdHandle] = []
        self._timers: set[Timer] = set()
        self._close_reason: BaseException | None = None

    # -- hooks for subclasses ---------------------------------------------------------------

    def attached(self) -> None:
        """Called once on the I/O thread when the engine starts."""

    def readable(self) -> None:
        """An fd of this engine is readable."""

    def writable(self) -> None:
        """An fd of this engine is writable."""

    def closed(self, reason: BaseException | None) -> None:
        """Called once when the engine has ended; ``reason`` is ``None`` or the error."""

    # -- services ---------------------------------------------------------------------------

    @property
    def io_thread(self) -> IOThread:
        """The I/O thread this engine lives on."""
        return self.thread  # type: ignore[no-any-return]

    @property
    def pool(self) -> IOThreadPool | None:
        """The pool of this engine's I/O thread: placement, load and fd accounting.

        ``None`` for an engine on a bare :class:`IOThread` (a test's).
        """
        return self.thread.pool  # type: ignore[no-any-return]

    @property
    def context(self) -> IOThreadPool | None:
        """Deprecated name of :attr:`pool` (what engines used from the context lives there).

        Warns with ``DeprecationWarning``: an engine never sees the messaging context.
        """
        warnings.warn("Engine.context is deprecated: use Engine.pool", DeprecationWarning,
                      stacklevel=2)
        return self.pool

    @property
    def poller(self) -> Poller:
        """The poller of this engine's I/O thread."""
        return self.thread.poller  # type: ignore[no-any-return]

    def clock(self) -> float:
        """The I/O thread's monotonic clock, in seconds."""
        return self.thread.poller.clock()  # type: ignore[no-any-return]

    def add_fd(self, fd: int) -> _FdHandle:
        """Register ``fd`` with this thread's poller; the engine becomes its handler."""
        handle = self.poller.add_fd(fd, self)
        self._handles.append(handle)
        return handle

    def rm_fd(self, handle: _FdHandle) -> None:
        """Unregister an fd added with :meth:`add_fd` (before closing it)."""
        self.poller.rm_fd(handle)
        if handle in self._handles:
            self._handles.remove(handle)

    def set_pollin(self, handle: _FdHandle) -> None:
        """Start calling ``readable()`` while the fd is readable."""
        self.poller.set_pollin(handle)

    def reset_pollin(self, handle: _FdHandle) -> None:
        """Stop calling ``readable()`` for this fd."""
        self.poller.reset_pollin(handle)

    def set_pollout(self, handle: _FdHandle) -> None:
        """Start calling ``writable()`` while the fd is writable."""
        self.poller.set_pollout(handle)

    def reset_pollout(self, handle: _FdHandle) -> None:
        """Stop calling ``writable()`` for this fd."""
        self.poller.reset_pollout(handle)

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Run ``callback()`` on this thread after ``delay`` seconds; return the timer.

        The timer is cancelled automatically when the engine closes.
        """
        timers = self._timers

        def fire() -> None:
            timers.discard(timer)
            callback()

        timer = self.poller.add_timer(delay, fire, owner=self)
        timers.add(timer)
        return timer

    def call_threadsafe(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` on the engine's thread (from any thread, via its mailbox).

        Ignored if the engine has closed by the time the command arrives.

        Raises:
            RuntimeError: the engine was never launched (it has no thread yet).
        """
        if self.mailbox is None:
            raise RuntimeError(f"{self!r} was not launched: it has no thread to call on")
        self.send_command(self, Cmd.CALL, fn, args)

    def process_call(self, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
        """``CALL`` command: run a callable sent by :meth:`call_threadsafe`."""
        if self.state is EngineState.ATTACHED or self.state is EngineState.CLOSING:
            fn(*args)

    # The poller calls in_event/out_event (libzmq's names); engines speak readable/writable.
    def in_event(self) -> None:
        """Poller entry point: forwards to :meth:`readable`."""
        self.readable()

    def out_event(self) -> None:
        """Poller entry point: forwards to :meth:`writable`."""
        self.writable()

    def emit(self, kind: EventKind, value: int = 0, **detail: Any) -> None:
        """Emit an event about this engine on its bus (and up the chain)."""
        self.events.emit(ReactorEvent(kind, self.endpoint, value, detail))

    # -- lifecycle --------------------------------------------------------------------------

    def process_plug(self) -> None:
        """``PLUG`` command: the engine arrived on its thread."""
        if self.thread.pool is not None:
            self.thread.pool.plugged(self.thread)
        if self.owner is not None and self.events.parent is None:
            self.events.parent = self.owner.event_bus
        if self.state is not EngineState.NEW:
            return  # terminated before it was plugged (TERM overtook PLUG)
        ENGINE_TRANSITIONS.fire(self, EngineEvent.PLUG)
        self.attached()

    def close(self, reason: BaseException | None = None) -> None:
        """End the engine (from its own thread): finish up, release fds, tell the owner.

        ``reason`` is passed to ``closed()``. Harmless if the engine is already ending.
        The owner is told only once the engine has released everything, so an engine still
        flushing stays in the ownership tree and a context ``term(linger)`` reaches it.
        """
        if self.state is not EngineState.ATTACHED:
            if self.state is EngineState.NEW:
                self._release()
            return
        self._close_reason = reason
        self._finish(self.close_linger)

    def close_threadsafe(self) -> None:
        """Ask the engine to :meth:`close` from any thread (through its mailbox)."""
        self.call_threadsafe(self.close)

    def abort(self, exc: BaseException) -> None:
        """Close at once because a hook raised ``exc`` (called by the I/O thread)."""
        if self.state is EngineState.CLOSED:
            raise exc  # a hook of a closed engine raised: nothing left to abort
        log.error("%r failed; closing it", self, exc_info=exc)
        self.emit(EventKind.ENGINE_FAILED, 0, error=exc)
        self._close_reason = exc
        self._release()

    def _finish(self, linger: float | None) -> None:
        """Wind down before releasing; the base class has nothing to finish.

        Subclasses with queued work (a stream's output) move to ``CLOSING``, finish within
        ``linger`` seconds (``None``: no limit), then call :meth:`_release`.
        """
        self._release()

    def _release(self) -> None:
        """Drop every fd and timer, close what the engine holds, call ``closed()`` once.

        Then acknowledge the owner's ``TERM`` if that is why we ended, or else ask the owner
        to terminate us (``TERM_REQ``): every way of ending goes through here.
        """
        if self.state is EngineState.CLOSED:
            return
        for timer in list(self._timers):
            timer.cancel()
        self._timers.clear()
        if self.thread is not None:
            for handle in list(self._handles):
                self.poller.rm_fd(handle)
        self._handles.clear()
        ENGINE_TRANSITIONS.fire(self, EngineEvent.RELEASE)
        self.release_resources()
        try:
            self.closed(self._close_reason)
        finally:
            if self.own_state is OwnState.TERMINATING:
                self.unregister_term_ack()  # the ack process_term registered for us
            else:
                self.terminate()  # we ended on our own: the owner lets us go

    def release_resources(self) -> None:
        """Close what the engine holds (sockets). Runs once, just before ``closed()``."""

    def process_term(self, linger: float | None) -> None:
        """``TERM`` command from the owner: finish within ``linger``, then acknowledge."""
        if self.state is not EngineState.CLOSED:
            self.register_term_acks(1)  # released by _release()
        super().process_term(linger)
        if self.state is EngineState.ATTACHED:
            self._finish(linger)
        elif self.state is EngineState.NEW:
            self._release()
        elif self.state is EngineState.CLOSING and linger is not None:
            # already flushing after its own close(): the owner's linger caps that too
            if linger == 0:
                self._linger_expired()
            else:
                self.call_later(linger, self._linger_expired)

    def _linger_expired(self) -> None:
        """The time to finish ran out: release now (a stream resets what it could not flush)."""
        self._release()

    def __repr__(self) -> str:
        where = self.thread.name if self.thread is not None else "unplugged"
        endpoint = f" {self.endpoint}" if self.endpoint else ""
        return f"<{type(self).__name__}{endpoint} {self.state.value} on {where}>"
