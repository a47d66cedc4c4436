"""``benchmarks/instructions.py``'s arithmetic, without valgrind (a real count takes minutes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


instructions = _load("instructions")


@pytest.mark.parametrize("key", ["summary", "totals"])
def test_total_is_read_from_the_callgrind_file(tmp_path: Path, key: str) -> None:
    out = tmp_path / "callgrind.out"
    out.write_text(f"version: 1\ncreator: callgrind\nevents: Ir\nfn=main\n3 12\n{key}: 987654\n")
    assert instructions.total_instructions(str(out)) == 987654


def test_a_file_without_a_total_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out"
    out.write_text("events: Ir\nfn=main\n3 12\n")
    with pytest.raises(RuntimeError, match="no instruction total"):
        instructions.total_instructions(str(out))


def test_per_message_is_the_difference_of_two_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    fixed, each = 5_000_000, 1_234
    monkeypatch.setattr(instructions, "one_run",
                        lambda scenario, lib, peer, transport, size, count, workdir:
                        {"PULL": fixed + each * count})
    assert instructions.per_message("pull", "zreactor", "zmq", "tcp", 100, (200, 1200)) == \
        {"PULL": each}


def test_perf_hold_tick_sets_the_held_reads_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    from zreactor.zmtp import shortcut

    perf = _load("perf")
    seen: list[float] = []
    monkeypatch.setattr(shortcut, "HOLD_TICK", shortcut.HOLD_TICK)
    monkeypatch.setitem(perf.ROLES, "local_lat",
                        lambda zmq, endpoint, size, count: seen.append(shortcut.HOLD_TICK) or {})
    assert perf.main(["local_lat", "--lib", "zreactor", "--hold-tick", "3600"]) == 0
    assert seen == [3600.0]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_the_floor_runs_perf_lat_roles(tmp_path: Path, transport: str) -> None:
    """``perf.py --lib naive`` (``peers/naive_zmq.py``) does real round trips, echoed intact."""
    import json
    import subprocess

    endpoint = "tcp://127.0.0.1:*" if transport == "tcp" else f"ipc://{tmp_path}/floor.ipc"
    perf = [sys.executable, str(BENCH / "perf.py")]
    local = subprocess.Popen(perf + ["local_lat", "--lib", "naive", "--endpoint", endpoint,
                                     "--size", "3000", "--count", "300"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert local.stdout is not None
        ready = json.loads(local.stdout.readline())["ready"]
        remote = subprocess.run(perf + ["remote_lat", "--lib", "naive", "--endpoint", ready,
                                        "--size", "3000", "--count", "300"],
                                capture_output=True, text=True, timeout=30, check=True)
        out, _ = local.communicate(timeout=30)
    finally:
        if local.poll() is None:
            local.kill()
    assert json.loads(out.strip().splitlines()[-1])["result"] == {"echoed": 300}
    result = json.loads(remote.stdout.strip().splitlines()[-1])["result"]
    assert result["round_trips"] == 300 and result["median_us"] > 0


def test_the_floor_is_refused_for_throughput() -> None:
    perf = _load("perf")
    with pytest.raises(SystemExit):
        perf.main(["local_thr", "--lib", "naive"])
