"""A pytest plugin the runner loads into each suite run: one outcome per test, as JSON.

Loaded with ``-p collector`` (the runner puts this folder on ``PYTHONPATH``); it writes the
file named by ``PYZMQ_SUITE_OUTCOMES`` when the session ends. A test's outcome folds its three
phases the way pytest's summary line does: a failed setup or teardown is ``error``, a failed
call ``failed``, any skip (or xfail) ``skipped``, otherwise ``passed``. A test file that fails
to import is recorded under its own path as ``error`` (its tests never exist).
"""

from __future__ import annotations

import json
import os
from typing import Any

_outcomes: dict[str, str] = {}
_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


def _record(nodeid: str, outcome: str) -> None:
    previous = _outcomes.get(nodeid)
    if previous is None or _RANK[outcome] > _RANK[previous]:
        _outcomes[nodeid] = outcome


def pytest_runtest_logreport(report: Any) -> None:
    """Fold one phase's report into the test's outcome."""
    if report.skipped:  # includes xfail
        _record(report.nodeid, "skipped")
    elif report.failed:
        _record(report.nodeid, "failed" if report.when == "call" else "error")
    elif report.when == "call":
        _record(report.nodeid, "passed")


def pytest_collectreport(report: Any) -> None:
    """A module that cannot be collected counts as one error under its path."""
    if report.failed:
        _record(report.nodeid, "error")


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    """Write every outcome to ``$PYZMQ_SUITE_OUTCOMES``."""
    path = os.environ.get("PYZMQ_SUITE_OUTCOMES")
    if path:
        with open(path, "w") as out:
            json.dump(_outcomes, out, indent=0, sort_keys=True)
