"""Socket options: which exist, which zreactor implements, their types, defaults and checks.

Theory of operation
-------------------
Each socket holds one :class:`Options`. Sessions and engines get a *copy* when they are
created (libzmq does the same), so changing an option affects later connections only, and an
I/O thread never reads an object the application thread is writing.

:data:`OPTION_SPECS` is the table that drives ``setsockopt``/``getsockopt``: for each option
zreactor implements, the :class:`Options` attribute it lives in, its kind (int, bool, bytes,
str), whether it can be written and read, its range, and the socket types it applies to.
:func:`lookup` answers every other number in one of two loud ways, never silently:

* a libzmq option zreactor does not implement (``RATE``, ``GSSAPI_SERVER``, ...): ``ZMQError``
  ``ENOTSUP`` naming the option and, where known, why (:data:`NOT_IMPLEMENTED`);
* a number libzmq does not know: ``ZMQError`` ``EINVAL``, as libzmq answers.

Values are checked in two steps, as pyzmq and libzmq split the work: :func:`check_type` raises
``TypeError`` for a value of the wrong Python type (pyzmq's check, from the option's C type in
``SocketOption._opt_type``), then :func:`coerce` raises ``ZMQError`` ``EINVAL`` for a value out
of range (libzmq's). Every message names the option, not its number.

*Extending the table.* Another module that implements an option adds its row with
:func:`register_option` at import (the security mechanisms add ``PLAIN_*``/``CURVE_*``, the
listener its accept options); the :class:`Options` field it names must exist, either here or
added with a default by that module's row (``default=``).

What the per-connection options do to the OS socket (buffers, keepalive, ``TCP_MAXRT``,
``TOS``) is :func:`apply_to_socket`, called once per tcp or ipc connection on its I/O thread.

*The ipc send buffer.* An ``AF_UNIX`` stream has no receive buffer of its own: all that may be
in flight is the *sender's* ``SO_SNDBUF`` (Linux: ``net.core.wmem_default``, 208 KiB, counted
with each buffer's overhead, and writable again only once it drains to a quarter), where TCP
over loopback grows its buffers to megabytes (``tcp_wmem``/``tcp_rmem``). 208 KiB is less
than one of the engine's batches (``BATCH_BYTES``, 256 KiB, zmtp/engine.py): with large
messages more than half the writes came back short (the rest copied to the write queue,
write interest, ``pause_writing``), the sender woke to write again each time the receiver
had drained the buffer to its quarter, some 50 KiB, and the receiver woke for reads of what
that left; with small messages (a batch is a pipe's 1000, 100 KiB) the same happened
whenever either peer paused. So when ``SNDBUF`` is unset (-1) an ipc connection asks for
:data:`IPC_SNDBUF`, which the kernel doubles (capped at ``net.core.wmem_max``): 512 KiB, two
batches, and for 64 KB messages less than half the sender's wake-ups and 60 % of the
receiver's reads. Not more: 1 MiB asked (2 MiB in flight, an L2 cache's worth) cost the
receiver of 64 KB messages half as much CPU again, the copies out of the kernel running from
colder memory (``docs/PERFORMANCE.md``, *Issue 8: ipc against tcp*). libzmq leaves the OS
default: its batches are 8 KiB.
"""

from __future__ import annotations

import copy
import errno
import socket as _socket
from dataclasses import dataclass, field
from typing import Any

from ..constants import ListenerOption
from ..constants import SocketOption as O
from ..constants import OptType
from ..errors import ZMQError

__all__ = [
    "IPC_SNDBUF",
    "NOT_IMPLEMENTED",
    "OPTION_SPECS",
    "SECURITY_OPTIONS",
    "OptionSpec",
    "Options",
    "get_security_option",
    "security_of",
    "set_security_option",
    "apply_to_socket",
    "conflates",
    "check_type",
    "coerce",
    "lookup",
    "option_name",
    "register_option",
]


#: ``SO_SNDBUF`` asked for an ipc connection whose ``SNDBUF`` option is unset, in bytes (see
#: *The ipc send buffer*): one engine batch (``BATCH_BYTES``), two once the kernel doubles it
IPC_SNDBUF = 256 * 1024


@dataclass(slots=False)
class Options:
    """Every option a socket carries; units are libzmq's (ms, bytes, messages)."""

    type: int = 0
    sndhwm: int = 1000
    rcvhwm: int = 1000
    affinity: int = 0
    routing_id: bytes = b""
    sndbuf: int = -1
    rcvbuf: int = -1
    linger: int = -1
    reconnect_ivl: int = 100
    reconnect_ivl_max: int = 0
    backlog: int = 100
    maxmsgsize: int = -1
    rcvtimeo: int = -1
    sndtimeo: int = -1
    router_mandatory: bool = False
    router_handover: bool = False
    immediate: bool = False
    xpub_verbose: bool = False
    xpub_verboser: bool = False
    xpub_nodrop: bool = False
    xpub_manual: bool = False
    xpub_welcome_msg: bytes = b""
    invert_matching: bool = False
    conflate: bool = False
    ipv6: bool = False
    probe_router: bool = False
    req_correlate: bool = False
    req_relaxed: bool = False
    handshake_ivl: int = 30000
    heartbeat_ivl: int = 0
    heartbeat_ttl: int = 0
    heartbeat_timeout: int = -1
    tcp_keepalive: int = -1
    tcp_keepalive_cnt: int = -1
    tcp_keepalive_idle: int = -1
    tcp_keepalive_intvl: int = -1
    tcp_maxrt: int = 0
    tos: int = 0
    connect_timeout: int = 0
    reconnect_stop: int = 0
    #: the security mechanism (``SecurityMechanism``); NULL until a mechanism module sets it
    mechanism: int = 0
    thread_safe: bool = False
    last_endpoint: str = ""
    #: the routing id the next ``connect`` gives its connection (STREAM, ROUTER); one-shot
    connect_routing_id: bytes = b""
    #: STREAM: report connections and disconnections as empty messages
    stream_notify: bool = True
    # -- security (issue 11; see set_security_option below; ``mechanism`` is above) --
    as_server: bool = False
    plain_username: bytes = b""
    # secrets never appear in a repr (or a log line made from one)
    plain_password: bytes = field(default=b"", repr=False)
    curve_publickey: bytes = b""  # raw 32 bytes
    curve_secretkey: bytes = field(default=b"", repr=False)
    curve_serverkey: bytes = b""
    zap_domain: bytes = b""
    zap_enforce_domain: bool = False
    #: socket-type name as sent in the ZMTP READY command ("PUB", "SUB", ...)
    type_name: str = field(default="PAIR")

    def copy(self) -> Options:
        """A snapshot for a session or engine."""
        return copy.copy(self)


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """How one option is read and written.

    Attributes:
        attr: the :class:`Options` attribute holding it.
        kind: ``int``, ``bool``, ``bytes`` or ``str`` (``str`` options read back as bytes).
        writable / readable: what libzmq allows (a write-only option reads as ``EINVAL``).
        minimum / maximum: the accepted range of an int option (inclusive).
        types: the socket type names it applies to (``None``: every type).
    """

    attr: str
    kind: type
    writable: bool = True
    readable: bool = True
    minimum: int | None = None
    maximum: int | None = None
    types: frozenset[str] | None = None


_XPUB = frozenset({"XPUB", "PUB"})  # libzmq's pub_t is an xpub_t
_ROUTER = frozenset({"ROUTER"})
_REQ = frozenset({"REQ"})

OPTION_SPECS: dict[int, OptionSpec] = {
    O.SNDHWM: OptionSpec("sndhwm", int, minimum=0),
    O.RCVHWM: OptionSpec("rcvhwm", int, minimum=0),
    O.AFFINITY: OptionSpec("affinity", int, minimum=0),
    O.ROUTING_ID: OptionSpec("routing_id", bytes),
    O.SNDBUF: OptionSpec("sndbuf", int, minimum=-1),
    O.RCVBUF: OptionSpec("rcvbuf", int, minimum=-1),
    O.LINGER: OptionSpec("linger", int, minimum=-1),
    O.RECONNECT_IVL: OptionSpec("reconnect_ivl", int, minimum=-1),
    O.RECONNECT_IVL_MAX: OptionSpec("reconnect_ivl_max", int, minimum=0),
    O.BACKLOG: OptionSpec("backlog", int, minimum=0),
    O.MAXMSGSIZE: OptionSpec("maxmsgsize", int, minimum=-1),
    O.RCVTIMEO: OptionSpec("rcvtimeo", int, minimum=-1),
    O.SNDTIMEO: OptionSpec("sndtimeo", int, minimum=-1),
    O.ROUTER_MANDATORY: OptionSpec("router_mandatory", bool, readable=False),
    O.ROUTER_HANDOVER: OptionSpec("router_handover", bool, readable=False, types=_ROUTER),
    O.IMMEDIATE: OptionSpec("immediate", bool),
    O.XPUB_VERBOSE: OptionSpec("xpub_verbose", bool, readable=False),
    O.XPUB_VERBOSER: OptionSpec("xpub_verboser", bool, readable=False, types=_XPUB),
    O.XPUB_NODROP: OptionSpec("xpub_nodrop", bool, readable=False, types=_XPUB),
    O.XPUB_MANUAL: OptionSpec("xpub_manual", bool, readable=False, types=frozenset({"XPUB"})),
    O.XPUB_WELCOME_MSG: OptionSpec("xpub_welcome_msg", bytes, readable=False, types=_XPUB),
    O.INVERT_MATCHING: OptionSpec("invert_matching", bool),
    O.CONFLATE: OptionSpec("conflate", bool),
    O.IPV6: OptionSpec("ipv6", bool),
    O.PROBE_ROUTER: OptionSpec("probe_router", bool, readable=False),
    O.REQ_CORRELATE: OptionSpec("req_correlate", bool, readable=False),
    O.REQ_RELAXED: OptionSpec("req_relaxed", bool, readable=False),
    O.HANDSHAKE_IVL: OptionSpec("handshake_ivl", int, minimum=0),
    O.HEARTBEAT_IVL: OptionSpec("heartbeat_ivl", int, minimum=0),
    O.HEARTBEAT_TTL: OptionSpec("heartbeat_ttl", int, minimum=0, maximum=6553599),
    O.HEARTBEAT_TIMEOUT: OptionSpec("heartbeat_timeout", int, minimum=-1),
    O.TCP_KEEPALIVE: OptionSpec("tcp_keepalive", int, minimum=-1, maximum=1),
    O.TCP_KEEPALIVE_CNT: OptionSpec("tcp_keepalive_cnt", int, minimum=-1),
    O.TCP_KEEPALIVE_IDLE: OptionSpec("tcp_keepalive_idle", int, minimum=-1),
    O.TCP_KEEPALIVE_INTVL: OptionSpec("tcp_keepalive_intvl", int, minimum=-1),
    O.TCP_MAXRT: OptionSpec("tcp_maxrt", int, minimum=0),
    O.TOS: OptionSpec("tos", int, minimum=0, maximum=255),
    O.CONNECT_TIMEOUT: OptionSpec("connect_timeout", int, minimum=0),
    O.RECONNECT_STOP: OptionSpec("reconnect_stop", int, minimum=0, maximum=7),
    O.MECHANISM: OptionSpec("mechanism", int, writable=False),
    O.THREAD_SAFE: OptionSpec("thread_safe", bool, writable=False),
    O.TYPE: OptionSpec("type", int, writable=False),
    O.LAST_ENDPOINT: OptionSpec("last_endpoint", str, writable=False),
    O.ZAP_DOMAIN: OptionSpec("zap_domain", bytes),
    O.ZAP_ENFORCE_DOMAIN: OptionSpec("zap_enforce_domain", bool),
    O.CONNECT_ROUTING_ID: OptionSpec("connect_routing_id", bytes, readable=False,
                                     types=frozenset({"STREAM", "ROUTER"})),
    O.STREAM_NOTIFY: OptionSpec("stream_notify", bool, readable=False,
                                types=frozenset({"STREAM"})),
}

#: options the socket answers itself (not stored in :class:`Options`); see ``Socket.getsockopt``
SOCKET_LEVEL = frozenset({O.HWM, O.RCVMORE, O.EVENTS, O.FD, O.SUBSCRIBE, O.UNSUBSCRIBE,
                          O.IPV4ONLY})

# -- security options --------------------------------------------------------------------
# libzmq's options.cpp: each of these also picks the mechanism and the role, so they are not
# plain table rows. The last one set wins, as in libzmq.

_MECHANISM_NAMES = {0: "NULL", 1: "PLAIN", 2: "CURVE"}
_CURVE_KEYS = {O.CURVE_PUBLICKEY: "curve_publickey", O.CURVE_SECRETKEY: "curve_secretkey",
               O.CURVE_SERVERKEY: "curve_serverkey"}
SECURITY_OPTIONS = frozenset({O.PLAIN_SERVER, O.PLAIN_USERNAME, O.PLAIN_PASSWORD,
                              O.CURVE_SERVER, *_CURVE_KEYS})


def set_security_option(options: Options, option: int, value: Any) -> None:
    """Set one of :data:`SECURITY_OPTIONS` the way libzmq does (mechanism and role too).

    Raises:
        ZMQError: EINVAL for a bad value (a CURVE key that is not 32 raw bytes or 40 Z85
            characters); ``CurveUnavailable`` (an ``ENOTSUP`` ZMQError naming the extra) for a
            CURVE option without PyNaCl.
    """
    if option in (O.PLAIN_SERVER, O.CURVE_SERVER):
        on = coerce(option, OptionSpec("as_server", bool), value)
        if option == O.CURVE_SERVER:
            _require_curve()
        options.as_server = on
        options.mechanism = (1 if option == O.PLAIN_SERVER else 2) if on else 0
        return
    raw = coerce(option, OptionSpec("", bytes), value)
    if option in (O.PLAIN_USERNAME, O.PLAIN_PASSWORD):
        if len(raw) > 255:
            raise ZMQError(errno.EINVAL, f"option {O(option).name} is at most 255 bytes")
        setattr(options, "plain_username" if option == O.PLAIN_USERNAME else "plain_password",
                raw)
        options.as_server = False
        options.mechanism = 1 if raw else 0
        return
    _require_curve()
    if len(raw) == 40:
        from ..utils import z85

        try:
            raw = z85.decode(raw)
        except ValueError:
            raise ZMQError(errno.EINVAL, f"option {O(option).name}: invalid Z85 key") from None
    if len(raw) != 32:
        raise ZMQError(errno.EINVAL,
                       f"option {O(option).name} takes a 32-byte key or its 40-character Z85 form")
    setattr(options, _CURVE_KEYS[option], raw)
    if option == O.CURVE_SERVERKEY:
        options.as_server = False
    options.mechanism = 2


def get_security_option(options: Options, option: int) -> Any:
    """Read one of :data:`SECURITY_OPTIONS` (CURVE keys in their Z85 form, as pyzmq does)."""
    if option == O.PLAIN_SERVER:
        return int(options.as_server and options.mechanism == 1)
    if option == O.CURVE_SERVER:
        return int(options.as_server and options.mechanism == 2)
    if option == O.PLAIN_USERNAME:
        return options.plain_username
    if option == O.PLAIN_PASSWORD:
        return options.plain_password
    key = getattr(options, _CURVE_KEYS[option])
    if not key:
        _require_curve()
        return b""
    from ..utils import z85

    return z85.encode(key)


def security_of(options: Options) -> Any:
    """The frozen :class:`~zreactor.zmtp.security.Security` for a new connection.

    Raises:
        ZMQError: EINVAL for a CURVE socket without the keys its role needs (a server needs
            ``CURVE_SECRETKEY``; a client ``CURVE_SERVERKEY``, ``CURVE_PUBLICKEY`` and
            ``CURVE_SECRETKEY``), caught here on the socket's thread at bind/connect rather
            than in the I/O thread at the first connection.
    """
    from ..zmtp.security import Security

    if options.mechanism == 2:
        needed = (("curve_secretkey",) if options.as_server
                  else ("curve_serverkey", "curve_publickey", "curve_secretkey"))
        missing = [n.upper() for n in needed if not getattr(options, n)]
        if missing:
            role = "server" if options.as_server else "client"
            raise ZMQError(errno.EINVAL, f"CURVE {role} needs {', '.join(missing)}")

    return Security(
        mechanism=_MECHANISM_NAMES[options.mechanism],
        as_server=options.as_server,
        username=options.plain_username,
        password=options.plain_password,
        public_key=options.curve_publickey,
        secret_key=options.curve_secretkey,
        server_key=options.curve_serverkey,
        zap_domain=options.zap_domain,
        routing_id=options.routing_id,
        zap_enforce=options.zap_enforce_domain,
    )


def _require_curve() -> None:
    from ..zmtp.curve import require_curve

    require_curve()


_MULTICAST = "the pgm/epgm/norm multicast transports are not implemented"
#: why zreactor does not implement a libzmq option (the rest: "not implemented")
NOT_IMPLEMENTED: dict[int, str] = {
    O.RATE: _MULTICAST,
    O.RECOVERY_IVL: _MULTICAST,
    O.MULTICAST_HOPS: _MULTICAST,
    O.MULTICAST_MAXTPDU: _MULTICAST,
    O.MULTICAST_LOOP: _MULTICAST,
    O.ROUTER_RAW: "use a STREAM socket (ROUTER_RAW is deprecated in libzmq)",
    O.GSSAPI_SERVER: "the GSSAPI mechanism is not implemented",
    O.GSSAPI_PRINCIPAL: "the GSSAPI mechanism is not implemented",
    O.GSSAPI_SERVICE_PRINCIPAL: "the GSSAPI mechanism is not implemented",
    O.GSSAPI_PLAINTEXT: "the GSSAPI mechanism is not implemented",
    O.GSSAPI_PRINCIPAL_NAMETYPE: "the GSSAPI mechanism is not implemented",
    O.GSSAPI_SERVICE_PRINCIPAL_NAMETYPE: "the GSSAPI mechanism is not implemented",
    O.SOCKS_PROXY: "SOCKS proxies are not implemented",
    O.SOCKS_USERNAME: "SOCKS proxies are not implemented",
    O.SOCKS_PASSWORD: "SOCKS proxies are not implemented",
    O.VMCI_BUFFER_SIZE: "the vmci transport is not implemented",
    O.VMCI_BUFFER_MIN_SIZE: "the vmci transport is not implemented",
    O.VMCI_BUFFER_MAX_SIZE: "the vmci transport is not implemented",
    O.VMCI_CONNECT_TIMEOUT: "the vmci transport is not implemented",
    O.USE_FD: "adopting a pre-made listening fd is not implemented",
    O.BINDTODEVICE: "SO_BINDTODEVICE is not implemented",
    O.TCP_ACCEPT_FILTER: "deprecated in libzmq; use ZAP",
    O.IPC_FILTER_PID: "deprecated in libzmq; use ZAP",
    O.IPC_FILTER_UID: "deprecated in libzmq; use ZAP",
    O.IPC_FILTER_GID: "deprecated in libzmq; use ZAP",
    O.BLOCKY: "a context option in libzmq; use Context.set",
}


#: libzmq's defaults of options zreactor does not implement, reported on *read*: zreactor
#: behaves as libzmq does with the default (no multicast, no adopted fd, no device binding,
#: no loopback fast path), so the default is the truthful answer. *Setting* one is ENOTSUP.
UNIMPLEMENTED_DEFAULTS: dict[int, Any] = {
    O.RATE: 100,
    O.RECOVERY_IVL: 10000,
    O.MULTICAST_HOPS: 1,
    O.MULTICAST_MAXTPDU: 1500,
    O.MULTICAST_LOOP: 1,
    O.USE_FD: -1,
    O.LOOPBACK_FASTPATH: 0,
    O.BINDTODEVICE: b"",
}


def option_name(option: int) -> str:
    """``"LINGER"`` for 17; ``"option 9999"`` for a number libzmq does not name."""
    for family in (O, ListenerOption):
        try:
            return family(option).name
        except ValueError:
            pass
    return f"option {option}"


#: read-only rows answering :data:`UNIMPLEMENTED_DEFAULTS` (``Options`` has the fields)
_DEFAULT_SPECS = {
    option: OptionSpec(f"_default_{O(option).name.lower()}", type(value), writable=False)
    for option, value in UNIMPLEMENTED_DEFAULTS.items()
}
for _option, _value in UNIMPLEMENTED_DEFAULTS.items():
    setattr(Options, _DEFAULT_SPECS[_option].attr, _value)


def register_option(option: int, spec: OptionSpec, default: Any = None) -> None:
    """Add (or replace) the row of an option another module implements.

    Args:
        option: the libzmq number (``zmq.CURVE_SERVER``).
        spec: its row; ``spec.attr`` names the :class:`Options` attribute.
        default: the attribute's default, when the attribute is new (set on the class).
    """
    if default is not None or not hasattr(Options, spec.attr):
        setattr(Options, spec.attr, default)
    OPTION_SPECS[int(option)] = spec
    NOT_IMPLEMENTED.pop(int(option), None)


def lookup(option: int, type_name: str, *, write: bool) -> OptionSpec:
    """The row of ``option`` for a ``type_name`` socket, or the error that explains why not.

    Raises:
        ZMQError: ENOTSUP for a libzmq option zreactor does not implement; EINVAL for an
            unknown number, a read of a write-only option (or the reverse), or an option that
            does not apply to this socket type.
    """
    spec = OPTION_SPECS.get(option)
    if (
        spec is not None
        and (spec.types is None or type_name in spec.types)
        and (spec.writable if write else spec.readable)
    ):
        return spec  # the common case: no name to build (option_name makes an enum)
    name = option_name(option)
    if spec is None and not write and option in UNIMPLEMENTED_DEFAULTS:
        return _DEFAULT_SPECS[option]
    if spec is None:
        if name.startswith("option "):
            raise ZMQError(errno.EINVAL, f"unknown socket option {option}")
        reason = NOT_IMPLEMENTED.get(option, "not implemented")
        raise ZMQError(errno.ENOTSUP, f"zreactor does not implement socket option {name}: {reason}")
    if spec.types is not None and type_name not in spec.types:
        kinds = "/".join(sorted(spec.types))
        raise ZMQError(errno.EINVAL, f"{name} applies to {kinds} sockets, not {type_name}")
    if write and not spec.writable:
        raise ZMQError(errno.EINVAL, f"{name} is read-only")
    if not write and not spec.readable:
        raise ZMQError(errno.EINVAL, f"{name} is write-only")
    return spec


_BYTES_LIKE = (bytes, bytearray, memoryview)


def check_type(option: int, value: Any) -> None:
    """pyzmq's check: a value of the wrong Python type for ``option`` is a ``TypeError``.

    Bytes options take bytes (``bytearray``/``memoryview`` too); everything else takes an
    int (``bool`` included). A ``str`` is refused with pyzmq's advice.
    """
    try:
        opt_type = O(option).opt_type
    except ValueError:
        opt_type = OptType.int
    if isinstance(value, str):
        raise TypeError(f"{option_name(option)}: unicode not allowed, use setsockopt_string")
    if opt_type is OptType.bytes:
        if not isinstance(value, _BYTES_LIKE):
            hint = f" (pass bytes, e.g. {str(value).encode()!r})" if isinstance(value, int) else ""
            raise TypeError(
                f"{option_name(option)} takes bytes, got {type(value).__name__} {value!r}{hint}")
    elif not isinstance(value, int):
        raise TypeError(f"{option_name(option)} takes an int, got {type(value).__name__} {value!r}")


def coerce(option: int, spec: OptionSpec, value: Any) -> Any:
    """Range-check ``value`` (already type-checked) and convert it to the stored type.

    Raises:
        ZMQError: EINVAL for an out-of-range value.
    """
    name = option_name(option)
    if spec.kind is bytes:
        value = bytes(value)
        if option == O.ROUTING_ID and (not value or len(value) > 255 or value[0] == 0):
            raise ZMQError(errno.EINVAL, "ROUTING_ID must be 1-255 bytes, not starting with 0")
        if option == O.CONNECT_ROUTING_ID and not 0 < len(value) <= 255:
            raise ZMQError(errno.EINVAL, "CONNECT_ROUTING_ID must be 1-255 bytes")
        return value
    if spec.kind is bool:
        return bool(value)
    value = int(value)
    if spec.minimum is not None and value < spec.minimum:
        raise ZMQError(errno.EINVAL, f"{name} must be >= {spec.minimum}, got {value}")
    if spec.maximum is not None and value > spec.maximum:
        raise ZMQError(errno.EINVAL, f"{name} must be <= {spec.maximum}, got {value}")
    return value


#: the socket types whose pipes ``CONFLATE`` applies to (libzmq's list)
CONFLATING_TYPES = frozenset({"PUB", "SUB", "PUSH", "PULL", "DEALER", "PAIR", "XPUB", "XSUB"})


def conflates(options: Options) -> bool:
    """True if pipes of a socket with ``options`` keep only the newest message."""
    return options.conflate and options.type_name in CONFLATING_TYPES


def apply_to_socket(sock: _socket.socket, options: Options) -> None:
    """Set the OS-level options of one new tcp or ipc connection (libzmq's ``tune_tcp_*``).

    ``SNDBUF``/``RCVBUF`` (when not -1; an ipc connection's unset ``SNDBUF`` asks for
    :data:`IPC_SNDBUF`, see *The ipc send buffer*), and for tcp ``TCP_KEEPALIVE`` and its
    ``_CNT``/``_IDLE``/``_INTVL`` (when not -1; ``_IDLE`` is Linux's ``TCP_KEEPIDLE``),
    ``TCP_MAXRT`` (``TCP_USER_TIMEOUT``, ms) and ``TOS``. Runs on the connection's I/O thread;
    an option the platform lacks is skipped, as libzmq does.
    """
    settings: list[tuple[int, str, int]] = []
    if options.sndbuf >= 0:
        settings.append((_socket.SOL_SOCKET, "SO_SNDBUF", options.sndbuf))
    elif sock.family == getattr(_socket, "AF_UNIX", None):
        settings.append((_socket.SOL_SOCKET, "SO_SNDBUF", IPC_SNDBUF))
    if options.rcvbuf >= 0:
        settings.append((_socket.SOL_SOCKET, "SO_RCVBUF", options.rcvbuf))
    if sock.family in (_socket.AF_INET, _socket.AF_INET6):  # the rest is tcp's
        settings.extend(_tcp_settings(sock.family, options))
    for level, attr, value in settings:
        number = getattr(_socket, attr, None)
        if number is not None:
            sock.setsockopt(level, number, value)


def _tcp_settings(family: int, options: Options) -> list[tuple[int, str, int]]:
    settings: list[tuple[int, str, int]] = []
    if options.tcp_keepalive >= 0:
        settings.append((_socket.SOL_SOCKET, "SO_KEEPALIVE", options.tcp_keepalive))
    if options.tcp_keepalive == 1:
        for attr, value in (("TCP_KEEPCNT", options.tcp_keepalive_cnt),
                            ("TCP_KEEPIDLE", options.tcp_keepalive_idle),
                            ("TCP_KEEPINTVL", options.tcp_keepalive_intvl)):
            if value >= 0:
                settings.append((_socket.IPPROTO_TCP, attr, value))
    if options.tcp_maxrt > 0:
        settings.append((_socket.IPPROTO_TCP, "TCP_USER_TIMEOUT", options.tcp_maxrt))
    if options.tos > 0:
        if family == _socket.AF_INET6:
            settings.append((_socket.IPPROTO_IPV6, "IPV6_TCLASS", options.tos))
        else:
            settings.append((_socket.IPPROTO_IP, "IP_TOS", options.tos))
    return settings


# -- zreactor's listener options (issue 12): what a bind() gives its Listener ---------------
# Units are libzmq's (milliseconds); the bind converts (transports.listener_options).
register_option(ListenerOption.ACCEPT_GRACE, OptionSpec("accept_grace", int, minimum=0),
                default=1000)
register_option(ListenerOption.SHED_POLICY,
                OptionSpec("shed_policy", int, minimum=0, maximum=2), default=0)
register_option(ListenerOption.MAX_CONNECTIONS,
                OptionSpec("max_connections", int, minimum=-1), default=-1)
