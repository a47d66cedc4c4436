"""STREAM interop with libzmq (pyzmq's STREAM sockets): raw bytes, notifications, closing.

Each scenario runs with zreactor binding or connecting, over tcp and ipc. A STREAM socket's
peer is whatever speaks bytes, so libzmq's STREAM socket on the other side checks that both
ends agree on what a connection, its notifications and its closing look like.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from _support import DEADLINE, TRANSPORTS, Libs, bind_connect, zmq

import zreactor

pytestmark = pytest.mark.timeout(30)

ROLES = ["zreactor-binds", "zreactor-connects"]


def pair(libs: Libs, role: str, transport: str) -> tuple[Any, Any]:
    """(zreactor STREAM, pyzmq STREAM), connected; each has received its connect notice."""
    z = libs.socket("zreactor", "STREAM")
    p = libs.socket("pyzmq", "STREAM")
    binder, dialer = (z, p) if role == "zreactor-binds" else (p, z)
    bind_connect(binder, dialer, libs.address(transport))
    return z, p


def connection_id(sock: Any) -> bytes:
    """The routing id of the connection whose connect notification arrives next."""
    rid, empty = sock.recv_multipart()
    assert empty == b""
    return bytes(rid)


def read(sock: Any, rid: bytes, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        got, chunk = sock.recv_multipart()
        assert bytes(got) == rid and chunk
        data += chunk
    return bytes(data)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("role", ROLES)
def test_bytes_both_ways(libs: Libs, role: str, transport: str) -> None:
    z, p = pair(libs, role, transport)
    zid, pid = connection_id(z), connection_id(p)
    z.send_multipart([zid, b"from zreactor"])
    assert read(p, pid, 13) == b"from zreactor"
    p.send_multipart([pid, b"from libzmq"])
    assert read(z, zid, 11) == b"from libzmq"
    big = os.urandom(2_000_000)
    z.send_multipart([zid, big])
    assert read(p, pid, len(big)) == big
    p.send_multipart([pid, big])
    assert read(z, zid, len(big)) == big


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("role", ROLES)
def test_zreactor_closes_and_libzmq_sees_the_disconnection(libs: Libs, role: str,
                                                           transport: str) -> None:
    z, p = pair(libs, role, transport)
    zid, pid = connection_id(z), connection_id(p)
    z.send_multipart([zid, b"last words"])
    z.send_multipart([zid, b""])
    assert read(p, pid, 10) == b"last words"
    assert p.recv_multipart() == [pid, b""]  # libzmq's disconnection notice
    # zreactor reports none for its own close (a libzmq dialler redials: a new connection)
    while z.poll(200):
        rid, data = z.recv_multipart()
        assert role == "zreactor-binds" and rid != zid and data == b""


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("role", ROLES)
def test_libzmq_closes_and_zreactor_sees_the_disconnection(libs: Libs, role: str,
                                                           transport: str) -> None:
    z, p = pair(libs, role, transport)
    zid, pid = connection_id(z), connection_id(p)
    p.send_multipart([pid, b"bye"])
    p.send_multipart([pid, b""])
    assert read(z, zid, 3) == b"bye"
    # libzmq closes the connection only once its socket runs the pipe's termination, i.e. at
    # its next call: poll it while waiting
    deadline = time.monotonic() + DEADLINE
    while not z.poll(10):
        p.poll(10)
        assert time.monotonic() < deadline
    assert z.recv_multipart() == [zid, b""]
    if role == "zreactor-connects":  # a dialled connection is redialled, same id (libzmq's)
        assert z.recv_multipart() == [zid, b""]
        assert len(connection_id(p)) == 5


@pytest.mark.parametrize("role", ROLES)
def test_the_peer_socket_closing(libs: Libs, role: str) -> None:
    z, p = pair(libs, role, "tcp")
    zid, _ = connection_id(z), connection_id(p)
    p.close(linger=0)
    assert z.recv_multipart() == [zid, b""]
    if role == "zreactor-connects":
        z.send_multipart([zid, b"queued"])  # the dialled connection's pipe waits for a redial
        return
    with pytest.raises(zreactor.ZMQError) as info:
        z.send_multipart([zid, b"gone"])
    assert info.value.errno == zmq.EHOSTUNREACH


def test_many_libzmq_clients(libs: Libs) -> None:
    server = libs.socket("zreactor", "STREAM")
    server.bind("tcp://127.0.0.1:*")
    endpoint = server.getsockopt(zmq.LAST_ENDPOINT).decode()
    clients = []
    for _ in range(25):
        c = libs.socket("pyzmq", "STREAM")
        c.connect(endpoint)
        clients.append((c, connection_id(c)))
    ids = {connection_id(server) for _ in clients}
    assert len(ids) == 25
    for n, (c, rid) in enumerate(clients):
        c.send_multipart([rid, b"%02d" % n])
    echoed = 0
    while echoed < 25:
        rid, chunk = server.recv_multipart()
        if chunk:
            server.send_multipart([rid, chunk * 2])
            echoed += 1
    for n, (c, rid) in enumerate(clients):
        assert read(c, rid, 4) == b"%02d" % n * 2


def test_unknown_ids_are_unreachable_on_both(libs: Libs) -> None:
    for sock in (libs.socket("zreactor", "STREAM"), libs.socket("pyzmq", "STREAM")):
        with pytest.raises((zreactor.ZMQError, zmq.ZMQError)) as info:
            sock.send_multipart([b"\x00abcd", b"x"])
        assert info.value.errno == zmq.EHOSTUNREACH
