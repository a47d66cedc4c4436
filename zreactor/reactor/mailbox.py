"""Typed commands and the mailbox that carries them between threads.

Theory of operation
-------------------
Objects that live on different threads never call each other. They post a
:class:`Command` to the mailbox of the thread the destination lives on, and that thread runs
the destination's handler for it. This is libzmq's ``command_t`` / ``mailbox_t``.

*Typed commands.* A command kind is a member of an :class:`enum.Enum` whose *value is the
name of the handler method* on the destination (``PLUG = "process_plug"``). There is one
dispatch point, :func:`dispatch`, which calls that method with the command's arguments. Each
layer defines its own enum of kinds (the reactor's :class:`Cmd` here, the messaging layer's
pipe commands elsewhere); the mailbox neither knows nor cares which.

*The wake-up fd.* A mailbox is a deque guarded by a lock plus a :class:`Signaler` (an
``eventfd`` where the OS has one, else a socketpair). A writer touches the fd only on the
transition from "nothing pending" to "something pending", so a burst of a thousand commands
costs one ``write()`` and one wake-up, as ``ypipe.flush()`` arranges in libzmq.

The reader side, :meth:`Mailbox.drain`, first clears the signal and *then* swaps out the whole
deque under the lock. That order is what makes wake-ups impossible to lose:

* a writer that appends before the swap has its command taken by this drain;
* a writer that appends after the swap finds the flag cleared and signals again.

A writer may signal an fd that a concurrent drain has just emptied, so a reader sometimes
wakes to find nothing; that costs one spurious loop iteration and nothing else.

*Two kinds of reader.* An I/O thread registers :attr:`Mailbox.fd` with its poller and calls
:meth:`drain` when it is readable. An application thread (a messaging socket) instead blocks
in :meth:`wait` with a timeout. Either way, only one thread ever reads a given mailbox.
"""

from __future__ import annotations

import enum
import os
import select
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .syscalls import opening_for

__all__ = ["Cmd", "Command", "Mailbox", "Signaler", "dispatch"]


class Cmd(enum.Enum):
    """Command kinds of the reactor layer; the value names the handler method."""

    #: Stop the I/O thread's loop (sent to the IOThread itself).
    STOP = "process_stop"
    #: Attach a freshly launched object to the thread it will live on.
    PLUG = "process_plug"
    #: Register a child with its owner (sent to the owner).
    OWN = "process_own"
    #: A child asks its owner to terminate it (sent to the owner).
    TERM_REQ = "process_term_req"
    #: The owner tells a child to terminate, with a linger in seconds (``None``: forever).
    TERM = "process_term"
    #: A child confirms it has terminated (sent to the owner).
    TERM_ACK = "process_term_ack"
    #: Run a callable on the destination's thread (``call_threadsafe``).
    CALL = "process_call"
    #: Some fd owned by the framework was closed: a suspended listener may retry accept().
    FD_RELEASED = "process_fd_released"


@dataclass(slots=True)
class Command:
    """One message between threads: who it is for, what kind it is, and its arguments."""

    destination: Any
    kind: enum.Enum
    args: tuple[Any, ...] = field(default=())


def dispatch(command: Command) -> None:
    """Run ``command`` on its destination: the single dispatch point of every thread."""
    getattr(command.destination, command.kind.value)(*command.args)


class Signaler:
    """A wake-up fd: ``signal()`` makes :attr:`fd` readable, ``clear()`` makes it idle again.

    Uses ``os.eventfd`` (Linux) when available; otherwise a non-blocking socketpair.
    """

    def __init__(self) -> None:
        self._eventfd = hasattr(os, "eventfd")
        if self._eventfd:
            with opening_for("a wake-up fd (every socket and I/O thread has one)"):
                self._r = self._w = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._pair: tuple[socket.socket, socket.socket] | None = None
        else:  # pragma: no cover - exercised on platforms without eventfd
            with opening_for("a wake-up socketpair (every socket and I/O thread has one)"):
                r, w = socket.socketpair()
            r.setblocking(False)
            w.setblocking(False)
            self._pair = (r, w)
            self._r, self._w = r.fileno(), w.fileno()
        self._closed = False

    @property
    def fd(self) -> int:
        """The fd to poll for readability."""
        return self._r

    def signal(self) -> None:
        """Make the fd readable (idempotent until :meth:`clear`)."""
        try:
            if self._eventfd:
                os.eventfd_write(self._w, 1)
            else:  # pragma: no cover
                os.write(self._w, b"\0")
        except BlockingIOError:  # pragma: no cover - already signalled to the brim
            pass

    def clear(self) -> None:
        """Consume every pending signal."""
        try:
            if self._eventfd:
                os.eventfd_read(self._r)
            else:  # pragma: no cover
                while os.read(self._r, 4096):
                    pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Close the fd(s). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._pair is not None:  # pragma: no cover
            for s in self._pair:
                s.close()
        else:
            os.close(self._r)


class Mailbox:
    """A thread-safe queue of :class:`Command` with a wake-up fd.

    Any thread may :meth:`send`; exactly one thread reads, with :meth:`drain` (after the fd
    became readable) or :meth:`recv` (blocking, for application threads).

    *The pending hint.* :attr:`maybe_pending` is a plain attribute the reader reads before
    each message to decide whether to :meth:`drain` first; taking the lock or polling the fd
    there would cost a lock round trip or a syscall per message. This looks racy, and it is,
    but only in the harmless direction. The flag is set by :meth:`send` under the lock
    *after* the command is queued, and cleared only by the reader in :meth:`drain`. So the
    reader can see a stale False only for a command being sent right now, concurrently with
    its look: ordering against such a send was never promised, and the command is seen at
    the reader's next look (the fd stays readable, so any blocking wait returns at once). It
    never sees False for a command whose ``send`` returned before it looked (the interpreter
    lock makes the write visible to the next read on any thread). A stale True costs one
    empty drain. A plain attribute rather than a property: it is read twice per message.

    Args:
        name: a label for debugging and ``repr``.
    """

    def __init__(self, name: str = "mailbox") -> None:
        self.name = name
        self._commands: deque[Command] = deque()
        self._lock = threading.Lock()
        #: True if commands may be waiting: the hint the reader's per-message paths read
        #: (see :class:`Mailbox`, *the pending hint*). Written by :meth:`send`/:meth:`wake`
        #: under the lock and by :meth:`drain`; read by the reader without it.
        self.maybe_pending = False
        self._signaler = Signaler()
        self._closed = False
        #: the blocking waits' poll object (:meth:`wait`, :meth:`wait_with`): the wake-up
        #: fd, plus for one call the fds they are given
        self._poll: Any = select.poll()
        self._poll.register(self.fd, select.POLLIN)
        #: :meth:`wait_with_one`'s own poll object: the wake-up fd and the last fd it was
        #: given, which stays registered between calls (see there)
        self._poll_one: Any = select.poll()
        self._poll_one.register(self.fd, select.POLLIN)
        self._one_fd = -1
        #: number of times the wake-up fd was written (for tests and statistics).
        self.signals = 0

    @property
    def fd(self) -> int:
        """The wake-up fd: readable while commands are pending."""
        return self._signaler.fd

    def send(self, command: Command) -> None:
        """Queue ``command``; signal the reader only if it was not signalled already.

        Commands sent to a closed mailbox are dropped: their destination is gone.
        """
        with self._lock:
            if self._closed:
                return
            self._commands.append(command)
            if self.maybe_pending:
                return
            self.maybe_pending = True
            self.signals += 1
            # inside the lock, so close() cannot release the fd (and the kernel reuse its
            # number) between our check and our write
            self._signaler.signal()

    def wake(self) -> None:
        """Make the wake-up fd readable without queueing a command (any thread).

        The reader wakes, drains nothing and goes round its loop once: how a
        :class:`~zreactor.reactor.lease.LoopLease` makes a sleeping I/O loop recompute its
        wait. Signalled as :meth:`send` is, only if not signalled already, so the reader's
        "first clear, then swap" argument covers it unchanged.
        """
        with self._lock:
            if self._closed or self.maybe_pending:
                return
            self.maybe_pending = True
            self.signals += 1
            self._signaler.signal()

    def drain(self) -> deque[Command]:
        """Take every pending command (possibly none). Reader thread only."""
        self._signaler.clear()  # first clear, then swap: see the module docstring
        with self._lock:
            commands = self._commands
            self._commands = deque()
            # under the lock: cleared outside it, a send() between the swap and the clear
            # would see True, skip its signal, and then have its command's hint wiped out
            self.maybe_pending = False
        return commands

    def wait(self, timeout: float | None) -> bool:
        """Block until commands may be pending or ``timeout`` seconds pass.

        Returns:
            True if the wake-up fd became readable, False on timeout.
        """
        if self.maybe_pending:
            return True
        poll = self._poll
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        return bool(poll.poll(ms))

    def wait_with(self, fds: list[int], timeout: float | None) -> set[int]:
        """:meth:`wait`, also watching ``fds`` for readability; return those that are readable.

        For a socket that waits on connections lent to it by their I/O threads (caller I/O,
        :mod:`zreactor.sockets.caller_wait`): one ``poll()`` over the wake-up fd and them.
        The fds are watched only for this call. Reader thread only.
        """
        poll = self._poll
        for fd in fds:
            poll.register(fd, select.POLLIN)
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        try:
            ready = poll.poll(ms)
        finally:
            for fd in fds:
                poll.unregister(fd)
        # (the fds polled, not the mailbox's own: it may be in ``ready`` too, and is not one)
        return {fd for fd, _ in ready if fd in fds}

    def wait_with_one(self, fd: int, timeout: float | None) -> bool:
        """:meth:`wait_with` for one fd (the one-connection wait, once per round trip):
        True if ``fd`` is readable, without building the lists and the set. Reader thread
        only.

        The one-connection wait polls the same fd round trip after round trip, so it stays
        registered between calls, with a poll object of its own (the other waits must not
        see it): a register and an unregister fewer per wait, ~2 k instructions. That is
        safe because ``poll(2)`` keeps no state between calls: the object holds fd numbers,
        and a number that was closed and reused meanwhile is polled as the file it names
        now, which is the one the caller asks for.
        """
        poll = self._poll_one
        if fd != self._one_fd:
            if self._one_fd >= 0:
                poll.unregister(self._one_fd)
            poll.register(fd, select.POLLIN)
            self._one_fd = fd
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        ready = poll.poll(ms)
        for ready_fd, _ in ready:
            if ready_fd == fd:
                return True
        return False

    def recv(self, timeout: float | None = None) -> deque[Command]:
        """Wait up to ``timeout`` seconds for commands and return them (maybe empty)."""
        self.wait(timeout)
        return self.drain()

    def close(self) -> None:
        """Release the wake-up fd. Commands still queued, or sent later, are dropped."""
        with self._lock:
            self._closed = True
            self._commands.clear()
            self._signaler.close()

    def __repr__(self) -> str:
        return f"<Mailbox {self.name} pending={len(self._commands)}>"
