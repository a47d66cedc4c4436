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

pyzmq's constant names (``zmq.PUB``, ``zmq.NOBLOCK``, ``zmq.EVENT_CONNECTED`` ...) live at
module level, with the values libzmq gives them. One name differs in meaning: ``Event`` is
zreactor's event record (pyzmq's event-kind enum is :class:`EventKind` here).

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

from .constants import CONSTANTS as _CONSTANTS
from .constants import Errno, Flag, PollEvent, SecurityMechanism, SocketOption, SocketType
from .context import Context
from .errors import (
    Again,
    ContextClosedError,
    ContextTerminated,
    ProtocolError,
    ZMQError,
    ZReactorError,
)
from .proxy import proxy
from .zmtp.curve import curve_keypair, curve_public
from .reactor.codec import Codec, LineCodec
from .reactor.connecter import Connecter, ConnecterState
from .reactor.engine import Engine, EngineState
from .reactor.events import Event, EventBus, EventKind
from .reactor.listener import Listener, ListenerState, ListenerStats, ShedPolicy
from .reactor.poller import available_pollers
from .reactor.stream import ReadState, StreamEngine, WriteState
from .sockets.poll import Poller, select
from .sockets.socket import Frame, Socket

__version__ = "0.1.0"

#: pyzmq's module-level constants (PAIR, NOBLOCK, LINGER, EVENT_* ...), libzmq's values.
#: ``__all__`` below lists each by name, so a new constant is a deliberate change to the
#: pinned surface.
globals().update(_CONSTANTS)

#: the libzmq version whose behaviour and wire protocol (ZMTP 3.1) zreactor follows
_ZMQ_VERSION = (4, 3, 5)
#: the pyzmq release whose API zreactor's subset is modelled on and tested against
_PYZMQ_VERSION = (27, 0, 0)


def zmq_version() -> str:
    """The libzmq version zreactor emulates, as a string (``"4.3.5"``).

    zreactor does not contain or load libzmq: it is a pure-Python implementation that
    speaks ZMTP 3.1 and follows libzmq 4.3's documented socket behaviour, and interoperates
    with libzmq 4.3 peers. This number is what version checks in pyzmq code
    (``zmq.zmq_version_info() >= (4,)``) should compare against.
    """
    return ".".join(map(str, _ZMQ_VERSION))


def zmq_version_info() -> tuple[int, int, int]:
    """:func:`zmq_version` as a tuple (``(4, 3, 5)``)."""
    return _ZMQ_VERSION


def pyzmq_version() -> str:
    """The pyzmq API version zreactor's subset follows (``"27.0.0"``); not pyzmq itself.

    zreactor implements a subset of pyzmq's API (see the README); code that needs a pyzmq
    feature outside it fails with ``AttributeError``, not silently. ``zreactor.__version__``
    is zreactor's own version.
    """
    return ".".join(map(str, _PYZMQ_VERSION))


def pyzmq_version_info() -> tuple[int, int, int]:
    """:func:`pyzmq_version` as a tuple."""
    return _PYZMQ_VERSION


__all__ = [
    "AFFINITY",
    "Again",
    "BACKLOG",
    "CURVE",
    "CURVE_PUBLICKEY",
    "CURVE_SECRETKEY",
    "CURVE_SERVER",
    "CURVE_SERVERKEY",
    "Codec",
    "Connecter",
    "ConnecterState",
    "Context",
    "ContextClosedError",
    "ContextTerminated",
    "DEALER",
    "DONTWAIT",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "EAGAIN",
    "ECONNREFUSED",
    "EFSM",
    "EHOSTUNREACH",
    "EINVAL",
    "EMSGSIZE",
    "EMTHREAD",
    "ENOCOMPATPROTO",
    "ENOENT",
    "ENOTSOCK",
    "ENOTSUP",
    "EPROTONOSUPPORT",
    "ETERM",
    "EVENTS",
    "EVENT_ACCEPTED",
    "EVENT_ACCEPT_FAILED",
    "EVENT_ALL",
    "EVENT_ALL_V2",
    "EVENT_BIND_FAILED",
    "EVENT_CLOSED",
    "EVENT_CLOSE_FAILED",
    "EVENT_CONNECTED",
    "EVENT_CONNECT_DELAYED",
    "EVENT_CONNECT_RETRIED",
    "EVENT_DISCONNECTED",
    "EVENT_ENGINE_FAILED",
    "EVENT_FAILED",
    "EVENT_HANDSHAKE_FAILED_AUTH",
    "EVENT_HANDSHAKE_FAILED_NO_DETAIL",
    "EVENT_HANDSHAKE_FAILED_PROTOCOL",
    "EVENT_HANDSHAKE_SUCCEEDED",
    "EVENT_LISTENING",
    "EVENT_MONITOR_STOPPED",
    "EVENT_REOPENED",
    "EVENT_RESUMED",
    "EVENT_SHED",
    "EVENT_SUSPENDED",
    "Engine",
    "EngineState",
    "Errno",
    "Event",
    "EventBus",
    "EventKind",
    "FD",
    "Flag",
    "Frame",
    "GSSAPI",
    "HANDSHAKE_IVL",
    "HEARTBEAT_IVL",
    "HEARTBEAT_TIMEOUT",
    "HEARTBEAT_TTL",
    "HWM",
    "IDENTITY",
    "IMMEDIATE",
    "IPV6",
    "LAST_ENDPOINT",
    "LINGER",
    "LineCodec",
    "Listener",
    "ListenerState",
    "ListenerStats",
    "MAXMSGSIZE",
    "MECHANISM",
    "NOBLOCK",
    "NULL",
    "PAIR",
    "PLAIN",
    "PLAIN_PASSWORD",
    "PLAIN_SERVER",
    "PLAIN_USERNAME",
    "POLLERR",
    "POLLIN",
    "POLLOUT",
    "PROBE_ROUTER",
    "PUB",
    "PULL",
    "PUSH",
    "PollEvent",
    "Poller",
    "ProtocolError",
    "RCVBUF",
    "RCVHWM",
    "RCVMORE",
    "RCVTIMEO",
    "RECONNECT_IVL",
    "RECONNECT_IVL_MAX",
    "REP",
    "REQ",
    "REQ_CORRELATE",
    "REQ_RELAXED",
    "ROUTER",
    "ROUTER_MANDATORY",
    "ROUTING_ID",
    "ReadState",
    "SNDBUF",
    "SNDHWM",
    "SNDMORE",
    "SNDTIMEO",
    "SUB",
    "SUBSCRIBE",
    "SecurityMechanism",
    "ShedPolicy",
    "Socket",
    "SocketOption",
    "SocketType",
    "StreamEngine",
    "TYPE",
    "UNSUBSCRIBE",
    "WriteState",
    "XPUB",
    "XPUB_VERBOSE",
    "XSUB",
    "ZAP_DOMAIN",
    "ZMQError",
    "ZReactorError",
    "__version__",
    "available_pollers",
    "curve_keypair",
    "curve_public",
    "proxy",
    "pyzmq_version",
    "pyzmq_version_info",
    "select",
    "zmq_version",
    "zmq_version_info",
]
