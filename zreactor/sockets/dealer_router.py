"""DEALER and ROUTER: asynchronous request-reply with explicit addressing (RFC 28).

DEALER
    Round-robin out over the peers with room, fair-queue in, no envelopes of its own: an
    asynchronous REQ. In the mute state (every peer full, or no peer) ``send`` blocks
    (``Again`` with ``DONTWAIT`` or after ``sndtimeo``).
ROUTER
    Fair-queue in, prepending the routing id of the peer the message came from; out, the first
    frame names the peer and is stripped. A message for a peer that is unknown, gone or full
    is dropped silently, unless ``router_mandatory`` is set: then an unknown or departed peer
    raises ``EHOSTUNREACH`` and a full one makes ``send`` block like DEALER (``Again`` with
    ``DONTWAIT``). A message of one frame names nobody and is always dropped. The mute state
    thus *drops*, or blocks with ``router_mandatory``.

Routing ids
-----------
``pipe.routing_id`` is the peer's identity as this end knows it: the peer's ``routing_id``
option, set by inproc when the pipe is made and by the ZMTP handshake for tcp/ipc. ROUTER
gives each pipe its key when it first needs one, as libzmq does:

* at attach, if the peer's identity is already known, or if the peer has already queued a
  message (so whatever identity it has, it has by now);
* otherwise when the pipe first becomes readable (the peer's first message), or when a send
  names an unknown id (an inproc connect made before the bind, or a handshake that has
  completed since, may have supplied it meanwhile).

A peer without identity gets a generated one: ``b"\\x00"`` and a 32-bit big-endian counter that
starts at a random value (applications cannot choose ids starting with a zero byte, so the two
never collide). A peer whose identity is already taken by a live peer is *ignored*, as libzmq
does without ``ROUTER_HANDOVER``: it is never read and cannot be addressed until it goes away.
With ``ROUTER_HANDOVER`` the newcomer takes the id over and the old pipe is terminated (a
reconnecting client replaces its stale connection), as in libzmq.

``probe_router`` (both types): each new pipe first carries an empty message, so a ROUTER
peer learns our routing id before we say anything.

These sockets are not thread-safe: use each from one thread at a time.
"""

from __future__ import annotations

import errno
import random

from ..constants import SocketType
from ..errors import ZMQError
from .patterns import FairQueue, LoadBalancer
from .pipe import Pipe
from .socket import Socket

__all__ = ["DealerSocket", "RouterSocket"]


class DealerSocket(Socket):
    """``zmq.DEALER``: round-robin out, fair-queue in; blocks when every peer is full."""

    socket_type = SocketType.DEALER

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lb = LoadBalancer()
        self._fq = FairQueue()

    def xattach_pipe(self, pipe: Pipe, subscribe_to_all: bool = False) -> None:
        """Add a peer (greeting it with an empty message under ``probe_router``)."""
        if self.options.probe_router:
            pipe.write([b""])
            pipe.flush()
        self._fq.attach(pipe)
        self._lb.attach(pipe)

    def xread_activated(self, pipe: Pipe) -> None:
        """A peer has messages again."""
        self._fq.activated(pipe)

    def xwrite_activated(self, pipe: Pipe) -> None:
        """A full peer has room again."""
        self._lb.activated(pipe)

    def xpipe_terminated(self, pipe: Pipe) -> None:
        """Forget a peer."""
        self._fq.pipe_terminated(pipe)
        self._lb.pipe_terminated(pipe)

    def xsend(self, msg: list[bytes]) -> bool:
        """Give ``msg`` to the next peer with room; False if none has (the base blocks)."""
        return self._lb.send(msg) is not None

    def xrecv(self) -> list[bytes] | None:
        """The next message, taking the peers in turn."""
        return self._fq.recv()

    def xhas_in(self) -> bool:
        """True if some peer has sent something."""
        return self._fq.has_in()

    def xhas_out(self) -> bool:
        """True if some peer has room."""
        return self._lb.has_out()


class RouterSocket(Socket):
    """``zmq.ROUTER``: addresses peers by routing id (see the module docstring)."""

    socket_type = SocketType.ROUTER

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._fq = FairQueue()
        #: routing id -> the pipe it names (every identified pipe; ``pipe.data`` is its key)
        self._out: dict[bytes, Pipe] = {}
        #: pipes whose key is not settled yet (see the module docstring)
        self._anonymous: set[Pipe] = set()
        #: pipes ignored because their peer's identity was taken
        self._ignored: set[Pipe] = set()
        self._next_id = random.getrandbits(32)

    # -- identities ------------------------------------------------------------------------------

    def _generate_id(self) -> bytes:
        while True:
            rid = b"\x00" + self._next_id.to_bytes(4, "big")
            self._next_id = (self._next_id + 1) & 0xFFFFFFFF
            if rid not in self._out:
                return rid

    def _identify(self, pipe: Pipe) -> None:
        """Give ``pipe`` its key and start reading it, or ignore it if the id is taken."""
        self._anonymous.discard(pipe)
        rid = pipe.routing_id
        if not rid:
            rid = self._generate_id()
        elif rid in self._out:
            if not self.options.router_handover:
                self._ignored.add(pipe)
                return
            # ROUTER_HANDOVER (libzmq): the newcomer takes the id over; the old pipe gets a
            # generated one until its termination completes
            old = self._out.pop(rid)
            old.data = self._generate_id()
            self._out[old.data] = old
            old.terminate(True)
        pipe.data = rid
        self._out[rid] = pipe
        self._fq.attach(pipe)

    def _identify_late(self) -> None:
        """Settle the anonymous pipes whose peer's identity has become known."""
        for pipe in [p for p in self._anonymous if p.routing_id]:
            self._identify(pipe)

    # -- pipe events -----------------------------------------------------------------------------

    def xattach_pipe(self, pipe: Pipe, subscribe_to_all: bool = False) -> None:
        """Add a peer: identify it now if we can, or when it first speaks."""
        if self.options.probe_router:
            pipe.write([b""])
            pipe.flush()
        # check_read() on an empty pipe also puts it to sleep, so the peer's first message
        # wakes us (xread_activated) and identifies it then.
        if pipe.routing_id or pipe.check_read():
            self._identify(pipe)
        else:
            self._anonymous.add(pipe)

    def xread_activated(self, pipe: Pipe) -> None:
        """A peer has messages: identify it if this is its first, else queue it again."""
        if pipe in self._anonymous:
            self._identify(pipe)
        elif pipe not in self._ignored:
            self._fq.activated(pipe)

    def xpipe_terminated(self, pipe: Pipe) -> None:
        """Forget a peer and free its routing id."""
        rid = pipe.data
        if rid is not None and self._out.get(rid) is pipe:
            del self._out[rid]
        self._anonymous.discard(pipe)
        self._ignored.discard(pipe)
        self._fq.pipe_terminated(pipe)

    # -- messages --------------------------------------------------------------------------------

    def xsend(self, msg: list[bytes]) -> bool:
        """Route ``msg[1:]`` to the peer named by ``msg[0]`` (see the module docstring).

        Raises:
            ZMQError: EHOSTUNREACH with ``router_mandatory`` for an unknown or departed peer.
        """
        if len(msg) < 2:
            return True  # a routing id with nothing to route: dropped, as libzmq does
        pipe = self._out.get(msg[0])
        if pipe is None and self._anonymous:
            self._identify_late()
            pipe = self._out.get(msg[0])
        if pipe is None:
            if self.options.router_mandatory:
                raise ZMQError(errno.EHOSTUNREACH, f"no peer with routing id {msg[0]!r}")
            return True
        if not pipe.check_write():
            if not self.options.router_mandatory:
                return True  # mute: dropped
            if not pipe.check_hwm():
                return False  # full: the base blocks until it has room (or raises Again)
            raise ZMQError(errno.EHOSTUNREACH, f"peer {msg[0]!r} is going away")
        del msg[0]  # the message is ours now (the base hands it over); no copy needed
        pipe.write(msg)
        pipe.flush()
        return True

    def xrecv(self) -> list[bytes] | None:
        """The next message, with the sending peer's routing id as its first frame."""
        fq = self._fq
        msg = fq.recv()
        if msg is None:
            return None
        # a fresh list: received lists may be shared with other readers (dist), never edit them
        return [fq.last_pipe.data, *msg]  # type: ignore[union-attr]

    def xhas_in(self) -> bool:
        """True if some peer has sent something."""
        return self._fq.has_in()

    def xhas_out(self) -> bool:
        """Always, unless ``router_mandatory``: then only if some peer has room."""
        if not self.options.router_mandatory:
            return True
        return any(pipe.check_hwm() for pipe in self._out.values())
