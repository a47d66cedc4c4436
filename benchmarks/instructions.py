#!/usr/bin/env python3
"""Instructions per message: zreactor and pyzmq under callgrind, the same programs, with ratios.

Why
---
This machine is shared and noisy: a wall-clock ratio moves by ±0.2 between two runs of the
same tree, and by more while anything else runs. The number of instructions a process
executes for one message does not: it is what a change to the message path changes, and it
is the same on a loaded machine as on a quiet one. This script counts it with valgrind's
callgrind, for the same :mod:`perf` roles that ``benchmarks/messaging.py`` times, so its
figures and that script's are about the same programs.

Method
------
Each measured process runs under ``valgrind --tool=callgrind`` with ``PYTHONHASHSEED=0``
(Python's hashing otherwise moves dict and set layouts, and the counts with them by ~1 %).
It is run twice, for ``--short`` and for ``--long`` messages; the difference of the two
totals divided by the difference of the counts is the cost of one message, with start-up,
imports, connecting and closing cancelled out. Every thread of the process is counted (the
application thread and the I/O threads: for pyzmq that is libzmq's C, for zreactor our
Python), so the two libraries are compared on all the work each does. zreactor's held read
ticks every 50 ms; fifty times slower under valgrind that would hand the read back to the
loop between round trips, so its processes run with ``--hold-tick 3600``.

Scenarios:

* ``lat``: a REQ doing round trips against a REP echoing them, both under callgrind, both
  the same library; instructions per round trip, each side. ``--lib naive`` counts the
  floor (``perf.py --lib naive``: a plain-Python length-prefixed exchange, no ZMTP, no I/O
  thread), what Python itself spends on a round trip's ``send()`` and ``recv()``;
* ``push``: the library's PUSH under callgrind sending to a PULL of ``--peer`` (pyzmq by
  default) run normally; instructions per message sent;
* ``pull``: the library's PULL under callgrind receiving from a PUSH of ``--peer``;
  instructions per message received.

One scenario takes 20-60 s per library (valgrind runs Python about fifty times slower).
Usage::

    python benchmarks/instructions.py                         # lat, push, pull over tcp, 100 B
    python benchmarks/instructions.py --scenario lat --transport ipc
    python benchmarks/instructions.py --scenario pull --size 65536 --lib zreactor
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PERF = str(HERE / "perf.py")
#: message counts of the two runs whose difference is measured, by scenario kind
COUNTS = {"lat": (200, 1_200), "thr": (20_000, 60_000)}
#: large messages: fewer of them (each costs far more under valgrind)
LARGE_COUNTS = {"lat": (100, 400), "thr": (1_000, 3_000)}
LARGE = 8192
TIMEOUT = 900


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(HERE.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONHASHSEED"] = "0"
    return env


def _perf(role: str, lib: str, endpoint: str, size: int, count: int) -> list[str]:
    cmd = [sys.executable, PERF, role, "--lib", lib, "--endpoint", endpoint,
           "--size", str(size), "--count", str(count)]
    if lib == "zreactor":
        cmd += ["--hold-tick", "3600"]
    return cmd


def _callgrind(out_file: str) -> list[str]:
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
            "--dump-instr=no", "--compress-strings=no", "--compress-pos=no"]


def total_instructions(out_file: str) -> int:
    """The whole process's instruction count from a callgrind output file."""
    text = Path(out_file).read_text(errors="replace")
    for key in ("summary", "totals"):
        found = re.search(rf"^{key}:\s*(\d+)", text, re.MULTILINE)
        if found:
            return int(found.group(1))
    raise RuntimeError(f"no instruction total in {out_file}")


def _endpoint(transport: str, workdir: str, tag: str) -> str:
    if transport == "tcp":
        return "tcp://127.0.0.1:*"
    return f"ipc://{workdir}/{tag}.ipc"


def _run_pair(local: list[str], remote_for: Any, workdir: str) -> None:
    """Start ``local`` (it prints its bound endpoint first), then the remote command built by
    ``remote_for(endpoint)``; wait for both, raising if either fails."""
    proc = subprocess.Popen(local, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(), cwd=workdir)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{' '.join(local)} printed nothing:\n{proc.stderr.read()[-2000:]}")
        ready = json.loads(line)["ready"]
        remote = subprocess.run(remote_for(ready), capture_output=True, text=True,
                                timeout=TIMEOUT, env=_env(), cwd=workdir)
        if remote.returncode != 0:
            raise RuntimeError(f"remote failed:\n{remote.stderr[-2000:]}")
        _, err = proc.communicate(timeout=TIMEOUT)
        if proc.returncode != 0:
            raise RuntimeError(f"local failed:\n{err[-2000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def one_run(scenario: str, lib: str, peer: str, transport: str, size: int, count: int,
            workdir: str) -> dict[str, int]:
    """Run one scenario for ``count`` messages; total instructions of each measured side."""
    tag = f"{scenario}-{lib}-{count}"
    endpoint = _endpoint(transport, workdir, tag)
    outs = {side: os.path.join(workdir, f"{tag}-{side}.out")
            for side in ("REQ", "REP", "PUSH", "PULL")}
    if scenario == "lat":
        local = _callgrind(outs["REP"]) + _perf("local_lat", lib, endpoint, size, count)
        _run_pair(local, lambda ep: _callgrind(outs["REQ"])
                  + _perf("remote_lat", lib, ep, size, count), workdir)
        return {side: total_instructions(outs[side]) for side in ("REQ", "REP")}
    if scenario == "push":
        local = _perf("local_thr", peer, endpoint, size, count)
        _run_pair(local, lambda ep: _callgrind(outs["PUSH"])
                  + _perf("remote_thr", lib, ep, size, count), workdir)
        return {"PUSH": total_instructions(outs["PUSH"])}
    local = _callgrind(outs["PULL"]) + _perf("local_thr", lib, endpoint, size, count)
    _run_pair(local, lambda ep: _perf("remote_thr", peer, ep, size, count), workdir)
    return {"PULL": total_instructions(outs["PULL"])}


def per_message(scenario: str, lib: str, peer: str, transport: str, size: int,
                counts: tuple[int, int]) -> dict[str, float]:
    """Instructions per message (or round trip) of each measured side: the difference of a
    short and a long run (module docstring, *Method*)."""
    short, long = counts
    with tempfile.TemporaryDirectory(prefix="zreactor-instr-") as workdir:
        few = one_run(scenario, lib, peer, transport, size, short, workdir)
        many = one_run(scenario, lib, peer, transport, size, long, workdir)
    return {side: (many[side] - few[side]) / (long - short) for side in few}


def main(argv: list[str] | None = None) -> int:
    """Measure the chosen scenarios for each library and print instructions and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", choices=["lat", "push", "pull"],
                        help="repeatable; default all three")
    parser.add_argument("--transport", action="append", choices=["tcp", "ipc"],
                        help="repeatable; default tcp")
    parser.add_argument("--size", type=int, action="append", help="bytes; repeatable; 100")
    parser.add_argument("--lib", action="append", choices=["zreactor", "zmq", "naive"],
                        help="repeatable; default all three (naive, the floor: lat only)")
    parser.add_argument("--peer", default="zmq", choices=["zreactor", "zmq"],
                        help="the unmeasured end for push and pull (default pyzmq)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    scenarios = args.scenario or ["lat", "push", "pull"]
    transports = args.transport or ["tcp"]
    sizes = args.size or [100]
    libs = args.lib or ["zreactor", "zmq", "naive"]
    if "zmq" in libs or args.peer == "zmq":
        try:
            import zmq  # noqa: F401
        except ImportError:
            print("# pyzmq is not installed: zreactor alone, against a zreactor peer")
            libs = [lib for lib in libs if lib != "zmq"]
            args.peer = "zreactor"
    print(f"# instructions per message under callgrind, PYTHONHASHSEED=0; "
          f"push/pull against a {args.peer} peer")
    results: list[dict[str, Any]] = []
    for scenario in scenarios:
        kind = "lat" if scenario == "lat" else "thr"
        for transport in transports:
            for size in sizes:
                counts = (LARGE_COUNTS if size >= LARGE else COUNTS)[kind]
                row: dict[str, Any] = {"scenario": scenario, "transport": transport,
                                       "size": size, "counts": counts}
                measured = [lib for lib in libs if lib != "naive" or scenario == "lat"]
                if not measured:
                    continue
                for lib in measured:
                    row[lib] = per_message(scenario, lib, args.peer, transport, size, counts)
                results.append(row)
                _print_row(row, measured)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


def _print_row(row: dict[str, Any], libs: list[str]) -> None:
    head = f"{row['scenario']:<4} {row['transport']:<3} {row['size']:>6} B"
    for side in row[libs[0]]:
        cells = "   ".join(f"{lib} {row[lib][side] / 1000:8.1f} k" for lib in libs)
        ratio = ""
        for other in libs[1:]:
            if row[other][side]:
                ratio += f"   {libs[0]}/{other} {row[libs[0]][side] / row[other][side]:5.1f}"
        print(f"{head}  {side:<4}  {cells}{ratio}", flush=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
