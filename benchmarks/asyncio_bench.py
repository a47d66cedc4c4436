#!/usr/bin/env python3
"""zreactor.asyncio against pyzmq's zmq.asyncio, side by side in the same run.

    python benchmarks/asyncio_bench.py                # all three, 3 alternating rounds
    python benchmarks/asyncio_bench.py --only rr,idle --rounds 5 --json out.json
    python benchmarks/asyncio_bench.py --loop uvloop  # both libraries on uvloop

Three measurements, each made for both libraries in a fresh child process (so neither
inherits the other's threads, fds or caches), the order alternating every round, and
reported as the median over rounds with the ratio zreactor / pyzmq:

* ``rr``: REQ/REP round trip over loopback tcp, both sockets awaited on one asyncio loop:
  microseconds per round trip (median of the round's trips). Lower is better; the target
  is zreactor <= 1.0x pyzmq.
* ``pushpull``: PUSH/PULL throughput over loopback tcp, one sender and one receiver
  coroutine on one loop, 100-byte messages, each send and recv awaited: messages per
  second. Higher is better; the target is >= 1.0x.
* ``idle``: 1,000 PULL sockets on one loop, each with a ``recv()`` awaiting, for
  ``--idle-seconds``: the CPU of the loop's thread and of the whole process (every I/O
  thread included) as a percentage of one core; the target is ~0%. Afterwards one PUSH
  sends each socket a message, and the time until all 1,000 awaiting receives completed is
  reported too (so the idle figure is not bought by sockets that stopped listening).

The machine this runs on may be shared and loaded: compare ratios from the same run, not
absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LIBS = ("zreactor", "pyzmq")
TESTS = ("rr", "pushpull", "idle")


def load(lib: str) -> tuple[Any, Any]:
    """``(zmq, zmq.asyncio)`` of the library."""
    if lib == "zreactor":
        return importlib.import_module("zreactor"), importlib.import_module("zreactor.asyncio")
    return importlib.import_module("zmq"), importlib.import_module("zmq.asyncio")


def tcp_pair(ctx: Any, zmq: Any, bind_type: int, connect_type: int) -> tuple[Any, Any]:
    a = ctx.socket(bind_type)
    a.linger = 0
    port = a.bind_to_random_port("tcp://127.0.0.1")
    b = ctx.socket(connect_type)
    b.linger = 0
    b.connect(f"tcp://127.0.0.1:{port}")
    return a, b


async def bench_rr(zmq: Any, zaio: Any, args: argparse.Namespace) -> dict[str, float]:
    ctx = zaio.Context()
    rep, req = tcp_pair(ctx, zmq, zmq.REP, zmq.REQ)
    payload = b"x" * 100

    async def serve(n: int) -> None:
        for _ in range(n):
            await rep.send(await rep.recv())

    total = args.warmup + args.round_trips
    server = asyncio.ensure_future(serve(total))
    times = []
    for i in range(total):
        t0 = time.perf_counter()
        await req.send(payload)
        await req.recv()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    await server
    rep.close()
    req.close()
    ctx.term()
    return {"us": statistics.median(times) * 1e6, "mean_us": statistics.fmean(times) * 1e6}


async def bench_pushpull(zmq: Any, zaio: Any, args: argparse.Namespace) -> dict[str, float]:
    ctx = zaio.Context()
    pull, push = tcp_pair(ctx, zmq, zmq.PULL, zmq.PUSH)
    payload = b"x" * 100
    await push.send(payload)  # the connection is up before the clock starts
    await pull.recv()
    n = args.messages

    async def send() -> None:
        for _ in range(n):
            await push.send(payload)

    async def recv() -> None:
        for _ in range(n):
            await pull.recv()

    t0 = time.perf_counter()
    await asyncio.gather(send(), recv())
    elapsed = time.perf_counter() - t0
    push.close()
    pull.close()
    ctx.term()
    return {"msgs_per_s": n / elapsed}


async def bench_idle(zmq: Any, zaio: Any, args: argparse.Namespace) -> dict[str, float]:
    ctx = zaio.Context()
    count = args.sockets
    socks = []
    for i in range(count):
        s = ctx.socket(zmq.PULL)
        s.linger = 0
        s.bind(f"inproc://idle-{i}")
        socks.append(s)
    waits = [asyncio.ensure_future(s.recv()) for s in socks]
    await asyncio.sleep(0.5)  # every receive is registered and waiting
    wall0, thread0, proc0 = time.perf_counter(), time.thread_time(), time.process_time()
    await asyncio.sleep(args.idle_seconds)
    wall1, thread1, proc1 = time.perf_counter(), time.thread_time(), time.process_time()
    # and they still listen: one message each (PUSH round-robins over its 1,000 pipes)
    sender = ctx.socket(zmq.PUSH, socket_class=zmq.Socket)  # a blocking one, both libraries
    sender.linger = 0
    for i in range(count):
        sender.connect(f"inproc://idle-{i}")
    await asyncio.sleep(0.2)  # the pipes are attached
    t0 = time.perf_counter()
    for _ in range(count):
        sender.send(b"wake")
    await asyncio.wait_for(asyncio.gather(*waits), 30)
    wake = time.perf_counter() - t0
    sender.close()
    for s in socks:
        s.close()
    ctx.term()
    wall = wall1 - wall0
    return {"loop_cpu_pct": 100 * (thread1 - thread0) / wall,
            "process_cpu_pct": 100 * (proc1 - proc0) / wall, "wake_all_ms": wake * 1000}


BENCHES = {"rr": bench_rr, "pushpull": bench_pushpull, "idle": bench_idle}


def child(lib: str, test: str, args: argparse.Namespace) -> None:
    """Run one measurement in this process; print its JSON."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1,000 sockets need fds
    zmq, zaio = load(lib)
    if args.loop == "uvloop":
        import uvloop

        uvloop.install()
    result = asyncio.run(BENCHES[test](zmq, zaio, args))
    print(json.dumps(result))


def run_child(lib: str, test: str, argv: list[str]) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, __file__, "--child", lib, test, *argv],
                          capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{lib} {test} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


#: per test: (figure, unit, better) -- the figure the ratio is taken of
HEADLINE = {"rr": ("us", "us/round trip", "lower"), "pushpull": ("msgs_per_s", "msg/s", "higher"),
            "idle": ("loop_cpu_pct", "% loop CPU", "lower")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(TESTS), help="comma-separated: rr,pushpull,idle")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per test")
    parser.add_argument("--round-trips", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                        help="the event loop both libraries run on (default: asyncio's own)")
    parser.add_argument("--json", help="also write every figure here")
    parser.add_argument("--child", nargs=2, metavar=("LIB", "TEST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args)
        return 0
    passthrough = ["--round-trips", str(args.round_trips), "--warmup", str(args.warmup),
                   "--messages", str(args.messages), "--sockets", str(args.sockets),
                   "--idle-seconds", str(args.idle_seconds), "--loop", args.loop]
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for test in [t for t in args.only.split(",") if t]:
        results[test] = {lib: [] for lib in LIBS}
        for r in range(args.rounds):
            order = LIBS if r % 2 == 0 else LIBS[::-1]
            for lib in order:
                results[test][lib].append(run_child(lib, test, passthrough))
                print(f"  {test} round {r + 1} {lib}: {results[test][lib][-1]}", file=sys.stderr)
    print(f"\nzreactor.asyncio vs pyzmq zmq.asyncio on the {args.loop} loop "
          f"({args.rounds} alternating rounds, medians)")
    print(f"{'test':<10} {'figure':<18} {'zreactor':>12} {'pyzmq':>12} {'ratio':>7}  target")
    for test, by_lib in results.items():
        for key in by_lib["zreactor"][0]:
            z = statistics.median(x[key] for x in by_lib["zreactor"])
            p = statistics.median(x[key] for x in by_lib["pyzmq"])
            ratio = f"{z / p:.2f}x" if p else "-"
            headline = HEADLINE[test]
            target = ""
            if key == headline[0]:
                target = {"rr": "<= 1.0x", "pushpull": ">= 1.0x", "idle": "~0 %"}[test]
            print(f"{test:<10} {key:<18} {z:>12.2f} {p:>12.2f} {ratio:>7}  {target}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
