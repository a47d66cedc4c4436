"""A zreactor line-echo server under a low RLIMIT_NOFILE, for tests/test_listener_rlimit.py.

Run::

    python tests/rlimit_server.py --nofile 32 [--max-connections N] [--accept-grace S]
                                  [--shed-policy reset|reopen|none] [--recovery-tries N]
                                  [--reserve-fails-after K]

It lowers its own RLIMIT_NOFILE (soft and hard) before importing zreactor, binds
127.0.0.1 port 0, and speaks JSON lines on stdout:

* first ``{"listening": "tcp://127.0.0.1:PORT", "fds": N}``;
* one ``{"event": KIND, "value": V, "detail": {...}, "t": MONOTONIC}`` per listener event;
* ``{"stats": {...}, "cpu": S, "t": MONOTONIC, "fds": N}`` for each ``stats`` line on stdin
  (``cpu`` is user + system time of the whole process, from ``getrusage``). ``fds``, the
  number of open descriptors, is only filled in for ``stats fds``, because listing
  ``/proc/self/fd`` takes a descriptor itself: code outside the framework opening files
  is exactly what races the listener's reserve descriptor (``null`` if the listing fails).

``quit`` on stdin, or stdin closing, stops it. ``--reserve-fails-after K`` lets the first K
reserve descriptors open and makes every later attempt fail with EMFILE: a reserve that
cannot be taken back, which is how a test reaches FAILED on purpose.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nofile", type=int, required=True)
    parser.add_argument("--max-connections", type=int, default=None)
    parser.add_argument("--accept-grace", type=float, default=None)
    parser.add_argument("--shed-policy", default=None)
    parser.add_argument("--recovery-tries", type=int, default=None)
    parser.add_argument("--reserve-fails-after", type=int, default=None)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))

    import zreactor
    from zreactor.reactor.syscalls import Syscalls

    out = threading.Lock()

    def say(obj: dict) -> None:
        line = json.dumps(obj, default=str)
        with out:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def open_fds() -> int | None:
        try:
            return len(os.listdir("/proc/self/fd")) - 1  # minus the one listdir used
        except OSError:
            return None

    class ReserveFails(Syscalls):
        def __init__(self, after: int) -> None:
            self.left = after

        def open_reserve(self) -> int:
            if self.left <= 0:
                raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
            self.left -= 1
            return super().open_reserve()

    class Echo(zreactor.StreamEngine):
        def __init__(self, sock) -> None:  # type: ignore[no-untyped-def]
            super().__init__(sock, codec=zreactor.LineCodec())

        def message_received(self, message: bytes) -> None:
            self.send(message)

    options = {
        name: value
        for name, value in (
            ("max_connections", args.max_connections),
            ("accept_grace", args.accept_grace),
            ("shed_policy", args.shed_policy),
            ("recovery_tries", args.recovery_tries),
        )
        if value is not None
    }
    if args.reserve_fails_after is not None:
        options["syscalls"] = ReserveFails(args.reserve_fails_after)

    with zreactor.Context(io_threads=1, term_linger=0) as ctx:
        listener = ctx.listen("tcp://127.0.0.1:0", Echo, **options)
        listener.events.subscribe(
            lambda e: say({"event": e.kind.name, "value": e.value, "detail": e.detail,
                           "t": e.time}),
            zreactor.EventKind(~zreactor.EventKind.ACCEPTED & zreactor.EventKind.all()),
        )
        say({"listening": listener.endpoint, "fds": open_fds(),
             "max_connections": listener.max_connections})
        for line in sys.stdin:
            command = line.strip()
            if command == "quit":
                break
            if command in ("stats", "stats fds"):
                usage = resource.getrusage(resource.RUSAGE_SELF)
                say({"stats": _as_dict(listener.stats()),
                     "cpu": usage.ru_utime + usage.ru_stime, "t": time.monotonic(),
                     # listing /proc/self/fd takes a descriptor: only when asked
                     "fds": open_fds() if command == "stats fds" else None})
    return 0


def _as_dict(stats: object) -> dict:
    fields = dataclasses.asdict(stats)  # type: ignore[call-overload]
    fields["state"] = fields["state"].value
    return fields


if __name__ == "__main__":
    sys.exit(main())
