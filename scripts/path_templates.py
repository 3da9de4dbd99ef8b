"""Declare path parameters a published block leaves undeclared.

Limitless's cancel-all page declares ``parameters: []`` for ``DELETE
/orders/all/{slug}``: the generator refuses such a document ("Incorrect path
templating"). Each ``{name}`` of a path that none of its operations' (or the path
item's) parameters declares becomes a required string path parameter, in memory
only; a name that is not a plain identifier stops generation. A parameter given as a
``$ref`` to ``#/components/parameters/...`` (Kalshi's ``OrderIdPath``) declares what
it points at: adding another would be a duplicate the generator refuses.
"""

from __future__ import annotations

import re
from typing import Any

_TEMPLATE = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class PathTemplateError(ValueError):
    """A path template names something that cannot be a parameter."""


_LOCAL = "#/components/parameters/"


def _path_names(parameters: object, document: dict[str, Any]) -> set[object]:
    """Names of the path parameters in ``parameters``, local ``$ref``\\ s followed."""
    found: set[object] = set()
    components = (document.get("components") or {}).get("parameters") or {}
    for parameter in parameters if isinstance(parameters, list) else []:
        if not isinstance(parameter, dict):
            continue
        ref = parameter.get("$ref")
        if isinstance(ref, str) and ref.startswith(_LOCAL):
            parameter = components.get(ref[len(_LOCAL) :])
            if not isinstance(parameter, dict):
                continue
        if parameter.get("in") == "path":
            found.add(parameter.get("name"))
    return found


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
        shared = _path_names(item.get("parameters"), document)
        for method in _METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            own = _path_names(operation.get("parameters"), document)
            for name in names:
                if name not in shared | own:
                    operation.setdefault("parameters", []).append(
                        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                    )
                    added.append(f"{method.upper()} {path} {{{name}}}")
    return added
