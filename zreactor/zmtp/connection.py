"""ZmtpConnection: one ZMTP 3.x peer connection as a sans-I/O object.

Theory of operation
-------------------
Like h11's ``Connection``, a :class:`ZmtpConnection` never touches a socket. The engine that
owns the socket drives it with two calls and reads one buffer::

    conn = ZmtpConnection("DEALER", identity=b"me")
    sock.sendall(conn.data_to_send())           # our greeting, queued at construction
    for event in conn.receive_data(sock.recv(65536)):
        ...                                     # HandshakeComplete, Message, Ping, ...
    conn.send_message([b"hello"])               # after HandshakeComplete
    sock.sendall(conn.data_to_send())           # everything queued since the last call

Outgoing bytes accumulate in one internal list until :meth:`data_to_send` joins and drains it,
so everything queued between two writes (many ``send_message`` calls, a PONG, a batch from
:meth:`send_messages`) leaves in one ``send()``.

*The batch API.* An engine moving many small messages uses two variants that do the same job
with less work per message: :meth:`receive_batch` reports each run of consecutive messages as
one :class:`~.events.MessageBatch` (decoded in traffic by
:meth:`~.frames.FrameDecoder.feed_messages`, which assembles messages as it parses, so a chunk
of plain messages costs no event object and no second walk per message), and
:meth:`send_batch` encodes messages whose frames the caller guarantees are ``bytes`` without
re-checking them. Both paths follow the same grammar and the same rules below; the fuzz tests
hold :meth:`receive_batch` to the same output as :meth:`receive_data`.

*Reading into the decoder.* In traffic an engine need not hand over chunks at all: when
:meth:`get_buffer` returns a ``memoryview`` (in traffic; ``None`` during the greeting and
the handshake), it reads straight into the frame decoder's buffer and reports the count, with
the same events as :meth:`receive_batch`::

    buffer = conn.get_buffer()
    if buffer is None:
        events = conn.receive_batch(sock.recv(65536))
    else:
        events = conn.buffer_updated(sock.recv_into(buffer))

(:mod:`.frames` explains why: each body is then copied once, kernel to application. Under an
encrypting mechanism the boxes open where the kernel put them, :mod:`.curve_boxes`.)

The call grammar, which the state machine in :mod:`.state` enforces::

    construct -> receive_data+ -> HandshakeComplete -> (receive_data | send_*)*
              [-> PeerError received | send_error()]

* Our greeting is queued at construction. Our READY is queued as soon as the peer's greeting
  has been parsed, which is when libzmq sends its own.
* ``send_message``/``send_subscribe``/``send_ping``/... before ``HandshakeComplete`` raise
  :class:`~.state.LocalProtocolError`: the engine waits for the event; nothing is queued
  silently.
* Malformed input raises :class:`~zreactor.errors.ProtocolError` naming what was wrong. The
  connection is then FAILED and every later ``receive_data`` raises again; the engine drops
  the connection. Events decoded from the same chunk before the violation are discarded with
  it, except that a peer ERROR preceding the violation is reported instead of it. No other
  exception leaves ``receive_data``, whatever the bytes (the fuzz tests hold us to that).
* An ERROR command, received (a :class:`~.events.PeerError` event) or sent
  (:meth:`send_error`), closes the connection: later input is ignored and sending refused.

What each frame becomes, and why
--------------------------------
* Message frames are collected until one without MORE and reported as one
  :class:`~.events.Message`. Commands may arrive *between* the frames of a message: libzmq's
  heartbeat timer can slip a PING into a multipart message that spans two write batches, and
  libzmq's own decoder handles commands independently of message assembly, so we do too.
* On PUB and XPUB connections a single-frame message whose first byte is 0x01 or 0x00 is a
  subscription or cancellation (the ZMTP 3.0 form, which libzmq still sends to 3.0 peers), and
  SUBSCRIBE and CANCEL commands (the 3.1 form) are accepted whatever version the peer announced,
  as libzmq's XPUB does. On other socket types both are ordinary data or ignored. libzmq's XPUB
  also inspects every frame of a multipart message; we only treat single-frame messages as
  subscriptions, which is all SUB and XSUB sockets send.
* PING becomes a :class:`~.events.Ping` event and is *not* answered automatically: the
  engine owns the clock and the TTL timer, so it decides (usually ``answer_ping(event)`` right
  away). PONG becomes :class:`~.events.Pong`.
* Unknown commands, and READY after the handshake, are ignored, as libzmq's session does
  (``session_base_t::push_msg`` drops every command other than SUBSCRIBE and CANCEL). SUBSCRIBE
  and CANCEL on a non-publishing socket are ignored too. ERROR is the exception: libzmq
  ignores it after the handshake, but RFC 37 says "The peer SHALL treat an incoming ERROR
  command as fatal", so in traffic too it becomes a :class:`~.events.PeerError` and closes.
* Send the greeting as soon as the TCP connection exists. libzmq sends only its first 10
  bytes and waits for ours before it sends the rest, so an engine that waits for the peer's
  greeting before writing its own deadlocks against libzmq.

Thread safety: none. One connection belongs to one engine on one I/O thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from ..errors import ProtocolError
from . import commands
from .events import (
    AuthFailed,
    Cancel,
    Event,
    HandshakeComplete,
    Message,
    MessageBatch,
    PeerError,
    Ping,
    Pong,
    Subscribe,
    ZapRequest,
)
from .frames import (
    COMMAND,
    MORE,
    BytesLike,
    Frame,
    FrameDecoder,
    FramingError,
    Span,
    append_command,
    append_message,
    append_messages,
)
from .greeting import GREETING_SIZE, Greeting, GreetingParser, encode_greeting
from .handshake import Mechanism
from .mechanisms import NullMechanism, check_mechanism
from .state import TRANSITIONS, LocalProtocolError, State, Trigger

__all__ = ["ZmtpConnection"]

#: Socket types that receive subscriptions.
_PUBLISHERS = frozenset({"PUB", "XPUB"})
#: Socket types that send subscriptions.
_SUBSCRIBERS = frozenset({"SUB", "XSUB"})
#: First byte of a ZMTP 3.0 subscription message, and of a cancellation.
_SUBSCRIBE_BYTE = 1
_CANCEL_BYTE = 0
#: Metadata names the mechanism fills in itself.
_RESERVED_PROPERTIES = frozenset({"socket-type", "identity"})


#: tested per message (receive_batch, get_buffer, send_batch), as a module global
#: (``reactor/fsm.py``, *Members on the per-message paths*)
_TRAFFIC = State.TRAFFIC


class ZmtpConnection:
    """The ZMTP 3.1 protocol state of one connection, with any security mechanism.

    Args:
        socket_type: our socket type: ``"PAIR"``, ``"PUB"``, ``"SUB"``, ``"XPUB"``,
            ``"XSUB"``, ``"REQ"``, ``"REP"``, ``"DEALER"``, ``"ROUTER"``, ``"PUSH"`` or
            ``"PULL"``.
        identity: our routing id (``ZMQ_ROUTING_ID``), at most 255 bytes, not starting with a
            zero byte. Sent only by REQ, DEALER and ROUTER sockets, as libzmq does.
        as_server: the greeting's as-server byte. The RFC wants it zero for NULL.
        maxmsgsize: the largest frame accepted from the peer, in bytes (libzmq's
            ``ZMQ_MAXMSGSIZE``, which it checks per frame); ``-1`` for no limit.
        metadata: extra READY properties (libzmq's ``ZMQ_METADATA``), e.g.
            ``{"X-Service": b"quotes"}``.
        mechanism: a factory ``(socket_type, identity, metadata) -> Mechanism`` for the
            security mechanism (:meth:`zreactor.zmtp.security.Security.factory`); ``None``
            for NULL. Its ``as_server`` overrides ``as_server``.

    Raises:
        ValueError: an unknown socket type, a bad identity, a bad ``maxmsgsize`` or metadata
            that cannot be encoded or that redefines ``Socket-Type``/``Identity``.
    """

    __slots__ = (
        "_decoder",
        "_failure",
        "_greeting",
        "_handshake",
        "_mechanism",
        "_outgoing",
        "_partial",
        "_boxed",
        "_publisher",
        "_state",
        "_version",
    )

    def __init__(self, socket_type: str, *, identity: bytes = b"", as_server: bool = False,
                 maxmsgsize: int = -1, metadata: Mapping[str, bytes] | None = None,
                 mechanism: Callable[..., Mechanism] | None = None) -> None:
        if len(identity) > 255 or identity[:1] == b"\x00":
            raise ValueError("identity must be at most 255 bytes and not start with a zero byte")
        if not isinstance(maxmsgsize, int) or maxmsgsize < -1:
            raise ValueError(f"maxmsgsize must be -1 (unlimited) or >= 0, got {maxmsgsize!r}")
        extra = dict(metadata or {})
        for name in extra:
            if name.lower() in _RESERVED_PROPERTIES:
                raise ValueError(f"metadata may not redefine {name!r}; it is set from the socket")
        self._mechanism: Mechanism = (mechanism or NullMechanism)(socket_type, identity, extra)
        self._boxed = self._mechanism.encrypts
        self._mechanism.properties()  # refuse unencodable metadata now, not mid-handshake
        as_server = self._mechanism.as_server or as_server
        self._publisher = socket_type in _PUBLISHERS
        self._state = State.GREETING
        self._greeting = GreetingParser()
        self._decoder = FrameDecoder(maxmsgsize, offset=GREETING_SIZE)
        self._outgoing: list[BytesLike] = [
            encode_greeting(self._mechanism.name, as_server=as_server)]
        self._partial: list[bytes] = []
        self._version: tuple[int, int] | None = None
        self._handshake: HandshakeComplete | None = None
        self._failure: str | None = None

    # -- introspection ---------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The connection's current :class:`~.state.State`."""
        return self._state

    @property
    def mechanism(self) -> Mechanism:
        """The security mechanism (its ``user_id`` and ``zap_metadata`` once authenticated)."""
        return self._mechanism

    @property
    def socket_type(self) -> str:
        """Our socket type."""
        return self._mechanism.socket_type

    @property
    def peer_greeting(self) -> Greeting | None:
        """The peer's parsed greeting, once it has arrived."""
        return self._greeting.greeting if self._greeting.complete else None

    @property
    def version(self) -> tuple[int, int] | None:
        """The ZMTP version used with this peer, ``(3, 0)`` or ``(3, 1)``, once known."""
        return self._version

    @property
    def handshake(self) -> HandshakeComplete | None:
        """The :class:`~.events.HandshakeComplete` event, once it has happened."""
        return self._handshake

    @property
    def has_data_to_send(self) -> bool:
        """Bytes are queued: the engine should wait for the socket to become writable."""
        return bool(self._outgoing)

    # -- the byte streams ------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Return every byte queued since the last call, and forget them.

        The engine writes the result to the socket; what the socket does not accept is the
        engine's to keep, the connection does not take bytes back.
        """
        out = self._outgoing
        if not out:
            return b""
        data = b"".join(out)
        out.clear()
        return data

    def buffers_to_send(self) -> list[BytesLike]:
        """:meth:`data_to_send` without the join: the queued pieces (frame headers and the
        message bodies themselves), for a gathered ``sendmsg()``; forgotten here.

        The bodies are the objects the messages were queued with, not copies: the caller
        must send (or copy) them before anyone may mutate them.
        """
        out = self._outgoing
        self._outgoing = []
        return out

    def receive_data(self, data: BytesLike) -> list[Event]:
        """Feed bytes received from the peer; return the events they complete, in order.

        Chunks may be split anywhere: the events depend only on the concatenated bytes.
        ``b""`` is a no-op (end of stream is the engine's business).

        Raises:
            ProtocolError: the bytes break ZMTP, or the connection had already failed.
        """
        state = self._state
        if state is State.FAILED:
            raise ProtocolError(f"ZMTP connection already failed: {self._failure}")
        if state is State.CLOSED:
            return []
        events: list[Event] = []
        try:
            if state is State.GREETING:
                used = self._greeting.feed(data)
                if not self._greeting.complete:
                    return events
                self._on_greeting(events)
                data = memoryview(data)[used:]
            try:
                frames = self._decoder.feed(data)
            except FramingError as exc:
                # Act on what preceded the violation: if it holds the peer's ERROR, the peer
                # closed before the garbage and that is what we report (libzmq stops reading
                # at the ERROR too). Otherwise the violation stands.
                self._on_frames(exc.frames, events)
                if self._state is State.CLOSED:
                    return events
                raise
            self._on_frames(frames, events)
        except ProtocolError as exc:
            self._failure = str(exc)
            TRANSITIONS.fire(self, Trigger.VIOLATION)
            raise
        return events

    def receive_batch(self, data: BytesLike) -> list[Event]:
        """As :meth:`receive_data`, but each run of consecutive messages is one event.

        Messages come as :class:`~.events.MessageBatch` events (in traffic; the chunk that
        completes the handshake may still report :class:`~.events.Message` events), every
        other event as :meth:`receive_data` reports it, all in wire order. A chunk of plain
        messages, the common case, returns ``[MessageBatch(messages)]``.

        Raises:
            ProtocolError: as :meth:`receive_data`.
        """
        if self._state is not _TRAFFIC:
            return self.receive_data(data)
        return self._traffic_batch(data, 0)

    def receive_lone(self, data: bytes) -> list[bytes] | None:
        """The frames of the one message ``data`` holds, if it is a lone message
        (:mod:`.frames`, *A lone message*) of plain traffic; else None, having consumed
        nothing: pass ``data`` to :meth:`receive_batch`.

        What it returns, :meth:`receive_batch` would have reported as
        ``[MessageBatch([msg])]``. Never for a publisher (its single-frame messages may be
        subscriptions) or under an encrypting mechanism (every frame is a box).
        """
        if self._state is not _TRAFFIC or self._boxed or self._publisher or self._partial:
            return None
        return self._decoder.lone_message(data)

    def get_buffer(self) -> memoryview | None:
        """Where the engine should read next, or ``None``: then read a chunk and pass it to
        :meth:`receive_batch`.

        In traffic the frame decoder owns the read buffer (see :mod:`.frames`, *Reading into
        the decoder*): ``n = sock.recv_into(buffer)``, then :meth:`buffer_updated` ``(n)``.
        Before the handshake completes this returns ``None``.
        """
        if self._state is not _TRAFFIC:
            return None
        return self._decoder.get_buffer()

    def buffer_updated(self, nbytes: int) -> list[Event]:
        """:meth:`receive_batch` for the ``nbytes`` the last read put into :meth:`get_buffer`.

        Raises:
            ProtocolError: as :meth:`receive_data`.
            LocalProtocolError: no buffer was handed out (the connection is not in traffic).
        """
        if self._state is not _TRAFFIC:
            raise LocalProtocolError(
                f"buffer_updated() in state {self._state.name}: get_buffer() gave no buffer")
        return self._traffic_batch(None, nbytes)

    def _traffic_batch(self, data: BytesLike | None, nbytes: int) -> list[Event]:
        """Decode in traffic: ``data`` (a chunk), or ``nbytes`` read into the decoder."""
        try:
            try:
                if self._boxed:
                    items, commands = self._unbox(data, nbytes)
                elif data is None:
                    items, self._partial, commands = self._decoder.messages_received(
                        nbytes, self._partial)
                else:
                    items, self._partial, commands = self._decoder.feed_messages(
                        data, self._partial)
            except FramingError as exc:
                # as in receive_data: a peer ERROR before the violation is what we report
                events: list[Event] = []
                self._on_items(exc.frames, events)  # type: ignore[arg-type]
                if self._state is State.CLOSED:
                    return events
                raise
            if not commands and not self._publisher:
                return [MessageBatch(items)] if items else []  # type: ignore[arg-type]
            events = []
            self._on_items(items, events)
        except ProtocolError as exc:
            self._failure = str(exc)
            TRANSITIONS.fire(self, Trigger.VIOLATION)
            raise
        return events

    # -- sending ---------------------------------------------------------------------------

    def send_message(self, frames: Sequence[BytesLike]) -> None:
        """Queue one multipart message.

        The frames are not copied: do not mutate them before the next :meth:`data_to_send`.

        Raises:
            LocalProtocolError: the handshake is not complete, or the connection is closed.
            TypeError: a frame is not bytes-like.
            ValueError: ``frames`` is empty.
        """
        self._require_traffic("send a message")
        _check_frames(frames)
        if self._boxed:
            self._box(frames)
        else:
            append_message(self._outgoing, frames)

    def send_messages(self, messages: Iterable[Sequence[BytesLike]]) -> None:
        """Queue many messages at once; all of them or, if one is invalid, none.

        Raises:
            LocalProtocolError: the handshake is not complete, or the connection is closed.
            TypeError: a frame is not bytes-like.
            ValueError: a message is empty.
        """
        self._require_traffic("send messages")
        checked: list[Sequence[BytesLike]] = []
        for frames in messages:
            _check_frames(frames)
            checked.append(frames)
        for frames in checked:
            self._queue_message(frames)

    def send_batch(self, messages: Iterable[Sequence[bytes]]) -> int:
        """Queue many messages whose frames are already ``bytes``; return their body bytes.

        The fast variant of :meth:`send_messages` for an engine relaying what a socket
        accepted: the socket layer has already turned every frame into ``bytes`` and refused
        empty messages, so nothing is checked again (a frame that is not bytes-like would
        only fail in :meth:`data_to_send`).

        Raises:
            LocalProtocolError: the handshake is not complete, or the connection is closed.
        """
        if self._state is not _TRAFFIC:
            self._require_traffic("send messages")
        if self._boxed:
            wire, total = self._mechanism.encrypt_messages(messages)  # type: ignore[arg-type]
            self._outgoing.append(wire)
            return total
        return append_messages(self._outgoing, messages)

    def send_subscribe(self, topic: bytes) -> None:
        """Subscribe to messages starting with ``topic`` (SUB and XSUB only).

        ZMTP 3.1 peers get a SUBSCRIBE command, 3.0 peers a message ``b"\\x01" + topic``;
        libzmq 4.3.5 makes the same choice.

        Raises:
            LocalProtocolError: not a SUB/XSUB connection, or not in traffic.
        """
        self._send_subscription(commands.SUBSCRIBE, _SUBSCRIBE_BYTE, topic)

    def send_cancel(self, topic: bytes) -> None:
        """Cancel one subscription to ``topic`` (SUB and XSUB only).

        ZMTP 3.1 peers get a CANCEL command, 3.0 peers a message ``b"\\x00" + topic``.

        Raises:
            LocalProtocolError: not a SUB/XSUB connection, or not in traffic.
        """
        self._send_subscription(commands.CANCEL, _CANCEL_BYTE, topic)

    def send_ping(self, ttl: float = 0.0, context: bytes = b"") -> None:
        """Queue a heartbeat PING.

        Args:
            ttl: seconds the peer should wait for traffic from us before giving up on the
                connection; sent in whole deciseconds (truncated, as libzmq truncates
                ``ZMQ_HEARTBEAT_TTL``), at most 6553.5. ``0`` sends no TTL.
            context: up to 16 bytes the peer echoes in its PONG.

        Raises:
            LocalProtocolError: not in traffic.
            ValueError: ``ttl`` out of range or ``context`` longer than 16 bytes.
        """
        self._require_traffic("send a PING")
        if not 0 <= ttl <= commands.PING_TTL_MAX / 10:
            raise ValueError(f"PING ttl must be 0..6553.5 seconds, got {ttl!r}")
        # The epsilon keeps e.g. 2.3 s at 23 ds despite 2.3 * 10 == 22.999999999999996.
        deciseconds = min(int(ttl * 10 + 1e-9), commands.PING_TTL_MAX)
        self._queue_command(commands.encode_ping(deciseconds, context))

    def send_pong(self, context: bytes = b"") -> None:
        """Queue a PONG echoing ``context``.

        Raises:
            LocalProtocolError: not in traffic.
            ValueError: ``context`` longer than 16 bytes.
        """
        self._require_traffic("send a PONG")
        self._queue_command(commands.encode_pong(context))

    def answer_ping(self, ping: Ping) -> None:
        """Queue the PONG that answers ``ping`` (what libzmq does at once for every PING)."""
        self.send_pong(ping.context)

    def send_error(self, reason: str) -> None:
        """Queue an ERROR command and close the connection.

        The peer treats ERROR as fatal and does not reconnect with the same credentials. After
        this call the engine should flush :meth:`data_to_send` and close the socket.

        Raises:
            LocalProtocolError: the connection is already closed or failed.
            ValueError: ``reason`` longer than 255 bytes in UTF-8.
        """
        body = commands.encode_error(reason)
        traffic = self._state is State.TRAFFIC
        TRANSITIONS.fire(self, Trigger.LOCAL_ERROR)
        if self._boxed and traffic:
            self._box([body], COMMAND)
        else:
            append_command(self._outgoing, body)

    # -- internals -------------------------------------------------------------------------

    def _require_traffic(self, what: str) -> None:
        if self._state is not State.TRAFFIC:
            if self._state in (State.GREETING, State.HANDSHAKE):
                hint = "wait for the HandshakeComplete event"
            else:
                hint = "the connection is over"
            raise LocalProtocolError(f"cannot {what} in state {self._state.name}: {hint}")

    def _send_subscription(self, name: bytes, first_byte: int, topic: bytes) -> None:
        if self.socket_type not in _SUBSCRIBERS:
            raise LocalProtocolError(
                f"only SUB and XSUB connections send subscriptions, this one is "
                f"{self.socket_type}")
        self._require_traffic(f"send {name.decode()}")
        if self._version == (3, 0):
            self._queue_message([bytes((first_byte,)) + topic])
        else:
            self._queue_command(commands.encode_command(name, bytes(topic)))

    def _on_greeting(self, events: list[Event]) -> None:
        greeting = self._greeting.greeting
        check_mechanism(greeting.mechanism, self._mechanism.name)
        self._version = greeting.effective_version
        TRANSITIONS.fire(self, Trigger.PEER_GREETING)
        self._mechanism.start()
        self._drain_mechanism(events)

    def _on_frames(self, frames: list[Frame], events: list[Event]) -> None:
        index = 0
        count = len(frames)
        while index < count and self._state is State.HANDSHAKE:
            self._on_handshake_frame(frames[index], events)
            index += 1
        if self._state is not State.TRAFFIC:
            return
        if self._boxed:
            decrypt = self._mechanism.decrypt
            frames = [decrypt(body) for _, body in frames[index:]]
            index, count = 0, len(frames)
        # The traffic loop is the hot path: locals only, no per-frame method call for data.
        append = events.append
        partial = self._partial
        publisher = self._publisher
        for position in range(index, count):
            flags, body = frames[position]
            if flags & COMMAND:
                if self._on_command(body, events):
                    return
            elif flags & MORE:
                partial.append(body)
            elif partial:
                partial.append(body)
                append(Message(partial))
                partial = self._partial = []
            elif publisher and body and body[0] <= _SUBSCRIBE_BYTE:
                append(Subscribe(body[1:]) if body[0] == _SUBSCRIBE_BYTE else Cancel(body[1:]))
            else:
                append(Message([body]))

    def _unbox(self, data: BytesLike | None, nbytes: int) -> tuple[list[list[bytes] | Frame],
                                                                     int]:
        """:meth:`~.frames.FrameDecoder.feed_messages` for boxed traffic (``data``, or
        ``nbytes`` read into the decoder): every frame is a MESSAGE; open each where it lies
        and assemble messages from the inner MORE flags.

        Raises:
            ProtocolError: a framing error (after the boxes before it were opened, so a
                peer ERROR before the garbage is still seen) or a box that fails.
        """
        decoder = self._decoder
        try:
            if data is None:
                buffer, spans = decoder.spans_received(nbytes)
            else:
                buffer, spans = decoder.feed_spans(data)
        except FramingError as exc:
            items, _ = self._open_boxes(exc.buffer, exc.frames)  # type: ignore[arg-type]
            raise FramingError(str(exc), items) from None  # type: ignore[arg-type]
        return self._open_boxes(buffer, spans)

    def _open_boxes(self, buffer: bytearray, spans: list[Span]
                    ) -> tuple[list[list[bytes] | Frame], int]:
        items, self._partial, commands = self._mechanism.decrypt_spans(buffer, spans,
                                                                       self._partial)
        return items, commands

    def _on_items(self, items: list[list[bytes] | Frame], events: list[Event]) -> None:
        """Turn :meth:`~.frames.FrameDecoder.feed_messages` output into batch events."""
        run: list[list[bytes]] = []
        publisher = self._publisher
        for item in items:
            if type(item) is list:
                if publisher and len(item) == 1 and item[0][:1] in (b"\x00", b"\x01"):
                    body = item[0]
                    if run:
                        events.append(MessageBatch(run))
                        run = []
                    events.append(
                        Subscribe(body[1:]) if body[0] == _SUBSCRIBE_BYTE else Cancel(body[1:]))
                else:
                    run.append(item)
                continue
            if run:
                events.append(MessageBatch(run))
                run = []
            if self._on_command(item[1], events):  # type: ignore[index]
                return
        if run:
            events.append(MessageBatch(run))

    def _on_handshake_frame(self, frame: Frame, events: list[Event]) -> None:
        flags, body = frame
        if not flags & COMMAND:
            raise ProtocolError(
                f"expected a handshake command, got a message frame "
                f"(flags 0x{flags:02x}) during the {self._mechanism.name} handshake")
        name, data = self._mechanism.split_command(body)
        self._mechanism.process_command(name, data)
        self._drain_mechanism(events)

    # -- ZAP (the engine carries the frames; see zreactor.sockets.zap) -----------------------

    def zap_reply(self, frames: Sequence[bytes]) -> list[Event]:
        """The ZAP handler answered the :class:`~.events.ZapRequest` this connection made.

        Returns:
            the events it completes: maybe :class:`~.events.HandshakeComplete` or
            :class:`~.events.AuthFailed`. Commands it queued are in :meth:`data_to_send`.

        Raises:
            ProtocolError: a malformed reply, or none was expected (the connection FAILED).
        """
        return self._mechanism_call(self._mechanism.process_zap_reply, frames)

    def zap_unavailable(self) -> list[Event]:
        """No ZAP handler is bound: the mechanism goes on or refuses, as libzmq does.

        Raises:
            ProtocolError: the mechanism cannot go on (PLAIN); the connection FAILED.
        """
        return self._mechanism_call(self._mechanism.zap_unavailable)

    def _mechanism_call(self, method: Callable[..., None], *args: object) -> list[Event]:
        events: list[Event] = []
        if self._state is not State.HANDSHAKE:
            return events  # closed meanwhile: a late answer changes nothing
        try:
            method(*args)
            self._drain_mechanism(events)
        except ProtocolError as exc:
            self._failure = str(exc)
            TRANSITIONS.fire(self, Trigger.VIOLATION)
            raise
        return events

    def _drain_mechanism(self, events: list[Event]) -> None:
        """Queue what the mechanism produced; turn its verdicts into events and moves."""
        mechanism = self._mechanism
        for body in mechanism.take_commands():
            append_command(self._outgoing, body)
        request = mechanism.take_zap_request()
        if request is not None:
            events.append(ZapRequest(request))
        if mechanism.refused is not None:
            TRANSITIONS.fire(self, Trigger.LOCAL_ERROR)
            events.append(AuthFailed(mechanism.refused, "refused by the ZAP handler"))
        elif mechanism.peer_error is not None:
            TRANSITIONS.fire(self, Trigger.PEER_ERROR)
            events.append(mechanism.peer_error)
        elif mechanism.complete and self._state is State.HANDSHAKE:
            peer = mechanism.peer
            assert peer is not None and self._version is not None
            self._handshake = HandshakeComplete(
                peer_socket_type=peer.socket_type,
                peer_identity=peer.identity,
                metadata=peer.metadata,
                version=self._version,
            )
            TRANSITIONS.fire(self, Trigger.PEER_READY)
            events.append(self._handshake)

    # -- encryption (CURVE): every frame in traffic is one boxed MESSAGE ----------------------

    def _queue_message(self, frames: Sequence[BytesLike]) -> None:
        if self._boxed:
            self._box(frames)
        else:
            append_message(self._outgoing, frames)

    def _queue_command(self, body: bytes) -> None:
        if self._boxed:
            self._box([body], COMMAND)
        else:
            append_command(self._outgoing, body)

    def _box(self, frames: Sequence[BytesLike], command: int = 0) -> None:
        """Queue each frame as one MESSAGE box, which libzmq sends as a plain final frame
        (MORE travels inside the box); a command is one frame."""
        if command:
            self._outgoing.append(self._mechanism.encrypt_frame(command, bytes(frames[0])))
        else:
            wire, _ = self._mechanism.encrypt_messages([frames])  # type: ignore[list-item]
            self._outgoing.append(wire)

    def _on_command(self, body: bytes, events: list[Event]) -> bool:
        """Handle a command received in traffic; return True if it closed the connection."""
        name, data = commands.decode_command(body)
        if name == commands.PING:
            ttl, context = commands.decode_ping(data)
            events.append(Ping(ttl / 10, context))
        elif name == commands.PONG:
            events.append(Pong(data))
        elif name == commands.SUBSCRIBE:
            if self._publisher:
                events.append(Subscribe(data))
        elif name == commands.CANCEL:
            if self._publisher:
                events.append(Cancel(data))
        elif name == commands.ERROR:
            events.append(PeerError(commands.decode_error(data)))
            TRANSITIONS.fire(self, Trigger.PEER_ERROR)
            return True
        return False


def _check_frames(frames: Sequence[BytesLike]) -> None:
    """Reject what ``b"".join`` would reject later, where the caller can still see why."""
    if isinstance(frames, (bytes, bytearray, memoryview, str)):
        raise TypeError("a message is a sequence of frames, not a single bytes object")
    if not frames:
        raise ValueError("a ZMTP message needs at least one frame")
    for frame in frames:
        if not isinstance(frame, (bytes, bytearray, memoryview)):
            raise TypeError(f"message frames must be bytes-like, got {type(frame).__name__}")
