"""What changed between two versions of an OpenAPI document, for a caller of this client.

Documents are compared parsed, with local ``$ref``\\ s resolved, operation by
operation (parameters, request body, responses) plus the security schemes.
Each change is one :class:`Change`, in the spec's own names, saying whether it
breaks an existing caller and why. Requests and responses read constraints in
opposite directions: a tighter request schema may refuse what was valid before
(breaking), while a response enum gaining a value breaks nothing here, because
the generated types keep unknown values.

No library fits: oasdiff (the tool for this) is Go, and a generic structure
differ would give paths, not "tightened: requests valid before may be refused".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

JSON = dict[str, Any]
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# (keyword, the direction in which a larger value is stricter)
_BOUNDS = {
    "maxLength": False,
    "minLength": True,
    "maxItems": False,
    "minItems": True,
    "maximum": False,
    "minimum": True,
}


@attrs.frozen
class Change:
    """One change: where (operation or schema), what, and whether it breaks a caller."""

    where: str
    what: str
    breaking: bool
    why: str

    def line(self) -> str:
        """One Markdown list item."""
        flag = "**breaking**" if self.breaking else "compatible"
        return f"- {flag}: `{self.where}` {self.what} ({self.why})"

    def to_dict(self) -> JSON:
        """For ``--json``."""
        return attrs.asdict(self)


# Resolving inlines each $ref where it is used: forty schemas each using the
# next twice would be 2**40 nodes. Past this many the document is refused.
MAX_RESOLVED_NODES = 500_000


class TooComplex(ValueError):
    """Resolving the document's ``$ref``\\ s would build more than MAX_RESOLVED_NODES nodes."""


def resolve(node: Any, root: JSON, seen: frozenset[str] = frozenset()) -> Any:
    """``node`` with every local ``$ref`` replaced by what it points at (cycles stop).

    Raises :class:`TooComplex` past :data:`MAX_RESOLVED_NODES` nodes.
    """
    return _resolve(node, root, seen, [MAX_RESOLVED_NODES])


def _resolve(node: Any, root: JSON, seen: frozenset[str], budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise TooComplex(f"resolving $refs would build more than {MAX_RESOLVED_NODES} nodes")
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and ref not in seen:
            target: Any = root
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            if not isinstance(target, dict):
                target = {}
            merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            return _resolve(merged, root, seen | {ref}, budget)
        return {k: _resolve(v, root, seen, budget) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, root, seen, budget) for v in node]
    return node


def _operations(document: JSON) -> dict[str, JSON]:
    found: dict[str, JSON] = {}
    for path, item in (document.get("paths") or {}).items():
        for method in _METHODS:
            if isinstance(item, dict) and method in item:
                operation = dict(item[method])
                shared = item.get("parameters") or []
                operation["parameters"] = [*shared, *(operation.get("parameters") or [])]
                found[f"{method.upper()} {path}"] = operation
    return found


def _type(schema: JSON) -> str:
    kind = schema.get("type", "any")
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


def _schema(where: str, name: str, old: JSON, new: JSON, request: bool) -> Iterator[Change]:
    """Changes of one schema (a parameter's, or a body property's), recursively."""
    label = f"`{name}`" if name else "body"
    if _type(old) != _type(new):
        yield Change(where, f"{label}: type {_type(old)} → {_type(new)}", True, "changed type")
    for key, larger_is_stricter in _BOUNDS.items():
        if old.get(key) == new.get(key):
            continue
        before, after = old.get(key), new.get(key)
        if before is None or after is None:
            tighter = (after is not None) == request
            text = f"{key} {'added: ' + str(after) if after is not None else 'removed'}"
        else:
            tighter = (after > before) == larger_is_stricter
            text = f"{key} {before} → {after}"
        yield _constraint(where, f"{label}: {text}", tighter, request)
    if old.get("pattern") != new.get("pattern"):
        text = f"pattern {old.get('pattern')!r} → {new.get('pattern')!r}"
        yield Change(where, f"{label}: {text}", request, "values valid before may not match")
    old_enum, new_enum = set(old.get("enum") or ()), set(new.get("enum") or ())
    if old_enum != new_enum and (old_enum or new_enum):
        gone, added = sorted(old_enum - new_enum), sorted(new_enum - old_enum)
        text = (
            f"{label}: enum"
            + (f" removes {gone}" if gone else "")
            + (f" adds {added}" if added else "")
        )
        if request:
            yield _constraint(where, text, bool(gone) or not old_enum, request)
        else:
            yield Change(where, text, False, "unknown enum values parse; callers may see new ones")
    yield from _properties(where, name, old, new, request)
    if "items" in old or "items" in new:
        yield from _schema(
            where, f"{name}[]", old.get("items") or {}, new.get("items") or {}, request
        )


def _constraint(where: str, what: str, tighter: bool, request: bool) -> Change:
    if request:
        why = "tightened: requests valid before may now be refused" if tighter else "loosened"
        return Change(where, what, tighter, why)
    why = "responses may now hold values the old spec ruled out" if not tighter else "tightened"
    return Change(where, what, False, why)


def _properties(where: str, name: str, old: JSON, new: JSON, request: bool) -> Iterator[Change]:
    old_props, new_props = old.get("properties") or {}, new.get("properties") or {}
    old_req, new_req = set(old.get("required") or ()), set(new.get("required") or ())
    prefix = f"{name}." if name else ""
    for prop in sorted(old_props.keys() | new_props.keys()):
        label = f"`{prefix}{prop}`"
        if prop not in old_props:
            needed = prop in new_req
            why = (
                "a caller who does not send it is refused"
                if request and needed
                else "new, optional"
                if request
                else "new field; unknown fields are kept"
            )
            kind = "required" if needed else "optional"
            yield Change(where, f"{label} added ({kind})", request and needed, why)
        elif prop not in new_props:
            why = (
                "a caller sending it may be refused" if request else "a caller reading it loses it"
            )
            yield Change(where, f"{label} removed", True, why)
        else:
            yield from _schema(where, f"{prefix}{prop}", old_props[prop], new_props[prop], request)
            if (prop in old_req) != (prop in new_req):
                now = "required" if prop in new_req else "optional"
                breaking = (prop in new_req) == request
                why = (
                    "a caller who does not send it is refused"
                    if request and breaking
                    else "a caller relying on it may not get it"
                    if breaking
                    else "relaxed"
                )
                yield Change(where, f"{label} is now {now}", breaking, why)


def _parameters(where: str, old: JSON, new: JSON) -> Iterator[Change]:
    def keyed(operation: JSON) -> dict[str, JSON]:
        return {f"{p.get('in')} {p.get('name')}": p for p in operation.get("parameters") or []}

    before, after = keyed(old), keyed(new)
    for key in sorted(before.keys() | after.keys()):
        place, name = key.split(" ", 1)
        label = f"{place} parameter `{name}`"
        if key not in before:
            needed = bool(after[key].get("required"))
            why = "a caller who does not send it is refused" if needed else "new, optional"
            yield Change(where, f"{label} added", needed, why)
        elif key not in after:
            yield Change(where, f"{label} removed", True, "a caller sending it may be refused")
        else:
            was, now = bool(before[key].get("required")), bool(after[key].get("required"))
            if was != now:
                why = "a caller who does not send it is refused" if now else "relaxed"
                yield Change(where, f"{label} is now {'required' if now else 'optional'}", now, why)
            old_schema = before[key].get("schema") or {}
            yield from _schema(where, name, old_schema, after[key].get("schema") or {}, True)


def _body(operation: JSON) -> JSON:
    content = (operation.get("requestBody") or {}).get("content") or {}
    return (content.get("application/json") or {}).get("schema") or {}


def _response_schema(response: Any) -> JSON:
    content = (response or {}).get("content") or {}
    schema: JSON = (content.get("application/json") or {}).get("schema") or {}
    return schema


def _variants(schema: JSON) -> list[JSON]:
    """A union's whole-schema branches; the schema itself when its ``oneOf`` only
    lists ``required`` ("exactly one of these properties", as NestJS writes it)."""
    branches = [*(schema.get("oneOf") or []), *(schema.get("anyOf") or [])]
    whole = [b for b in branches if isinstance(b, dict) and set(b) - {"required"}]
    return whole if whole and len(whole) == len(branches) else [schema]


def _operation(where: str, old: JSON, new: JSON) -> Iterator[Change]:
    yield from _parameters(where, old, new)
    old_body, new_body = _body(old), _body(new)
    old_variants, new_variants = _variants(old_body), _variants(new_body)
    if len(old_variants) == len(new_variants):
        for before, after in zip(old_variants, new_variants, strict=True):
            yield from _schema(f"{where} request", "", before, after, True)
    else:
        yield Change(where, "request body alternatives changed", True, "oneOf branches differ")
    old_codes, new_codes = set(old.get("responses") or {}), set(new.get("responses") or {})
    for code in sorted(new_codes - old_codes):
        yield Change(where, f"response {code} added", False, "a new status to expect")
    for code in sorted(old_codes - new_codes):
        yield Change(where, f"response {code} removed", False, "no longer documented")
    for code in sorted(old_codes & new_codes):
        yield from _schema(
            f"{where} response {code}",
            "",
            _response_schema(old["responses"][code]),
            _response_schema(new["responses"][code]),
            False,
        )
    if old.get("security") != new.get("security"):
        yield Change(where, "security requirement changed", True, "requests may be refused")


def compare(old_document: JSON, new_document: JSON) -> list[Change]:
    """Every change from ``old_document`` to ``new_document`` that matters to a caller."""
    old, new = resolve(old_document, old_document), resolve(new_document, new_document)
    changes: list[Change] = []
    before, after = _operations(old), _operations(new)
    for where in sorted(after.keys() - before.keys()):
        changes.append(Change(where, "operation added", False, "new endpoint"))
    for where in sorted(before.keys() - after.keys()):
        changes.append(Change(where, "operation removed", True, "a caller of it gets 404"))
    for where in sorted(before.keys() & after.keys()):
        changes.extend(_operation(where, before[where], after[where]))
    old_security = (old.get("components") or {}).get("securitySchemes") or {}
    new_security = (new.get("components") or {}).get("securitySchemes") or {}
    for name in sorted(old_security.keys() | new_security.keys()):
        if old_security.get(name) != new_security.get(name):
            state = (
                "added"
                if name not in old_security
                else "removed"
                if name not in new_security
                else "changed"
            )
            changes.append(
                Change(f"security scheme {name}", state, True, "signing or headers may differ")
            )
    return changes
