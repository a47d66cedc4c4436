"""docs/ENGINE.md's example engine runs as written (its one python block)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(30)

DOC = Path(__file__).resolve().parent.parent / "docs" / "ENGINE.md"


def test_the_example_runs_and_its_engine_reports_an_orderly_end() -> None:
    (block,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, str(DOC), "exec"), {"__name__": "engine_doc"})
    assert out.getvalue().strip() == "served 1 messages; reason: None"
