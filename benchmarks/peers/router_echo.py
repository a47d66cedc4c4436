"""A ROUTER that echoes every message back to its sender: zreactor's or libzmq's (pyzmq).

The EMFILE benchmark's messaging scenario runs this twice, side by side, under a low
RLIMIT_NOFILE: ``--impl zreactor`` (with ``--accept-grace`` set through the
``zreactor.ACCEPT_GRACE`` socket option) and ``--impl pyzmq`` (libzmq 4.3.5, untuned).
Nothing else differs: the same loop, ``recv_multipart`` then ``send_multipart``.

Contract shared by every server the benchmark runs: ``--host``/``--port`` (port 0 picks a
free one), the first line on stdout is ``listening tcp://HOST:PORT`` (flushed), then it
serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--impl", choices=("zreactor", "pyzmq"), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--accept-grace", type=int, default=1000, help="ms (zreactor only)")
    args = parser.parse_args(argv)
    zmq: Any
    if args.impl == "zreactor":
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        import zreactor as zmq
    else:
        import zmq
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.linger = 0
    if args.impl == "zreactor":
        router.accept_grace = args.accept_grace
    port = args.port or router.bind_to_random_port(f"tcp://{args.host}")
    if args.port:
        router.bind(f"tcp://{args.host}:{args.port}")
    print(f"listening tcp://{args.host}:{port}", flush=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    router.rcvtimeo = 100
    try:
        while not stopping:
            try:
                router.send_multipart(router.recv_multipart())
            except zmq.Again:
                continue
    except KeyboardInterrupt:
        pass
    router.close(linger=0)
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
