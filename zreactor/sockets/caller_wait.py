"""The socket's wait, with caller I/O: block on the mailbox, and on a few connections too.

Theory of operation
-------------------
A socket that cannot send or receive yet blocks until a command arrives (a pipe became
readable or writable, a new pipe, the context stopping): :meth:`Mailbox.wait
<zreactor.reactor.mailbox.Mailbox.wait>` on its wake-up fd. For a socket with only a few
tcp/ipc connections (at most :data:`MAX_CALLER_READS`: the request/reply shape, not a busy
ROUTER), :func:`wait` does better. Each such connection's pipe carries the engine's
:class:`~zreactor.zmtp.shortcut.CallerShortcut`; the socket asks each to *lend* it the
connection's fd (the I/O loop, if asleep, stops polling it), waits on those fds and its
mailbox together (:meth:`Mailbox.wait_with <zreactor.reactor.mailbox.Mailbox.wait_with>`),
and gives every lent fd back, read first on this thread if it became readable. The reply
then costs no hand-off between threads: no wake-up of the I/O thread, no command back. The
read writes the reply into the socket's own pipe on this very thread, so the pipe is woken
by hand around it (:meth:`Pipe.rouse <zreactor.sockets.pipe.Pipe.rouse>` /
:meth:`~zreactor.sockets.pipe.Pipe.settle`) instead of by an ``ACTIVATE_READ`` this thread
would send to itself.

*Sockets that know their next call* (``Socket.holds_reads``: REQ and REP, which alternate
strictly between send and recv; PULL and SUB, which only receive) go one step further and keep
their connections' reads between their calls: the shortcut's *held read*
(:mod:`zreactor.zmtp.shortcut`). :func:`arrange` tells every shortcut of a socket whether it
may hold, whenever the socket's pipes change: only such a socket with at most
:data:`MAX_CALLER_READS` connections whose wake-up fd was never handed out (an event loop
watching that fd would not know to wait on a held connection; it lends for itself). A socket
that returns to the application without waiting (``EAGAIN``, ``EVENTS``, a ``Poller``,
``close()``) gives what it holds back at once with :func:`release`; the loop's tick takes back
what is left.

*The direct read.* A ``recv()`` waiting on its socket's one connection (REQ, REP) passes
its pattern's ``xrecv_direct`` to :func:`wait`: when the connection becomes readable while
the socket's end of the pipe sleeps, the shortcut may hand over the one message the read
brings instead of writing it to the pipe (the rules are the shortcut's:
:mod:`zreactor.zmtp.direct_read`), and :func:`wait` gives it to the pattern, which checks it
as it would after reading it from the pipe. The pipe is still woken by hand around the read,
for a read that takes the ordinary way. On a held fd (REQ, REP between their calls) the wait
and the read are one call, the shortcut's *express read*
(:meth:`CallerShortcut.read_express <zreactor.zmtp.shortcut.CallerShortcut.read_express>`),
which falls back to the general wait, having done nothing, when the fd is not held. REQ's and
REP's own ``recv()`` call it directly for a round trip's common shape, and come here only for
the rest (:mod:`zreactor.sockets.reqrep`, *The express exchange*).

*The early read.* A publisher about to send first reads the subscriptions already waiting
in its connections' kernel buffers (:func:`read_waiting`; why, and the shortcut's rules, in
:mod:`zreactor.zmtp.shortcut`, *The early read*; how often, in
:mod:`zreactor.sockets.pubsub`). It is the read half of :func:`give_back` without the wait:
each read goes into its pipe woken by hand, so the socket applies what came before it
sends, and only for a socket with at most :data:`MAX_CALLER_READS` connections.

Every rule of lending (under the loop's lease, what EOF and errors do, how much one wait
reads) belongs to the shortcut: this module only decides *when* to ask. It never lends while
commands are pending (they are run first), and always gives back, in a ``finally``. An event
loop, which cannot block here, uses the halves: :func:`lend`, then :func:`read_lent` for
each lent fd that became readable while it keeps waiting, and :func:`give_back`.

Socket's thread only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Container

if TYPE_CHECKING:
    from ..reactor.mailbox import Mailbox
    from .pipe import Pipe

    #: a pattern's ``xrecv_direct``: a message read directly from a pipe's connection in,
    #: what ``recv()`` returns (or None: dropped) out
    Take = Callable[[Pipe, list[bytes]], "list[bytes] | None"]

__all__ = ["MAX_CALLER_READS", "arrange", "give_back", "lend", "read_lent", "read_waiting",
           "release", "wait"]

#: a socket with more connections than this waits on its mailbox alone (reading them on the
#: application thread pays off for the few-peer REQ/DEALER case, not for a busy ROUTER)
MAX_CALLER_READS = 4


def wait(mailbox: Mailbox, pipes: list[Pipe], timeout: float | None,
         take: Take | None = None) -> list[bytes] | None:
    """Block until ``mailbox`` may have commands or ``timeout`` seconds pass, reading the
    connections of ``pipes`` on this thread meanwhile when their engines lend them.

    Args:
        take: given by a ``recv()`` whose pattern takes a message read straight from its
            one connection (*The direct read*, module docstring): called with the pipe and
            that message.

    Returns:
        What ``take`` returned for a message read directly (None: none, or dropped); the
        caller then returns it from ``recv()``. Otherwise None: look at the pattern.
    """
    if len(pipes) == 1:
        # the request/reply shape, once per round trip: lend()'s rule for one connection,
        # without its loop (its fd is usually held already: no lease), nor wait_with()'s
        # lists, and give_back()'s read written out for the direct read
        pipe = pipes[0]
        shortcut = pipe.shortcut
        if shortcut is None or mailbox.maybe_pending:
            mailbox.wait(timeout)
            return None
        if take is not None:
            # *The express read*: the held fd waited on and read in one call
            got = shortcut.read_express(mailbox, timeout, pipe)
            if type(got) is list:
                return take(pipe, got)
            if got:
                return None
        fd = shortcut.lend_read()
        if fd is None:
            mailbox.wait(timeout)
            return None
        try:
            ready = mailbox.wait_with_one(fd, timeout)
        except BaseException:
            shortcut.take_back(False)  # (interrupted: the fd goes home all the same)
            raise
        if not ready:
            shortcut.take_back(False)
            return None
        roused = pipe.rouse()
        try:
            # direct only while this end sleeps: then nothing was read ahead of the message
            msg = shortcut.take_back(True, roused and take is not None)
        finally:
            if roused:
                pipe.settle()
        if msg is None:
            return None
        return take(pipe, msg)  # type: ignore[misc]
    lent = lend(mailbox, pipes)
    if not lent:
        mailbox.wait(timeout)
        return None
    fds = [fd for fd, _ in lent]
    readable: set[int] = set()
    try:
        readable = mailbox.wait_with(fds, timeout)
    finally:
        give_back(lent, readable)
    return None


def lend(mailbox: Mailbox, pipes: list[Pipe]) -> list[tuple[int, Pipe]]:
    """The first half of :func:`wait`, for a caller that waits elsewhere (an event loop):
    ``(fd, pipe)`` for each connection of ``pipes`` its engine lent; none while commands
    are pending or for more than :data:`MAX_CALLER_READS` connections. Every one must go
    back through :func:`give_back`."""
    lent: list[tuple[int, Pipe]] = []
    if len(pipes) <= MAX_CALLER_READS and not mailbox.maybe_pending:
        for pipe in pipes:
            shortcut = pipe.shortcut
            if shortcut is not None:
                fd = shortcut.lend_read()
                if fd is not None:
                    lent.append((fd, pipe))
    return lent


def give_back(lent: list[tuple[int, Pipe]], readable: Container[int]) -> None:
    """The second half: return what :func:`lend` lent, reading those in ``readable`` first
    (into pipes woken by hand: see the module docstring)."""
    for fd, pipe in lent:
        shortcut = pipe.shortcut
        assert shortcut is not None  # lent only through one
        if fd not in readable:
            shortcut.take_back(False)
            continue
        roused = pipe.rouse()
        try:
            shortcut.take_back(True)
        finally:
            if roused:
                pipe.settle()


def read_lent(lent: tuple[int, Pipe]) -> bool:
    """For a caller that keeps waiting (an event loop between two receives): read one
    connection that :func:`lend` lent and that became readable (into its pipe woken by
    hand), and keep it lent. False if it went home instead: stop polling it, and give it
    back no more."""
    fd, pipe = lent
    shortcut = pipe.shortcut
    assert shortcut is not None  # lend() lent only through one
    roused = pipe.rouse()
    try:
        return shortcut.read_lent(fd)
    finally:
        if roused:
            pipe.settle()


def read_waiting(pipes: list[Pipe]) -> int:
    """Read what waits in the kernel for the connections of ``pipes`` (at most
    :data:`MAX_CALLER_READS` of them; none for more), each into its pipe woken by hand, on
    this thread (module docstring, *The early read*). It may wait for a busy loop's
    current handlers, never for more. Returns how many connections were read."""
    read = 0
    if len(pipes) <= MAX_CALLER_READS:
        for pipe in pipes:
            shortcut = pipe.shortcut
            if shortcut is None:
                continue
            roused = pipe.rouse()
            try:
                read += shortcut.read_waiting()
            finally:
                if roused:
                    pipe.settle()
    return read


def arrange(pipes: list[Pipe], holds_reads: bool) -> None:
    """Tell the shortcuts of ``pipes`` (all of one socket) whether they may hold reads
    between the socket's calls: ``holds_reads`` (the socket's pattern knows its next call)
    and few enough connections (module docstring). A shortcut that may no longer hold gives
    back what it holds."""
    hold = holds_reads and len(pipes) <= MAX_CALLER_READS
    for pipe in pipes:
        shortcut = pipe.shortcut
        if shortcut is not None and shortcut.holds_reads is not hold:
            shortcut.holds_reads = hold
            if not hold:
                shortcut.release()


def release(pipes: list[Pipe]) -> None:
    """Give back every read the shortcuts of ``pipes`` hold: the socket returns to the
    application without waiting on them. Nothing to do (no lease taken) if none is held."""
    for pipe in pipes:
        shortcut = pipe.shortcut
        if shortcut is not None:
            shortcut.release()
