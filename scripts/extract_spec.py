"""Pull the OpenAPI document out of exchange documentation pages.

The exchanges publish one endpoint per page: prose, then the endpoint's OpenAPI
document in a fenced ``yaml`` block. Usage::

    python scripts/extract_spec.py PAGE [PAGE...] -o specs/NAME.yaml

A PAGE is a file path or an http(s) URL. With one page the output is the block
byte for byte. With several pages of one API, their paths and components are
merged into one document (``info``, ``servers`` and ``tags`` come from the first
page, other tags are appended); the same path and method on two pages, or one
component defined differently on two pages, is an error naming both pages. When
the pages' top-level ``security`` differs, each page's security is moved onto its
own operations so that no operation changes meaning.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from _codegen_safety import UnsafeSpec, check_document
from _fetch import FetchError, fetch
from _safe_yaml import UnsafeYAML
from _safe_yaml import load as load_yaml

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n]*)$", re.MULTILINE)
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class ExtractError(Exception):
    """A page has no usable OpenAPI block, or pages conflict."""


def read_page(source: str) -> str:
    """Return the text of a page given as a file path or an http(s) URL."""
    if source.startswith(("http://", "https://")):
        try:
            return fetch(source, timeout=30).text
        except FetchError as exc:
            raise ExtractError(str(exc)) from None
    # Bytes, not read_text: newline translation would break "byte for byte".
    return Path(source).read_bytes().decode("utf-8")


def extract_block(text: str, page: str) -> str:
    """Return the one fenced YAML block of ``text`` that holds an OpenAPI document."""
    found: list[str] = []
    position = 0
    while match := _FENCE.search(text, position):
        fence = match["fence"]
        start = match.end() + 1
        closing = re.compile(rf"^{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
        end_match = closing.search(text, start)
        if end_match is None:
            break
        body = text[start : end_match.start()]
        position = end_match.end()
        if match["info"].split(" ")[0].lower() in ("yaml", "yml") and re.search(
            r"^openapi:", body, re.MULTILINE
        ):
            found.append(body)
    if not found:
        raise ExtractError(f"{page}: no OpenAPI block (a fenced yaml block with 'openapi:')")
    if len(found) > 1:
        raise ExtractError(f"{page}: {len(found)} OpenAPI blocks; expected one per page")
    return found[0]


def _load(block: str, page: str) -> dict[str, Any]:
    """The block parsed by the bounded loader and checked name by name."""
    try:
        document = load_yaml(block, page)
    except UnsafeYAML as exc:
        raise ExtractError(f"{page}: the OpenAPI block is not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ExtractError(f"{page}: the OpenAPI block is not a mapping")
    try:
        check_document(document, page)
    except UnsafeSpec as exc:
        raise ExtractError(str(exc)) from None
    return document


def merge(pages: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Merge the documents of several pages of one API into one document."""
    securities = [doc.get("security") for _, doc in pages]
    push_down = any(s != securities[0] for s in securities)
    first_page, first = pages[0]
    merged: dict[str, Any] = {k: v for k, v in first.items() if k not in ("paths", "components")}
    if push_down:
        merged.pop("security", None)
    merged["paths"] = {}
    merged["components"] = {}
    path_owner: dict[tuple[str, str], str] = {}
    component_owner: dict[tuple[str, str], str] = {}
    for page, doc in pages:
        for path, item in (doc.get("paths") or {}).items():
            target = merged["paths"].setdefault(path, {})
            for key, value in item.items():
                if key in _METHODS:
                    owner = path_owner.get((path, key))
                    if owner is not None:
                        raise ExtractError(
                            f"{key.upper()} {path} is defined on both {owner} and {page}"
                        )
                    path_owner[(path, key)] = page
                    if push_down and "security" in doc and "security" not in value:
                        value = {**value, "security": doc["security"]}
                    target[key] = value
                elif key in target and target[key] != value:
                    raise ExtractError(f"path {path} has a different {key!r} on {page} than before")
                else:
                    target[key] = value
        for section, entries in (doc.get("components") or {}).items():
            target = merged["components"].setdefault(section, {})
            for name, value in entries.items():
                if name in target and target[name] != value:
                    raise ExtractError(
                        f"components/{section}/{name} is defined differently on"
                        f" {component_owner[(section, name)]} and {page}"
                    )
                component_owner.setdefault((section, name), page)
                target[name] = value
        if page != first_page:
            names = {t.get("name") for t in merged.get("tags", [])}
            for tag in doc.get("tags", []):
                if tag.get("name") not in names:
                    merged.setdefault("tags", []).append(tag)
    if not merged["components"]:
        del merged["components"]
    return merged


def extract(sources: list[str]) -> str:
    """Return the spec text for ``sources``: the block itself for one page."""
    blocks = [(source, extract_block(read_page(source), source)) for source in sources]
    if len(blocks) == 1:
        _load(blocks[0][1], blocks[0][0])
        return blocks[0][1]
    documents = [(page, _load(block, page)) for page, block in blocks]
    return yaml.safe_dump(merge(documents), sort_keys=False, allow_unicode=True, width=100)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="+", metavar="PAGE", help="file path or URL")
    parser.add_argument("-o", "--output", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        text = extract(args.pages)
    except (ExtractError, OSError) as exc:
        print(f"extract_spec: {exc}", file=sys.stderr)
        return 1
    args.output.write_bytes(text.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
