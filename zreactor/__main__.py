"""``python -m zreactor``: a short, self-contained demo of the reactor (and ``bench``).

``python -m zreactor`` starts a context with two I/O threads, an echo listener written as a
:class:`~zreactor.StreamEngine` subclass, and a handful of clients, and narrates what happens:
every event the engines emit, which I/O thread serves which connection, and the clean
acknowledged shutdown at the end. Everything runs on loopback and finishes in a few seconds.

``python -m zreactor bench NAME [ARGS...]`` runs ``benchmarks/NAME.py`` from a source checkout
(``messaging``, ``connections``, ``emfile_storm``, ...; ``--help`` lists them), passing
``ARGS`` through.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from . import Context, EventKind, LineCodec, StreamEngine
from .reactor.events import ReactorEvent

_T0 = time.monotonic()
_OUT = threading.Lock()


def _say(text: str) -> None:
    """One whole line per call, from any thread: the I/O threads narrate too, and ``print``
    writes the text and its newline separately, so two threads could interleave them."""
    line = f"[{time.monotonic() - _T0:6.3f}s] {text}\n"
    with _OUT:
        sys.stdout.write(line)
        sys.stdout.flush()


class DemoEcho(StreamEngine):
    """Echo each line, prefixed with the name of the I/O thread that served it."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock, codec=LineCodec())

    def attached(self) -> None:
        _say(f"  engine for {self.endpoint} attached on {threading.current_thread().name}")

    def message_received(self, message: bytes) -> None:
        self.send(threading.current_thread().name.encode() + b" echoes " + message)

    def closed(self, reason: BaseException | None) -> None:
        why = "peer hung up" if reason is None else repr(reason)
        _say(f"  engine for {self.endpoint} closed ({why})")


def _print_event(event: ReactorEvent) -> None:
    detail = f" {event.detail}" if event.detail else ""
    _say(f"event {event.kind.name:<16} {event.endpoint} value={event.value}{detail}")


def demo_echo(clients: int, io_threads: int) -> None:
    """Act 1: an echo server on several I/O threads, and plain blocking clients."""
    _say(f"starting a context with {io_threads} I/O threads")
    with Context(io_threads=io_threads, term_linger=1.0) as ctx:
        _say(f"poller backend: {ctx.poller_name}")
        ctx.events.subscribe(
            _print_event, EventKind.LISTENING | EventKind.ACCEPTED | EventKind.CLOSED
        )
        listener = ctx.listen("tcp://127.0.0.1:0", DemoEcho)
        _say(f"listening on {listener.endpoint}")
        host, port = listener.endpoint[len("tcp://"):].rsplit(":", 1)
        conns: list[socket.socket] = []
        for i in range(clients):
            conn = socket.create_connection((host, int(port)), timeout=5)
            conns.append(conn)
            conn.sendall(b"hello from client %d\n" % i)
            reply = _read_line(conn)
            _say(f"client {i} got: {reply.decode()!r}")
        loads = ", ".join(f"{t.name}={t.load}" for t in ctx.io_threads)
        _say(f"fds per I/O thread (listener included): {loads}")
        for conn in conns:
            conn.close()
        time.sleep(0.2)
        _say("terminating the context (TERM down the ownership tree, acks back up)")
    names = [t.name for t in threading.enumerate() if t.name.startswith("zreactor")]
    _say(f"terminated; zreactor threads left: {names or 'none'}")


def demo_crunch() -> None:
    """Act 2: the listener when descriptors run out (here: a tiny fd budget)."""
    _say("act 2: a listener with a budget of 4 framework descriptors "
         "(the listener + 3 connections) and a 0.5 s accept grace")
    mask = (EventKind.ACCEPTED | EventKind.SUSPENDED | EventKind.RESUMED | EventKind.SHED
            | EventKind.REOPENED | EventKind.FAILED)
    with Context(io_threads=1, term_linger=0.5) as ctx:
        ctx.events.subscribe(_print_event, mask)
        listener = ctx.listen("tcp://127.0.0.1:0", DemoEcho, max_connections=4, accept_grace=0.5)
        host, port = listener.endpoint[len("tcp://"):].rsplit(":", 1)
        clients = []
        for i in range(5):
            conn = socket.create_connection((host, int(port)), timeout=5)
            conn.sendall(b"hello from client %d\n" % i)
            clients.append(conn)
        time.sleep(0.2)
        for i, conn in enumerate(clients):
            conn.settimeout(0.05)
            try:
                _say(f"client {i} got: {_read_line(conn).decode()!r}")
            except TimeoutError:
                _say(f"client {i} is waiting in the backlog (the kernel accepted its handshake)")
        _say(f"listener state: {listener.listener_state.name}; CPU stays idle: nothing is polled")
        _say("client 0 hangs up: its descriptor is released, the listener wakes at once")
        released = time.monotonic()
        clients[0].close()
        clients[3].settimeout(2)
        reply = _read_line(clients[3]).decode()
        _say(f"client 3 got: {reply!r} {1000 * (time.monotonic() - released):.1f} ms "
             "after the release")
        clients[4].settimeout(3)
        try:
            data = clients[4].recv(100)
            _say(f"client 4 got: {data!r}")
        except ConnectionResetError:
            _say("client 4 was told: connection reset (shed after the grace period, not left "
                 "hanging)")
        stats = listener.stats()
        _say(f"listener stats: accepted={stats.accepted} shed={stats.shed} "
             f"episodes={stats.episodes} suspended for {stats.suspended_seconds:.2f} s")
        for conn in clients[1:]:
            conn.close()


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.rstrip(b"\n")


def _bench_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "benchmarks"


def benchmarks() -> list[str]:
    """The benchmark scripts of the source checkout (not its ``_``-prefixed helper modules)."""
    bench_dir = _bench_dir()
    if not bench_dir.is_dir():
        return []
    return sorted(p.stem for p in bench_dir.glob("*.py") if not p.stem.startswith("_"))


def bench(argv: list[str]) -> int:
    """Run ``benchmarks/<name>.py`` from the source checkout this package was imported from."""
    import runpy

    bench_dir = _bench_dir()
    available = benchmarks()
    if not argv or argv[0] not in available:
        where = f"in {bench_dir}" if available else "(benchmarks/ ships with the source checkout)"
        print(f"usage: python -m zreactor bench NAME [ARGS...]; NAME is one of {available} {where}")
        return 2
    script = bench_dir / f"{argv[0]}.py"
    sys.argv = [str(script), *argv[1:]]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m zreactor``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "bench":
        return bench(argv[1:])
    names = ", ".join(benchmarks()) or "none: benchmarks/ ships with the source checkout"
    parser = argparse.ArgumentParser(
        prog="python -m zreactor", description=__doc__.splitlines()[0],
        usage="python -m zreactor [--clients N] [--io-threads N]\n"
              "       python -m zreactor bench NAME [ARGS...]",
        epilog=f"commands:\n  bench NAME [ARGS...]  run benchmarks/NAME.py ({names}); "
               "'bench NAME --help' for its options",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=6, help="number of echo clients")
    parser.add_argument("--io-threads", type=int, default=2, help="number of I/O threads")
    args: Any = parser.parse_args(argv)
    demo_echo(args.clients, args.io_threads)
    demo_crunch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
