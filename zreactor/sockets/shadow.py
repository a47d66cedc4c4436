"""Shadows: a second Python object over the same socket or context (pyzmq's ``shadow``).

Theory of operation
-------------------
pyzmq's sockets and contexts wrap libzmq's C objects. ``underlying`` is the C pointer, and
``Socket.shadow(address)`` (or ``zmq.Socket(other)``, ``copy.copy(sock)``) makes a second
Python object over the same C socket: both send and receive on it, closing either closes it,
and a shadow never closes it when it is garbage collected. Libraries use this to hand a socket
from one interface to another (a blocking socket seen by asyncio code, ipykernel's streams).

zreactor's sockets and contexts *are* Python objects, so the same contract is built from two
pieces, both here:

* **Handles.** A :class:`HandleTable` names each live object by an integer (its ``id()``),
  registered the first time its ``underlying`` is read, and held weakly: ``lookup(handle)``
  gives the object back while it lives, and nothing once it is gone (a dangling pointer in
  libzmq's terms: the caller raises ``ENOTSOCK`` or ``EFAULT`` as libzmq would).
* **Shadow objects.** :func:`make_shadow` makes a distinct instance that *shares the
  original's attribute dict*: every option, queue, pipe and state is one and the same, so
  there is nothing to copy or keep in sync, and a send through either object is a send on
  the one socket. Its class is generated once per original class by :func:`shadow_class`:
  the same class, plus

  - a no-op ``__init__``, because a pattern's constructor would otherwise reset the state it
    shares (``Python`` calls ``__init__`` on whatever ``__new__`` returns);
  - a ``_shadow_obj`` slot holding the original (per shadow, not in the shared dict; it
    also keeps the original alive, as pyzmq's shadows hold theirs) and ``_shadow = True``;
  - the original class's ``_SHADOW_DELEGATES``: methods that *register the object itself*
    somewhere (the reaper's live set, the inproc names, the ownership tree of listeners and
    sessions) run on the original, so every registry knows one object per socket.

The per-message paths do not change: a socket that was never shadowed is untouched, and a
shadow reads the same attributes through the same dict.

What differs from pyzmq: a shadow shares *everything*, including a context's option defaults
(``ctx.linger = 0``) and ``closed`` flag, where pyzmq's shadow has its own Python-side copies
of those; the object a shadow returns from ``bind()`` as a context manager is the original.

Threads: a :class:`HandleTable` is a ``WeakValueDictionary`` written under the GIL (one
item set per ``underlying`` read); shadows follow their original's thread rules (a socket is
used by one thread at a time, whichever object it is reached through).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, TypeVar

__all__ = ["HandleTable", "make_shadow", "origin", "shadow_class"]

T = TypeVar("T")


class HandleTable:
    """Live objects by integer handle (the ``underlying`` of pyzmq's sockets and contexts).

    Thread-safe. Holds the objects weakly: a handle outlives its object only as a number.
    """

    def __init__(self) -> None:
        self._live: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()

    def handle(self, obj: Any) -> int:
        """``obj``'s handle, registered so that :meth:`lookup` finds it while it lives."""
        key = id(obj)
        self._live[key] = obj
        return key

    def lookup(self, handle: int) -> Any | None:
        """The live object named by ``handle``, or None."""
        return self._live.get(handle)


def origin(obj: T) -> T:
    """The original object of a shadow (``obj`` itself if it is not one)."""
    return getattr(obj, "_shadow_obj", None) or obj


_CLASSES: dict[type, type] = {}
_CLASSES_LOCK = threading.Lock()


def _no_init(self: Any, *args: Any, **kwargs: Any) -> None:
    """A shadow is made whole by :func:`make_shadow`; nothing may run the real constructor."""


def _delegate(name: str) -> Callable[..., Any]:
    def run_on_original(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._shadow_obj, name)(*args, **kwargs)

    run_on_original.__name__ = name
    run_on_original.__doc__ = f"``{name}`` of the original object (it registers the object itself)."
    return run_on_original


def shadow_class(cls: type[T]) -> type[T]:
    """The class of shadows of ``cls`` instances (made once per class; see the module doc)."""
    made = _CLASSES.get(cls)
    if made is None:
        with _CLASSES_LOCK:
            made = _CLASSES.get(cls)
            if made is None:
                namespace: dict[str, Any] = {
                    "__slots__": ("_shadow_obj",),
                    "__init__": _no_init,
                    "__module__": cls.__module__,
                    "__qualname__": cls.__qualname__,
                    "__doc__": cls.__doc__,
                    "_shadow": True,
                }
                for name in getattr(cls, "_SHADOW_DELEGATES", ()):
                    namespace[name] = _delegate(name)
                made = _CLASSES[cls] = type(cls.__name__, (cls,), namespace)
    return made  # type: ignore[return-value]


def make_shadow(original: Any, cls: type[T] | None = None) -> T:
    """A new object of class ``shadow_class(cls or type(original))`` over ``original``'s state.

    ``cls`` must be a class whose instances can use ``original``'s attributes (its own class,
    a base of it, or a sibling built on the same state, such as an awaitable context over a
    blocking one). ``original`` may itself be a shadow: the new one shadows its original.
    """
    original = origin(original)
    shadow = object.__new__(shadow_class(cls or type(original)))
    # object.__setattr__: sockets and contexts have strict or option-aware __setattr__
    object.__setattr__(shadow, "__dict__", original.__dict__)
    object.__setattr__(shadow, "_shadow_obj", original)
    return shadow  # type: ignore[no-any-return]
