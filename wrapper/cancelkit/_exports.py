"""Lazy public names for a package's ``__init__``: each loads on first use.

A package lists its public names (name -> module) and, for one release, the names
that moved (old name -> its new home, warned about on access). Type checkers do not
read this: each package imports its names under ``TYPE_CHECKING`` too, so a misspelt
name stays an error and every name keeps its type.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Mapping
from types import ModuleType


def lazy(
    package: str, table: Mapping[str, str], moved: Mapping[str, str] | None = None
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` (its ``__name__``): a name
    of ``table`` is imported from its module (relative to ``package``) and kept in the
    package's namespace; a name of ``moved`` warns with a ``DeprecationWarning`` naming
    its new home (``"cancelkit.polymarket.Order"``) and is that object, on every access."""
    namespace = vars(sys.modules[package])
    renamed = dict(moved or {})

    def load(name: str) -> object:
        new = renamed.get(name)
        if new is not None:
            warnings.warn(
                f"{package}.{name} is deprecated: use {new} (the old name will be"
                " removed in the next release)",
                DeprecationWarning,
                stacklevel=2,
            )
            module, _, attribute = new.rpartition(".")
            return getattr(importlib.import_module(module), attribute)
        home = table.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, package), name)
        namespace[name] = value  # later lookups skip load()
        return value

    def names() -> list[str]:
        return sorted({*namespace, *table})  # not the moved names: dir() would warn

    return load, names


def load_every(package: ModuleType) -> None:
    """Every name of ``package``'s ``__all__`` loaded now: a package whose names load
    on first use (a generated models package), for a process that must not pay for
    an import later (a program's clients, a guard about to arm)."""
    for name in package.__all__:
        getattr(package, name)
