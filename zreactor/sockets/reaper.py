"""The reaper: the context's live sockets, and the finishing of the closed ones.

Theory of operation
-------------------
A socket belongs to the application thread that uses it, and that thread runs its commands
whenever it calls into the socket. Once the application closes it, nobody calls in any more,
yet the socket still has work: its pipes must terminate (delivering queued messages for up
to ``linger``), its listeners and sessions must wind down. libzmq hands such a socket to a
*reaper* thread; so do we. The :class:`Reaper` is an :class:`~zreactor.reactor.own.Own` on an
I/O thread (the messaging context adopts it as a child of its pool's root, on thread 0):

* ``Socket.close()`` calls :meth:`Reaper.reap` on the application's thread, which posts
  ``REAP`` to the reaper and only then drops the socket from the live set;
* on the reaper's thread, ``process_reap`` polls the socket's mailbox fd, becomes the
  socket's owner, counts one acknowledgement it waits for, and starts the socket's
  termination; from then on the socket's commands run here;
* when the socket's termination completes (its ``TERM_ACK`` releases the count), the socket
  calls :meth:`Reaper.reaped`, which stops polling its mailbox and closes it.

*Why ``REAP`` goes first.* ``Context.term()`` waits until the live set is empty and then
sends ``TERM`` down the tree. Were the socket dropped from the set first, ``TERM`` could
reach the reaper before ``REAP`` and the reaper would acknowledge without the socket. Posting
``REAP`` first puts it ahead of ``TERM`` in the reaper's mailbox (one FIFO), so the reaper's
own termination waits for every socket it was ever given.

Thread rules: :meth:`add`, :meth:`reap`, :attr:`sockets`, :meth:`wait_closed` and
:meth:`close_all` are for application threads (thread-safe); ``process_reap`` and
:meth:`reaped` run on the reaper's I/O thread.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..reactor.mailbox import dispatch
from ..reactor.own import Own
from .commands import SocketCmd

if TYPE_CHECKING:
    from .socket import Socket

__all__ = ["Reaper"]


class _ReapedSocket:
    """Poll handler that runs a closed socket's commands on the reaper thread."""

    __slots__ = ("socket", "handle")

    def __init__(self, socket: Socket) -> None:
        self.socket = socket
        self.handle: Any = None

    def in_event(self) -> None:
        for command in self.socket.mailbox.drain():
            dispatch(command)

    def out_event(self) -> None:  # pragma: no cover - never armed
        pass


class Reaper(Own):
    """Keeps the live sockets of a context and finishes the closed ones (see the module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self._cv = threading.Condition()
        self._live: set[Socket] = set()
        self._reaping: dict[Socket, _ReapedSocket] = {}

    # -- application threads --------------------------------------------------------------------

    def add(self, sock: Socket) -> None:
        """Count a new socket as live (its context calls this when it creates one)."""
        with self._cv:
            self._live.add(sock)

    @property
    def sockets(self) -> frozenset[Socket]:
        """The sockets created and not closed yet."""
        with self._cv:
            return frozenset(self._live)

    def reap(self, sock: Socket) -> None:
        """``sock`` was closed: hand it to the reaper thread (``REAP`` first, see above)."""
        self.send_command(self, SocketCmd.REAP, sock)
        with self._cv:
            self._live.discard(sock)
            self._cv.notify_all()

    @property
    def application_sockets(self) -> frozenset[Socket]:
        """The live sockets the application made (a monitor's PAIR is the library's)."""
        return frozenset(s for s in self.sockets if not s._internal)

    def wait_closed(self) -> None:
        """Block until every live socket has been closed (by the application)."""
        with self._cv:
            while self._live:
                self._cv.wait()

    def close_all(self, linger: int | None = None) -> None:
        """Close every live socket the application made, with ``linger`` in ms.

        A monitor's PAIR is left to its monitor, which closes it when monitoring stops.
        """
        for sock in self.sockets:
            if not sock._internal:
                sock.close(linger=linger)

    # -- the reaper's thread --------------------------------------------------------------------

    def process_reap(self, sock: Socket) -> None:
        """``REAP``: adopt a closed socket, poll its mailbox here, start its termination."""
        handler = _ReapedSocket(sock)
        poller = self.thread.poller
        handler.handle = poller.add_fd(sock.mailbox.fd, handler)
        poller.set_pollin(handler.handle)
        self._reaping[sock] = handler
        sock.owner = self
        sock.thread = self.thread
        self.register_term_acks(1)  # released by the socket's TERM_ACK
        handler.in_event()  # commands that arrived before the hand-over
        sock._reap_term()

    def reaped(self, sock: Socket) -> None:
        """The socket finished terminating: stop polling its mailbox and close it."""
        handler = self._reaping.pop(sock, None)
        if handler is not None:
            self.thread.poller.rm_fd(handler.handle)
        sock.mailbox.close()
