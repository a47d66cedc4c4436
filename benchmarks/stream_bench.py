#!/usr/bin/env python3
"""A zreactor STREAM server against a libzmq (pyzmq) STREAM server, side by side in one run.

    python benchmarks/stream_bench.py                  # both measurements, 3 rounds
    python benchmarks/stream_bench.py --rounds 5 --mb 50 --trips 5000

Each measurement runs each library's server in a fresh child process (so neither inherits
the other's threads or caches), the order alternating every round; the client is the same
plain blocking ``socket`` in the parent, so it is the servers that differ. Reported: the
median over rounds and the ratio zreactor / pyzmq.

* ``upload``: the client streams ``--mb`` MiB; the server receives every ``[id, chunk]``
  until it has them all and answers one byte. MiB/s, higher is better.
* ``rr``: an HTTP-like request/response, ``--trips`` times on one connection: 100 bytes up,
  the server answers 100 bytes. Microseconds per round trip (median of each round's
  trips), lower is better.

The machine may be shared and loaded: compare the ratios of one run, not absolute figures
across runs.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SERVER = r"""
import sys
lib, mode = sys.argv[1], sys.argv[2]
zmq = __import__("zreactor" if lib == "zreactor" else "zmq")
ctx = zmq.Context()
sock = ctx.socket(zmq.STREAM)
sock.linger = 0
port = sock.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
rid, _ = sock.recv_multipart()  # the connection notice
if mode == "upload":
    want = int(sys.argv[3])
    got = 0
    while got < want:
        _, chunk = sock.recv_multipart()
        got += len(chunk)
    sock.send_multipart([rid, b"k"])
else:
    reply = b"r" * 100
    pending = 0
    while True:
        _, chunk = sock.recv_multipart()
        if not chunk:
            break  # the client went away
        pending += len(chunk)
        while pending >= 100:
            pending -= 100
            sock.send_multipart([rid, reply])
sock.recv_multipart() if mode == "upload" else None
ctx.destroy(linger=0)
"""


def run_server(lib: str, mode: str, *args: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-c", SERVER, lib, mode, *args],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def upload(lib: str, mib: int) -> float:
    size = mib * 1024 * 1024
    proc, port = run_server(lib, "upload", str(size))
    block = b"u" * 65536
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        t0 = time.perf_counter()
        sent = 0
        while sent < size:
            conn.sendall(block)
            sent += len(block)
        assert conn.recv(1) == b"k"
        elapsed = time.perf_counter() - t0
    proc.wait(30)
    return mib / elapsed


def round_trips(lib: str, trips: int) -> float:
    proc, port = run_server(lib, "rr")
    request = b"q" * 100
    times = []
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(trips):
            t0 = time.perf_counter()
            conn.sendall(request)
            got = 0
            while got < 100:
                got += len(conn.recv(100 - got))
            times.append(time.perf_counter() - t0)
    proc.wait(30)
    return statistics.median(times) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mb", type=int, default=100, help="MiB per upload (100)")
    parser.add_argument("--trips", type=int, default=3000, help="round trips per round (3000)")
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {"upload": {}, "rr": {}}
    for n in range(args.rounds):
        order = ["zreactor", "pyzmq"] if n % 2 == 0 else ["pyzmq", "zreactor"]
        for lib in order:
            results["upload"].setdefault(lib, []).append(upload(lib, args.mb))
            results["rr"].setdefault(lib, []).append(round_trips(lib, args.trips))
    print(f"{'measurement':<26}{'zreactor':>12}{'pyzmq':>12}{'ratio':>8}")
    for name, unit in (("upload", "MiB/s"), ("rr", "us/trip")):
        z = statistics.median(results[name]["zreactor"])
        p = statistics.median(results[name]["pyzmq"])
        print(f"{name + ' (' + unit + ')':<26}{z:>12.1f}{p:>12.1f}{z / p:>7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
