"""Tests for zreactor.zmtp.state: the transition table and its diagram.

Each row of the table is driven through the public ZmtpConnection API in
tests/test_zmtp_connection.py (``test_every_transition_row``); here we pin the table's shape.
"""

from __future__ import annotations

import pytest

from zreactor.zmtp.state import TRANSITIONS, State, Trigger, render_mermaid

pytestmark = pytest.mark.timeout(30)


def test_every_state_has_a_row_and_terminal_states_are_terminal() -> None:
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[State.CLOSED] == {}
    assert TRANSITIONS[State.FAILED] == {}


def test_every_live_state_can_fail_and_be_closed_locally() -> None:
    for state in (State.GREETING, State.HANDSHAKE, State.TRAFFIC):
        assert TRANSITIONS[state][Trigger.VIOLATION] is State.FAILED
        assert TRANSITIONS[state][Trigger.LOCAL_ERROR] is State.CLOSED


def test_traffic_is_reached_only_through_the_handshake() -> None:
    into_traffic = [(source, trigger) for source, moves in TRANSITIONS.items()
                    for trigger, target in moves.items() if target is State.TRAFFIC]
    assert into_traffic == [(State.HANDSHAKE, Trigger.PEER_READY)]


def test_mermaid_diagram_lists_every_row() -> None:
    diagram = render_mermaid()
    assert diagram.startswith("stateDiagram-v2\n    [*] --> GREETING\n")
    for source, moves in TRANSITIONS.items():
        for trigger, target in moves.items():
            assert f"    {source.name} --> {target.name}: {trigger.value}\n" in diagram
    assert "    CLOSED --> [*]\n" in diagram and "    FAILED --> [*]\n" in diagram
