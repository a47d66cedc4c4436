"""The ZAP policy: who may connect, judged one request at a time (pyzmq's Authenticator).

Theory of operation
-------------------
:meth:`Authenticator.handle_zap_message` takes one ZAP request (the REP socket has already
stripped the envelope) and sends one reply, following pyzmq's decision order so that a
policy ported from pyzmq behaves the same:

1. the address lists: with ``allow()`` only the listed addresses pass the first gate; with
   ``deny()`` the listed addresses are refused (the two are mutually exclusive);
2. the mechanism: NULL passes (unless denied); PLAIN checks the password configured for the
   request's domain (``"*"`` when the socket set none); CURVE passes with
   ``CURVE_ALLOW_ANY``, a credentials provider's verdict, or a client key found in the
   domain's certificate folder.

Refusals answer 400 with pyzmq's reason text; the server then sends the client an ERROR
"400" and the client's monitor sees ``HANDSHAKE_FAILED_AUTH`` 400.

*Timing.* Passwords and client keys are compared with :func:`hmac.compare_digest`, and a
CURVE key is compared against *every* allowed key, so the time to answer does not tell a
prober how much of a secret it guessed. Passwords and keys never reach a log line.

Threads: an Authenticator is used from one thread at a time (its socket's); the thread and
asyncio variants own that thread or loop.
"""

from __future__ import annotations

import hmac
import inspect
import logging
import os
from typing import Any, Union

import zreactor

from ..utils import z85
from .certs import load_certificates

__all__ = ["CURVE_ALLOW_ANY", "Authenticator"]

#: ``configure_curve(location=CURVE_ALLOW_ANY)``: any client key is accepted (encryption
#: without client authentication, the "Stonehouse" pattern).
CURVE_ALLOW_ANY = "*"
VERSION = b"1.0"


def blocking_socket(context: Any, kind: int) -> Any:
    """A blocking socket of ``context``, even an asyncio one (whose ``socket()`` makes
    awaitable sockets; pyzmq passes ``socket_class=zmq.Socket`` for the same reason)."""
    return context.socket(kind, socket_class=zreactor.Socket)


def _equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


class Authenticator:
    """ZAP authentication policy and handler (pyzmq's ``zmq.auth.Authenticator``).

    Until a policy is added, NULL connections are allowed and PLAIN and CURVE ones denied.

    Args:
        context: the context whose sockets ask (default: ``Context.instance()``); the ZAP
            endpoint is an inproc name, so the handler must share the servers' context.
        encoding: how PLAIN credentials and user ids are decoded.
        log: a logger (default ``logging.getLogger("zmq.auth")``).
    """

    def __init__(self, context: Any = None, encoding: str = "utf-8", log: Any = None) -> None:
        self.context = context or zreactor.Context.instance()
        self.encoding = encoding
        self.allow_any = False
        self.credentials_providers: dict[str, Any] = {}
        self.zap_socket: Any = None
        self._allowed: set[str] = set()
        self._denied: set[str] = set()
        self.passwords: dict[str, dict[str, str]] = {}
        self.certs: dict[str, dict[bytes, Any]] = {}
        self.log = log or logging.getLogger("zmq.auth")

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} domains(plain)={sorted(self.passwords)} "
                f"domains(curve)={sorted(self.certs)} allow_any={self.allow_any}>")

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Create and bind the ZAP socket (REP on ``inproc://zeromq.zap.01``)."""
        self.zap_socket = blocking_socket(self.context, zreactor.REP)
        self.zap_socket.linger = 1
        self.zap_socket.bind("inproc://zeromq.zap.01")
        self.log.debug("Starting")

    def stop(self) -> None:
        """Close the ZAP socket."""
        if self.zap_socket is not None:
            self.zap_socket.close()
        self.zap_socket = None

    # -- policy ------------------------------------------------------------------------------

    def allow(self, *addresses: str) -> None:
        """Allow these IP addresses only (mutually exclusive with :meth:`deny`).

        Raises:
            ValueError: :meth:`deny` was used.
        """
        if self._denied:
            raise ValueError("Only use allow or deny, not both")
        self.log.debug("Allowing %s", ",".join(addresses))
        self._allowed.update(addresses)

    def deny(self, *addresses: str) -> None:
        """Deny these IP addresses (mutually exclusive with :meth:`allow`).

        Raises:
            ValueError: :meth:`allow` was used.
        """
        if self._allowed:
            raise ValueError("Only use a allow or deny, not both")
        self.log.debug("Denying %s", ",".join(addresses))
        self._denied.update(addresses)

    def configure_plain(self, domain: str = "*", passwords: dict[str, str] | None = None) -> None:
        """Accept PLAIN users of ``domain`` (``"*"``: any) with these ``{user: password}``."""
        if passwords:
            self.passwords[domain] = passwords
        self.log.debug("Configure plain: %s", domain)

    def configure_curve(self, domain: str = "*",
                        location: Union[str, "os.PathLike[str]"] = ".") -> None:
        """Accept CURVE clients of ``domain`` whose public key has a certificate in the
        folder ``location``, or any client with ``location=CURVE_ALLOW_ANY``. Call again
        after the folder changes.
        """
        self.log.debug("Configure curve: %s[%s]", domain, location)
        if location == CURVE_ALLOW_ANY:
            self.allow_any = True
            return
        self.allow_any = False
        try:
            self.certs[domain] = load_certificates(location)
        except Exception as exc:  # pyzmq logs a bad folder and carries on
            self.log.error("Failed to load CURVE certs from %s: %s", location, exc)

    def configure_curve_callback(self, domain: str = "*", credentials_provider: Any = None) -> None:
        """Accept CURVE clients for which ``credentials_provider.callback(domain, z85_key)``
        returns true (or an awaitable of true)."""
        self.allow_any = False
        if credentials_provider is not None:
            self.credentials_providers[domain] = credentials_provider
        else:
            self.log.error("None credentials_provider provided for domain:%s", domain)

    def configure_gssapi(self, domain: str = "*", location: str | None = None) -> None:
        """GSSAPI is not implemented by zreactor; accepted and ignored, as pyzmq does."""

    def curve_user_id(self, client_public_key: bytes) -> str:
        """The ``User-Id`` for an accepted CURVE client: its key in Z85 (override to map)."""
        return z85.encode(client_public_key).decode("ascii")

    # -- requests ----------------------------------------------------------------------------

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        """Judge one ZAP request and send the reply (pyzmq's coroutine form)."""
        verdict = self._judge(msg)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if verdict is not None:
            self._send_zap_reply(*verdict)

    def handle_zap_message_sync(self, msg: list[bytes]) -> None:
        """:meth:`handle_zap_message` without an event loop (credentials providers must
        then answer synchronously)."""
        verdict = self._judge(msg)
        if inspect.isawaitable(verdict):
            import asyncio

            verdict = asyncio.run(_awaited(verdict))
        if verdict is not None:
            self._send_zap_reply(*verdict)

    def _judge(self, msg: list[bytes]) -> Any:
        """``(request_id, status, text, user)`` or an awaitable of it, or None (no reply)."""
        if len(msg) < 6:
            self.log.error("Invalid ZAP message, not enough frames (%d)", len(msg))
            if len(msg) < 2:
                self.log.error("Not enough information to reply")
                return None
            return (msg[1], b"400", b"Not enough frames")
        version, request_id, domain_b, address_b, _identity, mechanism = msg[:6]
        credentials = msg[6:]
        domain = domain_b.decode(self.encoding, "replace")
        address = address_b.decode(self.encoding, "replace")
        if version != VERSION:
            self.log.error("Invalid ZAP version: %r", version)
            return (request_id, b"400", b"Invalid version")
        self.log.debug("request_id: %r, domain: %r, address: %r, mechanism: %r",
                       request_id, domain, address, mechanism)
        allowed = denied = False
        reason = b"NO ACCESS"
        if self._allowed:
            if address in self._allowed:
                allowed = True
            else:
                denied, reason = True, b"Address not allowed"
        elif self._denied:
            if address in self._denied:
                denied, reason = True, b"Address denied"
            else:
                allowed = True
        if denied:
            return (request_id, b"400", reason)
        if mechanism == b"NULL":
            return (request_id, b"200", b"OK", "anonymous")
        if mechanism == b"PLAIN":
            if len(credentials) != 2:
                return (request_id, b"400", b"Invalid credentials")
            username, password = (c.decode(self.encoding, "replace") for c in credentials)
            ok, reason = self._authenticate_plain(domain, username, password)
            return (request_id, b"200", b"OK", username) if ok else (request_id, b"400", reason)
        if mechanism == b"CURVE":
            if len(credentials) != 1:
                return (request_id, b"400", b"Invalid credentials")
            return self._curve_verdict(request_id, domain, credentials[0])
        return (request_id, b"400", reason if not allowed else b"Unsupported mechanism")

    def _authenticate_plain(self, domain: str, username: str, password: str) -> tuple[bool, bytes]:
        if not self.passwords:
            return False, b"No passwords defined"
        users = self.passwords.get(domain or "*")
        if users is None:
            return False, b"Invalid domain"
        expected = users.get(username)
        if expected is None:
            # compare anyway: an unknown user costs what a known one does
            _equal(password.encode(self.encoding), password.encode(self.encoding)[::-1])
            return False, b"Invalid username"
        if _equal(password.encode(self.encoding), expected.encode(self.encoding)):
            self.log.debug("ALLOWED (PLAIN) domain=%s username=%s", domain, username)
            return True, b"OK"
        return False, b"Invalid password"

    def _curve_verdict(self, request_id: bytes, domain: str, key: bytes) -> Any:
        if self.allow_any:
            return (request_id, b"200", b"OK", self.curve_user_id(key))
        domain = domain or "*"
        if self.credentials_providers:
            provider = self.credentials_providers.get(domain)
            if provider is None:
                return (request_id, b"400", b"Unknown domain")
            answer = provider.callback(domain, z85.encode(key))

            def finish(ok: Any) -> tuple[Any, ...]:
                if ok:
                    return (request_id, b"200", b"OK", self.curve_user_id(key))
                return (request_id, b"400", b"Unknown key")

            if inspect.isawaitable(answer):
                return _then(answer, finish)
            return finish(answer)
        certs = self.certs.get(domain)
        if certs is None:
            return (request_id, b"400", b"Unknown domain")
        wanted = z85.encode(key)
        found = False
        for known in certs:  # every key, in constant time each: no early exit
            found |= _equal(known, wanted) and bool(certs[known])
        if found:
            return (request_id, b"200", b"OK", self.curve_user_id(key))
        return (request_id, b"400", b"Unknown key")

    def _send_zap_reply(self, request_id: bytes, status_code: bytes, status_text: bytes,
                        user_id: Any = "anonymous") -> None:
        """Send one reply: ``[version, request id, status, text, user id, metadata]``."""
        user = user_id if status_code == b"200" else b""
        if isinstance(user, str):
            user = user.encode(self.encoding, "replace")
        self.log.debug("ZAP reply code=%s text=%s", status_code, status_text)
        self.zap_socket.send_multipart([VERSION, request_id, status_code, status_text, user, b""])


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


async def _then(awaitable: Any, finish: Any) -> Any:
    return finish(await awaitable)
