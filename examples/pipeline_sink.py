#!/usr/bin/env python3
"""Task sink (the zguide's tasksink2): collects a batch of results, then tells workers to stop.

::

    python examples/pipeline_sink.py --port 5558 --control-port 5559 --count 100

PULLs from every worker (fair-queued), waits for the ventilator's start-of-batch message,
collects ``--count`` results, prints the elapsed time, then publishes ``KILL`` on a PUB
socket so the workers exit too. Exits 0, or 1 if the batch stalls for ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import sys
import time

import zreactor as zmq


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5558, help="tcp port results arrive on")
    parser.add_argument("--control-port", type=int, default=5559, help="tcp port to publish KILL on")
    parser.add_argument("--count", type=int, default=100, help="results in one batch")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up after this idle time")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Collect one batch."""
    args = parse_args(argv)
    context = zmq.Context()
    receiver = context.socket(zmq.PULL)
    controller = context.socket(zmq.PUB)
    receiver.rcvtimeo = int(args.timeout * 1000)
    controller.linger = 1000  # give KILL time to reach the workers
    try:
        receiver.bind(f"tcp://127.0.0.1:{args.port}")
        controller.bind(f"tcp://127.0.0.1:{args.control_port}")
        print(f"listening {receiver.last_endpoint.decode()} "
              f"{controller.last_endpoint.decode()}", flush=True)
        receiver.recv()  # wait for start of batch
        started = time.monotonic()
        for task_nbr in range(args.count):
            receiver.recv()
            print(":" if task_nbr % 10 == 0 else ".", end="", flush=True)
        elapsed_ms = (time.monotonic() - started) * 1000
        print(f"\nTotal elapsed time: {elapsed_ms:.0f} msec", flush=True)
        controller.send(b"KILL")  # tell the workers the batch is done
    except zmq.Again:
        print(f"\nbatch stalled for {args.timeout} s, giving up", file=sys.stderr)
        return 1
    finally:
        receiver.close()
        controller.close()
        context.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
