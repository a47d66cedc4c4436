"""Behaviour tests for PUSH and PULL (RFC 30), through the public API.

Round-robin out, fair-queue in, and the mute state blocks: never a message lost. Over inproc
the HWMs of the two ends add up (libzmq), so a PUSH with ``sndhwm=2`` to a PULL with
``rcvhwm=3`` can have exactly 5 messages in flight.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from typing import Any

import pytest
from socket_env import TIMEOUT_MS, Env, env_fixtures, errno_of, seconds_until_again

import zreactor as zmq

pytestmark = pytest.mark.timeout(30)


env, tenv = env_fixtures("pipeline")


def drain(sock: Any) -> list[bytes]:
    """Every message ``sock`` can receive right now."""
    got = []
    while sock.poll(50):
        got.append(sock.recv())
    return got


def test_push_round_robins_over_three_pulls(tenv: Env) -> None:
    push = tenv.socket(zmq.PUSH)
    addr = tenv.bind(push)
    pulls = [tenv.socket(zmq.PULL) for _ in range(3)]
    for pull in pulls:
        pull.connect(addr)
    tenv.settle()
    for n in range(30):
        push.send(b"%d" % n)
    shares = [[int(pull.recv()) for _ in range(10)] for pull in pulls]
    assert sorted(itertools.chain(*shares)) == list(range(30))
    for share in shares:  # each got every third message, in order
        assert [b - a for a, b in zip(share, share[1:])] == [3] * 9
    assert all(drain(pull) == [] for pull in pulls)


def test_pull_fair_queues_three_pushes(tenv: Env) -> None:
    pull = tenv.socket(zmq.PULL)
    addr = tenv.bind(pull)
    pushes = [tenv.socket(zmq.PUSH) for _ in range(3)]
    for index, push in enumerate(pushes):
        push.connect(addr)
    tenv.settle()
    for index, push in enumerate(pushes):
        for n in range(5):
            push.send_multipart([b"%d" % index, b"%d" % n])
    pull.poll(TIMEOUT_MS)
    tenv.settle()
    got = [pull.recv_multipart() for _ in range(15)]
    # every producer's messages arrive in order...
    for index in range(3):
        assert [m[1] for m in got if m[0] == b"%d" % index] == [b"%d" % n for n in range(5)]
    # ...and interleaved: each round of three holds one message from each producer
    for start in range(0, 15, 3):
        assert {m[0] for m in got[start:start + 3]} == {b"0", b"1", b"2"}


@pytest.mark.parametrize("bind_first", [True, False], ids=["bind-connect", "connect-bind"])
def test_inproc_bind_and_connect_in_either_order(env: Env, bind_first: bool) -> None:
    push, pull = env.socket(zmq.PUSH), env.socket(zmq.PULL)
    if bind_first:
        pull.bind("inproc://either")
        push.connect("inproc://either")
        push.send(b"hello")
    else:
        push.connect("inproc://either")
        push.send(b"queued before the bind")  # waits in the pipe for the binder
        pull.bind("inproc://either")
    assert pull.recv() in (b"hello", b"queued before the bind")


@pytest.mark.parametrize("bind_first", [True, False], ids=["bind-connect", "connect-bind"])
def test_inproc_hwms_add_up_and_the_mute_push_blocks(env: Env, bind_first: bool) -> None:
    push, pull = env.socket(zmq.PUSH, sndhwm=2), env.socket(zmq.PULL, rcvhwm=3)
    if bind_first:
        pull.bind("inproc://sum")
        push.connect("inproc://sum")
    else:
        push.connect("inproc://sum")
        pull.bind("inproc://sum")
    for n in range(5):
        push.send(b"%d" % n, zmq.DONTWAIT)
    with pytest.raises(zmq.Again):
        push.send(b"one too many", zmq.DONTWAIT)
    push.sndtimeo = 100
    assert 0.09 < seconds_until_again(lambda: push.send(b"one too many")) < 1.5
    assert not push.poll(0, zmq.POLLOUT)
    # nothing was dropped: the five arrive in order, and reading makes room again
    assert [pull.recv() for _ in range(5)] == [b"%d" % n for n in range(5)]
    assert push.poll(TIMEOUT_MS, zmq.POLLOUT) == zmq.POLLOUT
    push.send(b"room again", zmq.DONTWAIT)
    assert pull.recv() == b"room again"


def test_blocked_push_resumes_when_the_reader_catches_up(env: Env) -> None:
    push, pull = env.socket(zmq.PUSH, sndhwm=1), env.socket(zmq.PULL, rcvhwm=1)
    pull.bind("inproc://resume")
    push.connect("inproc://resume")
    sent: list[int] = []

    def producer() -> None:  # the PUSH belongs to this thread until it is joined
        for n in range(50):
            push.send(b"%d" % n)  # blocks whenever two are in flight
            sent.append(n)

    thread = threading.Thread(target=producer)
    thread.start()
    time.sleep(0.1)
    assert len(sent) <= 3  # stuck on the HWM, not dropping
    received = [int(pull.recv()) for _ in range(50)]
    thread.join(5)
    assert received == list(range(50)) and sent == list(range(50))


def test_push_skips_a_full_peer(env: Env) -> None:
    push = env.socket(zmq.PUSH, sndhwm=1)
    push.bind("inproc://skip")
    slow, fast = env.socket(zmq.PULL, rcvhwm=1), env.socket(zmq.PULL, rcvhwm=1)
    slow.connect("inproc://skip")
    fast.connect("inproc://skip")
    for n in range(4):  # two each: both pipes are now full
        push.send(b"%d" % n, zmq.DONTWAIT)
    with pytest.raises(zmq.Again):
        push.send(b"x", zmq.DONTWAIT)
    assert [fast.recv(), fast.recv()] == [b"1", b"3"]
    # only the fast peer has room: everything goes there until the slow one reads
    assert push.poll(TIMEOUT_MS, zmq.POLLOUT)
    push.send(b"4", zmq.DONTWAIT)
    push.send(b"5", zmq.DONTWAIT)
    assert [fast.recv(), fast.recv()] == [b"4", b"5"]
    assert [slow.recv(), slow.recv()] == [b"0", b"2"]


def test_push_without_peers_blocks_until_one_connects(env: Env) -> None:
    push = env.socket(zmq.PUSH)
    push.bind("inproc://lonely")
    with pytest.raises(zmq.Again):
        push.send(b"nobody", zmq.DONTWAIT)
    assert push.poll(0, zmq.POLLOUT) == 0
    pull = env.socket(zmq.PULL)

    def late_peer() -> None:
        time.sleep(0.1)
        pull.connect("inproc://lonely")

    thread = threading.Thread(target=late_peer)
    thread.start()
    started = time.monotonic()
    push.send(b"at last")  # blocks until the peer arrives
    assert time.monotonic() - started > 0.05
    thread.join(5)
    assert pull.recv() == b"at last"


def test_pull_without_peers_times_out(env: Env) -> None:
    pull = env.socket(zmq.PULL, rcvtimeo=100)
    pull.bind("inproc://quiet")
    assert 0.09 < seconds_until_again(pull.recv) < 1.5


def test_queued_messages_survive_the_senders_close(env: Env) -> None:
    pull = env.socket(zmq.PULL)
    pull.bind("inproc://linger")
    push = env.socket(zmq.PUSH)
    push.connect("inproc://linger")
    for n in range(5):
        push.send_multipart([b"part", b"%d" % n])
    push.close(linger=0)  # inproc: the reader still gets what was queued
    assert [pull.recv_multipart()[1] for _ in range(5)] == [b"%d" % n for n in range(5)]
    with pytest.raises(zmq.Again):
        pull.recv(zmq.DONTWAIT)


def test_a_pull_reading_ahead_still_reports_what_it_holds(tenv: Env) -> None:
    """With one peer a PULL takes a batch per pipe read (READ_AHEAD); what it took counts
    for poll() and EVENTS, arrives in order, and ends with Again, not a hang."""
    pull = tenv.socket(zmq.PULL)
    addr = tenv.bind(pull)
    push = tenv.socket(zmq.PUSH)
    push.connect(addr)
    tenv.settle()
    for n in range(10):
        push.send(b"%d" % n)
    assert pull.poll(TIMEOUT_MS)
    tenv.settle()  # all ten in the pipe: the first recv takes them all
    got = [pull.recv()]
    while len(got) < 10:
        assert pull.poll(0) == zmq.POLLIN  # the pipe is empty; the socket is not
        assert pull.getsockopt(zmq.EVENTS) & zmq.POLLIN
        got.append(pull.recv(zmq.DONTWAIT))
    assert got == [b"%d" % n for n in range(10)]
    assert pull.poll(0) == 0
    with pytest.raises(zmq.Again):
        pull.recv(zmq.DONTWAIT)


def test_messages_read_ahead_survive_the_senders_close(env: Env) -> None:
    pull = env.socket(zmq.PULL)
    pull.bind("inproc://ahead")
    push = env.socket(zmq.PUSH)
    push.connect("inproc://ahead")
    for n in range(100):
        push.send(b"%d" % n)
    assert pull.recv() == b"0"  # takes a batch ahead
    push.close(linger=0)
    assert [pull.recv() for _ in range(99)] == [b"%d" % n for n in range(1, 100)]
    with pytest.raises(zmq.Again):
        pull.recv(zmq.DONTWAIT)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_a_departed_reader_is_reaped_while_the_writer_lives(env: Env) -> None:
    """PUSH never reads, so a closing PULL must not wait for it to read a delimiter.

    (libzmq's ``set_nodelay``.) Otherwise the PULL, its mailbox fd included, would stay
    half-closed for as long as the PUSH lives.
    """
    push = env.socket(zmq.PUSH)
    push.bind("inproc://gone")
    fds_before = len(os.listdir("/proc/self/fd"))
    pull = env.ctx.socket(zmq.PULL)
    pull.connect("inproc://gone")
    push.send(b"never read")
    pull.close()
    deadline = time.monotonic() + 2
    while len(os.listdir("/proc/self/fd")) > fds_before:
        assert time.monotonic() < deadline, "the closed PULL was never reaped"
        push.poll(10, zmq.POLLOUT)  # runs the PUSH's commands (the pipe's termination)
    with pytest.raises(zmq.Again):  # with its only peer gone, the PUSH is mute again
        push.send(b"x", zmq.DONTWAIT)


def test_wrong_directions_are_not_supported(env: Env) -> None:
    push, pull = env.socket(zmq.PUSH), env.socket(zmq.PULL)
    assert errno_of(lambda: push.recv(zmq.DONTWAIT)) == zmq.ENOTSUP
    assert errno_of(lambda: pull.send(b"x", zmq.DONTWAIT)) == zmq.ENOTSUP
    assert pull.poll(0, zmq.POLLOUT) == 0 and push.poll(0, zmq.POLLIN) == 0
