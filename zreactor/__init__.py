"""zreactor: a pure-stdlib reactor modeled on ZeroMQ's I/O threads, with a pyzmq-like API.

The public surface is what ``__all__`` lists; every other module is private to the package
(``tests/test_exports.py`` pins this list). Two layers are public:

Messaging (``import zreactor as zmq`` runs common pyzmq code)::

    import zreactor as zmq

    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.connect("tcp://127.0.0.1:5555")
    sock.send(b"hello")
    print(sock.recv())

pyzmq's constants live at module level as pyzmq's enum members (``zmq.PUB is
zmq.SocketType.PUB``, ``zmq.NOBLOCK``, ``zmq.EVENT_CONNECTED`` ...), with libzmq's values;
``Event`` is pyzmq's monitor-event flag. The reactor's own event record is
:class:`ReactorEvent`, and its kinds (libzmq's plus the listener's) are :class:`EventKind`.

Third-party code that says ``import zmq`` runs on zreactor unchanged after
:func:`install_as_zmq` (``zmq`` and every ``zmq.<sub>`` are zreactor's modules), or under
``python -m zreactor.run program.py`` / ``ZREACTOR_AS_ZMQ=1`` for whole processes.

Reactor layer (write your own protocol)::

    import zreactor

    class Echo(zreactor.StreamEngine):
        def data_received(self, data):
            self.write(data)

    with zreactor.IOThreadPool(io_threads=2) as pool:
        listener = pool.listen("tcp://127.0.0.1:0", Echo)
        print(listener.endpoint)

(A messaging :class:`Context` composes such a pool; ``ctx.listen`` is the same call.)
"""

from __future__ import annotations

from . import error
from .capabilities import has
from .constants import CONSTANTS as _CONSTANTS
from .constants import (
    ContextOption,
    DeviceType,
    Errno,
    Event,
    Flag,
    MessageOption,
    NormMode,
    PollEvent,
    ReconnectStop,
    RouterNotify,
    SecurityMechanism,
    SocketOption,
    SocketType,
)
from .as_zmq import install_as_zmq
from .context import Context
from .errors import (
    Again,
    ContextClosedError,
    ContextTerminated,
    InterruptedSystemCall,
    NotDone,
    ProtocolError,
    ZMQBaseError,
    ZMQBindError,
    ZMQError,
    ZMQVersionError,
    ZReactorError,
    strerror,
)
from .proxy import device, proxy, proxy_steerable
from .zmtp.curve import curve_keypair, curve_public
from .reactor.codec import Codec, LengthPrefixedCodec, LineCodec
from .reactor.connecter import Connecter, ConnecterState
from .reactor.engine import Engine, EngineState
from .reactor.events import EventBus, EventKind, ReactorEvent
from .reactor.listener import Listener, ListenerState, ListenerStats, ShedPolicy
from .reactor.poller import available_pollers
from .reactor.pool import IOThreadPool
from .reactor.stream import ReadState, StreamEngine, WriteState
from .sockets.poll import Poller, select
from .sockets.frame import FINISHED_TRACKER as _FINISHED_TRACKER  # pyzmq's private name
from .sockets.frame import Message, MessageTracker
from .sockets.socket import Frame, Socket
from .version import PYZMQ_VERSION as __version__  # pyzmq's contract; see zreactor.version

#: pyzmq's build revision (a git hash for development builds); zreactor's releases: empty
__revision__ = ""
from .version import pyzmq_version, pyzmq_version_info, zmq_version, zmq_version_info

#: pyzmq's module-level constants (PAIR, NOBLOCK, LINGER, EVENT_* ...), libzmq's values.
#: ``tests/test_exports.py`` pins them against pyzmq's.
globals().update(_CONSTANTS)

#: The public names other than the constants. ``tests/test_exports.py`` pins this list, so
#: a new name is a deliberate change to the surface.
_API = [
    "Again",
    "Codec",
    "Connecter",
    "ConnecterState",
    "Context",
    "ContextClosedError",
    "ContextOption",
    "ContextTerminated",
    "DeviceType",
    "Engine",
    "EngineState",
    "Errno",
    "Event",
    "EventBus",
    "EventKind",
    "Flag",
    "Frame",
    "IOThreadPool",
    "InterruptedSystemCall",
    "LengthPrefixedCodec",
    "LineCodec",
    "Listener",
    "ListenerState",
    "ListenerStats",
    "Message",
    "MessageOption",
    "MessageTracker",
    "NormMode",
    "NotDone",
    "PollEvent",
    "Poller",
    "ProtocolError",
    "ReactorEvent",
    "ReadState",
    "ReconnectStop",
    "RouterNotify",
    "SecurityMechanism",
    "ShedPolicy",
    "Socket",
    "SocketOption",
    "SocketType",
    "StreamEngine",
    "WriteState",
    "ZMQBaseError",
    "ZMQBindError",
    "ZMQError",
    "ZMQVersionError",
    "ZReactorError",
    "__version__",
    "available_pollers",
    "curve_keypair",
    "curve_public",
    "device",
    "install_as_zmq",
    "error",
    "has",
    "proxy",
    "proxy_steerable",
    "pyzmq_version",
    "pyzmq_version_info",
    "select",
    "strerror",
    "zmq_version",
    "zmq_version_info",
]

__all__ = sorted({*_API, *_CONSTANTS})

# pyzmq's ``zmq.backend`` and ``zmq.sugar`` name this package's classes; imported last, once
# they all exist.
from . import backend, sugar  # noqa: E402
