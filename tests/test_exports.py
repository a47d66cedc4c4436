"""The public surface is exactly ``zreactor.__all__``, and every public name is documented."""

from __future__ import annotations

import inspect

import zreactor


def test_all_names_exist() -> None:
    for name in zreactor.__all__:
        assert hasattr(zreactor, name), name


def test_all_is_sorted_and_unique() -> None:
    names = [n for n in zreactor.__all__ if not n.startswith("__")]
    assert names == sorted(set(names), key=names.index)
    assert len(set(zreactor.__all__)) == len(zreactor.__all__)


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
