"""pyzmq's ``zmq.backend`` module path: zreactor is its own backend.

pyzmq splits itself into a compiled *backend* (Cython or CFFI bindings of libzmq's C API:
``Context``, ``Socket``, ``Frame``, ``zmq_poll`` ...) and the Python *sugar* over it. Code
and test helpers sometimes reach for the backend directly (``zmq.backend.Socket``,
``zmq.backend.zmq_poll``). zreactor has one layer, so this module names the same classes and
functions as the top-level package, under pyzmq's backend names, plus ``zmq_poll`` with the
backend's signature (a timeout in milliseconds).

Names pyzmq's backend lists that zreactor does not implement are absent (``AttributeError``),
never stand-ins; which those are is computed at import from the package itself, so this
module cannot claim more than zreactor has.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import zreactor as _zreactor

from .sockets.poll import zmq_poll as _zmq_poll

#: pyzmq 27's ``zmq.backend.select.public_api``, the backend's public names
PUBLIC_API = (
    "Context", "Socket", "Frame", "Message", "proxy", "proxy_steerable", "zmq_poll",
    "strerror", "zmq_errno", "has", "curve_keypair", "curve_public", "zmq_version_info",
    "IPC_PATH_MAX_LEN", "PYZMQ_DRAFT_API",
)


def zmq_poll(sockets: Sequence[tuple[Any, int]], timeout: int = -1) -> list[tuple[Any, int]]:
    """The backend's ``zmq_poll``: ``[(socket_or_fd, flags), ...]``, ``timeout`` in ms.

    A negative ``timeout`` waits for ever. Returns ``[(socket, events), ...]`` for the items
    with events, raw items as fd numbers (see :mod:`zreactor.sockets.poll`).
    """
    deadline = None if timeout is None or timeout < 0 else time.monotonic() + int(timeout) / 1000
    return _zmq_poll(sockets, deadline)


globals().update(
    {name: getattr(_zreactor, name) for name in PUBLIC_API
     if name != "zmq_poll" and hasattr(_zreactor, name)}
)

__all__ = [name for name in PUBLIC_API if name in globals()]
