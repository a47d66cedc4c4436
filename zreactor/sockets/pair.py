"""PAIR: exactly one peer, messages both ways (RFC 31, EXPAIR).

A PAIR socket talks to one peer at a time. A second peer that connects while the first is
attached is refused: its pipe is terminated at once, as libzmq does. Sending blocks (or fails
with ``Again``) while the peer's pipe is full or absent; nothing is ever dropped.
"""

from __future__ import annotations

from ..constants import SocketType
from .pipe import Pipe
from .socket import Socket

__all__ = ["PairSocket"]


class PairSocket(Socket):
    """``zmq.PAIR``."""

    socket_type = SocketType.PAIR

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._pipe: Pipe | None = None

    def xattach_pipe(self, pipe: Pipe, subscribe_to_all: bool = False) -> None:
        """Take the first pipe; refuse any other while it lives."""
        if self._pipe is not None:
            pipe.terminate(False)
            return
        self._pipe = pipe

    def xpipe_terminated(self, pipe: Pipe) -> None:
        """Forget the peer."""
        if pipe is self._pipe:
            self._pipe = None

    def xread_activated(self, pipe: Pipe) -> None:
        """Nothing to track: reads go straight to the pipe."""

    def xwrite_activated(self, pipe: Pipe) -> None:
        """Nothing to track: writes go straight to the pipe."""

    def xsend(self, msg: list[bytes]) -> bool:
        """Write to the peer; False if there is none or its pipe is full."""
        pipe = self._pipe
        if pipe is None or not pipe.write(msg):
            return False
        pipe.flush()
        return True

    def xrecv(self) -> list[bytes] | None:
        """Read from the peer."""
        pipe = self._pipe
        return None if pipe is None else pipe.read()

    def xhas_in(self) -> bool:
        """True if the peer has sent something."""
        return self._pipe is not None and self._pipe.check_read()

    def xhas_out(self) -> bool:
        """True if the peer's pipe has room."""
        return self._pipe is not None and self._pipe.check_write()
