"""zreactor.utils.garbage: pyzmq's collector of objects lent to zero-copy sends."""

from __future__ import annotations

import struct
import threading

import zreactor as zmq
from zreactor.utils import garbage


def test_zreactor_itself_lends_nothing() -> None:
    ctx = zmq.Context()
    try:
        a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
        a.bind("inproc://gc-lends-nothing")
        b.connect("inproc://gc-lends-nothing")
        a.send(zmq.Frame(bytearray(100_000)), copy=False)
        a.send(memoryview(b"x" * 100_000), copy=False, track=True)
        assert len(b.recv()) == 100_000 and len(b.recv(copy=False)) == 100_000
        assert not garbage.gc.refs  # frames own their memory: nothing to keep alive
    finally:
        ctx.destroy(linger=0)


def test_store_keeps_the_object_until_its_key_comes_back() -> None:
    collector = garbage.GarbageCollector()
    try:
        event = threading.Event()
        lent = bytearray(b"lent")
        key = collector.store(lent, event)
        assert collector.is_alive() and collector.refs[key].obj is lent
        collector.release(key)
        assert event.wait(5)
        assert key not in collector.refs
        # pyzmq's free callback sends the packed key itself, from any socket
        other = collector.store(b"second")
        push = collector.context.socket(zmq.PUSH)
        push.connect(collector.url)
        push.send(struct.pack("Q", other))
        push.close()
        for _ in range(500):
            if other not in collector.refs:
                break
            threading.Event().wait(0.01)
        assert other not in collector.refs
    finally:
        collector.stop()
    assert not collector.is_alive() and not collector.refs
    collector.stop()  # idempotent


def test_a_given_context_is_not_terminated_by_stop() -> None:
    ctx = zmq.Context()
    try:
        collector = garbage.GarbageCollector(ctx)
        collector.store(b"x")
        collector.stop()
        assert not ctx.closed
    finally:
        ctx.term()
