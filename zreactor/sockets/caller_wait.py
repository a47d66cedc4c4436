"""The socket's wait, with caller I/O: block on the mailbox, and on a few connections too.

Theory of operation
-------------------
A socket that cannot send or receive yet blocks until a command arrives (a pipe became
readable or writable, a new pipe, the context stopping): :meth:`Mailbox.wait` on its wake-up
fd. For a socket with only a few tcp/ipc connections (at most :data:`MAX_CALLER_READS`: the
request/reply shape, not a busy ROUTER), :func:`wait` does better. It asks each connection's
session for its fd, and while the I/O thread sleeps, *lends* those fds to this thread: the
I/O thread stops polling them, this thread polls them together with the mailbox fd, and on
readiness reads and decodes the data here (*caller I/O*, the mirror of what ``send`` does
through the pipe's ``caller_io``). The reply then costs no hand-off between threads: no
wake-up of the I/O thread, no command back to the socket.

*The rules.* An fd is lent only by its session (``lend_fd``, under the I/O thread's loop
lock: see :mod:`zreactor.reactor.poller`) and always given back (``reclaim_fd``, in a
``finally``), readable or not; anything but data (EOF, an error) is left to the I/O thread,
which sees it once the fd is polled there again. The mailbox is checked first, so a pending
command is never delayed by a wait on the connections.

Socket's thread only.
"""

from __future__ import annotations

import select
from typing import TYPE_CHECKING, Any, Container

if TYPE_CHECKING:
    from ..reactor.mailbox import Mailbox
    from .pipe import Pipe

__all__ = ["MAX_CALLER_READS", "give_back", "lend", "read_offers", "wait"]

#: a socket with more connections than this waits on its mailbox alone (reading them on the
#: application thread pays off for the few-peer REQ/DEALER case, not for a busy ROUTER)
MAX_CALLER_READS = 4


def wait(mailbox: Mailbox, pipes: list[Pipe], timeout: float | None) -> None:
    """Block until ``mailbox`` may have commands or ``timeout`` seconds pass, reading the
    connections of ``pipes`` on this thread meanwhile when they can be lent (see above)."""
    offers = read_offers(pipes)
    if offers:
        _wait_reading(mailbox, offers, timeout)
    else:
        mailbox.wait(timeout)


def read_offers(pipes: list[Pipe]) -> list[tuple[int, Any]]:
    """``(fd, session)`` for each connection this thread may read itself right now."""
    if not pipes or len(pipes) > MAX_CALLER_READS:
        return []
    offers = []
    for pipe in pipes:
        reader = pipe.caller_read
        if reader is not None:
            fd = reader.read_fd()
            if fd is not None:
                offers.append((fd, reader))
    return offers


def _wait_reading(mailbox: Mailbox, offers: list[tuple[int, Any]], timeout: float | None) -> None:
    """Wait for a command or for one of our connections to be readable, with those
    connections lent to this thread; read them here, then give them back."""
    if mailbox.maybe_pending:
        return
    lent = lend(offers)
    readable: set[int] = set()
    try:
        poll = select.poll()
        poll.register(mailbox.fd, select.POLLIN)
        for fd, _ in lent:
            poll.register(fd, select.POLLIN)
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        readable.update(fd for fd, _ in poll.poll(ms))
    finally:
        give_back(lent, readable)


def lend(offers: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """Borrow the offered connections from their sleeping I/O thread: ``(fd, session)`` for
    each one lent (the others stay with the I/O thread). Every one must go back through
    :func:`give_back`."""
    lent = []
    for _, reader in offers:
        fd = reader.lend_fd()
        if fd is not None:
            lent.append((fd, reader))
    return lent


def give_back(lent: list[tuple[int, Any]], readable: Container[int]) -> None:
    """Return lent connections, first reading (on this thread) those found readable."""
    for fd, reader in lent:
        reader.reclaim_fd(fd in readable)
