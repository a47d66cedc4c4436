"""The ``libs`` fixture: a zreactor and a pyzmq context per test, both terminated after."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest
from _support import Libs, zmq

import zreactor


@pytest.fixture
def libs() -> Iterator[Libs]:
    zctx = zreactor.Context()
    pctx = zmq.Context()
    ipc_dir = tempfile.mkdtemp(prefix="zri-", dir="/tmp")  # short: sun_path is 108 bytes
    try:
        yield Libs(zctx, pctx, ipc_dir)
    finally:
        for sock in zctx.sockets:
            sock.close(linger=0)
        zctx.term()
        pctx.destroy(linger=0)
        shutil.rmtree(ipc_dir, ignore_errors=True)
