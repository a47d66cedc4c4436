"""What the socket behaviour tests (``tests/test_sock_*.py``) share: a bounded context per test.

An :class:`Env` is a fresh :class:`zreactor.Context` plus every socket a test made through it,
each with ``rcvtimeo``/``sndtimeo`` of :data:`TIMEOUT_MS`, so a lost message fails the test
instead of hanging it; ``close()`` closes them all with linger 0 and terminates the context.
``bind()`` picks a fresh endpoint per call: a new ``inproc://<prefix>-<n>`` name, or
``tcp://127.0.0.1:*``, so one test body runs over either transport.

A test module takes its fixtures from :func:`env_fixtures`::

    from socket_env import Env, env_fixtures

    env, tenv = env_fixtures("pipeline")  # inproc names start "pipeline-"

``env`` is an inproc Env; ``tenv`` runs the test once per transport in :data:`TRANSPORTS`.

This module is imported by its bare name: the tests folder has a ``conftest.py`` and no
``__init__.py``, so pytest's default ``prepend`` import mode puts the folder on ``sys.path``
(as ``tests/interop`` relies on for ``_support``).
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Callable, Iterator

import pytest

import zreactor as zmq

#: rcvtimeo and sndtimeo of every socket an Env makes, in milliseconds.
TIMEOUT_MS = 2000
#: the transports ``tenv`` runs a test over.
TRANSPORTS = ["inproc", "tcp"]

_names = itertools.count()


class Env:
    """A context plus the sockets a test made; everything is closed and terminated after.

    Args:
        transport: ``"inproc"`` or ``"tcp"``: where :meth:`bind` binds.
        prefix: the start of the inproc names :meth:`bind` makes (which test module bound).
    """

    def __init__(self, transport: str = "inproc", prefix: str = "sock") -> None:
        self.transport = transport
        self.prefix = prefix
        self.ctx = zmq.Context()
        self.sockets: list[Any] = []

    def socket(self, kind: int, **options: Any) -> Any:
        """A socket of ``kind`` with bounded timeouts, then ``options`` set as attributes."""
        sock = self.ctx.socket(kind)
        sock.rcvtimeo = sock.sndtimeo = TIMEOUT_MS
        for name, value in options.items():
            setattr(sock, name, value)
        self.sockets.append(sock)
        return sock

    def bind(self, sock: Any) -> str:
        """Bind ``sock`` somewhere new; return the address to connect to."""
        if self.transport == "inproc":
            addr = f"inproc://{self.prefix}-{next(_names)}"
            sock.bind(addr)
            return addr
        sock.bind("tcp://127.0.0.1:*")
        return sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def settle(self) -> None:
        """Let asynchronous connections finish (inproc connects at once)."""
        if self.transport != "inproc":
            time.sleep(0.3)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close(linger=0)
        self.ctx.term()


def env_fixtures(prefix: str) -> tuple[Callable[[], Iterator[Env]], Callable[..., Iterator[Env]]]:
    """The ``env`` and ``tenv`` fixtures for a test module; bind them to those names there."""

    @pytest.fixture
    def env() -> Iterator[Env]:
        """An inproc Env."""
        e = Env(prefix=prefix)
        yield e
        e.close()

    @pytest.fixture(params=TRANSPORTS)
    def tenv(request: pytest.FixtureRequest) -> Iterator[Env]:
        """An Env for each transport the test makes sense over."""
        e = Env(request.param, prefix=prefix)
        yield e
        e.close()

    return env, tenv


def errno_of(call: Callable[[], Any]) -> int:
    """The errno of the ``ZMQError`` that ``call()`` raises (the test fails if it raises none)."""
    with pytest.raises(zmq.ZMQError) as info:
        call()
    return info.value.errno


def seconds_until_again(call: Callable[[], Any]) -> float:
    """How long ``call()`` blocked before raising ``zmq.Again`` (the test fails if it did not)."""
    started = time.monotonic()
    with pytest.raises(zmq.Again):
        call()
    return time.monotonic() - started
