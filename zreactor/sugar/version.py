"""pyzmq's ``zmq.sugar.version`` path: the version functions of :mod:`zreactor.version`.

``VERSION_EXTRA`` is pyzmq's development suffix ("dev" builds); zreactor has none here.
See :mod:`zreactor.version` for what the numbers mean (the libzmq and pyzmq releases whose
behaviour zreactor follows, not copies of them).
"""

from __future__ import annotations

from ..version import (
    PYZMQ_VERSION_INFO,
    pyzmq_version,
    pyzmq_version_info,
    zmq_version,
    zmq_version_info,
)

#: pyzmq's version string as this module reports it (the followed API, see zreactor.version)
__version__ = pyzmq_version()
#: pyzmq's development suffix; empty: a release
VERSION_EXTRA = ""
VERSION_MAJOR, VERSION_MINOR, VERSION_PATCH = PYZMQ_VERSION_INFO

__all__ = [
    "VERSION_EXTRA",
    "pyzmq_version",
    "pyzmq_version_info",
    "zmq_version",
    "zmq_version_info",
]
