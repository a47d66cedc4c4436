"""ZAP authentication for zreactor sockets, with pyzmq's ``zmq.auth`` API.

Theory of operation
-------------------
A server socket with PLAIN, CURVE, or NULL plus a ``ZAP_DOMAIN`` asks the ZAP handler bound
to ``inproc://zeromq.zap.01`` about every new peer (RFC 27). These classes are that handler,
written against zreactor's public socket API only, as a user's code would be:

* :class:`Authenticator` holds the policy (address allow/deny lists, PLAIN passwords per
  domain, CURVE client keys per domain from a certificate folder, or ``CURVE_ALLOW_ANY``) and
  answers one request with :meth:`Authenticator.handle_zap_message`; you drive its socket.
* :class:`ThreadAuthenticator` answers from a background thread.
* :class:`AsyncioAuthenticator` (:mod:`zreactor.auth.asyncio`) answers on an asyncio loop.

Certificates are pyzmq's text files (:func:`create_certificates`, :func:`load_certificate`,
:func:`load_certificates`), so a folder made by either library serves both.
"""

from .base import CURVE_ALLOW_ANY, Authenticator
from .certs import create_certificates, load_certificate, load_certificates
from .thread import ThreadAuthenticator


def __getattr__(name: str) -> object:
    # the asyncio variant imports zreactor.asyncio only when asked for
    if name == "AsyncioAuthenticator":
        from .asyncio import AsyncioAuthenticator

        return AsyncioAuthenticator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "CURVE_ALLOW_ANY",
    "AsyncioAuthenticator",
    "Authenticator",
    "ThreadAuthenticator",
    "create_certificates",
    "load_certificate",
    "load_certificates",
]
