"""Tests of pyzmq's suite that zreactor is excused from passing, each with its reason.

Two lists, read by ``run.py``; entries are ``fnmatch`` patterns over pytest node ids
(``tests/test_socket.py::TestSocket::test_close`` or ``tests/test_auth.py*`` for a file).

``EXCEPTIONS`` is permanent and short: files another issue owns, and tests that cannot apply
to a pure-Python library. Adding a line here is a design decision; say why next to it.

``known_failing.txt`` (beside this file) is the work list, not an excuse: the tests that
pass on pyzmq and do not yet pass on zreactor, recorded by ``run.py --update-known``. The
runner fails on any *other* regression, and reports listed tests that pass now, so the list
only ever shrinks.
"""

from __future__ import annotations

EXCEPTIONS: dict[str, str] = {
    # ---- files that belong to other issues
    # ---- tests about pyzmq's compiled backends, which a pure-Python library has none of
    "tests/test_cffi_backend.py*": "pyzmq's CFFI backend: calls into libzmq's C API",
    "tests/test_cython.py*": "compiles a Cython extension against pyzmq's .pxd",
    "tests/test_includes.py*": (
        "zmq.get_includes() / get_library_dirs(): pyzmq's C headers and its bundled libzmq"
    ),
    "tests/test_draft.py*": "libzmq's draft API (RADIO/DISH, SERVER/CLIENT) when compiled in",
    "tests/test_mypy.py*": "type-checks pyzmq's own source tree",
    "tests/test_win32_shim.py*": "Windows console Ctrl-C shim",
    # ---- tests that measure libzmq or CPython internals, not behaviour
    "tests/test_message.py::TestFrame::test_above_30": (
        "zero-copy Frames: CPython refcounts of the buffer libzmq still holds"
    ),
    "tests/test_message.py::TestFrame::test_lifecycle*": (
        "zero-copy Frames: CPython refcounts of the buffer libzmq still holds"
    ),
    "tests/test_message.py::TestFrame::test_large_message": (
        "a 2 GiB message within the per-test timeout"
    ),
}
