#!/usr/bin/env python3
"""Connection benchmarks: accept rate and memory of idle connections, zreactor vs asyncio.

Two servers hold idle TCP connections and do nothing else:

* zreactor: a :class:`zreactor.StreamEngine` subclass with no behaviour, on a listener;
* asyncio: ``asyncio.start_server``-style protocol with no behaviour.

For each, this script (running in its own process) opens ``--connections`` loopback
connections as fast as the kernel completes them, and asks the server (over its stdin)
how many it has accepted and what its resident memory is. It reports:

* accept rate: connections accepted per second, from the first connect to the moment the
  server reports all of them accepted;
* memory: the server's RSS growth divided by the number of connections (bytes each), and the
  total growth for the whole set.

The servers run one after the other (each needs ~N descriptors; the client ~N too), in
alternating order over ``--rounds`` rounds, and the best round of each is reported.
Both processes raise their own soft RLIMIT_NOFILE to the hard limit (never above it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

SERVER_CODE = r'''
import os, resource, sys, threading
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0

kind = sys.argv[1]
if kind == "zreactor":
    import zreactor
    counter = [0]
    class Idle(zreactor.StreamEngine):
        def attached(self):
            counter[0] += 1      # one I/O thread: no lock needed
    ctx = zreactor.Context(io_threads=1)
    listener = ctx.listen("tcp://127.0.0.1:0", Idle, backlog=4096)
    print(listener.endpoint.rsplit(":", 1)[1], flush=True)
    accepted = lambda: counter[0]
else:
    import asyncio
    counter = [0]
    class Idle(asyncio.Protocol):
        def connection_made(self, transport):
            counter[0] += 1
            self.transport = transport
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(Idle, "127.0.0.1", 0, backlog=4096))
    print(server.sockets[0].getsockname()[1], flush=True)
    threading.Thread(target=loop.run_forever, daemon=True).start()
    accepted = lambda: counter[0]
for line in sys.stdin:
    if line.strip() == "quit":
        break
    print(f"{accepted()} {rss()}", flush=True)
'''


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(HERE.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _ask(server: subprocess.Popen[str]) -> tuple[int, int]:
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write("stats\n")
    server.stdin.flush()
    accepted, rss = server.stdout.readline().split()
    return int(accepted), int(rss)


def run_one(kind: str, count: int, timeout: float) -> dict[str, Any]:
    """Start one server, open ``count`` connections, measure, tear down."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER_CODE, kind],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env(),
    )
    socks: list[socket.socket] = []
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        time.sleep(0.2)
        _, rss_before = _ask(server)
        sel = selectors.DefaultSelector()
        start = time.perf_counter()
        pending = 0
        deadline = time.monotonic() + timeout
        opened = 0
        while opened < count and time.monotonic() < deadline:
            # keep at most 512 connects in flight so the backlog is not the bottleneck
            while pending < 512 and opened < count:
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                sel.register(s, selectors.EVENT_WRITE)
                socks.append(s)
                pending += 1
                opened += 1
            for key, _ in sel.select(timeout=0.5):
                sel.unregister(key.fileobj)
                pending -= 1
        for key in list(sel.get_map().values()):
            sel.unregister(key.fileobj)
        sel.close()
        accepted = 0
        while time.monotonic() < deadline:
            accepted, rss_after = _ask(server)
            if accepted >= count:
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        time.sleep(0.3)  # let the server settle before reading memory
        accepted, rss_after = _ask(server)
        return {
            "server": kind, "connections": count, "accepted": accepted,
            "seconds": elapsed, "accept_per_s": accepted / elapsed,
            "rss_growth_bytes": rss_after - rss_before,
            "bytes_per_connection": (rss_after - rss_before) / max(accepted, 1),
        }
    finally:
        for s in socks:
            s.close()
        if server.poll() is None:
            try:
                assert server.stdin is not None
                server.stdin.write("quit\n")
                server.stdin.flush()
                server.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                server.kill()
                server.wait()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.connections + 64
    if hard < need:
        print(f"the hard RLIMIT_NOFILE ({hard}) is below {need}: lower --connections")
        return 2
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"# idle connections: {args.connections}, best of {args.rounds} alternating rounds")
    results: dict[str, list[dict[str, Any]]] = {"zreactor": [], "asyncio": []}
    for _ in range(args.rounds):
        for kind in results:
            results[kind].append(run_one(kind, args.connections, args.timeout))
    best = {k: max(v, key=lambda r: r["accept_per_s"]) for k, v in results.items()}
    print(f"{'server':<10} {'accepted':>8} {'accept/s':>10} {'RSS growth':>12} {'bytes/conn':>11}")
    for kind, r in best.items():
        print(f"{kind:<10} {r['accepted']:>8} {r['accept_per_s']:>10.0f} "
              f"{r['rss_growth_bytes'] / 2**20:>10.1f} MB {r['bytes_per_connection']:>11.0f}")
    z, a = best["zreactor"], best["asyncio"]
    print(f"zreactor/asyncio: accept rate {z['accept_per_s'] / a['accept_per_s']:.2f}, "
          f"memory per connection {z['bytes_per_connection'] / max(a['bytes_per_connection'], 1):.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(best, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
