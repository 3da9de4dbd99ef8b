"""Refresh ``specs/`` from the exchanges' published pages and report what changed.

    python scripts/refresh.py [--check] [--json] [--sources FILE] [--timeout S]

Every file under ``specs/`` is listed in ``specs/sources.yaml`` with the page it was
extracted from (a URL, or a path relative to that file). Each page is fetched
(httpx, a timeout per page), its OpenAPI block extracted as ``extract_spec.py``
does, and compared with the verbatim file. The change report (Markdown on stdout,
or ``--json``) lists, per operation and schema, what changed for a caller of this
client and whether it breaks one (see :mod:`spec_diff`).

Exit status: with ``--check``, 0 when nothing changed and 1 when something did,
writing nothing (for a scheduled CI job); without it, the changed spec files are
rewritten, the generated code is regenerated, and the status is 0. A page that cannot
be fetched or has no OpenAPI block exits 2 naming it, and nothing is written,
whatever the other pages said.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import provisional
import yaml
from extract_spec import ExtractError, extract_block
from regenerate import GENERATED, ROOT, RegenerateError, generate_all, load_spec, spec_pages
from spec_diff import Change, compare

DEFAULT_TIMEOUT = 30.0


class RefreshError(Exception):
    """A page could not be had, or the sources file is wrong."""


def read_sources(path: Path) -> dict[str, str]:
    """``specs/`` file (relative to specs/) -> page location."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RefreshError(f"{path}: cannot read the sources ({exc})") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise RefreshError(f"{path}: expected a mapping of spec file to page location")
    return data


def fetch(location: str, base: Path, timeout: float) -> str:
    """The page's text: an http(s) URL fetched with httpx, or a path (relative to ``base``)."""
    if location.startswith(("http://", "https://")):
        try:
            response = httpx.get(location, timeout=timeout, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise RefreshError(f"{location}: cannot fetch the page ({exc})") from None
        return response.text
    try:
        return (base / location).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RefreshError(f"{location}: cannot read the page ({exc})") from None


def fetch_all(sources: dict[str, str], base: Path, timeout: float) -> dict[str, bytes]:
    """Every page's block, or RefreshError naming the first page that failed."""
    blocks: dict[str, bytes] = {}
    for spec, location in sources.items():
        text = fetch(location, base, timeout)
        try:
            block = extract_block(text, location)
            yaml.safe_load(block)
        except ExtractError as exc:
            raise RefreshError(str(exc)) from None
        except yaml.YAMLError as exc:
            raise RefreshError(f"{location}: the OpenAPI block is not valid YAML ({exc})") from None
        blocks[spec] = block.encode("utf-8")
    return blocks


def changes(root: Path, blocks: dict[str, bytes]) -> dict[str, list[Change]]:
    """Per spec (file or directory) whose pages changed: the changes for a caller."""
    specs = root / "specs"
    changed = {name for name, data in blocks.items() if _current(specs / name) != data}
    report: dict[str, list[Change]] = {}
    for spec in sorted({name.split("/")[0] for name in changed}):
        path = specs / spec
        old, _ = load_spec(root, path) if path.exists() else ({}, "")
        new = _merged(root, path, blocks)
        report[spec] = compare(old, new)
    return report


def _current(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _merged(root: Path, spec: Path, blocks: dict[str, bytes]) -> dict[str, Any]:
    """The document ``spec`` would be with the fetched blocks written (in memory)."""
    from extract_spec import merge

    pages = spec_pages(spec) if spec.exists() else []
    names = {p.relative_to(root / "specs").as_posix() for p in pages}
    names |= {n for n in blocks if n.split("/")[0] == spec.name}
    documents = []
    for name in sorted(names):
        data = blocks.get(name) or (root / "specs" / name).read_bytes()
        documents.append((name, yaml.safe_load(data)))
    if len(documents) == 1 and not spec.is_dir():
        return dict(documents[0][1])
    return merge(documents)


def markdown(report: dict[str, list[Change]]) -> str:
    """The change report a reviewer reads."""
    if not report:
        return "# Spec refresh: no change\n\nEvery page's OpenAPI block matches `specs/`.\n"
    lines = ["# Spec refresh: changes", ""]
    breaking = sum(c.breaking for found in report.values() for c in found)
    lines += [f"{breaking} breaking change(s) for callers of this client.", ""]
    for spec, found in report.items():
        lines.append(f"## specs/{spec}")
        lines.append("")
        lines += [c.line() for c in found] or ["- no change a caller can see (text only)"]
        lines.append("")
    return "\n".join(lines)


def write(root: Path, blocks: dict[str, bytes]) -> list[str]:
    """Rewrite the changed spec files, then the generated code; the names written."""
    written = []
    for name, data in blocks.items():
        target = root / "specs" / name
        if _current(target) != data:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written.append(name)
    return written


def regenerate(root: Path) -> None:
    """Replace the generated code from ``specs/`` (as ``regenerate.py`` does)."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "generated"
        generate_all(root, fresh)
        shutil.rmtree(root / GENERATED, ignore_errors=True)
        shutil.copytree(fresh, root / GENERATED)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report only; exit 1 on change")
    parser.add_argument("--json", action="store_true", help="the report as JSON")
    parser.add_argument("--sources", type=Path, help="default: specs/sources.yaml")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per page")
    parser.add_argument("--root", type=Path, default=ROOT, help="project root")
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    sources_file: Path = args.sources or root / "specs" / "sources.yaml"
    try:
        sources = read_sources(sources_file)
        blocks = fetch_all(sources, sources_file.parent, args.timeout)
        report = changes(root, blocks)
        # Operations written from a page's facts that the fetched pages now publish.
        published = provisional.superseded(root, blocks, lambda s: _merged(root, s, blocks))
    except RefreshError as exc:
        print(f"refresh: {exc}; nothing written", file=sys.stderr)
        return 2
    if args.json:
        data = {spec: [c.to_dict() for c in found] for spec, found in report.items()}
        found = provisional.as_json(published)
        print(json.dumps({"changed": bool(report), "specs": data, "provisional": found}, indent=2))
    else:
        print(markdown(report))
        print(provisional.markdown(published))
    if not report:
        return 0
    if args.check:
        return 1
    written = write(root, blocks)
    try:
        regenerate(root)
    except RegenerateError as exc:
        print(f"refresh: wrote {written}, but regeneration failed: {exc}", file=sys.stderr)
        return 2
    print(
        f"refresh: wrote {', '.join(f'specs/{n}' for n in written)};"
        f" regenerated {GENERATED.as_posix()}/",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
