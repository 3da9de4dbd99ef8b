"""Provisional operations: what a page documents when its verbatim block could not be had.

``scripts/generator/NAME.provisional.yaml`` is a whole OpenAPI document written from
the facts of pages whose OpenAPI block was not available (each operation names its
page under ``x-provisional``). At generation it is merged into the verbatim
document in memory, like the supplement, with one difference: a verbatim page
always wins. An operation the verbatim document already declares is dropped (the
published definition replaced it, on the first refresh that fetched its page), and
a component both define is taken from the verbatim document.

:func:`differences` is the refresh's report: for each provisional operation that a
fetched page now declares, what the published definition says differently, as
:mod:`spec_diff` judges it for a caller of this client (breaking or not).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from spec_diff import Change, compare

JSON = dict[str, Any]
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def path_for(generator_dir: Path, name: str) -> Path:
    """Where the provisional document of spec ``name`` lives (it may not exist)."""
    return generator_dir / f"{name}.provisional.yaml"


def load(path: Path) -> JSON | None:
    """The provisional document at ``path``, or None if there is none."""
    if not path.is_file():
        return None
    document = yaml.safe_load(path.read_bytes())
    if not isinstance(document, dict):
        raise ValueError(f"{path.name}: not an OpenAPI document")
    return document


def operations(document: JSON) -> list[tuple[str, str]]:
    """(path, method) of every operation of ``document``."""
    found = []
    for path, item in (document.get("paths") or {}).items():
        if isinstance(item, dict):
            found += [(path, method) for method in item if method in _METHODS]
    return found


def page_of(document: JSON, path: str, method: str) -> str:
    """The page a provisional operation was written from."""
    marker = document["paths"][path][method].get("x-provisional") or {}
    return str(marker.get("page", "?")) if isinstance(marker, dict) else "?"


def merge(document: JSON, provisional: JSON) -> list[str]:
    """Add ``provisional``'s operations and components that ``document`` lacks, in
    place; return the operations dropped because the verbatim document has them."""
    paths = document.setdefault("paths", {})
    dropped = []
    for path, method in operations(provisional):
        item = paths.setdefault(path, {})
        if method in item:
            dropped.append(f"{method.upper()} {path}")
            continue
        item[method] = copy.deepcopy(provisional["paths"][path][method])
    components = document.setdefault("components", {})
    for section, entries in (provisional.get("components") or {}).items():
        target = components.setdefault(section, {})
        for name, value in entries.items():
            target.setdefault(name, copy.deepcopy(value))  # the verbatim one wins
    return dropped


def _only(document: JSON, path: str, method: str) -> JSON:
    """``document`` reduced to one operation (its components kept for $refs)."""
    return {
        "paths": {path: {method: document["paths"][path][method]}},
        "components": document.get("components") or {},
    }


def differences(provisional: JSON, published: JSON) -> dict[str, tuple[str, list[Change]]]:
    """Per provisional operation the published document declares: its page and
    what the published definition changes for a caller (empty: they agree)."""
    report: dict[str, tuple[str, list[Change]]] = {}
    published_paths = published.get("paths") or {}
    for path, method in operations(provisional):
        if method not in (published_paths.get(path) or {}):
            continue
        found = compare(_only(provisional, path, method), _only(published, path, method))
        report[f"{method.upper()} {path}"] = (page_of(provisional, path, method), found)
    return report


def apply(generator_dir: Path, name: str, document: JSON) -> str:
    """Merge spec ``name``'s provisional document, if any, into ``document`` (in
    place); return a note for the generated files' header ('' if none)."""
    import hashlib

    path = path_for(generator_dir, name)
    provisional = load(path)
    if provisional is None:
        return ""
    merge(document, provisional)
    return f"; provisional {path.name} sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}"


def superseded(
    root: Path, blocks: dict[str, bytes], published: Callable[[Path], JSON]
) -> dict[str, dict[str, tuple[str, list[Change]]]]:
    """For each spec with a provisional document: its operations that the fetched
    pages declare, with what the published definition says differently.
    ``published(spec_path)`` is the document the fetched blocks make of that spec."""
    found: dict[str, dict[str, tuple[str, list[Change]]]] = {}
    for path in sorted((root / "scripts" / "generator").glob("*.provisional.yaml")):
        name = path.name.removesuffix(".provisional.yaml")
        if not any(key.split("/")[0] in (name, f"{name}.yaml") for key in blocks):
            continue
        document = load(path)
        if document is None:
            continue
        report = differences(document, published(root / "specs" / name))
        if report:
            found[path.name] = report
    return found


def markdown(found: dict[str, dict[str, tuple[str, list[Change]]]]) -> str:
    """The refresh report's section on provisional operations now published."""
    if not found:
        return ""
    lines = ["# Provisional operations now published", ""]
    for file, report in found.items():
        lines += [
            f"## scripts/generator/{file}",
            "",
            "Each operation below is now declared by its page's verbatim block; once that",
            "block is in specs/, generation drops the provisional definition for it.",
            "",
        ]
        for where, (page, changes) in report.items():
            breaking = sum(c.breaking for c in changes)
            lines += [f"### {where} ({page})", ""]
            if not changes:
                lines += ["- the published definition agrees with the provisional one", ""]
                continue
            lines.append(f"{breaking} breaking change(s) from the provisional definition.")
            lines += ["", *(c.line() for c in changes), ""]
    return "\n".join(lines)


def as_json(found: dict[str, dict[str, tuple[str, list[Change]]]]) -> JSON:
    """The same, for ``--json``."""
    return {
        file: {
            where: {"page": page, "changes": [c.to_dict() for c in changes]}
            for where, (page, changes) in report.items()
        }
        for file, report in found.items()
    }
