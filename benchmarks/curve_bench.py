#!/usr/bin/env python3
"""CURVE benchmark: zreactor and pyzmq (libzmq 4.3.5 + libsodium) side by side, same run.

Scenarios, all over tcp on loopback, every socket CURVE-encrypted:

* throughput: PUSH -> PULL at 100 B and 64 KB (messages/s and MB/s);
* round trip: REQ/REP, 100 B (median and p99, microseconds);
* handshake cost: connect + first round trip of a fresh socket, CURVE minus NULL, per
  connection (milliseconds).

Each end runs in its own process (``--child``), so the two libraries never share an
interpreter and each measurement has the machine to itself. Libraries alternate per round;
each keeps its best round (the machine is shared and noisy: the best round is the least
disturbed). Ratios are zreactor / pyzmq: above 1 is better for throughput, below 1 for times.
Targets (issue 11): throughput >= 0.5x, round trip <= 2.0x.

Usage::

    python benchmarks/curve_bench.py              # ~1-2 minutes
    python benchmarks/curve_bench.py --quick      # fewer messages, one round
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LIBS = ["zreactor", "pyzmq"]


def _lib(name: str) -> Any:
    if name == "pyzmq":
        import zmq
    else:
        sys.path.insert(0, str(HERE.parent))
        import zreactor as zmq
    return zmq


def _secure(sock: Any, role: str, keys: dict[str, str], curve: bool) -> None:
    if not curve:
        return
    if role == "server":
        sock.curve_server = True
        sock.curve_secretkey = keys["server_secret"].encode()
    else:
        sock.curve_serverkey = keys["server_public"].encode()
        sock.curve_publickey = keys["client_public"].encode()
        sock.curve_secretkey = keys["client_secret"].encode()


# -- the child processes ------------------------------------------------------------------

def child(args: argparse.Namespace) -> None:
    zmq = _lib(args.lib)
    keys = json.loads(args.keys)
    ctx = zmq.Context()
    role, what = args.child.split("-")
    out: dict[str, Any] = {}
    if what == "thr":
        if role == "server":
            sock = ctx.socket(zmq.PULL)
            _secure(sock, "server", keys, True)
            port = sock.bind_to_random_port("tcp://127.0.0.1")
            print(port, flush=True)
            sock.recv()
            start = time.perf_counter()
            for _ in range(args.count - 1):
                sock.recv()
            elapsed = time.perf_counter() - start
            out = {"msgs_per_s": (args.count - 1) / elapsed}
        else:
            sock = ctx.socket(zmq.PUSH)
            _secure(sock, "client", keys, True)
            sock.connect(f"tcp://127.0.0.1:{args.port}")
            payload = b"x" * args.size
            for _ in range(args.count):
                sock.send(payload)
    elif role == "server":  # "lat" and "hs": a REP echo server
        sock = ctx.socket(zmq.REP)
        _secure(sock, "server", keys, args.curve)
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        print(port, flush=True)
        for _ in range(args.count):
            sock.send(sock.recv())
    elif what == "lat":
        sock = ctx.socket(zmq.REQ)
        _secure(sock, "client", keys, args.curve)
        sock.connect(f"tcp://127.0.0.1:{args.port}")
        payload = b"x" * args.size
        for _ in range(50):  # warm up (and complete the handshake)
            sock.send(payload)
            sock.recv()
        times = []
        for _ in range(args.count - 50):
            t = time.perf_counter()
            sock.send(payload)
            sock.recv()
            times.append(time.perf_counter() - t)
        times.sort()
        out = {"median_us": statistics.median(times) * 1e6,
               "p99_us": times[int(len(times) * 0.99)] * 1e6}
    elif what == "hs":
        per_conn = []
        for _ in range(args.count):
            t = time.perf_counter()
            sock = ctx.socket(zmq.REQ)
            _secure(sock, "client", keys, args.curve)
            sock.connect(f"tcp://127.0.0.1:{args.port}")
            sock.send(b"hi")
            sock.recv()
            per_conn.append(time.perf_counter() - t)
            sock.close(linger=0)
        out = {"median_ms": statistics.median(per_conn) * 1e3}
    # the sender waits until everything is delivered (the receiver counts every message)
    sock.close(linger=-1 if role == "client" and what == "thr" else 0)
    ctx.term()
    print(json.dumps(out), flush=True)


# -- the parent ---------------------------------------------------------------------------

def _spawn(lib: str, role: str, what: str, keys: dict[str, str], **opts: Any) -> subprocess.Popen[str]:
    cmd = [sys.executable, __file__, "--child", f"{role}-{what}", "--lib", lib,
           "--keys", json.dumps(keys)]
    for name, value in opts.items():
        if value is True:
            cmd.append(f"--{name}")
        elif value is not False and value is not None:
            cmd += [f"--{name}", str(value)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def measure(lib: str, what: str, keys: dict[str, str], count: int, size: int = 100,
            curve: bool = True, timeout: float = 300) -> dict[str, Any]:
    server = _spawn(lib, "server", what, keys, count=count, size=size, curve=curve)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        client = _spawn(lib, "client", what, keys, count=count, size=size, curve=curve,
                        port=port)
        try:
            c_out, c_err = client.communicate(timeout=timeout)
            s_out, s_err = server.communicate(timeout=timeout)
        finally:
            if client.poll() is None:
                client.kill()
    finally:
        if server.poll() is None:
            server.kill()
    if client.returncode or server.returncode:
        raise RuntimeError(f"{lib} {what} failed:\n{c_err[-1500:]}\n{s_err[-1500:]}")
    result = json.loads((c_out.strip() or "{}").splitlines()[-1])
    result.update(json.loads((s_out.strip() or "{}").splitlines()[-1]))
    return result


def best(results: list[dict[str, Any]], key: str, higher: bool) -> float:
    values = [r[key] for r in results]
    return max(values) if higher else min(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child")
    parser.add_argument("--lib")
    parser.add_argument("--keys")
    parser.add_argument("--count", type=int)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--port", type=int)
    parser.add_argument("--curve", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0

    import zmq  # pyzmq makes the keys; both libraries read the same Z85 text

    sp, ss = zmq.curve_keypair()
    cp, cs = zmq.curve_keypair()
    keys = {"server_public": sp.decode(), "server_secret": ss.decode(),
            "client_public": cp.decode(), "client_secret": cs.decode()}
    rounds = 1 if args.quick else args.rounds
    scale = 5 if args.quick else 1
    plan = [
        ("thr 100 B", "thr", {"count": 100_000 // scale, "size": 100}, "msgs_per_s", True),
        ("thr 64 KB", "thr", {"count": 3_000 // scale, "size": 65536}, "msgs_per_s", True),
        ("REQ/REP 100 B median", "lat", {"count": 4_000 // scale, "size": 100}, "median_us", False),
        ("REQ/REP 100 B p99", "lat", {"count": 4_000 // scale, "size": 100}, "p99_us", False),
        ("(NULL REQ/REP median)", "lat0", {"count": 4_000 // scale, "size": 100, "curve": False},
         "median_us", False),
    ]
    print(f"CURVE over tcp loopback, {rounds} round(s), best of each; python "
          f"{sys.version.split()[0]}, pyzmq {zmq.__version__} / libzmq {zmq.zmq_version()}, "
          f"{os.cpu_count()} cpus")
    print(f"{'scenario':<24} {'zreactor':>14} {'pyzmq':>14} {'ratio':>7}")
    lat_cache: dict[str, list[dict[str, Any]]] = {}
    for label, what, opts, key, higher in plan:
        results: dict[str, list[dict[str, Any]]] = {lib: [] for lib in LIBS}
        if what == "lat" and lat_cache:
            results = lat_cache
        else:
            for _ in range(rounds):
                for lib in LIBS:
                    results[lib].append(measure(lib, what[:3], keys, **opts))
            if what == "lat":
                lat_cache = results
        z, p = best(results["zreactor"], key, higher), best(results["pyzmq"], key, higher)
        unit = {"msgs_per_s": "msg/s", "median_us": "us", "p99_us": "us"}[key]
        extra = ""
        if what == "lat0":
            extra = "   (for reference: the same round trip without CURVE)"
        if what == "thr":
            mb = lambda v: v * opts["size"] / 1e6  # noqa: E731
            extra = f"   ({mb(z):.1f} vs {mb(p):.1f} MB/s)"
        print(f"{label:<24} {z:>10.0f} {unit:<3} {p:>10.0f} {unit:<3} {z / p:>6.2f}x{extra}")
    count = 40 // (2 if args.quick else 1)
    print("handshake, per connection (connect + first round trip, median):")
    for lib in LIBS:
        figures = {}
        for curve in (False, True):
            figures[curve] = min(measure(lib, "hs", keys, count=count, curve=curve)["median_ms"]
                                 for _ in range(rounds))
        print(f"  {lib:<9} NULL {figures[False]:6.2f} ms   CURVE {figures[True]:6.2f} ms   "
              f"CURVE cost {figures[True] - figures[False]:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
