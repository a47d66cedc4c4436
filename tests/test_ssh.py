"""zreactor.ssh: tunnels through a real ``ssh`` client (and paramiko) to a test SSH server.

The server is paramiko's, on 127.0.0.1, with a host key and a client key made for the test;
it forwards ``direct-tcpip`` channels and answers the tunnel's remote command. The client is
the system's OpenSSH, reached through ``PATH`` as the module reaches it, behind a wrapper
that points it at the test's own known-hosts file (ssh reads ``~`` from the password
database, not ``$HOME``, so the user's files are never touched).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import threading
from pathlib import Path

import pytest

import zreactor as zmq
from zreactor.ssh import tunnel

paramiko = pytest.importorskip("paramiko")
REAL_SSH = shutil.which("ssh")
needs_ssh = pytest.mark.skipif(REAL_SSH is None, reason="no ssh client installed")
PASSWORD = "s3cret"


def test_select_random_ports_are_distinct_and_free() -> None:
    ports = tunnel.select_random_ports(20)
    assert len(set(ports)) == 20
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_open_tunnel_refuses_what_it_cannot_carry() -> None:
    for addr in ("ipc:///tmp/x", "inproc://x", "tcp://nohost", "127.0.0.1:5555"):
        with pytest.raises(ValueError):
            tunnel.open_tunnel(addr, "example.invalid")


class _Server(paramiko.ServerInterface):
    """Accepts one client key or the password; opens sessions and direct-tcpip channels."""

    def __init__(self, client_key: paramiko.PKey) -> None:
        self.client_key = client_key
        self.destinations: dict[int, tuple[str, int]] = {}

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def check_auth_password(self, username: str, password: str) -> int:
        return paramiko.AUTH_SUCCESSFUL if password == PASSWORD else paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        same = key.get_base64() == self.client_key.get_base64()
        return paramiko.AUTH_SUCCESSFUL if same else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_direct_tcpip_request(self, chanid: int, origin: tuple[str, int],
                                           destination: tuple[str, int]) -> int:
        self.destinations[chanid] = destination
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        echoed = re.match(rb"echo (\S+);", command)  # the tunnel's "echo MARK; exec sleep N"
        if echoed:
            channel.send(echoed.group(1) + b"\n")  # ... and the session stays, as sleep would
        else:  # any other command ("exit"): done at once, as a shell would be
            threading.Timer(0.05, _finish, args=(channel,)).start()
        return True


def _finish(channel: paramiko.Channel) -> None:
    channel.send_exit_status(0)
    channel.close()


def _pump(a: socket.socket, b: paramiko.Channel) -> None:
    import select

    try:
        while True:
            readable, _, _ = select.select([a, b], [], [], 10)
            if not readable:
                continue
            for src, dst in ((a, b), (b, a)):
                if src in readable:
                    data = src.recv(65536)
                    if not data:
                        return
                    dst.sendall(data)
    except OSError:
        pass
    finally:
        a.close()
        b.close()


class SshServer:
    """The test's SSH server on 127.0.0.1 (one thread per client transport)."""

    def __init__(self) -> None:
        self.host_key = paramiko.RSAKey.generate(2048)
        self.client_key = paramiko.RSAKey.generate(2048)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.transports: list[paramiko.Transport] = []
        self.stopping = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            self.transports.append(transport)
            threading.Thread(target=self._serve, args=(transport,), daemon=True).start()

    def _serve(self, transport: paramiko.Transport) -> None:
        iface = _Server(self.client_key)
        try:
            transport.start_server(server=iface)
        except (paramiko.SSHException, EOFError, OSError):
            return
        while transport.is_active() and not self.stopping.is_set():
            channel = transport.accept(0.2)
            if channel is None:
                continue
            destination = iface.destinations.get(channel.get_id())
            if destination is None:
                continue  # the session channel: its exec request was answered
            remote = socket.create_connection(destination, timeout=5)
            threading.Thread(target=_pump, args=(remote, channel), daemon=True).start()

    def close(self) -> None:
        self.stopping.set()
        self.listener.close()
        for transport in self.transports:
            transport.close()


@pytest.fixture
def server():
    srv = SshServer()
    yield srv
    srv.close()


@pytest.fixture
def client_files(tmp_path: Path, server: SshServer, monkeypatch: pytest.MonkeyPatch):
    """A private key file, a known-hosts file naming the server, and ``ssh`` on PATH using them."""
    key_file = tmp_path / "id_rsa"
    server.client_key.write_private_key_file(str(key_file))
    os.chmod(key_file, 0o600)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{server.port} ssh-rsa {server.host_key.get_base64()}\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "ssh"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'exec {REAL_SSH} -F /dev/null -o UserKnownHostsFile="$ZR_KNOWN_HOSTS" '
        "-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes "
        '-o IdentitiesOnly=yes -o IdentityAgent=none "$@"\n')
    wrapper.chmod(0o700)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("ZR_KNOWN_HOSTS", str(known))
    return key_file, known


@pytest.fixture
def rep():
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.linger = 0
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    yield ctx, sock, port
    ctx.destroy(linger=0)


def _round_trip(ctx: zmq.Context, rep_sock: zmq.Socket, url_or_tunnel: str) -> None:
    req = ctx.socket(zmq.REQ)
    req.linger = 0
    req.rcvtimeo = req.sndtimeo = 10_000
    req.connect(url_or_tunnel)
    req.send(b"through the tunnel")
    rep_sock.rcvtimeo = 10_000
    assert rep_sock.recv() == b"through the tunnel"
    rep_sock.send(b"and back")
    assert req.recv() == b"and back"
    req.close()


@needs_ssh
def test_openssh_tunnel_with_a_key_carries_a_zreactor_connection(server, client_files, rep) -> None:
    key_file, _ = client_files
    ctx, rep_sock, port = rep
    destination = f"tester@127.0.0.1:{server.port}"
    assert tunnel.try_passwordless_ssh(destination, str(key_file), paramiko=False)
    req = ctx.socket(zmq.REQ)
    req.linger = 0
    req.rcvtimeo = 10_000
    pid = tunnel.tunnel_connection(req, f"tcp://127.0.0.1:{port}", destination,
                                   keyfile=str(key_file), paramiko=False)
    try:
        req.send(b"through the tunnel")
        rep_sock.rcvtimeo = 10_000
        assert rep_sock.recv() == b"through the tunnel"
        rep_sock.send(b"and back")
        assert req.recv() == b"and back"
        assert ("127.0.0.1", port) in server_destinations(server)
    finally:
        os.kill(pid, signal.SIGTERM)  # the pid is the ssh process serving the tunnel


def server_destinations(server: SshServer) -> list[tuple[str, int]]:
    """Where the server was asked to forward (it answered every direct-tcpip request)."""
    found = []
    for transport in server.transports:
        iface = transport.server_object
        if iface is not None:
            found.extend(iface.destinations.values())
    return found


@needs_ssh
def test_openssh_tunnel_with_a_password(server, client_files, rep) -> None:
    ctx, rep_sock, port = rep
    destination = f"tester@127.0.0.1:{server.port}"
    assert not tunnel.try_passwordless_ssh(destination, None, paramiko=False)
    url, pid = tunnel.open_tunnel(f"tcp://127.0.0.1:{port}", destination, password=PASSWORD,
                                  paramiko=False)
    try:
        _round_trip(ctx, rep_sock, url)
    finally:
        os.kill(pid, signal.SIGTERM)
    with pytest.raises(RuntimeError, match="failed to start"):
        tunnel.open_tunnel(f"tcp://127.0.0.1:{port}", destination, password="wrong",
                           paramiko=False)


@needs_ssh
def test_openssh_refuses_an_unknown_host_key(server, client_files, rep) -> None:
    key_file, known = client_files
    known.write_text("")  # the server's key is known nowhere now
    destination = f"tester@127.0.0.1:{server.port}"
    with pytest.raises(tunnel.SSHException):
        tunnel.try_passwordless_ssh(destination, str(key_file), paramiko=False)
    with pytest.raises(tunnel.SSHException):
        tunnel.open_tunnel(f"tcp://127.0.0.1:{rep[2]}", destination, keyfile=str(key_file),
                           paramiko=False)


def test_paramiko_tunnel_carries_a_zreactor_connection(server, rep) -> None:
    ctx, rep_sock, port = rep
    url, process = tunnel.open_tunnel(f"tcp://127.0.0.1:{port}",
                                      f"tester@127.0.0.1:{server.port}", password=PASSWORD,
                                      paramiko=True)
    try:
        _round_trip(ctx, rep_sock, url)
    finally:
        process.terminate()
        process.join(10)
