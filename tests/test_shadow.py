"""Shadows (sockets/shadow.py): a second object over the same socket or context, as pyzmq's."""

from __future__ import annotations

import asyncio
import copy
import gc
import time

import pytest

import zreactor as zmq
import zreactor.asyncio as zaio


@pytest.fixture
def ctx():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def test_socket_shadow_is_another_object_over_the_same_socket(ctx) -> None:
    pull = ctx.socket(zmq.PULL)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push = ctx.socket(zmq.PUSH)
    for shadow in (zmq.Socket.shadow(pull), zmq.Socket.shadow(pull.underlying),
                   zmq.Socket(pull), copy.copy(pull), copy.deepcopy(pull)):
        assert shadow is not pull and shadow._shadow and shadow._shadow_obj is pull
        assert shadow.underlying == pull.underlying and shadow.context is pull.context
        assert isinstance(shadow, type(pull)) and shadow.type == zmq.PULL
    assert not pull._shadow and pull._shadow_obj is None
    shadow = zmq.Socket.shadow(pull)
    shadow.rcvtimeo = 2000  # one set of options
    assert pull.rcvtimeo == 2000
    push.connect(f"tcp://127.0.0.1:{port}")
    push.send(b"one")
    push.send(b"two")
    assert shadow.recv() == b"one" and pull.recv() == b"two"  # one queue
    assert copy.copy(shadow)._shadow_obj is pull  # a shadow of a shadow: of the original


def test_a_shadow_registers_the_original(ctx) -> None:
    pull = ctx.socket(zmq.PULL)
    shadow = zmq.Socket.shadow(pull)
    shadow.bind("inproc://shadow-bound")  # the inproc name belongs to the socket
    push = ctx.socket(zmq.PUSH)
    push.connect("inproc://shadow-bound")
    push.send(b"x")
    assert pull.recv() == b"x"
    shadow.close()  # closes the socket itself, which the reaper knows
    assert pull.closed and shadow.closed and pull not in ctx.sockets
    again = ctx.socket(zmq.PULL)
    deadline = time.monotonic() + 5
    while True:  # the reaper releases the name soon after close(), as libzmq's does
        try:
            again.bind("inproc://shadow-bound")
            break
        except zmq.ZMQError:
            assert time.monotonic() < deadline, "the socket's inproc name was never released"
            time.sleep(0.01)
    push.close()
    again.close()
    ctx.term()  # nothing left open: does not hang


def test_a_collected_shadow_closes_nothing_and_a_dead_handle_is_enotsock(ctx) -> None:
    sock = ctx.socket(zmq.PUB)
    zmq.Socket.shadow(sock)
    gc.collect()
    assert not sock.closed
    late = zmq.Socket.shadow(sock.underlying)
    sock.close()
    with pytest.raises(zmq.ZMQError) as info:
        late.send(b"x")  # a shadow of a closed socket is closed
    assert info.value.errno == zmq.ENOTSOCK
    with pytest.raises(zmq.ZMQError) as info:
        zmq.Socket.shadow(id(object()))  # a handle no live socket has
    assert info.value.errno == zmq.ENOTSOCK
    with pytest.raises(TypeError):
        zmq.Socket.shadow("not a socket")


def test_a_pattern_class_cannot_shadow_another_type(ctx) -> None:
    pub = ctx.socket(zmq.PUB)
    with pytest.raises(zmq.ZMQError):
        type(ctx.socket(zmq.PUSH)).shadow(pub)


def test_context_shadows_share_the_context(ctx) -> None:
    for shadow in (zmq.Context.shadow(ctx), zmq.Context.shadow(ctx.underlying),
                   zmq.Context(ctx), copy.copy(ctx), copy.deepcopy(ctx)):
        assert shadow is not ctx and shadow._shadow and shadow._shadow_obj is ctx
        assert shadow.underlying == ctx.underlying
    shadow = zmq.Context.shadow(ctx)
    sock = shadow.socket(zmq.PUB)
    assert sock.context is shadow and sock in ctx.sockets
    sock.close()
    del shadow
    gc.collect()
    assert not ctx.closed
    shadow = zmq.Context.shadow(ctx)
    ctx.term()
    with pytest.raises(zmq.ZMQError) as info:
        shadow.socket(zmq.PUB)
    assert info.value.errno == zmq.EFAULT  # libzmq's answer for a terminated context
    with pytest.raises(zmq.ZMQError) as info:
        zmq.Context.shadow(12345)
    assert info.value.errno == zmq.EFAULT


def test_asyncio_context_shadowing_a_blocking_one(ctx) -> None:
    async def main() -> None:
        actx = zaio.Context(ctx)
        assert actx.underlying == ctx.underlying
        pull = actx.socket(zmq.PULL)
        assert isinstance(pull, zaio.Socket)
        pull.bind("inproc://async-shadow")
        push = ctx.socket(zmq.PUSH)
        push.connect("inproc://async-shadow")
        push.send(b"hi")
        assert await pull.recv() == b"hi"
        view = zaio.Socket.from_socket(push)
        await view.send(b"again")
        assert await pull.recv() == b"again"
        actx.destroy(linger=0)  # closes the awaitable sockets first, then everything
        assert push.closed and ctx.closed

    asyncio.run(main())
