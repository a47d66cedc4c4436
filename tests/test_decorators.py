"""``zreactor.decorators``: a Context or socket per call, closed when the call ends."""

from __future__ import annotations

import pytest

import zreactor as zmq
from zreactor.decorators import context, socket

pytestmark = pytest.mark.timeout(30)


def test_context_is_appended_or_named_and_terminated_after_the_call() -> None:
    seen: list[zmq.Context] = []

    @context()
    def positional(a: int, ctx: zmq.Context) -> int:
        seen.append(ctx)
        return a + 1

    @context("c", io_threads=2)
    def named(*, c: zmq.Context) -> None:
        seen.append(c)
        assert c.get(zmq.IO_THREADS) == 2

    assert positional(41) == 42
    named()
    assert len(seen) == 2 and seen[0] is not seen[1]
    assert all(ctx.closed for ctx in seen)


def test_socket_shares_the_decorated_context_and_closes_first() -> None:
    @context()
    @socket(zmq.PUSH)
    @socket("pull", zmq.PULL)
    def work(ctx: zmq.Context, push: zmq.Socket, *, pull: zmq.Socket) -> tuple:
        assert push.context is ctx and pull.context is ctx
        pull.bind("inproc://decorated")
        push.connect("inproc://decorated")
        push.send(b"hi")
        assert pull.recv() == b"hi"
        return push, pull, ctx

    push, pull, ctx = work()
    assert push.closed and pull.closed and ctx.closed


def test_socket_context_from_keyword_and_default_instance() -> None:
    with zmq.Context() as ctx:
        @socket(zmq.PAIR)
        def on_keyword(s: zmq.Socket, context: zmq.Context) -> zmq.Context:
            return s.context

        assert on_keyword(context=ctx) is ctx

        @socket(zmq.PAIR, context_name="c")
        def on_custom(s: zmq.Socket, c: zmq.Context) -> zmq.Context:
            return s.context

        assert on_custom(c=ctx) is ctx

    @socket(zmq.PAIR)
    def on_instance(s: zmq.Socket) -> zmq.Context:
        return s.context

    try:
        assert on_instance() is zmq.Context.instance()
    finally:
        zmq.Context.instance().term()


def test_passing_the_named_argument_twice_is_a_type_error() -> None:
    @context("ctx")
    def f(ctx: zmq.Context) -> None:
        raise AssertionError("not reached")

    with pytest.raises(TypeError, match="multiple values for argument 'ctx'"):
        f(ctx="mine")


def test_the_socket_is_closed_when_the_function_raises() -> None:
    kept: list[zmq.Socket] = []

    @context()
    @socket(zmq.PAIR)
    def boom(ctx: zmq.Context, s: zmq.Socket) -> None:
        kept.append(s)
        raise ValueError("boom")

    with pytest.raises(ValueError):
        boom()
    assert kept[0].closed
