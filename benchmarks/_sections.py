"""Sections of RESULTS.md a run can regenerate alone (``python -m benchmarks --only
NAME[,NAME]``): each is a block between markers, spliced into the file in place of its
previous version, so a long section (the idle guard) need not rerun everything else.

A spliced block says when it was measured and the load of its own run: its figures
compare only with the other rows of the same block.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime


def begin(name: str) -> str:
    """The marker that opens section ``name``."""
    return f"<!-- section {name}: python -m benchmarks --only {name} -->"


def end(name: str) -> str:
    """The marker that closes section ``name``."""
    return f"<!-- /section {name} -->"


def block(name: str, lines: list[str]) -> list[str]:
    """``lines`` between the section's markers."""
    return [begin(name), *lines, end(name), ""]


def stamp(name: str, load: tuple[float, float]) -> str:
    """The line a section measured alone carries under its heading."""
    return (
        f"_Measured alone (`python -m benchmarks --only {name}`) on"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M UTC}; load average (1 min) {load[0]:.2f} at its"
        f" start, {load[1]:.2f} at its end._"
    )


def splice(text: str, name: str, lines: list[str], legacy: str | None = None) -> str:
    """``text`` (RESULTS.md) with section ``name`` replaced by ``lines`` (a block):
    between its markers; else the unmarked section whose heading starts with
    ``legacy`` (up to the next ``## `` heading); else appended."""
    new = "\n".join(block(name, lines))
    marked = re.compile(re.escape(begin(name)) + r".*?" + re.escape(end(name)) + r"\n*", re.S)
    if marked.search(text):
        return marked.sub(lambda _: new + "\n", text, count=1)
    if legacy is not None:
        old = re.compile(r"^" + re.escape(legacy) + r".*?(?=^## |\Z)", re.S | re.M)
        if old.search(text):
            return old.sub(lambda _: new + "\n", text, count=1)
    return text.rstrip("\n") + "\n\n" + new + "\n"
