"""Tests for zreactor.zmtp.connection.ZmtpConnection, driven in memory.

Peers are either a second ZmtpConnection or hand-written bytes, many of them libzmq's own
test vectors (file cited at each).
"""

from __future__ import annotations

import pytest

from zreactor.errors import ProtocolError
from zreactor.zmtp import (
    Cancel,
    Event,
    HandshakeComplete,
    LocalProtocolError,
    MessageBatch,
    Message,
    PeerError,
    Ping,
    Pong,
    State,
    Subscribe,
    ZmtpConnection,
    commands,
    encode_greeting,
    encode_messages,
)
from zreactor.zmtp.frames import encode_command_frame
from zreactor.zmtp.state import TRANSITIONS, Trigger

pytestmark = pytest.mark.timeout(30)

# libzmq tests/testutil.hpp ``zmtp_greeting_null``: ZMTP 3.0, NULL.
GREETING_3_0 = encode_greeting(minor=0)
GREETING_3_1 = encode_greeting()
# libzmq tests/testutil.hpp ``zmtp_ready_dealer`` / tests/test_heartbeats.cpp.
READY_DEALER = bytes([4, 41, 5, *b"READY", 11, *b"Socket-Type", 0, 0, 0, 6, *b"DEALER",
                      8, *b"Identity", 0, 0, 0, 0])
# libzmq tests/test_mock_pub_sub.cpp ``zmtp_ready_sub``.
READY_SUB = bytes([4, 25, 5, *b"READY", 11, *b"Socket-Type", 0, 0, 0, 3, *b"SUB"])
# libzmq tests/testutil.hpp ``zmtp_ready_xpub``.
READY_XPUB = bytes([4, 26, 5, *b"READY", 11, *b"Socket-Type", 0, 0, 0, 4, *b"XPUB"])
# libzmq tests/test_heartbeats.cpp mock_handshake(): PING (TTL 0, context "LOL") and PONG.
PING_LOL = bytes([4, 10, 4, *b"PING", 0, 0, *b"LOL"])
PONG_LOL = bytes([4, 8, 4, *b"PONG", *b"LOL"])
# libzmq tests/test_mock_pub_sub.cpp: SUBSCRIBE command and legacy subscription for "A".
SUBSCRIBE_A_COMMAND = bytes([4, 11, 9, *b"SUBSCRIBE", *b"A"])
SUBSCRIBE_A_LEGACY = bytes([0, 2, 1, *b"A"])


def ready(socket_type: str, **extra: bytes) -> bytes:
    properties = [("Socket-Type", socket_type.encode())]
    properties += [(name.replace("_", "-"), value) for name, value in extra.items()]
    return encode_command_frame(commands.encode_ready(properties))


def command(name: bytes, data: bytes = b"") -> bytes:
    return encode_command_frame(commands.encode_command(name, data))


def in_traffic(socket_type: str, peer_type: str, *, greeting: bytes = GREETING_3_1,
               **kwargs: object) -> ZmtpConnection:
    """A connection whose peer (hand-written bytes) has completed the handshake."""
    conn = ZmtpConnection(socket_type, **kwargs)  # type: ignore[arg-type]
    events = conn.receive_data(greeting + ready(peer_type))
    assert isinstance(events[0], HandshakeComplete)
    conn.data_to_send()
    return conn


def pair(a_type: str, b_type: str, **b_kwargs: object
         ) -> tuple[ZmtpConnection, ZmtpConnection]:
    """Two connections wired to each other, handshake done."""
    a = ZmtpConnection(a_type)
    b = ZmtpConnection(b_type, **b_kwargs)  # type: ignore[arg-type]
    b_events = b.receive_data(a.data_to_send())
    a_events = a.receive_data(b.data_to_send())
    b_events += b.receive_data(a.data_to_send())
    assert [type(e) for e in a_events] == [HandshakeComplete]
    assert [type(e) for e in b_events] == [HandshakeComplete]
    return a, b


def feed_in_chunks(conn: ZmtpConnection, data: bytes, chunk: int) -> list[Event]:
    events: list[Event] = []
    for start in range(0, len(data), chunk):
        events += conn.receive_data(data[start:start + chunk])
    return events


# -- handshake ---------------------------------------------------------------------------------

def test_greeting_is_queued_at_construction_and_ready_after_peer_greeting() -> None:
    conn = ZmtpConnection("DEALER")
    assert conn.state is State.GREETING
    assert conn.has_data_to_send
    assert conn.data_to_send() == GREETING_3_1
    assert conn.data_to_send() == b""
    assert conn.receive_data(GREETING_3_0[:63]) == []
    assert conn.data_to_send() == b""  # no READY before the whole peer greeting
    assert conn.receive_data(GREETING_3_0[63:]) == []
    assert conn.state is State.HANDSHAKE
    # Our READY is byte-for-byte libzmq's DEALER READY (tests/test_heartbeats.cpp).
    assert conn.data_to_send() == READY_DEALER


def test_handshake_with_libzmq_dealer_vectors() -> None:
    conn = ZmtpConnection("ROUTER")
    events = conn.receive_data(GREETING_3_0 + READY_DEALER)
    assert events == [HandshakeComplete(
        peer_socket_type="DEALER", peer_identity=b"",
        metadata={"Socket-Type": b"DEALER", "Identity": b""}, version=(3, 0))]
    assert conn.state is State.TRAFFIC
    assert conn.handshake == events[0]
    assert conn.version == (3, 0)
    assert conn.peer_greeting is not None and conn.peer_greeting.minor == 0


def test_two_connections_handshake_and_exchange() -> None:
    a, b = pair("DEALER", "ROUTER")
    assert b.handshake is not None and b.handshake.peer_socket_type == "DEALER"
    a.send_message([b"hello", b"world"])
    assert b.receive_data(a.data_to_send()) == [Message([b"hello", b"world"])]
    b.send_message([b"reply"])
    assert a.receive_data(b.data_to_send()) == [Message([b"reply"])]


def test_identity_is_sent_by_dealer_and_reported() -> None:
    a = ZmtpConnection("DEALER", identity=b"client-7")
    b = ZmtpConnection("ROUTER")
    b.receive_data(a.data_to_send())
    a.receive_data(b.data_to_send())
    [event] = b.receive_data(a.data_to_send())
    assert isinstance(event, HandshakeComplete)
    assert event.peer_identity == b"client-7"


def test_pair_does_not_send_identity() -> None:
    conn = ZmtpConnection("PAIR", identity=b"ignored")
    conn.receive_data(GREETING_3_1)
    wire = conn.data_to_send()
    assert b"Identity" not in wire and b"ignored" not in wire


def test_extra_metadata_reaches_the_peer() -> None:
    a = ZmtpConnection("PUSH", metadata={"X-Service": b"quotes"})
    b = ZmtpConnection("PULL")
    b.receive_data(a.data_to_send())
    a.receive_data(b.data_to_send())
    [event] = b.receive_data(a.data_to_send())
    assert isinstance(event, HandshakeComplete)
    assert event.metadata["X-Service"] == b"quotes"


def test_handshake_is_chunking_independent() -> None:
    wire = GREETING_3_1 + ready("PAIR") + encode_messages([[b"a" * 300, b"b"], [b"c"]]) \
        + PING_LOL
    expected = ZmtpConnection("PAIR").receive_data(wire)
    assert len(expected) == 4
    for chunk in (1, 2, 7, 63, 64, 65, 100):
        assert feed_in_chunks(ZmtpConnection("PAIR"), wire, chunk) == expected


def test_events_after_ready_in_the_same_chunk() -> None:
    conn = ZmtpConnection("PULL")
    events = conn.receive_data(GREETING_3_1 + ready("PUSH") + encode_messages([[b"x"]]))
    assert [type(e) for e in events] == [HandshakeComplete, Message]


def test_higher_version_peer_is_spoken_to_as_3_1() -> None:
    conn = ZmtpConnection("SUB")
    [event] = conn.receive_data(encode_greeting(major=4, minor=0) + ready("PUB"))
    assert isinstance(event, HandshakeComplete) and event.version == (3, 1)


@pytest.mark.parametrize(("ours", "theirs"), [
    ("PUB", "PUB"), ("REQ", "REQ"), ("PUSH", "PUSH"), ("PAIR", "DEALER"), ("SUB", "SUB")])
def test_incompatible_socket_types_fail_the_connection(ours: str, theirs: str) -> None:
    conn = ZmtpConnection(ours)
    with pytest.raises(ProtocolError, match=f"'{theirs}' is incompatible with our {ours}"):
        conn.receive_data(GREETING_3_1 + ready(theirs))
    assert conn.state is State.FAILED


@pytest.mark.parametrize("mechanism", ["PLAIN", "CURVE"])
def test_mismatched_mechanisms_are_refused(mechanism: str) -> None:
    conn = ZmtpConnection("PAIR")
    with pytest.raises(ProtocolError, match=f"{mechanism} security mechanism.*uses NULL"):
        conn.receive_data(encode_greeting(mechanism))
    assert conn.data_to_send() == GREETING_3_1  # no READY for a peer we refuse


def test_message_frame_during_handshake_is_refused() -> None:
    conn = ZmtpConnection("PAIR")
    with pytest.raises(ProtocolError, match="got a message frame"):
        conn.receive_data(GREETING_3_1 + encode_messages([[b"early"]]))


def test_unexpected_command_during_handshake_is_refused() -> None:
    conn = ZmtpConnection("PAIR")
    with pytest.raises(ProtocolError, match="b'PING' command during the NULL handshake"):
        conn.receive_data(GREETING_3_1 + PING_LOL)


def test_garbage_greeting_fails_and_stays_failed() -> None:
    conn = ZmtpConnection("PAIR")
    with pytest.raises(ProtocolError, match="byte 0"):
        conn.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    assert conn.state is State.FAILED
    with pytest.raises(ProtocolError, match="already failed.*byte 0"):
        conn.receive_data(GREETING_3_1)


def test_zmtp_2_peer_is_refused_with_a_clear_error() -> None:
    conn = ZmtpConnection("PAIR")
    with pytest.raises(ProtocolError, match="major version 1"):
        conn.receive_data(b"\xff" + bytes(8) + b"\x7f\x01\x00")


# -- traffic -----------------------------------------------------------------------------------

def test_send_before_handshake_raises() -> None:
    conn = ZmtpConnection("PAIR")
    with pytest.raises(LocalProtocolError, match="wait for the HandshakeComplete"):
        conn.send_message([b"x"])
    conn.receive_data(GREETING_3_1)
    for call in (lambda: conn.send_message([b"x"]), lambda: conn.send_messages([[b"x"]]),
                 lambda: conn.send_ping(1.0), lambda: conn.send_pong(b"")):
        with pytest.raises(LocalProtocolError, match="state HANDSHAKE"):
            call()


def test_send_message_validates_frames() -> None:
    conn = in_traffic("PAIR", "PAIR")
    with pytest.raises(TypeError):
        conn.send_message(b"not a list of frames")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        conn.send_message(["text"])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        conn.send_message([])
    assert conn.data_to_send() == b""


def test_send_messages_batches_into_one_buffer_all_or_nothing() -> None:
    conn = in_traffic("PUSH", "PULL")
    conn.send_messages([[b"m%d" % i] for i in range(1000)])
    wire = conn.data_to_send()
    assert wire == encode_messages([[b"m%d" % i] for i in range(1000)])
    with pytest.raises(ValueError):
        conn.send_messages([[b"ok"], []])
    assert conn.data_to_send() == b""


def test_long_frames_over_255_and_over_one_megabyte() -> None:
    a, b = pair("PAIR", "PAIR")
    big = bytes(range(256)) * 8192  # 2 MB
    a.send_message([b"x" * 256, big, b""])
    wire = a.data_to_send()
    assert feed_in_chunks(b, wire, 65536) == [Message([b"x" * 256, big, b""])]


def test_multipart_assembly_across_chunks() -> None:
    conn = in_traffic("PULL", "PUSH")
    wire = encode_messages([[b"a", b"b", b"c"]])
    assert conn.receive_data(wire[:5]) == []
    assert conn.receive_data(wire[5:]) == [Message([b"a", b"b", b"c"])]


def test_command_between_frames_of_a_message() -> None:
    # libzmq's heartbeat timer can put a PING between two frames of a multipart message.
    conn = in_traffic("PAIR", "PAIR")
    wire = encode_messages([[b"first", b"second"]])
    first_frame = wire[:7]
    events = conn.receive_data(first_frame + PING_LOL + wire[7:])
    assert events == [Ping(0.0, b"LOL"), Message([b"first", b"second"])]


def test_maxmsgsize_per_frame() -> None:
    conn = in_traffic("PAIR", "PAIR", maxmsgsize=100)
    assert conn.receive_data(encode_messages([[b"x" * 100, b"y" * 100]])) == [
        Message([b"x" * 100, b"y" * 100])]
    with pytest.raises(ProtocolError, match="101 bytes exceeds maxmsgsize 100"):
        conn.receive_data(encode_messages([[b"x" * 101]]))
    assert conn.state is State.FAILED


def test_maxmsgsize_applies_to_the_handshake_ready() -> None:
    conn = ZmtpConnection("PAIR", maxmsgsize=10)
    with pytest.raises(ProtocolError, match="maxmsgsize"):
        conn.receive_data(GREETING_3_1 + ready("PAIR"))


def test_reserved_flag_bits_fail_the_connection() -> None:
    conn = in_traffic("PAIR", "PAIR")
    with pytest.raises(ProtocolError, match="reserved bits"):
        conn.receive_data(b"\x10\x01x")
    with pytest.raises(ProtocolError, match="already failed"):
        conn.receive_data(encode_messages([[b"fine"]]))


def test_unknown_commands_and_late_ready_are_ignored_like_libzmq() -> None:
    conn = in_traffic("PAIR", "PAIR")
    wire = command(b"JOIN", b"group") + command(b"X-WHATEVER") + ready("PAIR") \
        + encode_command_frame(b"\x00") + encode_messages([[b"after"]])
    assert conn.receive_data(wire) == [Message([b"after"])]


@pytest.mark.parametrize("body", [b"", b"\x09SUB"])
def test_malformed_command_in_traffic_fails(body: bytes) -> None:
    conn = in_traffic("PAIR", "PAIR")
    with pytest.raises(ProtocolError, match="command"):
        conn.receive_data(encode_command_frame(body))


# -- heartbeats --------------------------------------------------------------------------------

def test_ping_is_reported_not_answered_and_answer_ping_matches_libzmq() -> None:
    conn = in_traffic("ROUTER", "DEALER")
    [event] = conn.receive_data(PING_LOL)
    assert event == Ping(ttl=0.0, context=b"LOL")
    assert conn.data_to_send() == b""
    assert isinstance(event, Ping)
    conn.answer_ping(event)
    assert conn.data_to_send() == PONG_LOL  # tests/test_heartbeats.cpp expects these bytes


def test_ping_ttl_is_reported_in_seconds() -> None:
    conn = in_traffic("PAIR", "PAIR")
    [event] = conn.receive_data(command(b"PING", b"\x00\x19"))
    assert event == Ping(ttl=2.5, context=b"")


def test_long_ping_context_is_truncated_like_libzmq() -> None:
    conn = in_traffic("PAIR", "PAIR")
    [event] = conn.receive_data(command(b"PING", b"\x00\x00" + b"c" * 40))
    assert isinstance(event, Ping) and event.context == b"c" * 16


def test_short_ping_fails() -> None:
    conn = in_traffic("PAIR", "PAIR")
    with pytest.raises(ProtocolError, match="2-byte TTL"):
        conn.receive_data(command(b"PING", b"\x01"))


def test_pong_event() -> None:
    conn = in_traffic("PAIR", "PAIR")
    assert conn.receive_data(PONG_LOL) == [Pong(b"LOL")]


@pytest.mark.parametrize(("ttl", "wire_ttl"), [
    (0, b"\x00\x00"), (0.1, b"\x00\x01"), (0.19, b"\x00\x01"), (2.3, b"\x00\x17"),
    (6553.5, b"\xff\xff")])
def test_send_ping_encodes_deciseconds(ttl: float, wire_ttl: bytes) -> None:
    conn = in_traffic("PAIR", "PAIR")
    conn.send_ping(ttl, b"ctx")
    assert conn.data_to_send() == command(b"PING", wire_ttl + b"ctx")


@pytest.mark.parametrize(("ttl", "context"), [(-0.1, b""), (6553.6, b""), (1, b"x" * 17)])
def test_send_ping_rejects_bad_arguments(ttl: float, context: bytes) -> None:
    conn = in_traffic("PAIR", "PAIR")
    with pytest.raises(ValueError):
        conn.send_ping(ttl, context)


def test_ping_pong_between_two_connections() -> None:
    a, b = pair("PAIR", "PAIR")
    a.send_ping(10, b"seq-1")
    [ping] = b.receive_data(a.data_to_send())
    assert ping == Ping(10.0, b"seq-1")
    assert isinstance(ping, Ping)
    b.answer_ping(ping)
    assert a.receive_data(b.data_to_send()) == [Pong(b"seq-1")]


# -- publish/subscribe ------------------------------------------------------------------------

def test_sub_sends_commands_to_a_3_1_peer() -> None:
    conn = in_traffic("SUB", "PUB", greeting=GREETING_3_1)
    conn.send_subscribe(b"A")
    conn.send_cancel(b"A")
    assert conn.data_to_send() == SUBSCRIBE_A_COMMAND + command(b"CANCEL", b"A")


def test_sub_downgrades_to_messages_for_a_3_0_peer() -> None:
    conn = in_traffic("XSUB", "XPUB", greeting=GREETING_3_0)
    assert conn.version == (3, 0)
    conn.send_subscribe(b"A")
    conn.send_cancel(b"A")
    assert conn.data_to_send() == SUBSCRIBE_A_LEGACY + bytes([0, 2, 0, *b"A"])


@pytest.mark.parametrize("greeting", [GREETING_3_0, GREETING_3_1])
@pytest.mark.parametrize("publisher", ["PUB", "XPUB"])
def test_publisher_accepts_both_subscription_forms(greeting: bytes, publisher: str) -> None:
    # libzmq tests/test_mock_pub_sub.cpp sends both forms after a 3.0 greeting.
    conn = ZmtpConnection(publisher)
    events = conn.receive_data(greeting + READY_SUB + SUBSCRIBE_A_COMMAND + SUBSCRIBE_A_LEGACY
                               + command(b"CANCEL", b"A") + bytes([0, 2, 0, *b"A"]))
    assert events[1:] == [Subscribe(b"A"), Subscribe(b"A"), Cancel(b"A"), Cancel(b"A")]


def test_publisher_reports_empty_topic_and_plain_messages() -> None:
    conn = in_traffic("XPUB", "XSUB")
    events = conn.receive_data(encode_messages([[b"\x01"], [b"\x02data"], [b""],
                                                [b"\x01multi", b"part"]]))
    assert events == [Subscribe(b""), Message([b"\x02data"]), Message([b""]),
                      Message([b"\x01multi", b"part"])]


def test_non_publishers_treat_subscription_bytes_as_data() -> None:
    conn = in_traffic("SUB", "XPUB")
    events = conn.receive_data(SUBSCRIBE_A_LEGACY + SUBSCRIBE_A_COMMAND + b"\x00\x04ALOL")
    assert events == [Message([b"\x01A"]), Message([b"ALOL"])]


def test_publisher_side_sends_data_to_subscriber() -> None:
    sub, pub = pair("SUB", "XPUB")
    sub.send_subscribe(b"t")
    assert pub.receive_data(sub.data_to_send()) == [Subscribe(b"t")]
    pub.send_message([b"t-1"])
    assert sub.receive_data(pub.data_to_send()) == [Message([b"t-1"])]


@pytest.mark.parametrize("socket_type", ["PUB", "XPUB", "PAIR", "DEALER"])
def test_only_subscribers_send_subscriptions(socket_type: str) -> None:
    peer = {"PUB": "SUB", "XPUB": "SUB", "PAIR": "PAIR", "DEALER": "ROUTER"}[socket_type]
    conn = in_traffic(socket_type, peer)
    with pytest.raises(LocalProtocolError, match="only SUB and XSUB"):
        conn.send_subscribe(b"x")
    with pytest.raises(LocalProtocolError, match="only SUB and XSUB"):
        conn.send_cancel(b"x")


# -- errors and closing ------------------------------------------------------------------------

def test_peer_error_during_handshake_closes() -> None:
    conn = ZmtpConnection("PAIR")
    events = conn.receive_data(GREETING_3_1
                               + encode_command_frame(commands.encode_error("no thanks"))
                               + b"\xff ignored garbage")
    assert events == [PeerError("no thanks")]
    assert conn.state is State.CLOSED
    assert conn.receive_data(b"more garbage") == []
    with pytest.raises(LocalProtocolError, match="state CLOSED"):
        conn.send_message([b"x"])


def test_peer_error_in_traffic_closes() -> None:
    conn = in_traffic("PAIR", "PAIR")
    events = conn.receive_data(encode_messages([[b"last"]])
                               + encode_command_frame(commands.encode_error("bye")))
    assert events == [Message([b"last"]), PeerError("bye")]
    assert conn.state is State.CLOSED


def test_send_error_queues_error_and_closes() -> None:
    a, b = pair("PAIR", "PAIR")
    a.send_error("shutting down")
    assert a.state is State.CLOSED
    assert b.receive_data(a.data_to_send()) == [PeerError("shutting down")]
    with pytest.raises(LocalProtocolError):
        a.send_error("again")


def test_send_error_with_long_reason_does_not_change_state() -> None:
    conn = ZmtpConnection("PAIR")
    with pytest.raises(ValueError):
        conn.send_error("x" * 300)
    assert conn.state is State.GREETING


# -- the transition table, row by row ---------------------------------------------------------

def _to_state(state: State) -> ZmtpConnection:
    conn = ZmtpConnection("PAIR")
    if state is State.GREETING:
        return conn
    conn.receive_data(GREETING_3_1)
    if state is State.HANDSHAKE:
        return conn
    conn.receive_data(ready("PAIR"))
    assert conn.state is State.TRAFFIC
    return conn


def _fire(conn: ZmtpConnection, trigger: Trigger) -> None:
    if trigger is Trigger.PEER_GREETING:
        conn.receive_data(GREETING_3_1)
    elif trigger is Trigger.PEER_READY:
        conn.receive_data(ready("PAIR"))
    elif trigger is Trigger.PEER_ERROR:
        conn.receive_data(encode_command_frame(commands.encode_error("x")))
    elif trigger is Trigger.LOCAL_ERROR:
        conn.send_error("x")
    elif trigger is Trigger.VIOLATION:
        with pytest.raises(ProtocolError):
            conn.receive_data(b"\x80" * 80)


ROWS = [(source, trigger, row.target) for (source, trigger), row in TRANSITIONS.items()]


@pytest.mark.parametrize(("source", "trigger", "target"), ROWS,
                         ids=[f"{s.name}-{t.name}" for s, t, _ in ROWS])
def test_every_transition_row(source: State, trigger: Trigger, target: State) -> None:
    conn = _to_state(source)
    assert conn.state is source
    _fire(conn, trigger)
    assert conn.state is target


@pytest.mark.parametrize("terminal", [State.CLOSED, State.FAILED])
def test_terminal_states_refuse_local_moves(terminal: State) -> None:
    conn = _to_state(State.TRAFFIC)
    _fire(conn, Trigger.LOCAL_ERROR if terminal is State.CLOSED else Trigger.VIOLATION)
    assert conn.state is terminal
    with pytest.raises(LocalProtocolError, match=f"illegal ZMTP connection move {terminal.name} on LOCAL_ERROR"):
        conn.send_error("again")


# -- constructor validation -------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"identity": b"\x00reserved"}, {"identity": b"x" * 256}, {"maxmsgsize": -2},
    {"metadata": {"Socket-Type": b"PUB"}}, {"metadata": {"identity": b"x"}},
    {"metadata": {"": b"x"}},
])
def test_constructor_rejects_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ZmtpConnection("DEALER", **kwargs)  # type: ignore[arg-type]


def test_constructor_rejects_unknown_socket_type() -> None:
    with pytest.raises(ValueError, match="unknown socket type"):
        ZmtpConnection("STREAM")


# -- reading into the decoder ------------------------------------------------------------------


def test_in_traffic_the_engine_reads_into_the_decoder() -> None:
    conn = ZmtpConnection("PULL")
    assert conn.get_buffer() is None  # greeting and handshake: chunks
    with pytest.raises(LocalProtocolError, match="gave no buffer"):
        conn.buffer_updated(1)
    conn.receive_data(GREETING_3_1 + ready("PUSH"))
    view = conn.get_buffer()
    assert view is not None
    wire = encode_messages([[b"one"], [b"two", b"three"]])
    view[:len(wire)] = wire
    view.release()
    [batch] = conn.buffer_updated(len(wire))
    assert isinstance(batch, MessageBatch)
    assert batch.messages == [[b"one"], [b"two", b"three"]]


def test_an_encrypting_mechanism_reads_into_the_buffer_and_chunks() -> None:
    pytest.importorskip("nacl")
    from zreactor.utils.z85 import decode
    from zreactor.zmtp.curve import curve_keypair
    from zreactor.zmtp.events import ZapRequest
    from zreactor.zmtp.security import Security

    server_public, server_secret = (decode(k) for k in curve_keypair())
    client_public, client_secret = (decode(k) for k in curve_keypair())
    server = ZmtpConnection("PULL", mechanism=Security(
        "CURVE", True, secret_key=server_secret).factory())
    client = ZmtpConnection("PUSH", mechanism=Security(
        "CURVE", public_key=client_public, secret_key=client_secret,
        server_key=server_public).factory())
    for _ in range(4):  # the handshake; no ZAP handler (as the engine answers)
        if client.has_data_to_send:
            if any(isinstance(e, ZapRequest) for e in server.receive_data(
                    client.data_to_send())):
                server.zap_unavailable()
        if server.has_data_to_send:
            client.receive_data(server.data_to_send())
    assert server.state is client.state is State.TRAFFIC
    messages = [[b"m%d" % i] for i in range(50)] + [[b"a", b"b" * 300, b"c"], [b"x" * 70_000]]
    client.send_batch(messages)
    wire = client.data_to_send()
    # the boxes open in the read buffer as in chunks, split anywhere (mid-frame included),
    # the two ways in mixed
    got: list[list[bytes]] = []
    for i, cut in enumerate(range(0, len(wire), 997)):
        piece = wire[cut:cut + 997]
        if i % 3:
            view = server.get_buffer()
            assert view is not None
            view[:len(piece)] = piece
            events = server.buffer_updated(len(piece))
        else:
            events = server.receive_batch(piece)
        got += [m for batch in events for m in batch.messages]
    assert got == messages


# -- a lone message (the direct read) ------------------------------------------------------------


def test_receive_lone_gives_the_one_message_receive_batch_would() -> None:
    conn = in_traffic("REQ", "REP")
    wire = encode_messages([[b"", b"reply"]])
    assert conn.receive_lone(wire) == [b"", b"reply"]
    # the stream goes on: the next chunk is decoded as usual
    events = conn.receive_batch(encode_messages([[b"", b"next"]]))
    assert [e.messages for e in events] == [[[b"", b"next"]]]  # type: ignore[attr-defined]


def test_receive_lone_leaves_everything_else_to_receive_batch() -> None:
    conn = in_traffic("REQ", "REP")
    two = encode_messages([[b"", b"a"], [b"", b"b"]])
    assert conn.receive_lone(two) is None  # two messages: nothing consumed
    assert [e.messages for e in conn.receive_batch(two)] == [  # type: ignore[attr-defined]
        [[b"", b"a"], [b"", b"b"]]]
    # a message in progress (its first frame came alone) comes first
    assert conn.receive_batch(b"\x01\x00") == []
    assert conn.receive_lone(encode_messages([[b"", b"c"]])) is None
    assert conn.receive_lone(PING_LOL) is None


def test_receive_lone_refuses_before_traffic_and_for_a_publisher() -> None:
    wire = encode_messages([[b"\x01topic"]])
    assert ZmtpConnection("REQ").receive_lone(wire) is None  # greeting first
    assert in_traffic("XPUB", "SUB").receive_lone(wire) is None  # maybe a subscription
