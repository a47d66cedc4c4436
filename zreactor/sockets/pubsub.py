"""PUB, SUB, XPUB and XSUB: publish-subscribe with prefix subscriptions (RFC 29).

Theory of operation
-------------------
Subscriptions travel *upstream* as ordinary single-frame messages on the subscriber's pipes:
``b"\\x01" + topic`` subscribes, ``b"\\x00" + topic`` unsubscribes (ZMTP 3.1 engines turn them
into SUBSCRIBE/CANCEL commands on the wire and back). Data travels downstream, and the
publisher sends each message only to the pipes whose subscriptions are a prefix of its first
frame. This is libzmq's design, and the pieces are libzmq's:

XPUB (``xpub_t``)
    Keeps a :class:`~zreactor.sockets.trie.MultiTrie` of subscriptions per pipe and reads
    subscription messages as soon as a pipe is attached or becomes readable. The application
    receives a notification (the subscription message itself) when a topic gets its *first*
    subscriber or loses its *last* one, including when a subscriber goes away; with
    ``xpub_verbose`` every subscription is passed on, duplicates included (unsubscriptions
    stay "last one only", as in libzmq). Other messages an XSUB sends upstream reach the
    application as they are. A send goes to every matching pipe that has room: a pipe at its
    HWM misses the message (the mute state *drops*), so sending never blocks.
PUB (``pub_t``)
    An XPUB that keeps the notifications to itself: ``recv`` fails with ENOTSUP.
XSUB (``xsub_t``)
    The application sends subscription messages itself. XSUB counts references to each topic
    in a :class:`~zreactor.sockets.trie.Trie`; it forwards every subscription upstream (the
    publisher de-duplicates, and forwarding devices need the duplicates for
    ``xpub_verbose``), but an unsubscription only when the topic's last reference goes (a
    never-subscribed topic's is dropped). Any other message is sent upstream as it is. Each
    new pipe first receives every current subscription, so a subscriber that reconnects
    gets resubscribed. XSUB does not filter what it receives.
SUB (``sub_t``)
    An XSUB driven by the ``SUBSCRIBE``/``UNSUBSCRIBE`` options (:meth:`Socket.subscribe`);
    it cannot send, and it also filters received messages against its own subscriptions
    (the publisher already did; libzmq checks again, e.g. for a topic just unsubscribed
    whose messages are still in flight).

As in libzmq, SUB and XSUB default to ``linger = 0``: pending subscription messages are not
worth holding a close for. Upstream subscription messages obey the pipe's HWM: one that does
not fit is dropped, as libzmq does.

*Where libzmq is odder than this.* libzmq inspects every frame of a multipart message for a
leading 0x00/0x01, so a multipart data message whose later frames start with those bytes gets
split into pieces. Here a message is a subscription only if it has exactly one frame; every
multipart message is data. The two agree on everything a sane application sends.

*The XPUB options* (libzmq's ``xpub_t``): ``XPUB_WELCOME_MSG`` is written to each new
subscriber pipe first; ``XPUB_VERBOSER`` passes every unsubscription on too (and implies
``XPUB_VERBOSE``); ``XPUB_NODROP`` makes a send that some matching subscriber has no room for
fail with ``EAGAIN`` (or block, with ``sndtimeo``) instead of dropping it for that subscriber;
``XPUB_MANUAL`` hands every (un)subscription to the application and applies none: the
application decides with ``setsockopt(SUBSCRIBE/UNSUBSCRIBE, topic)`` on the XPUB, which acts
for the pipe of the notification it received last. ``INVERT_MATCHING`` (PUB/XPUB and SUB)
turns the prefix match around: a message goes to (is accepted by) exactly the subscribers
whose subscriptions do *not* prefix it.

*A subscription made just before a send.* libzmq's I/O threads run beside the
application's, so a subscription reaches the publisher within microseconds, and its PUB
takes in what its I/O threads delivered before each send (``process_commands``, at most
once per ~1 ms). Here every hop of a subscription needs the interpreter lock, which the
sending thread holds for up to a switch interval (5 ms) at a time, so a message sent just
after a subscription was made would miss it. Two caller-I/O steps close that gap
(:mod:`zreactor.zmtp.shortcut`, *The early read*): a subscriber writes each subscription to
the kernel on its own thread (when its I/O loop sleeps), and a publisher with at most
:data:`~zreactor.sockets.caller_wait.MAX_CALLER_READS` connections reads the subscriptions
already waiting in its connections' kernel buffers before it sends, at most once per
:data:`EARLY_READ_INTERVAL`, as libzmq's ``process_commands`` does (a clock read per send;
the read itself is a ``recv()`` per connection). So a subscription made over an idle
connection before a send, by any thread, is honoured by that send (if the send is the first
in its interval), as libzmq honours one made a few hundred microseconds earlier. Over inproc
a subscription is a pipe message and a command to the publisher, which every send runs
first. A publisher with more connections leaves it to its I/O threads; so does a
subscriber whose I/O loop is busy when it subscribes (the loop sends the subscription then).

These sockets are not thread-safe: use each from one thread at a time.
"""

from __future__ import annotations

import errno
from collections import deque
from time import monotonic
from typing import Any

from ..constants import SocketOption, SocketType
from ..errors import ZMQError
from . import caller_wait
from .patterns import Distributor, FairQueue
from .pipe import Pipe
from .socket import Socket
from .trie import MultiTrie, RmResult, Trie

__all__ = ["EARLY_READ_INTERVAL", "PubSocket", "SubSocket", "XPubSocket", "XSubSocket"]

#: a publisher reads the subscriptions waiting in its connections' kernel buffers before a
#: send at most this often (seconds): libzmq's ``max_command_delay`` (3 M cycles, ~1 ms)
EARLY_READ_INTERVAL = 0.001

_SUBSCRIBE = 1
_UNSUBSCRIBE = 0


class XPubSocket(Socket):
    """``zmq.XPUB``: PUB that delivers subscriptions to the application (see module docs)."""

    socket_type = SocketType.XPUB
    #: whether subscription notifications and upstream messages reach the application
    _delivers = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._subscriptions = MultiTrie()
        self._dist = Distributor()
        self._pending: deque[list[bytes]] = deque()
        #: XPUB_MANUAL: the pipe of each pending notification, and of the last one received
        self._pending_pipes: deque[Pipe | None] = deque()
        self._last_pipe: Pipe | None = None
        #: tcp/ipc subscribers (pipes with a caller shortcut); whether sends read their
        #: waiting subscriptions first (some, and few enough pipes), and from when on
        #: (module docstring)
        self._connections = 0
        self._early_reads = False
        self._early_read_at = 0.0

    def xattach_pipe(self, pipe: Pipe, subscribe_to_all: bool = False) -> None:
        """Add a subscriber, greet it (``XPUB_WELCOME_MSG``) and take in the subscriptions
        it already queued."""
        self._dist.attach(pipe)
        self._count(pipe, 1)
        welcome = self.options.xpub_welcome_msg
        if welcome and pipe.write([welcome]):
            pipe.flush()
        if subscribe_to_all:
            self._subscriptions.add(b"", pipe)
        # An inproc subscriber that connected before we bound has been queueing its
        # subscriptions; nothing will announce them, so read them now.
        self.xread_activated(pipe)

    def xread_activated(self, pipe: Pipe) -> None:
        """Apply every subscription message the pipe holds."""
        delivers = self._delivers
        pending = self._pending
        subscriptions = self._subscriptions
        options = self.options
        while True:
            msg = pipe.read()
            if msg is None:
                return
            frame = msg[0]
            if len(msg) == 1 and frame and frame[0] <= _SUBSCRIBE:
                if options.xpub_manual and delivers:
                    notify = True  # the application decides (setsockopt on this socket)
                elif frame[0] == _SUBSCRIBE:
                    notify = (subscriptions.add(frame[1:], pipe) or options.xpub_verbose
                              or options.xpub_verboser)
                else:
                    # libzmq tells the application unless other subscribers remain,
                    # so an unknown topic's unsubscription is passed on too
                    notify = (subscriptions.rm(frame[1:], pipe) is not RmResult.VALUES_REMAIN
                              or options.xpub_verboser)
                if notify and delivers:
                    pending.append(msg)
                    self._pending_pipes.append(pipe)
            elif delivers:
                pending.append(msg)
                self._pending_pipes.append(pipe)

    def xwrite_activated(self, pipe: Pipe) -> None:
        """A subscriber that was at its HWM has room again."""
        self._dist.activated(pipe)

    def xpipe_terminated(self, pipe: Pipe) -> None:
        """Drop the subscriber's subscriptions; announce the topics nobody wants now."""
        self._subscriptions.rm_pipe(pipe, self._unsubscribed)
        self._dist.pipe_terminated(pipe)
        self._count(pipe, -1)
        if self._last_pipe is pipe:
            self._last_pipe = None

    def _count(self, pipe: Pipe, change: int) -> None:
        """A pipe came (``change`` 1, already listed) or goes (-1, still listed): may sends
        read early? (Decided here so that a send reads one flag.)"""
        if pipe.shortcut is not None:
            self._connections += change
        pipes = len(self._pipes) - (change < 0 and pipe in self._pipes)
        self._early_reads = bool(self._connections) and pipes <= caller_wait.MAX_CALLER_READS

    def _unsubscribed(self, topic: bytes) -> None:
        if self._delivers:
            self._pending.append([b"\x00" + topic])
            self._pending_pipes.append(None)

    def xsetsockopt(self, option: int, value: Any) -> bool:
        """``XPUB_MANUAL``: ``SUBSCRIBE``/``UNSUBSCRIBE`` act for the pipe whose notification
        was received last (libzmq's rule)."""
        if option not in (SocketOption.SUBSCRIBE, SocketOption.UNSUBSCRIBE):
            return False
        if not self.options.xpub_manual:
            raise ZMQError(errno.EINVAL, f"{SocketOption(option).name} on an XPUB socket needs "
                                         "XPUB_MANUAL")
        pipe = self._last_pipe
        if pipe is not None:
            if option == SocketOption.SUBSCRIBE:
                self._subscriptions.add(bytes(value), pipe)
            else:
                self._subscriptions.rm(bytes(value), pipe)
        return True

    def _targets(self, msg: list[bytes]) -> Any:
        """The pipes a message goes to: the matching ones, or (INVERT_MATCHING) the others."""
        pipes = self._subscriptions.match(msg[0])
        if self.options.invert_matching:
            return [p for p in self._dist.pipes if p not in pipes]
        return pipes

    def xsend(self, msg: list[bytes]) -> bool:
        """Send to every subscriber whose subscription prefixes the first frame (full ones
        miss it, unless ``XPUB_NODROP``: then nobody gets it and the send waits).

        First, at most once per :data:`EARLY_READ_INTERVAL`, take in the subscriptions
        already waiting in the kernel (module docstring)."""
        if self._early_reads and monotonic() >= self._early_read_at:
            # (the clock read again, rarely, rather than kept in a local on every send)
            self._early_read_at = monotonic() + EARLY_READ_INTERVAL
            caller_wait.read_waiting(self._pipes)
        pipes = self._targets(msg)
        if pipes:
            if self.options.xpub_nodrop and not all(p.check_hwm() for p in pipes):
                return False
            self._dist.send_to(pipes, msg)
        return True  # never blocks: full subscribers miss the message

    def xhas_out(self) -> bool:
        """Always, unless ``XPUB_NODROP`` and some subscriber is full."""
        if self.options.xpub_nodrop:
            return all(p.check_hwm() for p in self._dist.pipes)
        return True

    def xrecv(self) -> list[bytes] | None:
        """The next subscription notification or upstream message, if any."""
        pending = self._pending
        if not pending:
            return None
        self._last_pipe = self._pending_pipes.popleft()
        return pending.popleft()

    def xhas_in(self) -> bool:
        """True if a notification or upstream message is waiting."""
        return bool(self._pending)


class PubSocket(XPubSocket):
    """``zmq.PUB``: send to matching subscribers; drops for those at their HWM."""

    socket_type = SocketType.PUB
    _delivers = False

    def xrecv(self) -> list[bytes] | None:
        """PUB sockets cannot receive.

        Raises:
            ZMQError: ENOTSUP.
        """
        raise ZMQError(errno.ENOTSUP, "PUB sockets cannot receive")

    def xhas_in(self) -> bool:
        """Never."""
        return False


class XSubSocket(Socket):
    """``zmq.XSUB``: the application sends ``b"\\x01topic"``/``b"\\x00topic"`` itself."""

    socket_type = SocketType.XSUB
    #: whether received messages are checked against our own subscriptions
    _filters = False

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.options.linger = 0  # libzmq: never hold a close for pending subscriptions
        self._fq = FairQueue()
        self._dist = Distributor()
        self._subscriptions = Trie()
        #: a message taken by xhas_in (to see whether it passes the filter) for xrecv
        self._prefetched: list[bytes] | None = None

    def xattach_pipe(self, pipe: Pipe, subscribe_to_all: bool = False) -> None:
        """Add a publisher and send it every current subscription."""
        self._fq.attach(pipe)
        self._dist.attach(pipe)
        self.xhiccuped(pipe)

    def xhiccuped(self, pipe: Pipe) -> None:
        """Send every current subscription on ``pipe`` (a new or reconnected publisher).

        Subscriptions that do not fit under the pipe's HWM are dropped, as in libzmq.
        """
        for topic in self._subscriptions:
            if not pipe.write([b"\x01" + topic]):
                break
        pipe.flush()

    def xread_activated(self, pipe: Pipe) -> None:
        """A publisher has messages again."""
        self._fq.activated(pipe)

    def xwrite_activated(self, pipe: Pipe) -> None:
        """A publisher that was at its HWM can take subscriptions again."""
        self._dist.activated(pipe)

    def xpipe_terminated(self, pipe: Pipe) -> None:
        """Forget a publisher."""
        self._fq.pipe_terminated(pipe)
        self._dist.pipe_terminated(pipe)

    def xsend(self, msg: list[bytes]) -> bool:
        """Record a (un)subscription and forward it upstream; send anything else as it is."""
        if len(msg) == 1:
            frame = msg[0]
            if frame and frame[0] == _SUBSCRIBE:
                self._subscriptions.add(frame[1:])
            elif frame and frame[0] == _UNSUBSCRIBE:
                if not self._subscriptions.rm(frame[1:]):
                    return True  # references remain (or there were none): upstream need not know
        self._dist.send_to_all(msg)
        return True

    def xhas_out(self) -> bool:
        """Always: subscriptions can be changed at any time."""
        return True

    def xrecv(self) -> list[bytes] | None:
        """The next message (SUB: the next one matching a subscription), if any."""
        msg = self._prefetched
        if msg is not None:
            self._prefetched = None
            return msg
        fq = self._fq
        if not self._filters:
            return fq.recv()
        check = self._subscriptions.check
        invert = self.options.invert_matching
        while True:
            msg = fq.recv()
            if msg is None or check(msg[0]) is not invert:
                return msg

    def xhas_in(self) -> bool:
        """True if :meth:`xrecv` has a message (SUB: one that passes the filter)."""
        if self._prefetched is None:
            self._prefetched = self.xrecv()
        return self._prefetched is not None

    @property
    def subscriptions(self) -> list[bytes]:
        """The topics currently subscribed to, each once, in byte order."""
        return list(self._subscriptions)


class SubSocket(XSubSocket):
    """``zmq.SUB``: subscribe with :meth:`subscribe` (or the SUBSCRIBE option) and receive."""

    socket_type = SocketType.SUB
    _filters = True
    #: it only receives (what it writes is its subscriptions, each sent before the
    #: ``setsockopt`` returns): its reads are held between its calls (``Socket.holds_reads``),
    #: so a stream is read by the thread that takes it, not by the I/O thread beside it
    holds_reads = True

    def xsetsockopt(self, option: int, value: Any) -> bool:
        """Handle ``SUBSCRIBE``/``UNSUBSCRIBE`` (bytes; ``subscribe()`` also takes str).

        Unsubscribing from a topic that was never subscribed does nothing, as in libzmq.
        """
        if option == SocketOption.SUBSCRIBE:
            lead = b"\x01"
        elif option == SocketOption.UNSUBSCRIBE:
            lead = b"\x00"
        else:
            return False
        XSubSocket.xsend(self, [lead + bytes(value)])  # the type was checked by setsockopt
        return True

    def xsend(self, msg: list[bytes]) -> bool:
        """SUB sockets cannot send (use :meth:`subscribe`).

        Raises:
            ZMQError: ENOTSUP.
        """
        raise ZMQError(errno.ENOTSUP, "SUB sockets cannot send")

    def xhas_out(self) -> bool:
        """Never."""
        return False
