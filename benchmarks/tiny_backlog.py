"""What a tiny ``listen()`` backlog really does on Linux: it does not refuse, it drops.

Run:  python benchmarks/tiny_backlog.py [--clients 8] [--wait 1.5] [--backlogs 0,1,4]

Theory of operation
-------------------
A hope often heard is that ``listen(sock, 0)`` (or 1) makes a busy server *refuse* clients
it cannot take, so they fail fast with ``ECONNREFUSED``. On Linux it does not. The kernel
keeps completed connections in the accept queue until ``accept()`` takes them; the queue
is full when it holds more than ``backlog`` (so ``backlog + 1`` fit, and backlog 0 still
holds one). A handshake that would overflow it is not refused: the final ACK is dropped
(or, with SYN cookies, the SYN is), and the client retransmits its SYN on its own timer
(1 s, 2 s, 4 s, ... ``tcp_syn_retries`` times, about 127 s in all by default), silently.
Only ``net.ipv4.tcp_abort_on_overflow = 1`` makes the kernel answer an overflow with a RST.

For each backlog, this opens a listening socket that never accepts, starts ``--clients``
non-blocking connects at once, and after ``--wait`` seconds counts each one: *connected*
(its handshake completed: it sits in the accept queue, or believes it does), *refused*
(ECONNREFUSED or a reset), *pending* (still retransmitting SYNs: nobody said no). The
listener's own view is Linux's ``TCP_INFO`` on the LISTEN socket: ``tcpi_unacked`` is the
accept-queue length and ``tcpi_sacked`` the backlog. Loopback only; nothing is accepted.
"""

from __future__ import annotations

import argparse
import errno
import selectors
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zreactor.reactor.syscalls import Syscalls  # noqa: E402


def _sysctl(name: str) -> str:
    try:
        return Path("/proc/sys/net", *name.split(".")).read_text().strip()
    except OSError:
        return "?"


def measure(backlog: int, clients: int, wait: float) -> dict[str, int | None]:
    """One backlog: connects that completed, were refused, or are still pending."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(backlog)
    selector = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    outcome: dict[socket.socket, str] = {}
    try:
        for _ in range(clients):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            code = sock.connect_ex(server.getsockname())
            socks.append(sock)
            if code in (0, errno.EINPROGRESS):
                selector.register(sock, selectors.EVENT_WRITE)
            else:
                outcome[sock] = "refused"
        deadline = time.monotonic() + wait
        while len(outcome) < clients and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
                sock = key.fileobj  # type: ignore[assignment]
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                outcome[sock] = "connected" if code == 0 else "refused"
                selector.unregister(sock)
        queued = Syscalls().accept_queue_length(server)
        return {
            "backlog": backlog,
            "connected": sum(v == "connected" for v in outcome.values()),
            "refused": sum(v == "refused" for v in outcome.values()),
            "pending": clients - len(outcome),
            "accept_queue": queued,
        }
    finally:
        selector.close()
        for sock in socks:
            sock.close()
        server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--wait", type=float, default=1.5, help="seconds to wait (1.5)")
    parser.add_argument("--backlogs", default="0,1,4")
    args = parser.parse_args(argv)
    print(f"tiny_backlog: tcp_abort_on_overflow={_sysctl('ipv4.tcp_abort_on_overflow')} "
          f"tcp_syncookies={_sysctl('ipv4.tcp_syncookies')} "
          f"tcp_syn_retries={_sysctl('ipv4.tcp_syn_retries')} "
          f"somaxconn={_sysctl('core.somaxconn')}; {args.clients} clients, nobody accepts, "
          f"counted after {args.wait:g} s")
    print(f"{'backlog':>8}{'connected':>11}{'refused':>9}{'pending':>9}{'accept_queue':>14}")
    for backlog in (int(b) for b in args.backlogs.split(",")):
        row = measure(backlog, args.clients, args.wait)
        print(f"{row['backlog']:>8}{row['connected']:>11}{row['refused']:>9}{row['pending']:>9}"
              f"{str(row['accept_queue']):>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
