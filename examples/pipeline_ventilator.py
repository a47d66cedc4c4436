#!/usr/bin/env python3
"""Task ventilator (the zguide's taskvent): PUSHes a batch of tasks to the workers.

Start the sink and the workers first, then the ventilator::

    python examples/pipeline_sink.py --count 100
    python examples/pipeline_worker.py &   # as many as you like
    python examples/pipeline_worker.py &
    python examples/pipeline_ventilator.py --count 100 --workers 2

A PUSH socket deals tasks round-robin to the workers connected *when each task is sent*, so
the zguide's ventilator asks you to press Enter once the workers are up. This one watches
instead: it monitors its own socket and waits for ``--workers`` successful handshakes
(``EVENT_HANDSHAKE_SUCCEEDED``), then tells the sink a batch is starting and sends
``--count`` tasks. Each task is a workload in milliseconds, as text. Exits 0 when all tasks
are handed over, 1 if the workers do not show up within ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import zreactor as zmq
from zreactor.utils.monitor import recv_monitor_message


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5557, help="tcp port the workers pull from")
    parser.add_argument("--sink-port", type=int, default=5558, help="the sink's tcp port")
    parser.add_argument("--count", type=int, default=100, help="tasks to send")
    parser.add_argument("--workers", type=int, default=1, help="workers to wait for (0: none)")
    parser.add_argument("--max-ms", type=int, default=10, help="largest workload, milliseconds")
    parser.add_argument("--timeout", type=float, default=30.0, help="how long to wait for workers")
    return parser.parse_args(argv)


def wait_for_workers(sender: zmq.Socket, workers: int, timeout: float) -> bool:
    """Block until ``workers`` peers completed their handshake with ``sender``."""
    monitor = sender.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    deadline = time.monotonic() + timeout
    try:
        seen = 0
        while seen < workers:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0 or not monitor.poll(remaining_ms):
                return False
            event = recv_monitor_message(monitor)
            if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                seen += 1
                print(f"worker {seen} connected", flush=True)
        return True
    finally:
        sender.disable_monitor()
        monitor.close(linger=0)


def main(argv: list[str] | None = None) -> int:
    """Send one batch of tasks."""
    args = parse_args(argv)
    context = zmq.Context()
    sender = context.socket(zmq.PUSH)  # tasks go out here
    sink = context.socket(zmq.PUSH)  # the start-of-batch signal goes here
    sender.linger = sink.linger = 5000  # let queued tasks drain, but not for ever
    try:
        sender.bind(f"tcp://127.0.0.1:{args.port}")
        sink.connect(f"tcp://127.0.0.1:{args.sink_port}")
        print(f"listening {sender.last_endpoint.decode()}", flush=True)
        if args.workers and not wait_for_workers(sender, args.workers, args.timeout):
            print(f"{args.workers} workers did not connect within {args.timeout} s",
                  file=sys.stderr)
            return 1
        print("Sending tasks to workers...", flush=True)
        sink.send(b"0")  # the first message is "0" and signals start of batch
        total_msec = 0
        for _ in range(args.count):
            workload = random.randint(1, args.max_ms)
            total_msec += workload
            sender.send_string(str(workload))
        print(f"Total expected cost: {total_msec} msec", flush=True)
    finally:
        sender.close()
        sink.close()
        context.term()  # returns once every task has been handed to a worker (or linger ran out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
