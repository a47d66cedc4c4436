"""``zreactor.log``: PUBHandler publishes ``[topic, text]``; TopicLogger carries subtopics."""

from __future__ import annotations

import logging

import pytest

import zreactor as zmq
from zreactor.log.handlers import PUBHandler, TopicLogger

pytestmark = pytest.mark.timeout(30)


def recv(sock: zmq.Socket) -> list[bytes]:
    assert zmq.select([sock], [], [], 5)[0], "nothing published"
    return sock.recv_multipart()


@pytest.fixture
def pub_sub(ctx: zmq.Context):
    pub = ctx.socket(zmq.PUB)
    pub.bind("inproc://log")
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect("inproc://log")
    yield pub, sub


def test_topics_levels_subtopics_and_formatters(pub_sub) -> None:
    pub, sub = pub_sub
    handler = PUBHandler(pub, root_topic=b"app")
    assert handler.root_topic == "app" and handler.ctx is pub.context
    logger = logging.getLogger("zreactor-test-log")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        logger.info("plain")
        assert recv(sub) == [b"app.INFO", b"plain\n"]
        logger.warning("db.pool::lost %s", "conn")
        topic, text = recv(sub)
        assert topic == b"app.WARNING.db.pool" and text.endswith(b"- lost conn\n")
        handler.setFormatter(logging.Formatter("<%(message)s>"), logging.INFO)
        handler.root_topic = ""
        logger.info("ünï")
        assert recv(sub) == [b"INFO", "<ünï>".encode()]
    finally:
        logger.removeHandler(handler)


def test_handler_binds_its_own_socket_and_topic_logger(ctx: zmq.Context) -> None:
    handler = PUBHandler("inproc://log-own", ctx)
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect("inproc://log-own")
    logger = TopicLogger("zreactor-topic-logger")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    logger.error("disk", "full at %d%%", 99)
    topic, text = recv(sub)
    assert topic == b"ERROR.disk" and b"full at 99%" in text
    handler.socket.close(linger=0)
