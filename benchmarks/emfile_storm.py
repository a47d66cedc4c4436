"""EMFILE storm: what echo servers do when accept() runs out of file descriptors.

Run:  python benchmarks/emfile_storm.py [--hold 3] [--limit 64] [--extra 40] [--only NAME]
                                        [--repeat N] [--scenario storm|spike|late|messaging|all]
                                        [--json PATH]

Theory of operation
-------------------
Three echo servers (four columns) run side by side in the same run, each as a child process
whose RLIMIT_NOFILE is lowered to ``--limit`` (64) before exec, each on 127.0.0.1, port 0:

* ``zreactor``: ``examples/echo_server.py`` with its defaults (the framework under test). Its
  default fd budget stops accepting *before* the process runs out of descriptors, so this
  column measures the budget path;
* ``zreactor-nobudget``: the same with ``--max-connections`` far above the limit, so accept()
  really fails with EMFILE and the reserve-descriptor path is measured;
* ``naive``:    ``peers/naive_echo.py``, a level-triggered ``selectors`` loop that logs accept()
  errors and carries on: the classic server that spins on EMFILE;
* ``asyncio``:  ``peers/asyncio_echo.py``, plain ``asyncio.start_server``.

Each scenario runs against every server with a fresh process, and the order rotates from one
scenario (and repeat) to the next so that no server always goes first on a warm or cold box.

**storm.** Four *established* clients connect and get an echo first. Then the storm opens
``capacity - established + extra`` clients at once, where ``capacity = limit - base_fds`` and
``base_fds`` is what ``/proc/PID/fd`` shows just after the server printed its first line: so
exactly ``extra`` clients more than the process can hold (a server with a lower budget of its
own, like zreactor by default, turns away more). Each sends ``ping N\\n`` and waits. For
``--hold`` seconds the established clients ping-pong (one ping every 20 ms each) and we time
their round-trips, while /proc/PID/stat tells how much CPU the server burns (over the whole
hold, and over its second half alone: the steady state once arrivals have settled). At the end
of the hold each storm client is counted once: *served* (its echo came back), *reset* (it saw
ECONNRESET), *closed* (EOF without an echo), *failed* (refused, or another error) or *hung*
(none of these: no answer and no refusal, usually because it sits in the listen backlog).

**spike.** Fill the server with held connections until ``/proc/PID/fd`` reaches the limit (or
until a new client gets no echo within ``--fill-timeout``, which is then closed and counted as
a probe). Then ``--spike-clients`` (10) newcomers connect and send a line while the server has
no descriptor left; ``--spike-delay`` (200 ms) later we close ``spike_clients + probes`` held
connections from the client side, freeing at least that many server descriptors. We report how
many newcomers are served within ``--spike-window`` (2 s) and the delay from the release
instant to the first and the last echo, plus the server's CPU while it was exhausted.

**late.** Grace per connection. Fill the server as for *spike*, then a trickle of
``--late-trickle`` (12) clients arrives ``--late-gap`` (250 ms) apart with nothing released;
each one's wait until it is told "no" (reset, EOF, error) is measured from its own connect,
and ``<grace`` counts those told sooner than their own grace (zreactor's default 1 s, less
20 ms). Then an *early* client connects, a *late* one 0.8 s after it (0.2 s before the early
one's deadline), and 1.5 s after the early one (0.5 s after its deadline) two descriptors are
released: the late client should be served (``late_ms``: from the release to its echo).

**messaging.** The same question one layer up: a ``ROUTER`` that echoes each request
(``peers/router_echo.py``), zreactor's with ``ACCEPT_GRACE`` 1000 ms and libzmq's (pyzmq),
each under the limit, against libzmq ``DEALER`` clients in this process. Fill with held
DEALERs, then ``--extra`` more send a request and wait ``--hold`` seconds while the server is
full (``cpu%_full``); then ``extra`` + probes held DEALERs close, and we count the waiting
ones served after the release (``first_ms``/``last_ms`` from the release) and still hung.

Everything is loopback, every loop is bounded in time and iterations, and every server is
stopped at the end (SIGTERM, then SIGKILL). Linux only: the figures come from /proc.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _clients import PENDING, Client, Driver, State  # noqa: E402
from _harness import (CLK_TCK, ServerFailed, ServerProcess, ServerSpec,  # noqa: E402
                      cpu_percent, machine_info, raise_own_fd_limit)

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
HOST = "127.0.0.1"
SERVER_NAMES = ("zreactor", "zreactor-nobudget", "naive", "asyncio", "zreactor-router",
                "libzmq-router")
PEERS = ("naive", "asyncio")
#: Lifts zreactor's fd budget above the limit, so accept() itself fails with EMFILE and the
#: reserve-descriptor path is what gets measured (by default the budget stops accepting first).
NO_BUDGET = ("--max-connections", "1000000")
SCENARIOS = ("storm", "spike", "late", "messaging")
#: the servers of the messaging scenario (ROUTER echo, benchmarks/peers/router_echo.py)
ROUTERS = ("zreactor-router", "libzmq-router")


@dataclasses.dataclass(frozen=True)
class Config:
    limit: int = 64
    extra: int = 40
    hold: float = 3.0
    established: int = 4
    rtt_interval: float = 0.020
    spike_clients: int = 10
    spike_delay: float = 0.200
    spike_window: float = 2.0
    fill_timeout: float = 0.100
    late_grace: float = 1.0  # zreactor's accept_grace (its default) in the late scenario
    late_trickle: int = 12
    late_gap: float = 0.25
    zreactor_args: tuple[str, ...] = ()


def server_specs(cfg: Config) -> dict[str, ServerSpec | str]:
    """Every server by name, or the reason it cannot run."""
    common = ("--host", HOST, "--port", "0")
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    specs: dict[str, ServerSpec | str] = {}
    echo = ROOT / "examples" / "echo_server.py"
    if echo.exists():
        for name, extra in (("zreactor", ()), ("zreactor-nobudget", NO_BUDGET)):
            specs[name] = ServerSpec(
                name, (sys.executable, str(echo), *common, *cfg.zreactor_args, *extra),
                cwd=str(ROOT), env=(("PYTHONPATH", pythonpath),))
    else:
        specs["zreactor"] = specs["zreactor-nobudget"] = \
            f"skipped: {echo.relative_to(ROOT)} not found"
    specs["naive"] = ServerSpec("naive", (sys.executable, str(BENCH / "peers" / "naive_echo.py"),
                                          *common))
    router = BENCH / "peers" / "router_echo.py"
    specs["zreactor-router"] = ServerSpec(
        "zreactor-router", (sys.executable, str(router), "--impl", "zreactor", *common,
                            "--accept-grace", "1000"),
        cwd=str(ROOT), env=(("PYTHONPATH", pythonpath),))
    try:
        import zmq  # noqa: F401
        specs["libzmq-router"] = ServerSpec(
            "libzmq-router", (sys.executable, str(router), "--impl", "pyzmq", *common))
    except ImportError:
        specs["libzmq-router"] = "skipped: pyzmq is not installed"
    specs["asyncio"] = ServerSpec(
        "asyncio", (sys.executable, str(BENCH / "peers" / "asyncio_echo.py"), *common))
    return specs


# ---------------------------------------------------------------------------------------------
# Scenarios. Each takes a started server and returns plain figures (JSON-ready).

def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 2)


def _percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100.0 * len(ordered)) - 1)]


def _settle(driver: Driver, clients: list[Client], timeout: float) -> None:
    """Run until none of ``clients`` is pending any more, or ``timeout`` seconds."""
    driver.run(until=time.perf_counter() + timeout,
               stop=lambda: all(c.state not in PENDING for c in clients))


def _outcomes(clients: list[Client]) -> dict[str, int]:
    return {
        "served": sum(c.served for c in clients),
        "reset": sum(c.state is State.RESET and not c.served for c in clients),
        "closed": sum(c.state is State.CLOSED and not c.served for c in clients),
        "failed": sum(c.state is State.FAILED and not c.served for c in clients),
        "hung": sum(c.hung for c in clients),
    }


def run_storm(server: ServerProcess, cfg: Config) -> dict[str, object]:
    base_fds = server.fd_count()
    capacity = cfg.limit - base_fds
    driver = Driver(server.address)
    try:
        established = [driver.open(f"est-{i}", f"hello {i}\n".encode())
                       for i in range(cfg.established)]
        _settle(driver, established, 2.0)
        notes = []
        if not all(c.served for c in established):
            notes.append("established clients not all served before the storm: "
                         + ", ".join(f"{c.name}={c.state.value}" for c in established))
        n_storm = max(0, capacity - cfg.established + cfg.extra)

        next_ping = {c.name: 0.0 for c in established}
        seq = iter(range(10**9))

        def ping(now: float) -> None:
            for c in established:
                if c.state is State.SERVED and now >= next_ping[c.name]:
                    driver.rearm(c, f"rtt {next(seq)}\n".encode())
                    next_ping[c.name] = now + cfg.rtt_interval

        cpu_start = server.cpu()
        storm = [driver.open(f"storm-{i}", f"ping {i}\n".encode()) for i in range(n_storm)]
        # Two halves: the second one is the steady state, after the arrivals (and any
        # grace-period shedding a server may do early) have settled.
        driver.run(until=cpu_start.wall + cfg.hold / 2, tick=ping)
        cpu_mid = server.cpu()
        driver.run(until=cpu_start.wall + cfg.hold, tick=ping)
        cpu_end = server.cpu()
        rtts = [r for c in established for r in c.rtts[1:]]  # rtts[0] was before the storm
        return {
            "base_fds": base_fds,
            "capacity": capacity,
            "clients": n_storm,
            "expected_served": max(0, capacity - cfg.established),
            "cpu_pct": round(cpu_percent(cpu_start, cpu_end), 1),
            "cpu_late_pct": round(cpu_percent(cpu_mid, cpu_end), 1),
            **_outcomes(storm),
            "est_rtt_med_ms": _ms(statistics.median(rtts)) if rtts else None,
            "est_rtt_p99_ms": _ms(_percentile(rtts, 99)),
            "est_samples": len(rtts),
            "est_pending": sum(c.state in PENDING for c in established),
            "est_dropped": sum(c.state not in (State.SERVED, *PENDING) for c in established),
            "fds_after_hold": server.fd_count(),
            "notes": notes,
        }
    finally:
        driver.close_all()


def _fill(driver: Driver, server: ServerProcess, cfg: Config) -> tuple[list[Client], int]:
    """Connect held clients until the server's fds reach the limit or one is not served.

    Returns the held clients and the number of probes (a client that got no echo within
    ``--fill-timeout``: closed, and one more descriptor to free at release for it).
    """
    held: list[Client] = []
    probes = 0
    fill_deadline = time.perf_counter() + 10.0
    while len(held) < cfg.limit + 8 and time.perf_counter() < fill_deadline:
        if server.fd_count() >= cfg.limit:
            break
        client = driver.open(f"held-{len(held)}", f"hold {len(held)}\n".encode())
        _settle(driver, [client], cfg.fill_timeout)
        if client.served:
            held.append(client)
            continue
        # No echo in time: the server is full (or stopped accepting). Drop the probe; it
        # may still sit in the backlog, so free one more descriptor at release for it.
        driver.close(client)
        probes += 1
        break
    return held, probes


def run_spike(server: ServerProcess, cfg: Config) -> dict[str, object]:
    base_fds = server.fd_count()
    driver = Driver(server.address)
    try:
        held, probes = _fill(driver, server, cfg)
        fds_full = server.fd_count()

        cpu_start = server.cpu()
        arrivals = [driver.open(f"spike-{i}", f"spike {i}\n".encode())
                    for i in range(cfg.spike_clients)]
        driver.run(until=cpu_start.wall + cfg.spike_delay)
        cpu_end = server.cpu()
        fds_at_release = server.fd_count()
        released = held[len(held) - min(len(held), cfg.spike_clients + probes):]
        release_at = time.perf_counter()
        for client in released:
            driver.close(client)
        _settle(driver, arrivals, cfg.spike_window)
        delays = sorted(c.first_echo_at - release_at for c in arrivals
                        if c.first_echo_at is not None)
        return {
            "base_fds": base_fds,
            "held": len(held),
            "probes": probes,
            "fds_full": fds_full,
            "fds_at_release": fds_at_release,
            "released": len(released),
            "clients": cfg.spike_clients,
            **_outcomes(arrivals),
            "early": sum(d < 0 for d in delays),
            "first_ms": _ms(delays[0]) if delays else None,
            "last_ms": _ms(delays[-1]) if delays else None,
            "cpu_exhausted_pct": round(cpu_percent(cpu_start, cpu_end), 1),
            "notes": [] if fds_full >= cfg.limit or probes else
                     [f"server never reached the fd limit ({fds_full}/{cfg.limit})"],
        }
    finally:
        driver.close_all()


def run_late(server: ServerProcess, cfg: Config) -> dict[str, object]:
    """Grace per connection: a trickle while full, then a late arrival before a release.

    Trickle: while the server is full, ``late_trickle`` clients arrive ``late_gap`` apart;
    nothing is released. Each one's wait until it is told "no" (reset, EOF or error) is
    measured from its own connect: zreactor must tell nobody before its own grace
    (``early_resets`` counts those told sooner than ``grace - 20 ms``). Late arrival: an
    *early* client connects; ``grace - 0.2 s`` later a *late* one; ``0.5 s`` after the early
    one's deadline descriptors are released. The early one is past its grace; the late one
    is not and should be served.
    """
    grace = cfg.late_grace
    base_fds = server.fd_count()
    driver = Driver(server.address)
    try:
        held, probes = _fill(driver, server, cfg)
        cpu_start = server.cpu()
        trickle: list[Client] = []
        start = time.perf_counter()
        for i in range(cfg.late_trickle):
            trickle.append(driver.open(f"trickle-{i}", f"trickle {i}\n".encode()))
            driver.run(until=start + (i + 1) * cfg.late_gap)
        _settle(driver, trickle, grace + 2.0)
        waits = sorted(c.ended_at - c.opened_at for c in trickle
                       if c.ended_at is not None and not c.served)
        cpu_end = server.cpu()

        early = driver.open("early", b"early\n")
        driver.run(until=early.opened_at + grace - 0.2)
        late = driver.open("late", b"late\n")
        driver.run(until=early.opened_at + grace + 0.5)
        release_at = time.perf_counter()
        for client in held[len(held) - min(len(held), 2 + probes):]:
            driver.close(client)
        _settle(driver, [early, late], cfg.spike_window)

        def outcome(c: Client) -> str:
            return "served" if c.served else ("hung" if c.hung else c.state.value)

        return {
            "base_fds": base_fds,
            "held": len(held),
            "trickle": len(trickle),
            "trickle_told": len(waits),
            "trickle_hung": sum(c.hung for c in trickle),
            "trickle_served": sum(c.served for c in trickle),
            "early_resets": sum(w < grace - 0.020 for w in waits),
            "wait_min_ms": _ms(waits[0]) if waits else None,
            "wait_med_ms": _ms(statistics.median(waits)) if waits else None,
            "wait_max_ms": _ms(waits[-1]) if waits else None,
            "cpu_trickle_pct": round(cpu_percent(cpu_start, cpu_end), 1),
            "early": outcome(early),
            "early_wait_ms": _ms((early.ended_at or early.first_echo_at or release_at)
                                 - early.opened_at),
            "late": outcome(late),
            "late_served_ms": _ms(None if late.first_echo_at is None
                                  else late.first_echo_at - release_at),
            "notes": [],
        }
    finally:
        driver.close_all()


def run_messaging(server: ServerProcess, cfg: Config) -> dict[str, object]:
    """ROUTER echo under the limit, against libzmq DEALERs (pyzmq) in this process.

    Fill with held DEALERs one at a time until one gets no reply within 0.2 s; then
    ``--extra`` more DEALERs send one request each and wait while the server is full, for
    ``--hold`` seconds (server CPU measured); then ``extra + probes`` held DEALERs close and we
    count the waiting ones served within ``--spike-window`` x 1.5 of the release. A DEALER
    that is reset reconnects by itself (libzmq's reconnect_ivl, 100 ms), with its request
    still queued: what the grace and the reset buy here is no spinning, not an error.
    """
    import zmq  # the clients are libzmq's, for both servers

    ctx = zmq.Context()
    endpoint = f"tcp://{server.address[0]}:{server.address[1]}"
    base_fds = server.fd_count()

    def dealer(name: str) -> zmq.Socket:
        sock = ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(endpoint)
        sock.send(name.encode())
        return sock

    def replied(socks: list[zmq.Socket], timeout: float, got: dict[zmq.Socket, float]) -> None:
        poller = zmq.Poller()
        for sock in socks:
            if sock not in got:
                poller.register(sock, zmq.POLLIN)
        deadline = time.perf_counter() + timeout
        while len(got) < len(socks) and time.perf_counter() < deadline:
            for sock, _ in poller.poll(max(1, int((deadline - time.perf_counter()) * 1000))):
                sock.recv()
                got[sock] = time.perf_counter()
                poller.unregister(sock)

    held: list[zmq.Socket] = []
    waiting: list[zmq.Socket] = []
    try:
        probes = 0
        fill_deadline = time.perf_counter() + 15.0
        while len(held) < cfg.limit + 8 and time.perf_counter() < fill_deadline:
            sock = dealer(f"hold {len(held)}")
            got: dict[zmq.Socket, float] = {}
            replied([sock], 0.2, got)
            if got:
                held.append(sock)
                continue
            waiting.append(sock)  # the server is full: this one waits with the others
            probes += 1
            break
        fds_full = server.fd_count()
        cpu_start = server.cpu()
        waiting += [dealer(f"wait {i}") for i in range(cfg.extra)]
        during: dict[zmq.Socket, float] = {}
        replied(waiting, cfg.hold, during)
        cpu_end = server.cpu()
        released = held[len(held) - min(len(held), cfg.extra + probes):]
        release_at = time.perf_counter()
        for sock in released:
            sock.close(linger=0)
        after = dict(during)
        replied(waiting, cfg.spike_window * 1.5, after)
        cpu_after = server.cpu()
        delays = sorted(t - release_at for s, t in after.items() if s not in during)
        return {
            "base_fds": base_fds,
            "held": len(held),
            "fds_full": fds_full,
            "waiting": len(waiting),
            "served_full": len(during),
            "served_after": len(after) - len(during),
            "hung": len(waiting) - len(after),
            "first_ms": _ms(delays[0]) if delays else None,
            "last_ms": _ms(delays[-1]) if delays else None,
            "cpu_full_pct": round(cpu_percent(cpu_start, cpu_end), 1),
            "cpu_after_pct": round(cpu_percent(cpu_end, cpu_after), 1),
            "notes": [],
        }
    finally:
        for sock in held + waiting:
            sock.close(linger=0)
        ctx.term()


SCENARIO_RUNNERS: dict[str, Callable[[ServerProcess, Config], dict[str, object]]] = {
    "storm": run_storm,
    "spike": run_spike,
    "late": run_late,
    "messaging": run_messaging,
}


def run_one(scenario: str, spec: ServerSpec, cfg: Config, repeat: int) -> dict[str, object]:
    """Start a fresh server, run one scenario against it, stop it; never raises."""
    result: dict[str, object] = {"scenario": scenario, "server": spec.name, "repeat": repeat}
    server = ServerProcess(spec, cfg.limit)
    try:
        with server:
            result.update(SCENARIO_RUNNERS[scenario](server, cfg))
            result["alive_at_end"] = server.alive()
    except ServerFailed as exc:
        result["error"] = str(exc)
    finally:
        server.stop()
        stderr = server.stderr_text()
        server.close()
    result["exit"] = server.exit
    result["stderr_lines"] = len(stderr.splitlines())
    result["stderr_tail"] = stderr.splitlines()[-8:]
    return result


# ---------------------------------------------------------------------------------------------
# Report.

def _fmt(value: object, width: int, digits: int = 1) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, float):
        text = f"{value:.{digits}f}"
    else:
        text = str(value)
    return text.rjust(width)


def _label(row: dict[str, object], repeats: int) -> str:
    name = str(row["server"])
    return f"{name}#{row['repeat'] + 1}" if repeats > 1 else name


def print_storm(rows: list[dict[str, object]], cfg: Config, repeats: int, out: TextIO) -> None:
    print(f"scenario storm (limit {cfg.limit}, +{cfg.extra} clients, hold {cfg.hold:.1f} s, "
          f"{cfg.established} established clients pinging every "
          f"{cfg.rtt_interval * 1000:.0f} ms)", file=out)
    print(f"{'server':<19}{'base_fds':>9}{'clients':>8}{'cpu%':>7}{'late%':>7}{'hung':>6}"
          f"{'reset':>7}{'closed':>7}{'failed':>7}{'served':>7}{'est_rtt_med_ms':>16}"
          f"{'est_rtt_p99_ms':>16}", file=out)
    for row in rows:
        if "error" in row:
            print(f"{_label(row, repeats):<19}  error: {row['error']}", file=out)
            continue
        print(f"{_label(row, repeats):<19}{_fmt(row['base_fds'], 9)}{_fmt(row['clients'], 8)}"
              f"{_fmt(row['cpu_pct'], 7)}{_fmt(row['cpu_late_pct'], 7)}{_fmt(row['hung'], 6)}"
              f"{_fmt(row['reset'], 7)}{_fmt(row['closed'], 7)}{_fmt(row['failed'], 7)}"
              f"{_fmt(row['served'], 7)}{_fmt(row['est_rtt_med_ms'], 16, 2)}"
              f"{_fmt(row['est_rtt_p99_ms'], 16, 2)}", file=out)


def print_spike(rows: list[dict[str, object]], cfg: Config, repeats: int, out: TextIO) -> None:
    n = cfg.spike_clients
    print(f"scenario spike (limit {cfg.limit}, {n} newcomers while full, release after "
          f"{cfg.spike_delay * 1000:.0f} ms, window {cfg.spike_window:.1f} s)", file=out)
    print(f"{'server':<19}{'held':>6}{'served/' + str(n):>11}{'reset':>7}{'closed':>7}"
          f"{'hung':>6}{'first_ms':>10}{'last_ms':>10}{'cpu%_full':>11}", file=out)
    for row in rows:
        if "error" in row:
            print(f"{_label(row, repeats):<19}  error: {row['error']}", file=out)
            continue
        served = f"{row['served']}/{n}"
        print(f"{_label(row, repeats):<19}{_fmt(row['held'], 6)}{served:>11}"
              f"{_fmt(row['reset'], 7)}{_fmt(row['closed'], 7)}{_fmt(row['hung'], 6)}"
              f"{_fmt(row['first_ms'], 10)}{_fmt(row['last_ms'], 10)}"
              f"{_fmt(row['cpu_exhausted_pct'], 11)}", file=out)


def print_late(rows: list[dict[str, object]], cfg: Config, repeats: int, out: TextIO) -> None:
    print(f"scenario late (limit {cfg.limit}, full; trickle of {cfg.late_trickle} clients "
          f"{cfg.late_gap * 1000:.0f} ms apart, nothing released; then an early client, a late "
          f"one {cfg.late_grace - 0.2:.1f} s after it, release {cfg.late_grace + 0.5:.1f} s "
          f"after the early one; zreactor grace {cfg.late_grace:.1f} s)", file=out)
    print(f"{'server':<19}{'told':>5}{'hung':>5}{'<grace':>7}{'wait_min':>9}{'wait_med':>9}"
          f"{'wait_max':>9}{'cpu%':>6}{'early':>8}{'early_ms':>9}{'late':>8}"
          f"{'late_ms':>8}", file=out)
    for row in rows:
        if "error" in row:
            print(f"{_label(row, repeats):<19}  error: {row['error']}", file=out)
            continue
        print(f"{_label(row, repeats):<19}{_fmt(row['trickle_told'], 5)}"
              f"{_fmt(row['trickle_hung'], 5)}{_fmt(row['early_resets'], 7)}"
              f"{_fmt(row['wait_min_ms'], 9, 0)}{_fmt(row['wait_med_ms'], 9, 0)}"
              f"{_fmt(row['wait_max_ms'], 9, 0)}{_fmt(row['cpu_trickle_pct'], 6)}"
              f"{_fmt(row['early'], 8)}{_fmt(row['early_wait_ms'], 9, 0)}"
              f"{_fmt(row['late'], 8)}{_fmt(row['late_served_ms'], 8, 1)}", file=out)


def print_messaging(rows: list[dict[str, object]], cfg: Config, repeats: int,
                    out: TextIO) -> None:
    print(f"scenario messaging (limit {cfg.limit}, ROUTER echo full of held libzmq DEALERs; "
          f"+{cfg.extra} DEALERs wait {cfg.hold:.1f} s, then {cfg.extra}+ held ones close; "
          f"zreactor ACCEPT_GRACE 1000 ms)", file=out)
    print(f"{'server':<19}{'held':>6}{'waiting':>8}{'cpu%_full':>10}{'served_full':>12}"
          f"{'served_after':>13}{'hung':>6}{'first_ms':>10}{'last_ms':>10}{'cpu%_after':>11}",
          file=out)
    for row in rows:
        if "error" in row:
            print(f"{_label(row, repeats):<19}  error: {row['error']}", file=out)
            continue
        print(f"{_label(row, repeats):<19}{_fmt(row['held'], 6)}{_fmt(row['waiting'], 8)}"
              f"{_fmt(row['cpu_full_pct'], 10)}{_fmt(row['served_full'], 12)}"
              f"{_fmt(row['served_after'], 13)}{_fmt(row['hung'], 6)}"
              f"{_fmt(row['first_ms'], 10)}{_fmt(row['last_ms'], 10)}"
              f"{_fmt(row['cpu_after_pct'], 11)}", file=out)


def _median(rows: list[dict[str, object]], server: str, key: str) -> float | None:
    values = [float(r[key]) for r in rows  # type: ignore[arg-type]
              if r["server"] == server and "error" not in r and r.get(key) is not None]
    return statistics.median(values) if values else None


def _ratio(peer: float | None, ours: float | None, floor: float) -> str:
    if peer is None or ours is None:
        return "n/a"
    if ours < floor:
        return f">={peer / floor:.0f}x" if peer >= floor else "~1x"
    return f"{peer / ours:.1f}x"


def ratios(results: list[dict[str, object]], cfg: Config) -> list[str]:
    """Peer vs zreactor, medians over repeats, for the figures where lower is better.

    Times and CPU get a ratio; counts (hung clients) are shown side by side, since "40 vs 0"
    says more than any ratio.
    """
    lines: list[str] = []
    peers = PEERS
    # The smallest CPU share /proc can resolve over the window: one clock tick.
    storm_floor = 100.0 / (CLK_TCK * cfg.hold)
    spike_floor = 100.0 / (CLK_TCK * cfg.spike_delay)
    checks: list[tuple[str, str, str, float | None]] = [
        ("storm", "cpu_pct", "storm cpu%", storm_floor),
        ("storm", "cpu_late_pct", "storm late%", 2 * storm_floor),
        ("storm", "hung", "storm hung", None),
        ("storm", "est_rtt_p99_ms", "storm est_rtt_p99_ms", 0.01),
        ("spike", "last_ms", "spike last_ms", 0.01),
        ("spike", "hung", "spike hung", None),
        ("spike", "cpu_exhausted_pct", "spike cpu%_full", spike_floor),
        ("late", "trickle_hung", "late trickle hung", None),
        ("late", "cpu_trickle_pct", "late trickle cpu%", storm_floor),
        ("messaging", "cpu_full_pct", "messaging cpu%_full", storm_floor),
        ("messaging", "hung", "messaging hung", None),
        ("messaging", "last_ms", "messaging last_ms", 0.01),
    ]
    for scenario, key, label, floor in checks:
        rows = [r for r in results if r["scenario"] == scenario]
        if not rows:
            continue
        us, them = ("zreactor-router", ("libzmq-router",)) if scenario == "messaging" \
            else ("zreactor", peers)
        ours = _median(rows, us, key)
        parts = []
        for peer in them:
            if not any(r["server"] == peer for r in rows):
                continue  # not in this run (--only)
            theirs = _median(rows, peer, key)
            digits = 0 if floor is None else 1
            part = f"{peer} {_fmt(theirs, 0, digits)} vs {_fmt(ours, 0, digits)}"
            if floor is not None:
                part += f" = {_ratio(theirs, ours, floor)}"
            parts.append(part)
        if parts:
            lines.append(f"  {label:<22}" + "   ".join(parts))
    return lines


def print_report(results: list[dict[str, object]], cfg: Config, repeats: int,
                 skipped: dict[str, str], out: TextIO) -> None:
    for scenario, printer in (("storm", print_storm), ("spike", print_spike),
                              ("late", print_late), ("messaging", print_messaging)):
        rows = [r for r in results if r["scenario"] == scenario]
        if rows:
            rows.sort(key=lambda r: (SERVER_NAMES.index(str(r["server"])), r["repeat"]))
            printer(rows, cfg, repeats, out)
            print(file=out)
    for name, why in skipped.items():
        print(f"{name}: {why}", file=out)
    lines = ratios(results, cfg)
    if lines and any(str(r["server"]).startswith("zreactor") for r in results):
        print("ratios, peer vs zreactor (median over repeats; lower is better for all):",
              file=out)
        print("\n".join(lines), file=out)
        print(file=out)
    for r in results:
        notes = list(r.get("notes", []))  # type: ignore[call-overload]
        exit_ = r.get("exit") or {}
        if isinstance(exit_, dict) and exit_.get("how") == "sigkill":
            notes.append("did not exit within 2 s of SIGTERM; needed SIGKILL")
        if r.get("alive_at_end") is False:
            notes.append(f"server died during the run: {r['exit']}")
        if str(r["server"]).startswith("zreactor") and r["stderr_lines"]:
            notes.append(f"stderr ({r['stderr_lines']} lines), tail: {r['stderr_tail'][-3:]}")
        for note in notes:
            print(f"note [{r['scenario']} {_label(r, repeats)}]: {note}", file=out)


# ---------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare echo servers when accept() fails with EMFILE (see module doc).")
    parser.add_argument("--hold", type=float, default=3.0, help="storm hold, seconds (3.0)")
    parser.add_argument("--limit", type=int, default=64, help="servers' RLIMIT_NOFILE (64)")
    parser.add_argument("--extra", type=int, default=40,
                        help="storm clients beyond what the server can hold (40)")
    parser.add_argument("--established", type=int, default=4,
                        help="clients echoing through the storm (4)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help=f"run only these servers ({', '.join(SERVER_NAMES)}); repeatable "
                             "or comma-separated")
    parser.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="all")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every scenario (1)")
    parser.add_argument("--spike-clients", type=int, default=10)
    parser.add_argument("--spike-delay", type=float, default=0.200,
                        help="seconds between the newcomers' arrival and the release (0.2)")
    parser.add_argument("--spike-window", type=float, default=2.0,
                        help="seconds after the release a newcomer may take to be served (2)")
    parser.add_argument("--fill-timeout", type=float, default=0.100,
                        help="spike fill: a client with no echo in this many seconds means "
                             "the server is full (0.1)")
    parser.add_argument("--zreactor-args", default="",
                        help="extra arguments for examples/echo_server.py, e.g. "
                             "'--accept-grace 0.5 --shed-policy reset'")
    parser.add_argument("--json", metavar="PATH",
                        help="also write every figure as JSON to PATH ('-': stdout, and the "
                             "tables go to stderr)")
    args = parser.parse_args(argv)
    only = [n for item in args.only for n in item.split(",") if n]
    unknown = sorted(set(only) - set(SERVER_NAMES))
    if unknown:
        parser.error(f"unknown server(s) {unknown}; choose from {list(SERVER_NAMES)}")
    args.only = only or list(SERVER_NAMES)
    if args.limit < 16 or args.repeat < 1 or args.hold <= 0:
        parser.error("need --limit >= 16, --repeat >= 1, --hold > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    if not os.path.isdir("/proc/self/fd"):
        print("emfile_storm needs Linux /proc", file=sys.stderr)
        return 2
    args = parse_args(argv)
    cfg = Config(limit=args.limit, extra=args.extra, hold=args.hold,
                 established=args.established, spike_clients=args.spike_clients,
                 spike_delay=args.spike_delay, spike_window=args.spike_window,
                 fill_timeout=args.fill_timeout,
                 zreactor_args=tuple(shlex.split(args.zreactor_args)))
    out = sys.stderr if args.json == "-" else sys.stdout
    own_limit = raise_own_fd_limit()
    info = machine_info()
    print(f"emfile_storm: nproc {info['nproc']} (usable {info['cpus_usable']}), "
          f"{info['implementation']} {info['python']}, {info['platform']}, "
          f"somaxconn {info['somaxconn']}, CLK_TCK {info['clk_tck']}, "
          f"load average {info['loadavg_1m']}", file=out)
    if info["pyzmq"]:
        print(f"  pyzmq {info['pyzmq']} present (not benchmarked here)", file=out)

    specs = server_specs(cfg)
    skipped = {n: s for n, s in specs.items() if isinstance(s, str) and n in args.only}
    servers = [s for n, s in specs.items() if isinstance(s, ServerSpec) and n in args.only]
    scenarios = SCENARIOS if args.scenario == "all" else (args.scenario,)
    print(f"  servers: {', '.join(s.name for s in servers) or 'none'}; each under "
          f"RLIMIT_NOFILE={cfg.limit} (benchmark's own soft limit: {own_limit})\n", file=out)

    started = time.perf_counter()
    results: list[dict[str, object]] = []
    turn = 0
    for repeat in range(args.repeat):
        for scenario in scenarios:
            # Rotate who goes first, so no server always runs on a cold (or warm) machine.
            order = servers[turn % len(servers):] + servers[:turn % len(servers)] if servers \
                else []
            turn += 1
            for spec in order:
                if (spec.name in ROUTERS) != (scenario == "messaging"):
                    continue  # the ROUTERs run the messaging scenario, and only they do
                results.append(run_one(scenario, spec, cfg, repeat))
    elapsed = time.perf_counter() - started

    print_report(results, cfg, args.repeat, skipped, out)
    print(f"total {elapsed:.1f} s", file=out)
    if args.json:
        doc = {"machine": info, "config": dataclasses.asdict(cfg), "skipped": skipped,
               "elapsed_s": round(elapsed, 2), "results": results}
        if args.json == "-":
            json.dump(doc, sys.stdout, indent=2)
            print()
        else:
            with open(args.json, "w") as f:
                json.dump(doc, f, indent=2)
                f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
