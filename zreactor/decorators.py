"""pyzmq's ``zmq.decorators``: a Context or a socket per call, as a decorator.

Theory of operation
-------------------
``@context()`` and ``@socket(zmq.PUSH)`` are ``with Context(...) as ctx`` and
``with ctx.socket(...) as s`` written around a function: each *call* of the decorated function
gets a fresh object, and it is closed (the socket) or terminated (the context) when the call
returns or raises. The rules, pyzmq's:

- **How the object is passed.** A first positional ``str`` argument, or ``name=``, names the
  keyword it is passed as; without a name it is appended to the positional arguments. The
  remaining decorator arguments go to the constructor (``Context(io_threads=2)``,
  ``ctx.socket(zmq.PUB, ...)``). A call that already passes that keyword is a ``TypeError``
  (the function would get the argument twice).
- **Which context a socket belongs to**, decided at call time: the call's keyword named
  ``context_name`` (default ``"context"``) if it holds a Context, else the first positional
  argument that is a Context (so ``@context()`` stacked above ``@socket(...)`` shares its
  context), else ``Context.instance()``.

Decorators stack bottom-up like nested ``with`` blocks, so the innermost socket closes first
and the context terminates last. Nothing here touches a socket from another thread; each call
makes and closes its own objects on the calling thread.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, ContextManager, TypeVar

from .context import Context

__all__ = ["context", "socket"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: given the call's (args, kwargs), the factory of the context manager to enter
_Target = Callable[[tuple, dict], Callable[..., ContextManager[Any]]]


def _split_name(args: tuple, kwargs: dict) -> tuple[str | None, tuple, dict]:
    """pyzmq's rule: ``name=`` or a leading ``str`` names the keyword; the rest is for the
    constructor."""
    kwargs = dict(kwargs)
    if isinstance(kwargs.get("name"), str):
        return kwargs.pop("name"), args, kwargs
    if args and isinstance(args[0], str):
        return args[0], args[1:], kwargs
    return None, args, kwargs


def _decorator(target: _Target, name: str | None, ctor_args: tuple,
               ctor_kwargs: dict) -> Callable[[_F], _F]:
    def decorate(func: _F) -> _F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if name is not None and name in kwargs:
                raise TypeError(f"{func.__name__}() got multiple values for argument '{name}'")
            with target(args, kwargs)(*ctor_args, **ctor_kwargs) as obj:
                if name is None:
                    return func(*args, obj, **kwargs)
                return func(*args, **{**kwargs, name: obj})

        return wrapper  # type: ignore[return-value]

    return decorate


def context(*args: Any, **kwargs: Any) -> Callable[[_F], _F]:
    """Give each call of the decorated function a new :class:`~zreactor.Context`.

    ``@context()`` appends it to the positional arguments; ``@context("ctx")`` or
    ``@context(name="ctx")`` passes it as that keyword. Other arguments go to ``Context()``
    (``@context(io_threads=2)``). The context is terminated when the call ends.
    """
    name, ctor_args, ctor_kwargs = _split_name(args, kwargs)
    return _decorator(lambda call_args, call_kwargs: Context, name, ctor_args, ctor_kwargs)


def socket(*args: Any, **kwargs: Any) -> Callable[[_F], _F]:
    """Give each call of the decorated function a new socket, closed when the call ends.

    ``@socket(zmq.PUSH)`` appends it to the positional arguments; ``@socket("push",
    zmq.PUSH)`` or ``name="push"`` passes it as that keyword. The socket's context is the
    call's ``context`` keyword (or the keyword named by ``context_name=``) if that is a
    Context, else the first positional Context argument, else ``Context.instance()``.
    Remaining arguments go to ``ctx.socket()``.
    """
    name, ctor_args, ctor_kwargs = _split_name(args, kwargs)
    context_name = ctor_kwargs.pop("context_name", "context")

    def target(call_args: tuple, call_kwargs: dict) -> Callable[..., ContextManager[Any]]:
        ctx = call_kwargs.get(context_name)
        if not isinstance(ctx, Context):
            ctx = next((a for a in call_args if isinstance(a, Context)), None)
        if ctx is None:
            ctx = Context.instance()
        return ctx.socket

    return _decorator(target, name, ctor_args, ctor_kwargs)
