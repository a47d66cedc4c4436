"""The public surface is exactly ``zreactor.__all__``, and every public name is documented."""

from __future__ import annotations

import inspect

import pytest

import zreactor
from zreactor.constants import CONSTANTS

#: The non-constant public names, pinned: adding or removing one is a deliberate API change.
API = {
    "Again", "Codec", "Connecter", "ConnecterState", "Context", "ContextClosedError",
    "ContextOption", "ContextTerminated", "DeviceType", "Engine", "EngineState", "Errno",
    "Event", "EventBus", "EventKind", "Flag", "Frame", "InterruptedSystemCall", "IOThreadPool", "LineCodec",
    "LengthPrefixedCodec", "Listener", "ListenerState", "ListenerStats", "Message", "MessageOption",
    "MessageTracker", "NormMode", "NotDone",
    "PollEvent", "Poller", "ProtocolError", "ReactorEvent", "ReadState", "ReconnectStop",
    "RouterNotify", "SecurityMechanism", "ShedPolicy", "Socket", "SocketOption", "SocketType",
    "StreamEngine", "WriteState", "ZMQBaseError", "ZMQBindError", "ZMQError",
    "ZMQVersionError", "ZReactorError", "__version__", "available_pollers", "error", "has", "install_as_zmq", "device", "proxy_steerable", "curve_keypair", "curve_public",
    "proxy", "pyzmq_version", "pyzmq_version_info", "select", "strerror", "zmq_version",
    "zmq_version_info",
}


def test_all_names_exist() -> None:
    for name in zreactor.__all__:
        assert hasattr(zreactor, name), name


def test_all_is_sorted_and_unique() -> None:
    assert zreactor.__all__ == sorted(zreactor.__all__)
    assert len(set(zreactor.__all__)) == len(zreactor.__all__)


def test_all_is_exactly_the_api_plus_every_constant() -> None:
    assert set(zreactor.__all__) == API | set(CONSTANTS)


@pytest.mark.parametrize("name", sorted(CONSTANTS))
def test_constants_at_module_level_with_libzmq_values(name: str) -> None:
    assert getattr(zreactor, name) is CONSTANTS[name]
    assert isinstance(getattr(zreactor, name), int)


#: zreactor's additions: the listener's event kinds, its socket options, and ENOENT
OURS = {"ENOENT"} | {f"EVENT_{k.name}" for k in zreactor.EventKind if k > 0xFFFF} | {
    *zreactor.constants.ListenerOption.__members__, *zreactor.constants.ShedPolicyCode.__members__}


def test_constants_match_pyzmq() -> None:
    zmq = pytest.importorskip("zmq")
    for name, value in CONSTANTS.items():
        if name in OURS:
            continue
        assert int(getattr(zmq, name)) == int(value), name


def test_every_pyzmq_constant_and_enum_exists() -> None:
    zmq = pytest.importorskip("zmq")
    import zreactor.constants as ours

    for name in zmq.constants.__all__:
        if name in ("Enum", "IntEnum", "IntFlag"):  # the enum module's classes, re-exported
            continue
        assert hasattr(zreactor, name), name
        assert hasattr(ours, name), name
    for name in ("IPC_PATH_MAX_LEN", "COPY_THRESHOLD", "DRAFT_API", "PYZMQ_DRAFT_API"):
        assert getattr(zreactor, name) == getattr(zmq, name), name


def test_enum_members_match_pyzmq() -> None:
    zmq = pytest.importorskip("zmq")
    for family in zreactor.constants.ENUMS:
        theirs = getattr(zmq, family.__name__)
        mine = dict(family.__members__)
        if family is zreactor.Errno:
            mine.pop("ENOENT")
        assert {k: int(v) for k, v in mine.items()} == {
            k: int(v) for k, v in theirs.__members__.items()
        }, family.__name__


def test_constants_are_pyzmqs_enum_members() -> None:
    assert zreactor.POLLIN is zreactor.PollEvent.POLLIN
    assert zreactor.PUSH is zreactor.SocketType.PUSH
    assert zreactor.constants.SUBSCRIBE is zreactor.SocketOption.SUBSCRIBE
    assert zreactor.IDENTITY is zreactor.SocketOption.ROUTING_ID
    assert zreactor.RECONNECT_STOP_AFTER_DISCONNECT is zreactor.ReconnectStop.AFTER_DISCONNECT
    assert zreactor.EVENT_CONNECTED is zreactor.Event.CONNECTED
    assert zreactor.IDENTITY._opt_type is zreactor.constants._OptType.bytes
    assert zreactor.AFFINITY._opt_type is zreactor.constants._OptType.int64
    assert zreactor.FD._opt_type is zreactor.constants._OptType.fd
    assert "CONNECTED" in repr(zreactor.Event.CONNECTED)


def test_error_module_is_pyzmqs_hierarchy() -> None:
    from zreactor import error

    assert issubclass(error.ZMQError, error.ZMQBaseError)
    assert issubclass(error.Again, error.ZMQError)
    assert issubclass(error.ContextTerminated, error.ZMQError)
    assert issubclass(error.InterruptedSystemCall, InterruptedError)
    assert issubclass(error.ZMQBindError, error.ZMQBaseError)
    assert issubclass(error.NotDone, error.ZMQBaseError)
    assert issubclass(error.ZMQVersionError, NotImplementedError)
    assert issubclass(error.ZMQBaseError, zreactor.ZReactorError)
    assert error.Again().errno == zreactor.EAGAIN
    assert error.ContextTerminated().errno == zreactor.ETERM
    assert repr(zreactor.ZMQError(zreactor.EINVAL)) == "ZMQError('Invalid argument')"
    assert str(zreactor.ZMQError(zreactor.ETERM)) == zreactor.strerror(zreactor.ETERM)
    assert "4.4" in str(error.ZMQVersionError("4.4", "Thing"))


def test_strerror_matches_pyzmq() -> None:
    zmq = pytest.importorskip("zmq")
    for number in [*range(1, 10), zmq.EFSM, zmq.ETERM, zmq.ENOCOMPATPROTO, zmq.EMTHREAD]:
        assert zreactor.strerror(number) == zmq.strerror(number)


def test_has_answers_what_is_implemented() -> None:
    from zreactor.capabilities import register_capability

    assert zreactor.has("ipc") is True
    for name in ("pgm", "tipc", "norm", "gssapi", "draft", "no-such-thing"):
        assert zreactor.has(name) is False
    register_capability("test-only", lambda: True)
    try:
        assert zreactor.has("test-only") is True
    finally:
        from zreactor.capabilities import CAPABILITIES

        del CAPABILITIES["test-only"]


def test_versions() -> None:
    assert zreactor.zmq_version() == "4.3.5"
    assert zreactor.zmq_version_info() == (4, 3, 5)
    assert zreactor.pyzmq_version_info() == (27, 3, 0)
    assert zreactor.pyzmq_version() == ".".join(map(str, zreactor.pyzmq_version_info()))


def test_utils_monitor_is_pyzmqs_import_path() -> None:
    from zreactor.utils.monitor import parse_monitor_message, recv_monitor_message

    assert callable(parse_monitor_message) and callable(recv_monitor_message)


def test_public_names_have_docstrings() -> None:
    missing = []
    for name in zreactor.__all__:
        obj = getattr(zreactor, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if not inspect.getdoc(obj):
                missing.append(name)
            for attr, member in vars(obj).items() if inspect.isclass(obj) else ():
                if attr.startswith("_") or not callable(member):
                    continue
                if not inspect.getdoc(member):
                    missing.append(f"{name}.{attr}")
    assert not missing, f"public names without a docstring: {missing}"


def test_own_release_number_lives_in_zreactor_version() -> None:
    # zreactor.__version__ follows pyzmq's contract (zreactor/version.py says why)
    assert zreactor.__version__ == zreactor.pyzmq_version()
    assert zreactor.version.VERSION.count(".") == 2 and zreactor.version.VERSION != zreactor.__version__
