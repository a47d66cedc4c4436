"""Tests for zreactor.zmtp.mechanisms: the NULL mechanism and socket-type compatibility."""

from __future__ import annotations

import itertools

import pytest

from zreactor.errors import ProtocolError
from zreactor.zmtp import commands
from zreactor.zmtp.events import PeerError
from zreactor.zmtp.mechanisms import (
    COMPATIBLE_PEERS,
    IDENTITY_SENDERS,
    SOCKET_TYPES,
    NullMechanism,
    PeerReady,
    check_mechanism,
)

pytestmark = pytest.mark.timeout(30)

# RFC 37's table, restricted to the classic socket types, written out pair by pair so that a
# typo in COMPATIBLE_PEERS cannot hide behind a test that reads the same table.
RFC_PAIRS = {
    ("REQ", "REP"), ("REQ", "ROUTER"), ("REP", "REQ"), ("REP", "DEALER"),
    ("DEALER", "REP"), ("DEALER", "DEALER"), ("DEALER", "ROUTER"),
    ("ROUTER", "REQ"), ("ROUTER", "DEALER"), ("ROUTER", "ROUTER"),
    ("PUB", "SUB"), ("PUB", "XSUB"), ("XPUB", "SUB"), ("XPUB", "XSUB"),
    ("SUB", "PUB"), ("SUB", "XPUB"), ("XSUB", "PUB"), ("XSUB", "XPUB"),
    ("PUSH", "PULL"), ("PULL", "PUSH"), ("PAIR", "PAIR"),
}


def started(socket_type: str) -> NullMechanism:
    mechanism = NullMechanism(socket_type)
    mechanism.start()
    return mechanism


def ready_data(**properties: bytes) -> bytes:
    return commands.encode_metadata((name.replace("_", "-"), value)
                                    for name, value in properties.items())


@pytest.mark.parametrize(("ours", "theirs"), sorted(itertools.product(SOCKET_TYPES, repeat=2)))
def test_compatibility_matches_rfc_table(ours: str, theirs: str) -> None:
    mechanism = started(ours)
    data = ready_data(Socket_Type=theirs.encode())
    if (ours, theirs) in RFC_PAIRS:
        result = mechanism.process_command(commands.READY, data)
        assert isinstance(result, PeerReady) and result.socket_type == theirs
    else:
        with pytest.raises(ProtocolError, match=f"peer socket type '{theirs}' is incompatible"):
            mechanism.process_command(commands.READY, data)


def test_table_is_symmetric() -> None:
    for ours, accepted in COMPATIBLE_PEERS.items():
        for theirs in accepted:
            assert ours in COMPATIBLE_PEERS[theirs]


@pytest.mark.parametrize("socket_type", sorted(SOCKET_TYPES))
def test_ready_carries_identity_only_for_req_dealer_router(socket_type: str) -> None:
    body = NullMechanism(socket_type, b"id-1").ready_command()
    name, data = commands.decode_command(body)
    assert name == commands.READY
    metadata = commands.decode_metadata(data)
    assert metadata["Socket-Type"] == socket_type.encode()
    if socket_type in IDENTITY_SENDERS:
        assert list(metadata) == ["Socket-Type", "Identity"]
        assert metadata["Identity"] == b"id-1"
    else:
        assert list(metadata) == ["Socket-Type"]


def test_extra_metadata_follows_basic_properties() -> None:
    body = NullMechanism("PUSH", metadata={"X-Service": b"quotes"}).ready_command()
    metadata = commands.decode_metadata(commands.decode_command(body)[1])
    assert list(metadata.items()) == [("Socket-Type", b"PUSH"), ("X-Service", b"quotes")]


def test_peer_identity_and_case_insensitive_names() -> None:
    result = started("ROUTER").process_command(
        commands.READY, ready_data(socket_type=b"DEALER", IDENTITY=b"abc", X_Color=b"red"))
    assert result == PeerReady("DEALER", b"abc", {
        "socket-type": b"DEALER", "IDENTITY": b"abc", "X-Color": b"red"})


def test_socket_type_values_are_case_sensitive_like_libzmq() -> None:
    with pytest.raises(ProtocolError, match="incompatible"):
        started("PAIR").process_command(commands.READY, ready_data(Socket_Type=b"pair"))


def test_missing_socket_type_is_rejected() -> None:
    with pytest.raises(ProtocolError, match="no Socket-Type"):
        started("PAIR").process_command(commands.READY, ready_data(Identity=b""))


def test_error_command_becomes_peer_error() -> None:
    data = commands.decode_command(commands.encode_error("go away"))[1]
    assert started("PAIR").process_command(commands.ERROR, data) == PeerError("go away")


@pytest.mark.parametrize("name", [b"PING", b"SUBSCRIBE", b"HELLO", b""])
def test_other_commands_during_handshake_are_rejected(name: bytes) -> None:
    with pytest.raises(ProtocolError, match="during the NULL handshake"):
        started("PAIR").process_command(name, b"")


def test_unknown_socket_type() -> None:
    with pytest.raises(ValueError, match="unknown socket type"):
        NullMechanism("STREAM")


def test_check_mechanism() -> None:
    check_mechanism("NULL")
    check_mechanism("PLAIN", "PLAIN")
    with pytest.raises(ProtocolError, match="requires the PLAIN.*uses NULL"):
        check_mechanism("PLAIN")
    with pytest.raises(ProtocolError, match="requires the CURVE.*uses PLAIN"):
        check_mechanism("CURVE", "PLAIN")
    with pytest.raises(ProtocolError, match="unknown security mechanism 'FOO'"):
        check_mechanism("FOO")
