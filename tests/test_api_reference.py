"""The API reference (docs/reference, rendered by mkdocstrings; `make docs` builds it
strictly) documents every public name, and each client with what it inherits from
the shared base classes: from_env, warm, close, aclose (issue 31)."""

from __future__ import annotations

import re
from pathlib import Path

import cancelkit
import pytest

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference"
_ENTRY = re.compile(r"^::: (cancelkit\.\w+)((?:\n    .*)*)", re.MULTILINE)


def _entries() -> dict[str, str]:
    """Each ``::: name`` of the reference, with its options block."""
    found: dict[str, str] = {}
    for page in REFERENCE.glob("*.md"):
        found |= dict(_ENTRY.findall(page.read_text()))
    return found


def test_every_public_name_is_in_the_reference() -> None:
    entries = _entries()
    missing = [
        n for n in cancelkit.__all__ if n != "__version__" and f"cancelkit.{n}" not in entries
    ]
    assert not missing, f"not in docs/reference: {missing}"


@pytest.mark.parametrize(
    "client",
    ["PolymarketUSClient", "AsyncPolymarketUSClient", "LimitlessClient", "AsyncLimitlessClient"],
)
def test_each_client_shows_what_it_inherits(client: str) -> None:
    options = _entries()[f"cancelkit.{client}"]
    shown = re.search(r"inherited_members: \[(.*)\]", options)
    assert shown is not None, f"{client}: no inherited_members"
    members = {m.strip() for m in shown.group(1).split(",")}
    cls = getattr(cancelkit, client)
    wanted = {"from_env", "warm", "close", "key_id"} | ({"aclose"} if "Async" in client else set())
    assert wanted <= members
    for name in members:  # each one exists and is documented where it is defined
        assert getattr(cls, name).__doc__, f"{client}.{name}"
