"""CURVE (RFC 26) against libzmq: both libraries in both roles, ZAP with a certificate folder
on either library's server, right key, wrong server key, a client not on the allow-list."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from _support import Libs, exchange, monitor_events, zmq

pytest.importorskip("nacl")

import zreactor
from zreactor.auth import ThreadAuthenticator, create_certificates, load_certificate

LIBS = ["zreactor", "pyzmq"]
MIXED = [(s, c) for s, c in itertools.product(LIBS, LIBS) if (s, c) != ("pyzmq", "pyzmq")]
PAIRS = [("REQ", "REP"), ("DEALER", "ROUTER"), ("SUB", "PUB")]


@pytest.fixture
def certs() -> Iterator[dict[str, Any]]:
    """A server pair, an allowed client (its public cert in ``allowed/``), a stranger."""
    with tempfile.TemporaryDirectory() as root:
        allowed = os.path.join(root, "allowed")
        os.mkdir(allowed)
        keys = {}
        for name in ("server", "client", "stranger"):
            public_file, secret_file = create_certificates(root, name)
            keys[name] = load_certificate(secret_file)
            if name == "client":
                os.rename(public_file, os.path.join(allowed, "client.key"))
        yield {"allowed": allowed, **keys}


def authenticator(libs: Libs, lib: str, allowed: str) -> Any:
    if lib == "zreactor":
        auth = ThreadAuthenticator(libs.z)
    else:
        from zmq.auth.thread import ThreadAuthenticator as PyzmqAuth

        auth = PyzmqAuth(libs.p)
    auth.start()
    auth.configure_curve(domain="*", location=allowed)
    return auth


def server_socket(libs: Libs, lib: str, kind: str, certs: dict[str, Any]) -> Any:
    public, secret = certs["server"]
    return libs.socket(lib, kind, curve_server=1, curve_secretkey=secret, curve_publickey=public)


def client_socket(libs: Libs, lib: str, kind: str, certs: dict[str, Any], who: str = "client",
                  server_key: bytes | None = None, **extra: Any) -> Any:
    public, secret = certs[who]
    return libs.socket(lib, kind, curve_serverkey=server_key or certs["server"][0],
                       curve_publickey=public, curve_secretkey=secret, **extra)


@pytest.mark.parametrize(("server_lib", "client_lib"), MIXED)
@pytest.mark.parametrize(("client_type", "server_type"), PAIRS)
def test_curve_right_key_with_certificate_allow_list(libs: Libs, certs: dict[str, Any],
                                                     server_lib: str, client_lib: str,
                                                     client_type: str, server_type: str) -> None:
    auth = authenticator(libs, server_lib, certs["allowed"])
    try:
        server = server_socket(libs, server_lib, server_type, certs)
        client = client_socket(libs, client_lib, client_type, certs)
        port = server.bind_to_random_port("tcp://127.0.0.1")
        client.connect(f"tcp://127.0.0.1:{port}")
        exchange(client, server, client_type)
    finally:
        auth.stop()


@pytest.mark.parametrize(("server_lib", "client_lib"), MIXED)
def test_curve_without_zap_handler_is_stonehouse(libs: Libs, certs: dict[str, Any],
                                                 server_lib: str, client_lib: str) -> None:
    """No handler bound: any client with a valid vouch is let in (libzmq's default)."""
    server = server_socket(libs, server_lib, "REP", certs)
    client = client_socket(libs, client_lib, "REQ", certs, who="stranger")
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client.connect(f"tcp://127.0.0.1:{port}")
    exchange(client, server, "REQ")


@pytest.mark.parametrize(("server_lib", "client_lib"), MIXED)
def test_curve_wrong_server_key(libs: Libs, certs: dict[str, Any], server_lib: str,
                                client_lib: str) -> None:
    server = server_socket(libs, server_lib, "REP", certs)
    monitor = server.get_monitor_socket()
    client = client_socket(libs, client_lib, "REQ", certs, server_key=certs["stranger"][0],
                           rcvtimeo=400)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client.connect(f"tcp://127.0.0.1:{port}")
    client.send(b"secret")
    with pytest.raises((zmq.Again, zreactor.Again)):
        server.recv(zmq.NOBLOCK) if server_lib == "pyzmq" else server.recv(zreactor.NOBLOCK)
    with pytest.raises((zmq.Again, zreactor.Again)):
        client.recv()
    events = monitor_events(monitor, server_lib, 0.5)
    assert (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) in events
    assert zmq.EVENT_HANDSHAKE_SUCCEEDED not in [e for e, _ in events]


@pytest.mark.parametrize(("server_lib", "client_lib"), MIXED)
def test_curve_client_not_in_the_certificate_folder_is_refused(
        libs: Libs, certs: dict[str, Any], server_lib: str, client_lib: str) -> None:
    auth = authenticator(libs, server_lib, certs["allowed"])
    try:
        server = server_socket(libs, server_lib, "REP", certs)
        monitor = server.get_monitor_socket()
        stranger = client_socket(libs, client_lib, "REQ", certs, who="stranger", rcvtimeo=400)
        port = server.bind_to_random_port("tcp://127.0.0.1")
        stranger.connect(f"tcp://127.0.0.1:{port}")
        try:  # a zreactor REQ whose only connection was refused has nowhere to queue it
            stranger.send(b"let me in", zmq.NOBLOCK)
        except (zmq.Again, zreactor.Again):
            pass
        else:
            with pytest.raises((zmq.Again, zreactor.Again)):
                stranger.recv()
        events = monitor_events(monitor, server_lib, 0.5)
        assert (zmq.EVENT_HANDSHAKE_FAILED_AUTH, 400) in events
        # the allowed client on the same server still gets through
        friend = client_socket(libs, client_lib, "REQ", certs)
        friend.connect(f"tcp://127.0.0.1:{port}")
        friend.send(b"hi")
        assert server.recv() == b"hi"
        server.send(b"welcome")
        assert friend.recv() == b"welcome"
    finally:
        auth.stop()


def test_user_id_is_the_client_key(libs: Libs, certs: dict[str, Any]) -> None:
    auth = authenticator(libs, "zreactor", certs["allowed"])
    try:
        server = server_socket(libs, "zreactor", "DEALER", certs)
        client = client_socket(libs, "pyzmq", "DEALER", certs)
        port = server.bind_to_random_port("tcp://127.0.0.1")
        client.connect(f"tcp://127.0.0.1:{port}")
        client.send(b"who am i")
        frame = server.recv(copy=False)
        assert frame.get("User-Id") == certs["client"][0].decode()
        assert frame["Socket-Type"] == "DEALER"
    finally:
        auth.stop()
