"""pyzmq's ``zmq.utils.jsonapi``: JSON to and from UTF-8 bytes, the way sockets carry it.

``send_json``/``recv_json`` and code written against pyzmq use these two functions; they are
the standard library's :mod:`json` with the bytes boundary made explicit. Keyword arguments go
to :func:`json.dumps` / :func:`json.loads` unchanged, so callers choose ``ensure_ascii``,
``default``, ``object_hook`` and so on exactly as with :mod:`json`.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps", "loads"]

#: pyzmq keeps this alias for code that once chose between JSON libraries
jsonmod = json


def dumps(o: object, **kwargs: Any) -> bytes:
    """``json.dumps(o, **kwargs)`` encoded as UTF-8 bytes."""
    return json.dumps(o, **kwargs).encode("utf-8")


def loads(s: bytes | bytearray | memoryview | str, **kwargs: Any) -> Any:
    """Decode UTF-8 JSON (bytes-like or str) with ``json.loads(..., **kwargs)``.

    Raises:
        UnicodeDecodeError: the bytes are not UTF-8.
        json.JSONDecodeError: the text is not JSON.
    """
    if not isinstance(s, str):
        s = bytes(s).decode("utf-8")
    return json.loads(s, **kwargs)
