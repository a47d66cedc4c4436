"""Devices: a proxy whose sockets are made, configured and run on the thread that runs it.

Theory of operation
-------------------
A zreactor socket belongs to one thread. A device that forwards in the background therefore
cannot be handed sockets; it is handed socket *types* and a *plan* for each socket (options
to set, addresses to bind and connect), and makes the sockets itself on the thread (or in the
process) it runs on, in libzmq's order: options first (``ROUTING_ID`` must precede a
connect), then binds, then connects. The plan is recorded by ``setsockopt_in``,
``bind_in``, ``connect_in`` ... (``_out``, and ``_mon``/``_ctrl`` in the subclasses that
have those sockets), called on the device before :meth:`Device.start`.

:meth:`Device.run` ends, closing the sockets it made, when the context is terminated (the
usual way: ``ETERM`` and ``ENOTSOCK`` are a clean stop, as in pyzmq) or when the work
function returns (a steerable proxy told ``TERMINATE``). :class:`Device` runs in the caller's
thread; :class:`ThreadDevice` in a daemon thread sharing ``Context.instance()``;
:class:`ProcessDevice` in a ``multiprocessing`` process with a context of its own (a context
inherited across ``fork`` must never be used).

``bind_in_to_random_port`` (and the other ``*_to_random_port``) must answer with a port
before the device has a socket: it binds a throw-away socket to find a free port, releases
it, and records the address; the device binds it when it starts. Another program can take
the port in between, as with pyzmq.
"""

from __future__ import annotations

import errno
import multiprocessing
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..constants import DeviceType, Errno, SocketType
from ..context import Context
from ..errors import ZMQBindError, ZMQError
from ..proxy import proxy
from ..sockets.socket import Socket

__all__ = ["Device", "ProcessDevice", "ThreadDevice"]

#: errnos that mean "the device was shut down", not a failure (pyzmq's)
_CLEAN_STOP = {errno.ENOTSOCK, int(Errno.ETERM)}
_RANDOM_PORT_TRIES = 5


@dataclass
class _Plan:
    """What to do with one of the device's sockets once it exists."""

    socket_type: int
    sockopts: list[tuple[int, Any]] = field(default_factory=list)
    binds: list[str] = field(default_factory=list)
    connects: list[str] = field(default_factory=list)


def role_methods(role: str) -> tuple[Callable[..., Any], ...]:
    """``bind_<role>``, ``bind_<role>_to_random_port``, ``connect_<role>`` and
    ``setsockopt_<role>`` for a device class body (one definition for every socket role)."""

    def bind(self: Device, addr: str) -> None:
        self._plans[role].binds.append(addr)

    def bind_to_random_port(self: Device, addr: str, *args: Any, **kwargs: Any) -> int:
        port = self._reserve_random_port(addr, *args, **kwargs)
        self._plans[role].binds.append(f"{addr}:{port}")
        return port

    def connect(self: Device, addr: str) -> None:
        self._plans[role].connects.append(addr)

    def setsockopt(self: Device, opt: int, value: Any) -> None:
        self._plans[role].sockopts.append((opt, value))

    bind.__doc__ = f"Bind the {role} socket to ``addr`` when the device starts."
    bind_to_random_port.__doc__ = (
        f"Reserve a free port on ``addr`` (``tcp://HOST``) for the {role} socket; return it.\n\n"
        "Arguments are ``Socket.bind_to_random_port``'s (``min_port``, ``max_port``,\n"
        "``max_tries``).\n\nRaises:\n    ZMQBindError: no free port that this device has not "
        "reserved already."
    )
    connect.__doc__ = f"Connect the {role} socket to ``addr`` when the device starts."
    setsockopt.__doc__ = f"Set option ``opt`` to ``value`` on the {role} socket, before binds."
    bind.__name__, connect.__name__ = f"bind_{role}", f"connect_{role}"
    setsockopt.__name__ = f"setsockopt_{role}"
    bind_to_random_port.__name__ = f"bind_{role}_to_random_port"
    return bind, bind_to_random_port, connect, setsockopt


class Device:
    """A proxy between two sockets it makes itself, run in the calling thread by :meth:`start`.

    Args:
        device_type: ``QUEUE``, ``FORWARDER`` or ``STREAMER``, recorded (libzmq forwards the
            same way for all three).
        in_type: the socket type of the frontend (``zmq.ROUTER`` ...).
        out_type: the backend's; negative means the frontend serves as both (a single-socket
            device, e.g. a REP socket that answers every request with the request).

    Raises:
        TypeError: ``in_type`` or ``out_type`` missing.
    """

    #: makes the device's context; ``Context.instance`` (shared) here and in threads,
    #: ``Context`` (fresh) in processes
    context_factory: Callable[[], Context] = Context.instance
    #: whether a background device's thread or process is a daemon (default True: a device
    #: runs until its context ends, which must not keep the program alive)
    daemon: bool

    bind_in, bind_in_to_random_port, connect_in, setsockopt_in = role_methods("in")
    bind_out, bind_out_to_random_port, connect_out, setsockopt_out = role_methods("out")

    def __init__(self, device_type: int = DeviceType.QUEUE, in_type: int | None = None,
                 out_type: int | None = None) -> None:
        if in_type is None:
            raise TypeError("in_type must be specified")
        if out_type is None:
            raise TypeError("out_type must be specified")
        self.device_type = device_type
        self.in_type = in_type
        self.out_type = out_type
        self.daemon = True
        self.done = False
        self._plans: dict[str, _Plan] = {"in": _Plan(in_type), "out": _Plan(out_type)}
        self._random_addrs: list[str] = []
        self._sockets: list[Socket] = []
        self._context: Context | None = None

    def _reserve_random_port(self, addr: str, *args: Any, **kwargs: Any) -> int:
        with Context() as ctx:
            binder = ctx.socket(SocketType.PUSH)
            try:
                for _ in range(_RANDOM_PORT_TRIES):
                    try:
                        port = binder.bind_to_random_port(addr, *args, **kwargs)
                    except ZMQError as exc:  # every port in the range is taken
                        if exc.errno != errno.EADDRINUSE:
                            raise
                        break
                    if f"{addr}:{port}" not in self._random_addrs:
                        self._random_addrs.append(f"{addr}:{port}")
                        return port
            finally:
                binder.close(linger=0)
        raise ZMQBindError("Could not reserve random port.")

    def _make_socket(self, role: str) -> Socket:
        assert self._context is not None
        plan = self._plans[role]
        sock = self._context.socket(plan.socket_type)
        self._sockets.append(sock)
        for opt, value in plan.sockopts:
            sock.setsockopt(opt, value)
        return sock

    def _setup_sockets(self) -> dict[str, Socket]:
        """Make every planned socket, set its options, then bind, then connect."""
        self._context = self.context_factory()
        sockets: dict[str, Socket] = {}
        for role, plan in self._plans.items():
            if role == "out" and plan.socket_type < 0:
                sockets["out"] = sockets["in"]
                for opt, value in plan.sockopts:
                    sockets["in"].setsockopt(opt, value)
            else:
                sockets[role] = self._make_socket(role)
        for step in ("binds", "connects"):
            for role, plan in self._plans.items():
                for addr in getattr(plan, step):
                    getattr(sockets[role], step[:-1])(addr)
        return sockets

    def run_device(self) -> None:
        """Make the sockets and forward until the context ends (called by :meth:`run`)."""
        sockets = self._setup_sockets()
        proxy(sockets["in"], sockets["out"])

    def run(self) -> None:
        """:meth:`run_device`, treating ``ETERM``/``ENOTSOCK`` as a clean stop; then close the
        sockets this device made and set :attr:`done`."""
        try:
            self.run_device()
        except ZMQError as exc:
            if exc.errno not in _CLEAN_STOP:
                raise
        finally:
            self.done = True
            for sock in self._sockets:
                if not sock.closed:
                    sock.close()

    def start(self) -> None:
        """Run the device here, blocking (the background devices override this)."""
        self.run()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the device has stopped, or ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.001)


class BackgroundDevice(Device):
    """A device run by a launcher (a thread or a process) that :meth:`start` creates."""

    #: the launcher class, ``threading.Thread`` or ``multiprocessing.Process``
    _launch_class: Any = None
    launcher: Any = None

    def start(self) -> None:
        """Start the launcher; returns at once."""
        self.launcher = self._launch_class(target=self.run)
        self.launcher.daemon = self.daemon
        self.launcher.start()

    def join(self, timeout: float | None = None) -> None:
        """Join the launcher (the thread or process)."""
        self.launcher.join(timeout=timeout)


class ThreadDevice(BackgroundDevice):
    """A :class:`Device` in a background thread, sharing ``Context.instance()``."""

    _launch_class = threading.Thread


class ProcessDevice(BackgroundDevice):
    """A :class:`Device` in a background process, with a context of its own."""

    _launch_class = multiprocessing.Process
    context_factory = Context
