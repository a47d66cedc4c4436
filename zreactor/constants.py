"""pyzmq's constant names and values, so that ``import zreactor as zmq`` keeps code working.

Values are libzmq's (as pyzmq exposes them). Only the socket types and options zreactor
implements are listed: asking for anything else fails loudly with ``EINVAL`` rather than
being silently ignored.
"""

from __future__ import annotations

import enum
import errno as _errno

from .errors import EFSM, EMTHREAD, ENOCOMPATPROTO, ETERM
from .reactor.events import EventKind

__all__ = [
    "Errno",
    "Flag",
    "PollEvent",
    "SecurityMechanism",
    "SocketOption",
    "SocketType",
]


class SocketType(enum.IntEnum):
    """Socket types (``zmq.PAIR`` ...)."""

    PAIR = 0
    PUB = 1
    SUB = 2
    REQ = 3
    REP = 4
    DEALER = 5
    ROUTER = 6
    PULL = 7
    PUSH = 8
    XPUB = 9
    XSUB = 10


class Flag(enum.IntFlag):
    """Send/recv flags."""

    DONTWAIT = 1
    SNDMORE = 2


class PollEvent(enum.IntFlag):
    """Poll flags (``Poller.register``, ``socket.events``)."""

    POLLIN = 1
    POLLOUT = 2
    POLLERR = 4


class SocketOption(enum.IntEnum):
    """Socket options zreactor implements (libzmq numbering)."""

    HWM = 1  # sets both SNDHWM and RCVHWM (pyzmq convenience)
    AFFINITY = 4
    ROUTING_ID = 5
    SUBSCRIBE = 6
    UNSUBSCRIBE = 7
    SNDBUF = 11
    RCVBUF = 12
    RCVMORE = 13
    FD = 14
    EVENTS = 15
    TYPE = 16
    LINGER = 17
    RECONNECT_IVL = 18
    BACKLOG = 19
    RECONNECT_IVL_MAX = 21
    MAXMSGSIZE = 22
    SNDHWM = 23
    RCVHWM = 24
    RCVTIMEO = 27
    SNDTIMEO = 28
    LAST_ENDPOINT = 32
    ROUTER_MANDATORY = 33
    IMMEDIATE = 39
    XPUB_VERBOSE = 40
    IPV6 = 42
    MECHANISM = 43
    # -- security (issue 11) --
    PLAIN_SERVER = 44
    PLAIN_USERNAME = 45
    PLAIN_PASSWORD = 46
    CURVE_SERVER = 47
    CURVE_PUBLICKEY = 48
    CURVE_SECRETKEY = 49
    CURVE_SERVERKEY = 50
    ZAP_DOMAIN = 55
    PROBE_ROUTER = 51
    REQ_CORRELATE = 52
    REQ_RELAXED = 53
    HANDSHAKE_IVL = 66
    HEARTBEAT_IVL = 75
    HEARTBEAT_TTL = 76
    HEARTBEAT_TIMEOUT = 77


class SecurityMechanism(enum.IntEnum):
    """Values of the ``MECHANISM`` option (pyzmq's ``zmq.NULL``, ``zmq.PLAIN``, ``zmq.CURVE``)."""

    NULL = 0
    PLAIN = 1
    CURVE = 2
    GSSAPI = 3


class Errno(enum.IntEnum):
    """Error numbers seen in ``ZMQError.errno``."""

    EAGAIN = _errno.EAGAIN
    EINVAL = _errno.EINVAL
    ENOTSUP = _errno.ENOTSUP
    EPROTONOSUPPORT = _errno.EPROTONOSUPPORT
    EADDRINUSE = _errno.EADDRINUSE
    EADDRNOTAVAIL = _errno.EADDRNOTAVAIL
    ECONNREFUSED = _errno.ECONNREFUSED
    ENOTSOCK = _errno.ENOTSOCK
    EMSGSIZE = _errno.EMSGSIZE
    EHOSTUNREACH = _errno.EHOSTUNREACH
    ENOENT = _errno.ENOENT
    EFSM = EFSM
    ENOCOMPATPROTO = ENOCOMPATPROTO
    ETERM = ETERM
    EMTHREAD = EMTHREAD


def _export(*enums: type[enum.Enum]) -> dict[str, int]:
    names: dict[str, int] = {}
    for e in enums:
        for member in e:  # type: ignore[attr-defined]
            names[member.name] = member
    return names


#: Every module-level constant name (socket types, flags, options, events, errnos).
CONSTANTS: dict[str, int] = _export(SocketType, Flag, PollEvent, SocketOption, Errno,
                                    SecurityMechanism)
CONSTANTS.update(
    NOBLOCK=Flag.DONTWAIT,
    IDENTITY=SocketOption.ROUTING_ID,
    EVENT_ALL=0xFFFF,
    EVENT_ALL_V2=int(EventKind.all()),
)
for _kind in EventKind:
    CONSTANTS[f"EVENT_{_kind.name}"] = int(_kind)
