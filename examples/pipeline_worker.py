#!/usr/bin/env python3
"""Task worker (the zguide's taskwork2): PULLs tasks, "works", PUSHes results, stops on KILL.

::

    python examples/pipeline_worker.py --port 5557 --sink-port 5558 --control-port 5559

Each task is a workload in milliseconds; the worker sleeps that long and sends an empty
result to the sink. It reads two sockets at once with a :class:`zmq.Poller`: the task
stream, and a SUB socket on which the sink publishes ``KILL`` when the batch is done. It
exits 0 on ``KILL``, and 1 if nothing at all happens for ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import sys
import time

import zreactor as zmq


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5557, help="the ventilator's tcp port")
    parser.add_argument("--sink-port", type=int, default=5558, help="the sink's tcp port")
    parser.add_argument("--control-port", type=int, default=5559, help="the sink's KILL port")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up after this idle time")
    parser.add_argument("--quiet", action="store_true", help="do not print a dot per task")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Process tasks until the sink says KILL."""
    args = parse_args(argv)
    context = zmq.Context()
    receiver = context.socket(zmq.PULL)
    sender = context.socket(zmq.PUSH)
    controller = context.socket(zmq.SUB)
    for sock in (receiver, sender, controller):
        sock.linger = 1000
    receiver.connect(f"tcp://127.0.0.1:{args.port}")
    sender.connect(f"tcp://127.0.0.1:{args.sink_port}")
    controller.connect(f"tcp://127.0.0.1:{args.control_port}")
    controller.setsockopt(zmq.SUBSCRIBE, b"")
    print("worker ready", flush=True)

    poller = zmq.Poller()
    poller.register(receiver, zmq.POLLIN)
    poller.register(controller, zmq.POLLIN)
    done = 0
    status = 1
    try:
        while True:
            socks = dict(poller.poll(int(args.timeout * 1000)))
            if not socks:
                print(f"\nnothing for {args.timeout} s, giving up", file=sys.stderr)
                break
            if socks.get(receiver) == zmq.POLLIN:
                workload = int(receiver.recv_string())
                time.sleep(workload / 1000.0)  # do the work
                sender.send(b"")  # send the result to the sink
                done += 1
                if not args.quiet:
                    print(".", end="", flush=True)
            if socks.get(controller) == zmq.POLLIN:  # any message on the controller is KILL
                controller.recv()
                status = 0
                break
    finally:
        for sock in (receiver, sender, controller):
            sock.close()
        context.term()
    print(f"\nworker done: {done} tasks", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
