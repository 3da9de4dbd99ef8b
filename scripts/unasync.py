"""Write each venue's sync client from its async one: the public methods are written once.

A venue's ``_async_client.py`` is the source; its ``_sync_client.py`` is this
script's output, token for token the same program without ``async`` and
``await``, and with the async names read as their sync twins
(``AsyncPolymarketUSClient`` -> ``PolymarketUSClient``, ``_AsyncPolymarket`` ->
``_SyncPolymarket``, ``httpx.AsyncBaseTransport`` -> ``httpx.BaseTransport``).
Strings and comments are left as written, so a docstring says the same on both
sides; a line ending in the comment ``# unasync: async only`` is left out (the async
client's private ``_shared`` argument: how a sync client builds its twin), and so is
the whole statement when that line opens one (a method such as Polymarket's
``order_events``, an async iterator with no sync meaning). Where the
two sides differ in how they carry a call out (the sync client's direct route, its
loop thread), the source calls a method of its base class, and each side's base
class is written by hand.

    python scripts/unasync.py          # rewrite every _sync_client.py
    python scripts/unasync.py --check  # exit 1 if one is not what it would write

The output is put through ``ruff`` (import order and format), as the rest of the
tree is, so that the check compares like with like.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "wrapper" / "cancelkit"
CONFIG = ROOT / "pyproject.toml"  # ruff's settings, wherever the output is written
SOURCE = "_async_client.py"
TARGET = "_sync_client.py"
# Words that only the async side has: dropped with the space after them.
_DROPPED = {"async", "await"}
# A line that only the async side has (the twin's private ``_shared`` argument) ends
# with this comment; the sync file leaves the line out, or the whole statement the
# line opens (a ``def``, ``class`` or ``if`` and its body, decorators included).
ASYNC_ONLY = re.compile(r"#\s*unasync: async only\b")


def _async_only_rows(text: str) -> set[int]:
    """The rows (from 1) the sync file leaves out: each marked line, and every row of
    a statement whose first row is marked."""
    lines = text.splitlines()
    marked = {row for row, line in enumerate(lines, 1) if ASYNC_ONLY.search(line)}
    dropped = set(marked)
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.stmt) or node.end_lineno is None:
            continue
        decorators = getattr(node, "decorator_list", [])
        first = min([node.lineno, *(d.lineno for d in decorators)])
        if marked & {first, node.lineno}:
            dropped.update(range(first, node.end_lineno + 1))
    return dropped


# The core's async names whose sync twin is spelt SyncX (cancelkit._base).
_CORE_TWINS = {"AsyncHTTP": "SyncHTTP", "AsyncOptions": "SyncOptions"}


def sync_name(name: str) -> str:
    """The sync twin of an identifier: ``_AsyncX`` -> ``_SyncX``, ``AsyncX`` -> ``X``
    (the core's ``AsyncOptions`` -> ``SyncOptions``, ``AsyncHTTP`` -> ``SyncHTTP``)."""
    if name in _CORE_TWINS:
        return _CORE_TWINS[name]
    if name.startswith("_Async") and name[6:7].isupper():
        return "_Sync" + name[6:]
    if name.startswith("Async") and name[5:6].isupper():
        return name[5:]
    return name


def _docstring(first_line: str, source: str) -> str:
    return (
        f'"""{first_line}\n\nThe sync client, generated from ``{source}`` by'
        " ``scripts/unasync.py``:\nnever edited by hand (edit that file, then run the script).\n"
        '"""'
    )


def rewrite(text: str, source_name: str = SOURCE) -> str:
    """The sync module for the async module ``text`` (before formatting)."""
    dropped = _async_only_rows(text)
    text = "".join(
        line for row, line in enumerate(text.splitlines(keepends=True), 1) if row not in dropped
    )
    lines = text.splitlines(keepends=True)
    # (first row, its column, last row, its column, new text); rows count from 1.
    edits: list[tuple[int, int, int, int, str]] = []
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    first_statement = True
    for index, token in enumerate(tokens):
        kind, value, (row, col), (end_row, end_col), _ = token
        if kind in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.ENCODING):
            continue
        if first_statement and kind == tokenize.STRING:  # the module's docstring
            summary = value.strip("\"'").strip().splitlines()[0]
            edits.append((row, col, end_row, end_col, _docstring(summary, source_name)))
        first_statement = False
        if kind != tokenize.NAME:
            continue
        if value in _DROPPED:
            following = tokens[index + 1]
            end = following.start[1] if following.start[0] == row else end_col
            edits.append((row, col, row, end, ""))
        elif (new := sync_name(value)) != value:
            edits.append((row, col, row, end_col, new))
    for row, col, end_row, end_col, new in reversed(edits):
        joined = lines[row - 1][:col] + new + lines[end_row - 1][end_col:]
        lines[row - 1 : end_row] = [joined]
    return "".join(lines)


def _ruff(args: list[str], text: str, path: Path) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            *args,
            "--config",
            str(CONFIG),
            "--stdin-filename",
            str(path),
            "-",
        ],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"ruff {args[0]} failed on {path}:\n{done.stderr}{done.stdout}")
    return done.stdout


def generate(source: Path) -> str:
    """The sync module for ``source``, as it is checked in: rewritten, then through
    ruff's import sorting and formatter."""
    target = source.with_name(TARGET)
    text = rewrite(source.read_text(), source.name)
    text = _ruff(["check", "--fix-only", "--select", "I", "--quiet"], text, target)
    return _ruff(["format", "--quiet"], text, target)


def sources(package: Path = PACKAGE) -> list[Path]:
    """Every venue's async client, the source of its sync one."""
    return sorted(package.glob(f"*/{SOURCE}"))


def main(argv: list[str] | None = None, package: Path = PACKAGE) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a sync client is stale"
    )
    args = parser.parse_args(argv)
    stale: list[Path] = []
    for source in sources(package):
        target = source.with_name(TARGET)
        wanted = generate(source)
        if target.exists() and target.read_text() == wanted:
            continue
        stale.append(target)
        if not args.check:
            target.write_text(wanted)
    for target in stale:
        verb = "is not what scripts/unasync.py writes" if args.check else "rewritten"
        shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
        print(f"{shown}: {verb}")
    if args.check and stale:
        print("run `python scripts/unasync.py` and commit the result", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
