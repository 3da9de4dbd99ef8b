"""Optional parts of cancelkit and the one message that says how to get them."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

# What the ``sandbox`` extra installs (import names), as pyproject.toml lists it.
_SANDBOX_MODULES = frozenset({"starlette", "uvicorn", "openapi_core", "yaml", "werkzeug"})
SANDBOX_MISSING = (
    "the cancelkit sandbox needs the 'sandbox' extra: pip install 'cancelkit[sandbox]'"
)


class MissingExtra(ImportError):
    """An optional dependency of cancelkit is not installed; the message says which extra."""


def sandbox() -> ModuleType:
    """``cancelkit.sandbox``, or :class:`MissingExtra` naming the extra to install."""
    try:
        return importlib.import_module("cancelkit.sandbox")
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] in _SANDBOX_MODULES:
            missing = (exc.name or "").partition(".")[0]
            raise MissingExtra(f"{SANDBOX_MISSING} ({missing} is missing)") from None
        raise


def require_sandbox() -> None:
    """Raise :class:`MissingExtra` naming ``cancelkit[sandbox]`` if a module the
    sandbox imports is not installed (before any of them is imported)."""
    for name in sorted(_SANDBOX_MODULES):
        if importlib.util.find_spec(name) is None:
            raise MissingExtra(f"{SANDBOX_MISSING} ({name} is missing)")
