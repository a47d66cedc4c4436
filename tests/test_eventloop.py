"""zreactor.eventloop: ZMQStream callbacks, tornado-future sockets, the ioloop shim.

Each test drives a tornado IOLoop (tornado 6 runs on asyncio) over loopback tcp or inproc.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import warnings
from typing import Any, Awaitable, Callable

import pytest

tornado = pytest.importorskip("tornado")

from tornado.ioloop import IOLoop  # noqa: E402

import zreactor as zmq  # noqa: E402
import zreactor.asyncio as zaio  # noqa: E402
from zreactor.eventloop import future, zmqstream  # noqa: E402

pytestmark = pytest.mark.timeout(30)


def run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``coro_fn()`` on a fresh asyncio loop with its tornado IOLoop current."""

    async def main() -> Any:
        IOLoop.current()  # the AsyncIOLoop wrapping this loop
        return await asyncio.wait_for(coro_fn(), 20)

    return asyncio.run(main())


@pytest.fixture
def ctx() -> Any:
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def streams(ctx: Any, type1: int = zmq.PUSH, type2: int = zmq.PULL) -> tuple[Any, Any]:
    a = ctx.socket(type1, linger=0)
    port = a.bind_to_random_port("tcp://127.0.0.1")
    b = ctx.socket(type2, linger=0)
    b.connect(f"tcp://127.0.0.1:{port}")
    return zmqstream.ZMQStream(a), zmqstream.ZMQStream(b)


def test_tornado_is_imported_only_by_eventloop() -> None:
    code = ("import sys, zreactor, zreactor.asyncio; assert 'tornado' not in sys.modules; "
            "import zreactor.eventloop.zmqstream; assert 'tornado' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=20)


def test_stream_burst_in_order_with_send_callbacks(ctx: Any) -> None:
    async def main() -> None:
        push, pull = streams(ctx)
        received: list[list[bytes]] = []
        sent: list[Any] = []
        done = asyncio.get_running_loop().create_future()

        def on_recv(msg: list[bytes]) -> None:
            received.append(msg)
            if len(received) == 200:
                done.set_result(None)

        pull.on_recv(on_recv)
        push.on_send(lambda msg, status: sent.append((msg, status)))
        for i in range(200):
            push.send_multipart([b"%d" % i, b"tail"])
        await done
        assert received == [[b"%d" % i, b"tail"] for i in range(200)]
        assert [m for m, _ in sent] == [[b"%d" % i, b"tail"] for i in range(200)]
        assert not push.sending() and pull.receiving()
        push.close()
        pull.close()

    run(main)


def test_stream_wakes_for_a_late_message_and_stream_callbacks(ctx: Any) -> None:
    async def main() -> None:
        push, pull = streams(ctx, zmq.DEALER, zmq.ROUTER)
        got = asyncio.get_running_loop().create_future()
        pull.on_recv_stream(lambda stream, msg: got.set_result((stream, msg)))
        await asyncio.sleep(0.2)  # the stream is idle, waiting on the fd
        push.send_string("late")
        stream, msg = await got
        assert stream is pull and msg[1:] == [b"late"]
        frames = asyncio.get_running_loop().create_future()
        pull.on_recv(frames.set_result, copy=False)
        push.send_json({"k": 1})
        (ident, body) = await frames
        assert isinstance(body, zmq.Frame) and body.bytes == b'{"k": 1}'
        push.close()
        pull.close()

    run(main)


def test_coroutine_callback_and_its_error_is_logged(ctx: Any, caplog: Any) -> None:
    async def main() -> None:
        push, pull = streams(ctx)
        seen = asyncio.get_running_loop().create_future()

        async def callback(msg: list[bytes]) -> None:
            await asyncio.sleep(0.01)
            seen.set_result(msg)
            raise ZeroDivisionError

        pull.on_recv(callback)
        with caplog.at_level(logging.ERROR, logger=zmqstream.gen_log.name):
            push.send(b"x")
            assert await seen == [b"x"]
            await asyncio.sleep(0.1)
        assert "Uncaught exception in ZMQStream callback" in caplog.text
        push.close()
        pull.close()

    run(main)


def test_flush_bypasses_the_loop(ctx: Any) -> None:
    async def main() -> None:
        pull = zmqstream.ZMQStream(ctx.socket(zmq.PULL))
        pull.bind("inproc://flush")
        push = zmqstream.ZMQStream(ctx.socket(zmq.PUSH))
        push.connect("inproc://flush")  # inproc: the pipe exists at once
        for i in range(5):
            push.send(b"%d" % i)
        assert push.flush() == 5 and not push.sending()  # sent now, not on a later pass
        got: list[list[bytes]] = []
        pull.on_recv(got.append)
        for _ in range(100):
            if pull.flush(zmq.POLLIN) == 0 and len(got) == 5:
                break
            await asyncio.sleep(0.01)
        assert got == [[b"%d" % i] for i in range(5)]
        push.close()
        pull.close()

    run(main)


def test_close_callback_and_a_socket_closed_behind_the_stream(ctx: Any, caplog: Any) -> None:
    async def main() -> None:
        push, pull = streams(ctx)
        closed: list[bool] = []
        push.set_close_callback(lambda: closed.append(True))
        push.close()
        assert closed == [True] and push.closed() and push.socket is None
        with pytest.raises(OSError):
            push.on_recv(print)
        sock = pull.socket
        pull.on_recv(print)
        sock.close()
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always")
            pull._handle_events(None, 0)  # the pass the loop would make
        assert pull.closed()
        assert "after closing socket" in "\n".join(str(r.message) for r in records)

    with caplog.at_level(logging.WARNING, logger=zmqstream.gen_log.name):
        run(main)
    assert "closed socket" in caplog.text


def test_stream_over_an_awaitable_socket_uses_its_blocking_socket() -> None:
    actx = zaio.Context()

    async def main() -> None:
        sock = actx.socket(zmq.PUSH)
        with pytest.warns(RuntimeWarning):
            stream = zmqstream.ZMQStream(sock)
        assert type(stream.socket) is zmq.Socket and stream.socket._shadow_obj is sock._shadow_sock
        assert stream.socket.underlying == sock.underlying
        stream.close()

    run(main)
    actx.term()


def test_future_sockets() -> None:
    fctx = future.Context()

    async def main() -> None:
        a = fctx.socket(zmq.PUSH, linger=0)
        port = a.bind_to_random_port("tcp://127.0.0.1")
        b = fctx.socket(zmq.PULL, linger=0)
        b.connect(f"tcp://127.0.0.1:{port}")
        assert isinstance(a, future.Socket)
        f1, f2 = b.recv(), b.recv_multipart()
        assert f1.cancel() and f1.cancelled()
        await a.send_multipart([b"hi", b"there"])
        assert await f2 == [b"hi", b"there"]
        decoded = b.recv_json()
        decoded.cancel()
        await asyncio.sleep(0)
        await a.send_json({"a": 5})
        with pytest.raises(future.CancelledError):
            await decoded
        assert await b.poll(timeout=5000) == zmq.POLLIN
        assert await b.recv_json() == {"a": 5}
        done = b.poll(timeout=0)
        assert done.done() and done.result() == 0
        b.rcvtimeo = 50
        with pytest.raises(zmq.Again):
            await b.recv()
        poller = future.Poller()
        poller.register(b, zmq.POLLIN)
        waiting = poller.poll(5000)
        await a.send(b"p")
        assert await waiting == [(b, zmq.POLLIN)]
        a.close()
        b.close()

    run(main)
    fctx.term()


def test_future_socket_closed_by_ioloop_close_all_fds() -> None:
    fctx = future.Context()
    loop = IOLoop(make_current=False)
    sock = fctx.socket(zmq.PUB)

    async def attach() -> None:
        sock._get_loop()

    loop.run_sync(attach)
    loop.close(all_fds=True)
    assert sock.closed
    fctx.term()


def test_ioloop_shim() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from zreactor.eventloop import ioloop
    assert ioloop.IOLoop is IOLoop and ioloop.ZMQIOLoop is IOLoop
    with pytest.warns(DeprecationWarning):
        ioloop.install()


def test_on_recv_after_the_messages_arrived(ctx: Any) -> None:
    async def main() -> None:
        pull = zmqstream.ZMQStream(ctx.socket(zmq.PULL))
        pull.bind("inproc://early")
        push = ctx.socket(zmq.PUSH)
        push.connect("inproc://early")
        for i in range(3):
            push.send(b"%d" % i)
        await asyncio.sleep(0.05)
        # reading EVENTS runs the socket's commands: the wake-up fd is clear from here on
        assert pull.socket.getsockopt(zmq.EVENTS) & zmq.POLLIN
        got: list[list[bytes]] = []
        pull.on_recv(got.append)  # no new wake-up will come: the stream must look itself
        for _ in range(100):
            if len(got) == 3:
                break
            await asyncio.sleep(0.01)
        assert got == [[b"0"], [b"1"], [b"2"]]
        push.close()
        pull.close()

    run(main)


def test_stream_closes_its_socket_when_the_context_terminates(caplog: Any) -> None:
    ctx = zmq.Context()

    async def main() -> None:
        stream = zmqstream.ZMQStream(ctx.socket(zmq.PULL))
        stream.bind("inproc://term")
        stream.on_recv(print)
        closed = asyncio.get_running_loop().create_future()
        stream.set_close_callback(lambda: closed.set_result(True))
        terminating = asyncio.get_running_loop().run_in_executor(None, ctx.term)
        assert await asyncio.wait_for(closed, 10)
        await asyncio.wait_for(terminating, 10)  # term() returned: nothing left open

    with caplog.at_level(logging.WARNING, logger=zmqstream.gen_log.name):
        run(main)
    assert "terminating context" in caplog.text
