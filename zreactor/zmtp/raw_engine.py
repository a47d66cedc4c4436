"""RawEngine: one raw byte stream (a STREAM socket's connection), no ZMTP at all.

Theory of operation
-------------------
libzmq serves a ``ZMQ_STREAM`` socket's connections with ``raw_engine_t`` instead of its ZMTP
engine: no greeting, no handshake, no framing. This is that engine. It owns the connected
socket (a :class:`~zreactor.zmtp.engine.PipeEngine`, the stream engine it shares with
:class:`~zreactor.zmtp.engine.ZmtpEngine`: flow control, backlog, session calls and caller
shortcut) and serves a session exactly as the ZMTP engine does (the same :class:`RawSession` calls in the same
order), so the session, its pipe, its reconnection and its linger need no special case:

* every chunk one ``recv()`` returns becomes one single-frame message ``[chunk]`` in the pipe
  (the STREAM socket puts the connection's routing id in front of it);
* every message pulled from the pipe is written raw: the bytes of its frames, nothing else
  (the STREAM socket has already taken the routing id off);
* a pipe read to its end means "close": the STREAM socket terminates the pipe when the
  application sends ``[routing_id, b""]``, and the session's end still delivers what was
  queued before that. When a read of the pipe comes back empty and the pipe says its reading
  has ended (``pipe.reading_ended``: its delimiter was read), the engine flushes what it
  wrote, sends its FIN and closes with :class:`ClosedBySocket`, which tells the session not
  to redial and not to report a disconnection. (libzmq closes the connection only once its
  socket has run the pipe's termination handshake, i.e. at the application's next call into
  the socket; reading the delimiter is enough to know, so we close as soon as the bytes
  before it are out.)

*There is no codec.* libzmq's ``raw_decoder_t`` and ``raw_encoder_t`` are the identity: a chunk
is a message, a message is its bytes. A sans-I/O codec class for the identity would be
ceremony, so the engine moves the bytes itself; what it does own is the flow control below.

*Notifications* (``STREAM_NOTIFY``, on by default; libzmq's ``raw_notify``). Right after the
engine attaches it writes an empty message ``[b""]`` into the pipe: the socket reports
``[routing_id, b""]``, "a peer connected". When the connection is lost (the peer's FIN, a
reset, any socket error) it hands one more to the session with ``engine_closed``: "the peer
went away". The session queues it, and when the pipe ends with the connection (an accepted
one) it queues it together with the pipe's end, so a socket that reads the notice already
finds its connection closing: a send to it is ``EHOSTUNREACH``, never a race with the
pipe's termination commands. An engine ended by its socket (an empty send, or the socket
closing) gives none, as in libzmq: the socket already knows. A notification that finds the
pipe full is lost, as libzmq's is.

*The peer's FIN ends the connection.* libzmq's stream engine treats a read of 0 bytes as a
connection error, and so do we: a raw peer that half-closes gets its disconnection reported
and the connection closed, after what we had queued for it is flushed.

*The call grammar* towards the session, in order (the same as ZMTP's, with the handshake
complete the moment the engine attaches)::

    session.engine_attached(engine)
    session.engine_ready(engine, NO_HANDSHAKE)   the pipe may exist from here on
    ( engine.restart_output() | engine.restart_input() )*
    session.engine_closed(engine, reason, notice)   notice: [b""] or None

*Flow control* reuses the ZMTP engine's two flows (:data:`~zreactor.zmtp.engine.INPUT_FLOW`,
:data:`~zreactor.zmtp.engine.OUTPUT_FLOW`): when the pipe to the socket is full (``rcvhwm``
messages), chunks wait in a backlog and the engine stops reading, so the kernel's buffers push
back on the peer; when the write queue rises above its high-water mark the engine stops pulling
from the pipe (the socket's sends then block at ``sndhwm``), and resumes when it drains.

*Metadata.* As libzmq's raw engine does, received chunks carry the ``Peer-Address`` property
(``zmq.Frame.get("Peer-Address")`` with ``copy=False``), for tcp connections.

*Caller I/O.* Like a ZMTP engine, a raw engine serves its session's
:class:`~zreactor.zmtp.shortcut.CallerShortcut` (from the moment it attaches): while its loop
sleeps, the socket's thread writes the bytes it just sent and reads the reply it waits for
itself, through the engine's one write path and one read path, so an HTTP-like request and
response costs no thread switch. The rules are the shortcut's; the engine answers its
questions (the ``_caller_*`` methods) with the ZMTP engine's answers, from their shared
``PipeEngine`` (its handshake is complete from the moment it attaches). A closing
pipe's delimiter always goes the ordinary way (a terminating pipe wakes its reader by
command), so a connection is closed on the loop.

Threads: the engine's I/O thread, or the socket's thread holding that loop's lease (the
caller shortcut).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any, Protocol

from ..reactor.engine import EngineState
from .engine import INPUT_FLOW, Flow, FlowEvent, PipeEngine
from .events import HandshakeComplete
from .metadata import MetaBytes

if TYPE_CHECKING:
    from .shortcut import CallerShortcut

__all__ = ["NO_HANDSHAKE", "ClosedBySocket", "RawEngine", "RawSession"]

#: What a raw connection learns when it starts, in the shape the session takes from ZMTP:
#: nothing (no peer socket type, no identity, no properties; version ``(0, 0)``: no ZMTP).
NO_HANDSHAKE = HandshakeComplete(peer_socket_type="", peer_identity=b"", metadata={},
                                 version=(0, 0))


class ClosedBySocket(Exception):
    """The reason a raw engine gives ``closed()`` when its socket asked it to close the
    connection (an empty send): not a failure, but not the peer's doing either, so the
    session ends the connection for good and reports no disconnection."""


#: Most messages taken from the pipe in one ``read_batch``.
_BATCH = 256
#: Most bytes pulled from the pipe before one ``write()``.
_BATCH_BYTES = 256 * 1024
#: The notification message: "connected" after attaching, "disconnected" when lost.
_NOTIFY: list[bytes] = [b""]


class RawSession(Protocol):
    """What a :class:`RawEngine` needs from its session (the ZMTP engine's contract, minus
    ZAP: a raw connection has no security handshake)."""

    #: the session's end of the pipe to the socket, or ``None`` (not yet, or no longer)
    pipe: Any

    def engine_attached(self, engine: Any) -> None: ...

    def engine_ready(self, engine: Any, handshake: HandshakeComplete) -> None: ...

    def engine_closed(self, engine: Any, reason: BaseException | None,
                      farewell: list[bytes] | None = None) -> None:
        """The connection ended; ``farewell`` (the disconnection notice, or ``None``) is the
        engine's last message for the socket: the session queues it, with the pipe's end
        if the pipe ends with the connection."""


class RawEngine(PipeEngine):
    """One raw tcp/ipc connection serving one session (see the module docstring).

    Args:
        sock: the connected stream socket.
        session: the :class:`RawSession` served.
        notify: report connection and disconnection with empty messages (``STREAM_NOTIFY``).
        endpoint: the endpoint for events.
        high_water: write-queue size above which the engine stops pulling from the pipe.
        shortcut: the session's :class:`~zreactor.zmtp.shortcut.CallerShortcut`, served
            while attached; ``None``: no caller I/O.

    Attributes:
        handshake: :data:`NO_HANDSHAKE` once attached (the session reads it as "messages may
            flow"), ``None`` before.
        input: reading flow (:class:`~zreactor.zmtp.engine.Flow`). output: pulling flow.
    """

    def __init__(self, sock: socket.socket, session: RawSession, *, notify: bool = True,
                 endpoint: str = "", high_water: int = 256 * 1024,
                 shortcut: CallerShortcut | None = None) -> None:
        super().__init__(sock, session, endpoint=endpoint, high_water=high_water,
                         shortcut=shortcut)
        self.notify = notify
        self._label = MetaBytes.kind({"Peer-Address": _peer_ip(sock)}) \
            if sock.family in (socket.AF_INET, socket.AF_INET6) else None

    # -- StreamEngine hooks ---------------------------------------------------------------------

    def attached(self) -> None:
        """Tune tcp, tell the session, report the connection, flush what arrived already."""
        if self.sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - the socket is already dead; reading says so
                pass
        self.session.engine_attached(self)
        self.handshake = NO_HANDSHAKE
        self.session.engine_ready(self, NO_HANDSHAKE)
        if self.state is not EngineState.ATTACHED:
            return
        if self.notify:
            self._deliver(_NOTIFY)
        if self.shortcut is not None:
            self.shortcut.serve(self)
        self._pull()  # a connect session's pipe may hold data queued before we connected

    def data_received(self, data: bytes) -> None:
        """One chunk in, one message to the socket (or to the backlog if the pipe is full)."""
        self._reads += 1
        self._deliver([self._label(data) if self._label is not None else data])

    def eof_received(self) -> bool:
        """The peer's FIN: a lost connection for a STREAM socket, as in libzmq (flushed)."""
        self.close(EOFError("the peer closed the connection"))
        return False

    def closed(self, reason: BaseException | None) -> None:
        """Tell the session, handing it the disconnection notice (unless the session or the
        socket ended us)."""
        if self.shortcut is not None:
            self.shortcut.withdraw(self)
        self._backlog.clear()
        lost = reason is not None and not isinstance(reason, ClosedBySocket)
        # The session writes the notice, not we: a session that drops the pipe (an accepted
        # connection) queues it with the pipe's end in one step, so the socket can never read
        # it while the pipe still looks open. Written here, it was visible at once to a socket
        # reading that pipe, and a send right after it could beat the termination (accepted
        # instead of EHOSTUNREACH).
        notice = _NOTIFY if lost and self.notify and self.handshake else None
        self.session.engine_closed(self, reason, notice)

    # -- session calls ------------------------------------------------------------------------

    # -- moving bytes ---------------------------------------------------------------------------

    def _deliver(self, msg: list[bytes]) -> None:
        pipe = self.session.pipe
        if pipe is None:
            return  # the socket let go of this connection; the session is ending it
        if self._backlog or not pipe.write(msg):
            self._backlog.append(msg)
            if self.input is Flow.RUNNING:
                INPUT_FLOW.fire(self, FlowEvent.BLOCK)
            return
        pipe.flush()

    def _pull(self) -> None:
        """Move messages from the pipe to the socket, a batch of bytes per ``write()``."""
        pipe = self.session.pipe
        while (pipe is not None and self.state is EngineState.ATTACHED
               and self.output is Flow.RUNNING and self.handshake is not None):
            parts: list[bytes] = []
            size = 0
            while size < _BATCH_BYTES:
                messages = pipe.read_batch(_BATCH)
                if not messages:
                    break
                for msg in messages:
                    for frame in msg:
                        parts.append(frame)
                        size += len(frame)
            if size:
                self.send_now(parts, size)  # may pause_writing() or lose the connection
            if size < _BATCH_BYTES:
                if pipe.reading_ended and self.state is EngineState.ATTACHED:
                    # the socket closed this connection (an empty send): all of it is out
                    self.close(ClosedBySocket("the socket closed this connection"))
                return  # else the pipe is empty (it sleeps: a write wakes us)


def _peer_ip(sock: socket.socket) -> str:
    """The peer's IP address, as libzmq's ``Peer-Address`` property (``""`` if unknown)."""
    try:
        return str(sock.getpeername()[0])
    except OSError:
        return ""
