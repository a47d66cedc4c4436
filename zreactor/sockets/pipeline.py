"""PUSH and PULL: the pipeline pattern (RFC 30).

A PUSH socket sends each message to one downstream peer, taking the peers in turn
(round-robin over those with room: :class:`~zreactor.sockets.patterns.LoadBalancer`). A PULL
socket receives from its upstream peers in turn (:class:`~zreactor.sockets.patterns.FairQueue`),
so one busy producer cannot starve the others. Nothing is ever dropped: when every peer is full,
or there is no peer yet, PUSH is in the *mute* state and ``send`` blocks (``Again`` with
``DONTWAIT`` or once ``sndtimeo`` expires) until one has room.

These two are the throughput path, so their hooks are one call each into the pattern helper:
no per-message allocation beyond the message itself, no locks. A PULL with one upstream peer
reads ahead (:data:`READ_AHEAD` messages per ``Pipe.read_batch``; *Read-ahead* in
:mod:`zreactor.sockets.patterns`); with several it takes them one at a time, in turn.

Like every socket, these are not thread-safe: use each from one thread at a time.
"""

from __future__ import annotations

from ..constants import SocketType
from .patterns import FairQueue, LoadBalancer
from .pipe import Pipe
from .socket import Socket

__all__ = ["READ_AHEAD", "PullSocket", "PushSocket"]

#: Messages a PULL takes from its one active pipe at a time (``FairQueue`` *Read-ahead*):
#: one Python call per message less on the throughput path.
READ_AHEAD = 64


class PushSocket(Socket):
    """``zmq.PUSH``: round-robin to downstream peers; blocks while all are full or absent."""

    socket_type = SocketType.PUSH

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lb = LoadBalancer()
        # xsend *is* the load balancer's send (a pipe or None: truthy as the base needs);
        # binding it here saves a call per message on the hottest path there is.
        self.xsend = self._lb.send  # type: ignore[method-assign]

    def xattach_pipe(self, pipe: Pipe, subscribe_to_all: bool = False) -> None:
        """Add a downstream peer.

        PUSH never reads its pipes, so it could never read the delimiter a closing peer
        leaves behind: end our side at once when the peer terminates (libzmq's
        ``set_nodelay``), or the peer's close would wait for us for ever.
        """
        pipe.delay = False
        self._lb.attach(pipe)

    def xwrite_activated(self, pipe: Pipe) -> None:
        """A full peer has room again."""
        self._lb.activated(pipe)

    def xpipe_terminated(self, pipe: Pipe) -> None:
        """Forget a peer."""
        self._lb.pipe_terminated(pipe)

    def xhas_out(self) -> bool:
        """True if some peer has room."""
        return self._lb.has_out()


class PullSocket(Socket):
    """``zmq.PULL``: fair-queues messages from upstream peers."""

    socket_type = SocketType.PULL
    #: it only receives: its reads are held between its calls (``Socket.holds_reads``), so
    #: a stream is read by the thread that takes it, not by the I/O thread beside it
    holds_reads = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._fq = FairQueue(read_ahead=READ_AHEAD)
        # xrecv *is* the fair queue's recv: one call less per message.
        self.xrecv = self._fq.recv  # type: ignore[method-assign]

    def xattach_pipe(self, pipe: Pipe, subscribe_to_all: bool = False) -> None:
        """Add an upstream peer."""
        self._fq.attach(pipe)

    def xread_activated(self, pipe: Pipe) -> None:
        """A peer has messages again."""
        self._fq.activated(pipe)

    def xpipe_terminated(self, pipe: Pipe) -> None:
        """Forget a peer."""
        self._fq.pipe_terminated(pipe)

    def xhas_in(self) -> bool:
        """True if some peer has sent something."""
        return self._fq.has_in()
