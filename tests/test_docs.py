"""Documentation generated from code must match the code."""

from __future__ import annotations

from pathlib import Path

from zreactor.diagrams import state_machines_doc

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_state_machines_doc_is_current() -> None:
    committed = (DOCS / "STATE_MACHINES.md").read_text()
    assert committed == state_machines_doc(), "run: python -m zreactor.diagrams > docs/STATE_MACHINES.md"
