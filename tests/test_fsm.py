"""The state-machine helper: table validation, fire/peek, actions, errors, recording, drawing."""

from __future__ import annotations

import enum

import pytest

from zreactor.reactor.fsm import (Cell, CellMachine, IllegalMove, Machine, Move, Row, Step,
                                  render_mermaid)


class Light(enum.Enum):
    OFF = "off"
    ON = "on"
    BROKEN = "broken"


class Push(enum.Enum):
    SWITCH = "switch"
    SURGE = "power surge"


class Lamp:
    def __init__(self) -> None:
        self.state = Light.OFF
        self.log: list[tuple[str, Light]] = []

    def __repr__(self) -> str:
        return "<Lamp>"


def _row_action(lamp: Lamp) -> None:
    lamp.log.append(("row", lamp.state))


def _entered_on(lamp: Lamp) -> None:
    lamp.log.append(("entry", lamp.state))


LAMP = Machine(
    "lamp",
    Light.OFF,
    {
        (Light.OFF, Push.SWITCH): Row(Light.ON, _row_action, data="lit"),
        (Light.ON, Push.SWITCH): Light.OFF,
        (Light.ON, Push.SURGE): Light.BROKEN,
    },
    entry={Light.ON: _entered_on},
)


def test_fire_commits_and_returns_the_row() -> None:
    lamp = Lamp()
    row = LAMP.fire(lamp, Push.SWITCH)
    assert lamp.state is Light.ON
    assert row == Row(Light.ON, _row_action, "lit")
    assert LAMP.fire(lamp, Push.SWITCH).target is Light.OFF
    assert lamp.state is Light.OFF


def test_actions_run_after_the_commit_row_first_then_entry() -> None:
    lamp = Lamp()
    LAMP.fire(lamp, Push.SWITCH)
    assert lamp.log == [("row", Light.ON), ("entry", Light.ON)]


def test_peek_checks_without_moving() -> None:
    lamp = Lamp()
    assert LAMP.peek(lamp, Push.SWITCH).target is Light.ON
    assert lamp.state is Light.OFF and lamp.log == []
    with pytest.raises(IllegalMove):
        LAMP.peek(lamp, Push.SURGE)
    assert lamp.state is Light.OFF


def test_allows_answers_without_moving_or_raising() -> None:
    lamp = Lamp()
    assert LAMP.allows(lamp, Push.SWITCH)
    assert not LAMP.allows(lamp, Push.SURGE)
    assert lamp.state is Light.OFF and lamp.log == []


def test_an_unlisted_move_raises_a_clear_error_and_changes_nothing() -> None:
    lamp = Lamp()
    with pytest.raises(IllegalMove) as info:
        LAMP.fire(lamp, Push.SURGE)
    assert str(info.value) == ("illegal lamp move OFF on SURGE "
                               "(from OFF the table lists: SWITCH) [<Lamp>]")
    assert isinstance(info.value, AssertionError)
    assert lamp.state is Light.OFF and lamp.log == []
    lamp.state = Light.BROKEN
    with pytest.raises(IllegalMove, match=r"lists: nothing \(a final state\)"):
        LAMP.fire(lamp, Push.SWITCH)


def test_an_event_of_another_enum_never_matches_even_by_name() -> None:
    class Lookalike(enum.Enum):
        SWITCH = "switch"

    lamp = Lamp()
    assert not LAMP.allows(lamp, Lookalike.SWITCH)
    with pytest.raises(IllegalMove):
        LAMP.fire(lamp, Lookalike.SWITCH)
    assert lamp.state is Light.OFF


def test_a_machine_may_raise_its_own_error() -> None:
    class Refused(Exception):
        pass

    strict = Machine("strict", Light.OFF, {(Light.OFF, Push.SWITCH): Light.ON}, error=Refused)
    with pytest.raises(Refused, match="illegal strict move ON on SWITCH"):
        lamp = Lamp()
        lamp.state = Light.ON
        strict.fire(lamp, Push.SWITCH)


def test_the_state_attribute_is_named_by_the_machine() -> None:
    class TwoLamps:
        __slots__ = ("left", "right")

        def __init__(self) -> None:
            self.left = self.right = Light.OFF

    left = Machine("left", Light.OFF, {(Light.OFF, Push.SWITCH): Light.ON}, attr="left")
    right = Machine("right", Light.OFF, {(Light.OFF, Push.SWITCH): Light.ON}, attr="right")
    pair = TwoLamps()
    left.fire(pair, Push.SWITCH)
    assert (pair.left, pair.right) == (Light.ON, Light.OFF)
    right.fire(pair, Push.SWITCH)
    assert pair.right is Light.ON


def test_the_machine_is_the_mapping_of_its_rows() -> None:
    assert len(LAMP) == 3
    assert list(LAMP) == [(Light.OFF, Push.SWITCH), (Light.ON, Push.SWITCH), (Light.ON, Push.SURGE)]
    assert LAMP[Light.ON, Push.SURGE] == Row(Light.BROKEN)
    assert LAMP.moves_from(Light.ON) == {Push.SWITCH: Row(Light.OFF), Push.SURGE: Row(Light.BROKEN)}
    assert LAMP.final_states() == [Light.BROKEN]
    assert LAMP.entry_action(Light.ON) is _entered_on
    assert LAMP.entry_action(Light.OFF) is None
    assert LAMP.states is Light and LAMP.events is Push


def test_machines_are_compared_by_identity_not_by_rows() -> None:
    twin = Machine("twin", Light.OFF, dict(LAMP.items()))
    assert dict(twin.items()) == dict(LAMP.items())
    assert twin != LAMP and twin == twin
    assert {LAMP: 1, twin: 2}[twin] == 2


@pytest.mark.parametrize("table", [
    {(Light.OFF, Light.ON): Light.ON},  # the event is a state: events would be mixed
    {(Light.OFF, Push.SWITCH): Push.SURGE},  # the target is an event
    {(Push.SWITCH, Push.SWITCH): Light.ON},  # the source is an event
    {(Light.OFF, Push.SWITCH): Light.ON, (Light.ON, Light.OFF): Light.OFF},
])
def test_a_malformed_table_fails_at_construction(table) -> None:
    with pytest.raises(TypeError):
        Machine("bad", Light.OFF, table)


def test_an_entry_action_for_a_foreign_state_fails_at_construction() -> None:
    with pytest.raises(TypeError):
        Machine("bad", Light.OFF, {(Light.OFF, Push.SWITCH): Light.ON}, entry={Push.SWITCH: print})


def test_record_sees_every_move_in_the_block_only() -> None:
    lamp = Lamp()
    with LAMP.record() as steps:
        LAMP.fire(lamp, Push.SWITCH)
        with LAMP.record() as inner:
            LAMP.fire(lamp, Push.SURGE)
    LAMP.fire(Lamp(), Push.SWITCH)  # after the block: not recorded
    assert steps == [Step(lamp, Light.OFF, Push.SWITCH, Light.ON),
                     Step(lamp, Light.ON, Push.SURGE, Light.BROKEN)]
    assert inner == [Step(lamp, Light.ON, Push.SURGE, Light.BROKEN)]


def test_an_illegal_move_is_not_recorded() -> None:
    with LAMP.record() as steps, pytest.raises(IllegalMove):
        LAMP.fire(Lamp(), Push.SURGE)
    assert steps == []


class Hooked:
    """An owner whose class hooks ``__setattr__`` (as a socket's does): a cell keeps its state."""

    def __setattr__(self, name: str, value: object) -> None:
        raise AssertionError(f"the hook ran for {name}")

    def __repr__(self) -> str:
        return "<Hooked>"


LAMP_CELL = CellMachine("lamp cell", Light.OFF, {
    (Light.OFF, Push.SWITCH): Row(Light.ON, _row_action, data="lit"),
    (Light.ON, Push.SWITCH): Light.OFF,
}, entry={Light.ON: _entered_on}, error=ValueError)


def test_a_cell_machine_keeps_the_rules_of_a_move() -> None:
    class LampCell(Cell):
        __slots__ = ("log",)

    owner = Hooked()
    cell = LampCell(Light.OFF, owner)
    cell.log = []
    with LAMP_CELL.record() as steps:
        row = LAMP_CELL.fire(cell, Push.SWITCH)
    assert row == Row(Light.ON, _row_action, "lit") and cell.state is Light.ON
    assert cell.log == [("row", Light.ON), ("entry", Light.ON)]  # rule 2's order, new state
    assert steps == [Step(cell, Light.OFF, Push.SWITCH, Light.ON)]
    assert LAMP_CELL.peek(cell, Push.SWITCH).target is Light.OFF and cell.state is Light.ON
    with pytest.raises(ValueError,
                       match=r"illegal lamp cell move ON on SURGE .*<Cell ON of <Hooked>>"):
        LAMP_CELL.fire(cell, Push.SURGE)  # the machine's own error, nothing changed

    class Lookalike(enum.Enum):
        SWITCH = "switch"

    with pytest.raises(ValueError):
        LAMP_CELL.fire(cell, Lookalike.SWITCH)
    assert cell.state is Light.ON
    assert LAMP_CELL.fire(cell, Push.SWITCH).target is Light.OFF and cell.state is Light.OFF


SWITCH_CELL = CellMachine("switch cell", Light.OFF, {
    (Light.OFF, Push.SWITCH): Light.ON,
    (Light.ON, Push.SWITCH): Light.OFF,
    (Light.ON, Push.SURGE): Light.BROKEN,
}, error=ValueError)


def test_a_known_move_is_the_machines_move() -> None:
    switch_on = SWITCH_CELL.move(Light.OFF, Push.SWITCH)
    assert isinstance(switch_on, Move) and switch_on.target is Light.ON
    cell = Cell(Light.OFF, Hooked())
    assert switch_on.fire(cell) is SWITCH_CELL[Light.OFF, Push.SWITCH]
    assert cell.state is Light.ON
    # from another state: what the machine's fire does there, its own error, nothing changed
    with pytest.raises(ValueError, match=r"illegal switch cell move OFF on SURGE"):
        SWITCH_CELL.move(Light.ON, Push.SURGE).fire(Cell(Light.OFF))
    assert SWITCH_CELL.move(Light.ON, Push.SWITCH).fire(cell).target is Light.OFF
    with pytest.raises(ValueError):
        switch_on.fire(Cell(Light.BROKEN))


def test_a_known_move_is_recorded() -> None:
    switch_on = SWITCH_CELL.move(Light.OFF, Push.SWITCH)
    cell = Cell(Light.OFF)
    with SWITCH_CELL.record() as steps:
        switch_on.fire(cell)
    assert steps == [Step(cell, Light.OFF, Push.SWITCH, Light.ON)]
    assert cell.state is Light.ON


def test_only_a_plain_listed_row_is_a_known_move() -> None:
    with pytest.raises(KeyError):
        SWITCH_CELL.move(Light.OFF, Push.SURGE)  # no such row
    with pytest.raises(ValueError, match="action"):
        LAMP_CELL.move(Light.OFF, Push.SWITCH)  # a row action (and an entry action)
    entering = CellMachine("entering", Light.OFF, {(Light.OFF, Push.SWITCH): Light.ON},
                           entry={Light.ON: _entered_on})
    with pytest.raises(ValueError, match="action"):
        entering.move(Light.OFF, Push.SWITCH)  # the target's entry action


def test_render_mermaid_groups_events_per_edge_and_marks_actions_final_states_and_entries() -> None:
    machine = Machine("m", Light.OFF, {
        (Light.OFF, Push.SWITCH): Light.ON,
        (Light.OFF, Push.SURGE): Light.ON,
        (Light.ON, Push.SWITCH): Row(Light.BROKEN, _row_action),
        (Light.ON, Push.SURGE): Light.BROKEN,
    }, entry={Light.ON: _entered_on})
    assert render_mermaid(machine).splitlines() == [
        "stateDiagram-v2",
        "    [*] --> OFF",
        "    OFF --> ON: switch or power surge",
        "    ON --> BROKEN: switch / row_action",
        "    ON --> BROKEN: power surge",
        "    BROKEN --> [*]",
        "    note right of ON: entry / entered_on",
    ]


def test_render_mermaid_labels_non_string_events_by_name() -> None:
    class Num(enum.Enum):
        ONE = 1

    machine = Machine("n", Light.OFF, {(Light.OFF, Num.ONE): Light.OFF})
    assert "    OFF --> OFF: ONE" in render_mermaid(machine).splitlines()
