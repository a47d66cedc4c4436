#!/usr/bin/env python3
"""Weather update server (the zguide's wuserver): a PUB socket publishes random weather.

::

    python examples/weather_pub.py --port 5556 --duration 10
    python examples/weather_sub.py --port 5556 --zipcode 10001

Each update is one string, ``"ZIPCODE TEMPERATURE HUMIDITY"``; subscribers filter on the
zip code prefix. Zip codes are drawn from ``--zipcodes`` consecutive codes starting at 10000
(the zguide uses all 100000; fewer keeps a subscriber busy at Python speeds).

A PUB socket never blocks: updates to a subscriber that is not keeping up are dropped at its
high-water mark, and updates nobody subscribed to are not sent at all. The publisher stops
after ``--count`` updates or ``--duration`` seconds, whichever comes first, and exits (0).
"""

from __future__ import annotations

import argparse
import sys
import time
from random import randrange

import zreactor as zmq


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5556, help="tcp port to bind")
    parser.add_argument("--count", type=int, default=0, help="updates to publish (0: no limit)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to publish for")
    parser.add_argument("--zipcodes", type=int, default=100, help="how many zip codes exist")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Publish until ``--count`` or ``--duration`` runs out."""
    args = parse_args(argv)
    context = zmq.Context()
    socket = context.socket(zmq.PUB)
    socket.linger = 0  # whatever is unsent at the end is stale weather anyway
    socket.bind(f"tcp://127.0.0.1:{args.port}")
    print(f"listening {socket.last_endpoint.decode()}", flush=True)
    sent = 0
    deadline = time.monotonic() + args.duration
    try:
        while (not args.count or sent < args.count) and time.monotonic() < deadline:
            for _ in range(100):  # look at the clock once per hundred updates
                zipcode = 10000 + randrange(args.zipcodes)
                temperature = randrange(-80, 135)
                relhumidity = randrange(10, 60)
                socket.send_string(f"{zipcode} {temperature} {relhumidity}")
                sent += 1
                if sent == args.count:
                    break
            time.sleep(0)  # let other threads (and processes on one core) breathe
    finally:
        socket.close()
        context.term()
    print(f"published {sent} updates", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
