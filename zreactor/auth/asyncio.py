"""AsyncioAuthenticator: the ZAP handler as a task on an asyncio loop (pyzmq's).

Theory of operation
-------------------
:meth:`AsyncioAuthenticator.start` binds the ZAP socket and starts one task on the running
loop that waits on it with :class:`zreactor.asyncio.Poller` and answers each request with
:meth:`~zreactor.auth.Authenticator.handle_zap_message` (so a credentials provider may be a
coroutine). :meth:`AsyncioAuthenticator.stop` cancels the task and closes the socket. Nothing
here blocks the loop: a request is read with ``DONTWAIT`` after the poller reported it.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import zreactor

from .base import Authenticator

__all__ = ["AsyncioAuthenticator"]


class AsyncioAuthenticator(Authenticator):
    """ZAP authentication on the asyncio loop (see :class:`~zreactor.auth.Authenticator`).

    Args:
        context, encoding, log: as :class:`~zreactor.auth.Authenticator`.
        loop: deprecated and ignored, as in pyzmq (the running loop is used).
    """

    def __init__(self, context: Any = None, loop: Any = None, encoding: str = "utf-8",
                 log: Any = None) -> None:
        super().__init__(context, encoding, log)
        if loop is not None:
            warnings.warn(f"{type(self).__name__}(loop) is deprecated and ignored",
                          DeprecationWarning, stacklevel=2)
        self._poller: Any = None
        self._task: asyncio.Future[None] | None = None

    async def _handle_zap(self) -> None:
        while self._poller is not None:
            events = dict(await self._poller.poll())
            if self.zap_socket in events:
                try:
                    msg = self.zap_socket.recv_multipart(zreactor.DONTWAIT)
                except zreactor.Again:
                    continue
                await self.handle_zap_message(msg)

    def start(self) -> None:
        """Bind the ZAP socket and start answering on the running loop."""
        from ..asyncio import Poller

        super().start()
        self._poller = Poller()
        self._poller.register(self.zap_socket, zreactor.POLLIN)
        self._task = asyncio.ensure_future(self._handle_zap())

    def stop(self) -> None:
        """Cancel the task and close the ZAP socket."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._poller is not None:
            self._poller.unregister(self.zap_socket)
            self._poller = None
        super().stop()
