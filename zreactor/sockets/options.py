"""Socket options: their defaults, types and validation, in libzmq's units (milliseconds).

Theory of operation
-------------------
Each socket holds one :class:`Options`. Sessions and engines get a *copy* when they are
created (libzmq does the same), so changing an option affects later connections only, and an
I/O thread never reads an object the application thread is writing.

:data:`OPTION_SPECS` is the table that drives ``setsockopt``/``getsockopt``: for each option
its attribute name, its kind (int, bool, bytes, str) and whether it can be written. An option
that is not in the table fails with ``EINVAL``, never silently.
"""

from __future__ import annotations

import copy
import errno
from dataclasses import dataclass, field
from typing import Any

from ..constants import SocketOption as O
from ..errors import ZMQError

__all__ = ["OPTION_SPECS", "SECURITY_OPTIONS", "Options", "OptionSpec", "get_security_option",
           "security_of", "set_security_option"]


@dataclass(slots=True)
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
    immediate: bool = False
    xpub_verbose: bool = False
    ipv6: bool = False
    probe_router: bool = False
    req_correlate: bool = False
    req_relaxed: bool = False
    handshake_ivl: int = 30000
    heartbeat_ivl: int = 0
    heartbeat_ttl: int = 0
    heartbeat_timeout: int = -1
    last_endpoint: str = ""
    # -- security (issue 11; see security_option below) --
    mechanism: int = 0  # NULL 0, PLAIN 1, CURVE 2: the last security option set decides
    as_server: bool = False
    plain_username: bytes = b""
    plain_password: bytes = b""
    curve_publickey: bytes = b""  # raw 32 bytes
    curve_secretkey: bytes = b""
    curve_serverkey: bytes = b""
    zap_domain: bytes = b""
    #: socket-type name as sent in the ZMTP READY command ("PUB", "SUB", ...)
    type_name: str = field(default="PAIR")

    def copy(self) -> Options:
        """A snapshot for a session or engine."""
        return copy.copy(self)


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """How one option is read and written."""

    attr: str  # attribute of Options (or a socket method for the special ones)
    kind: type  # int, bool, bytes or str
    writable: bool = True
    readable: bool = True
    minimum: int | None = None


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
    O.IMMEDIATE: OptionSpec("immediate", bool),
    O.XPUB_VERBOSE: OptionSpec("xpub_verbose", bool, readable=False),
    O.IPV6: OptionSpec("ipv6", bool),
    O.PROBE_ROUTER: OptionSpec("probe_router", bool, readable=False),
    O.REQ_CORRELATE: OptionSpec("req_correlate", bool, readable=False),
    O.REQ_RELAXED: OptionSpec("req_relaxed", bool, readable=False),
    O.HANDSHAKE_IVL: OptionSpec("handshake_ivl", int, minimum=0),
    O.HEARTBEAT_IVL: OptionSpec("heartbeat_ivl", int, minimum=0),
    O.HEARTBEAT_TTL: OptionSpec("heartbeat_ttl", int, minimum=0),
    O.HEARTBEAT_TIMEOUT: OptionSpec("heartbeat_timeout", int, minimum=-1),
    O.TYPE: OptionSpec("type", int, writable=False),
    O.LAST_ENDPOINT: OptionSpec("last_endpoint", str, writable=False),
    O.MECHANISM: OptionSpec("mechanism", int, writable=False),
    O.ZAP_DOMAIN: OptionSpec("zap_domain", bytes),
}

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
    """The frozen :class:`~zreactor.zmtp.security.Security` for a new connection."""
    from ..zmtp.security import Security

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
    )


def _require_curve() -> None:
    from ..zmtp.curve import require_curve

    require_curve()


def coerce(option: int, spec: OptionSpec, value: Any) -> Any:
    """Validate ``value`` for ``option`` and convert it to the stored type.

    Raises:
        ZMQError: EINVAL for a wrong type or an out-of-range value.
    """
    if spec.kind is bytes:
        if isinstance(value, str):
            raise ZMQError(errno.EINVAL, f"option {O(option).name} takes bytes, not str")
        try:
            value = bytes(value)
        except TypeError:
            raise ZMQError(errno.EINVAL, f"option {O(option).name} takes bytes") from None
        if option == O.ROUTING_ID and (not value or len(value) > 255 or value[0] == 0):
            raise ZMQError(errno.EINVAL, "routing_id must be 1-255 bytes, not starting with 0")
        return value
    if spec.kind is bool:
        if not isinstance(value, (bool, int)):
            raise ZMQError(errno.EINVAL, f"option {O(option).name} takes an int/bool")
        return bool(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ZMQError(errno.EINVAL, f"option {O(option).name} takes an int, got {value!r}")
    if spec.minimum is not None and value < spec.minimum:
        raise ZMQError(errno.EINVAL, f"option {O(option).name} must be >= {spec.minimum}")
    return value
