"""SSH tunnels for connections to endpoints behind an SSH server (pyzmq's ``zmq.ssh.tunnel``).

Theory of operation
-------------------
A tunnel makes a remote endpoint reachable through an SSH server. ``ssh -L
127.0.0.1:LPORT:REMOTEIP:RPORT server`` listens on a local port and carries every connection
made to it over the SSH session to ``REMOTEIP:RPORT`` *as the server sees it*.
:func:`tunnel_connection` picks a free local port (:func:`select_random_ports`), opens such a
tunnel (:func:`open_tunnel`) and connects the socket to ``tcp://127.0.0.1:LPORT``. A zreactor
socket needs nothing special for it: the tunnel is an ordinary tcp endpoint, and the socket's
reconnects go through it like any other.

Two ways to run the tunnel, chosen as pyzmq chooses (``paramiko=None``: OpenSSH, except on
Windows):

* **OpenSSH** (:func:`openssh_tunnel`), the ``ssh`` binary with the user's own configuration,
  keys and agent. If a ControlMaster connection to the server is already running
  (``ssh -O check``), the forward is added to it (``ssh -O forward``, cancelled at exit) and its
  pid returned. Otherwise one ``ssh`` process is started per tunnel::

      ssh -S none -o ExitOnForwardFailure=yes -L 127.0.0.1:LPORT:IP:RPORT server \\
          'echo <marker>; exec sleep TIMEOUT'

  ssh sets up its local forwards after authenticating and *before* it opens the session that
  runs the command (``ssh_session2`` in OpenSSH), and ``ExitOnForwardFailure`` makes a forward
  that cannot listen fatal; so reading the marker line on the process's stdout means the tunnel
  listens, and an exit before it is a failure whose stderr says why. The remote ``sleep`` keeps
  the session for at least ``timeout`` seconds for the first connection; after that ssh exits
  when the last forwarded connection closes (pyzmq's contract). The returned pid is that ssh
  process: ``os.kill(pid, SIGTERM)`` closes the tunnel.

  *Passwords.* With ``password=None`` ssh runs with ``BatchMode=yes`` and never prompts:
  key or agent authentication, or a failure. When that is refused and standard input is a
  terminal, the password is asked with :func:`getpass.getpass` (as pyzmq does) and ssh is run
  again with it. A password reaches ssh through ``SSH_ASKPASS`` (``SSH_ASKPASS_REQUIRE=force``,
  OpenSSH 8.4+): a helper script, private to this user and removed as soon as ssh has
  authenticated, prints it from ssh's environment (readable only by the same user). One
  prompt only, so a wrong password fails instead of asking again. An unknown host key is
  never accepted on the user's behalf: :class:`SSHException`, as pyzmq raises.
* **paramiko** (:func:`paramiko_tunnel`), when installed: a child process logs in with
  paramiko and forwards the local port itself (:mod:`zreactor.ssh.forward`). For machines
  without an ``ssh`` binary.

Nothing here runs on an I/O thread or touches zreactor's internals; the module is an
integration over the public socket API, like pyzmq's.
"""

from __future__ import annotations

import atexit
import os
import re
import selectors
import shlex
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from getpass import getpass, getuser
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing import Process

try:  # optional, as in pyzmq
    import paramiko
except ImportError:  # pragma: no cover - depends on the environment
    paramiko = None

__all__ = [
    "MaxRetryExceeded",
    "SSHException",
    "open_tunnel",
    "openssh_tunnel",
    "paramiko_tunnel",
    "select_random_ports",
    "ssh_tunnel",
    "try_passwordless_ssh",
    "tunnel_connection",
]

if paramiko is not None:
    SSHException = paramiko.ssh_exception.SSHException
else:
    class SSHException(Exception):  # type: ignore[no-redef]
        """The SSH server could not be trusted or spoken to (paramiko's name, without paramiko)."""


class MaxRetryExceeded(Exception):
    """ssh neither succeeded nor failed within the time allowed (pyzmq's name)."""


#: how long ssh may take to connect and authenticate before the tunnel counts as failed
CONNECT_TIMEOUT_S = 30
#: what OpenSSH prints when it will not trust the server's host key
_HOST_KEY_REFUSED = re.compile(r"Host key verification failed|REMOTE HOST IDENTIFICATION",
                               re.IGNORECASE)
_AUTH_REFUSED = re.compile(r"Permission denied", re.IGNORECASE)
#: the line the remote command prints once the forwards listen (see the module docstring)
_READY = b"zreactor-ssh-tunnel-ready"
_ASKPASS_ENV = "ZREACTOR_SSH_ASKPASS_SECRET"


def select_random_ports(n: int) -> list[int]:
    """``n`` distinct local tcp ports that are free now (all held open until each is found)."""
    sockets = []
    try:
        for _ in range(n):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _split_server(server: str) -> tuple[str, str, int]:
    """``user@host:port`` -> ``(user, host, port)``, with the local user and port 22 as defaults."""
    username, _, host = server.rpartition("@")
    if not username:
        username = getuser()
    host, _, port = host.partition(":")
    return username, host, int(port) if port else 22


def _ssh_base(server: str, keyfile: str | None) -> tuple[list[str], str]:
    """The ``ssh`` command's start (binary, key, port) and the destination (``user@host``)."""
    cmd = ["ssh"]
    if keyfile:
        cmd += ["-i", keyfile]
    user, at, host = server.rpartition("@")
    host, _, port = host.partition(":")
    if port:
        cmd += ["-p", port]
    return cmd, f"{user}@{host}" if at else host


# -- passwordless login -----------------------------------------------------------------------

def try_passwordless_ssh(server: str, keyfile: str | None, paramiko: bool | None = None) -> bool:
    """True if ``server`` accepts a login without a password (keys, agent, Kerberos ...).

    ``paramiko=None`` picks the platform's default (OpenSSH except on Windows).

    Raises:
        SSHException: the server's host key is unknown or changed (never accepted here).
        MaxRetryExceeded: ssh neither logged in nor failed in time.
        ImportError: ``paramiko=True`` and paramiko is not installed.
    """
    if paramiko is None:
        paramiko = sys.platform == "win32"
    if paramiko:
        return _try_passwordless_paramiko(server, keyfile)
    return _try_passwordless_openssh(server, keyfile)


def _try_passwordless_openssh(server: str, keyfile: str | None) -> bool:
    cmd, destination = _ssh_base(server, keyfile)
    cmd += ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}", destination,
            "exit"]
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=CONNECT_TIMEOUT_S + 5, env=_env_without_askpass())
    except subprocess.TimeoutExpired:
        raise MaxRetryExceeded(f"{shlex.join(cmd)} did not finish in time") from None
    if done.returncode == 0:
        return True
    if _HOST_KEY_REFUSED.search(done.stderr.decode(errors="replace")):
        raise SSHException("The authenticity of the host can't be established.")
    return False


def _try_passwordless_paramiko(server: str, keyfile: str | None) -> bool:
    if paramiko is None:
        raise ImportError("Paramiko unavailable, use OpenSSH (paramiko=False)")
    username, host, port = _split_server(server)
    client = paramiko.SSHClient()
    try:
        client.load_host_keys(os.path.expanduser("~/.ssh/known_hosts"))
    except FileNotFoundError:
        pass
    policy = os.environ.get("PYZMQ_PARAMIKO_HOST_KEY_POLICY")  # pyzmq's knob, honoured
    if policy:
        client.set_missing_host_key_policy(getattr(paramiko, f"{policy}Policy")())
    try:
        client.connect(host, port, username=username, key_filename=keyfile, look_for_keys=True)
    except paramiko.AuthenticationException:
        return False
    client.close()
    return True


# -- tunnels --------------------------------------------------------------------------------------

def tunnel_connection(socket: Any, addr: str, server: str, keyfile: str | None = None,
                      password: str | None = None, paramiko: bool | None = None,
                      timeout: int = 60) -> Any:
    """Connect ``socket`` to ``addr`` (``tcp://ip:port`` as ``server`` sees it) through an SSH
    tunnel; return the tunnel (a pid, or a process for paramiko), see :func:`open_tunnel`."""
    new_url, tunnel = open_tunnel(addr, server, keyfile=keyfile, password=password,
                                  paramiko=paramiko, timeout=timeout)
    socket.connect(new_url)
    return tunnel


def open_tunnel(addr: str, server: str, keyfile: str | None = None,
                password: str | None = None, paramiko: bool | None = None,
                timeout: int = 60) -> tuple[str, Any]:
    """Open a tunnel to ``addr`` (``tcp://ip:port``, as ``server`` sees it) on a free local port.

    Returns:
        ``("tcp://127.0.0.1:LPORT", tunnel)``: the url to connect to, and what
        :func:`openssh_tunnel` or :func:`paramiko_tunnel` returned.

    Raises:
        ValueError: ``addr`` is not ``tcp://host:port``. And what the tunnel functions raise.
    """
    transport, sep, rest = addr.partition("://")
    ip, _, rport = rest.rpartition(":")
    if not sep or transport != "tcp" or not ip or not rport.isdigit():
        raise ValueError(f"an ssh tunnel carries tcp://host:port endpoints, not {addr!r}")
    lport = select_random_ports(1)[0]
    if paramiko is None:
        paramiko = sys.platform == "win32"
    tunnel_function = paramiko_tunnel if paramiko else openssh_tunnel
    tunnel = tunnel_function(lport, int(rport), server, remoteip=ip, keyfile=keyfile,
                             password=password, timeout=timeout)
    return f"tcp://127.0.0.1:{lport}", tunnel


def openssh_tunnel(lport: int, rport: int, server: str, remoteip: str = "127.0.0.1",
                   keyfile: str | None = None, password: str | None = None,
                   timeout: int = 60) -> int:
    """Forward ``127.0.0.1:lport`` here to ``remoteip:rport`` as seen from ``server``, with the
    ``ssh`` binary (see the module docstring); return the pid of the ssh process serving it.

    Args:
        server: ``[user@]host[:port]``; ssh's configuration supplies the rest.
        keyfile: a private key to log in with (default: ssh's own choice).
        password: the login password; ``None``: key or agent login, or ask on a terminal.
        timeout: seconds the tunnel stays up, unused, for its first connection.

    Raises:
        SSHException: the server's host key is unknown or changed.
        RuntimeError: ssh failed (the message carries its stderr).
        MaxRetryExceeded: ssh neither opened the tunnel nor failed within
            :data:`CONNECT_TIMEOUT_S` seconds.
    """
    forward = f"127.0.0.1:{lport}:{remoteip}:{rport}"
    base, destination = _ssh_base(server, keyfile)
    master = _forward_on_master(base, destination, forward)
    if master is not None:
        return master
    try:
        return _start_tunnel(base, destination, forward, password, timeout)
    except _AuthRefused:
        if password is not None or not sys.stdin.isatty():
            raise RuntimeError(f"ssh to {server} refused every non-interactive login; "
                               "pass password=...") from None
    return _start_tunnel(base, destination, forward, getpass(f"{server}'s password: "), timeout)


class _AuthRefused(Exception):
    """ssh without a password was refused (the caller may ask for one)."""


def _forward_on_master(base: list[str], destination: str, forward: str) -> int | None:
    """Add the forward to a running ControlMaster connection; its pid, or None if none runs."""
    try:
        check = subprocess.run([*base, "-O", "check", destination], stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(rb"\(pid=(\d+)\)", check.stdout + check.stderr)
    if check.returncode != 0 or found is None:
        return None
    added = subprocess.run([*base, "-O", "forward", "-L", forward, destination],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    if added.returncode != 0:
        return None
    atexit.register(subprocess.run, [*base, "-O", "cancel", "-L", forward, destination],
                    stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    return int(found.group(1))


def _start_tunnel(base: list[str], destination: str, forward: str, password: str | None,
                  timeout: int) -> int:
    """One ssh process serving the forward; its pid once the forward listens."""
    cmd = [*base, "-S", "none", "-o", "ExitOnForwardFailure=yes",
           "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}", "-L", forward]
    env = _env_without_askpass()
    helper_dir = None
    if password is None:
        cmd += ["-o", "BatchMode=yes"]
    else:
        helper_dir = tempfile.mkdtemp(prefix="zreactor-ssh-")
        helper = os.path.join(helper_dir, "askpass")
        with open(helper, "w") as f:
            f.write(f'#!/bin/sh\nexec printf "%s\\n" "${_ASKPASS_ENV}"\n')
        os.chmod(helper, stat.S_IRWXU)
        env.update({"SSH_ASKPASS": helper, "SSH_ASKPASS_REQUIRE": "force",
                    "DISPLAY": env.get("DISPLAY", ":0"), _ASKPASS_ENV: password})
        cmd += ["-o", "BatchMode=no", "-o", "NumberOfPasswordPrompts=1"]
    cmd += [destination, f"echo {_READY.decode()}; exec sleep {int(timeout)}"]
    errors = tempfile.TemporaryFile()
    try:
        # a new session: no controlling terminal to prompt on, and the tunnel outlives a
        # Ctrl-C meant for the application (as pyzmq's forked ssh does)
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=errors, env=env, start_new_session=True)
        try:
            ready = _wait_ready(proc)
        finally:
            assert proc.stdout is not None
            proc.stdout.close()  # the remote command prints nothing more
        if ready:
            return proc.pid
        errors.seek(0)
        text = errors.read().decode(errors="replace").strip()
    finally:
        errors.close()
        if helper_dir is not None:
            for name in os.listdir(helper_dir):
                os.unlink(os.path.join(helper_dir, name))
            os.rmdir(helper_dir)
    if _HOST_KEY_REFUSED.search(text):
        raise SSHException("The authenticity of the host can't be established.")
    if password is None and _AUTH_REFUSED.search(text):
        raise _AuthRefused(text)
    raise RuntimeError(f"tunnel '{shlex.join(cmd)}' failed to start: {text}")


def _wait_ready(proc: subprocess.Popen[bytes]) -> bool:
    """True once the marker line arrives; False if ssh exits first.

    Raises:
        MaxRetryExceeded: neither happened within :data:`CONNECT_TIMEOUT_S` (ssh is ended).
    """
    assert proc.stdout is not None
    deadline = time.monotonic() + CONNECT_TIMEOUT_S + 5
    seen = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                proc.kill()
                proc.wait()
                raise MaxRetryExceeded("ssh neither opened the tunnel nor failed in time")
            if not sel.select(remaining):
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:  # EOF: ssh exited (or closed its stdout) before the marker
                proc.wait()
                return False
            seen += chunk
            if _READY in seen:
                return True


def _env_without_askpass() -> dict[str, str]:
    """Our environment without an askpass program of the user's (pyzmq drops it too)."""
    env = dict(os.environ)
    env.pop("SSH_ASKPASS", None)
    env.pop("SSH_ASKPASS_REQUIRE", None)
    return env


def paramiko_tunnel(lport: int, rport: int, server: str, remoteip: str = "127.0.0.1",
                    keyfile: str | None = None, password: str | None = None,
                    timeout: int = 60) -> Process:
    """Forward ``127.0.0.1:lport`` here to ``remoteip:rport`` as seen from ``server``, with
    paramiko in a child process (daemonic); return the process.

    ``timeout`` is accepted for pyzmq's signature; the child forwards until it is ended.

    Raises:
        ImportError: paramiko is not installed.
    """
    if paramiko is None:
        raise ImportError("Paramiko not available")
    from multiprocessing import Process

    if password is None and not _try_passwordless_paramiko(server, keyfile):
        password = getpass(f"{server}'s password: ")
    process = Process(target=_paramiko_tunnel, args=(lport, rport, server, remoteip),
                      kwargs={"keyfile": keyfile, "password": password}, daemon=True)
    process.start()
    return process


def _paramiko_tunnel(lport: int, rport: int, server: str, remoteip: str,
                     keyfile: str | None = None, password: str | None = None) -> None:
    """The child process of :func:`paramiko_tunnel`: log in, then forward until ended."""
    from .forward import forward_tunnel

    username, host, port = _split_server(server)
    client = paramiko.SSHClient()
    client.load_system_host_keys()
    policy = os.environ.get("PYZMQ_PARAMIKO_HOST_KEY_POLICY")
    client.set_missing_host_key_policy(
        getattr(paramiko, f"{policy}Policy")() if policy else paramiko.WarningPolicy())
    try:
        client.connect(host, port, username=username, key_filename=keyfile,
                       look_for_keys=True, password=password)
    except Exception as exc:  # the child's only report is its output and exit status
        print(f"*** Failed to connect to {host}:{port}: {exc!r}", file=sys.stderr)
        sys.exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the application's Ctrl-C is not ours
    transport = client.get_transport()
    assert transport is not None
    forward_tunnel(lport, remoteip, rport, transport)


#: the platform's default tunnel function (pyzmq's name)
ssh_tunnel = paramiko_tunnel if sys.platform == "win32" else openssh_tunnel
