"""Sessions: what binds one connection's engine (ZMTP, or raw for STREAM) to one pipe of a socket.

Theory of operation
-------------------
A :class:`Session` is libzmq's ``session_base_t``. It is an engine without fds of its own that
lives on an I/O thread, holds the I/O-thread end of one :mod:`pipe <zreactor.sockets.pipe>`
to its messaging socket, and owns the :class:`~zreactor.zmtp.engine.ZmtpEngine` that carries
that pipe over the wire. The session is the pipe's *sink* on that side (``read_activated``,
``write_activated``, ``pipe_terminated``); it forwards activations to its engine, and the
engine reads and writes the pipe directly (same thread, no commands on the message path). The
engine contract is in :mod:`zreactor.zmtp.engine`. A STREAM socket's sessions get a
:class:`~zreactor.zmtp.raw_engine.RawEngine` instead (raw bytes, no ZMTP, libzmq's
``raw_engine_t``), which keeps the same contract with a handshake that completes at once;
that choice, in ``_new_engine``, is the session's only difference for STREAM.

Two roles (:class:`Role`):

``CONNECT`` (``socket.connect``)
    The socket makes the pipe at connect time and attaches its end at once, so messages can be
    queued before any peer exists (up to ``sndhwm``). The session owns a
    :class:`~zreactor.reactor.connecter.Connecter` (``reconnect_ivl``, ``reconnect_ivl_max``),
    whose engines it serves one after the other; the pipe, and what is queued in it, survives
    reconnections. After a reconnection a SUB/XSUB session replays its subscriptions (libzmq
    re-sends them through a pipe "hiccup"; we keep the set here, where every subscription
    passes anyway). With ``immediate``, and for ROUTER sockets, the pipe is made only when a
    handshake completes and is dropped with the connection: nothing is queued for a peer that
    is not there, and a ROUTER learns the peer's identity before it can route to it.
``ACCEPTED`` (made by a listener for one accepted connection)
    The session starts its engine on the accepted socket. When the handshake completes it
    makes the pipe, labels the socket's end with the peer's ZMTP ``Identity`` (``routing_id``)
    and hands it to the socket with a ``BIND`` command. When the engine ends, so does the
    session; messages already received stay readable by the socket.

*Ending.* A protocol error (a broken frame, an incompatible socket type, the peer's ERROR)
ends the session in either role: libzmq does not reconnect after one, and neither do we.
So does a STREAM socket closing the connection (its raw engine ends with
:class:`~zreactor.zmtp.raw_engine.ClosedBySocket`). A
pipe terminated by the socket (``close``, ``disconnect``, a second PAIR peer refused) ends it
too. The session then asks its owner to terminate it, as every engine does.

*Linger* (:class:`SessionState`, moves in :data:`SESSION_TRANSITIONS`, a
:class:`~zreactor.reactor.fsm.Machine` drawn in ``docs/SESSION.md``). ``TERM(linger)`` moves
an ``OPEN`` session to ``LINGERING``: it terminates its pipe with delivery (``linger != 0``) and keeps feeding the
engine (reconnecting if needed) until the engine has read the pipe's delimiter, or until the
linger timer drops what is left. Only then does it move to ``CLOSING`` and forward ``TERM``
down to its connecter and engine, with the linger time that remains, so the engine can still
flush the last batch from its write queue. A session with no pipe (or a linger of 0 and no
engine) closes at once. ``TERM`` carries no linger when it answers the session's own request
to go (``Own`` has no options); the session then uses its socket's ``linger`` option.

*Caller I/O.* The session gives the socket's end of its pipe one
:class:`~zreactor.zmtp.shortcut.CallerShortcut` for its whole life; each engine serves it
while connected. The session takes no part in what goes through it.

Threads: every method runs on the session's I/O thread (or a thread holding its loop's lease,
when an engine calls in from the caller shortcut), except the constructors (the socket's or
the listener's thread, before launch).
"""

from __future__ import annotations

import enum
import socket as _socket
from typing import TYPE_CHECKING

from ..constants import SocketType
from .commands import SocketCmd
from ..errors import ProtocolError
from ..reactor.connecter import Connecter
from ..reactor.engine import Engine
from ..reactor.events import EventKind
from ..reactor.fsm import Machine
from ..reactor.own import Own
from ..zmtp.engine import ZmtpEngine
from ..zmtp.events import HandshakeComplete
from ..zmtp.raw_engine import ClosedBySocket, RawEngine
from ..zmtp.shortcut import CallerShortcut
from .options import apply_to_socket, conflates, security_of
from .pipe import Pipe, pipepair
from .zap import ZapClient

if TYPE_CHECKING:
    from ..reactor.poller import Timer
    from .options import Options
    from .socket import Socket

__all__ = ["Role", "SESSION_TRANSITIONS", "Session", "SessionEvent", "SessionState"]


class Role(enum.Enum):
    """How the session's connections come about."""

    CONNECT = "connect"  # it dials (and redials) the endpoint itself
    ACCEPTED = "accepted"  # a listener accepted one connection for it


class SessionState(enum.Enum):
    """A session's lifecycle (the engine comes and goes independently)."""

    #: serving: messages flow whenever an engine is connected
    OPEN = "open"
    #: TERM received; delivering what is queued until the delimiter or the linger expiry
    LINGERING = "lingering"
    #: the pipe is gone; the connecter and engine are being terminated
    CLOSING = "closing"


class SessionEvent(enum.Enum):
    """What moves a session between its states."""

    TERM = "TERM, pipe open"
    TERM_NO_PIPE = "TERM, no pipe left"
    PIPE_DONE = "pipe terminated (delimiter read, linger expired or connection gone)"


#: Every legal move: ``(state, event) -> next state``.
SESSION_TRANSITIONS: Machine[SessionState, SessionEvent] = Machine("session", SessionState.OPEN, {
    (SessionState.OPEN, SessionEvent.TERM): SessionState.LINGERING,
    (SessionState.OPEN, SessionEvent.TERM_NO_PIPE): SessionState.CLOSING,
    (SessionState.LINGERING, SessionEvent.PIPE_DONE): SessionState.CLOSING,
}, attr="session_state")


class Session(Engine):
    """Binds ZMTP engines to one pipe of ``socket``. Build with :meth:`connecting` or
    :meth:`accepted`.

    Attributes:
        role: :class:`Role`.
        session_state: :class:`SessionState`.
        pipe: our end of the pipe to the socket (``None`` before the first handshake in the
            late-pipe cases, and once it is gone).
        socket_pipe: the socket's end, when the socket made the pipe at connect time.
        engine: the current :class:`ZmtpEngine` (a :class:`RawEngine` for STREAM), if a
            connection exists.
        connecter: the connecter (``CONNECT`` role) while it lives.
        subscriptions: topics subscribed through this session (SUB/XSUB).
    """

    def __init__(self, zsocket: Socket, options: Options, endpoint: str, role: Role) -> None:
        super().__init__(endpoint)
        self.zsocket = zsocket
        self.options = options
        self.role = role
        self.session_state = SessionState.OPEN
        self.pipe: Pipe | None = None
        self.socket_pipe: Pipe | None = None
        self.engine: ZmtpEngine | RawEngine | None = None
        self.connecter: Connecter | None = None
        self.subscriptions: set[bytes] = set()
        #: caller I/O for the socket's end of our pipe, served by each engine in turn
        self.shortcut = CallerShortcut()
        #: pipes we terminated ourselves (connection lost): finished before we acknowledge TERM
        self._dropping: set[Pipe] = set()
        self._conn: _socket.socket | None = None
        #: the pipe to the ZAP handler, for server mechanisms (zreactor.sockets.zap)
        self.zap = ZapClient(self)
        self._security = security_of(options)
        self._linger_timer: Timer | None = None
        self._linger_deadline: float | None = None
        linger = options.linger
        self._option_linger: float | None = None if linger < 0 else linger / 1000
        #: the pipe is made at each handshake and dropped with each connection
        self.late_pipe = (
            role is Role.ACCEPTED or options.immediate or options.type == SocketType.ROUTER
        )
        #: the name the socket gives this dialled connection (``CONNECT_ROUTING_ID``), or b""
        self.connect_routing_id = options.connect_routing_id if role is Role.CONNECT else b""

    # -- construction (socket's or listener's thread) -------------------------------------------

    @classmethod
    def connecting(cls, zsocket: Socket, options: Options, endpoint: str) -> Session:
        """A session that connects to ``endpoint``; the caller launches it and, unless
        :attr:`late_pipe`, attaches :attr:`socket_pipe` to the socket after launching.

        Raises:
            ValueError: malformed endpoint. OSError: the host name does not resolve.
        """
        session = cls(zsocket, options, endpoint, Role.CONNECT)
        ivl = options.reconnect_ivl
        session.connecter = Connecter(
            endpoint,
            session._new_engine,
            # libzmq reconnects only with a positive interval (0 and -1 both mean "never")
            reconnect_ivl=ivl / 1000 if ivl > 0 else None,
            reconnect_ivl_max=options.reconnect_ivl_max / 1000,
            connect_timeout=options.connect_timeout / 1000,
            reconnect_stop=options.reconnect_stop,
            ipv6=options.ipv6,
        )
        if not session.late_pipe:
            sock_end, own_end = pipepair((zsocket, session), (options.sndhwm, options.rcvhwm),
                                         conflate=conflates(options))
            sock_end.endpoint = own_end.endpoint = endpoint
            sock_end.routing_id = session.connect_routing_id or None
            sock_end.shortcut = session.shortcut
            session.pipe, session.socket_pipe = own_end, sock_end
        return session

    @classmethod
    def accepted(cls, zsocket: Socket, options: Options, endpoint: str,
                 conn: _socket.socket) -> Session:
        """A session for one connection a listener accepted on ``endpoint``."""
        session = cls(zsocket, options, endpoint, Role.ACCEPTED)
        session._conn = conn
        return session

    # -- lifecycle ------------------------------------------------------------------------------

    def attached(self) -> None:
        """Start dialling (``CONNECT``) or the engine of the accepted connection."""
        if self.role is Role.CONNECT:
            assert self.connecter is not None
            self._launch(self.connecter)
        else:
            conn, self._conn = self._conn, None
            assert conn is not None
            self._launch(self._new_engine(conn))

    def _launch(self, child: Engine) -> None:
        self.pool.launching(self.thread)  # counted as load until it is plugged
        self.launch_child(child, self.thread)

    def _new_engine(self, sock: _socket.socket) -> ZmtpEngine | RawEngine:
        o = self.options
        apply_to_socket(sock, o)  # SNDBUF/RCVBUF, TCP_KEEPALIVE*, TCP_MAXRT, TOS
        if o.type == SocketType.STREAM:
            # raw bytes, no ZMTP (libzmq's raw_engine_t): see zreactor/zmtp/raw_engine.py
            return RawEngine(sock, self, notify=o.stream_notify, endpoint=self.endpoint,
                             shortcut=self.shortcut)
        return ZmtpEngine(
            sock,
            self,
            socket_type=o.type_name,
            identity=o.routing_id,
            maxmsgsize=o.maxmsgsize,
            handshake_ivl=o.handshake_ivl / 1000,
            heartbeat_ivl=o.heartbeat_ivl / 1000,
            heartbeat_ttl=o.heartbeat_ttl / 1000,
            heartbeat_timeout=None if o.heartbeat_timeout < 0 else o.heartbeat_timeout / 1000,
            endpoint=self.endpoint,
            security=self._security,
            shortcut=self.shortcut,
        )

    def release_resources(self) -> None:
        """Close an accepted socket that never got its engine (terminated before PLUG)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self.thread is not None and self.pool is not None:
            self.pool.fds.close(conn)
        else:
            conn.close()

    # -- engine calls (see zreactor.zmtp.engine) ------------------------------------------------

    def engine_attached(self, engine: ZmtpEngine | RawEngine) -> None:
        """A connection exists (its handshake has not completed yet)."""
        self.engine = engine

    def engine_ready(self, engine: ZmtpEngine | RawEngine, handshake: HandshakeComplete) -> None:
        """The handshake completed: make the pipe now if it is made per connection.

        A pipe made for a connection this session dialled is named by the
        ``CONNECT_ROUTING_ID`` it was given, if any, rather than by the peer's identity.
        """
        if self.pipe is None and self.session_state is SessionState.OPEN and self.late_pipe:
            self._open_pipe(self.connect_routing_id or handshake.peer_identity)

    def zap_request(self, engine: ZmtpEngine, frames: list[bytes]) -> bool:
        """Carry a ZAP request to the handler; False if none is bound."""
        return self.zap.request(engine, frames)

    def engine_closed(self, engine: ZmtpEngine | RawEngine, reason: BaseException | None,
                      farewell: list[bytes] | None = None) -> None:
        """The connection ended; decide between reconnecting and ending (module docstring).

        ``farewell`` is the engine's last message for the socket (a raw engine's
        disconnection notice). When the pipe ends with the connection it goes in with the
        pipe's end, in one step (``Pipe.terminate(last=...)``): a socket that reads it finds
        the end right behind it, so it cannot route to the vanished peer after the notice
        whatever the termination commands' progress. When the pipe outlives the connection
        (a redial) it is an ordinary message.
        """
        dropped = self.zap.engine_gone(engine)
        if dropped is not None:
            self._dropping.add(dropped)
        if engine is not self.engine:
            return
        self.engine = None
        if self.session_state is SessionState.CLOSING:
            return  # we terminated it
        by_socket = isinstance(reason, ClosedBySocket)  # a STREAM socket's empty send
        if self.role is Role.ACCEPTED or isinstance(reason, ProtocolError) or by_socket:
            connecter, self.connecter = self.connecter, None
            if connecter is not None:  # no reconnection after a protocol error
                self.term_child(connecter)
            # (a connecter reports DISCONNECTED for the connections it redials; a closing
            # send is the socket's own doing: it reports none, as libzmq)
            if not by_socket:
                self.emit(EventKind.DISCONNECTED, 0, reason=str(reason) if reason else "")
            self._drop_pipe(farewell)
            if self.session_state is SessionState.OPEN:
                self.terminate()
        elif self.late_pipe:
            self._drop_pipe(farewell)
        elif farewell is not None and self.pipe is not None and self.pipe.write(farewell):
            self.pipe.flush()
        self._check_delimiter()
        self._check_lingering_done()

    # -- pipe sink interface ----------------------------------------------------------------------

    def read_activated(self, pipe: Pipe) -> None:
        """The socket wrote to a pipe we had read dry (or the ZAP handler answered)."""
        if pipe is not self.pipe:
            if pipe is self.zap.pipe:
                self.zap.read_replies()
            return
        if self.engine is not None and self.engine.handshake is not None:
            self.engine.restart_output()
        else:
            self._check_delimiter()

    def write_activated(self, pipe: Pipe) -> None:
        """The socket read enough that the pipe has room again."""
        if pipe is self.pipe and self.engine is not None:
            self.engine.restart_input()

    def pipe_terminated(self, pipe: Pipe) -> None:
        """A pipe finished terminating."""
        if pipe is self.zap.pipe:  # the ZAP handler's socket closed
            self.zap.pipe = None
        if pipe in self._dropping:
            self._dropping.discard(pipe)
        elif pipe is self.pipe:
            self.pipe = None
            self._cancel_linger_timer()
            if self.session_state is SessionState.OPEN:
                # the socket let go of this connection (close, disconnect, a PAIR refusing)
                self.terminate()
        self._check_lingering_done()

    def _open_pipe(self, identity: bytes) -> None:
        o = self.options
        sock_end, own_end = pipepair((self.zsocket, self), (o.sndhwm, o.rcvhwm),
                                     conflate=conflates(o))
        sock_end.routing_id = identity or None
        sock_end.endpoint = own_end.endpoint = self.endpoint
        sock_end.shortcut = self.shortcut
        self.pipe = own_end
        self.subscriptions = set()  # the socket sends its subscriptions down a new pipe itself
        Own.send_command(self.zsocket, SocketCmd.BIND, sock_end)

    def _drop_pipe(self, last: list[bytes] | None = None) -> None:
        """Terminate our pipe now, dropping what it holds for the peer; ``last`` goes to the
        socket with the pipe's end."""
        pipe, self.pipe = self.pipe, None
        if pipe is None:
            return
        self._dropping.add(pipe)
        pipe.terminate(False, last)

    def _check_delimiter(self) -> None:
        """With no engine reading the pipe, consume a delimiter at its head (libzmq's
        ``check_read`` after an engine error): a pipe that holds nothing else can then
        finish terminating. Queued messages stay queued."""
        engine = self.engine
        if self.pipe is not None and (engine is None or engine.handshake is None):
            self.pipe.check_read()

    # -- termination --------------------------------------------------------------------------------

    def process_term(self, linger: float | None) -> None:
        """``TERM`` from the owner: linger on the pipe, then terminate the children."""
        if self.session_state is not SessionState.OPEN:
            return
        zap_pipe = self.zap.close()
        if zap_pipe is not None:
            self._dropping.add(zap_pipe)
        if linger is None:
            linger = self._option_linger
        self._linger_deadline = None if linger is None else self.clock() + linger
        if self.pipe is None and not self._dropping:
            SESSION_TRANSITIONS.fire(self, SessionEvent.TERM_NO_PIPE)
            self._close_down(linger)
            return
        SESSION_TRANSITIONS.fire(self, SessionEvent.TERM)
        pipe = self.pipe
        if pipe is not None:
            if linger is not None and linger > 0:
                self._linger_timer = self.call_later(linger, self._linger_expired)
            pipe.terminate(linger != 0)
            self._check_delimiter()
        self._check_lingering_done()

    def process_term_req(self, child: Own) -> None:
        """A child asked to go; if it is our connecter (reconnection off), nothing can be
        delivered any more: drop the pipe and end."""
        super().process_term_req(child)
        if child is not self.connecter:
            return
        self.connecter = None
        self._drop_pipe()
        if self.session_state is SessionState.OPEN:
            self.terminate()
        self._check_lingering_done()

    def _linger_expired(self) -> None:
        self._linger_timer = None
        if self.pipe is not None:
            self.pipe.terminate(False)  # drop what is left; pipe_terminated follows

    def _cancel_linger_timer(self) -> None:
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None

    def _check_lingering_done(self) -> None:
        if (
            self.session_state is SessionState.LINGERING
            and self.pipe is None
            and not self._dropping
        ):
            deadline = self._linger_deadline
            SESSION_TRANSITIONS.fire(self, SessionEvent.PIPE_DONE)
            self._close_down(None if deadline is None else max(0.0, deadline - self.clock()))

    def _close_down(self, linger: float | None) -> None:
        """Forward ``TERM`` to the connecter and engine, then acknowledge when they have."""
        self._cancel_linger_timer()
        Engine.process_term(self, linger)

    def __repr__(self) -> str:
        return (f"<Session {self.role.value} {self.endpoint} {self.session_state.value}"
                f" engine={'yes' if self.engine else 'no'}>")
