"""ThreadAuthenticator: the ZAP handler on a background thread (pyzmq's).

Theory of operation
-------------------
:meth:`ThreadAuthenticator.start` binds the ZAP socket on the caller's thread (so a server
started right after already finds the handler) and starts a daemon thread that polls two
sockets: the ZAP socket, whose requests it answers, and one end of an inproc PAIR whose other
end the caller keeps. :meth:`ThreadAuthenticator.stop` sends ``TERMINATE`` down that pair
and joins the thread: a command, not a flag, so the thread never misses it while it sleeps
in ``poll``. The thread then closes both of its sockets itself (a socket is used by one
thread only).

Policy changes (``allow``, ``configure_plain`` ...) made while the thread runs take effect
for the next request: they replace whole dict/set entries, which the thread reads one
request at a time.
"""

from __future__ import annotations

import threading
from typing import Any

import zreactor

from .base import Authenticator, blocking_socket

__all__ = ["ThreadAuthenticator"]


class ThreadAuthenticator(Authenticator):
    """Run ZAP authentication in a background thread (see :class:`Authenticator`)."""

    def __init__(self, context: Any = None, encoding: str = "utf-8", log: Any = None) -> None:
        super().__init__(context=context, encoding=encoding, log=log)
        self.pipe: Any = None
        self.pipe_endpoint = f"inproc://zreactor.auth.{id(self)}"
        self.thread: threading.Thread | None = None
        self._started = threading.Event()

    def start(self) -> None:
        """Bind the ZAP socket and start the thread.

        Raises:
            RuntimeError: the thread did not start within 10 s.
        """
        super().start()
        self.pipe = blocking_socket(self.context, zreactor.PAIR)
        self.pipe.linger = 1
        self.pipe.bind(self.pipe_endpoint)
        thread_pipe = blocking_socket(self.context, zreactor.PAIR)
        thread_pipe.linger = 1
        thread_pipe.connect(self.pipe_endpoint)
        self._started.clear()
        self.thread = threading.Thread(target=self._run, args=(thread_pipe,), daemon=True,
                                       name="zreactor-auth")
        self.thread.start()
        if not self._started.wait(timeout=10):
            raise RuntimeError("Authenticator thread failed to start")

    def stop(self) -> None:
        """Stop the thread (``TERMINATE``), join it, close the sockets."""
        if self.pipe is not None:
            self.pipe.send(b"TERMINATE")
            if self.thread is not None and self.thread.is_alive():
                self.thread.join()
            self.thread = None
            self.pipe.close()
            self.pipe = None
        self.zap_socket = None  # closed by the thread

    def is_alive(self) -> bool:
        """Is the ZAP thread running?"""
        return bool(self.thread and self.thread.is_alive())

    def _run(self, pipe: Any) -> None:
        zap = self.zap_socket
        poller = zreactor.Poller()
        poller.register(pipe, zreactor.POLLIN)
        poller.register(zap, zreactor.POLLIN)
        self._started.set()
        try:
            while True:
                events = dict(poller.poll())
                # a poll may report a socket whose message another wake-up already took:
                # receive without blocking and take "nothing there" for what it is
                if pipe in events:
                    command = _recv(pipe)
                    if command is not None and command[0] == b"TERMINATE":
                        return
                    if command is not None:
                        self.log.error("Invalid auth command from API: %r", command[0])
                        pipe.send(b"ERROR")
                if zap in events:
                    request = _recv(zap)
                    if request is not None:
                        self.handle_zap_message_sync(request)
        finally:
            pipe.close()
            zap.close()

    def __del__(self) -> None:  # noqa: D105
        try:
            self.stop()
        except Exception:  # interpreter shutdown: the context may be gone already
            pass


def _recv(sock: Any) -> list[bytes] | None:
    try:
        return sock.recv_multipart(zreactor.DONTWAIT)  # type: ignore[no-any-return]
    except zreactor.Again:
        return None
