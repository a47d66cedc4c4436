"""zreactor.asyncio: awaitable sockets on the default selector loop and on uvloop.

Each test runs its coroutine on a fresh loop of each kind (uvloop when it is installed), over
loopback tcp or inproc. Cancellation, close and context termination are tested while a call
is waiting; the idle test measures the process's CPU while futures wait on an idle socket.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import time
from typing import Any, Awaitable, Callable

import pytest

import zreactor as zmq
import zreactor.asyncio as zaio

pytestmark = pytest.mark.timeout(30)

if importlib.util.find_spec("uvloop") is not None:
    import uvloop

    # uvloop opens a process-wide pipe with its first loop; open it before any test counts fds
    uvloop.new_event_loop().close()

LOOPS = ["asyncio", pytest.param("uvloop", marks=pytest.mark.skipif(
    importlib.util.find_spec("uvloop") is None, reason="uvloop is not installed"))]


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[Any]], Any]:
    """Run a coroutine to completion on a new loop of the parametrised kind."""

    def new_loop() -> asyncio.AbstractEventLoop:
        if request.param == "uvloop":
            import uvloop

            return uvloop.new_event_loop()
        return asyncio.new_event_loop()

    def runner(coro: Awaitable[Any]) -> Any:
        loop = new_loop()
        try:
            return loop.run_until_complete(asyncio.wait_for(coro, 20))
        finally:
            loop.close()

    runner.kind = request.param  # type: ignore[attr-defined]
    return runner


@pytest.fixture
def ctx() -> Any:
    context = zaio.Context()
    yield context
    context.destroy(linger=0)


def tcp_pair(ctx: Any, type1: int, type2: int) -> tuple[Any, Any]:
    a = ctx.socket(type1, linger=0)
    port = a.bind_to_random_port("tcp://127.0.0.1")
    b = ctx.socket(type2, linger=0)
    b.connect(f"tcp://127.0.0.1:{port}")
    return a, b


def test_socket_class_and_instance(ctx: Any) -> None:
    sock = ctx.socket(zmq.PUSH)
    assert isinstance(sock, zaio.Socket)
    sock.close()
    actx, plain = zaio.Context.instance(), zmq.Context.instance()
    assert type(actx) is zaio.Context and type(plain) is zmq.Context
    assert zaio.Context.instance() is actx
    actx.term()
    plain.term()


def test_request_reply_tcp(run: Any, ctx: Any) -> None:
    async def main() -> None:
        rep, req = tcp_pair(ctx, zmq.REP, zmq.REQ)

        async def serve() -> None:
            for _ in range(50):
                msg = await rep.recv_multipart()
                await rep.send_multipart([b"re:" + msg[0]])

        server = asyncio.ensure_future(serve())
        for i in range(50):
            await req.send(b"%d" % i)
            assert await req.recv() == b"re:%d" % i
        await server

    run(main())


def test_serializers_and_multipart(run: Any, ctx: Any) -> None:
    async def main() -> None:
        push, pull = tcp_pair(ctx, zmq.PUSH, zmq.PULL)
        f1, f2 = pull.recv(), pull.recv()  # two receives of one two-frame message
        await push.send_multipart([b"hi", b"there"])
        assert await f2 == b"there" and f1.result() == b"hi"
        for send, recv, value in [
            (push.send_json, pull.recv_json, {"a": [1, 2]}),
            (push.send_pyobj, pull.recv_pyobj, {"b", 3}),
            (push.send_string, pull.recv_string, "πøøπ"),
        ]:
            future = recv()
            assert not future.done()
            await send(value)
            assert await future == value
        await push.send_serialized({"k": 1}, lambda m: [repr(m).encode()])
        assert await pull.recv_serialized(lambda frames: frames[0]) == b"{'k': 1}"
        await push.send(b"hello there")
        buf = bytearray(5)
        assert await pull.recv_into(buf) == 11 and buf == b"hello"

    run(main())


def test_cancelled_recv_loses_no_message(run: Any, ctx: Any) -> None:
    async def main() -> None:
        push, pull = tcp_pair(ctx, zmq.PUSH, zmq.PULL)
        first, decoded = pull.recv(), pull.recv_json()
        assert first.cancel() and decoded.cancel()
        await asyncio.sleep(0)
        await push.send_json({"n": 1})
        assert await pull.poll(5000) == zmq.POLLIN
        await asyncio.sleep(0.05)  # a wrongly still-queued receive would take it now
        assert await asyncio.wait_for(pull.recv_json(), 5) == {"n": 1}
        # a task cancelled while waiting, then a message: the next receive gets it
        task = asyncio.ensure_future(pull.recv())
        await asyncio.sleep(0.01)
        task.cancel()
        await push.send(b"kept")
        assert await asyncio.wait_for(pull.recv(), 5) == b"kept"
        assert len(pull._recv_futures) == 0

    run(main())


def test_timeouts(run: Any, ctx: Any) -> None:
    async def main() -> None:
        push, pull = tcp_pair(ctx, zmq.PUSH, zmq.PULL)
        pull.rcvtimeo = 50
        with pytest.raises(zmq.Again):
            await pull.recv()
        with pytest.raises(zmq.Again):
            await pull.recv(zmq.DONTWAIT)
        lonely = ctx.socket(zmq.PUSH, linger=0)
        lonely.sndtimeo = 50
        with pytest.raises(zmq.Again):
            await lonely.send(b"nobody is there")
        with pytest.raises(zmq.Again):
            await lonely.send(b"nobody", zmq.DONTWAIT)
        assert await pull.poll(20) == 0

    run(main())


def test_close_while_awaiting(run: Any, ctx: Any) -> None:
    async def main() -> None:
        push, pull = tcp_pair(ctx, zmq.PUSH, zmq.PULL)
        receiving = pull.recv()
        polling = pull.poll(10_000)
        lonely = ctx.socket(zmq.PUSH, linger=0)
        sending = [lonely.send(b"%d" % i) for i in range(3)]  # no peer: they all wait
        await asyncio.sleep(0.01)
        pull.close()
        lonely.close()
        for _ in range(5):
            await asyncio.sleep(0)
        assert receiving.cancelled() and polling.cancelled()
        assert all(f.cancelled() for f in sending)
        loop = asyncio.get_running_loop()
        if isinstance(loop, asyncio.SelectorEventLoop):  # the fd is no longer watched
            assert pull._fd not in loop._selector.get_map()  # type: ignore[attr-defined]
        with pytest.raises(zmq.ZMQError):
            await pull.recv()

    run(main())


def test_context_term_while_awaiting(run: Any) -> None:
    ctx = zaio.Context()

    async def main() -> None:
        push, pull = tcp_pair(ctx, zmq.PUSH, zmq.PULL)
        receiving = pull.recv_multipart()
        push.close()
        terminator = threading.Thread(target=ctx.term)
        terminator.start()
        with pytest.raises(zmq.ContextTerminated):
            await asyncio.wait_for(receiving, 10)
        with pytest.raises(zmq.ContextTerminated):
            await pull.recv()
        pull.close()
        await asyncio.get_running_loop().run_in_executor(None, terminator.join, 10)
        assert not terminator.is_alive()

    run(main())


def test_blocking_and_async_sockets_in_one_context(run: Any, ctx: Any) -> None:
    async def main() -> None:
        blocking = ctx.socket(zmq.PUSH, socket_class=zmq.Socket)  # a blocking one
        assert not isinstance(blocking, zaio.Socket)
        blocking.bind("inproc://mixed")
        pull = ctx.socket(zmq.PULL)
        pull.connect("inproc://mixed")
        for i in range(100):
            blocking.send(b"%d" % i)  # returns None, does not wait
        assert [await pull.recv() for _ in range(100)] == [b"%d" % i for i in range(100)]
        # an awaitable view of the blocking socket, and the blocking one behind an awaitable
        view = zaio.Socket(blocking)
        assert view.underlying == blocking.underlying and view.type == zmq.PUSH
        await view.send(b"via view")
        assert await pull.recv() == b"via view"
        assert zmq.Socket.shadow(pull.underlying)._shadow_obj is pull._shadow_sock
        again = zaio.Socket.from_socket(zmq.Socket.shadow(view.underlying))
        await again.send(b"shadowed")
        assert await pull.recv() == b"shadowed"
        blocking.close()
        pull.close()

    run(main())


def test_async_socket_and_blocking_socket_in_another_thread(run: Any, ctx: Any) -> None:
    plain = zmq.Context()
    rep = plain.socket(zmq.REP)
    rep.linger = 0
    port = rep.bind_to_random_port("tcp://127.0.0.1")
    rep.rcvtimeo = 10_000

    def serve() -> None:
        for _ in range(30):
            rep.send(rep.recv()[::-1])

    server = threading.Thread(target=serve)
    server.start()

    async def main() -> None:
        req = ctx.socket(zmq.REQ, linger=0)
        req.connect(f"tcp://127.0.0.1:{port}")
        for i in range(30):
            await req.send(b"abc%d" % i)
            assert await req.recv() == (b"abc%d" % i)[::-1]
        req.close()

    try:
        run(main())
    finally:
        server.join(10)
        rep.close()
        plain.term()


def test_send_waits_for_room_in_order(run: Any, ctx: Any) -> None:
    async def main() -> None:
        push = ctx.socket(zmq.PUSH, linger=0, sndhwm=1)
        push.bind("inproc://room")
        pull = ctx.socket(zmq.PULL, rcvhwm=1)
        pull.connect("inproc://room")
        sends = [push.send(b"%d" % i) for i in range(20)]
        await asyncio.sleep(0.01)
        assert not all(f.done() for f in sends)  # the HWMs hold most of them back
        received = [await pull.recv() for _ in range(20)]
        assert received == [b"%d" % i for i in range(20)]
        await asyncio.gather(*sends)

    run(main())


def test_poller_sockets_and_raw_fds(run: Any, ctx: Any) -> None:
    async def main() -> None:
        push, pull = tcp_pair(ctx, zmq.PUSH, zmq.PULL)
        blocking_push = ctx.socket(zmq.PUSH, socket_class=zmq.Socket)
        blocking_pull = ctx.socket(zmq.PULL, socket_class=zmq.Socket)
        blocking_push.bind("inproc://poller")
        blocking_pull.connect("inproc://poller")
        r, w = os.pipe()
        try:
            poller = zaio.Poller()
            poller.register(pull, zmq.POLLIN)
            poller.register(blocking_pull, zmq.POLLIN)
            poller.register(r, zmq.POLLIN)
            assert await poller.poll(10) == []
            waiting = poller.poll(5000)
            await asyncio.sleep(0.01)
            assert not waiting.done()
            await push.send(b"x")
            assert await waiting == [(pull, zmq.POLLIN)]
            await pull.recv()
            blocking_push.send(b"y")
            assert await poller.poll(5000) == [(blocking_pull, zmq.POLLIN)]
            blocking_pull.recv()
            os.write(w, b"z")
            assert await poller.poll(5000) == [(r, zmq.POLLIN)]
        finally:
            os.close(r)
            os.close(w)
            blocking_push.close()
            blocking_pull.close()

    run(main())


def test_loop_after_loop(ctx: Any) -> None:
    push, pull = tcp_pair(ctx, zmq.PUSH, zmq.PULL)

    async def once(i: int) -> None:
        await push.send(b"%d" % i)
        assert await pull.recv() == b"%d" % i

    for i in range(3):
        loop = asyncio.new_event_loop()
        loop.run_until_complete(asyncio.wait_for(once(i), 10))
        loop.close()


def test_idle_waiting_costs_no_cpu(run: Any, ctx: Any) -> None:
    async def main() -> float:
        sockets = [ctx.socket(zmq.PULL, linger=0) for _ in range(50)]
        for i, sock in enumerate(sockets):
            sock.bind(f"inproc://idle-{i}")
        waits = [sock.recv() for sock in sockets]
        await asyncio.sleep(0.05)  # let the registrations settle
        start_cpu, start = time.process_time(), time.monotonic()
        await asyncio.sleep(0.5)
        used = (time.process_time() - start_cpu) / (time.monotonic() - start)
        for f in waits:
            f.cancel()
        for sock in sockets:
            sock.close()
        return used

    # the whole process (the loop, the I/O thread, the reaper) while 50 receives wait
    assert run(main()) < 0.05


def test_replies_are_read_on_the_loops_thread(run: Any, ctx: Any) -> None:
    async def main() -> int:
        rep, req = tcp_pair(ctx, zmq.REP, zmq.REQ)

        async def echo(count: int) -> None:
            for _ in range(count):
                await rep.send(await rep.recv())

        server = asyncio.ensure_future(echo(300))
        for i in range(20):  # warm up: connections up, handshakes done
            await req.send(b"warm-%d" % i)
            assert await req.recv() == b"warm-%d" % i
        before = sum(t.poller.dispatched for t in ctx.io_threads)
        for i in range(280):
            await req.send(b"req-%d" % i)
            assert await req.recv() == b"req-%d" % i
        woken = sum(t.poller.dispatched for t in ctx.io_threads) - before
        await server
        return woken

    # read by the I/O thread, each round trip would wake it at least twice (the request at
    # the REP's engine, the reply at the REQ's); lent to the awaiting sockets, the fds wake
    # the event loop instead
    woken = run(main())
    assert woken < 280, f"the I/O thread woke {woken} times for 280 round trips"


def test_a_peer_hanging_up_while_a_connection_is_lent(run: Any, ctx: Any) -> None:
    async def main() -> tuple[float, float]:
        rep, req = tcp_pair(ctx, zmq.REP, zmq.REQ)
        await req.send(b"ping")
        assert await rep.recv() == b"ping"
        req.rcvtimeo = 1000
        asyncio.get_running_loop().call_later(0.2, rep.close)  # while req's fd is lent
        cpu, start = time.process_time(), time.monotonic()
        with pytest.raises(zmq.Again):
            await req.recv()
        return time.process_time() - cpu, time.monotonic() - start

    cpu, wall = run(main())
    assert wall < 5 and cpu < 0.5 * wall, f"{cpu:.2f} s of CPU in {wall:.2f} s: a spin"


# -- borrowed connections kept across receives (_future.py, *Caller reads*) -------------------


def _shortcut(sock: Any) -> Any:
    """The caller shortcut of an awaitable socket's one tcp connection (tests look inside)."""
    (pipe,) = sock._shadow_sock._pipes
    return pipe.shortcut


def _watched(loop: asyncio.AbstractEventLoop) -> set[int]:
    """The fds a selector loop watches (empty for uvloop, which does not say)."""
    selector = getattr(loop, "_selector", None)
    return set() if selector is None else set(selector.get_map())


async def _receive_through_a_lent_connection(pull: Any, push: Any) -> None:
    """Receive until one message came through ``pull``'s lent connection (not lent while
    the handshake runs, nor when its I/O thread happened to be busy)."""
    for i in range(100):
        await push.send(b"%d" % i)
        assert await pull.recv() == b"%d" % i
        if pull._lent:
            return
    raise AssertionError("no receive was served through a lent connection")


def test_a_borrowed_connection_stays_lent_from_receive_to_receive(run: Any, ctx: Any) -> None:
    async def main() -> tuple[int, int, int]:
        rep, req = tcp_pair(ctx, zmq.REP, zmq.REQ)

        async def echo(count: int) -> None:
            for _ in range(count):
                await rep.send(await rep.recv())

        server = asyncio.ensure_future(echo(300))
        for i in range(20):
            await req.send(b"warm-%d" % i)
            assert await req.recv() == b"warm-%d" % i
        shortcuts = _shortcut(req), _shortcut(rep)
        lends = -sum(s.lends for s in shortcuts)
        reads = -sum(s.reads for s in shortcuts)
        woken = -sum(t.poller.dispatched for t in ctx.io_threads)
        for i in range(280):
            await req.send(b"req-%d" % i)
            assert await req.recv() == b"req-%d" % i
        lends += sum(s.lends for s in shortcuts)
        reads += sum(s.reads for s in shortcuts)
        woken += sum(t.poller.dispatched for t in ctx.io_threads)
        await server
        return lends, reads, woken

    # each coroutine asks for its next message before the loop polls again, so each socket
    # keeps its connection: lent once, not once per receive (560 before), and read here
    lends, reads, woken = run(main())
    assert lends < 56, f"{lends} lends for 560 receives"
    assert reads >= 0.9 * 560, f"{reads} reads on the loop's thread for 560 messages"
    assert woken < 280, f"the I/O thread woke {woken} times for 280 round trips"


def test_a_connection_goes_home_when_nobody_receives(run: Any, ctx: Any) -> None:
    async def main() -> None:
        pull, push = tcp_pair(ctx, zmq.PULL, zmq.PUSH)
        await _receive_through_a_lent_connection(pull, push)
        await asyncio.sleep(0)  # the pass after the receive: nobody asked again
        assert not pull._lent
        # block the loop: only the I/O thread can read the next message now
        await push.send(b"second")
        time.sleep(0.3)
        assert pull.get(zmq.EVENTS) & zmq.POLLIN, "the connection stayed lent to a busy loop"
        assert await pull.recv() == b"second"

    run(main())


def test_close_after_a_receive_unwatches_the_borrowed_connection(run: Any, ctx: Any) -> None:
    async def main() -> None:
        pull, push = tcp_pair(ctx, zmq.PULL, zmq.PUSH)
        await _receive_through_a_lent_connection(pull, push)
        lent = {fd for fd, _ in pull._lent}
        loop = asyncio.get_running_loop()
        if isinstance(loop, asyncio.SelectorEventLoop):
            assert lent <= _watched(loop)  # still lent: nobody asked again yet
        pull.close()
        assert not pull._lent
        assert not (lent | {pull._fd}) & _watched(loop)

    run(main())


def test_cancelling_with_a_connection_lent_loses_nothing(run: Any, ctx: Any) -> None:
    async def main() -> None:
        pull, push = tcp_pair(ctx, zmq.PULL, zmq.PUSH)
        for i in range(20):
            await push.send(b"%d" % i)
            assert await pull.recv() == b"%d" % i
            waiting = pull.recv()  # the connection is still lent: this one waits on it
            await asyncio.sleep(0)
            waiting.cancel()
            await push.send(b"kept-%d" % i)
            assert await asyncio.wait_for(pull.recv(), 5) == b"kept-%d" % i
        assert not pull._recv_futures

    run(main())


def test_a_full_receive_queue_sends_a_borrowed_connection_home(run: Any, ctx: Any) -> None:
    async def main() -> None:
        pull = ctx.socket(zmq.PULL, linger=0, rcvhwm=2)
        port = pull.bind_to_random_port("tcp://127.0.0.1")
        push = ctx.socket(zmq.PUSH, linger=0, socket_class=zmq.Socket)
        push.connect(f"tcp://127.0.0.1:{port}")
        push.send(b"hello")
        assert await pull.recv() == b"hello"
        waiting = pull.recv()  # lent while it waits
        for i in range(500):  # far more than rcvhwm: the engine pauses its reads
            push.send(b"%d" % i)
        got = [await waiting] + [await pull.recv() for _ in range(499)]
        assert got == [b"%d" % i for i in range(500)]

    run(main())


def test_a_connection_ending_while_lent_and_its_successor(run: Any, ctx: Any) -> None:
    async def main() -> None:
        push = ctx.socket(zmq.PUSH, linger=0)
        port = push.bind_to_random_port("tcp://127.0.0.1")
        pull = ctx.socket(zmq.PULL, linger=0)
        pull.connect(f"tcp://127.0.0.1:{port}")
        for generation in range(3):
            await push.send(b"gen-%d" % generation)
            assert await pull.recv() == b"gen-%d" % generation
            waiting = pull.recv()  # its connection is lent; the peer goes away meanwhile
            await asyncio.sleep(0.01)
            push.close()
            await asyncio.sleep(0.05)
            push = ctx.socket(zmq.PUSH, linger=0)  # the same port: pull reconnects
            push.bind(f"tcp://127.0.0.1:{port}")
            await push.send(b"after-%d" % generation)
            assert await asyncio.wait_for(waiting, 10) == b"after-%d" % generation

    run(main())


def test_messages_arriving_in_pieces_on_a_lent_connection(run: Any, ctx: Any) -> None:
    async def main() -> None:
        pull, push = tcp_pair(ctx, zmq.PULL, zmq.PUSH)
        await _receive_through_a_lent_connection(pull, push)
        # each wake-up of the lent fd reads a few chunks: these take several, and the reads
        # before the last bring no whole message (the arrival path finds nothing, Again)
        big = [bytes([i]) * (3 << 20) for i in range(3)]
        waiting = [pull.recv() for _ in big]
        for body in big:
            await push.send(body)
        assert [await f for f in waiting] == big

    run(main())


def test_a_poll_waiting_ahead_of_a_receive_on_a_lent_connection(run: Any, ctx: Any) -> None:
    async def main() -> None:
        pull, push = tcp_pair(ctx, zmq.PULL, zmq.PUSH)
        await _receive_through_a_lent_connection(pull, push)
        polling = pull.poll(5000)
        receiving = pull.recv()
        await asyncio.sleep(0.01)
        await push.send(b"seen by both")
        assert await polling == zmq.POLLIN  # a poll only learns; the receive takes it
        assert await receiving == b"seen by both"

    run(main())
