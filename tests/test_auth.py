"""zreactor.auth: the policy decisions, the constant-time comparisons, certificates, and
allow/deny by address over real connections (NULL with a ZAP domain)."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import pytest

import zreactor
from zreactor.auth import (
    CURVE_ALLOW_ANY,
    Authenticator,
    ThreadAuthenticator,
    create_certificates,
    load_certificate,
    load_certificates,
)
from zreactor.auth import base as auth_base
from zreactor.utils import z85


class Replies:
    """A stand-in ZAP socket that keeps what the authenticator sends."""

    def __init__(self) -> None:
        self.sent: list[list[bytes]] = []

    def send_multipart(self, frames: list[bytes]) -> None:
        self.sent.append(frames)

    def close(self) -> None:
        pass


def judged(auth: Authenticator, *request: bytes) -> list[bytes]:
    auth.zap_socket = Replies()
    auth.handle_zap_message_sync([b"1.0", b"1", *request])
    (reply,) = auth.zap_socket.sent
    return reply


def test_plain_policy() -> None:
    auth = Authenticator(context=object())
    request = (b"", b"127.0.0.1", b"", b"PLAIN")
    assert judged(auth, *request, b"admin", b"secret")[2] == b"400"  # no passwords yet
    auth.configure_plain("*", {"admin": "secret"})
    assert judged(auth, *request, b"admin", b"secret")[2:5] == [b"200", b"OK", b"admin"]
    assert judged(auth, *request, b"admin", b"wrong")[2:4] == [b"400", b"Invalid password"]
    assert judged(auth, *request, b"eve", b"x")[2:4] == [b"400", b"Invalid username"]


def test_passwords_and_keys_are_compared_in_constant_time(monkeypatch: Any) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = auth_base.hmac.compare_digest

    class Recording:
        @staticmethod
        def compare_digest(a: bytes, b: bytes) -> bool:
            calls.append((a, b))
            return real(a, b)

    monkeypatch.setattr(auth_base, "hmac", Recording)
    auth = Authenticator(context=object())
    auth.configure_plain("*", {"admin": "secret"})
    judged(auth, b"", b"", b"", b"PLAIN", b"admin", b"guess")
    assert (b"guess", b"secret") in calls
    keys = [z85.decode(k) for k, _ in (zreactor.curve_keypair() for _ in range(3))]
    auth.certs["*"] = {z85.encode(k): True for k in keys}
    calls.clear()
    judged(auth, b"", b"", b"", b"CURVE", keys[0])
    assert len(calls) == 3  # every allowed key is compared: no early exit on a match


def test_curve_allow_any_and_certificate_folder(tmp_path: Any) -> None:
    pytest.importorskip("nacl")
    public_file, secret_file = create_certificates(str(tmp_path), "alice", {"role": "admin"})
    public, secret = load_certificate(secret_file)
    assert load_certificate(public_file) == (public, None)
    assert zreactor.curve_public(secret) == public
    assert os.stat(secret_file).st_mode & 0o077 == 0  # the secret is the owner's only
    assert load_certificates(str(tmp_path)) == {public: True}
    auth = Authenticator(context=object())
    stranger = z85.decode(zreactor.curve_keypair()[0])
    auth.configure_curve("*", str(tmp_path))
    assert judged(auth, b"", b"", b"", b"CURVE", z85.decode(public))[2] == b"200"
    assert judged(auth, b"", b"", b"", b"CURVE", stranger)[2:4] == [b"400", b"Unknown key"]
    auth.configure_curve("*", CURVE_ALLOW_ANY)
    reply = judged(auth, b"", b"", b"", b"CURVE", stranger)
    assert reply[2] == b"200" and reply[4] == z85.encode(stranger)


def test_allow_and_deny_are_exclusive() -> None:
    auth = Authenticator(context=object())
    auth.allow("127.0.0.1")
    with pytest.raises(ValueError):
        auth.deny("10.0.0.1")


@pytest.mark.parametrize("policy", ["allow", "deny"])
def test_null_with_zap_domain_by_address(policy: str) -> None:
    ctx = zreactor.Context()
    auth = ThreadAuthenticator(ctx)
    auth.start()
    try:
        getattr(auth, policy)("127.0.0.1")
        server = ctx.socket(zreactor.ROUTER)
        server.zap_domain = b"global"
        server.linger = 0
        server.rcvtimeo = 700
        monitor = server.get_monitor_socket()
        port = server.bind_to_random_port("tcp://127.0.0.1")
        client = ctx.socket(zreactor.DEALER)
        client.linger = 0
        client.connect(f"tcp://127.0.0.1:{port}")
        if policy == "allow":
            client.send(b"hello")
        else:
            # a refused handshake ends the session and its pipe (libzmq: protocol_error); when
            # the refusal comes first the DEALER has no pipe left, so do not block on the send
            with contextlib.suppress(zreactor.Again):
                client.send(b"hello", zreactor.NOBLOCK)
        if policy == "allow":
            frames = server.recv_multipart(copy=False)
            assert frames[-1].bytes == b"hello"
            assert frames[-1].get("User-Id") == "anonymous"
        else:
            with pytest.raises(zreactor.Again):
                server.recv_multipart()
            from zreactor.utils.monitor import recv_monitor_message

            events = []
            deadline = time.monotonic() + 1
            while time.monotonic() < deadline:
                if monitor.poll(50):
                    events.append(recv_monitor_message(monitor)["event"])
            assert zreactor.EVENT_HANDSHAKE_FAILED_AUTH in events
    finally:
        auth.stop()
        for sock in ctx.sockets:
            sock.close(linger=0)
        ctx.term()


def test_asyncio_authenticator_plain() -> None:
    import asyncio

    from zreactor.auth import AsyncioAuthenticator

    async def main() -> list[bytes]:
        ctx = zreactor.Context()
        auth = AsyncioAuthenticator(ctx)
        auth.start()
        auth.configure_plain("*", {"admin": "secret"})
        server = ctx.socket(zreactor.PULL)
        server.plain_server = True
        client = ctx.socket(zreactor.PUSH)
        client.plain_username, client.plain_password = b"admin", b"secret"
        port = server.bind_to_random_port("tcp://127.0.0.1")
        client.connect(f"tcp://127.0.0.1:{port}")
        client.send(b"over asyncio")
        try:
            for _ in range(300):  # the loop must run for the ZAP task to answer
                try:
                    return server.recv_multipart(zreactor.DONTWAIT)
                except zreactor.Again:
                    await asyncio.sleep(0.01)
            raise AssertionError("no message")
        finally:
            auth.stop()
            for sock in ctx.sockets:
                sock.close(linger=0)
            ctx.term()

    assert asyncio.run(main()) == [b"over asyncio"]


def test_thread_authenticator_on_an_asyncio_context_lets_the_right_password_in() -> None:
    """The ZAP handler's socket is a blocking one even when the context makes awaitable
    sockets (pyzmq's test_auth runs every authenticator on an asyncio context; with an
    awaitable ZAP socket no allowed handshake was ever answered)."""
    import zreactor.asyncio

    ctx = zreactor.asyncio.Context()
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_plain("*", {"admin": "secret"})
    try:
        server = zreactor.Socket(ctx, zreactor.PULL)
        server.plain_server = True
        server.rcvtimeo = 5000
        client = zreactor.Socket(ctx, zreactor.PUSH)
        client.linger = 0
        client.plain_username, client.plain_password = b"admin", b"secret"
        port = server.bind_to_random_port("tcp://127.0.0.1")
        client.connect(f"tcp://127.0.0.1:{port}")
        client.send(b"through ZAP")
        assert server.recv() == b"through ZAP"
        client.close()
        server.close(linger=0)
    finally:
        auth.stop()
        ctx.term()


def test_credentials_never_reach_the_log(caplog: Any) -> None:
    """A right and a wrong password, at DEBUG: neither appears in any log record."""
    import logging

    ctx = zreactor.Context()
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_plain("*", {"admin": "s3cret-right"})
    try:
        with caplog.at_level(logging.DEBUG):
            server = ctx.socket(zreactor.PULL)
            server.plain_server = True
            server.rcvtimeo = 2000
            port = server.bind_to_random_port("tcp://127.0.0.1")
            for password in (b"s3cret-right", b"s3cret-wrong"):
                client = ctx.socket(zreactor.PUSH)
                client.linger = 0
                client.plain_username, client.plain_password = b"admin", password
                client.connect(f"tcp://127.0.0.1:{port}")
                client.send(b"x")
            assert server.recv() == b"x"
            time.sleep(0.3)  # let the refusal be logged
    finally:
        auth.stop()
        for sock in ctx.sockets:
            sock.close(linger=0)
        ctx.term()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "ALLOWED (PLAIN)" in text and "handshake" in text  # the log did speak
    assert "s3cret" not in text
