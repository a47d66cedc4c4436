#!/usr/bin/env python3
"""Pub/sub fan-out on asyncio: one publisher, many subscribers, every one gets every update.

    python examples/asyncio_pubsub.py --subscribers 5 --count 100

This is pyzmq code (``zmq.asyncio``): only the import lines say ``zreactor``. The
publisher is an XPUB socket with ``XPUB_VERBOSE``, so it *sees* each subscription arrive
and starts publishing only when all ``--subscribers`` are in: the cure for the "slow
joiner" (a SUB that connects late misses what was published before). Each subscriber
coroutine subscribes to the topic ``weather``, counts the updates until ``END`` and checks
that none is missing or out of order. Exit 0 when all subscribers got all updates; 1 if
anything waits more than ``--timeout`` seconds.
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
    parser.add_argument("--subscribers", type=int, default=5)
    parser.add_argument("--count", type=int, default=100, help="updates to publish")
    parser.add_argument("--timeout", type=float, default=30.0)
    return parser.parse_args(argv)


async def publisher(pub: zmq.asyncio.Socket, subscribers: int, count: int,
                    timeout: float) -> None:
    """Wait for every subscription, then publish ``count`` updates and an END."""
    joined = 0
    while joined < subscribers:
        event = await asyncio.wait_for(pub.recv(), timeout)
        if event[:1] == b"\x01":  # a subscription (\x00 would be an unsubscription)
            joined += 1
    print(f"publisher: {joined} subscribers in", flush=True)
    for n in range(count):
        await pub.send_multipart([b"weather", b"%d" % n])
    await pub.send_multipart([b"weather", b"END"])


async def subscriber(ctx: zmq.asyncio.Context, endpoint: str, name: str,
                     timeout: float) -> int:
    """Receive updates until END; return how many, checking their order."""
    sub = ctx.socket(zmq.SUB)
    sub.linger = 0
    sub.connect(endpoint)
    sub.subscribe(b"weather")
    received = 0
    try:
        while True:
            topic, body = await asyncio.wait_for(sub.recv_multipart(), timeout)
            if body == b"END":
                break
            assert topic == b"weather" and body == b"%d" % received, (topic, body)
            received += 1
    finally:
        sub.close()
    print(f"{name}: {received} updates", flush=True)
    return received


async def amain(args: argparse.Namespace) -> int:
    ctx = zmq.asyncio.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.linger = 1000
    pub.setsockopt(zmq.XPUB_VERBOSE, 1)  # report every subscription, not only new topics
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    endpoint = f"tcp://127.0.0.1:{port}"
    try:
        results = await asyncio.gather(
            publisher(pub, args.subscribers, args.count, args.timeout),
            *(subscriber(ctx, endpoint, f"subscriber-{i}", args.timeout)
              for i in range(args.subscribers)))
    except asyncio.TimeoutError:
        print(f"nothing within {args.timeout} s, giving up", file=sys.stderr)
        return 1
    finally:
        pub.close()
        ctx.term()
    counts = results[1:]
    if all(c == args.count for c in counts):
        print(f"fan-out: {len(counts)}/{args.subscribers} subscribers got all {args.count} updates")
        return 0
    print(f"fan-out: counts {counts}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Run the publisher and the subscribers on one loop."""
    return asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
