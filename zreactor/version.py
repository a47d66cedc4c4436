"""Version numbers: zreactor's own, and the libzmq/pyzmq ones it answers compatibility checks with.

zreactor contains neither libzmq nor pyzmq. It is a pure-Python implementation of ZMTP 3.1
that follows libzmq 4.3.5's documented socket behaviour and pyzmq 27.3's API, and is tested
against both (interop tests with pyzmq as the peer; pyzmq's own test suite run on zreactor).
Third-party code asks ``zmq.zmq_version_info() >= (4, 2)`` or ``zmq.pyzmq_version_info() >=
(17,)`` to decide whether a feature exists; the honest answer to *that* question is the
versions whose behaviour zreactor reproduces, so that is what these functions return.

``zreactor.__version__`` answers the same question, because pyzmq's contract is
``zmq.__version__ == zmq.pyzmq_version()`` and code gates features on it
(``Version(zmq.__version__) >= Version("17")``); under ``install_as_zmq()`` the two names are
one module, so it cannot say something else. zreactor's own release number is
:data:`VERSION` (and the package metadata: ``importlib.metadata.version("zreactor")``), the
only one that changes with zreactor releases.
"""

from __future__ import annotations

__all__ = [
    "PYZMQ_VERSION",
    "PYZMQ_VERSION_INFO",
    "VERSION",
    "ZMQ_VERSION_INFO",
    "pyzmq_version",
    "pyzmq_version_info",
    "zmq_version",
    "zmq_version_info",
]

#: zreactor's own version
VERSION = "0.1.0"
#: the libzmq release whose behaviour and wire protocol (ZMTP 3.1) zreactor follows
ZMQ_VERSION_INFO = (4, 3, 5)
#: the pyzmq release whose API zreactor follows and whose test suite it is measured with
PYZMQ_VERSION_INFO = (27, 3, 0)
#: :data:`PYZMQ_VERSION_INFO` as a string: ``zreactor.__version__`` (see the module doc)
PYZMQ_VERSION = ".".join(map(str, PYZMQ_VERSION_INFO))


def zmq_version() -> str:
    """The libzmq version zreactor emulates, as a string (``"4.3.5"``); see the module doc."""
    return ".".join(map(str, ZMQ_VERSION_INFO))


def zmq_version_info() -> tuple[int, int, int]:
    """:func:`zmq_version` as a tuple (``(4, 3, 5)``)."""
    return ZMQ_VERSION_INFO


def pyzmq_version() -> str:
    """The pyzmq API version zreactor follows (``"27.3.0"``); not pyzmq itself.

    Code that needs a pyzmq feature zreactor lacks fails with ``AttributeError`` or a
    ``ZMQError`` naming it, not silently (the README lists what is covered).
    """
    return PYZMQ_VERSION


def pyzmq_version_info() -> tuple[int, int, int]:
    """:func:`pyzmq_version` as a tuple (``(27, 3, 0)``)."""
    return PYZMQ_VERSION_INFO
