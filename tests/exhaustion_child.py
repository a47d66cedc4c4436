"""Run by tests/test_exhaustion.py: every framework descriptor at a real RLIMIT_NOFILE.

The process lowers its own limit, takes every spare descriptor (``/dev/null``), then asks
the framework for each kind of descriptor it opens and records what came out (the exception
class, whether it is a ZMQError and an OSError, the errno), then gives one or all
descriptors back and checks the same call (or the pending work) recovers. One JSON object
on stdout, keyed by scenario.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import sys
import time
from typing import Any, Callable

import zreactor

NOFILE = 64
hog: list[int] = []


def fill() -> None:
    while True:
        try:
            hog.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            return


def free(count: int) -> None:
    for _ in range(min(count, len(hog))):
        os.close(hog.pop())


def outcome(fn: Callable[[], Any]) -> dict[str, Any]:
    try:
        fn()
    except Exception as exc:  # what came out is the datum
        return {"raised": type(exc).__name__, "zmq": isinstance(exc, zreactor.ZMQError),
                "oserror": isinstance(exc, OSError), "errno": getattr(exc, "errno", None),
                "message": str(exc)}
    return {"raised": None}


def _refill() -> int:
    """Take every spare descriptor again; how many there were (all freed ones: no leak)."""
    before = len(hog)
    fill()
    return len(hog) - before


def main() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    report: dict[str, Any] = {}
    ctx = zreactor.Context()
    rep = ctx.socket(zreactor.REP)
    rep.rcvtimeo = 3000
    rep.bind("tcp://127.0.0.1:*")
    endpoint = rep.last_endpoint.decode()
    ipc = f"ipc:///tmp/zreactor-exhaustion-{os.getpid()}.sock"
    rep.bind(ipc)
    threads_before = len(__import__("threading").enumerate())

    fill()
    report["socket"] = outcome(lambda: ctx.socket(zreactor.REQ))
    report["context"] = outcome(lambda: zreactor.Context())
    for spare in (1, 2, 3, 4):  # the pool's wake-up fd fits, then a thread's poller or mailbox fails
        free(spare)
        report[f"context_{spare}_free"] = outcome(lambda: zreactor.Context(io_threads=2).term())
        report[f"context_{spare}_free_leaked"] = spare - _refill()
    report["context_threads_leaked"] = len(__import__("threading").enumerate()) - threads_before
    report["listen"] = outcome(lambda: ctx.listen("tcp://127.0.0.1:0", zreactor.StreamEngine))

    def poll_at_the_limit() -> None:
        poller = zreactor.Poller()
        poller.register(rep, zreactor.POLLIN)
        poller.register(sys.stdin.fileno(), zreactor.POLLIN)  # a raw fd too
        poller.poll(0)

    report["poller"] = outcome(poll_at_the_limit)
    free(1)  # one: enough for a socket's wake-up fd, not for what it then opens
    holder: dict[str, Any] = {}
    report["socket_after_release"] = outcome(lambda: holder.setdefault("req", ctx.socket(zreactor.REQ)))
    fill()
    rep2 = None
    free(1)
    rep2 = ctx.socket(zreactor.REP)
    report["bind"] = outcome(lambda: rep2.bind("tcp://127.0.0.1:*"))
    free(1)  # the listening socket fits; its reserve does not
    before = len(hog)
    report["listen_reserve"] = outcome(lambda: ctx.listen("tcp://127.0.0.1:0", zreactor.StreamEngine))
    report["listen_reserve_leaked"] = 0
    try:  # the listening socket was closed again: the freed descriptor is free
        hog.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        report["listen_reserve_leaked"] = 1
    assert len(hog) >= before
    # The ipc client's socket is made *before* the first connect. From the connect on, the
    # I/O threads compete for every descriptor this process frees: the tcp connecter retries
    # on its backoff timer, and the REP listener, once a client waits in its backlog, takes
    # a descriptor as soon as one returns (it serves queued clients at once, by design). A
    # descriptor freed here for the main thread after the connect could go to either.
    fill()
    free(1)
    push = ctx.socket(zreactor.REQ)
    fill()
    req = holder["req"]
    report["connect_tcp"] = outcome(lambda: req.connect(endpoint))
    report["connect_ipc"] = outcome(lambda: push.connect(ipc))
    time.sleep(0.5)  # the connecters try, fail with EMFILE, and back off
    free(len(hog))
    req.send(b"tcp after release")
    report["tcp_recovered"] = rep.recv() == b"tcp after release"
    rep.send(b"ok")
    req.recv()
    push.send(b"ipc after release")
    report["ipc_recovered"] = rep.recv() == b"ipc after release"
    report["socket_recovered"] = outcome(lambda: ctx.socket(zreactor.PAIR).close())
    report["listen_recovered"] = outcome(
        lambda: ctx.listen("tcp://127.0.0.1:0", zreactor.StreamEngine).close_threadsafe())
    for sock in (req, push, rep2, rep):
        sock.close(linger=0)
    ctx.term()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    sys.exit(main())
