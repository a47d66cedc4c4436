"""A pytest plugin the runner loads into each suite run: one outcome per test, as it happens.

Loaded with ``-p collector`` (the runner puts this folder on ``PYTHONPATH``). Every phase
report is appended at once, as one JSON line ``[nodeid, outcome]``, to the file named by
``PYZMQ_SUITE_OUTCOMES``, so a run that dies half-way (an interpreter crash, a signal landing
in the wrong place) keeps what it had measured and the runner can go on from there.

Outcomes per phase: a failed setup or teardown is ``error``, a failed call ``failed``, any
skip (or xfail) ``skipped``, a passed call ``passed``. :func:`fold` combines a test's phases
the way pytest's summary line does (the worst wins). A test file that fails to import is
recorded under its own path as ``error`` (its tests never exist).
"""

from __future__ import annotations

import json
import os
from typing import IO, Any, Iterable

RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}
_out: IO[str] | None = None


def _emit(nodeid: str, outcome: str) -> None:
    global _out
    if _out is None:
        path = os.environ.get("PYZMQ_SUITE_OUTCOMES")
        if not path:
            return
        _out = open(path, "a", buffering=1)  # line-buffered: each record reaches the file
    _out.write(json.dumps([nodeid, outcome]) + "\n")


def pytest_runtest_logreport(report: Any) -> None:
    """Record one phase's outcome."""
    if report.skipped:  # includes xfail
        _emit(report.nodeid, "skipped")
    elif report.failed:
        _emit(report.nodeid, "failed" if report.when == "call" else "error")
    elif report.when == "call":
        _emit(report.nodeid, "passed")


def pytest_collectreport(report: Any) -> None:
    """A module that cannot be collected counts as one error under its path."""
    if report.failed:
        _emit(report.nodeid, "error")


def fold(lines: Iterable[str]) -> dict[str, str]:
    """``{nodeid: outcome}`` from the recorded lines; a torn last line is ignored."""
    outcomes: dict[str, str] = {}
    for line in lines:
        try:
            nodeid, outcome = json.loads(line)
        except ValueError:
            continue
        if nodeid not in outcomes or RANK[outcome] > RANK[outcomes[nodeid]]:
            outcomes[nodeid] = outcome
    return outcomes
