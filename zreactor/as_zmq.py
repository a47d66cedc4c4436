"""Run unchanged pyzmq code on zreactor: ``import zmq`` answered by zreactor.

Theory of operation
-------------------
``install_as_zmq()`` puts one finder at the front of ``sys.meta_path``. It answers every
import of ``zmq`` or ``zmq.<sub>`` (``zmq.asyncio``, ``zmq.devices``, ``zmq.utils.jsonapi``
...) by importing ``zreactor`` or ``zreactor.<sub>`` the ordinary way and handing back *that
same module object*. So there is one copy of each module: ``zmq.Socket is zreactor.Socket``,
``zmq.asyncio is zreactor.asyncio``, and a submodule another part of zreactor grows later is
aliased with no change here. This is what ``pymysql.install_as_MySQLdb()`` does for one name,
done for a package tree.

Rules it keeps:

- **Never a mixture.** A ``zmq.<sub>`` that zreactor lacks raises ``ModuleNotFoundError``
  naming both names; it never falls through to pyzmq's file of that name (the aliased
  ``zmq.__path__`` is zreactor's folder, so a later finder could otherwise load a zreactor file
  a second time under the ``zmq`` name). For the same reason installing refuses when the real
  pyzmq is already imported: two ``zmq`` trees in one process is the bug this avoids.
- **The module keeps its identity.** The import system stamps the spec it was given onto the
  module it loads; the loader puts zreactor's own ``__spec__`` back, so ``zreactor.x`` still
  says it is ``zreactor.x`` (``importlib.reload`` and pickling by module name keep working).
- **A zreactor attribute counts as a submodule** when it is a module (``zreactor.error``
  bound to ``zreactor.errors``, for example): pyzmq's spelling of a module can then be an
  alias without a file of that name.
- **Off by default.** Nothing happens at ``import zreactor``. Subprocesses get the same
  aliasing from the ``ZREACTOR_AS_ZMQ=1`` environment variable, which the ``zreactor_as_zmq.pth``
  hook installed with the package reads at interpreter start-up (:func:`_startup_hook`), or
  from ``python -m zreactor.run script.py|-m module ...``, which installs the finder, sets the
  variable for its children, and runs the program.

Thread-safety: the finder holds no state beyond its constructor arguments; the import system's
per-module locks serialise concurrent first imports as they do for any module.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import types
from collections.abc import Sequence

#: the environment variable that the start-up hook reads; values other than these mean "on"
ENV_VAR = "ZREACTOR_AS_ZMQ"
_OFF_VALUES = frozenset({"", "0", "false", "no", "off"})

_ALIAS = "zmq"
_TARGET = "zreactor"


def _target_name(fullname: str) -> str | None:
    """``zmq.x.y`` -> ``zreactor.x.y``; None for names outside the ``zmq`` tree."""
    if fullname == _ALIAS:
        return _TARGET
    if fullname.startswith(_ALIAS + "."):
        return _TARGET + fullname[len(_ALIAS):]
    return None


class _AliasLoader(importlib.abc.Loader):
    """Hands the import system an already-imported zreactor module as the ``zmq`` one."""

    def __init__(self, module: types.ModuleType) -> None:
        self._module = module
        self._own_spec = module.__spec__

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return self._module

    def exec_module(self, module: types.ModuleType) -> None:
        # The import system has just set module.__spec__ to the alias spec; put the
        # module's own back (see "keeps its identity" above). Nothing to execute: the
        # zreactor import already ran the module's code, once.
        module.__spec__ = self._own_spec

    # ``python -m zmq.<module>``: runpy runs the module's code afresh as ``__main__``, so it asks
    # the loader for that code; hand it zreactor's (the counterpart import above already ran
    # the module once, as itself, which a command-line module only uses to define names).
    def get_code(self, fullname: str) -> types.CodeType | None:
        """The code object of the zreactor module this alias stands for (for ``-m``)."""
        loader = self._own_spec.loader if self._own_spec is not None else None
        get_code = getattr(loader, "get_code", None)
        return None if get_code is None else get_code(self._own_spec.name)

    def is_package(self, fullname: str) -> bool:
        """Whether the aliased module is a package (runpy asks before running ``-m``)."""
        return hasattr(self._module, "__path__")


class ZmqAliasFinder(importlib.abc.MetaPathFinder):
    """A meta-path finder that answers ``zmq`` and ``zmq.*`` with ``zreactor`` and ``zreactor.*``."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """Return an alias spec for a name in the ``zmq`` tree; None for any other name.

        Raises:
            ModuleNotFoundError: zreactor has no counterpart of ``fullname``.
        """
        real_name = _target_name(fullname)
        if real_name is None:
            return None
        module = _import_counterpart(fullname, real_name)
        spec = importlib.machinery.ModuleSpec(
            fullname,
            _AliasLoader(module),
            is_package=hasattr(module, "__path__"),
        )
        if hasattr(module, "__path__"):
            spec.submodule_search_locations = list(module.__path__)
        return spec


def _import_counterpart(fullname: str, real_name: str) -> types.ModuleType:
    try:
        return importlib.import_module(real_name)
    except ModuleNotFoundError as exc:
        # Only "this very module is missing" may fall back to a module-valued attribute;
        # a zreactor module that exists but fails on one of its own imports must surface.
        if exc.name != real_name:
            raise
        parent_name, _, child = real_name.rpartition(".")
        parent = sys.modules.get(parent_name)
        alias = getattr(parent, child, None) if parent is not None else None
        if isinstance(alias, types.ModuleType):
            return alias
        raise ModuleNotFoundError(
            f"No module named {fullname!r}: zreactor has no {real_name!r} "
            "(zreactor.install_as_zmq() is active; see the README's pyzmq-surface table)",
            name=fullname,
        ) from None


def _finder() -> ZmqAliasFinder | None:
    for entry in sys.meta_path:
        if isinstance(entry, ZmqAliasFinder):
            return entry
    return None


def install_as_zmq() -> None:
    """Make ``import zmq`` and ``import zmq.<sub>`` give zreactor's modules, in this process.

    Call it before the code that imports ``zmq`` (like ``pymysql.install_as_MySQLdb()``).
    Calling it again is a no-op. Subprocesses do not inherit it; set ``ZREACTOR_AS_ZMQ=1``
    in their environment (with zreactor installed, its ``.pth`` hook honours it) or start them
    with ``python -m zreactor.run``.

    Raises:
        ImportError: the real pyzmq is already imported as ``zmq`` in this process.
    """
    current = sys.modules.get(_ALIAS)
    zreactor = importlib.import_module(_TARGET)
    if current is not None and current is not zreactor:
        raise ImportError(
            "install_as_zmq(): pyzmq is already imported as 'zmq' in this process; "
            "call install_as_zmq() before anything imports zmq"
        )
    if _finder() is None:
        sys.meta_path.insert(0, ZmqAliasFinder())
    # Bind the top-level name now, so `import zmq` is a plain dict hit from here on.
    sys.modules[_ALIAS] = zreactor


def is_installed_as_zmq() -> bool:
    """True when :func:`install_as_zmq` is active in this process."""
    return _finder() is not None


def _startup_hook() -> None:
    """What the ``zreactor_as_zmq.pth`` hook runs at interpreter start-up.

    The ``.pth`` line checks the environment variable itself before importing zreactor, so an
    interpreter without ``ZREACTOR_AS_ZMQ`` pays one dictionary look-up and nothing else.
    A failure here must not stop the interpreter from starting: it is reported on stderr and
    the process runs without the aliasing (and then imports pyzmq, or fails to, visibly).
    """
    if os.environ.get(ENV_VAR, "").strip().lower() in _OFF_VALUES:
        return
    try:
        install_as_zmq()
    except ImportError as exc:  # pragma: no cover - reported, never fatal at start-up
        sys.stderr.write(f"zreactor: {ENV_VAR} is set but install_as_zmq() failed: {exc}\n")
