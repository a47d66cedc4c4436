#!/usr/bin/env python3
"""A line echo server written as a custom StreamEngine.

Run it::

    python examples/echo_server.py --port 5555 --io-threads 4

The first line printed is always ``listening tcp://HOST:PORT`` (flushed), so scripts can
start it with ``--port 0`` and read the real port. It serves until SIGINT or SIGTERM, then
terminates the context cleanly and prints a one-line summary on stderr.

The engine is the whole protocol: a :class:`~zreactor.LineCodec` splits input into lines,
and every line is written straight back. Everything else (accepting, spreading connections
over I/O threads, backpressure, surviving descriptor exhaustion) is the reactor's job.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

import zreactor


class EchoEngine(zreactor.StreamEngine):
    """Echo every line back to the client that sent it."""

    def __init__(self, sock: Any) -> None:
        super().__init__(sock, codec=zreactor.LineCodec(max_line=1 << 20))

    def message_received(self, message: bytes) -> None:
        self.send(message)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default 0: any free)")
    parser.add_argument("--io-threads", type=int, default=1, help="number of I/O threads")
    parser.add_argument("--poller", default=None, help="force a poller: epoll, poll, select, ...")
    parser.add_argument(
        "--max-connections", type=int, default=None,
        help="fd budget for accepted connections (default: from RLIMIT_NOFILE)",
    )
    parser.add_argument(
        "--accept-grace", type=float, default=None,
        help="seconds a client may wait in the backlog before it is shed",
    )
    parser.add_argument(
        "--shed-policy", choices=("reset", "reopen", "none"), default=None,
        help="how to tell waiting clients that cannot be served",
    )
    parser.add_argument("--verbose", action="store_true", help="log listener events to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGINT/SIGTERM."""
    args = parse_args(argv)
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    options = {
        name: value
        for name, value in (
            ("max_connections", args.max_connections),
            ("accept_grace", args.accept_grace),
            ("shed_policy", args.shed_policy),
        )
        if value is not None
    }
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    host = f"[{args.host}]" if ":" in args.host else args.host
    endpoint = f"tcp://{host}:{args.port}"
    try:
        ctx = zreactor.Context(io_threads=args.io_threads, poller=args.poller, term_linger=1.0)
    except ValueError as exc:  # an unknown poller, or a poller this platform lacks
        return _fail(str(exc), 2)
    with ctx:
        try:
            listener = ctx.listen(endpoint, EchoEngine, **options)
        except (OSError, ValueError) as exc:  # port in use, not permitted, bad option, ...
            return _fail(f"cannot listen on {endpoint}: {getattr(exc, 'strerror', None) or exc}", 1)
        print(f"listening {listener.endpoint}", flush=True)
        while not stop.wait(0.5):
            pass
        summary = f"accepted {listener.accepted} connections"
    print(f"echo_server: {summary}; shut down cleanly", file=sys.stderr, flush=True)
    return 0


def _fail(message: str, code: int) -> int:
    """One line on stderr, argparse style, instead of a traceback; the exit status."""
    print(f"echo_server: error: {message}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
