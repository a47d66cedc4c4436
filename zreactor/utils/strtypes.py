"""pyzmq's ``zmq.utils.strtypes``: the Python-2-era string helpers, kept for old code.

pyzmq deprecated this module in version 23; it stays so that code which still imports it
ports unchanged. The casts warn with :class:`DeprecationWarning` as pyzmq's do (new code
writes ``s.encode()`` / ``b.decode()``); the type aliases are plain names.
"""

from __future__ import annotations

import builtins
import warnings

__all__ = [
    "asbytes",
    "b",
    "basestring",
    "bytes",
    "cast_bytes",
    "cast_unicode",
    "u",
    "unicode",
]

bytes = builtins.bytes
unicode = str
basestring = (str,)

_DEPRECATED = "zmq.utils.strtypes is deprecated in pyzmq 23."


def cast_bytes(s: str | builtins.bytes, encoding: str = "utf8", errors: str = "strict") -> builtins.bytes:
    """``s`` as bytes: encoded if it is str, unchanged if it is bytes (deprecated).

    Raises:
        TypeError: ``s`` is neither str nor bytes.
    """
    warnings.warn(_DEPRECATED, DeprecationWarning, stacklevel=2)
    if isinstance(s, builtins.bytes):
        return s
    if isinstance(s, str):
        return s.encode(encoding, errors)
    raise TypeError(f"Expected unicode or bytes, got {s!r}")


def cast_unicode(s: str | builtins.bytes, encoding: str = "utf8", errors: str = "strict") -> str:
    """``s`` as str: decoded if it is bytes, unchanged if it is str (deprecated).

    Raises:
        TypeError: ``s`` is neither str nor bytes.
    """
    warnings.warn(_DEPRECATED, DeprecationWarning, stacklevel=2)
    if isinstance(s, str):
        return s
    if isinstance(s, builtins.bytes):
        return s.decode(encoding, errors)
    raise TypeError(f"Expected unicode or bytes, got {s!r}")


#: pyzmq's short aliases
b = asbytes = cast_bytes
u = cast_unicode
