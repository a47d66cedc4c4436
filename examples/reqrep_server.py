#!/usr/bin/env python3
"""Hello World server (the zguide's hwserver): a REP socket answers each "Hello" with "World".

Run it, then the client in another terminal::

    python examples/reqrep_server.py --port 5555 --count 10
    python examples/reqrep_client.py --port 5555 --count 10

This is pyzmq code: only the import line says ``zreactor``. The server answers ``--count``
requests and exits (0); if no request arrives for ``--timeout`` seconds it gives up (1).
The first line printed is ``listening tcp://127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import sys
import time

import zreactor as zmq


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5555, help="tcp port to bind (0: any)")
    parser.add_argument("--count", type=int, default=10, help="requests to answer, then exit")
    parser.add_argument("--work", type=float, default=0.0, help="seconds of 'work' per request")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up after this idle time")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve ``--count`` requests."""
    args = parse_args(argv)
    context = zmq.Context()
    socket = context.socket(zmq.REP)
    socket.rcvtimeo = int(args.timeout * 1000)
    socket.linger = 1000  # deliver the last reply, but never hang on a vanished client
    try:
        if args.port:
            socket.bind(f"tcp://127.0.0.1:{args.port}")
        else:
            socket.bind_to_random_port("tcp://127.0.0.1")
        print(f"listening {socket.last_endpoint.decode()}", flush=True)
        for n in range(args.count):
            message = socket.recv()
            print(f"Received request {n}: {message.decode()}", flush=True)
            time.sleep(args.work)  # do some 'work'
            socket.send(b"World")
    except zmq.Again:
        print(f"no request for {args.timeout} s, giving up", file=sys.stderr)
        return 1
    finally:
        socket.close()
        context.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
