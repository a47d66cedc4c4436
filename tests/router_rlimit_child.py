"""Run by tests/test_listener_rlimit.py: a zreactor ROUTER echo under a real RLIMIT_NOFILE.

Lowers its own limit (``--nofile``), sets ``ACCEPT_GRACE`` (``--grace`` ms) on a ROUTER,
binds it, prints ``{"listening": endpoint}``, then echoes every message back to its sender.
Each line on stdin ``stats`` is answered with the bound endpoint's listener stats, read
through ``sock.listener()`` from this (the application) thread while the echo runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import threading

import zreactor


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nofile", type=int, default=64)
    parser.add_argument("--grace", type=int, default=300)
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))
    ctx = zreactor.Context()
    router = ctx.socket(zreactor.ROUTER)
    router.accept_grace = args.grace
    router.linger = 0
    router.rcvtimeo = 100
    router.bind("tcp://127.0.0.1:*")
    listener = router.listener()
    print(json.dumps({"listening": router.last_endpoint.decode()}), flush=True)
    stop = threading.Event()

    def echo() -> None:
        while not stop.is_set():
            try:
                router.send_multipart(router.recv_multipart())
            except zreactor.Again:
                continue

    thread = threading.Thread(target=echo)
    thread.start()
    for line in sys.stdin:
        if line.strip() == "stats":
            stats = dataclasses.asdict(listener.stats())
            stats["state"] = stats["state"].value
            print(json.dumps({"stats": stats}), flush=True)
    stop.set()
    thread.join()
    router.close()
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
