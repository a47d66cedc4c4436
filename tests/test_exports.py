"""The public surface is exactly ``zreactor.__all__``, and every public name is documented."""

from __future__ import annotations

import inspect

import pytest

import zreactor
from zreactor.constants import CONSTANTS

#: The non-constant public names, pinned: adding or removing one is a deliberate API change.
API = {
    "Again", "Codec", "Connecter", "ConnecterState", "Context", "ContextClosedError",
    "ContextTerminated", "Engine", "EngineState", "Errno", "Event", "EventBus", "EventKind",
    "Flag", "Frame", "LineCodec", "Listener", "ListenerState", "ListenerStats", "PollEvent", "Poller", "ProtocolError",
    "ReadState", "ShedPolicy", "Socket", "SocketOption", "SocketType", "StreamEngine", "WriteState",
    "ZMQError", "ZReactorError", "__version__", "available_pollers", "proxy",
    "pyzmq_version", "pyzmq_version_info", "select", "zmq_version", "zmq_version_info",
    "SecurityMechanism", "curve_keypair", "curve_public",  # issue 11
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
    assert getattr(zreactor, name) == CONSTANTS[name]
    assert isinstance(getattr(zreactor, name), int)


def test_constants_match_pyzmq() -> None:
    zmq = pytest.importorskip("zmq")
    # zreactor's own event kinds and EVENT_ALL_V2 (every zreactor kind) have no pyzmq twin
    ours = {"EVENT_ALL_V2", "ENOENT"} | {f"EVENT_{k.name}" for k in zreactor.EventKind if k > 0xFFFF}
    for name, value in CONSTANTS.items():
        if name in ours:
            continue
        assert int(getattr(zmq, name)) == int(value), name


def test_versions() -> None:
    assert zreactor.zmq_version() == "4.3.5"
    assert zreactor.zmq_version_info() == (4, 3, 5)
    assert zreactor.pyzmq_version_info()[0] >= 17
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
