"""CURVE (RFC 26, CurveZMQ): the optional extra's entry points.

The mechanism itself lands in the next step; this module already owns the one question the
rest of zreactor asks: is PyNaCl (the ``zreactor[curve]`` extra) installed?
"""

from __future__ import annotations

import errno
from typing import Any

from ..capabilities import module_available, register_capability
from ..errors import ZMQError

__all__ = ["available", "curve_keypair", "curve_public", "require_curve"]

_EXTRA_HINT = ("CURVE needs PyNaCl (libsodium): pip install 'zreactor[curve]'")


def _nacl() -> Any:
    try:
        import nacl.bindings
    except ImportError:
        return None
    return nacl.bindings


def available() -> bool:
    """True if CURVE can be used (PyNaCl imports)."""
    return _nacl() is not None


def require_curve() -> Any:
    """Return ``nacl.bindings``, or raise the error that names the extra.

    Raises:
        ZMQError: ``ENOTSUP``, PyNaCl is not installed.
    """
    bindings = _nacl()
    if bindings is None:
        raise ZMQError(errno.ENOTSUP, _EXTRA_HINT)
    return bindings


def curve_keypair() -> tuple[bytes, bytes]:
    """A new CURVE key pair ``(public, secret)``, each as 40 Z85 characters (pyzmq's form).

    Raises:
        ZMQError: ``ENOTSUP`` without the ``zreactor[curve]`` extra.
    """
    from ..utils import z85

    public, secret = require_curve().crypto_box_keypair()
    return z85.encode(public), z85.encode(secret)


def curve_public(secret_key: bytes | str) -> bytes:
    """The Z85 public key of a Z85 (or raw 32-byte) secret key.

    Raises:
        ZMQError: ``ENOTSUP`` without the extra; ``EINVAL`` for a malformed key.
    """
    from ..utils import z85

    bindings = require_curve()
    raw = secret_key.encode() if isinstance(secret_key, str) else bytes(secret_key)
    if len(raw) == 40:
        try:
            raw = z85.decode(raw)
        except ValueError:
            raise ZMQError(errno.EINVAL, "invalid Z85 secret key") from None
    if len(raw) != 32:
        raise ZMQError(errno.EINVAL, "a CURVE secret key is 32 bytes or 40 Z85 characters")
    return z85.encode(bindings.crypto_scalarmult_base(raw))


register_capability("curve", lambda: module_available("nacl"))
