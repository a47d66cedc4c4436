"""pyzmq's ``zmq.error`` module path: the same classes as :mod:`zreactor.errors`.

``import zreactor as zmq; zmq.error.Again`` and ``from zreactor.error import ZMQError`` work as
with pyzmq. The classes themselves (and the hierarchy, drawn there) live in
:mod:`zreactor.errors`; this module only re-exports them under pyzmq's name.
"""

from __future__ import annotations

from .errors import (
    Again,
    ContextTerminated,
    DraftFDWarning,
    InterruptedSystemCall,
    NotDone,
    ZMQBaseError,
    ZMQBindError,
    ZMQError,
    ZMQVersionError,
    strerror,
)

__all__ = [
    "Again",
    "ContextTerminated",
    "DraftFDWarning",
    "InterruptedSystemCall",
    "NotDone",
    "ZMQBaseError",
    "ZMQBindError",
    "ZMQError",
    "ZMQVersionError",
    "strerror",
]
