"""The loop lease: an I/O thread's loop, lent to another thread while it sleeps.

Theory of operation
-------------------
Everything that lives on an I/O thread is touched only by that thread's loop, so none of it
needs a lock (:mod:`~zreactor.reactor.io_thread`). That rule has one exception, and this
module is its only door. While the loop sleeps in ``select()`` it is doing nothing; another
thread that has something small to do for an object on that loop (a messaging socket with a
reply to write, or a connection to read while it waits) may do it itself instead of sending
a command and waking the loop: a command, a wake-up and a thread switch are most of a
request/reply round trip. To do so it takes a :class:`LoopLease`, with
:meth:`IOThread.try_lease <zreactor.reactor.io_thread.IOThread.try_lease>`.

*What a lease is.* The poller holds its loop lock (:attr:`Poller.lock
<zreactor.reactor.poller.Poller.lock>`) while it runs timers and handlers, and releases it
only around ``select()``. A lease is that lock, taken **without blocking**: ``try_lease()``
returns a lease only if the loop is asleep at that moment (or about to sleep, or just woken
and not yet dispatching), and ``None`` otherwise. It never waits for the loop, so a lease can
never make the caller wait for a busy I/O thread, and the loop never runs alongside the
lease holder. While the lease is held, the holder may do what the loop's own handlers may do
for the objects it was lent for: read and write their fds, change their interest, arm and
cancel their timers, write to their pipes. It must be brief and must not block.

Two things may wait. Giving back: what a lease lent out (a connection's fd, lent to a socket
that then polls it) must come home, so :meth:`IOThread.wait_lease
<zreactor.reactor.io_thread.IOThread.wait_lease>` takes the lock blocking. It waits at most
for the handlers of one loop iteration (the loop never holds the lock across ``select()``)
or another holder's brief lease; a give-back refused and sent as a command instead would
cost the wake-up the lease was taken to save. And a read that must see what the loop may be
reading right now (a publisher taking in its subscriptions before it sends: the loop woke
when they landed, and once its handlers are done they are in the pipe), with the same bound.

Code running in the loop's own handlers gets ``None`` (the lock is held and not re-entrant; a
loop lending itself to itself would make no sense): it simply takes the ordinary path.

*The one wake-up.* A sleeping loop computed its ``select()`` timeout from the timer heap
before it went to sleep, and some backends (``poll``, ``select``) hand the kernel their set of
fds at each call. So two things done under a lease are invisible to the current sleep:

* a timer armed earlier than the loop's planned wake-up (a peer's heartbeat TTL decoded by a
  socket's thread: the bug this module was written to fix), and
* an interest change, with a backend whose fd set is not kept by the kernel (epoll, kqueue
  and devpoll keep theirs; a change there takes effect at once).

When the lease is given back, :meth:`LoopLease.release` asks the poller whether either
happened (:meth:`Poller.missed_by_sleep <zreactor.reactor.poller.Poller.missed_by_sleep>`)
and, if so, wakes the loop once through its mailbox's wake-up fd (:meth:`Mailbox.wake
<zreactor.reactor.mailbox.Mailbox.wake>`: the fd, no command). The loop then goes round once
and computes its wait again. The check is made while the lock is still held, the wake-up
after it is released; no wake-up is lost in between, because the loop cannot pass
``select()`` into its dispatch without the lock, and the fd stays readable until it drains
it. A lease that did nothing the sleep would miss costs no syscall at all.

*One lease per loop.* Only the thread holding the loop's lock can hold its lease, so each I/O
thread keeps a single :class:`LoopLease` and hands that same object to every holder in turn
(a lease is taken on every caller write and read: allocating one each time would be most of
its cost). The lease takes itself (:meth:`LoopLease.try_take`, :meth:`LoopLease.take`): a
caller that keeps its loop's lease at hand, as the caller shortcut does, pays one call per
lease taken and one per release.

*Checks.* A lease is released once (:class:`LeaseError` otherwise): a second release would
let go of the lock the loop, or the next holder, has taken since. It is released by the
thread that took it, too; the lock itself would not mind (any thread may release a
``_thread.lock``), so that is checked as well, but only in *owner-checking mode*
(:func:`check_owners`; on by default under ``python -X dev`` or with ``ZREACTOR_DEBUG`` set),
as asyncio checks its loop's thread only in debug mode, and for the same reason: knowing the
thread costs ``get_ident()`` on taking and on releasing (a new int object each time), ~1,000
instructions, a quarter of a lease that is taken twice per message on each side of a
request/reply exchange. Every holder in the library takes and releases in one ``try`` /
``finally`` on its own thread, so the check guards code yet to be written; the tests run it.
:attr:`LoopLease.granted` and :attr:`LoopLease.wakeups` (also
:attr:`IOThread.leases <zreactor.reactor.io_thread.IOThread.leases>` and
:attr:`IOThread.lease_wakeups <zreactor.reactor.io_thread.IOThread.lease_wakeups>`) count the
leases granted and the wake-ups they cost, for tests and benchmarks.

*Who takes leases.* The ZMTP engine's caller shortcut (:mod:`zreactor.zmtp.shortcut`) is the
only user in the library: it writes a reply, or lends a connection's fd to a waiting socket
and reads it back, under a lease.
"""

from __future__ import annotations

import os
import sys
from _thread import get_ident
from typing import TYPE_CHECKING, Callable

from ..errors import ZReactorError

if TYPE_CHECKING:
    from .poller import Poller

__all__ = ["LeaseError", "LoopLease", "check_owners", "checks_owners"]

#: a lease held where the owner is not checked (the holder's thread is not known)
_HELD = "held"

#: owner-checking mode (module docstring, *Checks*): record the holder's thread
_check_owners = sys.flags.dev_mode or bool(os.environ.get("ZREACTOR_DEBUG"))


def check_owners(on: bool = True) -> None:
    """Turn owner-checking mode on or off (module docstring, *Checks*): from then on, a
    lease released by another thread than the one that took it raises :class:`LeaseError`.
    For tests and debugging; it applies to leases taken after the call."""
    global _check_owners
    _check_owners = bool(on)


def checks_owners() -> bool:
    """True in owner-checking mode (:func:`check_owners`)."""
    return _check_owners


class LeaseError(ZReactorError):
    """A lease was released twice, or by a thread that did not take it (a bug)."""


class LoopLease:
    """A sleeping I/O loop, lent to the thread that took it; see the module docstring.

    Take it with :meth:`try_take` (or :meth:`take`, to give back); give it back with
    :meth:`release` or by leaving a ``with`` block. Not for construction by users: each I/O
    thread makes its one lease (:attr:`IOThread.lease
    <zreactor.reactor.io_thread.IOThread.lease>`) and every holder takes that same object.

    Args:
        poller: the poller whose loop lock the lease is.
        wake: wakes the loop (the I/O thread's ``mailbox.wake``).

    Attributes:
        granted: the times this lease was taken.
        wakeups: the wake-ups its releases cost.
    """

    __slots__ = ("poller", "_lock", "_wake", "_owner", "granted", "wakeups")

    def __init__(self, poller: Poller, wake: Callable[[], None]) -> None:
        self.poller = poller
        self._lock = poller.lock
        self._wake = wake
        self._owner: int | None = None
        self.granted = 0
        self.wakeups = 0

    def try_take(self) -> LoopLease | None:
        """The lease, if the loop sleeps now; None at once if it is busy (any thread; the
        loop's own handlers always get None). Used as ``IOThread.try_lease``."""
        if not self._lock.acquire(False):
            return None
        self._owner = get_ident() if _check_owners else _HELD
        self.granted += 1
        return self

    def take(self) -> LoopLease:
        """The lease, waiting for the handlers the loop runs now; never on an I/O thread.
        Used as ``IOThread.wait_lease``, which says when to."""
        self._lock.acquire()
        self._owner = get_ident() if _check_owners else _HELD
        self.granted += 1
        return self

    @property
    def held(self) -> bool:
        """True until :meth:`release`."""
        return self._owner is not None

    def release(self) -> None:
        """Give the loop back; wake it once if the lease did something its sleep cannot see.

        Raises:
            LeaseError: already released; or, in owner-checking mode, called by another
                thread than the holder's.
        """
        owner = self._owner
        if owner is not _HELD and owner != get_ident():
            raise LeaseError("lease released twice" if owner is None
                             else "lease released by a thread that did not take it")
        self._owner = None
        poller = self.poller
        # (the common case, nothing the sleep could miss, costs one attribute test: the
        # poller's own flag, which missed_by_sleep then confirms)
        if poller.maybe_missed and poller.missed_by_sleep():
            self.wakeups += 1  # still under the lock: statistics need no lock of their own
            self._lock.release()
            self._wake()
        else:
            self._lock.release()

    def __enter__(self) -> LoopLease:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<LoopLease {'held' if self.held else 'released'}>"
