"""``zmq.has(capability)``: what this zreactor can actually do, answered truthfully.

Theory of operation
-------------------
pyzmq's ``zmq.has("curve")`` asks libzmq which optional parts it was built with. zreactor has
no build options; a capability is there when its code is and its optional dependency can be
imported. :data:`CAPABILITIES` is that answer written as data: one row per name libzmq
knows, each a function returning a bool (called on every ``has()``, because an optional
package may be installed while the process runs).

*Extending it.* The module that implements a capability registers it with
:func:`register_capability` when it is imported, so the row cannot claim more than the code
does; for example the CURVE mechanism's module registers ``"curve"`` with a check that PyNaCl
imports. A name nobody registered answers False, as libzmq answers for a transport it was not
built with.
"""

from __future__ import annotations

import importlib.util
import socket
from typing import Callable

__all__ = ["CAPABILITIES", "has", "module_available", "register_capability"]


def module_available(name: str) -> bool:
    """True if ``import name`` would find the module (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _never() -> bool:
    return False


#: capability name -> a check. libzmq's names; False for what zreactor does not implement.
CAPABILITIES: dict[str, Callable[[], bool]] = {
    "ipc": lambda: hasattr(socket, "AF_UNIX"),
    "pgm": _never,  # multicast transports: not implemented
    "tipc": _never,
    "norm": _never,
    "vmci": _never,
    "gssapi": _never,  # the GSSAPI mechanism: not implemented
    "curve": _never,  # registered by the CURVE mechanism's module once it exists
    "draft": _never,  # libzmq's draft API: not implemented (see ``DRAFT_API``)
}


def register_capability(name: str, check: Callable[[], bool]) -> None:
    """Make ``has(name)`` answer ``check()``; for the module that implements ``name``."""
    CAPABILITIES[name.lower()] = check


def has(capability: str) -> bool:
    """True if zreactor supports ``capability`` (``"ipc"``, ``"curve"``, ``"draft"`` ...).

    Unknown names answer False, as with pyzmq.
    """
    check = CAPABILITIES.get(str(capability).lower())
    return bool(check is not None and check())
