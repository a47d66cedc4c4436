"""Servers under test: start one under a descriptor limit, watch it through /proc, stop it.

Theory of operation
-------------------
Each server under test is a child process that honours one small contract: it takes
``--host``/``--port`` (port 0 picks a free port), prints ``listening tcp://HOST:PORT`` as its
first line on stdout, flushed, and serves until SIGINT or SIGTERM.

The limit is applied in the child between fork and exec (``preexec_fn``), soft *and* hard, so
the server cannot lift it back; the benchmark never raises anyone's limit but its own. Stdout
and stderr go to files, not pipes: a pipe nobody drains would eventually block the server and
the benchmark would measure that instead. We poll the stdout file for the first line.

Everything we learn about the server comes from Linux's /proc: ``/proc/PID/fd`` (how many
descriptors it holds) and ``/proc/PID/stat`` (utime + stime, all threads included). The
benchmark is therefore Linux-only, and says so when /proc is missing.

Stopping is SIGTERM, then SIGKILL after a timeout; we record which one it took, because a
server that ignores SIGTERM is itself a finding.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time

_LISTENING = re.compile(rb"^listening tcp://(?P<host>[^\s:]+):(?P<port>\d+)\s*$")
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class ServerFailed(RuntimeError):
    """The server did not start, or died, or printed something other than the contract."""


@dataclasses.dataclass(frozen=True)
class ServerSpec:
    """How to launch one server: a display name and the argv to run (cwd/env optional)."""

    name: str
    argv: tuple[str, ...]
    cwd: str | None = None
    env: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class CpuSample:
    wall: float  # time.perf_counter()
    cpu: float  # seconds of utime + stime, all threads


def cpu_percent(a: CpuSample, b: CpuSample) -> float:
    """CPU used between two samples, as a percentage of one core over the wall time."""
    wall = b.wall - a.wall
    return 100.0 * (b.cpu - a.cpu) / wall if wall > 0 else 0.0


def _limit_fds(limit: int) -> None:
    # Runs in the child after fork: lower soft and hard together. Never raises a limit: if
    # the hard limit is already below ours, that lower value wins.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    value = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (value, value))


class ServerProcess:
    """A running server under test. Use as a context manager; it always stops the child."""

    def __init__(self, spec: ServerSpec, fd_limit: int, start_timeout: float = 10.0) -> None:
        self.spec = spec
        self.fd_limit = fd_limit
        self._start_timeout = start_timeout
        self._stdout = tempfile.TemporaryFile()
        self._stderr = tempfile.TemporaryFile()
        self._proc: subprocess.Popen[bytes] | None = None
        self.address: tuple[str, int] = ("", 0)
        self.exit: dict[str, object] = {}

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def __enter__(self) -> ServerProcess:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        env = dict(os.environ)
        env.update(self.spec.env)
        env["PYTHONUNBUFFERED"] = "1"
        self._proc = subprocess.Popen(
            self.spec.argv, cwd=self.spec.cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=self._stdout, stderr=self._stderr,
            preexec_fn=lambda: _limit_fds(self.fd_limit))
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            self._stdout.seek(0)
            first = self._stdout.readline()
            if first.endswith(b"\n"):
                match = _LISTENING.match(first)
                if not match:
                    raise ServerFailed(f"{self.spec.name}: unexpected first line {first!r}")
                self.address = (match["host"].decode(), int(match["port"]))
                return
            if self._proc.poll() is not None:
                raise ServerFailed(f"{self.spec.name}: exited with {self._proc.returncode} "
                                   f"before listening; stderr: {self.stderr_tail(5)}")
            time.sleep(0.01)
        raise ServerFailed(f"{self.spec.name}: no 'listening' line within "
                           f"{self._start_timeout} s; stderr: {self.stderr_tail(5)}")

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def fd_count(self) -> int:
        """Descriptors the server holds right now (-1 if it is gone)."""
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except (FileNotFoundError, ProcessLookupError):
            return -1

    def cpu(self) -> CpuSample:
        """utime + stime of the whole process (all threads) from /proc/PID/stat."""
        wall = time.perf_counter()
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return CpuSample(wall, float("nan"))
        # Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
        fields = raw[raw.rindex(b")") + 2:].split()
        utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
        return CpuSample(wall, (utime + stime) / CLK_TCK)

    def stop(self, timeout: float = 2.0) -> None:
        """SIGTERM, wait ``timeout``, then SIGKILL. Records how it went in ``self.exit``."""
        proc = self._proc
        if proc is None or self.exit:
            return
        how = "exited"
        if proc.poll() is None:
            how = "sigterm"
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                how = "sigkill"
                proc.kill()
                proc.wait(timeout)
        self.exit = {"how": how, "returncode": proc.returncode}

    def stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def stderr_tail(self, lines: int = 8) -> list[str]:
        return self.stderr_text().splitlines()[-lines:]

    def close(self) -> None:
        self._stdout.close()
        self._stderr.close()


def raise_own_fd_limit() -> int:
    """Lift this process's soft limit to its hard limit (clients need descriptors too)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 65536)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def machine_info() -> dict[str, object]:
    """What a reader needs to compare figures across machines."""
    info: dict[str, object] = {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "clk_tck": CLK_TCK,
        # Others' load competes with a spinning server for the cores: say how busy we were.
        "loadavg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            info["somaxconn"] = int(f.read())
    except OSError:
        info["somaxconn"] = None
    try:
        import zmq  # optional: only reported, never benchmarked here

        info["pyzmq"] = f"{zmq.__version__} (libzmq {zmq.zmq_version()})"
    except ImportError:
        info["pyzmq"] = None
    info["executable"] = sys.executable
    return info
