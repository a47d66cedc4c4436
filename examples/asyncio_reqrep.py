#!/usr/bin/env python3
"""Request-reply on asyncio: one REP server coroutine, several REQ clients, one event loop.

Run both sides in one process (the default), or each in its own::

    python examples/asyncio_reqrep.py both --port 5555 --clients 3 --count 10
    python examples/asyncio_reqrep.py server --port 5555 --count 30
    python examples/asyncio_reqrep.py client --port 5555 --count 10

This is pyzmq code (``zmq.asyncio``): only the import lines say ``zreactor``. Every
``send``/``recv`` is awaited, so the server and all the clients share one thread and no
socket ever blocks it. The server answers ``--count`` requests per client it expects and
exits; a client that waits more than ``--timeout`` seconds for a reply gives up (exit 1).
A server prints ``listening tcp://127.0.0.1:PORT`` first.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import zreactor as zmq
import zreactor.asyncio


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", nargs="?", default="both", choices=["both", "server", "client"])
    parser.add_argument("--port", type=int, default=5555, help="tcp port (server: 0 picks one)")
    parser.add_argument("--clients", type=int, default=3, help="REQ clients (role both)")
    parser.add_argument("--count", type=int, default=10, help="requests per client")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up after this wait")
    return parser.parse_args(argv)


def bind_server(ctx: zmq.asyncio.Context, port: int) -> tuple[zmq.asyncio.Socket, int]:
    """A REP socket bound on loopback; returns it and the port."""
    sock = ctx.socket(zmq.REP)
    sock.linger = 1000
    sock.bind(f"tcp://127.0.0.1:{port}")
    endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
    print(f"listening {endpoint}", flush=True)
    return sock, int(endpoint.rsplit(":", 1)[1])


async def server(sock: zmq.asyncio.Socket, requests: int, timeout: float) -> None:
    """Answer ``requests`` requests, each ``[name, n]``, with ``[World, n]``."""
    try:
        for _ in range(requests):
            name, n = await asyncio.wait_for(sock.recv_multipart(), timeout)
            await sock.send_multipart([b"World", n])
    finally:
        sock.close()
    print(f"server: answered {requests} requests", flush=True)


async def client(ctx: zmq.asyncio.Context, port: int, name: str, count: int,
                 timeout: float) -> None:
    """Send ``count`` requests, one at a time, and check each reply."""
    sock = ctx.socket(zmq.REQ)
    sock.linger = 0
    sock.connect(f"tcp://127.0.0.1:{port}")
    try:
        for n in range(count):
            await sock.send_multipart([name.encode(), b"%d" % n])
            reply = await asyncio.wait_for(sock.recv_multipart(), timeout)
            assert reply == [b"World", b"%d" % n], reply
    finally:
        sock.close()
    print(f"{name}: {count} replies", flush=True)


async def amain(args: argparse.Namespace) -> int:
    ctx = zmq.asyncio.Context()
    try:
        if args.role == "server":
            sock, _ = bind_server(ctx, args.port)
            await server(sock, args.count, args.timeout)
        elif args.role == "client":
            await client(ctx, args.port, "client", args.count, args.timeout)
        else:
            sock, port = bind_server(ctx, args.port)
            serving = asyncio.ensure_future(server(sock, args.clients * args.count, args.timeout))
            await asyncio.gather(*(client(ctx, port, f"client-{i}", args.count, args.timeout)
                                   for i in range(args.clients)))
            await serving
            print(f"both: {args.clients} clients got {args.count} replies each", flush=True)
    except asyncio.TimeoutError:
        print(f"no answer within {args.timeout} s, giving up", file=sys.stderr)
        return 1
    finally:
        ctx.term()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the chosen role."""
    return asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
