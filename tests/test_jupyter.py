"""A real application on zreactor: a Jupyter kernel and its client.

Each test runs ``tests/jupyter_session.py`` under ``python -m zreactor.run`` (so ``zmq`` is
zreactor in the client process: jupyter_client's ``zmq.asyncio`` sockets and ``Session``),
against an ipykernel kernel that runs

* (a) on real pyzmq/libzmq, or
* (b) itself on zreactor (its ``ZMQStream`` channels, iopub thread, heartbeat, control
  thread).

The session checks ``kernel_info``, twenty ``execute`` requests with their stdout and
results, a ``complete`` request, the kernel's debugger (ipykernel talks to debugpy over a
STREAM socket: in (b) that is zreactor's, speaking raw tcp to debugpy), and a clean shutdown
(the kernel replies and exits 0). Kernel
start-up is a few seconds, so each test gets a generous timeout.

The tests skip, saying why, when jupyter_client 8 / ipykernel 7 are not installed, or when
zreactor still lacks a pyzmq name that jupyter_client or ipykernel use (the probe below lists
them; they belong to the pyzmq-surface work of issue 9).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parent.parent
SESSION = ROOT / "tests" / "jupyter_session.py"

pytestmark = pytest.mark.timeout(180)


def _jupyter_missing() -> str | None:
    for name, major in (("jupyter_client", 8), ("ipykernel", 7)):
        if importlib.util.find_spec(name) is None:
            return f"{name} is not installed (pip install 'zreactor[test]')"
        from importlib.metadata import version

        if int(version(name).split(".")[0]) < major:
            return f"{name} {version(name)} is older than {major}"
    return None


def _socket_probe(fn: Callable[..., object]) -> Callable[[], bool]:
    def probe() -> bool:
        import zreactor

        ctx = zreactor.Context()
        try:
            fn(zreactor, ctx)
            return True
        except Exception:
            return False
        finally:
            ctx.destroy(linger=0)

    return probe


def _subscriptable(z: object) -> bool:
    z.Context[object]  # type: ignore[attr-defined]  # ipykernel annotates zmq.Context[Any]
    z.Socket[object]  # type: ignore[attr-defined]
    return True


#: what jupyter_client (client) and ipykernel (kernel) use of pyzmq, as (what, probe)
CLIENT_NEEDS = [
    ("zmq.MessageTracker", lambda: hasattr(__import__("zreactor"), "MessageTracker")),
    ("zmq.Message", lambda: hasattr(__import__("zreactor"), "Message")),
    # an attribute right after ``import zmq`` (jupyter_client annotates with it)
    ("zmq.sugar.socket.Socket", lambda: hasattr(__import__("zreactor").sugar.socket, "Socket")),
]
KERNEL_NEEDS = [
    ("zmq.Context[...] / zmq.Socket[...]", lambda: _subscriptable(__import__("zreactor"))),
    ("ROUTER_HANDOVER", _socket_probe(lambda z, c: setattr(c.socket(z.ROUTER), "router_handover", 1))),
    ("STREAM sockets", _socket_probe(lambda z, c: c.socket(z.STREAM))),
    ("bytes endpoints", _socket_probe(lambda z, c: c.socket(z.DEALER).connect(b"inproc://probe"))),
    ("zmq.device", lambda: hasattr(__import__("zreactor"), "device")),
    ("zmq.utils.jsonapi", lambda: bool(importlib.import_module("zreactor.utils.jsonapi").dumps)),
]


def _lacking(needs: list[tuple[str, Callable[[], bool]]]) -> list[str]:
    missing = []
    for what, probe in needs:
        try:
            ok = probe()
        except Exception:
            ok = False
        if not ok:
            missing.append(what)
    return missing


def _skip_reason(kernel: str) -> str | None:
    reason = _jupyter_missing()
    if reason:
        return reason
    missing = _lacking(CLIENT_NEEDS + (KERNEL_NEEDS if kernel == "zreactor" else []))
    if missing:
        return f"zreactor lacks what jupyter uses of pyzmq: {', '.join(missing)} (issue 9)"
    return None


def run_session(kernel: str) -> dict[str, object]:
    reason = _skip_reason(kernel)
    if reason:
        pytest.skip(reason)
    env = {k: v for k, v in os.environ.items() if k != "ZREACTOR_AS_ZMQ"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", "zreactor.run", str(SESSION), "--kernel", kernel],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=150)
    assert proc.returncode == 0, f"session failed (exit {proc.returncode}):\n{proc.stderr[-6000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_zreactor_client_with_a_pyzmq_kernel() -> None:
    seen = run_session("pyzmq")
    assert seen["client_zmq"] == "zreactor" and seen["kernel_zmq"] == "zmq"
    assert seen["kernel_info"] == "python" and seen["executes"] == 20
    assert seen["complete"] == "collections.OrderedDict"
    assert seen["debugger"] == "attached"
    assert seen["shutdown_exit_code"] == 0


def test_zreactor_client_with_a_zreactor_kernel() -> None:
    seen = run_session("zreactor")
    assert seen["client_zmq"] == "zreactor" and seen["kernel_zmq"] == "zreactor"
    assert seen["kernel_info"] == "python" and seen["executes"] == 20
    assert seen["complete"] == "collections.OrderedDict"
    assert seen["debugger"] == "attached"
    assert seen["shutdown_exit_code"] == 0
