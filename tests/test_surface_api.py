"""pyzmq's Context and Socket API additions: context options, subclassing, reprs, helpers."""

from __future__ import annotations

import errno
import warnings

import pytest

import zreactor as zmq


def test_context_exit_destroys_open_sockets_with_a_warning() -> None:
    with pytest.warns(ResourceWarning, match="unclosed socket"):
        with zmq.Context() as ctx:
            sock = ctx.socket(zmq.PUSH)  # left open: term() alone would wait for ever
            sock.connect("tcp://127.0.0.1:1")
    assert sock.closed and ctx.closed


def test_context_exit_without_sockets_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with zmq.Context() as ctx:
            ctx.socket(zmq.PAIR).close()


def test_context_rejects_negative_io_threads() -> None:
    with pytest.raises(zmq.ZMQError) as info:
        zmq.Context(-1)
    assert info.value.errno == zmq.EINVAL


def test_context_options() -> None:
    ctx = zmq.Context()
    try:
        ctx.set(zmq.MAX_SOCKETS, 2)
        assert ctx.get(zmq.MAX_SOCKETS) == 2
        ctx.max_sockets = 3
        assert ctx.max_sockets == 3 == ctx.get(zmq.MAX_SOCKETS)
        assert ctx.get(zmq.IO_THREADS) == 1
        assert "IO_THREADS" in dir(ctx)
        socks = [ctx.socket(zmq.PAIR) for _ in range(3)]
        with pytest.raises(zmq.ZMQError) as info:
            ctx.socket(zmq.PAIR)
        assert info.value.errno == errno.EMFILE
        with pytest.raises(TypeError):
            ctx.set(zmq.MAX_SOCKETS, "many")
    finally:
        ctx.destroy(linger=0)


def _io_thread_count() -> int:
    import threading

    return sum(t.name.startswith("zreactor-io") for t in threading.enumerate())


def test_io_threads_change_until_the_first_engine_as_libzmq() -> None:
    before = _io_thread_count()
    ctx = zmq.Context()
    try:
        ctx.IO_THREADS = 3  # pyzmq's attribute spelling
        assert ctx.IO_THREADS == 3 == ctx.get(zmq.IO_THREADS) == len(ctx.io_threads)
        assert _io_thread_count() == before + 3
        pair = ctx.socket(zmq.PAIR)
        pair.bind("inproc://no-engine")  # inproc places nothing on the threads
        ctx.set(zmq.IO_THREADS, 2)
        assert ctx.IO_THREADS == 2 and _io_thread_count() == before + 2
        pull = ctx.socket(zmq.PULL)
        pull.bind("tcp://127.0.0.1:0")  # an engine now runs on them: the count is fixed
        with pytest.raises(zmq.ZMQError, match="IO_THREADS") as info:
            ctx.set(zmq.IO_THREADS, 4)
        assert info.value.errno == zmq.ENOTSUP and ctx.IO_THREADS == 2
        with pytest.raises(zmq.ZMQError) as info:
            ctx.set(zmq.IO_THREADS, 0)
        assert info.value.errno == zmq.EINVAL
    finally:
        ctx.destroy(linger=0)
    assert _io_thread_count() == before


def test_context_option_attributes_are_pyzmqs() -> None:
    ctx = zmq.Context()
    try:
        ctx.LINGER = 0  # an upper-case socket option name is a socket default, as in pyzmq
        assert ctx.LINGER == 0 == ctx.linger and ctx.socket(zmq.PUSH).linger == 0
        ctx.MAX_MSGSZ = 2**40  # recorded and clipped to INT_MAX, bounding nothing (libzmq)
        assert ctx.MAX_MSGSZ == 2**31 - 1
        ctx.MAX_MSGSZ = 0
        assert ctx.get(zmq.MAX_MSGSZ) == 0
        with pytest.raises(AttributeError):
            ctx.THREAD_SCHED_POLICY  # listed by dir(), not readable: absent, as pyzmq says
    finally:
        ctx.destroy(linger=0)


def test_reprs_are_pyzmqs() -> None:
    ctx = zmq.Context()
    assert "zreactor.Context() at 0x" in repr(ctx)
    push = ctx.socket(zmq.PUSH)
    assert "zreactor.Context(1 socket)" in repr(ctx)
    assert repr(push).startswith("<zreactor.Socket(zreactor.PUSH) at 0x")
    push.close()
    assert repr(push).endswith(" closed>")
    ctx.term()
    assert repr(ctx).endswith(" closed>")


def test_socket_subclasses_and_direct_construction() -> None:
    class Tagged(zmq.Socket):
        tag = None

        def __init__(self, *args, **kwargs):
            self.tag = kwargs.pop("tag", "default")
            super().__init__(*args, **kwargs)

    class TaggedContext(zmq.Context):
        _socket_class = Tagged

    with TaggedContext() as ctx:
        sock = ctx.socket(zmq.REP, tag="mine", linger=0)
        assert isinstance(sock, Tagged) and sock.type == zmq.REP
        assert sock.tag == "mine" and sock.linger == 0
        assert repr(sock).startswith(f"<{__name__}.")
        direct = Tagged(ctx, zmq.DEALER)
        assert direct.tag == "default" and direct.type == zmq.DEALER
        plain = zmq.Socket(ctx, zmq.PAIR)
        assert plain.type == zmq.PAIR
        with ctx.socket(zmq.PUSH, socket_class=Tagged) as other:
            assert isinstance(other, Tagged)
        for s in (sock, direct, plain):
            s.close()
        with pytest.raises(zmq.ZMQError):
            zmq.Socket(ctx, zmq.RADIO)  # a libzmq draft type: not implemented


def test_bind_and_connect_are_context_managers() -> None:
    ctx = zmq.Context()
    server, client = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    with server.bind("tcp://127.0.0.1:0") as bound:
        assert bound is server
        endpoint = server.last_endpoint.decode()
        with client.connect(endpoint) as connected:
            assert connected is client
            client.send(b"inside")
            assert server.recv() == b"inside"
        with pytest.raises(zmq.ZMQError):
            client.disconnect(endpoint)  # already disconnected by the with block
    with pytest.raises(zmq.ZMQError):
        server.unbind(endpoint)  # already unbound
    assert "bind=" in repr(server.bind("inproc://cm"))
    ctx.destroy(linger=0)


def test_string_hwm_recv_into_and_serialized_helpers() -> None:
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    a.bind("inproc://helpers")
    b.connect("inproc://helpers")
    a.set_string(zmq.ROUTING_ID, "me")
    assert a.get_string(zmq.ROUTING_ID) == "me"
    a.set_hwm(7)
    assert a.get_hwm() == 7 == a.sndhwm == a.rcvhwm
    a.send(b"hello world")
    buf = bytearray(5)
    assert b.recv_into(buf) == 11 and buf == b"hello"  # truncated: the size says so
    a.send(b"abc")
    buf = bytearray(8)
    assert b.recv_into(buf, nbytes=2) == 3 and buf[:3] == b"ab\x00"
    with pytest.raises(BufferError):
        b.recv_into(b"read-only")
    a.send_serialized({"n": 1}, lambda m: [repr(m).encode(), b"end"])
    assert b.recv_serialized(lambda frames: frames) == [b"{'n': 1}", b"end"]
    ctx.destroy(linger=0)


def test_socket_class_asks_for_a_blocking_socket_from_an_awaitable_context() -> None:
    # what ThreadAuthenticator relies on for its ZAP socket in an asyncio context
    import zreactor.asyncio

    ctx = zreactor.asyncio.Context()
    try:
        sock = ctx.socket(zmq.REP, socket_class=zmq.Socket)
        assert isinstance(sock, zmq.Socket)
        sock.close()
    finally:
        ctx.term()


def test_bind_to_random_port_out_of_tries_is_zmq_bind_error() -> None:
    import socket

    ctx = zmq.Context()
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            sock = ctx.socket(zmq.PULL)
            with pytest.raises(zmq.ZMQBindError):
                sock.bind_to_random_port("tcp://127.0.0.1", port, port + 1, max_tries=3)
        assert not isinstance(zmq.ZMQBindError("x"), zmq.ZMQError)  # pyzmq's hierarchy
    finally:
        ctx.destroy(linger=0)
