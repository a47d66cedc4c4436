"""The I/O thread: one poller, one mailbox, one loop.

Theory of operation
-------------------
An :class:`IOThread` is libzmq's ``io_thread_t``. It is a named daemon thread that owns one
:class:`~zreactor.reactor.poller.Poller` and one :class:`~zreactor.reactor.mailbox.Mailbox`.
Its mailbox's wake-up fd is registered with its poller like any other fd, so the loop is::

    while running:
        run due timers; select() until an fd is ready or the next timer is due
        for each ready fd: call its handler (the mailbox's handler dispatches commands)

Everything that lives on this thread (engines, listeners, the pool's root) is touched only
from this loop, so none of it needs a lock. (The one exception borrows the loop itself: a
thread holding a :class:`~zreactor.reactor.lease.LoopLease` from :meth:`IOThread.try_lease`,
granted only while the loop sleeps in ``select()``, may act for it; see
:mod:`zreactor.reactor.lease`.)

*Isolation.* A handler, timer or command handler that raises is reported to
:meth:`IOThread.handle_error`. If the culprit is an engine, that one engine is aborted (its
fds closed, an ``ENGINE_FAILED`` event emitted, one log line on the ``zreactor`` logger) and
the loop goes on serving every other engine. Should the loop's own machinery fail (a bug, a
selector in trouble), the thread logs it as critical, backs off (10 ms doubling to 1 s, never
spinning) and carries on: a dead loop would silently hang every engine on it, and ``term()``.

*Stopping* is a command (``STOP``), so it is ordered after every command sent before it.
The pool (:mod:`~zreactor.reactor.pool`) sends it only after the ownership tree has
acknowledged termination, so nothing is left on the thread when it exits.

*Manual mode.* With ``start=False`` the loop does not run on its own thread; tests (and
``IOThreadPool(start=False)``, under :class:`zreactor.testing.ManualContext`) call :meth:`run_once` themselves, with a fake clock.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from .lease import LoopLease
from .mailbox import Cmd, Command, Mailbox, dispatch
from .poller import Poller

if TYPE_CHECKING:
    import selectors

    from .pool import IOThreadPool

__all__ = ["IOThread", "on_a_loop_thread"]

log = logging.getLogger("zreactor")

#: ``loop``: the IOThread whose loop runs on the calling thread (set by the loop itself)
_this_thread = threading.local()


def on_a_loop_thread() -> bool:
    """True when called on any I/O thread's own loop thread (a handler, a timer, a command;
    or code they call, such as a logging handler): such code must never wait for a lease,
    its own loop's or another's (two loops waiting for each other would never wake)."""
    return getattr(_this_thread, "loop", None) is not None


class IOThread:
    """A reactor thread: poller + mailbox + loop.

    Args:
        index: position in the pool's list of I/O threads (used in the thread's name).
        pool: the owning :class:`~zreactor.reactor.pool.IOThreadPool`, if any (engines reach
            it through ``thread.pool`` for placement, load and fd accounting).
        selector_factory: forwarded to :class:`Poller`.
        clock: forwarded to :class:`Poller`.
        name_prefix: thread name prefix; the thread is called ``f"{prefix}-{index}"``.
    """

    def __init__(
        self,
        index: int,
        pool: IOThreadPool | None = None,
        selector_factory: Callable[[], selectors.BaseSelector] | None = None,
        clock: Callable[[], float] | None = None,
        name_prefix: str = "zreactor-io",
    ) -> None:
        self.index = index
        self.pool = pool
        self.name = f"{name_prefix}-{index}"
        kwargs: dict[str, Any] = {"on_error": self.handle_error}
        if clock is not None:
            kwargs["clock"] = clock
        self.poller = Poller(selector_factory, **kwargs)
        try:
            self.mailbox = Mailbox(self.name)
        except BaseException:  # no descriptor left for it: do not leak the poller's
            self.poller.close()
            raise
        self._mailbox_handle = self.poller.add_fd(self.mailbox.fd, self)
        self.poller.set_pollin(self._mailbox_handle)
        self._running = False
        self._thread: threading.Thread | None = None
        #: engines assigned to this thread that have not been plugged yet (see ``load``).
        self.pending = 0
        #: number of commands processed, for statistics and tests.
        self.commands_processed = 0
        #: the one lease of this loop, taken by each holder of its lock in turn: with
        #: :meth:`try_lease` and :meth:`wait_lease`, or (a caller that keeps it at hand, on a
        #: per-message path) its own ``try_take()`` and ``take()``, which they are
        self.lease = LoopLease(self.poller, self.mailbox.wake)

    # -- load balancing -------------------------------------------------------------------

    @property
    def load(self) -> int:
        """Registered fds plus engines on their way here (libzmq's ``get_load``).

        Counting the engines still in flight keeps a burst of accepts from landing on one
        thread just because none of them has registered its fd yet.
        """
        return self.poller.load - 1 + self.pending  # minus our own mailbox fd

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop on a new daemon thread."""
        self._running = True
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the loop to exit after the commands already queued (any thread)."""
        self.mailbox.send(Command(self, Cmd.STOP))

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to exit; return True if it did."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self) -> None:
        """Release the poller and the mailbox fds. Call only after the loop exited."""
        self.poller.close()
        self.mailbox.close()

    @property
    def is_current(self) -> bool:
        """True when called from this I/O thread's own loop."""
        return self._thread is threading.current_thread()

    def _run(self) -> None:
        _this_thread.loop = self
        failures = 0
        while self._running:
            try:
                self.poller.run_once()
            except Exception:
                # Handlers, timers and commands are isolated already; reaching this means the
                # loop's own machinery failed (a bug, or a selector in trouble). A dead loop
                # would hang every engine on it and term() with them: say so loudly, back off
                # (never spin), and try again.
                failures += 1
                log.critical("%s: the I/O loop failed (%d in a row); retrying", self.name,
                             failures, exc_info=True)
                time.sleep(min(1.0, 0.01 * 2 ** min(failures - 1, 7)))
            else:
                failures = 0

    def run_once(self, max_wait: float | None = 0.0) -> int:
        """Run one loop iteration (manual mode); see :meth:`Poller.run_once`."""
        self._running = True
        return self.poller.run_once(max_wait)

    # -- lending the loop ---------------------------------------------------------------------

    def try_lease(self) -> LoopLease | None:
        """Borrow the loop while it sleeps, without ever waiting; None if it is busy.

        Any thread; the loop's own handlers always get None. Release the lease promptly; see
        :mod:`zreactor.reactor.lease` for what a holder may do and the wake-up on release.
        """
        return self.lease.try_take()

    def wait_lease(self) -> LoopLease:
        """Borrow the loop, waiting for the handlers it is running now: for giving back, and
        for a read that must see what the loop may be reading now.

        What a lease lent out (a connection's fd, lent to a socket that waits on it, or held
        for it between its calls) must come home, and handing it over as a command would
        cost the very wake-up the lease saved; a publisher about to send must see the
        subscriptions the loop may be reading (:mod:`zreactor.zmtp.shortcut`, *The early
        read*). This waits for the lock, which the loop holds only while it runs one
        iteration's timers and handlers (never across ``select()``), and other holders only
        briefly. Never call it on an I/O thread (:func:`on_a_loop_thread`: its own loop's
        lock is held, and another loop may be waiting for it), or while holding a lease.
        """
        return self.lease.take()

    @property
    def leases(self) -> int:
        """Loop leases granted so far (:meth:`try_lease`, :meth:`wait_lease`)."""
        return self.lease.granted

    @property
    def lease_wakeups(self) -> int:
        """The wake-ups their releases cost (see :mod:`zreactor.reactor.lease`)."""
        return self.lease.wakeups

    # -- commands -------------------------------------------------------------------------

    def in_event(self) -> None:
        """The mailbox fd is readable: drain it and dispatch every command."""
        for command in self.mailbox.drain():
            self.commands_processed += 1
            try:
                dispatch(command)
            except Exception as exc:  # isolate the destination, keep the thread alive
                self.handle_error(command.destination, exc)

    def out_event(self) -> None:  # pragma: no cover - never armed for the mailbox
        """Unused: the mailbox fd is only polled for input."""

    def process_stop(self) -> None:
        """``STOP`` command: leave the loop after this iteration."""
        self._running = False

    # -- errors ---------------------------------------------------------------------------

    def handle_error(self, culprit: object, exc: BaseException) -> None:
        """Contain an exception raised by ``culprit`` (an engine, or something else).

        Engines are aborted through their ``abort(exc)`` method, which logs, emits an event
        and closes them. Anything else is logged.
        """
        abort = getattr(culprit, "abort", None)
        if abort is None:
            log.error("%s: unhandled error in %r", self.name, culprit, exc_info=exc)
            return
        try:
            abort(exc)
        except Exception:  # the engine cannot even close itself: say so, keep running
            log.exception("%s: %r failed while aborting", self.name, culprit)

    def __repr__(self) -> str:
        return f"<IOThread {self.name} load={self.load}>"
