"""Polling many sockets and fds at once: pyzmq's ``Poller`` and ``zmq.select``.

Theory of operation
-------------------
A zreactor socket has no kernel object whose readiness *is* the socket's readiness: whether
``recv()`` would succeed depends on its pipes, which other threads fill. What a socket does
have is its mailbox's wake-up fd, which becomes readable whenever a command arrives, and every
change to the socket's readiness arrives as a command (a pipe became readable or writable, a
new pipe was attached, a pipe went away, the context is stopping). The pipes guarantee this:
a reader that finds its pipe empty marks itself asleep, and the next write wakes it with a
command (see :mod:`zreactor.sockets.pipe`).

So :meth:`Poller.poll` works like libzmq's ``zmq_poll``, in three steps, and repeats them
until something is ready or the timeout passes:

1. ask each socket for its events (``socket._events()``), which first runs the commands
   already in its mailbox and so clears the wake-up fd (and gives back any connection read
   a socket that holds its reads holds for its own next wait: the wait is here, see
   :mod:`zreactor.sockets.caller_wait`);
2. if any registered socket or fd is ready, return at once;
3. otherwise block in ``poll(2)`` on every socket's wake-up fd and every raw fd, until one of
   them becomes readable (something *may* have changed) or the deadline passes. The sockets'
   contexts' ``closing_fd`` is watched too: another thread may close a socket
   (``Context.destroy``) and its reaper then reads the socket's fd itself; step 1 then raises
   ``ENOTSOCK`` (or ``ETERM``).

Step 1 clears a wake-up fd *before* the socket looks at its pipes, and a command sent after
that look signals the fd again, so no wake-up is lost and nothing spins: an idle poll makes
one ``poll(2)`` call per spurious command (a pipe activation that changed nothing the caller
asked for), not one per millisecond.

Raw fds (ints, or objects with ``fileno()``) are polled in the same ``poll(2)`` call and
report what the kernel reports, mapped as libzmq does: ``POLLIN``, ``POLLOUT``, and
``POLLERR`` for any error/hang-up bit. Like pyzmq (and ``select.poll``), a raw item is
reported by its fd number, whatever was registered: register ``sys.stdin``, get
``(0, POLLIN)`` back, so ``dict(poller.poll())[f.fileno()]`` is the idiom. Sockets are
reported as the object registered.

*Threads.* A Poller is used by one thread at a time, like the sockets it polls (polling a
socket reads its mailbox, which only the socket's own thread may do).
"""

from __future__ import annotations

import errno
import math
import select as _select
import time
from typing import Any, Callable, Sequence

from ..constants import PollEvent
from ..errors import ZMQError
from .socket import Socket

__all__ = ["Poller", "as_socket", "select"]

POLLIN = int(PollEvent.POLLIN)
POLLOUT = int(PollEvent.POLLOUT)
POLLERR = int(PollEvent.POLLERR)

#: kernel bits that libzmq reports as ``POLLERR`` on a raw fd
_KERNEL_ERROR = _select.POLLERR | _select.POLLHUP | _select.POLLNVAL


def _fileno(obj: Any) -> int:
    if isinstance(obj, int):
        return obj
    fileno = getattr(obj, "fileno", None)
    if fileno is None:
        raise TypeError(f"cannot poll {obj!r}: not a zreactor socket, an int fd or an object with fileno()")
    return int(fileno())


def as_socket(obj: Any) -> Socket | None:
    """The zreactor socket ``obj`` is, or wraps (an awaitable socket of
    :mod:`zreactor.asyncio` keeps its blocking socket as ``_shadow_sock``); None for fds."""
    if isinstance(obj, Socket):
        return obj
    shadow = getattr(obj, "_shadow_sock", None)
    return shadow if isinstance(shadow, Socket) else None


def _kernel_mask(flags: int) -> int:
    mask = 0
    if flags & POLLIN:
        mask |= _select.POLLIN
    if flags & POLLOUT:
        mask |= _select.POLLOUT
    return mask


def _zmq_mask(revents: int) -> int:
    mask = 0
    if revents & _select.POLLIN:
        mask |= POLLIN
    if revents & _select.POLLOUT:
        mask |= POLLOUT
    if revents & _KERNEL_ERROR:
        mask |= POLLERR
    return mask


class Poller:
    """Wait for events on many zreactor sockets and raw fds at once (pyzmq's ``zmq.Poller``).

    Args:
        poll_factory: makes the ``select.poll``-like object used to block (tests pass a
            counting one); default ``select.poll``.

    Example::

        poller = zmq.Poller()
        poller.register(receiver, zmq.POLLIN)
        poller.register(sys.stdin, zmq.POLLIN)
        for sock, events in poller.poll(1000):
            ...
    """

    def __init__(self, *, poll_factory: Callable[[], Any] = _select.poll) -> None:
        #: ``[(socket_or_fd, flags), ...]`` in registration order, as in pyzmq
        self.sockets: list[tuple[Any, int]] = []
        self._map: dict[Any, int] = {}
        self._poll_factory = poll_factory

    def __contains__(self, socket: Any) -> bool:
        return socket in self._map

    def register(self, socket: Any, flags: int = POLLIN | POLLOUT) -> None:
        """Watch ``socket`` (a zreactor socket, an int fd or an object with ``fileno()``).

        Registering again changes the flags; ``flags=0`` unregisters (as in pyzmq).
        """
        flags = int(flags)
        if not flags:
            if socket in self._map:
                self.unregister(socket)
            return
        if as_socket(socket) is None:
            _fileno(socket)  # fail now, not in poll(), on something that cannot be polled
        index = self._map.get(socket)
        if index is None:
            self._map[socket] = len(self.sockets)
            self.sockets.append((socket, flags))
        else:
            self.sockets[index] = (socket, flags)

    def modify(self, socket: Any, flags: int = POLLIN | POLLOUT) -> None:
        """Change the flags of a registered socket (same as :meth:`register`)."""
        self.register(socket, flags)

    def unregister(self, socket: Any) -> None:
        """Stop watching ``socket``.

        Raises:
            KeyError: it is not registered.
        """
        index = self._map.pop(socket)
        self.sockets.pop(index)
        for other, _ in self.sockets[index:]:
            self._map[other] -= 1

    def poll(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        """Wait up to ``timeout`` milliseconds (``None`` or negative: for ever) for events.

        Returns:
            ``[(socket, events), ...]`` for every registered item with at least one event,
            in registration order; empty on timeout.

        Raises:
            ZMQError: ENOTSOCK if a registered socket was closed.
            ContextTerminated: a registered socket's context was terminated.
        """
        if timeout is None or timeout < 0:
            deadline = None
        else:
            deadline = time.monotonic() + int(timeout) / 1000  # pyzmq truncates to int ms
        return zmq_poll(self.sockets, deadline, self._poll_factory)

    def __repr__(self) -> str:
        return f"<zreactor.Poller {len(self.sockets)} registered>"


def zmq_poll(items: Sequence[tuple[Any, int]], deadline: float | None,
             poll_factory: Callable[[], Any] = _select.poll) -> list[tuple[Any, int]]:
    """The polling loop shared by :class:`Poller` and :func:`select` (see the module docstring).

    Args:
        items: ``(socket_or_fd, flags)`` pairs.
        deadline: ``time.monotonic()`` value to give up at; ``None``: never.

    Returns:
        ``[(socket, events), ...]`` in ``items`` order; a raw item appears as its fd number.
    """
    sockets: list[tuple[int, Socket, int]] = []
    fds: list[tuple[int, int, int]] = []  # (index, fd, flags)
    keys: list[Any] = [item for item, _ in items]  # what each item is reported as
    for index, (item, flags) in enumerate(items):
        if not flags:
            continue
        sock = as_socket(item)
        if sock is not None:
            if sock.closed:
                raise ZMQError(errno.ENOTSOCK, f"cannot poll a closed socket: {item!r}")
            sockets.append((index, sock, int(flags)))
        else:
            fds.append((index, _fileno(item), int(flags)))
            keys[index] = fds[-1][1]
    blocker: Any = None
    while True:
        # 1. sockets: run their pending commands (clearing their wake-up fds), then look at
        #    their pipes; raw fds: ask the kernel without blocking
        ready: dict[int, int] = {}
        for index, sock, flags in sockets:
            if sock.closed:  # by another thread while we slept (Context.destroy wakes us)
                raise ZMQError(errno.ENOTSOCK, f"a polled socket was closed: {sock!r}")
            events = int(sock._events(released=True)) & flags  # we wait here, not in it
            if events:
                ready[index] = events
        if fds:
            if blocker is None:
                blocker = _make_blocker(poll_factory, sockets, fds)
            ready.update(_check_fds(blocker, fds, 0))
        # 2. anything ready, or out of time: done
        if ready:
            return [(keys[i], ready[i]) for i in sorted(ready)]
        if deadline is None:
            wait_ms: int | None = None
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            wait_ms = math.ceil(remaining * 1000)
        # 3. block until a wake-up fd or a raw fd stirs (something may have changed) or the
        #    deadline passes, then look again
        if blocker is None:
            blocker = _make_blocker(poll_factory, sockets, fds)
        _check_fds(blocker, (), wait_ms)


def _make_blocker(poll_factory: Callable[[], Any], sockets: list[tuple[int, Socket, int]],
                  fds: list[tuple[int, int, int]]) -> Any:
    """One poll object over the raw fds (their flags) and the sockets' wake-up fds (POLLIN)."""
    blocker = poll_factory()
    masks: dict[int, int] = {}
    for _, fd, flags in fds:
        masks[fd] = masks.get(fd, 0) | _kernel_mask(flags)
    contexts = {}
    for _, sock, _ in sockets:
        fd = sock.mailbox.fd
        masks[fd] = masks.get(fd, 0) | _select.POLLIN
        contexts[id(sock.context.reaper)] = sock.context  # one per context, shadows included
    for context in contexts.values():
        # readable once the context stops its sockets: a socket closed by another thread
        # (Context.destroy) may never signal its own fd (see Context.closing_fd)
        try:
            masks[context.closing_fd] = _select.POLLIN
        except OSError:
            # out of descriptors (its first use makes it): polling must still work at the
            # limit, so go without; the sockets' own STOP wake-ups remain, which a reaper
            # racing a destroy() from another thread can consume (the only thing lost)
            pass
    for fd, mask in masks.items():
        blocker.register(fd, mask)
    return blocker


def _check_fds(blocker: Any, fds: Sequence[tuple[int, int, int]], timeout_ms: int | None) -> dict[int, int]:
    """Run one ``poll(2)``; return ``{index: events}`` for the raw fds that have events."""
    try:
        results = blocker.poll(timeout_ms)
    except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for poll-alikes
        results = []
    if not results or not fds:
        return {}
    revents: dict[int, int] = {}
    for fd, bits in results:
        revents[fd] = revents.get(fd, 0) | bits
    ready: dict[int, int] = {}
    for index, fd, flags in fds:
        bits = revents.get(fd)
        if bits:
            mask = _zmq_mask(bits) & (flags | POLLERR)
            if mask:
                ready[index] = mask
    return ready


def select(rlist: Sequence[Any], wlist: Sequence[Any], xlist: Sequence[Any],
           timeout: float | None = None) -> tuple[list[Any], list[Any], list[Any]]:
    """``select.select`` for zreactor sockets and fds (pyzmq's ``zmq.select``).

    Args:
        rlist: wait until these can be read (``POLLIN``).
        wlist: wait until these can be written (``POLLOUT``).
        xlist: wait for errors on these (``POLLERR``).
        timeout: seconds (a float); ``None`` or negative waits for ever.

    Returns:
        ``(readable, writable, errored)`` lists; sockets as given, raw items as fd numbers
        (pyzmq's behaviour).
    """
    if timeout is None or timeout < 0:
        deadline = None
    else:
        deadline = time.monotonic() + int(timeout * 1000) / 1000
    items: list[tuple[Any, int]] = []
    seen: dict[Any, int] = {}
    for flag, group in ((POLLIN, rlist), (POLLOUT, wlist), (POLLERR, xlist)):
        for obj in group:
            if obj in seen:
                i = seen[obj]
                items[i] = (obj, items[i][1] | flag)
            else:
                seen[obj] = len(items)
                items.append((obj, flag))
    readable: list[Any] = []
    writable: list[Any] = []
    errored: list[Any] = []
    for obj, events in zmq_poll(items, deadline):
        if events & POLLIN:
            readable.append(obj)
        if events & POLLOUT:
            writable.append(obj)
        if events & POLLERR:
            errored.append(obj)
    return readable, writable, errored
