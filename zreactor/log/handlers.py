"""``PUBHandler``: a :mod:`logging` handler that publishes each record on a PUB socket.

Theory of operation
-------------------
Each record becomes one two-frame message, ``[topic, text]``, so subscribers filter by
topic prefix. The topic is ``root_topic.LEVELNAME[.subtopic]`` (the root only when set): a
handler with root ``"app"`` publishes ``app.INFO``, ``app.ERROR.db`` ..., and a subscriber to
``b"app.ERROR"`` gets the errors only. A message written ``"db.pool::connection lost"`` (the
:data:`TOPIC_DELIM` ``::``) carries its own subtopic; the rest is the text. The text is the
record formatted by the formatter for its level (pyzmq's defaults, below), UTF-8 encoded.

Threads: ``logging`` calls ``emit`` on whichever thread logs, and a zreactor socket belongs
to one thread. A handler used from several threads therefore serialises its sends with the
handler's own lock, which :class:`logging.Handler` already holds around ``emit`` (``handle``
takes ``self.lock``); the socket is then used by one thread at a time, which is what the
one-thread rule protects.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from ..constants import SocketType
from ..context import Context
from ..sockets.socket import Socket

__all__ = ["PUBHandler", "TOPIC_DELIM", "TopicLogger"]

#: separates a subtopic from the text in a logged message (``"sub.topic::text"``)
TOPIC_DELIM = "::"

_WITH_PLACE = "%(levelname)s %(filename)s:%(lineno)d - %(message)s\n"


def _default_formatters() -> dict[int, logging.Formatter | None]:
    return {
        logging.DEBUG: logging.Formatter(_WITH_PLACE),
        logging.INFO: logging.Formatter("%(message)s\n"),
        logging.WARNING: logging.Formatter(_WITH_PLACE),
        logging.ERROR: logging.Formatter(
            "%(levelname)s %(filename)s:%(lineno)d - %(message)s - %(exc_info)s\n"),
        logging.CRITICAL: logging.Formatter(_WITH_PLACE),
    }


class PUBHandler(logging.Handler):
    """Publish log records as ``[topic, text]`` on a PUB socket.

    Args:
        interface_or_socket: a PUB socket to publish on (bound or connected already), or an
            endpoint to bind a new PUB socket to.
        context: the context for that new socket (default: a new ``Context()``).
        root_topic: the first part of every topic (``str`` or UTF-8 ``bytes``).
    """

    def __init__(self, interface_or_socket: str | Socket, context: Context | None = None,
                 root_topic: str = "") -> None:
        super().__init__()
        self.root_topic = root_topic
        #: the formatter for each level; :meth:`setFormatter` replaces one or all
        self.formatters = _default_formatters()
        if isinstance(interface_or_socket, Socket):
            self.socket = interface_or_socket
            self.ctx = self.socket.context
        else:
            self.ctx = context or Context()
            self.socket = self.ctx.socket(SocketType.PUB)
            self.socket.bind(interface_or_socket)

    @property
    def root_topic(self) -> str:
        """The topic prefix (``str``; ``bytes`` given are decoded as UTF-8)."""
        return self._root_topic

    @root_topic.setter
    def root_topic(self, value: str | bytes) -> None:
        self.setRootTopic(value)

    def setRootTopic(self, root_topic: str | bytes) -> None:
        """Set :attr:`root_topic` (subscribers must subscribe to a prefix of it, or ``b""``)."""
        self._root_topic = root_topic.decode("utf8") if isinstance(root_topic, bytes) else root_topic

    def setFormatter(self, fmt: logging.Formatter | None, level: int = logging.NOTSET) -> None:
        """Use ``fmt`` for records of ``level``, or for every level when ``level`` is NOTSET."""
        if level == logging.NOTSET:
            for known in self.formatters:
                self.formatters[known] = fmt
        else:
            self.formatters[level] = fmt

    def format(self, record: logging.LogRecord) -> str:
        """The record formatted by its level's formatter."""
        formatter = self.formatters.get(record.levelno) or logging.Formatter()
        return formatter.format(record)

    def emit(self, record: logging.LogRecord) -> None:
        """Publish ``[topic, text]`` (see the module docstring)."""
        head, sep, rest = str(record.msg).partition(TOPIC_DELIM)
        subtopic = ""
        if sep:
            subtopic = head
            record = copy.copy(record)  # never change the record other handlers see
            record.msg = rest
        try:
            text = self.format(record).encode("utf8")
        except Exception:
            self.handleError(record)
            return
        parts = [p for p in (self.root_topic, record.levelname, subtopic) if p]
        self.socket.send_multipart([".".join(parts).encode("utf8", "replace"), text])


class TopicLogger(logging.Logger):
    """A logger whose methods take a topic first: ``log.info("db.pool", "lost %s", x)``.

    The topic travels in the message as ``"topic::text"``, which :class:`PUBHandler` splits.
    """

    def log(self, level: int, topic: str, msg: str, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Log ``msg % args`` at ``level`` under ``topic``."""
        super().log(level, f"{topic}{TOPIC_DELIM}{msg}", *args, **kwargs)

    def _level(level: int, name: str) -> Any:  # noqa: N805 - builds methods below
        def method(self: TopicLogger, topic: str, msg: str, *args: Any, **kwargs: Any) -> None:
            self.log(level, topic, msg, *args, **kwargs)

        method.__name__ = name
        method.__doc__ = f"Log at {logging.getLevelName(level)} under ``topic``."
        return method

    debug = _level(logging.DEBUG, "debug")
    info = _level(logging.INFO, "info")
    warning = warn = _level(logging.WARNING, "warning")
    error = _level(logging.ERROR, "error")
    critical = fatal = _level(logging.CRITICAL, "critical")
    del _level
