"""CURVE (RFC 26) in memory: two sans-I/O connections, and the security properties each tested
(replay and reordering, the stateless cookie, no key material in reprs, the missing extra)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("nacl")

import zreactor
from zreactor.errors import ProtocolError
from zreactor.utils import z85
from zreactor.zmtp import commands
from zreactor.zmtp.connection import ZmtpConnection
from zreactor.zmtp.curve import (
    CLIENT_TRANSITIONS,
    SERVER_TRANSITIONS,
    CurveClient,
    CurveServer,
    ServerPhase,
    _CookieKeys,
    curve_keypair,
    curve_public,
)
from zreactor.zmtp.events import HandshakeComplete, Message, ZapRequest
from zreactor.zmtp.frames import FrameDecoder
from zreactor.zmtp.handshake import (
    PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC,
    PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE,
    HandshakeError,
)
from zreactor.zmtp.security import Security
from zreactor.zmtp.state import State

SERVER_PUBLIC, SERVER_SECRET = (z85.decode(k) for k in curve_keypair())
CLIENT_PUBLIC, CLIENT_SECRET = (z85.decode(k) for k in curve_keypair())


def pair(server_secret: bytes = SERVER_SECRET, server_key: bytes = SERVER_PUBLIC,
         zap: bool = False) -> tuple[ZmtpConnection, ZmtpConnection]:
    server_security = Security("CURVE", True, secret_key=server_secret,
                               zap_domain=b"d" if zap else b"")
    client_security = Security("CURVE", public_key=CLIENT_PUBLIC, secret_key=CLIENT_SECRET,
                               server_key=server_key)
    server = ZmtpConnection("REP", mechanism=server_security.factory())
    client = ZmtpConnection("REQ", mechanism=client_security.factory())
    return client, server


def pump(a: ZmtpConnection, b: ZmtpConnection, answer_zap: bool = True) -> tuple[list, list]:
    """Move bytes both ways until nothing moves; return the events each side saw. A ZAP
    request from ``b`` is answered as the engine does when no handler is bound."""
    seen_a: list = []
    seen_b: list = []
    while a.has_data_to_send or b.has_data_to_send:
        if a.has_data_to_send:
            new = b.receive_data(a.data_to_send())
            seen_b += new
            if answer_zap and any(isinstance(e, ZapRequest) for e in new):
                seen_b += b.zap_unavailable()
        if b.has_data_to_send:
            seen_a += a.receive_data(b.data_to_send())
    return seen_a, seen_b


def handshake() -> tuple[ZmtpConnection, ZmtpConnection]:
    client, server = pair()
    seen_c, seen_s = pump(client, server)
    assert any(isinstance(e, HandshakeComplete) for e in seen_c)
    assert any(isinstance(e, HandshakeComplete) for e in seen_s)
    return client, server


def test_handshake_and_messages_both_ways() -> None:
    client, server = handshake()
    assert client.state is server.state is State.TRAFFIC
    client.send_message([b"hello", b"world"])
    events = server.receive_data(client.data_to_send())
    assert events == [Message([b"hello", b"world"])]
    server.send_message([b"back"])
    assert client.receive_data(server.data_to_send()) == [Message([b"back"])]
    assert server.mechanism.client_key == CLIENT_PUBLIC


def test_ping_and_subscriptions_travel_boxed() -> None:
    client, server = handshake()
    client.send_ping(1.0, b"ctx")
    (ping,) = server.receive_data(client.data_to_send())
    server.answer_ping(ping)
    (pong,) = client.receive_data(server.data_to_send())
    assert pong.context == b"ctx"


def message_frames(conn: ZmtpConnection) -> list[bytes]:
    """The wire bytes of each frame ``conn`` queued."""
    wire = conn.data_to_send()
    frames = FrameDecoder().feed(wire)
    out = []
    for flags, body in frames:
        header = bytes((flags,)) + (bytes((len(body),)) if len(body) < 256 else b"")
        assert len(body) < 256
        out.append(header + body)
    return out


def test_replayed_message_drops_the_connection() -> None:
    client, server = handshake()
    client.send_message([b"once"])
    (frame,) = message_frames(client)
    assert server.receive_data(frame) == [Message([b"once"])]
    with pytest.raises(HandshakeError) as info:
        server.receive_data(frame)
    assert info.value.code == PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE
    assert server.state is State.FAILED


def test_reordered_messages_drop_the_connection() -> None:
    client, server = handshake()
    client.send_message([b"first"])
    client.send_message([b"second"])
    first, second = message_frames(client)
    assert server.receive_data(second) == [Message([b"second"])]
    with pytest.raises(HandshakeError) as info:
        server.receive_data(first)
    assert info.value.code == PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE


def test_nonces_strictly_increase_and_never_repeat() -> None:
    client, server = handshake()
    for i in range(50):
        client.send_message([b"m%d" % i])
    nonces = [int.from_bytes(f[2 + 8:2 + 16], "big") for f in message_frames(client)]
    assert nonces == sorted(set(nonces)) and len(nonces) == 50
    assert nonces[0] == 3  # HELLO used 1, INITIATE 2 (libzmq's counter)


def test_tampered_box_is_cryptographic_error() -> None:
    client, server = handshake()
    client.send_message([b"x" * 40])
    (frame,) = message_frames(client)
    bad = frame[:-1] + bytes((frame[-1] ^ 1,))
    with pytest.raises(HandshakeError) as info:
        server.receive_data(bad)
    assert info.value.code == PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC


def test_wrong_server_key_fails_at_hello() -> None:
    other_public = z85.decode(curve_keypair()[0])
    client, server = pair(server_key=other_public)
    with pytest.raises(HandshakeError) as info:
        pump(client, server)
    assert info.value.code == PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC
    assert "wrong server key" in str(info.value)


def test_server_keeps_no_client_state_between_welcome_and_initiate() -> None:
    """RFC 26: C' and s' leave in the cookie; the server holds nothing about the client."""
    client, server = pair()
    server.receive_data(client.data_to_send())  # the client's greeting
    client.receive_data(server.data_to_send())  # the server's: the client queues HELLO
    server.receive_data(client.data_to_send())  # HELLO: WELCOME queued
    mechanism = server.mechanism
    assert mechanism.phase is ServerPhase.WAIT_INITIATE
    assert mechanism.stored_client_state() == ()
    assert not any(isinstance(v, bytes) and len(v) == 32 and v != mechanism._public
                   and v != mechanism._secret for v in vars(mechanism).values())
    # the INITIATE brings them back: the handshake still completes
    seen_c, seen_s = pump(client, server)
    assert any(isinstance(e, HandshakeComplete) for e in seen_s + seen_c)


def test_cookie_from_an_expired_key_is_refused() -> None:
    now = [0.0]
    keys = _CookieKeys(clock=lambda: now[0])
    server = CurveServer("REP", secret_key=SERVER_SECRET, cookie_keys=keys)
    client = CurveClient("REQ", public_key=CLIENT_PUBLIC, secret_key=CLIENT_SECRET,
                         server_key=SERVER_PUBLIC)
    client.start()
    (hello,) = client.take_commands()
    server.process_command(*commands.decode_command(hello))
    (welcome,) = server.take_commands()
    client.process_command(*commands.decode_command(welcome))
    (initiate,) = client.take_commands()
    now[0] = 130.0  # two rotations later: the key that sealed the cookie is gone
    with pytest.raises(HandshakeError, match="cookie"):
        server.process_command(*commands.decode_command(initiate))


def test_zap_request_carries_the_client_key() -> None:
    client, server = pair(zap=True)
    seen_c, seen_s = pump(client, server, answer_zap=False)
    (request,) = [e for e in seen_s if isinstance(e, ZapRequest)]
    assert request.frames[6:] == [b"CURVE", CLIENT_PUBLIC]
    assert "CURVE" not in repr(request) and str(CLIENT_PUBLIC) not in repr(request)
    events = server.zap_reply([b"", b"1.0", b"1", b"200", b"OK", b"user", b""])
    assert any(isinstance(e, HandshakeComplete) for e in events)
    seen_c, _ = pump(client, server)
    assert any(isinstance(e, HandshakeComplete) for e in seen_c)


def test_key_material_never_in_reprs() -> None:
    secrets = [SERVER_SECRET, CLIENT_SECRET, z85.encode(SERVER_SECRET), z85.encode(CLIENT_SECRET)]
    client, server = handshake()
    ctx = zreactor.Context()
    try:
        sock = ctx.socket(zreactor.REQ)
        sock.curve_secretkey = CLIENT_SECRET
        sock.plain_password = b"hunter2"
        texts = [repr(client.mechanism), repr(server.mechanism), repr(sock), repr(sock.options),
                 repr(Security("CURVE", secret_key=SERVER_SECRET, password=b"hunter2"))]
        sock.close()
    finally:
        ctx.term()
    for text in texts:
        assert "hunter2" not in text
        for secret in secrets:
            assert str(secret)[2:-1] not in text and repr(secret) not in text


def test_curve_keypair_and_public() -> None:
    public, secret = zreactor.curve_keypair()
    assert len(public) == len(secret) == 40
    assert zreactor.curve_public(secret) == public
    assert zreactor.curve_public(z85.decode(secret)) == public


def test_tables_render() -> None:
    from zreactor.reactor.fsm import render_mermaid

    assert "HELLO_SENT" in render_mermaid(CLIENT_TRANSITIONS)
    assert "WAIT_INITIATE" in render_mermaid(SERVER_TRANSITIONS)


def test_without_pynacl_curve_options_name_the_extra() -> None:
    code = (
        "import sys; sys.modules['nacl'] = None\n"
        "import zreactor\n"
        "assert not zreactor.has('curve')\n"
        "ctx = zreactor.Context(); s = ctx.socket(zreactor.REQ)\n"
        "try:\n"
        "    s.curve_server = True\n"
        "except zreactor.ZMQError as e:\n"
        "    print(e.errno == zreactor.ENOTSUP, str(e))\n"
        "s.close(); ctx.term()\n"
        "s2 = zreactor.Context().socket(zreactor.REQ); s2.plain_server = True  # PLAIN is fine\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=50, cwd=".")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("True") and "zreactor[curve]" in out.stdout


def test_incomplete_curve_client_fails_at_connect() -> None:
    ctx = zreactor.Context()
    try:
        sock = ctx.socket(zreactor.REQ)
        sock.curve_serverkey = SERVER_PUBLIC
        with pytest.raises(zreactor.ZMQError, match="CURVE_PUBLICKEY, CURVE_SECRETKEY"):
            sock.connect("tcp://127.0.0.1:1")
        sock.close(linger=0)
    finally:
        ctx.term()


def test_a_malformed_hello_is_a_protocol_error() -> None:
    _, server = pair()
    from zreactor.zmtp.frames import encode_command_frame
    from zreactor.zmtp.greeting import encode_greeting

    with pytest.raises(ProtocolError):
        server.receive_data(encode_greeting("CURVE") + encode_command_frame(b"\x05HELLO\x01\x00"))


def test_zap_enforce_domain() -> None:
    """libzmq 4.3: enforce + domain + no handler refuses; enforce without a domain skips ZAP."""
    enforced = Security("CURVE", True, secret_key=SERVER_SECRET, zap_domain=b"d",
                        zap_enforce=True)
    client = ZmtpConnection("REQ", mechanism=Security(
        "CURVE", public_key=CLIENT_PUBLIC, secret_key=CLIENT_SECRET,
        server_key=SERVER_PUBLIC).factory())
    server = ZmtpConnection("REP", mechanism=enforced.factory())
    with pytest.raises(HandshakeError) as info:
        pump(client, server)
    assert info.value.code is None  # HANDSHAKE_FAILED_NO_DETAIL, EFAULT
    no_domain = Security("CURVE", True, secret_key=SERVER_SECRET, zap_enforce=True)
    client = ZmtpConnection("REQ", mechanism=Security(
        "CURVE", public_key=CLIENT_PUBLIC, secret_key=CLIENT_SECRET,
        server_key=SERVER_PUBLIC).factory())
    server = ZmtpConnection("REP", mechanism=no_domain.factory())
    seen_c, seen_s = pump(client, server, answer_zap=False)
    assert not any(isinstance(e, ZapRequest) for e in seen_s)
    assert any(isinstance(e, HandshakeComplete) for e in seen_c)
