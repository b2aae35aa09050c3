"""Start-up guard of the ``python -m`` entry points: import the real ``signstgcn`` package, not a folder that
happens to be called ``signstgcn``.

``python -m train_landmarks`` puts the current folder first on ``sys.path``. A folder there named ``signstgcn``
without an ``__init__.py`` (a clone of this repository is exactly that) would be imported as an empty namespace
package in front of an editable install, whose finder Python asks only after ``sys.path``; every command then
fails deep inside an import. :func:`ensure_package` drops such folders from ``sys.path`` and, if no real package
is left, exits with one line naming the folder. This module imports nothing of ``signstgcn`` (it must run first).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable

PACKAGE = "signstgcn"


def _is_regular(spec: importlib.machinery.ModuleSpec | None) -> bool:
    """A package with an ``__init__.py`` (a namespace package has no origin)."""
    return spec is not None and spec.origin is not None


def _shadowing_entries() -> list[str]:
    """The ``sys.path`` entries holding a ``signstgcn`` folder without ``__init__.py``."""
    out = []
    for entry in sys.path:
        folder = os.path.join(entry or os.curdir, PACKAGE)
        if os.path.isdir(folder) and not os.path.isfile(os.path.join(folder, "__init__.py")):
            out.append(entry)
    return out


def ensure_package(prog: str) -> None:
    """Make ``import signstgcn`` load the real package, or exit with status 2 and one line saying what shadows it.

    Safe to call when ``signstgcn`` was already imported as a namespace package (``python -m signstgcn``): that
    module is dropped from ``sys.modules`` so the next import finds the real one.
    """
    loaded = sys.modules.get(PACKAGE)
    if loaded is not None and getattr(loaded, "__file__", None) is not None:
        return
    if loaded is None and _is_regular(importlib.util.find_spec(PACKAGE)):
        return
    shadows = _shadowing_entries()
    for entry in shadows:
        while entry in sys.path:
            sys.path.remove(entry)
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    if _is_regular(importlib.util.find_spec(PACKAGE)):
        return
    folders = ", ".join(os.path.abspath(os.path.join(e or os.curdir, PACKAGE)) for e in shadows) or "?"
    print(f"{prog}: error: the signstgcn package is not installed; found only the folder {folders}, which is not "
          f"the package (run 'python -m pip install -e .' in the repository, or run from the repository folder)",
          file=sys.stderr)
    raise SystemExit(2)


def load_main(module: str, prog: str) -> Callable[..., int]:
    """The ``main`` of a ``signstgcn.cli`` module, after :func:`ensure_package` and before torch loads,
    :func:`signstgcn.runtime.prepare_openmp`."""
    ensure_package(prog)
    importlib.import_module("signstgcn.runtime").prepare_openmp()
    return importlib.import_module(module).main
