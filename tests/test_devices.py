"""``zreactor.devices`` and ``proxy_steerable``: background devices that make their own
sockets, a steerable proxy, and ``monitored_queue``'s prefixes and ROUTER id swap."""

from __future__ import annotations

import struct
import threading
import time

import pytest

import zreactor as zmq
from zreactor import devices

pytestmark = pytest.mark.timeout(30)
IFACE = "tcp://127.0.0.1"


def recv(sock: zmq.Socket, multipart: bool = False) -> object:
    assert zmq.select([sock], [], [], 5)[0], "nothing arrived"
    return sock.recv_multipart() if multipart else sock.recv()


@pytest.fixture
def ctx():
    """``Context.instance()``, which the devices share; afterwards every device is ended.

    A device's sockets belong to its thread, so they are not closed from here (a socket is
    not thread-safe, and a poll blocked on a socket another thread closed never wakes).
    ``term()`` runs in the background instead: it wakes each device's poll with
    ``ContextTerminated`` and the device closes its own sockets and ends; then the test's own
    sockets, whose thread is this one, are closed and ``term()`` completes.
    """
    before = set(threading.enumerate())
    context = zmq.Context.instance()
    yield context
    devices_threads = [t for t in threading.enumerate()
                       if t not in before and not t.name.startswith("zreactor")]
    terminating = threading.Thread(target=context.term)
    terminating.start()
    for thread in devices_threads:
        thread.join(5)
        assert not thread.is_alive(), f"device thread {thread.name} did not end with the context"
    for sock in context.sockets:
        sock.close(linger=0)
    terminating.join(5)
    assert not terminating.is_alive(), "term() did not complete"


def test_thread_proxy_forwards_and_copies_to_the_monitor(ctx: zmq.Context) -> None:
    dev = devices.ThreadProxy(zmq.PULL, zmq.PUSH, zmq.PUSH)
    port_in = dev.bind_in_to_random_port(IFACE)
    port_out = dev.bind_out_to_random_port(IFACE)
    port_mon = dev.bind_mon_to_random_port(IFACE)
    assert len({port_in, port_out, port_mon}) == 3
    dev.start()
    push, pull, mon = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL), ctx.socket(zmq.PULL)
    push.connect(f"{IFACE}:{port_in}")
    pull.connect(f"{IFACE}:{port_out}")
    mon.connect(f"{IFACE}:{port_mon}")
    push.send(b"hello")
    assert recv(pull) == b"hello"
    assert recv(mon) == b"hello"


def test_single_socket_device_echoes(ctx: zmq.Context) -> None:
    dev = devices.ThreadDevice(zmq.QUEUE, zmq.REP, -1)
    port = dev.bind_in_to_random_port(IFACE)
    dev.start()
    req = ctx.socket(zmq.REQ)
    req.connect(f"{IFACE}:{port}")
    req.send(b"echo")
    assert recv(req) == b"echo"


def test_options_are_set_before_connecting(ctx: zmq.Context) -> None:
    router = ctx.socket(zmq.ROUTER)
    port = router.bind_to_random_port(IFACE)
    dev = devices.ThreadDevice(zmq.QUEUE, zmq.DEALER, zmq.PULL)
    dev.setsockopt_in(zmq.ROUTING_ID, b"dev-1")
    dev.connect_in(f"{IFACE}:{port}")
    port_out = dev.bind_out_to_random_port(IFACE)
    dev.start()
    push = ctx.socket(zmq.PUSH)
    push.connect(f"{IFACE}:{port_out}")
    push.send(b"up")
    assert recv(router, multipart=True) == [b"dev-1", b"up"]


def test_device_stops_cleanly_when_the_context_ends() -> None:
    ctx = zmq.Context.instance()
    dev = devices.ThreadDevice(zmq.QUEUE, zmq.PULL, zmq.PUSH)
    dev.bind_in("inproc://dev-stop-in")
    dev.bind_out("inproc://dev-stop-out")
    dev.start()
    time.sleep(0.1)
    ctx.term()
    dev.join(5)
    assert dev.done and not dev.launcher.is_alive()


def test_random_ports_are_never_reserved_twice() -> None:
    dev = devices.Device(zmq.QUEUE, zmq.PULL, zmq.PUSH)
    ports = set()
    with pytest.raises(zmq.ZMQBindError):
        for _ in range(4):
            ports.add(dev.bind_in_to_random_port(IFACE, min_port=20000, max_port=20003))
    assert len(ports) == 3


def test_missing_socket_types_are_type_errors() -> None:
    with pytest.raises(TypeError):
        devices.Device(zmq.QUEUE, zmq.PULL)


def test_proxy_steerable_pause_resume_statistics_terminate() -> None:
    with zmq.Context() as ctx:
        front, back, ctrl_peer = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH), ctx.socket(zmq.PAIR)
        front.bind("inproc://steer-in")
        back.bind("inproc://steer-out")
        ctrl_peer.bind("inproc://steer-ctrl")
        ctrl = ctx.socket(zmq.PAIR)
        ctrl.connect("inproc://steer-ctrl")
        push, pull = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
        push.connect("inproc://steer-in")
        pull.connect("inproc://steer-out")
        done = threading.Event()

        def run() -> None:
            zmq.proxy_steerable(front, back, None, ctrl)
            done.set()

        worker = threading.Thread(target=run)
        worker.start()
        try:
            push.send_multipart([b"ab", b"cde"])
            assert recv(pull, multipart=True) == [b"ab", b"cde"]
            ctrl_peer.send(b"PAUSE")
            ctrl_peer.send(b"STATISTICS")
            stats = [struct.unpack("=Q", f)[0] for f in recv(ctrl_peer, multipart=True)]
            assert stats == [1, 5, 0, 0, 0, 0, 1, 5]
            push.send(b"held")
            assert zmq.select([pull], [], [], 0.3)[0] == []  # paused: nothing moves
            ctrl_peer.send(b"RESUME")
            assert recv(pull) == b"held"
            ctrl_peer.send(b"TERMINATE")
            assert done.wait(5)
        finally:
            ctrl_peer.send(b"TERMINATE")
            worker.join(5)
            for s in (front, back, ctrl_peer, ctrl, push, pull):
                s.close(linger=0)


def test_a_monitor_that_binds_sees_every_message_from_the_first(ctx: zmq.Context) -> None:
    # pyzmq's test_monqueue shape: the monitor's SUB binds and subscribes before the device's
    # PUB connects, so its subscription leaves only once the SUB takes in its new connection
    # (any call on it). The next monitored message must not be lost to the subscription's
    # trip (pubsub.py, "A subscription made just before a send").
    dev = devices.ThreadMonitoredQueue(zmq.PAIR, zmq.PAIR, zmq.PUB, b"in", b"out")
    dev.context_factory = zmq.Context  # a context (and I/O thread) of its own, as pyzmq's test
    alice, bob, mon = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR), ctx.socket(zmq.SUB)
    try:
        dev.connect_in(f"{IFACE}:{alice.bind_to_random_port(IFACE)}")
        dev.connect_out(f"{IFACE}:{bob.bind_to_random_port(IFACE)}")
        mon_port = mon.bind_to_random_port(IFACE)
        mon.setsockopt(zmq.SUBSCRIBE, b"")
        dev.connect_mon(f"{IFACE}:{mon_port}")
        dev.start()
        deadline = time.monotonic() + 5
        while not mon._pipes:  # (tests look inside) the device's PUB connected to us
            assert time.monotonic() < deadline, "the device never connected to the monitor"
            time.sleep(0.05)  # (lets every loop fall asleep; not a timing assert)
            with pytest.raises(zmq.Again):  # takes the connection in: the subscription
                mon.recv_multipart(zmq.NOBLOCK)  # leaves now
        sent = [[b"hello", b"bob"], [b"hello", b"again"], [b"and", b"again"]]
        for msg in sent:
            alice.send_multipart(msg)
        assert [recv(bob, multipart=True) for _ in sent] == sent
        bob.send_multipart([b"hello", b"alice"])
        assert recv(alice, multipart=True) == [b"hello", b"alice"]
        assert [recv(mon, multipart=True) for _ in range(4)] == [
            [b"in", *msg] for msg in sent] + [[b"out", b"hello", b"alice"]]
    finally:
        for s in (alice, bob, mon):
            s.close(linger=0)
        if dev._context is not None:
            dev._context.term()  # the device's poll ends with ETERM; it closes its sockets
        dev.join(5)
    assert dev.done


def test_monitored_queue_prefixes_and_swaps_router_ids() -> None:
    ctx = zmq.Context()
    try:  # the queue thread owns ins/outs/mon: term() (not destroy()) ends it
        ins, outs, mon = ctx.socket(zmq.ROUTER), ctx.socket(zmq.ROUTER), ctx.socket(zmq.PUB)
        ins.bind("inproc://mq-in")
        outs.bind("inproc://mq-out")
        mon.bind("inproc://mq-mon")
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect("inproc://mq-mon")
        client, worker = ctx.socket(zmq.DEALER), ctx.socket(zmq.DEALER)
        client.setsockopt(zmq.ROUTING_ID, b"client")
        worker.setsockopt(zmq.ROUTING_ID, b"worker")
        client.connect("inproc://mq-in")
        worker.connect("inproc://mq-out")
        stopped: list[BaseException] = []

        def run() -> None:
            try:
                devices.monitored_queue(ins, outs, mon, b"in", b"out")
            except zmq.ContextTerminated as exc:
                stopped.append(exc)
            finally:
                for s in (ins, outs, mon):
                    s.close(linger=0)

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(0.1)
        client.send_multipart([b"worker", b"request"])
        assert recv(worker, multipart=True) == [b"client", b"request"]
        assert recv(sub, multipart=True) == [b"in", b"worker", b"client", b"request"]
        worker.send_multipart([b"client", b"reply"])
        assert recv(client, multipart=True) == [b"worker", b"reply"]
        assert recv(sub, multipart=True) == [b"out", b"client", b"worker", b"reply"]
    finally:
        for s in (sub, client, worker):
            s.close(linger=0)
    ctx.term()  # wakes the queue's poll with ContextTerminated; it closes its sockets
    thread.join(5)
    assert [e.errno for e in stopped] == [zmq.ETERM]
