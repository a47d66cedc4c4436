"""``python -m zreactor`` runs its two acts and narrates what a newcomer should see."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(60)


def test_demo_runs_and_shows_the_listener_surviving_the_crunch() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "zreactor", "--clients", "4"],
        capture_output=True, text=True, timeout=50,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "client 3 got: 'zreactor-io-" in text  # act 1 echoes over the I/O threads
    assert "zreactor threads left: none" in text
    assert "event SUSPENDED" in text  # act 2: budget reached, no spinning
    assert "ms after the release" in text  # resumed by the release, not a timer
    assert "client 4 was told: connection reset" in text  # shed, not left hanging
    # lines come from the test thread and the I/O threads: each one whole, never two mixed
    for line in text.splitlines():
        assert re.fullmatch(r"\[\s*\d+\.\d{3}s\] +\S.*", line), f"interleaved: {line!r}"


def test_bench_lists_the_benchmarks_and_not_their_helper_modules() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "zreactor", "bench"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 2
    assert "emfile_storm" in out.stdout and "messaging" in out.stdout
    assert "_clients" not in out.stdout and "_harness" not in out.stdout


def test_help_lists_the_bench_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "zreactor", "--help"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0
    assert "bench NAME [ARGS...]" in out.stdout and "emfile_storm" in out.stdout
    assert "_harness" not in out.stdout
