"""zreactor: a pure-stdlib reactor modeled on ZeroMQ's I/O threads.

The public surface is what ``__all__`` lists; every other module is private to the package
(``tests/test_exports.py`` pins this list).

Reactor layer (write your own protocol)::

    import zreactor

    class Echo(zreactor.StreamEngine):
        def data_received(self, data):
            self.write(data)

    with zreactor.Context(io_threads=2) as ctx:
        listener = ctx.listen("tcp://127.0.0.1:0", Echo)
        print(listener.endpoint)
"""

from __future__ import annotations

from .context import Context
from .errors import (
    Again,
    ContextClosedError,
    ContextTerminated,
    ProtocolError,
    ZMQError,
    ZReactorError,
)
from .reactor.codec import Codec, LineCodec
from .reactor.connecter import Connecter, ConnecterState
from .reactor.engine import Engine, EngineState
from .reactor.events import Event, EventBus, EventKind
from .reactor.listener import Listener
from .reactor.poller import available_pollers
from .reactor.stream import ReadState, StreamEngine, WriteState

__version__ = "0.1.0"

__all__ = [
    "Again",
    "Codec",
    "Connecter",
    "ConnecterState",
    "Context",
    "ContextClosedError",
    "ContextTerminated",
    "Engine",
    "EngineState",
    "Event",
    "EventBus",
    "EventKind",
    "LineCodec",
    "Listener",
    "ProtocolError",
    "ReadState",
    "StreamEngine",
    "WriteState",
    "ZMQError",
    "ZReactorError",
    "__version__",
    "available_pollers",
]
