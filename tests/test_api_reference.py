"""The API reference (docs/reference, rendered by mkdocstrings; `make docs` builds it
strictly) documents every public name, and each client with what it inherits from
the shared base classes: from_env, warm, close, aclose (issue 31)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import cancelkit
import pytest

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference"
_ENTRY = re.compile(r"^::: (cancelkit(?:\.\w+)+)((?:\n    .*)*)", re.MULTILINE)


def _entries() -> dict[str, str]:
    """Each ``::: name`` of the reference, with its options block."""
    found: dict[str, str] = {}
    for page in REFERENCE.glob("*.md"):
        found |= dict(_ENTRY.findall(page.read_text()))
    return found


def _documented_as(name: str, entries: dict[str, str]) -> str | None:
    """Where the reference documents the top-level ``name``: at the top level, or in
    its venue's package (its home since issue 30), as the very same object."""
    if f"cancelkit.{name}" in entries:
        return f"cancelkit.{name}"
    for entry in entries:
        module, _, short = entry.rpartition(".")
        if short == name and module.startswith("cancelkit."):
            home = importlib.import_module(module)
            if getattr(home, name, None) is getattr(cancelkit, name):
                return entry
    return None


def test_every_public_name_is_in_the_reference() -> None:
    entries = _entries()
    missing = [
        n for n in cancelkit.__all__ if n != "__version__" and _documented_as(n, entries) is None
    ]
    assert not missing, f"not in docs/reference: {missing}"


@pytest.mark.parametrize(
    "client",
    [
        "PolymarketUSClient",
        "AsyncPolymarketUSClient",
        "LimitlessClient",
        "AsyncLimitlessClient",
        "KalshiClient",
        "AsyncKalshiClient",
    ],
)
def test_each_client_shows_what_it_inherits(client: str) -> None:
    entries = _entries()
    where = _documented_as(client, entries)
    assert where is not None, client
    options = entries[where]
    shown = re.search(r"inherited_members: \[(.*)\]", options)
    assert shown is not None, f"{client}: no inherited_members"
    members = {m.strip() for m in shown.group(1).split(",")}
    cls = getattr(cancelkit, client)
    wanted = {"from_env", "warm", "close", "key_id"} | ({"aclose"} if "Async" in client else set())
    assert wanted <= members
    for name in members:  # each one exists and is documented where it is defined
        assert getattr(cls, name).__doc__, f"{client}.{name}"
