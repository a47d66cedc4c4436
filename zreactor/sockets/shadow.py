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
  the one socket. Per shadow, not in the shared dict, a ``_shadow_obj`` slot holds the
  original (it also keeps the original alive, as pyzmq's shadows hold theirs). The shadow's
  class is one of two kinds:

  - **A shadow class** (``PushSocket.shadow(s)``, ``copy.copy(s)``, a subclass of yours),
    generated once per original class by :func:`shadow_class`: the same class, plus a no-op
    ``__init__`` (a pattern's constructor would otherwise reset the state it shares: Python
    calls ``__init__`` on whatever ``__new__`` returns), ``_shadow = True``, and the
    original class's ``_SHADOW_DELEGATES``: methods that *register the object itself*
    somewhere (the reaper's live set, the inproc names, the ownership tree of listeners and
    sessions) run on the original, so every registry knows one object per socket.
  - **Exactly the base class** (``zmq.Socket.shadow(s)``, what pyzmq's ``ZMQStream`` casts
    an awaitable socket to, and whose test asserts ``type(stream.socket) is zmq.Socket``).
    Its class cannot hold the pattern, so the base class forwards it: once the patterns are
    defined, :func:`forward_to_original` replaces on the base every name a pattern class
    defines (the ``x*`` hooks, ``socket_type``, ``holds_reads``, STREAM's ``bind``, SUB's
    ``subscriptions``, their helpers; dunders aside), plus the ``_SHADOW_DELEGATES``, by a
    :class:`Forwarded`, which an exact instance (always a shadow) reads on its original.
    The base's code (``send``, ``recv``, ``poll``, options, ...) then runs on the shadow
    as on any socket, and each hook it calls runs on the original, over the same dict.

    Which names forward is *derived* from the pattern classes, not listed: an override added
    to a pattern later is forwarded without anyone remembering to, and
    ``tests/test_shadow.py`` checks that every subclass zreactor defines is covered and
    defines no dunder an exact shadow would answer differently.

The per-message paths do not change: a socket that was never shadowed is untouched, and a
shadow reads the same attributes through the same dict. In particular a pattern socket never
meets a forwarder: :func:`forward_to_original` puts the base's own definition of each
forwarded name into every pattern class that did not define it (PUSH's ``xhas_in`` is
``Socket``'s ``return False`` again, read from ``PushSocket``'s namespace), so the base's
forwarders are found only from exact instances. An exact shadow pays one Python-level
descriptor call per hook it reaches (``xsend``, ``xrecv``, ``xhas_in`` ...).

What differs from pyzmq: a shadow shares *everything*, including a context's option defaults
(``ctx.linger = 0``) and ``closed`` flag, where pyzmq's shadow has its own Python-side copies
of those; the object a shadow returns from ``bind()`` as a context manager is the original.

Threads: a :class:`HandleTable` is a ``WeakValueDictionary`` written under the GIL (one
item set per ``underlying`` read); shadows follow their original's thread rules (a socket is
used by one thread at a time, whichever object it is reached through).
"""

from __future__ import annotations

import threading
import types
import weakref
from typing import Any, Callable, Iterable, TypeVar

__all__ = ["Forwarded", "HandleTable", "forward_to_original", "forwarded_names", "make_shadow",
           "origin", "shadow_class"]

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


def _has_own_slot(cls: type) -> bool:
    """True if ``cls`` already keeps ``_shadow_obj`` in a slot of every instance."""
    return isinstance(getattr(cls, "_shadow_obj", None), types.MemberDescriptorType)


def shadow_class(cls: type[T]) -> type[T]:
    """The class of shadows of ``cls`` instances (made once per class; see the module doc)."""
    made = _CLASSES.get(cls)
    if made is None:
        with _CLASSES_LOCK:
            made = _CLASSES.get(cls)
            if made is None:
                namespace: dict[str, Any] = {
                    "__slots__": () if _has_own_slot(cls) else ("_shadow_obj",),
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


# -- exact shadows of a forwarding base --------------------------------------------------------

_MISSING: Any = object()

#: the classes :func:`forward_to_original` prepared: their exact instances are shadows
_FORWARDING: dict[type, frozenset[str]] = {}


def _bind(value: Any, obj: Any, owner: type) -> Any:
    """``value`` as attribute lookup would hand it out (a function becomes a bound method)."""
    get = getattr(type(value), "__get__", None)
    return value if get is None else get(value, obj, owner)


class Forwarded:
    """One name of a forwarding base: an exact instance (a shadow) reads it on its original.

    Read on the class, or on an instance that is not a shadow, it is the base's own
    definition (``default``), or missing if the base had none. A non-data descriptor, so
    nothing changes for names kept in the instance dict.
    """

    __slots__ = ("name", "default")

    def __init__(self, name: str, default: Any) -> None:
        self.name = name
        self.default = default

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is not None:
            original = obj._shadow_obj
            if original is not None:
                return getattr(original, self.name)
        if self.default is _MISSING:
            holder = owner.__name__ if obj is None else f"'{type(obj).__name__}' object"
            raise AttributeError(f"{holder} has no attribute '{self.name}'")
        return _bind(self.default, obj, owner or type(obj))

    def __repr__(self) -> str:
        return f"<forwarded to the original: {self.name}>"


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def forward_to_original(base: type, subclasses: Iterable[type]) -> frozenset[str]:
    """Let exact ``base`` instances be shadows of any of ``subclasses`` (and their bases).

    ``base`` must keep ``_shadow_obj`` in a slot (None on objects that are not shadows). The
    names forwarded are every name the subclasses (and their bases below ``base``) define,
    dunders aside, plus ``base._SHADOW_DELEGATES``. Each becomes a :class:`Forwarded` on
    ``base``; each subclass that did not define a name gets ``base``'s own definition in its
    namespace, so its instances never meet a forwarder. Call once, after the subclasses are
    defined. Returns the names (see :func:`forwarded_names`).
    """
    assert _has_own_slot(base) and base not in _FORWARDING, base
    patterns = {k for cls in subclasses for k in cls.__mro__
                if k is not base and issubclass(k, base)}
    names = {name for k in patterns for name in vars(k) if not _is_dunder(name)}
    names.discard("_declared_cache")  # a cache of ``conveniences._declared_names``, per class
    names.update(getattr(base, "_SHADOW_DELEGATES", ()))
    for name in sorted(names):
        default = next((vars(k)[name] for k in base.__mro__ if name in vars(k)), _MISSING)
        if default is not _MISSING:
            for k in patterns:
                below_base = k.__mro__[:k.__mro__.index(base)]
                if not any(name in vars(c) for c in below_base):
                    type.__setattr__(k, name, default)
        type.__setattr__(base, name, Forwarded(name, default))
    forwarded = _FORWARDING[base] = frozenset(names)
    return forwarded


def forwarded_names(base: type) -> frozenset[str]:
    """The names :func:`forward_to_original` made ``base`` forward (empty if it did not)."""
    return _FORWARDING.get(base, frozenset())


def make_shadow(original: Any, cls: type[T] | None = None) -> T:
    """A new shadow of ``original`` presenting class ``cls`` (default: the original's own).

    ``cls`` must be a class whose instances can use ``original``'s attributes (its own class,
    a base of it, or a sibling built on the same state, such as an awaitable context over a
    blocking one). The shadow is an instance of ``shadow_class(cls)``, or of ``cls`` itself
    if it is a forwarding base (:func:`forward_to_original`). ``original`` may itself be a
    shadow: the new one shadows its original.
    """
    original = origin(original)
    cls = cls or type(original)
    shadow = object.__new__(cls if cls in _FORWARDING else shadow_class(cls))
    # object.__setattr__: sockets and contexts have strict or option-aware __setattr__
    object.__setattr__(shadow, "__dict__", original.__dict__)
    object.__setattr__(shadow, "_shadow_obj", original)
    return shadow  # type: ignore[no-any-return]
