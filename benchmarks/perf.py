#!/usr/bin/env python3
"""libzmq's perf tools (local_thr/remote_thr, local_lat/remote_lat) for any pyzmq-like library.

The same code runs against pyzmq and zreactor: ``--lib zmq`` or ``--lib zreactor`` picks the
module imported as ``zmq``. That is the point of the comparison: identical programs, two
implementations.

Roles (each prints one JSON line on stdout):

* ``local_thr``: bind a PULL, receive ``count`` messages, report messages/s measured from the
  first message to the last (as libzmq's local_thr does).
* ``remote_thr``: connect a PUSH, send ``count`` messages of ``size`` bytes.
* ``local_lat``: bind a REP, echo ``count`` messages.
* ``remote_lat``: connect a REQ, time ``count`` round trips; report median and p99 in µs.
* ``inproc_thr`` / ``inproc_lat``: both ends in one process, on two threads.

``--lib naive`` runs the latency roles on ``peers/naive_zmq.py``, a plain-Python
length-prefixed exchange: the floor a pure-Python library's round trip cannot go below.

``benchmarks/messaging.py`` drives these roles side by side and prints ratios.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any


#: ``--lib naive``: the floor, a plain-Python length-prefixed exchange (``peers/naive_zmq.py``;
#: the latency roles only)
NAIVE = "naive"


def _lib(name: str) -> Any:
    if name == NAIVE:
        sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
        return importlib.import_module("naive_zmq")
    return importlib.import_module(name)


def _last_endpoint(zmq: Any, sock: Any) -> str:
    """The bound endpoint (pyzmq returns bytes, zreactor str)."""
    value = sock.getsockopt(zmq.LAST_ENDPOINT)
    return value.decode() if isinstance(value, bytes) else value


def local_thr(zmq: Any, endpoint: str, size: int, count: int) -> dict[str, Any]:
    """Receive ``count`` messages on a bound PULL; return the rate."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.bind(endpoint)
    print(json.dumps({"ready": _last_endpoint(zmq, sock)}), flush=True)
    first = sock.recv()
    if len(first) != size:
        raise SystemExit(f"message of {len(first)} bytes, expected {size}")
    start = time.perf_counter()
    for _ in range(count - 1):
        sock.recv()
    elapsed = time.perf_counter() - start
    sock.close(linger=0)
    ctx.term()
    rate = (count - 1) / elapsed if elapsed > 0 else float("inf")
    return {"msgs": count, "size": size, "seconds": elapsed, "msg_per_s": rate,
            "mbit_per_s": rate * size * 8 / 1e6}


def remote_thr(zmq: Any, endpoint: str, size: int, count: int) -> dict[str, Any]:
    """Send ``count`` messages of ``size`` bytes on a connected PUSH."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    sock.connect(endpoint)
    payload = b"x" * size
    start = time.perf_counter()
    for _ in range(count):
        sock.send(payload)
    elapsed = time.perf_counter() - start
    sock.close(linger=-1)
    ctx.term()
    return {"sent": count, "send_seconds": elapsed}


def local_lat(zmq: Any, endpoint: str, size: int, count: int) -> dict[str, Any]:
    """Echo ``count`` requests on a bound REP."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.bind(endpoint)
    print(json.dumps({"ready": _last_endpoint(zmq, sock)}), flush=True)
    for _ in range(count):
        sock.send(sock.recv())
    sock.close(linger=-1)
    ctx.term()
    return {"echoed": count}


def remote_lat(zmq: Any, endpoint: str, size: int, count: int) -> dict[str, Any]:
    """Time ``count`` REQ/REP round trips."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.connect(endpoint)
    samples = _time_round_trips(sock, size, count)
    sock.close(linger=0)
    ctx.term()
    return _lat_summary(samples, size)


def _time_round_trips(sock: Any, size: int, count: int) -> list[float]:
    """Send ``count`` requests of ``size`` bytes on a REQ, each awaiting its reply; seconds."""
    payload = b"x" * size
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        sock.send(payload)
        sock.recv()
        samples.append(time.perf_counter() - t0)
    return samples


def _lat_summary(samples: list[float], size: int) -> dict[str, Any]:
    samples.sort()
    return {
        "round_trips": len(samples), "size": size,
        "median_us": statistics.median(samples) * 1e6,
        "p99_us": samples[int(len(samples) * 0.99) - 1] * 1e6,
        "mean_us": statistics.fmean(samples) * 1e6,
    }


def inproc_thr(zmq: Any, size: int, count: int) -> dict[str, Any]:
    """PUSH -> PULL between two threads of this process."""
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.bind("inproc://perf-thr")
    push = ctx.socket(zmq.PUSH)
    push.connect("inproc://perf-thr")
    payload = b"x" * size

    def sender() -> None:
        for _ in range(count):
            push.send(payload)

    thread = threading.Thread(target=sender)
    thread.start()
    pull.recv()
    start = time.perf_counter()
    for _ in range(count - 1):
        pull.recv()
    elapsed = time.perf_counter() - start
    thread.join()
    push.close(linger=0)
    pull.close(linger=0)
    ctx.term()
    rate = (count - 1) / elapsed
    return {"msgs": count, "size": size, "seconds": elapsed, "msg_per_s": rate,
            "mbit_per_s": rate * size * 8 / 1e6}


def inproc_lat(zmq: Any, size: int, count: int) -> dict[str, Any]:
    """REQ/REP round trips between two threads of this process."""
    ctx = zmq.Context()
    rep = ctx.socket(zmq.REP)
    rep.bind("inproc://perf-lat")
    req = ctx.socket(zmq.REQ)
    req.connect("inproc://perf-lat")

    def echo() -> None:
        for _ in range(count):
            rep.send(rep.recv())

    thread = threading.Thread(target=echo)
    thread.start()
    samples = _time_round_trips(req, size, count)
    thread.join()
    req.close(linger=0)
    rep.close(linger=0)
    ctx.term()
    return _lat_summary(samples, size)


ROLES = {
    "local_thr": local_thr, "remote_thr": remote_thr,
    "local_lat": local_lat, "remote_lat": remote_lat,
}


def main(argv: list[str] | None = None) -> int:
    """Run one role and print its result as a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=[*ROLES, "inproc_thr", "inproc_lat"])
    parser.add_argument("--lib", default="zreactor",
                        help="module to use as zmq (zreactor or zmq), or naive: the floor, "
                             "local_lat and remote_lat only")
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:5555")
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--hold-tick", type=float, default=None,
                        help="zreactor only: the held read's tick in seconds (a process run "
                             "under valgrind, fifty times slower, sets it long)")
    args = parser.parse_args(argv)
    if args.lib == NAIVE and args.role not in ("local_lat", "remote_lat"):
        parser.error("--lib naive runs local_lat and remote_lat only")
    zmq = _lib(args.lib)
    if args.hold_tick is not None and args.lib == "zreactor":
        from zreactor.zmtp import shortcut
        shortcut.HOLD_TICK = args.hold_tick
    if args.role == "inproc_thr":
        result = inproc_thr(zmq, args.size, args.count)
    elif args.role == "inproc_lat":
        result = inproc_lat(zmq, args.size, args.count)
    else:
        result = ROLES[args.role](zmq, args.endpoint, args.size, args.count)
    print(json.dumps({"result": result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
