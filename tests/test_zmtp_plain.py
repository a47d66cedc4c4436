"""PLAIN (RFC 24) and NULL-with-ZAP in memory: the handshakes, every ZAP verdict, the ZAP
reply checks with libzmq's codes, and commands out of order."""

from __future__ import annotations

import pytest

from zreactor.errors import ProtocolError
from zreactor.zmtp import commands
from zreactor.zmtp.connection import ZmtpConnection
from zreactor.zmtp.events import AuthFailed, HandshakeComplete, PeerError, ZapRequest
from zreactor.zmtp.frames import encode_command_frame
from zreactor.zmtp.greeting import encode_greeting
from zreactor.zmtp.handshake import (
    PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID,
    PROTOCOL_ERROR_ZAP_BAD_VERSION,
    PROTOCOL_ERROR_ZAP_INVALID_METADATA,
    PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE,
    PROTOCOL_ERROR_ZAP_MALFORMED_REPLY,
    PROTOCOL_ERROR_ZAP_UNSPECIFIED,
    PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO,
    PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND,
    HandshakeError,
)
from zreactor.zmtp.plain import LIBZMQ_ERROR_PREFIX, decode_hello, encode_hello
from zreactor.zmtp.security import Security
from zreactor.zmtp.state import State

OK = [b"", b"1.0", b"1", b"200", b"OK", b"alice", b"\x04Role\x00\x00\x00\x05admin"]


def plain_pair() -> tuple[ZmtpConnection, ZmtpConnection]:
    server = ZmtpConnection("ROUTER", mechanism=Security(
        "PLAIN", True, zap_domain=b"dom", peer_address=b"10.0.0.1", routing_id=b"srv").factory())
    client = ZmtpConnection("DEALER", identity=b"me", mechanism=Security(
        "PLAIN", username=b"alice", password=b"pw").factory())
    return client, server


def pump(a: ZmtpConnection, b: ZmtpConnection) -> tuple[list, list]:
    seen_a: list = []
    seen_b: list = []
    while a.has_data_to_send or b.has_data_to_send:
        if a.has_data_to_send:
            seen_b += b.receive_data(a.data_to_send())
        if b.has_data_to_send:
            seen_a += a.receive_data(b.data_to_send())
    return seen_a, seen_b


def asked(client: ZmtpConnection, server: ZmtpConnection) -> ZapRequest:
    _, seen = pump(client, server)
    (request,) = [e for e in seen if isinstance(e, ZapRequest)]
    return request


def test_plain_handshake_with_zap_200() -> None:
    client, server = plain_pair()
    request = asked(client, server)
    assert request.frames == [b"", b"1.0", b"1", b"dom", b"10.0.0.1", b"srv", b"PLAIN",
                              b"alice", b"pw"]
    assert b"pw" not in repr(request).encode()
    assert server.zap_reply(OK) == []  # WELCOME queued; the server waits for INITIATE
    seen_c, seen_s = pump(client, server)
    (done_c,) = [e for e in seen_c if isinstance(e, HandshakeComplete)]
    (done_s,) = [e for e in seen_s if isinstance(e, HandshakeComplete)]
    assert done_s.peer_identity == b"me" and done_s.peer_socket_type == "DEALER"
    assert done_c.peer_socket_type == "ROUTER"
    assert server.mechanism.user_id == b"alice"
    assert server.mechanism.zap_metadata == {"Role": b"admin"}
    client.send_message([b"hi"])
    assert server.receive_data(client.data_to_send())[0].frames == [b"hi"]


@pytest.mark.parametrize("status", [400, 500])
def test_plain_refusal_sends_error_in_libzmqs_spelling(status: int) -> None:
    client, server = plain_pair()
    asked(client, server)
    reply = [b"", b"1.0", b"1", str(status).encode(), b"no", b"", b""]
    assert server.zap_reply(reply) == [AuthFailed(status, "refused by the ZAP handler")]
    assert server.state is State.CLOSED
    wire = server.data_to_send()
    assert LIBZMQ_ERROR_PREFIX + b"\x03" + str(status).encode() in wire
    (error,) = client.receive_data(wire)
    assert error == PeerError(str(status))  # our client reads libzmq's spelling


def test_plain_300_closes_silently() -> None:
    client, server = plain_pair()
    asked(client, server)
    assert server.zap_reply([b"", b"1.0", b"1", b"300", b"later", b"", b""]) == [
        AuthFailed(300, "refused by the ZAP handler")]
    assert server.data_to_send() == b""


@pytest.mark.parametrize(("reply", "code"), [
    ([b"", b"1.0", b"1", b"200", b"OK", b""], PROTOCOL_ERROR_ZAP_MALFORMED_REPLY),
    ([b"x", b"1.0", b"1", b"200", b"OK", b"", b""], PROTOCOL_ERROR_ZAP_UNSPECIFIED),
    ([b"", b"2.0", b"1", b"200", b"OK", b"", b""], PROTOCOL_ERROR_ZAP_BAD_VERSION),
    ([b"", b"1.0", b"7", b"200", b"OK", b"", b""], PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID),
    ([b"", b"1.0", b"1", b"201", b"OK", b"", b""], PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE),
    ([b"", b"1.0", b"1", b"200", b"OK", b"", b"\x09trunc"], PROTOCOL_ERROR_ZAP_INVALID_METADATA),
])
def test_malformed_zap_replies_carry_libzmqs_codes(reply: list[bytes], code: int) -> None:
    client, server = plain_pair()
    asked(client, server)
    with pytest.raises(HandshakeError) as info:
        server.zap_reply(reply)
    assert info.value.code == code
    assert server.state is State.FAILED


def test_plain_server_without_handler() -> None:
    client, server = plain_pair()
    asked(client, server)
    with pytest.raises(HandshakeError) as info:
        server.zap_unavailable()
    assert info.value.code is None and info.value.errno  # NO_DETAIL, EFAULT


def test_commands_out_of_order_are_unexpected() -> None:
    _, server = plain_pair()
    wire = encode_greeting("PLAIN") + encode_command_frame(
        commands.encode_command(b"INITIATE", b""))
    with pytest.raises(HandshakeError) as info:
        server.receive_data(wire)
    assert info.value.code == PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND


@pytest.mark.parametrize("data", [b"", b"\x05ab", b"\x01a", b"\x01a\x01bc"])
def test_malformed_hello(data: bytes) -> None:
    with pytest.raises(HandshakeError) as info:
        decode_hello(data)
    assert info.value.code == PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO


def test_hello_round_trip() -> None:
    body = encode_hello(b"user", b"")
    name, data = commands.decode_command(body)
    assert name == b"HELLO" and decode_hello(data) == (b"user", b"")


def test_null_with_zap_waits_for_the_verdict_and_keeps_an_early_ready() -> None:
    server = ZmtpConnection("REP", mechanism=Security("NULL", zap_domain=b"d").factory())
    client = ZmtpConnection("REQ")
    seen_c, seen_s = pump(client, server)
    assert [type(e) for e in seen_s] == [ZapRequest]  # the client's READY came meanwhile
    assert not seen_c  # no READY from the server yet
    (done,) = server.zap_reply(OK)
    assert isinstance(done, HandshakeComplete)
    seen_c, _ = pump(client, server)
    assert isinstance(seen_c[0], HandshakeComplete)


def test_null_zap_refusal() -> None:
    server = ZmtpConnection("REP", mechanism=Security("NULL", zap_domain=b"d").factory())
    client = ZmtpConnection("REQ")
    pump(client, server)
    (failed,) = server.zap_reply([b"", b"1.0", b"1", b"400", b"no", b"", b""])
    assert failed.status == 400
    (error,) = client.receive_data(server.data_to_send())
    assert error == PeerError("400")


def test_plain_against_null_is_a_mismatch() -> None:
    _, server = plain_pair()
    with pytest.raises(ProtocolError, match="NULL.*uses PLAIN"):
        server.receive_data(encode_greeting("NULL"))
