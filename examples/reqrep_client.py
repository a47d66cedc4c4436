#!/usr/bin/env python3
"""Hello World client (the zguide's hwclient): a REQ socket sends "Hello" and waits for "World".

::

    python examples/reqrep_client.py --port 5555 --count 10

Sends ``--count`` requests one after the other and exits (0). A REQ socket must get a reply
before it may send again; if one does not arrive within ``--timeout`` seconds the client
gives up (1) rather than wait for ever (the zguide's "lazy pirate" pattern would retry).
"""

from __future__ import annotations

import argparse
import sys

import zreactor as zmq


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5555, help="server's tcp port")
    parser.add_argument("--count", type=int, default=10, help="requests to send")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait per reply")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Send ``--count`` requests, print the replies."""
    args = parse_args(argv)
    context = zmq.Context()
    print("Connecting to hello world server...", flush=True)
    socket = context.socket(zmq.REQ)
    socket.rcvtimeo = int(args.timeout * 1000)
    socket.linger = 0
    socket.connect(f"tcp://127.0.0.1:{args.port}")
    try:
        for request in range(args.count):
            print(f"Sending request {request} ...", flush=True)
            socket.send(b"Hello")
            message = socket.recv()
            print(f"Received reply {request} [ {message.decode()} ]", flush=True)
    except zmq.Again:
        print(f"no reply within {args.timeout} s, giving up", file=sys.stderr)
        return 1
    finally:
        socket.close()
        context.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
