#!/usr/bin/env python3
"""Messaging benchmarks: zreactor and pyzmq side by side, in the same run, with ratios.

Scenarios (libzmq's perf-tool shapes, see ``benchmarks/perf.py``):

* throughput: PUSH -> PULL over tcp, ipc and inproc, at 10 B, 100 B, 1 KB and 64 KB;
* latency: REQ/REP round trip over tcp, ipc and inproc (median and p99); over tcp and ipc
  also *the floor* (``perf.py --lib naive``, ``peers/naive_zmq.py``): the same round trip
  done by a plain-Python length-prefixed exchange on blocking sockets, what a pure-Python
  library cannot go below, timed in the same rounds.

Each measurement runs zreactor and pyzmq alternately, ``--rounds`` times, and keeps each
library's best round (the machine is shared and noisy; the best round is the least disturbed).
tcp and ipc run the two ends in two processes; inproc runs two threads of one process.
If pyzmq is missing, the script says so and prints zreactor's figures alone.

*Placement* (``--placement``). A round trip is two wake-ups and the CPU of both ends, and on
a small VM which of them dominates depends on where the scheduler puts the processes: on two
idle cores, each wake-up may cost tens of microseconds (a core waking from idle), which
hides what the ends compute; on one core, a wake-up is a context switch and the round trip
is close to the CPU both ends spend. The same run has been seen to flip between the two
(pyzmq over ipc: 88 us, then 18 us). So latency is measured both ways by default: ``free``
(the scheduler's choice) and ``one-core`` (every process of the measurement pinned to one
CPU with ``sched_setaffinity``, the I/O threads included, for both libraries alike).
Throughput runs ``free`` unless asked.

Usage::

    python benchmarks/messaging.py                 # everything (~2-4 minutes)
    python benchmarks/messaging.py --quick         # fewer messages, one round
    python benchmarks/messaging.py --only thr --transport tcp --size 100
    python -m zreactor bench messaging ...         # the same
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
PERF = str(HERE / "perf.py")
SIZES = [10, 100, 1024, 65536]
#: messages per throughput run, by size (scaled down by --quick)
THR_COUNTS = {10: 200_000, 100: 200_000, 1024: 100_000, 65536: 5_000}
LAT_COUNT = 5_000
#: where a measurement's processes run (module docstring, *Placement*)
PLACEMENTS = ("free", "one-core")
#: the floor's ``--lib`` (latency over tcp and ipc only)
NAIVE = "naive"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(HERE.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _pinner(cpus: set[int] | None) -> Callable[[], None] | None:
    """The ``preexec_fn`` that pins a child (and so its threads) to ``cpus``; None for the
    scheduler's choice."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def _run_json(cmd: list[str], timeout: float, cpus: set[int] | None) -> dict[str, Any]:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(),
                         preexec_fn=_pinner(cpus))
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["result"]


_runs = itertools.count()


def _endpoint(transport: str, tag: str) -> str:
    if transport == "tcp":
        return "tcp://127.0.0.1:*"
    # A fresh path per run: libzmq leaves its ipc files behind, and a run that binds a path an
    # earlier run used has been seen to hang (the pyzmq pair, about one full run in three).
    return f"ipc://{tempfile.gettempdir()}/zreactor-bench-{os.getpid()}-{tag}-{next(_runs)}.ipc"


def _remove_ipc_file(endpoint: str) -> None:
    if endpoint.startswith("ipc://"):
        with contextlib.suppress(OSError):
            os.unlink(endpoint[len("ipc://"):])


def two_process(lib: str, kind: str, transport: str, size: int, count: int,
                cpus: set[int] | None = None) -> dict[str, Any]:
    """Run local_<kind> and remote_<kind> in two processes (pinned to ``cpus`` if given);
    return the measuring side."""
    endpoint = _endpoint(transport, f"{lib}-{kind}-{size}")
    local = subprocess.Popen(
        [sys.executable, PERF, f"local_{kind}", "--lib", lib, "--endpoint", endpoint,
         "--size", str(size), "--count", str(count)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
        preexec_fn=_pinner(cpus),
    )
    try:
        assert local.stdout is not None
        ready = json.loads(local.stdout.readline())["ready"]
        remote = _run_json(
            [sys.executable, PERF, f"remote_{kind}", "--lib", lib, "--endpoint", ready,
             "--size", str(size), "--count", str(count)],
            timeout=120, cpus=cpus,
        )
        out, err = local.communicate(timeout=120)
        if local.returncode != 0:
            raise RuntimeError(f"local_{kind} failed:\n{err[-2000:]}")
        local_result = json.loads(out.strip().splitlines()[-1])["result"]
    finally:
        if local.poll() is None:
            local.kill()
            local.wait()
        _remove_ipc_file(endpoint)
    return local_result if kind == "thr" else remote


def one_process(lib: str, kind: str, size: int, count: int,
                cpus: set[int] | None = None) -> dict[str, Any]:
    """Run inproc_<kind> in a fresh process (pinned to ``cpus`` if given)."""
    return _run_json(
        [sys.executable, PERF, f"inproc_{kind}", "--lib", lib, "--size", str(size),
         "--count", str(count)],
        timeout=300, cpus=cpus,
    )


def measure(lib: str, kind: str, transport: str, size: int, count: int,
            cpus: set[int] | None = None) -> dict[str, Any]:
    """One measurement of one library; every process it starts pinned to ``cpus`` if given
    (``--placement one-core``), else placed by the scheduler."""
    if transport == "inproc":
        return one_process(lib, kind, size, count, cpus)
    return two_process(lib, kind, transport, size, count, cpus)


def best(results: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The least-disturbed round: highest rate, or lowest median latency."""
    if kind == "thr":
        return max(results, key=lambda r: r["msg_per_s"])
    return min(results, key=lambda r: r["median_us"])


def main(argv: list[str] | None = None) -> int:
    """Run the selected scenarios and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["thr", "lat"], help="throughput or latency only")
    parser.add_argument("--transport", action="append", choices=["tcp", "ipc", "inproc"])
    parser.add_argument("--size", type=int, action="append", help="message size(s) for thr")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per library")
    parser.add_argument("--quick", action="store_true", help="1 round, a fifth of the messages")
    parser.add_argument("--placement", action="append", choices=PLACEMENTS,
                        help="where the processes run (repeatable; default: both for "
                             "latency, free for throughput; see the module docstring)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.placement and "one-core" in args.placement and not hasattr(os, "sched_setaffinity"):
        parser.error("--placement one-core needs os.sched_setaffinity (Linux)")
    rounds = 1 if args.quick else args.rounds
    scale = 0.2 if args.quick else 1.0
    transports = args.transport or ["tcp", "ipc", "inproc"]
    sizes = args.size or SIZES
    libs = ["zreactor"]
    if importlib.util.find_spec("zmq") is not None:
        libs.append("zmq")
    else:
        print("pyzmq is not installed: printing zreactor's figures only (pip install pyzmq)")
    print(f"# zreactor messaging benchmarks — {platform.python_implementation()} "
          f"{platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}, "
          f"best of {rounds} alternating round(s)")
    if "zmq" in libs:
        import zmq  # noqa: F401 - only for the version line

        print(f"# peer: pyzmq {zmq.pyzmq_version()} / libzmq {zmq.zmq_version()}")
    report: list[dict[str, Any]] = []
    kinds = [args.only] if args.only else ["thr", "lat"]
    for kind in kinds:
        placements = args.placement or (
            ["free"] if kind == "thr" or not hasattr(os, "sched_setaffinity")
            else list(PLACEMENTS))
        for placement in placements:
            for transport in transports:
                for size in (sizes if kind == "thr" else [100]):
                    row = _measure_row(kind, transport, size, placement, libs, rounds, scale)
                    if row is not None:
                        report.append(row)
                        _print_row(row, libs)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def _measure_row(kind: str, transport: str, size: int, placement: str, libs: list[str],
                 rounds: int, scale: float) -> dict[str, Any] | None:
    """``rounds`` alternating measurements of each library; the row of their best, or None
    if a library had no complete run."""
    count = int((THR_COUNTS.get(size, 50_000) if kind == "thr" else LAT_COUNT) * scale)
    cpus = {min(os.sched_getaffinity(0))} if placement == "one-core" else None
    if kind == "lat" and transport != "inproc":
        libs = [*libs, NAIVE]  # the floor, alternating with the libraries
    runs: dict[str, list[dict[str, Any]]] = {lib: [] for lib in libs}
    for _ in range(rounds):
        for lib in libs:
            try:
                runs[lib].append(measure(lib, kind, transport, size, count, cpus))
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                # one stuck run (seen with pyzmq over ipc) must not sink the table
                first = str(exc).strip().splitlines()[0][:150]
                print(f"# {lib} {kind} {transport} {size} B: run failed: {first}")
    if not all(runs[lib] for lib in libs):
        print(f"# {kind} {transport} {size} B: no complete run for "
              f"{[lib for lib in libs if not runs[lib]]}; row skipped")
        return None
    row: dict[str, Any] = {"kind": kind, "transport": transport, "size": size, "count": count,
                           "placement": placement}
    for lib in libs:
        row[lib] = best(runs[lib], kind)
    return row


def _print_row(row: dict[str, Any], libs: list[str]) -> None:
    kind, transport, size = row["kind"], row["transport"], row["size"]
    where = "  one core" if row["placement"] == "one-core" else ""
    z = row["zreactor"]
    if kind == "thr":
        line = (f"thr  {transport:<6} {size:>6} B{where}  zreactor "
                f"{z['msg_per_s'] / 1e3:9.1f} k msg/s")
        if "zmq" in libs:
            p = row["zmq"]
            ratio = z["msg_per_s"] / p["msg_per_s"]
            line += f"   pyzmq {p['msg_per_s'] / 1e3:9.1f} k msg/s   zreactor/pyzmq {ratio:5.2f}"
    else:
        line = (f"lat  {transport:<6} {size:>6} B{where}  zreactor median "
                f"{z['median_us']:7.1f} us "
                f"p99 {z['p99_us']:7.1f} us")
        if "zmq" in libs:
            p = row["zmq"]
            ratio = z["median_us"] / p["median_us"]
            tail = z["p99_us"] / p["p99_us"]
            line += (f"   pyzmq median {p['median_us']:7.1f} us p99 {p['p99_us']:7.1f} us"
                     f"   zreactor/pyzmq median {ratio:5.2f}x p99 {tail:5.2f}x")
        if NAIVE in row:
            floor = row[NAIVE]
            line += (f"   floor median {floor['median_us']:6.1f} us"
                     f" (zreactor {z['median_us'] / floor['median_us']:4.2f}x)")
    print(line, flush=True)


if __name__ == "__main__":
    start = time.monotonic()
    code = main()
    print(f"# done in {time.monotonic() - start:.0f} s")
    sys.exit(code)
