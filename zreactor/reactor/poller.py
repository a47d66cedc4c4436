"""The poller: one per I/O thread, wrapping :mod:`selectors`, plus a heap of timers.

Theory of operation
-------------------
This is libzmq's ``poller_base_t`` in Python. An I/O thread owns exactly one poller and is the
only thread that ever touches it, with one exception: :attr:`Poller.lock` is held while
:meth:`~Poller.run_once` runs timers and handlers and released while it waits in ``select()``,
and a thread holding a :class:`~zreactor.reactor.lease.LoopLease` (that lock, taken without
blocking while the loop sleeps) may act for the loop. The rules of that exception, and the
wake-up that makes a lease's timers and interest changes visible to the sleeping loop
(:meth:`Poller.missed_by_sleep`), are written in :mod:`zreactor.reactor.lease`.

*File descriptors.* :meth:`Poller.add_fd` registers an fd together with a *handler*: any
object with ``in_event()`` and ``out_event()`` methods (libzmq's ``i_poll_events``). Interest
starts empty; :meth:`set_pollin` / :meth:`set_pollout` and their ``reset_`` twins switch it on
and off. The handle returned by ``add_fd`` is what every other call takes, so a handler never
has to remember its fd number.

*Level-triggered.* Every backend is used level-triggered, exactly as ``selectors`` exposes
them (epoll without ``EPOLLET``). An fd that stays readable is reported on every iteration
until the handler drains it *or removes its read interest*. This is why the listener disarms
itself when ``accept()`` fails for lack of descriptors: the connection stays in the backlog,
the fd stays readable, and a handler that merely returns would be called again at once, for
ever. Handlers must therefore either consume what made them ready or reset their interest.

*Timers.* Timers live in a binary heap keyed by deadline (with a sequence number to keep the
order of equal deadlines stable). Cancelling marks the timer dead; the heap drops dead entries
lazily when they reach the top, and compacts itself if dead entries come to dominate it.
Cancelling an expired, already-cancelled or foreign timer is harmless. A timer is popped
before its callback runs, so a callback may re-arm itself or cancel others freely. A timer
armed by a callback runs no earlier than the next iteration, even with a zero delay, so a
callback that keeps re-arming itself cannot keep the loop from polling its fds.

*Never busy-wait.* :meth:`run_once` computes the time to the next live deadline and hands it
to ``select()``; with no fds ready and no timers it blocks until something happens. With only
timers it sleeps exactly until the next one.

*Errors.* A handler (or timer callback) that raises is not allowed to take the thread down:
the exception goes to the ``on_error(owner, exc)`` callback the I/O thread installs, which
closes the offending engine only. An fd closed while still registered is treated the same
way: ``select()`` refuses the whole set then, so the poller finds the dead fd, unregisters it
and reports it against its handler (``poll()`` reports it to the handler as ``POLLNVAL``, and
epoll forgets it by itself).

Choosing a backend
------------------
:func:`choose_selector` picks the best available mechanism (epoll, kqueue, devpoll, poll,
select). A name forces one: ``Context(poller="poll")``, or the ``ZREACTOR_POLLER``
environment variable for a whole process.
"""

from __future__ import annotations

import heapq
import itertools
import os
import selectors
import threading
import time
from typing import Callable, Protocol

from ..errors import ZReactorError
from .syscalls import opening_for

__all__ = [
    "POLLERS",
    "PollHandler",
    "Poller",
    "Timer",
    "available_pollers",
    "choose_selector",
]

#: Backend names in order of preference, mapped to the ``selectors`` class that implements
#: each. The order is the one ``selectors.DefaultSelector`` uses.
POLLERS: dict[str, str] = {
    "epoll": "EpollSelector",
    "kqueue": "KqueueSelector",
    "devpoll": "DevpollSelector",
    "poll": "PollSelector",
    "select": "SelectSelector",
}

#: Environment variable that forces a backend for the whole process.
POLLER_ENV = "ZREACTOR_POLLER"


def available_pollers() -> list[str]:
    """Return the backend names this platform supports, best first."""
    return [name for name, cls in POLLERS.items() if hasattr(selectors, cls)]


def choose_selector(name: str | None = None) -> Callable[[], selectors.BaseSelector]:
    """Return a factory for the selector named ``name``.

    Args:
        name: one of :data:`POLLERS`, or ``None`` to use ``$ZREACTOR_POLLER`` if set and the
            best available backend otherwise.

    Raises:
        ValueError: the name is unknown or not available on this platform.
    """
    if name is None:
        name = os.environ.get(POLLER_ENV) or None
    if name is None:
        return getattr(selectors, POLLERS[available_pollers()[0]])
    if name not in POLLERS:
        raise ValueError(f"unknown poller {name!r}; choose one of {sorted(POLLERS)}")
    if name not in available_pollers():
        raise ValueError(
            f"poller {name!r} is not available here; available: {available_pollers()}"
        )
    return getattr(selectors, POLLERS[name])


class PollHandler(Protocol):
    """What the poller calls when an fd is ready (libzmq's ``i_poll_events``)."""

    def in_event(self) -> None:
        """The fd is readable (or has an error/hang-up pending)."""

    def out_event(self) -> None:
        """The fd is writable."""


class Timer:
    """A handle to one scheduled callback. Returned by :meth:`Poller.add_timer`.

    Attributes:
        deadline: the clock value at which the timer fires.
        owner: the object the timer works for; if the callback raises, it is this object that
            the I/O thread closes.
    """

    __slots__ = ("deadline", "callback", "owner", "_poller", "_alive")

    def __init__(
        self, poller: Poller, deadline: float, callback: Callable[[], object], owner: object
    ) -> None:
        self.deadline = deadline
        self.callback = callback
        self.owner = owner
        self._poller = poller
        self._alive = True

    @property
    def active(self) -> bool:
        """True until the timer fires or is cancelled."""
        return self._alive

    def cancel(self) -> None:
        """Cancel the timer. Harmless if it already fired or was cancelled."""
        if self._alive:
            self._alive = False
            self._poller._timer_cancelled()

    def __repr__(self) -> str:
        state = "active" if self._alive else "done"
        return f"<Timer {state} deadline={self.deadline:.6f} cb={self.callback!r}>"


class _FdHandle:
    """Registration record of one fd: the handler and the current interest mask."""

    __slots__ = ("fd", "handler", "events", "registered")

    def __init__(self, fd: int, handler: PollHandler) -> None:
        self.fd = fd
        self.handler = handler
        self.events = 0
        self.registered = False  # selectors refuses an empty mask, so we register lazily


ErrorCallback = Callable[[object, BaseException], None]


class Poller:
    """A selector plus a timer heap, owned by one thread.

    Args:
        selector_factory: a ``selectors.BaseSelector`` subclass or factory; defaults to
            :func:`choose_selector` (``None``) which honours ``$ZREACTOR_POLLER``.
        clock: the monotonic clock in seconds; tests pass a :class:`zreactor.testing.FakeClock`.
        on_error: called as ``on_error(owner, exc)`` when a handler or a timer raises; the
            default re-raises.
    """

    def __init__(
        self,
        selector_factory: Callable[[], selectors.BaseSelector] | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_error: ErrorCallback | None = None,
    ) -> None:
        factory = selector_factory or choose_selector()
        with opening_for("an I/O thread's poller (epoll, kqueue and devpoll need one)"):
            self._selector = factory()
        self.name = type(self._selector).__name__.replace("Selector", "").lower()
        self.clock = clock
        self.on_error = on_error
        self._handles: dict[int, _FdHandle] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._dead_timers = 0
        self._seq = itertools.count()
        #: held by run_once() except while it waits in select(); taken by others only as a
        #: :class:`~zreactor.reactor.lease.LoopLease` (see the module docstring)
        self.lock = threading.Lock()
        #: the clock value the current (or last) select() wakes up at by itself; None: never
        self._sleeping_until: float | None = None
        #: epoll, kqueue and devpoll keep the fd set in the kernel: a change is seen at once
        self._kernel_interest = self.name in ("epoll", "kqueue", "devpoll")
        #: interest changed since the current select() began, with a backend that hands the
        #: kernel its fd set per call (never set for a kernel-held one)
        self._interest_changed = False
        #: the current select() may miss something done since it began: that interest
        #: change, or a timer armed due before _sleeping_until (it may be cancelled since:
        #: missed_by_sleep looks at the heap then). A lease's release tests this alone when
        #: it is False, the common case (see missed_by_sleep)
        self.maybe_missed = False
        #: fd readiness events dispatched so far, for statistics and tests
        self.dispatched = 0

    # -- file descriptors ---------------------------------------------------------------

    @property
    def load(self) -> int:
        """Number of fds registered (libzmq's ``get_load``), used to balance I/O threads."""
        return len(self._handles)

    def add_fd(self, fd: int, handler: PollHandler) -> _FdHandle:
        """Register ``fd`` with no interest yet; return the handle for the other calls."""
        if fd in self._handles:
            raise ValueError(f"fd {fd} is already registered")
        handle = _FdHandle(fd, handler)
        self._handles[fd] = handle
        return handle

    def rm_fd(self, handle: _FdHandle) -> None:
        """Unregister an fd. Call it *before* closing the fd."""
        if self._handles.get(handle.fd) is not handle:
            return
        del self._handles[handle.fd]
        if handle.registered:
            handle.registered = False
            self._selector.unregister(handle.fd)

    def set_pollin(self, handle: _FdHandle) -> None:
        """Start reporting readability of the handle's fd."""
        self._set_events(handle, handle.events | selectors.EVENT_READ)

    def reset_pollin(self, handle: _FdHandle) -> None:
        """Stop reporting readability of the handle's fd."""
        self._set_events(handle, handle.events & ~selectors.EVENT_READ)

    def set_pollout(self, handle: _FdHandle) -> None:
        """Start reporting writability of the handle's fd."""
        self._set_events(handle, handle.events | selectors.EVENT_WRITE)

    def reset_pollout(self, handle: _FdHandle) -> None:
        """Stop reporting writability of the handle's fd."""
        self._set_events(handle, handle.events & ~selectors.EVENT_WRITE)

    def _set_events(self, handle: _FdHandle, events: int) -> None:
        if events == handle.events or self._handles.get(handle.fd) is not handle:
            return
        handle.events = events
        if not self._kernel_interest:
            self._interest_changed = self.maybe_missed = True
        if events == 0:
            self._selector.unregister(handle.fd)
            handle.registered = False
        elif handle.registered:
            self._selector.modify(handle.fd, events, handle)
        else:
            self._selector.register(handle.fd, events, handle)
            handle.registered = True

    # -- timers ---------------------------------------------------------------------------

    def add_timer(
        self, delay: float, callback: Callable[[], object], owner: object = None
    ) -> Timer:
        """Call ``callback()`` on this thread after ``delay`` seconds; return its handle."""
        if delay < 0:
            raise ValueError(f"timer delay must be >= 0, got {delay!r}")
        timer = Timer(self, self.clock() + delay, callback, owner)
        heapq.heappush(self._timers, (timer.deadline, next(self._seq), timer))
        until = self._sleeping_until
        if until is None or timer.deadline < until:
            self.maybe_missed = True
        return timer

    def cancel_timer(self, timer: Timer | None) -> None:
        """Cancel ``timer``; harmless for ``None``, expired or cancelled timers."""
        if timer is not None:
            timer.cancel()

    @property
    def timer_count(self) -> int:
        """Number of live (not fired, not cancelled) timers."""
        return len(self._timers) - self._dead_timers

    def _timer_cancelled(self) -> None:
        self._dead_timers += 1
        # Lazy deletion keeps cancel O(1); rebuild when the dead outnumber the living so a
        # timer that is re-armed on every message cannot grow the heap without bound.
        # In place: execute_timers() may be iterating over this very list (a callback that
        # cancels many timers), and must see the timers armed after the rebuild.
        if self._dead_timers > 64 and self._dead_timers * 2 > len(self._timers):
            self._timers[:] = [entry for entry in self._timers if entry[2]._alive]
            heapq.heapify(self._timers)
            self._dead_timers = 0

    def execute_timers(self) -> float | None:
        """Run every timer whose deadline has passed.

        Returns:
            Seconds until the next live timer, or ``None`` if there is none.
        """
        timers = self._timers
        cutoff = next(self._seq)  # timers armed by the callbacks below wait for the next pass
        while timers:
            deadline, seq, timer = timers[0]
            if not timer._alive:
                heapq.heappop(timers)
                self._dead_timers -= 1
                continue
            now = self.clock()
            if deadline > now:
                return deadline - now
            if seq > cutoff:
                return 0.0  # due, but armed during this pass: poll the fds first
            heapq.heappop(timers)
            timer._alive = False  # popped before the call: the callback may re-arm freely
            try:
                timer.callback()
            except Exception as exc:  # isolate the owner, keep the thread alive
                self._report(timer.owner, exc)
        return None

    # -- the loop body ---------------------------------------------------------------------

    def run_once(self, max_wait: float | None = None) -> int:
        """Run due timers, wait for readiness, dispatch it. Return the number of events.

        Args:
            max_wait: an upper bound on the wait in seconds (``0`` polls without blocking);
                ``None`` waits as long as the timers allow, possibly for ever.
        """
        lock = self.lock
        with lock:
            timeout = self.execute_timers()
            if max_wait is not None and (timeout is None or timeout > max_wait):
                timeout = max_wait
                self._sleeping_until = self.clock() + max_wait
            else:  # the top of the heap (live: execute_timers just looked) sets the wake-up
                self._sleeping_until = None if timeout is None else self._timers[0][0]
            self._interest_changed = self.maybe_missed = False
        if not self._selector.get_map():
            # select() with nothing registered raises on some platforms; just sleep.
            if timeout is None:
                raise ZReactorError("poller has nothing to wait for and no timer")
            if timeout > 0:
                time.sleep(timeout)
            return 0
        try:
            ready = self._selector.select(timeout)
        except InterruptedError:  # pragma: no cover - PEP 475 retries for us
            return 0
        except (OSError, ValueError) as exc:
            # poll() and select() refuse the whole set when one registered fd was closed
            # behind our back (epoll just forgets it). Blame its handler, keep the loop.
            with lock:
                if not self._drop_closed_fds(exc):
                    raise
            return 0
        with lock:
            self.dispatched += len(ready)
            self._dispatch(ready)
        return len(ready)

    def missed_by_sleep(self) -> bool:
        """True if the loop's current ``select()`` cannot see what was done since it began:
        a timer due before the loop's planned wake-up, or (with a backend that hands the
        kernel its fd set per call) an interest change. Loop lock held (the lease's check on
        release; see :mod:`zreactor.reactor.lease`). False at once while
        :attr:`maybe_missed` is, the common case (a lease's release tests that first)."""
        if not self.maybe_missed:
            return False
        if self._interest_changed:
            return True
        timers = self._timers
        while timers and not timers[0][2]._alive:  # dead entries at the top mean nothing
            heapq.heappop(timers)
            self._dead_timers -= 1
        if not timers:
            return False
        until = self._sleeping_until
        return until is None or timers[0][0] < until

    def _dispatch(self, ready: list[tuple[selectors.SelectorKey, int]]) -> None:
        for key, mask in ready:
            handle = key.data
            if not handle.registered:
                continue  # removed by an earlier handler in this same batch
            handler = handle.handler
            try:
                if mask & selectors.EVENT_READ and handle.events & selectors.EVENT_READ:
                    handler.in_event()
                if (
                    mask & selectors.EVENT_WRITE
                    and handle.registered
                    and handle.events & selectors.EVENT_WRITE
                ):
                    handler.out_event()
            except Exception as exc:  # isolate the handler, keep the thread alive
                self._report(handler, exc)

    def _drop_closed_fds(self, exc: BaseException) -> bool:
        """Unregister every fd that is no longer open and report it against its handler.

        Returns:
            True if at least one such fd was found (the failed ``select()`` is explained).
        """
        found = False
        for handle in list(self._handles.values()):
            try:
                os.fstat(handle.fd)
            except OSError:
                found = True
                del self._handles[handle.fd]
                if handle.registered:
                    handle.registered = False
                    try:
                        self._selector.unregister(handle.fd)
                    except (KeyError, ValueError, OSError):  # pragma: no cover - best effort
                        pass
                self._report(handle.handler, OSError(
                    getattr(exc, "errno", None), f"fd {handle.fd} was closed while registered"))
        return found

    def _report(self, owner: object, exc: Exception) -> None:
        if self.on_error is None:
            raise exc
        self.on_error(owner, exc)

    def close(self) -> None:
        """Release the selector's own fd (epoll/kqueue/devpoll). The poller is unusable after."""
        self._handles.clear()
        self._timers.clear()
        self._selector.close()
