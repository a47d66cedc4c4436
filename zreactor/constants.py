"""pyzmq's constants, as pyzmq's enums, so that ``import zreactor as zmq`` keeps code working.

Theory of operation
-------------------
This module has the shape of pyzmq 27's ``zmq.constants``: one ``enum`` per family
(:class:`SocketType`, :class:`SocketOption`, :class:`Flag`, :class:`Event`, :class:`Errno` ...)
with libzmq's names and numbers, and every member also bound at module level under the name
pyzmq gives it (``PUSH``, ``SUBSCRIBE``, ``EVENT_CONNECTED``, ``RECONNECT_STOP_CONN_REFUSED``),
so ``zmq.PUSH is zmq.SocketType.PUSH`` holds, as in pyzmq.

The enums list **everything libzmq 4.3.5 names**, not only what zreactor implements, because
a name that does not exist cannot tell its user what is wrong. Whether a name *works* is
decided where it is used: ``ctx.socket(zmq.RADIO)`` and ``sock.setsockopt(zmq.RATE, 1)`` fail
with a :class:`~zreactor.ZMQError` that names what zreactor does not implement (see
``sockets/options.py``), never silently.

:class:`Event` is pyzmq's monitor-event flag, exactly. zreactor's listener adds kinds of its
own above libzmq's 16-bit range; they live in :class:`zreactor.EventKind` (a superset with the
same numbers) and are exported as ``EVENT_SUSPENDED`` and friends.

:data:`CONSTANTS` maps every module-level name to its value; ``zreactor/__init__.py`` binds
them all at the top of the package, and ``tests/test_exports.py`` pins them against pyzmq.
"""

from __future__ import annotations

import enum
import errno as _errno
import socket as _socket
from typing import Any

from .reactor.address import IPC_PATH_MAX_LEN as _IPC_PATH_MAX_LEN
from .reactor.events import EventKind

_HAUSNUMERO = 156384712


class Errno(enum.IntEnum):
    """Error numbers seen in ``ZMQError.errno`` (the system's, plus libzmq's own four)."""

    EAGAIN = _errno.EAGAIN
    EFAULT = _errno.EFAULT
    EINVAL = _errno.EINVAL
    ENOTSUP = getattr(_errno, "ENOTSUP", _HAUSNUMERO + 1)
    EPROTONOSUPPORT = getattr(_errno, "EPROTONOSUPPORT", _HAUSNUMERO + 2)
    ENOBUFS = getattr(_errno, "ENOBUFS", _HAUSNUMERO + 3)
    ENETDOWN = getattr(_errno, "ENETDOWN", _HAUSNUMERO + 4)
    EADDRINUSE = getattr(_errno, "EADDRINUSE", _HAUSNUMERO + 5)
    EADDRNOTAVAIL = getattr(_errno, "EADDRNOTAVAIL", _HAUSNUMERO + 6)
    ECONNREFUSED = getattr(_errno, "ECONNREFUSED", _HAUSNUMERO + 7)
    EINPROGRESS = getattr(_errno, "EINPROGRESS", _HAUSNUMERO + 8)
    ENOTSOCK = getattr(_errno, "ENOTSOCK", _HAUSNUMERO + 9)
    EMSGSIZE = getattr(_errno, "EMSGSIZE", _HAUSNUMERO + 10)
    EAFNOSUPPORT = getattr(_errno, "EAFNOSUPPORT", _HAUSNUMERO + 11)
    ENETUNREACH = getattr(_errno, "ENETUNREACH", _HAUSNUMERO + 12)
    ECONNABORTED = getattr(_errno, "ECONNABORTED", _HAUSNUMERO + 13)
    ECONNRESET = getattr(_errno, "ECONNRESET", _HAUSNUMERO + 14)
    ENOTCONN = getattr(_errno, "ENOTCONN", _HAUSNUMERO + 15)
    ETIMEDOUT = getattr(_errno, "ETIMEDOUT", _HAUSNUMERO + 16)
    EHOSTUNREACH = getattr(_errno, "EHOSTUNREACH", _HAUSNUMERO + 17)
    ENETRESET = getattr(_errno, "ENETRESET", _HAUSNUMERO + 18)
    #: zreactor's own addition: ``unbind``/``disconnect`` of an unknown endpoint (libzmq's too)
    ENOENT = _errno.ENOENT
    # libzmq's native error numbers
    EFSM = _HAUSNUMERO + 51
    ENOCOMPATPROTO = _HAUSNUMERO + 52
    ETERM = _HAUSNUMERO + 53
    EMTHREAD = _HAUSNUMERO + 54


class ContextOption(enum.IntEnum):
    """Options for ``Context.get``/``Context.set``."""

    IO_THREADS = 1
    MAX_SOCKETS = 2
    SOCKET_LIMIT = 3
    THREAD_PRIORITY = 3
    THREAD_SCHED_POLICY = 4
    MAX_MSGSZ = 5
    MSG_T_SIZE = 6
    THREAD_AFFINITY_CPU_ADD = 7
    THREAD_AFFINITY_CPU_REMOVE = 8
    THREAD_NAME_PREFIX = 9


class SocketType(enum.IntEnum):
    """Socket types (``zmq.PAIR`` ...); the draft ones are named but not implemented."""

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
    STREAM = 11
    # deprecated aliases
    XREQ = DEALER
    XREP = ROUTER
    # libzmq DRAFT socket types
    SERVER = 12
    CLIENT = 13
    RADIO = 14
    DISH = 15
    GATHER = 16
    SCATTER = 17
    DGRAM = 18
    PEER = 19
    CHANNEL = 20


class OptType(enum.Enum):
    """The C type libzmq gives an option (``SocketOption.opt_type``; pyzmq calls it ``_OptType``)."""

    int = "int"
    int64 = "int64"
    bytes = "bytes"
    fd = "fd"


_OptType = OptType  # pyzmq's name, for code that reads ``zmq.constants._OptType``


class SocketOption(enum.IntEnum):
    """Socket options, libzmq's numbering; each member carries its C type as ``_opt_type``.

    Every option libzmq names is here; which ones zreactor implements is the table in
    ``zreactor/sockets/options.py``.
    """

    _opt_type: OptType

    def __new__(cls, value: int, opt_type: OptType = OptType.int) -> SocketOption:
        obj = int.__new__(cls, value)
        obj._value_ = value
        obj._opt_type = opt_type
        return obj

    @property
    def opt_type(self) -> OptType:
        """The option's C type: how ``setsockopt``/``getsockopt`` check and convert its value."""
        return self._opt_type

    HWM = 1
    AFFINITY = 4, OptType.int64
    ROUTING_ID = 5, OptType.bytes
    SUBSCRIBE = 6, OptType.bytes
    UNSUBSCRIBE = 7, OptType.bytes
    RATE = 8
    RECOVERY_IVL = 9
    SNDBUF = 11
    RCVBUF = 12
    RCVMORE = 13
    FD = 14, OptType.fd
    EVENTS = 15
    TYPE = 16
    LINGER = 17
    RECONNECT_IVL = 18
    BACKLOG = 19
    RECONNECT_IVL_MAX = 21
    MAXMSGSIZE = 22, OptType.int64
    SNDHWM = 23
    RCVHWM = 24
    MULTICAST_HOPS = 25
    RCVTIMEO = 27
    SNDTIMEO = 28
    LAST_ENDPOINT = 32, OptType.bytes
    ROUTER_MANDATORY = 33
    TCP_KEEPALIVE = 34
    TCP_KEEPALIVE_CNT = 35
    TCP_KEEPALIVE_IDLE = 36
    TCP_KEEPALIVE_INTVL = 37
    IMMEDIATE = 39
    XPUB_VERBOSE = 40
    ROUTER_RAW = 41
    IPV6 = 42
    MECHANISM = 43
    PLAIN_SERVER = 44
    PLAIN_USERNAME = 45, OptType.bytes
    PLAIN_PASSWORD = 46, OptType.bytes
    CURVE_SERVER = 47
    CURVE_PUBLICKEY = 48, OptType.bytes
    CURVE_SECRETKEY = 49, OptType.bytes
    CURVE_SERVERKEY = 50, OptType.bytes
    PROBE_ROUTER = 51
    REQ_CORRELATE = 52
    REQ_RELAXED = 53
    CONFLATE = 54
    ZAP_DOMAIN = 55, OptType.bytes
    ROUTER_HANDOVER = 56
    TOS = 57
    CONNECT_ROUTING_ID = 61, OptType.bytes
    GSSAPI_SERVER = 62
    GSSAPI_PRINCIPAL = 63, OptType.bytes
    GSSAPI_SERVICE_PRINCIPAL = 64, OptType.bytes
    GSSAPI_PLAINTEXT = 65
    HANDSHAKE_IVL = 66
    SOCKS_PROXY = 68, OptType.bytes
    XPUB_NODROP = 69
    BLOCKY = 70
    XPUB_MANUAL = 71
    XPUB_WELCOME_MSG = 72, OptType.bytes
    STREAM_NOTIFY = 73
    INVERT_MATCHING = 74
    HEARTBEAT_IVL = 75
    HEARTBEAT_TTL = 76
    HEARTBEAT_TIMEOUT = 77
    XPUB_VERBOSER = 78
    CONNECT_TIMEOUT = 79
    TCP_MAXRT = 80
    THREAD_SAFE = 81
    MULTICAST_MAXTPDU = 84
    VMCI_BUFFER_SIZE = 85, OptType.int64
    VMCI_BUFFER_MIN_SIZE = 86, OptType.int64
    VMCI_BUFFER_MAX_SIZE = 87, OptType.int64
    VMCI_CONNECT_TIMEOUT = 88
    USE_FD = 89
    GSSAPI_PRINCIPAL_NAMETYPE = 90
    GSSAPI_SERVICE_PRINCIPAL_NAMETYPE = 91
    BINDTODEVICE = 92, OptType.bytes
    # deprecated options and aliases (same value: an alias member)
    IDENTITY = ROUTING_ID
    CONNECT_RID = CONNECT_ROUTING_ID
    TCP_ACCEPT_FILTER = 38, OptType.bytes
    IPC_FILTER_PID = 58
    IPC_FILTER_UID = 59
    IPC_FILTER_GID = 60
    IPV4ONLY = 31
    DELAY_ATTACH_ON_CONNECT = IMMEDIATE
    FAIL_UNROUTABLE = ROUTER_MANDATORY
    ROUTER_BEHAVIOR = ROUTER_MANDATORY
    # libzmq DRAFT options
    ZAP_ENFORCE_DOMAIN = 93
    LOOPBACK_FASTPATH = 94
    METADATA = 95, OptType.bytes
    MULTICAST_LOOP = 96
    ROUTER_NOTIFY = 97
    XPUB_MANUAL_LAST_VALUE = 98
    SOCKS_USERNAME = 99, OptType.bytes
    SOCKS_PASSWORD = 100, OptType.bytes
    IN_BATCH_SIZE = 101
    OUT_BATCH_SIZE = 102
    WSS_KEY_PEM = 103, OptType.bytes
    WSS_CERT_PEM = 104, OptType.bytes
    WSS_TRUST_PEM = 105, OptType.bytes
    WSS_HOSTNAME = 106, OptType.bytes
    WSS_TRUST_SYSTEM = 107
    ONLY_FIRST_SUBSCRIBE = 108
    RECONNECT_STOP = 109
    HELLO_MSG = 110, OptType.bytes
    DISCONNECT_MSG = 111, OptType.bytes
    PRIORITY = 112
    BUSY_POLL = 113
    HICCUP_MSG = 114, OptType.bytes
    XSUB_VERBOSE_UNSUBSCRIBE = 115
    TOPICS_COUNT = 116
    NORM_MODE = 117
    NORM_UNICAST_NACK = 118
    NORM_BUFFER_SIZE = 119
    NORM_SEGMENT_SIZE = 120
    NORM_BLOCK_SIZE = 121
    NORM_NUM_PARITY = 122
    NORM_NUM_AUTOPARITY = 123
    NORM_PUSH = 124


class MessageOption(enum.IntEnum):
    """Options of a :class:`~zreactor.Frame` (``frame.get(zmq.MORE)``)."""

    MORE = 1
    SHARED = 3
    SRCFD = 2  # deprecated


class Flag(enum.IntFlag):
    """Send/recv flags."""

    DONTWAIT = 1
    SNDMORE = 2
    NOBLOCK = DONTWAIT


class RouterNotify(enum.IntEnum):
    """Values of the (draft) ``ROUTER_NOTIFY`` option."""

    CONNECT = 1
    DISCONNECT = 2


class NormMode(enum.IntEnum):
    """Values of the (draft) ``NORM_MODE`` option."""

    FIXED = 0
    CC = 1
    CCL = 2
    CCE = 3
    CCE_ECNONLY = 4


class SecurityMechanism(enum.IntEnum):
    """Security mechanisms, as ``socket.get(zmq.MECHANISM)`` returns them."""

    NULL = 0
    PLAIN = 1
    CURVE = 2
    GSSAPI = 3


class ReconnectStop(enum.IntEnum):
    """Bits of the ``RECONNECT_STOP`` option: when a connecter stops retrying."""

    CONN_REFUSED = 0x1
    HANDSHAKE_FAILED = 0x2
    AFTER_DISCONNECT = 0x4


#: libzmq's protocol-error values (the ``value`` of a ``HANDSHAKE_FAILED_PROTOCOL`` event)
_PROTOCOL_ERRORS = {
    "WS_UNSPECIFIED": 0x30000000,
    "ZMTP_UNSPECIFIED": 0x10000000,
    "ZMTP_UNEXPECTED_COMMAND": 0x10000001,
    "ZMTP_INVALID_SEQUENCE": 0x10000002,
    "ZMTP_KEY_EXCHANGE": 0x10000003,
    "ZMTP_MALFORMED_COMMAND_UNSPECIFIED": 0x10000011,
    "ZMTP_MALFORMED_COMMAND_MESSAGE": 0x10000012,
    "ZMTP_MALFORMED_COMMAND_HELLO": 0x10000013,
    "ZMTP_MALFORMED_COMMAND_INITIATE": 0x10000014,
    "ZMTP_MALFORMED_COMMAND_ERROR": 0x10000015,
    "ZMTP_MALFORMED_COMMAND_READY": 0x10000016,
    "ZMTP_MALFORMED_COMMAND_WELCOME": 0x10000017,
    "ZMTP_INVALID_METADATA": 0x10000018,
    "ZMTP_CRYPTOGRAPHIC": 0x11000001,
    "ZMTP_MECHANISM_MISMATCH": 0x11000002,
    "ZAP_UNSPECIFIED": 0x20000000,
    "ZAP_MALFORMED_REPLY": 0x20000001,
    "ZAP_BAD_REQUEST_ID": 0x20000002,
    "ZAP_BAD_VERSION": 0x20000003,
    "ZAP_INVALID_STATUS_CODE": 0x20000004,
    "ZAP_INVALID_METADATA": 0x20000005,
}

#: pyzmq's ``zmq.Event``: built from :class:`EventKind` (which owns libzmq's event numbers,
#: in the reactor layer) so the numbers are written once. The protocol-error masks come
#: first, as in pyzmq, so that the event kinds they overlap keep their own names.
Event = enum.IntFlag(  # type: ignore[misc]
    "Event",
    [
        *((f"PROTOCOL_ERROR_{name}", value) for name, value in _PROTOCOL_ERRORS.items()),
        *((kind.name, int(kind)) for kind in EventKind if kind <= EventKind.HANDSHAKE_FAILED_AUTH),
        ("ALL_V1", 0xFFFF),
        ("ALL", 0xFFFF),
        ("PIPES_STATS", 0x10000),  # draft
        ("ALL_V2", 0x1FFFF),
    ],
    module=__name__,
    qualname="Event",
)
Event.__doc__ = "Socket monitor events (pyzmq's ``zmq.Event``; zreactor's extra kinds: ``EventKind``)."


class PollEvent(enum.IntFlag):
    """Poll flags (``Poller.register``, ``socket.events``)."""

    POLLIN = 1
    POLLOUT = 2
    POLLERR = 4
    POLLPRI = 8


class DeviceType(enum.IntEnum):
    """Device types for ``zmq.device``."""

    STREAMER = 1
    FORWARDER = 2
    QUEUE = 3


#: the enums whose members are bound at module level, in pyzmq's order
ENUMS: tuple[type[enum.Enum], ...] = (
    ContextOption, DeviceType, Errno, Event, Flag, MessageOption, NormMode, PollEvent,
    ReconnectStop, RouterNotify, SecurityMechanism, SocketOption, SocketType,
)


#: the families whose members pyzmq binds under a prefix (``RECONNECT_STOP_CONN_REFUSED``)
_PREFIXES: dict[type[enum.Enum], str] = {
    Event: "EVENT_", NormMode: "NORM_", ReconnectStop: "RECONNECT_STOP_", RouterNotify: "NOTIFY_",
}


def _global_name(family: type[enum.Enum], name: str) -> str:
    if name.startswith("PROTOCOL_ERROR_"):
        return name
    return _PREFIXES.get(family, "") + name


def _global_names() -> dict[str, Any]:
    names: dict[str, Any] = {}
    for family in ENUMS:
        for name, member in family.__members__.items():  # aliases included (IDENTITY ...)
            names[_global_name(family, name)] = member
    return names


#: Every module-level constant name and its value (pyzmq's, plus zreactor's own event kinds).
CONSTANTS: dict[str, Any] = _global_names()
# zreactor's listener event kinds, above libzmq's range (see ``EventKind``)
CONSTANTS.update(
    (f"EVENT_{kind.name}", kind) for kind in EventKind if kind.name and f"EVENT_{kind.name}" not in CONSTANTS
)
CONSTANTS.update(
    #: the longest ``ipc://`` path libzmq accepts (``sizeof(sun_path) - 1``)
    IPC_PATH_MAX_LEN=_IPC_PATH_MAX_LEN if hasattr(_socket, "AF_UNIX") else 0,
    #: pyzmq copies frames smaller than this even with ``copy=False``; zreactor always copies
    COPY_THRESHOLD=65536,
    #: zreactor implements none of libzmq's draft API (draft socket types, options, events)
    DRAFT_API=False,
    PYZMQ_DRAFT_API=False,
)



class ListenerOption(enum.IntEnum):
    """zreactor's own socket options, for the listener a ``bind()`` makes (not libzmq's).

    Numbered from ``0x7A520000`` ("zR"), far from libzmq's range, so they can never meet a
    libzmq option. Like ``BACKLOG``, they apply to binds made after they are set.
    """

    #: milliseconds each waiting connection may wait, when the process is out of
    #: descriptors, before it is shed (default 1000)
    ACCEPT_GRACE = 0x7A520001
    #: how waiting clients are told no: ``SHED_RESET`` (default), ``SHED_REOPEN``, ``SHED_NONE``
    SHED_POLICY = 0x7A520002
    #: the fd budget: framework descriptors beyond which the listener stops accepting
    #: (default -1: the soft RLIMIT_NOFILE minus headroom)
    MAX_CONNECTIONS = 0x7A520003


class ShedPolicyCode(enum.IntEnum):
    """Values of ``SHED_POLICY`` (the listener's ``ShedPolicy``, as pyzmq-style ints)."""

    SHED_RESET = 0
    SHED_REOPEN = 1
    SHED_NONE = 2


# zreactor's listener options and their values (not in pyzmq: see ``ListenerOption``)
CONSTANTS.update(ListenerOption.__members__)
CONSTANTS.update(ShedPolicyCode.__members__)

globals().update(CONSTANTS)

__all__ = [
    "CONSTANTS", "ENUMS", "ContextOption", "DeviceType", "Errno", "Event", "Flag",
    "MessageOption", "NormMode", "PollEvent", "ReconnectStop", "RouterNotify",
    "SecurityMechanism", "SocketOption", "SocketType", "ListenerOption", "ShedPolicyCode",
    *CONSTANTS,
]
