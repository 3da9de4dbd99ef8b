"""Declare path parameters a published block leaves undeclared.

Limitless's cancel-all page declares ``parameters: []`` for ``DELETE
/orders/all/{slug}``: the generator refuses such a document ("Incorrect path
templating"). Each ``{name}`` of a path that none of its operations' (or the path
item's) parameters declares becomes a required string path parameter, in memory
only; a name that is not a plain identifier stops generation.
"""

from __future__ import annotations

import re
from typing import Any

_TEMPLATE = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class PathTemplateError(ValueError):
    """A path template names something that cannot be a parameter."""


def declare(document: dict[str, Any]) -> list[str]:
    """Add the missing path parameters in place; return ``METHOD path {name}`` of each."""
    added = []
    for path, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        names = _TEMPLATE.findall(path)
        for name in names:
            if not _NAME.fullmatch(name):
                raise PathTemplateError(f"path {path!r}: {name!r} is not a parameter name")
        shared = {p.get("name") for p in item.get("parameters") or [] if p.get("in") == "path"}
        for method in _METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            own = {
                p.get("name") for p in operation.get("parameters") or [] if p.get("in") == "path"
            }
            for name in names:
                if name not in shared | own:
                    operation.setdefault("parameters", []).append(
                        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                    )
                    added.append(f"{method.upper()} {path} {{{name}}}")
    return added
