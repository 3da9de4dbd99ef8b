"""The sandbox's check that its extra is installed, before anything imports it."""

from __future__ import annotations

import importlib.util

from .._extras import SANDBOX_MISSING, MissingExtra

# What the ``sandbox`` extra installs (import names), as pyproject.toml lists it.
MODULES = frozenset({"starlette", "uvicorn", "openapi_core", "yaml", "werkzeug"})


def require() -> None:
    """Raise :class:`MissingExtra` naming ``cancelkit[sandbox]`` if a module the
    sandbox imports is not installed (before any of them is imported)."""
    for name in sorted(MODULES):
        if importlib.util.find_spec(name) is None:
            raise MissingExtra(f"{SANDBOX_MISSING} ({name} is missing)")
