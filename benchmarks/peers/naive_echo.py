"""A deliberately naive echo server: the classic level-triggered loop that spins on EMFILE.

This is the baseline the EMFILE benchmark compares zreactor against, written the way most
hand-rolled ``selectors`` servers are written, so do not "fix" it.

Theory of operation: one thread, one level-triggered selector (epoll on Linux). The listener
is registered for reading for the whole life of the process. When it is readable we call
``accept()`` until it would block. When ``accept()`` fails for any other reason we log and go
back to the selector, hoping the next round goes better. That is the bug under study: when the
process is out of descriptors (EMFILE) the pending connection stays in the kernel's backlog,
so the listener stays readable, ``select()`` returns at once, ``accept()`` fails again, and the
loop burns a whole core until some other connection happens to close. Meanwhile the clients in
the backlog, whose TCP handshake the kernel already completed, wait with no answer at all.

The one liberty taken: the error log is rate-limited to one summary line per second, so the
benchmark measures the spinning and not the cost of writing megabytes to stderr.

Contract shared by every server the benchmark runs: ``--host``/``--port`` (port 0 picks a free
one), the first line on stdout is ``listening tcp://HOST:PORT`` (flushed), then every byte
received on a connection is sent back on it, until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import errno
import selectors
import signal
import socket
import sys
import time


class _Connection:
    """One accepted socket and the bytes it still owes its peer."""

    __slots__ = ("sock", "outbox")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.outbox = bytearray()


class _ErrorLog:
    """Counts accept() failures and prints one summary line per second at most."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._since = time.monotonic()

    def record(self, exc: OSError) -> None:
        name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        self._counts[name] = self._counts.get(name, 0) + 1
        now = time.monotonic()
        if now - self._since >= 1.0:
            summary = ", ".join(f"{n} x{c}" for n, c in sorted(self._counts.items()))
            print(f"naive_echo: accept() failed in the last {now - self._since:.1f} s: "
                  f"{summary}; retrying on the next poll", file=sys.stderr, flush=True)
            self._counts.clear()
            self._since = now


def serve(host: str, port: int) -> None:
    """Serve forever (until KeyboardInterrupt) on ``host:port``."""
    listener = socket.create_server((host, port), backlog=128)
    listener.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, None)
    bound_host, bound_port = listener.getsockname()[:2]
    print(f"listening tcp://{bound_host}:{bound_port}", flush=True)
    errors = _ErrorLog()

    def close(conn: _Connection) -> None:
        selector.unregister(conn.sock)
        conn.sock.close()

    while True:
        for key, mask in selector.select():
            if key.data is None:
                while True:
                    try:
                        sock, _ = listener.accept()
                    except BlockingIOError:
                        break
                    except OSError as exc:
                        # The classic mistake: log and carry on. The connection is still in
                        # the backlog, so the listener is still readable: we will be back here
                        # on the very next select().
                        errors.record(exc)
                        break
                    sock.setblocking(False)
                    selector.register(sock, selectors.EVENT_READ, _Connection(sock))
                continue
            conn: _Connection = key.data
            try:
                if mask & selectors.EVENT_READ:
                    data = conn.sock.recv(65536)
                    if not data:
                        close(conn)
                        continue
                    conn.outbox += data
                if conn.outbox:
                    sent = conn.sock.send(conn.outbox)
                    del conn.outbox[:sent]
            except BlockingIOError:
                pass
            except OSError:
                close(conn)
                continue
            # Back-pressure: while we owe bytes, wait for writability instead of reading more.
            want = selectors.EVENT_WRITE if conn.outbox else selectors.EVENT_READ
            if key.events != want:
                selector.modify(conn.sock, want, conn)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    # SIGTERM ends the process the same way Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        serve(args.host, args.port)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
