"""Imports only point down the layers: reactor -> zmtp -> sockets -> context (STYLE.md).

A module may import from its own layer and the layers below it. Imports made only for type
checking (inside ``if TYPE_CHECKING:``) are allowed to point anywhere: they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "zreactor"

#: each layer, and the zreactor subpackages/modules it must never import at run time
FORBIDDEN = {
    "reactor": {"zmtp", "sockets", "context", "proxy", "testing"},
    "zmtp": {"sockets", "context", "proxy", "testing"},
    "sockets": {"context", "proxy", "testing"},
}


def _runtime_imports(path: Path, package: str) -> set[str]:
    """Absolute module names ``path`` (a module of ``package``) imports at run time."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    found.add(".".join(base + ([child.module] if child.module else [])))
                elif child.module and child.module.startswith("zreactor"):
                    found.add(child.module)
            elif isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("zreactor"))
            visit(child)

    visit(tree)
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_point_down(layer: str) -> None:
    offenders = []
    for path in sorted((PKG / layer).glob("*.py")):
        for module in _runtime_imports(path, f"zreactor.{layer}"):
            parts = module.split(".")
            if len(parts) > 1 and parts[1] in FORBIDDEN[layer]:
                offenders.append(f"{path.relative_to(PKG.parent)} imports {module}")
    assert not offenders, "\n".join(offenders)


def test_the_checker_sees_violations_and_skips_type_checking(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "from ..sockets import pipe\n"
        "import zreactor.context\n"
        "if TYPE_CHECKING:\n"
        "    from ..zmtp import engine\n"
    )
    found = _runtime_imports(probe, "zreactor.reactor")
    assert {"zreactor.sockets", "zreactor.context"} <= found
    assert "zreactor.zmtp" not in found
