"""Documentation generated from code must match the code."""

from __future__ import annotations

from pathlib import Path

from zreactor.diagrams import render_simple, state_machines_doc
from zreactor.reactor.engine import EngineState

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_state_machines_doc_is_current() -> None:
    committed = (DOCS / "STATE_MACHINES.md").read_text()
    assert committed == state_machines_doc(), "run: python -m zreactor.diagrams > docs/STATE_MACHINES.md"


def test_render_simple_lists_every_edge_and_terminal() -> None:
    table = {EngineState.NEW: {EngineState.CLOSED}, EngineState.CLOSED: set()}
    text = render_simple(table, EngineState.NEW, {(EngineState.NEW, EngineState.CLOSED): "close"})
    assert text.splitlines() == [
        "stateDiagram-v2",
        "    [*] --> NEW",
        "    NEW --> CLOSED: close",
        "    CLOSED --> [*]",
    ]
