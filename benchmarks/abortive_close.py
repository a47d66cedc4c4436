"""Abortive close (``abortive_close=True``, ``SO_LINGER {1, 0}``) under connection churn.

Run:  python benchmarks/abortive_close.py [--connections 2000] [--repeat 2]

Theory of operation
-------------------
A server that closes first keeps each connection in TIME_WAIT for 60 s on Linux (its port
pair cannot be reused meanwhile); a peer that never closes its side leaves the server's end
in CLOSE_WAIT. With ``SO_LINGER {1, 0}`` the close sends a RST instead: no TIME_WAIT, no
FIN handshake, and the peer's next read fails with ``ECONNRESET``; whatever was still unsent
is lost. This runs the two side by side in one process, alternating: a zreactor listener
whose engine answers ``bye\\n`` and closes, and a client that connects, sends one line,
reads until EOF or reset, and closes. It reports connections per second, how the clients
saw the end (``eof``: the answer then a FIN; ``reset``: ECONNRESET, with or without the
answer) and how many server-side sockets sit in TIME_WAIT right after (Linux /proc/net/tcp).
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import zreactor  # noqa: E402


class Bye(zreactor.StreamEngine):
    """Answers the first line with ``bye`` and closes (flushing it first)."""

    def data_received(self, data: bytes) -> None:
        self.write(b"bye\n")
        self.close()


def time_wait(port: int) -> int:
    """Sockets in TIME_WAIT with local port ``port``."""
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return -1
    return sum(1 for line in lines
               if int(line.split()[1].split(":")[1], 16) == port and line.split()[3] == "06")


def run(abortive: bool, connections: int) -> dict[str, float]:
    with zreactor.Context(io_threads=1) as ctx:
        listener = ctx.listen("tcp://127.0.0.1:0", Bye, abortive_close=abortive)
        port = int(listener.endpoint.rsplit(":", 1)[1])
        seen = {"eof": 0, "reset": 0, "answered": 0}
        start = time.perf_counter()
        for _ in range(connections):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                client.sendall(b"hi\n")
                data = b""
                try:
                    while chunk := client.recv(100):
                        data += chunk
                    seen["eof"] += 1
                except ConnectionResetError:
                    seen["reset"] += 1
                seen["answered"] += data == b"bye\n"
        elapsed = time.perf_counter() - start
        time.sleep(0.05)
        return {"rate": connections / elapsed, "time_wait": time_wait(port), **seen}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"abortive_close: {args.connections} connections per run, server closes first")
    print(f"{'mode':<12}{'conn/s':>9}{'eof':>7}{'reset':>7}{'answered':>10}{'time_wait':>11}")
    rates: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.repeat):
        for abortive in (False, True):
            row = run(abortive, args.connections)
            rates[abortive].append(row["rate"])
            print(f"{'abortive' if abortive else 'graceful':<12}{row['rate']:>9.0f}"
                  f"{row['eof']:>7}{row['reset']:>7}{row['answered']:>10}{row['time_wait']:>11}")
    ratio = (sum(rates[True]) / len(rates[True])) / (sum(rates[False]) / len(rates[False]))
    print(f"rate ratio abortive/graceful: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
