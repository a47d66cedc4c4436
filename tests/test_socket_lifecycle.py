"""A socket's life (``SOCKET_TRANSITIONS`` in ``sockets/socket.py``): every row, through the
public API, seen through the table's record seam."""

from __future__ import annotations

import threading
from errno import ENOTSOCK

import pytest

import zreactor
from zreactor.constants import SocketType
from zreactor.reactor.mailbox import Cmd
from zreactor.sockets.socket import SOCKET_TRANSITIONS, SocketEvent, SocketState

pytestmark = pytest.mark.timeout(20)

S, E = SocketState, SocketEvent


def _rows(steps, sock) -> list:
    return [(step.source, step.event) for step in steps if step.obj is sock]


def test_close_an_open_socket() -> None:
    ctx = zreactor.Context()
    with SOCKET_TRANSITIONS.record() as steps:
        sock = ctx.socket(SocketType.PAIR)
        sock.close()
        sock.close()  # idempotent: no second move
    ctx.term()
    assert _rows(steps, sock) == [(S.OPEN, E.CLOSE)]
    assert sock.closed
    with pytest.raises(zreactor.ZMQError) as info:
        sock.send(b"late")
    assert info.value.errno == ENOTSOCK


def test_term_stops_a_blocked_socket_which_is_then_closed() -> None:
    ctx = zreactor.Context()
    sock = ctx.socket(SocketType.PAIR, linger=0)
    raised: list[BaseException] = []

    def blocked() -> None:
        try:
            sock.recv()
        except zreactor.ContextTerminated as exc:
            raised.append(exc)
            sock.close()  # what libzmq asks of the application

    with SOCKET_TRANSITIONS.record() as steps:
        waiter = threading.Thread(target=blocked)
        waiter.start()
        ctx.term()  # returns once the waiter closed its socket
        waiter.join(5)
    assert len(raised) == 1
    assert _rows(steps, sock) == [(S.OPEN, E.STOP), (S.STOPPED, E.CLOSE)]


def test_a_stop_still_queued_at_close_is_run_by_the_reaper() -> None:
    ctx = zreactor.Context()
    sock = ctx.socket(SocketType.PAIR, linger=0)
    with SOCKET_TRANSITIONS.record() as steps:
        sock.send_command(sock, Cmd.STOP)  # as if term() raced close(): STOP is on its way
        sock.close()
        ctx.term()
    assert _rows(steps, sock) == [(S.OPEN, E.CLOSE), (S.CLOSED, E.STOP)]


def test_every_row_is_taken_above() -> None:
    assert set(SOCKET_TRANSITIONS) == {
        (S.OPEN, E.CLOSE), (S.OPEN, E.STOP), (S.STOPPED, E.CLOSE), (S.CLOSED, E.STOP)}
