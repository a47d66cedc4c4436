"""pyzmq's ``zmq.backend`` module path, for code that reaches for it.

pyzmq's backend is its compiled binding to libzmq (Cython or CFFI); the classes users meet
(``zmq.Socket``, ``zmq.Context``, ``zmq.Frame``) extend it. zreactor has no compiled part:
this module names the pure-Python classes and helpers under pyzmq's path, so that
``zmq.backend.Socket`` and ``from zmq.backend import strerror`` keep working after
``import zreactor as zmq``. It adds nothing of its own.
"""

from __future__ import annotations

from .capabilities import has
from .context import Context
from .errors import strerror
from .sockets.frame import Frame
from .sockets.socket import Socket
from .version import zmq_version_info

__all__ = ["Context", "Frame", "Socket", "has", "strerror", "zmq_version_info"]
