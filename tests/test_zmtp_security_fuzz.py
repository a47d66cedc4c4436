"""Fuzzing the security mechanisms: every handshake command of NULL/PLAIN/CURVE in both
roles, ZAP replies, and CURVE MESSAGE boxes. Whatever the bytes, the codec raises
ProtocolError or reports events; nothing else escapes. Over real sockets, a peer that sends
garbage is dropped and a well-behaved peer of the same server is not disturbed."""

from __future__ import annotations

import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zreactor
from zreactor.errors import ProtocolError
from zreactor.utils import z85
from zreactor.zmtp import commands
from zreactor.zmtp.connection import ZmtpConnection
from zreactor.zmtp.events import ZapRequest
from zreactor.zmtp.frames import encode_command_frame, encode_messages
from zreactor.zmtp.greeting import encode_greeting
from zreactor.zmtp.security import Security
from zreactor.zmtp.state import State

pytestmark = pytest.mark.timeout(60)
nacl = pytest.importorskip("nacl")

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
SERVER_PUBLIC, SERVER_SECRET = (z85.decode(k) for k in zreactor.curve_keypair())
CLIENT_PUBLIC, CLIENT_SECRET = (z85.decode(k) for k in zreactor.curve_keypair())

SECURITIES = {
    "NULL": Security("NULL", zap_domain=b"d"),
    "PLAIN-server": Security("PLAIN", True),
    "PLAIN-client": Security("PLAIN", username=b"u", password=b"p"),
    "CURVE-server": Security("CURVE", True, secret_key=SERVER_SECRET),
    "CURVE-client": Security("CURVE", public_key=CLIENT_PUBLIC, secret_key=CLIENT_SECRET,
                             server_key=SERVER_PUBLIC),
}
NAMES = [b"HELLO", b"WELCOME", b"INITIATE", b"READY", b"ERROR", b"MESSAGE", b"PING", b"X"]


def connection(kind: str) -> ZmtpConnection:
    return ZmtpConnection("DEALER", mechanism=SECURITIES[kind].factory())


def feed(conn: ZmtpConnection, data: bytes) -> None:
    """Only events or ProtocolError; a failure is sticky."""
    try:
        events = conn.receive_data(data)
    except ProtocolError:
        assert conn.state is State.FAILED
        with pytest.raises(ProtocolError):
            conn.receive_data(b"x")
        return
    for event in events:
        if isinstance(event, ZapRequest):
            try:
                conn.zap_unavailable()
            except ProtocolError:
                return


@FUZZ
@given(kind=st.sampled_from(sorted(SECURITIES)), name=st.sampled_from(NAMES),
       data=st.binary(max_size=300), more=st.binary(max_size=64))
def test_any_handshake_command_is_an_event_or_a_protocol_error(
        kind: str, name: bytes, data: bytes, more: bytes) -> None:
    mechanism = kind.split("-")[0]
    conn = connection(kind)
    wire = encode_greeting(mechanism) + encode_command_frame(commands.encode_command(name, data))
    feed(conn, wire + more)


@FUZZ
@given(kind=st.sampled_from(sorted(SECURITIES)), data=st.binary(max_size=400))
def test_raw_bytes_after_the_greeting(kind: str, data: bytes) -> None:
    feed(connection(kind), encode_greeting(kind.split("-")[0]) + data)


@FUZZ
@given(frames=st.lists(st.binary(max_size=20), max_size=9))
def test_any_zap_reply_is_judged_or_refused(frames: list[bytes]) -> None:
    conn = connection("PLAIN-server")
    events = conn.receive_data(encode_greeting("PLAIN") + encode_command_frame(
        commands.encode_command(b"HELLO", b"\x01u\x01p")))
    assert any(isinstance(e, ZapRequest) for e in events)
    try:
        conn.zap_reply(frames)
    except ProtocolError:
        assert conn.state is State.FAILED


def curve_pair() -> tuple[ZmtpConnection, ZmtpConnection]:
    client, server = connection("CURVE-client"), connection("CURVE-server")
    while client.has_data_to_send or server.has_data_to_send:
        if client.has_data_to_send:
            for event in server.receive_data(client.data_to_send()):
                if isinstance(event, ZapRequest):
                    server.zap_unavailable()
        if server.has_data_to_send:
            client.receive_data(server.data_to_send())
    assert client.state is server.state is State.TRAFFIC
    return client, server


@FUZZ
@given(body=st.binary(max_size=200), flip=st.integers(0, 10_000), prefix=st.booleans())
def test_curve_message_boxes(body: bytes, flip: int, prefix: bool) -> None:
    """A forged, truncated or bit-flipped MESSAGE fails the connection, nothing else."""
    client, server = curve_pair()
    client.send_message([b"payload"])
    good = client.data_to_send()
    if prefix:  # a real box with one bit flipped
        pos = flip % len(good)
        data = good[:pos] + bytes((good[pos] ^ (1 << (flip % 8)),)) + good[pos + 1:]
    else:  # anything after a MESSAGE name
        data = encode_messages([[b"\x07MESSAGE" + body]])
    try:
        server.receive_data(data)
    except ProtocolError:
        assert server.state is State.FAILED


# -- over real sockets: the I/O thread survives, other peers are unaffected -----------------

def good_round_trip(server, port: int, client_ctx) -> None:
    client = client_ctx.socket(zreactor.DEALER)
    client.curve_serverkey = SERVER_PUBLIC
    client.curve_publickey = CLIENT_PUBLIC
    client.curve_secretkey = CLIENT_SECRET
    client.linger = 0
    client.rcvtimeo = 3000
    client.connect(f"tcp://127.0.0.1:{port}")
    try:
        client.send(b"still here?")
        ident, body = server.recv_multipart()
        assert body == b"still here?"
        server.send_multipart([ident, b"yes"])
        assert client.recv() == b"yes"
    finally:
        client.close()


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(bad_peers=st.lists(st.tuples(st.sampled_from(NAMES[:5]), st.binary(max_size=300)),
                          min_size=1, max_size=4))
def test_bad_peer_is_dropped_and_others_unaffected(bad_peers: list[tuple[bytes, bytes]]) -> None:
    ctx = zreactor.Context()
    server = ctx.socket(zreactor.ROUTER)
    server.curve_server = True
    server.curve_secretkey = SERVER_SECRET
    server.linger = 0
    server.rcvtimeo = 3000
    port = server.bind_to_random_port("tcp://127.0.0.1")
    try:
        for name, data in bad_peers:
            drop_bad_peer(port, name, data)
        good_round_trip(server, port, ctx)
    finally:
        server.close()
        ctx.term()


def drop_bad_peer(port: int, name: bytes, data: bytes) -> None:
    bad = socket.create_connection(("127.0.0.1", port), timeout=3)
    try:
        bad.sendall(encode_greeting("CURVE") + encode_command_frame(
            commands.encode_command(name, data)))
        # the server closes on us (EOF or reset) well before the handshake timeout
        deadline = time.monotonic() + 3
        closed = False
        while time.monotonic() < deadline and not closed:
            try:
                closed = bad.recv(4096) == b""
            except (ConnectionResetError, TimeoutError):
                closed = True
        assert closed
    finally:
        bad.close()
