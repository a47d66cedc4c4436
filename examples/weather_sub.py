#!/usr/bin/env python3
"""Weather update client (the zguide's wuclient): a SUB socket collects one zip code's updates.

::

    python examples/weather_sub.py --port 5556 --zipcode 10001 --count 20

Subscribes to the prefix ``"ZIPCODE "`` (the space keeps 10001 from matching 100010),
collects ``--count`` updates, prints the average temperature and exits (0). If no update
arrives for ``--timeout`` seconds it gives up (1).

Subscriptions travel to the publisher over the connection, so the first updates after
connecting are missed until the subscription arrives: the "slow joiner" of the zguide.
"""

from __future__ import annotations

import argparse
import sys

import zreactor as zmq


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5556, help="publisher's tcp port")
    parser.add_argument("--zipcode", default="10001", help="zip code to follow")
    parser.add_argument("--count", type=int, default=20, help="updates to collect")
    parser.add_argument("--timeout", type=float, default=10.0, help="give up after this idle time")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Collect ``--count`` updates and print the average temperature."""
    args = parse_args(argv)
    context = zmq.Context()
    socket = context.socket(zmq.SUB)
    socket.rcvtimeo = int(args.timeout * 1000)
    print("Collecting updates from weather server...", flush=True)
    socket.connect(f"tcp://127.0.0.1:{args.port}")
    socket.setsockopt_string(zmq.SUBSCRIBE, f"{args.zipcode} ")
    total = 0
    try:
        for update_nbr in range(args.count):
            zipcode, temperature, relhumidity = socket.recv_string().split()
            assert zipcode == args.zipcode, zipcode
            total += int(temperature)
    except zmq.Again:
        print(f"no update for {args.timeout} s, giving up", file=sys.stderr)
        return 1
    finally:
        socket.close(linger=0)
        context.term()
    print(f"Average temperature for zipcode '{args.zipcode}' was {total / args.count:.1f}F",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
