"""Tests for zreactor.zmtp.state: the transition table and its diagram.

Each row of the table is driven through the public ZmtpConnection API in
tests/test_zmtp_connection.py (``test_every_transition_row``); here we pin the table's shape.
"""

from __future__ import annotations

import pytest

from zreactor.zmtp.state import TRANSITIONS, State, Trigger, render_mermaid

pytestmark = pytest.mark.timeout(30)


def test_closed_and_failed_are_the_only_final_states() -> None:
    assert {source for source, _ in TRANSITIONS} == {State.GREETING, State.HANDSHAKE, State.TRAFFIC}
    assert TRANSITIONS.final_states() == [State.CLOSED, State.FAILED]


def test_every_live_state_can_fail_and_be_closed_locally() -> None:
    for state in (State.GREETING, State.HANDSHAKE, State.TRAFFIC):
        assert TRANSITIONS[state, Trigger.VIOLATION].target is State.FAILED
        assert TRANSITIONS[state, Trigger.LOCAL_ERROR].target is State.CLOSED


def test_traffic_is_reached_only_through_the_handshake() -> None:
    into_traffic = [key for key, row in TRANSITIONS.items() if row.target is State.TRAFFIC]
    assert into_traffic == [(State.HANDSHAKE, Trigger.PEER_READY)]


def test_mermaid_diagram_lists_every_row() -> None:
    diagram = render_mermaid(TRANSITIONS)
    assert diagram.startswith("stateDiagram-v2\n    [*] --> GREETING\n")
    for (source, trigger), row in TRANSITIONS.items():
        assert f"    {source.name} --> {row.target.name}: " in diagram
        assert trigger.value in diagram
    assert "    CLOSED --> [*]\n" in diagram and "    FAILED --> [*]\n" in diagram
