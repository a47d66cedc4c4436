"""The inproc transport: pipes straight between two sockets of one context.

Theory of operation
-------------------
``inproc://NAME`` has no I/O thread, no engine and no bytes on any wire: a connection is one
pipe pair whose ends belong to the two sockets. The context keeps one :class:`InprocRegistry`,
the map from bound names to sockets. It is touched by application threads only, under its
own lock.

*Either order.* ``connect()`` before ``bind()`` works, as in libzmq: the connecting socket
gets its pipe end at once (so it can queue messages, up to its own HWM), and the other end
waits in the registry's pending list. The ``bind()`` that takes the name adopts every pending
end, raising the HWMs to the summed values a bind-first connection would have had.

*High-water marks* are summed as libzmq does: the connecter's ``sndhwm`` plus the binder's
``rcvhwm`` one way, and the reverse the other way (0, unbounded, if either side is 0).

*Routing ids.* Each end's ``routing_id`` is the identity of the socket at the *other* end,
which is what a ROUTER needs to address it; a connecting ROUTER's ``CONNECT_ROUTING_ID``
names the peer instead, as libzmq's ``router_t::identify_peer`` does for every locally
initiated pipe (inproc included).

*Conflation.* An inproc pipe conflates if either socket asks for ``CONFLATE``, in either
order: a connection pending when a conflating socket binds is made conflating then
(:func:`~zreactor.sockets.pipe.conflate_pair`). (libzmq looks at the connecting socket only,
so a conflating SUB that binds is ignored there; zreactor keeps one rule for both orders.)
"""

from __future__ import annotations

import errno
import threading
from typing import TYPE_CHECKING

from ..errors import ZMQError
from .commands import SocketCmd
from .options import conflates
from .pipe import Pipe, conflate_pair, pipepair

if TYPE_CHECKING:
    from .socket import Socket

__all__ = ["InprocRegistry", "make_inproc_pipes"]


def make_inproc_pipes(binder: Socket, connecter: Socket) -> tuple[Pipe, Pipe]:
    """Create the pipe pair of an inproc connection; HWMs are summed as in libzmq.

    Returns:
        ``(binder_end, connecter_end)``. Each end's ``routing_id`` is the *peer's* identity.
    """
    b, c = binder.options, connecter.options
    sndhwm = c.sndhwm + b.rcvhwm if c.sndhwm and b.rcvhwm else 0
    rcvhwm = c.rcvhwm + b.sndhwm if c.rcvhwm and b.sndhwm else 0
    c_end, b_end = pipepair((connecter, binder), (sndhwm, rcvhwm),
                            conflate=conflates(b) or conflates(c))
    b_end.routing_id = c.routing_id or None
    c_end.routing_id = b.routing_id or None
    return b_end, c_end


class InprocRegistry:
    """Bound inproc names and the connections waiting for a bind. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bound: dict[str, Socket] = {}
        #: name -> (connecting socket, its end, the end waiting for a binder)
        self._pending: dict[str, list[tuple[Socket, Pipe, Pipe]]] = {}

    def bind(self, name: str, sock: Socket) -> None:
        """Bind ``name`` to ``sock`` (its thread) and adopt connections made before.

        Raises:
            ZMQError: EADDRINUSE if another socket holds the name.
        """
        with self._lock:
            if name in self._bound:
                raise ZMQError(errno.EADDRINUSE, f"inproc://{name} is already bound")
            self._bound[name] = sock
            pending = self._pending.pop(name, [])
        for connecter, c_end, b_end in pending:
            # the connecting side has been queueing into c_end since its connect()
            fresh_b, fresh_c = make_inproc_pipes(sock, connecter)
            c_end.hwm, b_end.hwm = fresh_c.hwm, fresh_b.hwm
            c_end.lwm, b_end.lwm = fresh_c.lwm, fresh_b.lwm
            b_end.routing_id = fresh_b.routing_id
            if c_end.routing_id is None:  # else the connecter's CONNECT_ROUTING_ID named it
                c_end.routing_id = fresh_c.routing_id
            if conflates(sock.options) and not conflates(connecter.options):
                conflate_pair(b_end, c_end)
            sock.attach_pipe(b_end)

    def lookup(self, name: str) -> Socket | None:
        """The socket bound to ``name``, or None (any thread; the ZAP client uses it)."""
        with self._lock:
            return self._bound.get(name)

    def connect(self, name: str, sock: Socket) -> Pipe:
        """Connect ``sock`` (its thread) to ``name``; return its pipe end, already attached."""
        with self._lock:
            binder = self._bound.get(name)
            if binder is None:
                opts = sock.options
                c_end, b_end = pipepair((sock, None), (opts.sndhwm, opts.rcvhwm),
                                        conflate=conflates(opts))
                self._pending.setdefault(name, []).append((sock, c_end, b_end))
            else:
                b_end, c_end = make_inproc_pipes(binder, sock)
        if sock.options.connect_routing_id:
            c_end.routing_id = sock.options.connect_routing_id
        c_end.endpoint = b_end.endpoint = f"inproc://{name}"
        sock.attach_pipe(c_end)
        if binder is not None:
            binder.send_command(binder, SocketCmd.BIND, b_end)
        return c_end

    def cancel_pending(self, c_end: Pipe) -> None:
        """Forget a connection still waiting for a bind (its socket disconnected)."""
        with self._lock:
            self._drop_pending(lambda entry: entry[1] is c_end)

    def unbind(self, name: str, sock: Socket) -> None:
        """Release ``name`` if ``sock`` holds it."""
        with self._lock:
            if self._bound.get(name) is sock:
                del self._bound[name]

    def forget(self, sock: Socket) -> None:
        """Release every name ``sock`` holds and every connection it left pending."""
        with self._lock:
            for name in [n for n, s in self._bound.items() if s is sock]:
                del self._bound[name]
            self._drop_pending(lambda entry: entry[0] is sock)

    def _drop_pending(self, matches: object) -> None:
        for name, entries in list(self._pending.items()):
            entries[:] = [e for e in entries if not matches(e)]  # type: ignore[operator]
            if not entries:
                del self._pending[name]
