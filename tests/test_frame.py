"""Frames and message trackers: pyzmq's Frame/Message/MessageTracker shapes and semantics."""

from __future__ import annotations

import copy
import gc
import time

import pytest

import zreactor as zmq


def _wait_done(tracker: zmq.MessageTracker, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not tracker.done and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.02)
    return tracker.done


@pytest.fixture
def pair():
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    a.bind("inproc://frames")
    b.connect("inproc://frames")
    yield a, b
    ctx.destroy(linger=0)


def test_frame_shape() -> None:
    frame = zmq.Frame(b"hello")
    assert frame.bytes == b"hello" and len(frame) == 5 and bytes(frame) == b"hello"
    assert frame.buffer is frame.buffer and frame.buffer.tobytes() == b"hello"
    assert not frame.more and frame.get(zmq.MORE) == 0 and frame[zmq.MORE] == 0
    assert frame.tracker is None and not frame.closed
    assert zmq.Message is zmq.Frame
    assert zmq.Frame(bytearray(b"ab")).bytes == b"ab"
    assert copy.copy(frame).bytes == b"hello"


def test_frame_refuses_what_pyzmq_refuses() -> None:
    for bad in ("str", 5, object()):
        with pytest.raises(TypeError):
            zmq.Frame(bad)
    with pytest.raises(BufferError):
        zmq.Frame(memoryview(bytearray(10))[::2])
    with pytest.raises(zmq.ZMQError):
        zmq.Frame(b"x").get(99)
    assert zmq.Frame(b"x").get("User-Id") is None  # no metadata on a frame made here


def test_frame_repr_is_pyzmqs() -> None:
    assert str(zmq.Frame(b"")) == "<zreactor.Frame(b'')>"
    assert str(zmq.Frame(b"x" * 20)) == "<zreactor.Frame(b'xxxxxxxxxxxx'...20B)>"
    assert str(zmq.Frame(b"x" * 2000)) == "<zreactor.Frame(b'xxxxxxxxxxxx'...2kB)>"
    assert str(zmq.Frame(b"x" * 2_000_000)) == "<zreactor.Frame(b'xxxxxxxxxxxx'...2MB)>"


def test_received_frames_know_more(pair) -> None:
    a, b = pair
    a.send_multipart([b"hi", b"there"])
    first = b.recv(copy=False)
    assert first.more and first.get(zmq.MORE) == 1
    second = b.recv(copy=False)
    assert not second.more and second.get(zmq.MORE) == 0
    a.send_multipart([b"1", b"2"])
    frames = b.recv_multipart(copy=False)
    assert [f.more for f in frames] == [True, False]


def test_copied_send_reports_done_at_once(pair) -> None:
    a, b = pair
    tracker = a.send(b"small", copy=False, track=True)
    assert isinstance(tracker, zmq.MessageTracker) and tracker.done
    assert a.send(b"copied", track=True).done
    b.recv(), b.recv()


def test_tracker_is_done_when_the_message_is_delivered(pair) -> None:
    a, b = pair
    a.copy_threshold = 0
    tracker = a.send_multipart([b"queued", b"message"], copy=False, track=True)
    assert not tracker.done  # still in the pipe: zreactor holds it
    with pytest.raises(zmq.NotDone):
        tracker.wait(0.05)
    assert b.recv_multipart() == [b"queued", b"message"]
    assert _wait_done(tracker)
    tracker.wait(0)  # done: returns at once


def test_tracked_frame_is_done_when_freed_and_delivered(pair) -> None:
    a, b = pair
    frame = zmq.Frame(b"again", copy=False, track=True)
    assert not frame.tracker.done
    sent1 = a.send(frame, copy=False)
    sent2 = a.send(frame, copy=False)
    assert b.recv() == b"again" and b.recv() == b"again"
    assert not sent1.done and not sent2.done  # the frame itself is still alive
    both = zmq.MessageTracker(frame)
    del frame
    assert _wait_done(sent1) and _wait_done(sent2) and _wait_done(both)
    with pytest.raises(ValueError):
        a.send(zmq.Frame(b"untracked"), copy=False, track=True)
    with pytest.raises(ValueError):
        zmq.MessageTracker(zmq.Frame(b"untracked"))
    with pytest.raises(TypeError):
        zmq.MessageTracker("nope")


def test_frame_exports_a_writable_buffer() -> None:
    frame = zmq.Frame(b"abcdef")
    view = memoryview(frame)
    assert not view.readonly and view.ndim == 1 and view.shape == (6,) and view.format == "B"
    assert frame.buffer.tobytes() == b"abcdef" and not frame.buffer.readonly
    assert zmq.Frame().bytes == b"" and len(zmq.Frame(None)) == 0


def test_bytes_is_a_snapshot_and_send_sends_the_current_content(pair) -> None:
    a, b = pair
    data = b"x" * 40
    frame = zmq.Frame(data)
    snapshot = frame.bytes
    assert snapshot == data and snapshot is not data and frame.bytes is snapshot
    frame.buffer[0:1] = b"y"  # pyzmq's frames are writable memory too
    assert frame.bytes is snapshot and bytes(frame) == b"y" + b"x" * 39
    a.send(frame, copy=False)
    assert b.recv() == b"y" + b"x" * 39


def test_received_frame_is_writable_and_its_bytes_are_the_wire_bytes(pair) -> None:
    a, b = pair
    a.send(b"\0" * 64)
    frame = b.recv(copy=False)
    assert type(frame.bytes) is bytes and frame.bytes == b"\0" * 64
    view = memoryview(frame)
    view[0] = 0xFF
    assert bytes(frame)[0] == 0xFF and frame.bytes == b"\0" * 64


def test_frame_works_with_numpy(pair) -> None:
    numpy = pytest.importorskip("numpy")
    a, b = pair
    array = numpy.arange(12, dtype=">i4").reshape(3, 4)
    a.send(array, copy=False)
    got = numpy.frombuffer(b.recv(copy=False), array.dtype).reshape(array.shape)
    assert (got == array).all()


def test_copied_tracked_frame_is_done_at_once() -> None:
    assert zmq.Frame(b"small", track=True).tracker.done  # pyzmq: copied, nothing held
    assert zmq.Frame(b"big", copy=True, track=True).tracker.done
    assert not zmq.Frame(b"small", copy=False, track=True).tracker.done
    assert not zmq.Frame(b"x" * 70000, track=True).tracker.done  # past COPY_THRESHOLD


def test_tracked_router_message_is_done_only_when_the_peer_reads_it() -> None:
    ctx = zmq.Context()
    try:
        router, dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
        router.bind("inproc://tracked-router")
        dealer.routing_id = b"D"
        dealer.connect("inproc://tracked-router")
        dealer.send(b"hello")
        assert router.recv_multipart() == [b"D", b"hello"]
        router.copy_threshold = 0
        tracker = router.send_multipart([b"D", b"reply"], copy=False, track=True)
        gc.collect()
        assert not tracker.done  # ROUTER stripped the routing id in place: still queued
        assert dealer.recv() == b"reply"
        assert _wait_done(tracker)
    finally:
        ctx.destroy(linger=0)
