"""Package attributes imported on first use (PEP 562), so importing a package's light module does not import
its heavy ones: ``import profiler.errors`` runs ``profiler/__init__`` first, and the CLI's ``--help`` must not pay for
pandas there."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable, Callable]:
    """(``__getattr__``, ``__dir__``) for `package`, whose public names `exports` maps to their defining modules; a
    name is imported on first access and then kept in the package's namespace (later look-ups skip the hook)."""

    def __getattr__(name: str):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        vars(sys.modules[package])[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__
