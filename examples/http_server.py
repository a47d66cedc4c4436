#!/usr/bin/env python3
"""A tiny HTTP server on a STREAM socket (the example of libzmq's zmq_socket man page).

Any HTTP client can talk to it: a STREAM socket speaks raw tcp, so the browser, ``curl`` or
``urllib`` on the other side need no ZeroMQ at all::

    python examples/http_server.py --port 8080 --count 3
    curl http://127.0.0.1:8080/hello

Each connection is announced by an empty message, then its bytes arrive as
``[routing_id, chunk]``; once a request's headers are complete the server answers and closes
the connection with an empty send. This is pyzmq code: only the import line says
``zreactor``. It answers ``--count`` requests and exits (0); if nothing arrives for
``--timeout`` seconds it gives up (1). The first line printed is
``listening tcp://127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import sys

import zreactor as zmq


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="tcp port to bind (0: any)")
    parser.add_argument("--count", type=int, default=3, help="requests to answer, then exit")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up after this idle time")
    return parser.parse_args(argv)


def response(request: bytes) -> bytes:
    """The whole HTTP/1.0 response to one request."""
    path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b"/"
    body = b"Hello, World! You asked for " + path + b"\n"
    return (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


def main(argv: list[str] | None = None) -> int:
    """Answer ``--count`` HTTP requests."""
    args = parse_args(argv)
    context = zmq.Context()
    socket = context.socket(zmq.STREAM)
    socket.rcvtimeo = int(args.timeout * 1000)
    socket.linger = 1000  # deliver the last response, but never hang on a vanished client
    pending: dict[bytes, bytes] = {}  # routing id -> the request bytes so far
    answered = 0
    try:
        if args.port:
            socket.bind(f"tcp://127.0.0.1:{args.port}")
        else:
            socket.bind_to_random_port("tcp://127.0.0.1")
        print(f"listening {socket.last_endpoint.decode()}", flush=True)
        while answered < args.count:
            routing_id, data = socket.recv_multipart()
            if not data:  # a connection made (or lost, or closed by us)
                pending.pop(routing_id, None)
                continue
            request = pending.get(routing_id, b"") + data
            if b"\r\n\r\n" not in request:
                pending[routing_id] = request  # the headers are not complete yet
                continue
            pending.pop(routing_id, None)
            print(f"request {answered}: {request.splitlines()[0].decode()}", flush=True)
            socket.send_multipart([routing_id, response(request)])
            socket.send_multipart([routing_id, b""])  # close this connection
            answered += 1
        # libzmq closes a connection at the socket's next call after the empty send: give it
        # one, so the last client sees its end of file before the context goes away
        while socket.poll(100):
            socket.recv_multipart()
    except zmq.Again:
        print(f"no request for {args.timeout} s, giving up", file=sys.stderr)
        return 1
    finally:
        socket.close()
        context.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
