"""Security settings of one connection, and the factory that picks its mechanism.

Theory of operation
-------------------
The socket options (``PLAIN_SERVER``, ``PLAIN_USERNAME``, ``CURVE_SERVER``, ``ZAP_DOMAIN``,
...) are the application's words; a :class:`Security` is what one connection needs from
them, frozen when the session makes the engine, so a later ``setsockopt`` affects later
connections only (libzmq copies its options the same way). :meth:`Security.factory` returns
the constructor a :class:`~.connection.ZmtpConnection` calls with its socket type, identity
and metadata.

libzmq's rule for which mechanism a socket uses: the last of ``PLAIN_SERVER``,
``PLAIN_USERNAME``/``PLAIN_PASSWORD`` (PLAIN), ``CURVE_SERVER``/``CURVE_SERVERKEY`` (CURVE)
set wins; the options layer records that as :attr:`Security.mechanism`.

The repr of a :class:`Security` never shows a password or a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from .handshake import Mechanism
from .mechanisms import NullMechanism
from .zap import ZapSettings

__all__ = ["Security"]


@dataclass(frozen=True, slots=True, repr=False)
class Security:
    """What one connection's mechanism needs.

    Attributes:
        mechanism: ``"NULL"``, ``"PLAIN"`` or ``"CURVE"``.
        as_server: the server role (``PLAIN_SERVER``/``CURVE_SERVER``).
        username, password: PLAIN client credentials.
        public_key, secret_key: our CURVE long-term key pair (32 raw bytes each).
        server_key: the CURVE server's public key (client side).
        zap_domain: ``ZAP_DOMAIN``.
        zap_enforce: ``ZAP_ENFORCE_DOMAIN``: a domain without a handler refuses the peer.
        routing_id: our socket's routing id (goes into ZAP requests).
        peer_address: the peer's IP address for ZAP requests (``""`` for ipc).
    """

    mechanism: str = "NULL"
    as_server: bool = False
    username: bytes = b""
    password: bytes = b""
    public_key: bytes = b""
    secret_key: bytes = b""
    server_key: bytes = b""
    zap_domain: bytes = b""
    routing_id: bytes = b""
    peer_address: bytes = b""
    zap_enforce: bool = False

    def __repr__(self) -> str:
        role = "server" if self.as_server else "client"
        return f"<Security {self.mechanism} {role} domain={self.zap_domain!r}>"

    def with_peer(self, address: str) -> Security:
        """A copy for a connection from ``address`` (the peer IP, no port)."""
        return _replace(self, peer_address=address.encode())

    def factory(self) -> Callable[..., Mechanism]:
        """The mechanism constructor ``(socket_type, identity, metadata) -> Mechanism``."""
        zap = ZapSettings(self.zap_domain, self.peer_address, self.routing_id, self.zap_enforce)
        if self.mechanism == "PLAIN":
            from .plain import PlainClient, PlainServer

            if self.as_server:
                return partial(PlainServer, zap=zap)
            return partial(PlainClient, username=self.username, password=self.password)
        if self.mechanism == "CURVE":
            from .curve import CurveClient, CurveServer

            if self.as_server:
                return partial(CurveServer, secret_key=self.secret_key, zap=zap)
            return partial(CurveClient, public_key=self.public_key,
                           secret_key=self.secret_key, server_key=self.server_key)
        return partial(NullMechanism, zap=zap if self.zap_domain else None)


def _replace(security: Security, **changes: Any) -> Security:
    values = {name: getattr(security, name) for name in Security.__dataclass_fields__}
    values.update(changes)
    return Security(**values)
