"""pyzmq's module paths that zreactor answers: ``utils.jsonapi``, ``utils.strtypes``,
``backend`` and ``sugar`` (the last two name zreactor's own classes)."""

from __future__ import annotations

import pytest

import zreactor
from zreactor import backend, sugar
from zreactor.utils import jsonapi, strtypes

pytestmark = pytest.mark.timeout(30)


def test_jsonapi_round_trips_utf8_bytes() -> None:
    data = {"name": "zürich", "n": [1, 2.5, None]}
    encoded = jsonapi.dumps(data, ensure_ascii=False)
    assert isinstance(encoded, bytes) and "zürich".encode() in encoded
    assert jsonapi.loads(encoded) == data
    assert jsonapi.loads(encoded.decode()) == data
    assert jsonapi.loads(memoryview(encoded)) == data
    assert jsonapi.dumps([1], separators=(",", ":")) == b"[1]"


def test_jsonapi_bad_input_raises() -> None:
    with pytest.raises(ValueError):
        jsonapi.loads(b"{not json")
    with pytest.raises(UnicodeDecodeError):
        jsonapi.loads(b"\xff\xfe")


def test_strtypes_casts_warn_and_convert() -> None:
    with pytest.warns(DeprecationWarning):
        assert strtypes.cast_bytes("é") == "é".encode()
    with pytest.warns(DeprecationWarning):
        assert strtypes.cast_unicode(b"\xc3\xa9") == "é"
    with pytest.warns(DeprecationWarning):
        assert strtypes.b(b"x") == b"x" and strtypes.u("x") == "x"
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError):
        strtypes.cast_bytes(5)  # type: ignore[arg-type]
    assert strtypes.unicode is str and strtypes.bytes is bytes and strtypes.basestring == (str,)


def test_backend_names_zreactors_own_classes() -> None:
    assert backend.Socket is zreactor.Socket and backend.Context is zreactor.Context
    assert set(backend.__all__) <= set(backend.PUBLIC_API)
    for name in backend.__all__:
        assert hasattr(backend, name)
    assert zreactor.backend is backend  # imported with the package, as pyzmq's is


def test_backend_zmq_poll_takes_milliseconds(ctx: zreactor.Context) -> None:
    a, b = ctx.socket(zreactor.PAIR), ctx.socket(zreactor.PAIR)
    try:
        a.bind("inproc://backend-poll")
        b.connect("inproc://backend-poll")
        assert backend.zmq_poll([(a, zreactor.POLLIN)], 0) == []
        b.send(b"x")
        assert backend.zmq_poll([(a, zreactor.POLLIN)], 5000) == [(a, zreactor.POLLIN)]
    finally:
        a.close(linger=0)
        b.close(linger=0)


def test_sugar_paths_are_the_same_classes() -> None:
    assert sugar.context.Context is zreactor.Context
    assert sugar.socket.Socket is zreactor.Socket
    assert sugar.poll.Poller is zreactor.Poller and sugar.select is zreactor.select
