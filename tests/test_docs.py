"""Documentation generated from code must match the code.

Every state diagram in the docs is drawn by the one renderer from its machine: the whole of
``docs/STATE_MACHINES.md``, and the blocks other pages embed (``zreactor.diagrams.EMBEDDED``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zreactor.diagrams import EMBEDDED, machines, refresh_embedded, state_machines_doc
from zreactor.reactor.fsm import render_mermaid

DOCS = Path(__file__).resolve().parent.parent / "docs"
FIX = "run: python -m zreactor.diagrams --write"


def test_state_machines_doc_is_current() -> None:
    committed = (DOCS / "STATE_MACHINES.md").read_text()
    assert committed == state_machines_doc(), FIX


@pytest.mark.parametrize("page", sorted(EMBEDDED))
def test_embedded_diagrams_are_current(page: str) -> None:
    text = (DOCS / page).read_text()
    assert text == refresh_embedded(text, EMBEDDED[page]), f"{page} is stale; {FIX}"


def test_state_machines_doc_draws_every_machine() -> None:
    doc = state_machines_doc()
    for diagram in machines().values():
        assert render_mermaid(diagram.machine) in doc


def test_refresh_embedded_redraws_blocks_in_order_and_counts_them() -> None:
    page = "intro\n```mermaid\nstale\n```\nmiddle\n```mermaid\nstale\n```\nend\n"
    every = machines()
    fresh = refresh_embedded(page, ("req", "rep"))
    assert fresh == ("intro\n```mermaid\n" + render_mermaid(every["req"].machine) + "```\nmiddle\n"
                     "```mermaid\n" + render_mermaid(every["rep"].machine) + "```\nend\n")
    with pytest.raises(ValueError, match="2 mermaid blocks for 1 machines"):
        refresh_embedded(page, ("req",))
