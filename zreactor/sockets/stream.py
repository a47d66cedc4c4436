"""STREAM: raw tcp/ipc connections, each addressed by a routing id (libzmq's ``stream_t``).

Theory of operation
-------------------
A STREAM socket talks to peers that do not speak ZMTP: a web browser, a plain
``socket.socket``, a libzmq STREAM socket. Its sessions carry each connection with a
:class:`~zreactor.zmtp.raw_engine.RawEngine` (no greeting, no framing), and this module is the
pattern on the socket's side of their pipes, a ROUTER without envelopes:

*Routing ids.* Every connection gets one when its pipe attaches: the ``CONNECT_ROUTING_ID``
set before the ``connect`` that made it (the session labels the pipe with it), or else a
generated 5-byte id, ``b"\\x00"`` and a 32-bit big-endian counter that starts at a random
value, as libzmq's. A generated id is also stored as the socket's ``ROUTING_ID`` option, as
libzmq does, which is how a client learns the id of the connection it just made::

    sock.connect("tcp://example.org:80")
    peer = sock.getsockopt(zmq.ROUTING_ID)

A ``connect`` pipe is made (and named) at once and outlives reconnections, as libzmq's does,
so its id stays the same while the session redials.

*Receiving.* Fair-queued over the connections; each chunk of bytes one ``recv()`` returned
arrives as ``[routing_id, chunk]``. With ``STREAM_NOTIFY`` (the default) a connection that
is made, and one that is lost, are each reported as ``[routing_id, b""]``.

*Sending.* ``[routing_id, data]`` writes ``data`` raw to that connection; ``[routing_id,
b""]`` closes it: what was sent before still goes out first, then the FIN, and no
disconnection is reported for it (the socket terminates the pipe; the engine closes once it
has read it to its end, see :mod:`zreactor.zmtp.raw_engine`). A longer message is a sequence of such pairs,
as libzmq reads the frames of one (the ``SNDMORE`` flag of a data frame is ignored). The
rules, libzmq's, with one difference noted:

* an unknown routing id (never seen, or its connection gone) is ``EHOSTUNREACH``: a STREAM
  socket always behaves as a ROUTER with ``ROUTER_MANDATORY``. So is one whose connection is
  closing (lost, or closed by an empty send) while its pipe finishes terminating: zreactor's
  ROUTER rule; libzmq answers ``EAGAIN`` until the pipe is gone;
* a connection whose pipe is full (``sndhwm``) makes ``send`` block, or raise ``Again`` with
  ``DONTWAIT`` or after ``sndtimeo``; closing one never waits for room;
* a message of one frame names nobody and is dropped, and so is a trailing odd frame.
  (libzmq keeps a half-sent pair across ``send`` calls and reads the next message's first
  frame as the missing data; zreactor hands the pattern whole messages, so it cannot.)
* every pair is checked before any is written, so a refused message sends nothing of itself.

*Transports.* tcp and ipc, as libzmq's raw engine serves both. ``inproc`` carries no bytes
stream, so binding or connecting a STREAM socket there is refused (``EPROTONOSUPPORT``).
libzmq accepts it and then pipes messages between two STREAM sockets without any of the
above; nobody can have meant that.

These sockets are not thread-safe: use each from one thread at a time.
"""

from __future__ import annotations

import errno
import random

from ..constants import SocketType
from ..errors import ZMQError
from .endpoints import SocketContext, endpoint_str
from .patterns import FairQueue
from .pipe import Pipe
from .socket import Socket

__all__ = ["StreamSocket"]


class StreamSocket(Socket):
    """``zmq.STREAM``: raw connections addressed by routing id (see the module docstring)."""

    socket_type = SocketType.STREAM

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._fq = FairQueue()
        #: routing id -> the pipe of that connection (``pipe.data`` is its key)
        self._out: dict[bytes, Pipe] = {}
        self._next_id = random.getrandbits(32)

    # -- endpoints -------------------------------------------------------------------------------

    def bind(self, addr: str | bytes) -> SocketContext:
        """Listen on a ``tcp://`` or ``ipc://`` address for raw connections.

        Raises:
            ZMQError: EPROTONOSUPPORT for ``inproc://``; otherwise as ``Socket.bind``.
        """
        _refuse_inproc(endpoint_str(addr))
        return super().bind(addr)

    def connect(self, addr: str | bytes) -> SocketContext:
        """Open a raw connection to a ``tcp://`` or ``ipc://`` address; its routing id is
        ``CONNECT_ROUTING_ID`` if set, else a generated one (read ``ROUTING_ID`` after).

        Raises:
            ZMQError: EPROTONOSUPPORT for ``inproc://``; EINVAL if ``CONNECT_ROUTING_ID``
                already names a connection of this socket (libzmq aborts the process);
                otherwise as ``Socket.connect``.
        """
        _refuse_inproc(endpoint_str(addr))
        rid = self.options.connect_routing_id
        if rid and rid in self._out:
            raise ZMQError(errno.EINVAL, f"CONNECT_ROUTING_ID {rid!r} already names a connection")
        return super().connect(addr)

    # -- pipe events -----------------------------------------------------------------------------

    def xattach_pipe(self, pipe: Pipe, subscribe_to_all: bool = False) -> None:
        """Name a new connection and start reading it."""
        rid = pipe.routing_id
        if not rid or rid in self._out:
            rid = self._generate_id()
            self.options.routing_id = rid  # libzmq's way of telling a client its id
        pipe.data = rid
        self._out[rid] = pipe
        self._fq.attach(pipe)

    def _generate_id(self) -> bytes:
        while True:
            rid = b"\x00" + self._next_id.to_bytes(4, "big")
            self._next_id = (self._next_id + 1) & 0xFFFFFFFF
            if rid not in self._out:
                return rid

    def xread_activated(self, pipe: Pipe) -> None:
        """A connection has data (or a notification) again."""
        self._fq.activated(pipe)

    def xpipe_terminated(self, pipe: Pipe) -> None:
        """Forget a connection and free its routing id."""
        rid = pipe.data
        if rid is not None and self._out.get(rid) is pipe:
            del self._out[rid]
        self._fq.pipe_terminated(pipe)

    # -- messages --------------------------------------------------------------------------------

    def xsend(self, msg: list[bytes]) -> bool:
        """Write (or, for empty data, close) per ``[routing_id, data]`` pair; False if a
        connection named is full (the base then blocks or raises ``Again``).

        Raises:
            ZMQError: EHOSTUNREACH for a routing id that names no connection, or one closed
                by an earlier pair of the same message (nothing is sent then).
        """
        # One write per connection: the pairs naming the same connection are joined (a raw
        # byte stream cannot tell one write from two), so its room is checked once and a
        # pipe that fills part-way through the message can never drop a later pair.
        chunks: dict[bytes, list[bytes]] = {}
        closing: set[bytes] = set()
        for rid, data in zip(msg[0::2], msg[1::2]):
            if rid in closing:
                raise ZMQError(errno.EHOSTUNREACH,
                               f"connection {rid!r} is closed earlier in this message")
            if data:
                chunks.setdefault(rid, []).append(data)
            else:
                chunks.setdefault(rid, [])
                closing.add(rid)
        out = self._out
        for rid, parts in chunks.items():
            pipe = out.get(rid)
            if pipe is None:
                raise ZMQError(errno.EHOSTUNREACH, f"no connection with routing id {rid!r}")
            if parts and not pipe.check_write():
                if not pipe.check_hwm():
                    return False  # full: the base blocks until it has room (or Again)
                raise ZMQError(errno.EHOSTUNREACH, f"connection {rid!r} is closing")
        written: list[Pipe] = []
        for rid, parts in chunks.items():
            pipe = out[rid]
            if parts and pipe.write([parts[0] if len(parts) == 1 else b"".join(parts)]):
                written.append(pipe)
            if rid in closing:
                # the session's end still delivers what was queued; the engine closes the
                # connection once it has read the pipe to its end (zmtp/raw_engine.py)
                pipe.terminate(False)
        for pipe in written:
            pipe.flush()
        return True

    def xrecv(self) -> list[bytes] | None:
        """The next chunk (or notification), after the routing id of its connection."""
        fq = self._fq
        msg = fq.recv()
        if msg is None:
            return None
        pipe = fq.last_pipe
        if not msg[0]:
            # A notice (a data chunk is never empty). A lost connection's notice arrives with
            # its pipe's end right behind it (Session.engine_closed): reading that end now
            # stops the pipe's writing, so from the moment the application has the notice a
            # send to this routing id is EHOSTUNREACH, whether or not the pipe's PIPE_TERM
            # has reached our mailbox yet. After a connect notice this only looks ahead.
            pipe.check_read()  # type: ignore[union-attr]
        return [pipe.data, *msg]  # type: ignore[union-attr]

    def xhas_in(self) -> bool:
        """True if some connection has data or a notification."""
        return self._fq.has_in()

    def xhas_out(self) -> bool:
        """Always: whether a send succeeds depends on the connection it names (libzmq's)."""
        return True


def _refuse_inproc(addr: str) -> None:
    if addr.startswith("inproc://"):
        raise ZMQError(errno.EPROTONOSUPPORT,
                       f"STREAM sockets carry tcp or ipc bytes; inproc has none (addr={addr!r})")
