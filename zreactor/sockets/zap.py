"""The ZAP client: one session's pipe to the ZAP handler at ``inproc://zeromq.zap.01``.

Theory of operation
-------------------
A server mechanism asks "may this peer in?" by producing ZAP request frames
(:mod:`zreactor.zmtp.zap`); this module carries them, as libzmq's
``session_base_t::zap_connect`` does: the session finds the socket bound to
``inproc://zeromq.zap.01`` in the context's inproc registry, makes an unbounded pipe pair
(the ZAP socket's end is handed over with a ``BIND`` command, like any inproc connection),
writes the request and flushes. The handler's reply comes back up the same pipe; the pipe
wakes the session (``read_activated``) and the session gives the frames to its engine.

Rules it keeps:

* One pipe per session, made on the first request and reused by later connections of the
  same session; at most one request outstanding (the engine asks once per handshake).
* No handler bound: :meth:`ZapClient.request` returns False at once and the mechanism decides
  (PLAIN refuses; NULL and CURVE go on, as libzmq without ``ZAP_ENFORCE_DOMAIN``).
* A handler that never answers leaves the engine waiting; its ``handshake_ivl`` timer drops
  the connection (``HANDSHAKE_FAILED_NO_DETAIL``), as in libzmq. The pipe is then dropped so
  a late answer can never be taken for the next connection's.

Threads: the session's I/O thread only (the ZAP socket's thread sees only its pipe end).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..reactor.own import Own
from ..zmtp.zap import ZAP_ENDPOINT
from .commands import SocketCmd
from .pipe import Pipe, pipepair

if TYPE_CHECKING:
    from .session import Session

__all__ = ["ZapClient"]

_NAME = ZAP_ENDPOINT[len("inproc://"):]


class ZapClient:
    """The ZAP side of one session.

    Args:
        session: the owning session (the pipe's sink on our side).
    """

    __slots__ = ("_session", "pipe", "pending")

    def __init__(self, session: Session) -> None:
        self._session = session
        #: our end of the pipe to the handler, once made
        self.pipe: Pipe | None = None
        #: the engine waiting for an answer
        self.pending: Any = None

    def request(self, engine: Any, frames: list[bytes]) -> bool:
        """Send ``frames`` to the handler for ``engine``; False if no handler is bound."""
        if self.pipe is None:
            handler = self._session.zsocket.context.inproc.lookup(_NAME)
            if handler is None:
                return False
            own_end, handler_end = pipepair((self._session, handler), (0, 0), (False, False))
            handler_end.endpoint = own_end.endpoint = ZAP_ENDPOINT
            self.pipe = own_end
            Own.send_command(handler, SocketCmd.BIND, handler_end)
        self.pending = engine
        self.pipe.write(list(frames))
        self.pipe.flush()
        # Read the (still empty) pipe once: that puts its reader to sleep, so the handler's
        # write wakes us with ACTIVATE_READ (libzmq reads at once for the same reason).
        self.read_replies()
        return True

    def read_replies(self) -> None:
        """The handler wrote: hand each reply to the engine that asked."""
        pipe = self.pipe
        while pipe is not None:
            reply = pipe.read()
            if reply is None:
                return
            engine, self.pending = self.pending, None
            if engine is not None:
                engine.zap_reply(reply)
            pipe = self.pipe

    def engine_gone(self, engine: Any) -> Pipe | None:
        """``engine`` closed; if it was waiting, drop the pipe and return it (the session
        waits for its termination)."""
        if self.pending is not engine or self.pipe is None:
            return None
        return self.close()

    def close(self) -> Pipe | None:
        """Terminate the pipe (dropping anything in it); return it, or None."""
        pipe, self.pipe, self.pending = self.pipe, None, None
        if pipe is not None:
            pipe.terminate(False)
        return pipe
