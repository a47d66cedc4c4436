"""File-descriptor accounting: who holds how many, and who wants to know when one frees up.

Theory of operation
-------------------
A listener that ran out of descriptors must not poll for them. It wants to be *told* the
moment one comes back, and the one place that knows is here: every fd the framework opens is
counted by the context's :class:`FdRegistry`, and every fd it closes is closed through
:meth:`FdRegistry.close`. A suspended listener registers itself with :meth:`watch`; the next
release anywhere in the context (any engine, any I/O thread) posts one ``FD_RELEASED``
command to it. Watches are one-shot, so a storm of closes costs one command per waiting
listener, not one per close.

*Serialised openings.* :attr:`FdRegistry.lock` is held by every framework code path that
creates an fd (accept, socket, a mailbox's eventfd) and by the listener's reserve-fd dance.
POSIX hands out the lowest free descriptor, so when a listener closes its reserve fd to make
room for one ``accept()``, another framework thread opening a socket in that instant would
steal the slot. Holding the lock across the dance closes that window for the framework's own
threads; only fds opened by code outside zreactor can still race it.

*Running out.* Every framework call that opens a descriptor for the caller (a socket's or an
I/O thread's wake-up fd, a poller, a listening socket and its reserve) does it inside
:func:`~zreactor.reactor.syscalls.opening_for`, so that EMFILE/ENFILE (and ENOBUFS/ENOMEM, the other capacity errnos)
come out of the call that needed the descriptor as
:class:`~zreactor.errors.DescriptorsExhausted`: a ``ZMQError`` for pyzmq-style code and still
an ``OSError``. Descriptors opened on an I/O thread for nobody waiting (accept, an outgoing
connection) are never raised: the listener suspends and the connecter retries with its
backoff, each recovering when descriptors return.

Thread rules: every method is thread-safe.
"""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from .mailbox import Cmd, Command

__all__ = ["FdRegistry"]


class FdRegistry:
    """Counts the fds the framework holds and wakes watchers when one is released."""

    def __init__(self) -> None:
        #: Held while the framework opens an fd, and across the listener's reserve-fd dance.
        self.lock = threading.RLock()
        self._fds: set[int] = set()
        self._watchers: dict[Any, None] = {}  # an ordered set
        #: total number of releases, for statistics and tests.
        self.releases = 0

    @property
    def open_count(self) -> int:
        """Number of fds currently held by the framework."""
        return len(self._fds)

    @contextmanager
    def opening(self) -> Iterator[None]:
        """Hold the registry lock while opening an fd (see the module docstring)."""
        with self.lock:
            yield

    def track(self, sock: socket.socket | int) -> None:
        """Count ``sock`` (or a raw fd) as held by the framework. Idempotent."""
        fd = sock if isinstance(sock, int) else sock.fileno()
        with self.lock:
            self._fds.add(fd)

    def close(self, sock: socket.socket | None, *, notify: bool = True) -> None:
        """Close a socket and, if it was tracked, report the release.

        ``None`` and already-closed sockets are ignored. ``notify=False`` closes without
        waking the watchers: for a caller that holds :attr:`lock` and takes the freed number
        straight back (a listener re-binding its socket), so nobody is woken for a
        descriptor that never becomes available.
        """
        if sock is None:
            return
        fd = sock.fileno()
        if fd < 0:
            return
        with self.lock:
            tracked = fd in self._fds
            self._fds.discard(fd)
            sock.close()  # under the lock: the number is free only once we say so
        if tracked and notify:
            self.released(fd)

    def released(self, fd: int | None = None) -> None:
        """Report that a framework fd was closed; wake every watcher once.

        ``close()`` calls this; call it yourself after closing a tracked raw fd.
        """
        with self.lock:
            if fd is not None:
                self._fds.discard(fd)
            self.releases += 1
            watchers, self._watchers = self._watchers, {}
        for watcher in watchers:
            watcher.mailbox.send(Command(watcher, Cmd.FD_RELEASED))

    def watch(self, watcher: Any) -> None:
        """Post ``FD_RELEASED`` to ``watcher`` (an object with a mailbox) at the next release."""
        with self.lock:
            self._watchers[watcher] = None

    def is_watching(self, watcher: Any) -> bool:
        """True if ``watcher`` will be told of the next release."""
        with self.lock:
            return watcher in self._watchers

    def unwatch(self, watcher: Any) -> None:
        """Cancel a pending :meth:`watch`; harmless if there is none."""
        with self.lock:
            self._watchers.pop(watcher, None)

