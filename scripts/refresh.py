"""Refresh ``specs/`` from the exchanges' published pages and report what changed.

    python scripts/refresh.py [--check] [--json] [--save DIR | --from DIR]
                              [--sources FILE] [--timeout S]

Every file under ``specs/`` is listed in ``specs/sources.yaml`` with the page it was
extracted from (a URL, or a path under that file's directory). Each page is fetched
within a total deadline and a size cap (see :mod:`_fetch`), its OpenAPI block
extracted as ``extract_spec.py`` does, parsed by the bounded loader
(:mod:`_safe_yaml`) and checked name by name (:mod:`_codegen_safety`). A page is
hostile input: any failure on any page exits 2 naming it, and nothing is written.

When a block differs from ``specs/``, the new tree is regenerated in a scratch
directory first; the change report (Markdown on stdout, or ``--json``) then lists:

* per operation and schema, what changed for a caller and whether it breaks one
  (:mod:`spec_diff`);
* every module, name and type of the generated packages that was added, removed
  or changed, breaking where the wrapper imports it (:mod:`_api_surface`);
* whether ``mypy --strict wrapper`` passes and ``import cancelkit`` works against
  the regenerated code (checked before anything is written);
* the URL each page was finally read from.

``--save DIR`` keeps the fetched blocks and the report in ``DIR``; ``--from DIR``
applies exactly those blocks without fetching again (the workflow fetches once, so
the report a reviewer reads describes the bytes committed).

Exit status: 0 nothing changed (or, without ``--check``, the change was written:
the changed spec files and the generated code, and ``specs/refreshed.json`` records
each written file's page, final URL and sha256); 1 with ``--check`` when something
changed; 2 on any error, including an unexpected one (never 1, which means
"changed").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import _api_surface
import attrs
import provisional
from _codegen_safety import UnsafeSpec
from _fetch import MAX_PAGE_BYTES, FetchError
from _fetch import fetch as fetch_url
from _safe_yaml import UnsafeYAML
from _safe_yaml import load as load_yaml
from extract_spec import ExtractError, extract_block, merge
from regenerate import (
    GENERATED,
    PACKAGED,
    ROOT,
    RegenerateError,
    checked_document,
    generate_all,
    spec_pages,
)
from spec_diff import Change, TooComplex, compare

DEFAULT_TIMEOUT = 30.0
RECORD = "refreshed.json"  # under specs/: what each refresh wrote, from where
# A spec file: one name or one folder and a name, nothing that climbs or is absolute.
_SPEC_FILE = re.compile(r"[A-Za-z0-9_-]{1,100}(?:/[A-Za-z0-9_-]{1,100})?\.yaml")
_TYPECHECK_TIMEOUT = 600
# Every module of the wrapper, so that a generated module that went away is an
# ImportError here. (mypy alone would not say so: a module missing from MYPYPATH is
# looked up again on the installed path, where the old generated code still is.)
_IMPORT_ALL = (
    "import importlib, pkgutil, cancelkit\n"
    "for module in pkgutil.walk_packages(cancelkit.__path__, 'cancelkit.'):\n"
    "    if not module.name.endswith('__main__'):  # that one runs the CLI\n"
    "        importlib.import_module(module.name)\n"
)


class RefreshError(Exception):
    """A page could not be had, or the sources file is wrong."""


def read_sources(path: Path) -> dict[str, str]:
    """``specs/`` file (relative to specs/) -> page location; every key confined to specs/."""
    try:
        data = load_yaml(path.read_bytes(), str(path))
    except (OSError, UnsafeYAML) as exc:
        raise RefreshError(f"{path}: cannot read the sources ({exc})") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise RefreshError(f"{path}: expected a mapping of spec file to page location")
    for name in data:
        if not _SPEC_FILE.fullmatch(name) or name == "sources.yaml":
            raise RefreshError(
                f"{path}: {name!r} is not a spec file under specs/"
                " (NAME.yaml or FOLDER/NAME.yaml, letters, digits, _ and -)"
            )
    return data


def fetch(location: str, base: Path, timeout: float) -> tuple[str, str]:
    """The page's text and where it was finally read: an http(s) URL, or a path under ``base``."""
    if location.startswith(("http://", "https://")):
        try:
            page = fetch_url(location, timeout)
        except FetchError as exc:
            raise RefreshError(str(exc)) from None
        return page.text, page.final_url
    target = (base / location).resolve()
    if not target.is_relative_to(base.resolve()):
        raise RefreshError(f"{location}: a page path must stay under {base}")
    try:
        with target.open("rb") as handle:
            data = handle.read(MAX_PAGE_BYTES + 1)
        if len(data) > MAX_PAGE_BYTES:
            raise RefreshError(f"{location}: larger than {MAX_PAGE_BYTES} bytes")
        return data.decode("utf-8"), target.as_posix()
    except (OSError, UnicodeDecodeError) as exc:
        raise RefreshError(f"{location}: cannot read the page ({exc})") from None


def _checked_block(block: bytes, location: str) -> bytes:
    try:
        checked_document(block, location)
    except RegenerateError as exc:
        raise RefreshError(str(exc)) from None
    return block


def fetch_all(
    sources: dict[str, str], base: Path, timeout: float, final: dict[str, str] | None = None
) -> dict[str, bytes]:
    """Every page's block (checked), or RefreshError naming the first page that failed.

    ``final`` receives each spec file's final URL (after same-host redirects).
    """
    blocks: dict[str, bytes] = {}
    for spec, location in sources.items():
        text, where = fetch(location, base, timeout)
        print(f"refresh: {spec} <- {where}", file=sys.stderr)
        if final is not None:
            final[spec] = where
        try:
            block = extract_block(text, location)
        except ExtractError as exc:
            raise RefreshError(str(exc)) from None
        blocks[spec] = _checked_block(block.encode("utf-8"), location)
    return blocks


def load_saved(
    sources: dict[str, str], saved: Path, final: dict[str, str] | None = None
) -> dict[str, bytes]:
    """The blocks a ``--save`` run kept in ``saved`` (checked again: still page content).

    ``final`` receives the URLs that run read them from (recorded in its report.json).
    """
    if final is not None:
        try:
            pages = json.loads((saved / "report.json").read_text(encoding="utf-8"))["pages"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RefreshError(f"{saved}: no usable report.json ({exc})") from None
        final.update({k: v for k, v in pages.items() if k in sources and isinstance(v, str)})
    blocks: dict[str, bytes] = {}
    for spec, location in sources.items():
        path = saved / "specs" / spec
        try:
            blocks[spec] = _checked_block(path.read_bytes(), f"{location} (saved {path})")
        except OSError as exc:
            raise RefreshError(f"{path}: cannot read the saved block ({exc})") from None
    return blocks


def changes(root: Path, blocks: dict[str, bytes]) -> dict[str, list[Change]]:
    """Per spec (file or directory) whose pages changed: the changes for a caller."""
    specs = root / "specs"
    changed = {name for name, data in blocks.items() if _current(specs / name) != data}
    report: dict[str, list[Change]] = {}
    for spec in sorted({name.split("/")[0] for name in changed}):
        path = specs / spec
        pages = ", ".join(sorted(n for n in blocks if n.split("/")[0] == spec))
        try:
            old = _merged(root, path, {}) if path.exists() else {}
            new = _merged(root, path, blocks)
            report[spec] = compare(old, new)
        except (ExtractError, RegenerateError, TooComplex) as exc:
            raise RefreshError(f"specs/{spec} ({pages}): {exc}") from None
        except Exception as exc:  # a shape nothing above foresaw: still name the pages
            what = f"{type(exc).__name__}: {exc}"
            raise RefreshError(f"specs/{spec} ({pages}): unexpected {what}") from None
    return report


def _current(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _merged(root: Path, spec: Path, blocks: dict[str, bytes]) -> dict[str, Any]:
    """The document ``spec`` would be with the fetched blocks written (in memory)."""
    pages = spec_pages(spec) if spec.exists() else []
    names = {p.relative_to(root / "specs").as_posix() for p in pages}
    names |= {n for n in blocks if n.split("/")[0] == spec.name}
    documents = []
    for name in sorted(names):
        data = blocks.get(name) or (root / "specs" / name).read_bytes()
        documents.append((name, checked_document(data, name)))
    if len(documents) == 1 and not spec.is_dir():
        return dict(documents[0][1])
    return merge(documents)


_CODE_SPAN = re.compile(r"(`[^`]*`)")
_HTML = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def _escape(text: str, html: bool = True) -> str:
    """One line of Markdown from data: no control or format characters, no HTML.

    A name holding a newline and ``<!--`` hid every later line of the rendered
    report; a line beginning ``::`` was read by the runner as a workflow command.
    Text inside a code span is shown literally by Markdown, so it is not
    HTML-escaped (``->`` stays readable); everything else is.
    """
    line = "".join(
        f"\\u{ord(char):04x}"
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn")
        else char
        for char in text
    )
    if not html:
        return line
    parts = _CODE_SPAN.split(line)
    return "".join(
        part if index % 2 else "".join(_HTML.get(char, char) for char in part)
        for index, part in enumerate(parts)
    )


def _api_line(change: _api_surface.ApiChange) -> str:
    flag = "**breaking**" if change.breaking else "compatible"
    where = "the wrapper imports it" if change.used_by_wrapper else "not used by the wrapper"
    if change.change == "changed":
        what = f"changed: `{change.before[:200]}` → `{change.after[:200]}`"
    elif change.change == "added":
        what = f"added: `{change.after[:200]}`"
    else:
        what = "removed"
    return f"- {flag}: `{change.entry}` {what} ({where})"


@attrs.frozen
class Proof:
    """Whether the wrapper imports and type-checks against a generated tree."""

    passed: bool
    detail: str


def prove_wrapper(root: Path, generated: Path) -> Proof:
    """``mypy --strict`` on the wrapper and an import of every wrapper module, with the
    ``generated`` tree as ``cancelkit/_generated`` (in a scratch copy)."""
    wrapper = root / "wrapper"
    if not (wrapper / "cancelkit").is_dir():
        return Proof(False, f"no wrapper at {wrapper}")
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "wrapper"
        skip = shutil.ignore_patterns("__pycache__", PACKAGED.name)  # the link to generated/
        shutil.copytree(wrapper, tree, ignore=skip)
        shutil.copytree(generated, tree / PACKAGED.relative_to("wrapper"))
        env = {**os.environ, "MYPYPATH": str(tree), "PYTHONPATH": str(tree)}
        try:
            mypy = subprocess.run(
                [sys.executable, "-m", "mypy", "--strict", str(tree / "cancelkit")],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                timeout=_TYPECHECK_TIMEOUT,
            )
            imported = subprocess.run(
                [sys.executable, "-c", _IMPORT_ALL],
                cwd=scratch,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
        except subprocess.TimeoutExpired as exc:
            return Proof(False, f"{exc.cmd[2:]} did not finish in {exc.timeout} s")
    failures = []
    if mypy.returncode != 0:
        failures.append("mypy --strict wrapper:\n" + mypy.stdout[-4000:] + mypy.stderr[-1000:])
    if imported.returncode != 0:
        failures.append("import of every cancelkit module:\n" + imported.stderr[-4000:])
    return Proof(not failures, "\n".join(failures))


def markdown(
    report: dict[str, list[Change]],
    api: list[_api_surface.ApiChange] | None = None,
    proof: Proof | None = None,
    final: dict[str, str] | None = None,
) -> str:
    """The change report a reviewer reads; every line from data is escaped."""
    api = api or []
    if not report and not api:
        return "# Spec refresh: no change\n\nEvery page's OpenAPI block matches `specs/`.\n"
    lines = ["# Spec refresh: changes", ""]
    breaking = sum(c.breaking for found in report.values() for c in found)
    breaking += sum(c.breaking for c in api) + (proof is not None and not proof.passed)
    lines += [f"{breaking} breaking change(s) for callers of this client.", ""]
    if proof is not None:
        verdict = "passed" if proof.passed else "**FAILED** (breaking)"
        lines += [
            "The wrapper against the regenerated client, checked before anything was"
            f" written (`mypy --strict wrapper`, every `cancelkit` module imported): {verdict}.",
            "",
        ]
        if not proof.passed:
            lines += [
                "```text",
                *(_escape(x, html=False).replace("`", "'") for x in proof.detail.splitlines()),
                "```",
                "",
            ]
    for spec, found in report.items():
        lines.append(_escape(f"## specs/{spec}"))
        lines.append("")
        lines += [_escape(c.line()) for c in found] or [
            "- no change to an operation or a security scheme (see the generated code below)"
        ]
        lines.append("")
    lines += ["## Generated code (modules, names and types)", ""]
    lines += [_escape(_api_line(c)) for c in api] or ["- no change"]
    lines.append("")
    if final:
        lines += ["## Pages read", ""]
        lines += [_escape(f"- `specs/{spec}` from {url}") for spec, url in sorted(final.items())]
        lines.append("")
    return "\n".join(lines)


def _candidate(root: Path, blocks: dict[str, bytes], scratch: Path) -> Path:
    """A copy of the project's specs with ``blocks`` written, and its generated tree."""
    shutil.copytree(root / "specs", scratch / "specs")
    for name, data in blocks.items():
        target = scratch / "specs" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (scratch / "scripts").symlink_to(root / "scripts", target_is_directory=True)
    shutil.copy(root / "pyproject.toml", scratch / "pyproject.toml")
    generate_all(scratch, scratch / "generated")
    return scratch / "generated"


def write(root: Path, blocks: dict[str, bytes], final: dict[str, str] | None = None) -> list[str]:
    """Rewrite the changed spec files and record them in ``specs/refreshed.json``."""
    specs = (root / "specs").resolve()
    record_path = specs / RECORD
    record: dict[str, Any] = (
        json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    )
    written = []
    for name, data in blocks.items():
        target = (specs / name).resolve()
        if not target.is_relative_to(specs):  # read_sources already refused it
            raise RefreshError(f"{name}: outside specs/")
        if _current(target) != data:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written.append(name)
            record[name] = {
                "url": (final or {}).get(name, ""),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
    if written:
        record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", "utf-8")
    return written


def regenerate(root: Path) -> None:
    """Replace the generated code from ``specs/`` (as ``regenerate.py`` does)."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "generated"
        generate_all(root, fresh)
        _replace_generated(root, fresh)


def _replace_generated(root: Path, fresh: Path) -> None:
    shutil.rmtree(root / GENERATED, ignore_errors=True)
    shutil.copytree(fresh, root / GENERATED)


def _save(saved: Path, blocks: dict[str, bytes], text: str, data: dict[str, Any]) -> None:
    for name, block in blocks.items():
        target = saved / "specs" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(block)
    (saved / "report.md").write_text(text, encoding="utf-8")
    (saved / "report.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    """Fetch (or load), check, report, and with no ``--check`` write."""
    root: Path = args.root.resolve()
    sources_file: Path = args.sources or root / "specs" / "sources.yaml"
    final: dict[str, str] = {}
    sources = read_sources(sources_file)
    if args.from_dir:
        blocks = load_saved(sources, args.from_dir, final)
    else:
        blocks = fetch_all(sources, sources_file.parent, args.timeout, final)
    report = changes(root, blocks)
    # Operations written from a page's facts that the fetched pages now publish.
    published = provisional.superseded(root, blocks, lambda s: _merged(root, s, blocks))
    changed = any(_current(root / "specs" / name) != data for name, data in blocks.items())
    api: list[_api_surface.ApiChange] = []
    proof: Proof | None = None
    with tempfile.TemporaryDirectory() as scratch:
        fresh: Path | None = None
        if changed:
            try:
                fresh = _candidate(root, blocks, Path(scratch))
            except RegenerateError as exc:
                raise RefreshError(f"the new specs do not generate: {exc}") from None
            api = _api_surface.compare(root / GENERATED, fresh, root / "wrapper")
            proof = None if args.no_typecheck else prove_wrapper(root, fresh)
        text = markdown(report, api, proof, final)
        section = provisional.markdown(published)  # page text in it: escaped line by line
        if section:
            text += "\n" + "\n".join(_escape(line) for line in section.splitlines())
        data = {
            "changed": changed,
            "specs": {spec: [c.to_dict() for c in found] for spec, found in report.items()},
            "generated": [{**attrs.asdict(c), "breaking": c.breaking} for c in api],
            "wrapper_check": None if proof is None else attrs.asdict(proof),
            "pages": final,
            "provisional": provisional.as_json(published),
        }
        if args.save:
            _save(args.save, blocks, text, data)
        print(json.dumps(data, indent=2) if args.json else text)
        if not changed:
            return 0
        if args.check:
            return 1
        assert fresh is not None
        written = write(root, blocks, final)
        _replace_generated(root, fresh)
    print(
        f"refresh: wrote {', '.join(f'specs/{n}' for n in written)};"
        f" regenerated {GENERATED.as_posix()}/",
        file=sys.stderr,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report only; exit 1 on change")
    parser.add_argument("--json", action="store_true", help="the report as JSON")
    parser.add_argument("--sources", type=Path, help="default: specs/sources.yaml")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per page")
    parser.add_argument("--root", type=Path, default=ROOT, help="project root")
    parser.add_argument("--save", type=Path, help="keep the fetched blocks and the report here")
    parser.add_argument(
        "--from", dest="from_dir", type=Path, help="use the blocks a --save run kept; no fetch"
    )
    parser.add_argument(
        "--no-typecheck",
        action="store_true",
        help="skip the wrapper check (when a --check run already made it on the same bytes)",
    )
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (RefreshError, UnsafeSpec, UnsafeYAML) as exc:
        print(f"refresh: {exc}; nothing written", file=sys.stderr)
        return 2
    except Exception as exc:  # a crash is an error, never "changed" (exit 1)
        print(f"refresh: unexpected {type(exc).__name__}: {exc}; nothing written", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
