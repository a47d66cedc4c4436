"""IOLoopAuthenticator: pyzmq's deprecated tornado variant, which is the asyncio one.

Theory of operation
-------------------
Tornado runs on asyncio, so, as in pyzmq 25+, the tornado authenticator is
:class:`~zreactor.auth.asyncio.AsyncioAuthenticator` under its old name; importing this
module warns that it is deprecated, and ``io_loop=`` is accepted with a warning.
"""

from __future__ import annotations

import warnings
from typing import Any

from .asyncio import AsyncioAuthenticator

__all__ = ["IOLoopAuthenticator"]

warnings.warn(
    "zmq.auth.ioloop.IOLoopAuthenticator is deprecated. Use zmq.auth.asyncio.AsyncioAuthenticator",
    DeprecationWarning,
    stacklevel=2,
)


class IOLoopAuthenticator(AsyncioAuthenticator):
    """ZAP authentication on tornado's loop (an :class:`AsyncioAuthenticator`).

    Args:
        context, encoding, log: as :class:`~zreactor.auth.Authenticator`.
        io_loop: deprecated: a tornado IOLoop whose asyncio loop would be used.
    """

    def __init__(self, context: Any = None, encoding: str = "utf-8", log: Any = None,
                 io_loop: Any = None) -> None:
        loop = None
        if io_loop is not None:
            warnings.warn(f"{type(self).__name__}(io_loop) is deprecated and ignored",
                          DeprecationWarning, stacklevel=2)
            loop = io_loop.asyncio_loop
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            super().__init__(context=context, loop=loop, encoding=encoding, log=log)
