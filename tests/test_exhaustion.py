"""Every descriptor the framework opens, at a real RLIMIT_NOFILE (tests/exhaustion_child.py).

A call that needs a descriptor for its caller fails with ``DescriptorsExhausted`` (a
``ZMQError`` *and* an ``OSError``) with EMFILE, leaks nothing, and works again once
descriptors return; descriptors opened on an I/O thread for nobody waiting (an outgoing
tcp or ipc connection) are retried with the connecter's backoff and recover by themselves.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

if not sys.platform.startswith("linux"):  # pragma: no cover
    pytest.skip("RLIMIT_NOFILE behaviour is checked on Linux", allow_module_level=True)

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]

CHILD = Path(__file__).resolve().parent / "exhaustion_child.py"
ROOT = CHILD.parent.parent


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, str(CHILD)], capture_output=True, text=True,
                          env=env, timeout=50, cwd=str(ROOT))
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _exhausted(outcome: dict[str, Any], what: str) -> None:
    assert outcome["raised"] == "DescriptorsExhausted", outcome
    assert outcome["zmq"] and outcome["oserror"] and outcome["errno"] == errno.EMFILE
    assert what in outcome["message"]


def test_a_socket_at_the_limit_is_a_zmq_error_naming_its_wake_up_fd(report) -> None:
    _exhausted(report["socket"], "wake-up fd")
    assert report["socket_after_release"]["raised"] is None  # one descriptor back: it works


@pytest.mark.parametrize("spare", ["", "_1_free", "_2_free", "_3_free", "_4_free"])
def test_a_context_at_the_limit_fails_whole_and_leaks_nothing(report, spare) -> None:
    outcome = report[f"context{spare}"]
    assert outcome["raised"] == "DescriptorsExhausted" and outcome["zmq"]
    assert "wake-up fd" in outcome["message"] or "poller" in outcome["message"]
    if spare:
        assert report[f"context{spare}_leaked"] == 0
    assert report["context_threads_leaked"] == 0


def test_listening_at_the_limit_names_the_socket_or_its_reserve(report) -> None:
    _exhausted(report["listen"], "listening socket")
    _exhausted(report["listen_reserve"], "reserve descriptor")
    assert report["listen_reserve_leaked"] == 0  # the listening socket was closed again
    assert report["listen_recovered"]["raised"] is None


def test_a_messaging_bind_at_the_limit_is_zmq_error_emfile(report) -> None:
    outcome = report["bind"]
    assert outcome["zmq"] and outcome["errno"] == errno.EMFILE, outcome


def test_connects_at_the_limit_back_off_and_recover_when_descriptors_return(report) -> None:
    assert report["connect_tcp"]["raised"] is None and report["connect_ipc"]["raised"] is None
    assert report["tcp_recovered"] and report["ipc_recovered"]
    assert report["socket_recovered"]["raised"] is None


def test_polling_sockets_and_raw_fds_needs_no_descriptor(report) -> None:
    assert report["poller"]["raised"] is None, report["poller"]  # select.poll: no fd of its own

