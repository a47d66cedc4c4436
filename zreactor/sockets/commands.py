"""Commands of the messaging layer (value: the handler method on the destination).

Kept in their own module so that sessions, sockets and the context can all name them without
importing each other: the context sits above this layer and imports from it, never the reverse.
"""

from __future__ import annotations

import enum

__all__ = ["SocketCmd"]


class SocketCmd(enum.Enum):
    """Commands that sockets, sessions and the context's reaper exchange."""

    #: a session or an inproc peer hands a socket a new pipe
    BIND = "process_bind"
    #: a closed socket is handed to the reaper (the root, on I/O thread 0)
    REAP = "process_reap"
