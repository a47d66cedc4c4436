#!/usr/bin/env python3
"""Request-reply broker (the zguide's rrbroker and msgqueue): ROUTER in front, DEALER behind.

REQ clients connect to the front, REP workers to the back, and neither knows how many of the
other there are: the broker fair-queues requests from all clients, deals them out to the
workers, and routes each reply back to the client that asked. One file, four roles::

    python examples/broker.py broker  --frontend 5559 --backend 5560 --duration 60
    python examples/broker.py worker  --backend 5560           # start several
    python examples/broker.py client  --frontend 5559 --count 10
    python examples/broker.py demo    --clients 4 --workers 2 --count 25

``broker`` forwards with :func:`zmq.proxy` (libzmq's ``zmq_proxy``), or with the zguide's
explicit :class:`zmq.Poller` loop given ``--loop``; it stops after ``--duration`` seconds
(or on Ctrl-C). ``worker`` answers requests until none arrives for ``--timeout`` seconds.
``client`` sends ``--count`` requests and exits 0 once every reply came back, 1 otherwise.
``demo`` runs a broker, ``--workers`` workers and ``--clients`` clients as threads of one
process, over tcp, and shuts down by terminating the context: every blocked call then
raises :class:`zmq.ContextTerminated`, which is how ZeroMQ threads learn to stop.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

import zreactor as zmq


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["broker", "worker", "client", "demo"])
    parser.add_argument("--frontend", type=int, default=5559, help="tcp port clients connect to")
    parser.add_argument("--backend", type=int, default=5560, help="tcp port workers connect to")
    parser.add_argument("--count", type=int, default=10, help="requests per client")
    parser.add_argument("--clients", type=int, default=4, help="demo: client threads")
    parser.add_argument("--workers", type=int, default=2, help="demo: worker threads")
    parser.add_argument("--duration", type=float, default=60.0, help="broker: seconds to run")
    parser.add_argument("--timeout", type=float, default=10.0, help="give up after this idle time")
    parser.add_argument("--loop", action="store_true", help="broker: Poller loop, not zmq.proxy")
    return parser.parse_args(argv)


# -- the broker ---------------------------------------------------------------------------------


def poller_loop(frontend: zmq.Socket, backend: zmq.Socket, deadline: float | None) -> None:
    """The zguide's rrbroker: shuttle whole multipart messages (envelopes included)."""
    poller = zmq.Poller()
    poller.register(frontend, zmq.POLLIN)
    poller.register(backend, zmq.POLLIN)
    while deadline is None or time.monotonic() < deadline:
        timeout = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
        socks = dict(poller.poll(timeout))
        if socks.get(frontend) == zmq.POLLIN:
            backend.send_multipart(frontend.recv_multipart())
        if socks.get(backend) == zmq.POLLIN:
            frontend.send_multipart(backend.recv_multipart())


def run_broker(context: zmq.Context, args: argparse.Namespace, deadline: float | None) -> None:
    """Bind both sides and forward until the context is terminated (or ``deadline``)."""
    frontend = context.socket(zmq.ROUTER)
    backend = context.socket(zmq.DEALER)
    frontend.linger = backend.linger = 0
    try:
        frontend.bind(f"tcp://127.0.0.1:{args.frontend}")
        backend.bind(f"tcp://127.0.0.1:{args.backend}")
        print(f"broker: clients -> {frontend.last_endpoint.decode()}, "
              f"workers -> {backend.last_endpoint.decode()}", flush=True)
        if args.loop:
            poller_loop(frontend, backend, deadline)
        else:
            zmq.proxy(frontend, backend)  # returns only by raising ContextTerminated
    except zmq.ContextTerminated:
        pass
    finally:
        frontend.close()
        backend.close()


def broker_main(args: argparse.Namespace) -> int:
    """The ``broker`` role: run for ``--duration`` seconds, then terminate the context."""
    context = zmq.Context()
    # SIGTERM stops the broker like Ctrl-C does: the exception unwinds through proxy()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # zmq.proxy() only returns by raising: terminating the context from another thread is
    # how it is stopped. (The Poller loop just watches the clock.)
    stopper = threading.Timer(args.duration, context.term)
    if not args.loop:
        stopper.start()
    try:
        run_broker(context, args, time.monotonic() + args.duration if args.loop else None)
    except KeyboardInterrupt:
        pass
    finally:
        stopper.cancel()
        if stopper.ident is not None:
            stopper.join()  # if it fired, term() is running there: never call it twice at once
        if not context.closed:
            context.term()
    return 0


# -- workers and clients ----------------------------------------------------------------------


def worker(context: zmq.Context, args: argparse.Namespace, name: str) -> int:
    """A REP worker: answer until the context ends or nothing comes for ``--timeout`` s."""
    socket = context.socket(zmq.REP)
    socket.rcvtimeo = int(args.timeout * 1000)
    socket.linger = 0
    socket.connect(f"tcp://127.0.0.1:{args.backend}")
    served = 0
    try:
        while True:
            request = socket.recv_string()
            socket.send_string(f"{request} -> {name}")
            served += 1
    except zmq.Again:
        print(f"{name}: idle for {args.timeout} s after {served} requests, done", flush=True)
    except zmq.ContextTerminated:
        print(f"{name}: context terminated after {served} requests", flush=True)
    finally:
        socket.close()
    return 0


def client(context: zmq.Context, args: argparse.Namespace, name: str) -> int:
    """A REQ client: ``--count`` requests, each answered before the next is sent."""
    socket = context.socket(zmq.REQ)
    socket.rcvtimeo = int(args.timeout * 1000)
    socket.linger = 0
    socket.connect(f"tcp://127.0.0.1:{args.frontend}")
    try:
        for n in range(args.count):
            request = f"{name} request {n}"
            socket.send_string(request)
            reply = socket.recv_string()
            if not reply.startswith(request + " -> "):
                print(f"{name}: wrong reply {reply!r} to {request!r}", file=sys.stderr)
                return 1
        print(f"{name}: {args.count} replies received", flush=True)
        return 0
    except zmq.Again:
        print(f"{name}: no reply within {args.timeout} s", file=sys.stderr)
        return 1
    finally:
        socket.close()


def single_main(role: str, args: argparse.Namespace) -> int:
    """The ``worker`` and ``client`` roles, in their own process."""
    context = zmq.Context()
    try:
        return (worker if role == "worker" else client)(context, args, role)
    finally:
        context.term()


def demo_main(args: argparse.Namespace) -> int:
    """Broker, workers and clients as threads sharing one context."""
    context = zmq.Context()
    results: dict[str, int] = {}
    broker = threading.Thread(target=run_broker, args=(context, args, None), name="broker")
    broker.start()
    time.sleep(0.1)  # let the broker bind before anyone connects (tcp connects retry anyway)
    workers = [threading.Thread(target=worker, args=(context, args, f"worker-{i}"))
               for i in range(args.workers)]
    clients = [threading.Thread(target=lambda n=f"client-{i}": results.__setitem__(
        n, client(context, args, n))) for i in range(args.clients)]
    for t in workers + clients:
        t.start()
    for t in clients:
        t.join()
    context.term()  # workers and the broker are blocked: this wakes them with ETERM
    for t in workers + [broker]:
        t.join()
    failed = sorted(n for n, rc in results.items() if rc)
    print(f"demo: {len(results) - len(failed)}/{args.clients} clients got every reply", flush=True)
    return 1 if failed or len(results) != args.clients else 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch on the role."""
    args = parse_args(argv)
    if args.role == "broker":
        return broker_main(args)
    if args.role == "demo":
        return demo_main(args)
    return single_main(args.role, args)


if __name__ == "__main__":
    sys.exit(main())
