"""Pin zreactor.zmtp's public surface and check every public name is documented."""

from __future__ import annotations

import importlib
import inspect

import pytest

import zreactor.zmtp

pytestmark = pytest.mark.timeout(30)

MODULES = ["greeting", "frames", "commands", "mechanisms", "state", "events", "connection"]

EXPECTED = {
    "COMPATIBLE_PEERS", "GREETING_SIZE", "IDENTITY_SENDERS", "PING_CONTEXT_MAX", "PING_TTL_MAX",
    "SOCKET_TYPES", "TRANSITIONS", "Cancel", "Event", "Frame", "FrameDecoder", "FramingError",
    "Greeting", "GreetingParser", "HandshakeComplete", "LocalProtocolError", "Message",
    "MessageBatch", "PeerError", "Ping", "Pong", "State", "Subscribe", "Trigger", "ZmtpConnection",
    "encode_greeting", "encode_messages", "render_mermaid",
}


def test_package_exports_are_pinned() -> None:
    assert set(zreactor.zmtp.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(zreactor.zmtp, name), name


@pytest.mark.parametrize("module_name", MODULES)
def test_every_module_has_a_theory_of_operation(module_name: str) -> None:
    module = importlib.import_module(f"zreactor.zmtp.{module_name}")
    assert module.__doc__ and "Theory of operation" in module.__doc__


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_class_and_function_is_documented(module_name: str) -> None:
    module = importlib.import_module(f"zreactor.zmtp.{module_name}")
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{module_name}.{name} has no docstring"
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if inspect.isfunction(member) or isinstance(member, property):
                    assert inspect.getdoc(member), f"{module_name}.{name}.{attr} undocumented"
