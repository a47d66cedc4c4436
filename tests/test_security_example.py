"""examples/ironhouse.py runs, with zreactor and with pyzmq standing in (genuine pyzmq code):
the listed client gets its answer, the stranger is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nacl")
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ironhouse.py"
SHIM = ("import runpy, sys, zmq, zmq.auth, zmq.auth.thread; "
        "sys.modules.update({'zreactor': zmq, 'zreactor.auth': zmq.auth}); "
        "zmq.auth.ThreadAuthenticator = zmq.auth.thread.ThreadAuthenticator; "
        "runpy.run_path(sys.argv[1], run_name='__main__')")


@pytest.mark.parametrize("lib", ["zreactor", "pyzmq"])
def test_ironhouse(lib: str) -> None:
    if lib == "pyzmq":
        pytest.importorskip("zmq")
        cmd = [sys.executable, "-c", SHIM, str(EXAMPLE)]
    else:
        cmd = [sys.executable, str(EXAMPLE)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=50,
                         cwd=EXAMPLE.parent.parent, env={"PYTHONPATH": str(EXAMPLE.parent.parent),
                                                         "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["client -> welcome, client", "stranger -> refused"]
