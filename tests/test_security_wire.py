"""Wire capture: a loopback relay between client and server records every byte. Under CURVE
the payload (and the client's long-term key) never appears on the wire; under NULL, the
control, it does."""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Iterator

import pytest

import zreactor
from zreactor.utils import z85

PAYLOAD = b"attack at dawn, the vault code is 0451"


class Relay:
    """Accepts one connection on a loopback port and forwards it to ``target``, recording
    the bytes of both directions."""

    def __init__(self, target_port: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.target_port = target_port
        self.recorded = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.listener.settimeout(5)
        try:
            downstream, _ = self.listener.accept()
        except OSError:
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        peers = {downstream: upstream, upstream: downstream}
        sel = selectors.DefaultSelector()
        for sock in peers:
            sel.register(sock, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(0.05):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    self.recorded += data
                    peers[key.fileobj].sendall(data)  # type: ignore[index]
        except OSError:
            return
        finally:
            sel.close()
            downstream.close()
            upstream.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.listener.close()


@pytest.fixture
def ctx() -> Iterator[zreactor.Context]:
    context = zreactor.Context()
    yield context
    for sock in context.sockets:
        sock.close(linger=0)
    context.term()


def capture(ctx: zreactor.Context, secure: bool) -> tuple[bytes, bytes]:
    """Send PAYLOAD through a relay; return (what the wire carried, the client's public key)."""
    server = ctx.socket(zreactor.PULL)
    client = ctx.socket(zreactor.PUSH)
    server.rcvtimeo = client.sndtimeo = 3000
    client_public = b""
    if secure:
        pytest.importorskip("nacl")
        server_public, server_secret = zreactor.curve_keypair()
        client_public, client_secret = zreactor.curve_keypair()
        server.curve_server = True
        server.curve_secretkey = server_secret
        client.curve_serverkey = server_public
        client.curve_publickey = client_public
        client.curve_secretkey = client_secret
    port = server.bind_to_random_port("tcp://127.0.0.1")
    relay = Relay(port)
    try:
        client.connect(f"tcp://127.0.0.1:{relay.port}")
        for _ in range(3):
            client.send_multipart([PAYLOAD, PAYLOAD[::-1]])
            assert server.recv_multipart() == [PAYLOAD, PAYLOAD[::-1]]
    finally:
        client.close(linger=0)
        relay.close()
    return bytes(relay.recorded), client_public


def test_null_payload_is_on_the_wire(ctx: zreactor.Context) -> None:
    wire, _ = capture(ctx, secure=False)
    assert PAYLOAD in wire and PAYLOAD[::-1] in wire


def test_curve_payload_never_on_the_wire(ctx: zreactor.Context) -> None:
    wire, client_public = capture(ctx, secure=True)
    assert b"CURVE" in wire  # the capture did see the connection
    for needle in (PAYLOAD, PAYLOAD[::-1], PAYLOAD[:12], b"vault code"):
        assert needle not in wire
    assert z85.decode(client_public) not in wire  # the client's identity travels boxed too
    assert b"Socket-Type" not in wire  # so do the properties
