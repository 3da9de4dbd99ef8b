"""In-memory normalization of OpenAPI documents before code generation.

openapi-python-client 0.29 understands a ``oneOf`` whose branches are whole
schemas, but not the "required-only" idiom NestJS emits for "provide exactly one
of these properties"::

    CancelOrderCombinedDto:
      type: object
      properties: {orderId: {...}, clientOrderId: {...}}
      oneOf:
        - required: [orderId]
        - required: [clientOrderId]

It drops such a schema without a warning and types the request body ``Any``.
:func:`normalize` rewrites every schema of that shape under
``components/schemas`` into a ``oneOf`` of ``$ref``\\ s to explicit variant
schemas named ``<Schema>By<Property>[And<Property>...]``. A variant:

* is ``type: object`` with ``additionalProperties: false``;
* has the properties its branch requires, each copied whole (type, format,
  maxLength, description, example...), and requires them, plus any property the
  parent itself requires;
* keeps the parent's optional properties that no other branch requires
  (properties that tell the branches apart are left out, so "both" cannot
  validate against any variant).

The parent keeps its description and becomes a pure ``oneOf``.

A second rewrite, :func:`_nullable_refs`: ``{$ref: X, nullable: true}`` (the Polymarket
``Order``'s ``marketMetadata.team``) is what the author meant as "X or null", but
OpenAPI 3.0 ignores every sibling of a ``$ref``, and so does the generator: a
documented ``null`` would fail to parse. It becomes ``{allOf: [{$ref: X}],
nullable: true}``, keeping the other siblings (description...). Any other
``oneOf`` shape the generator cannot take is refused with a
:class:`NormalizationError` naming the schema: mixed branches, a branch that
requires a property the parent does not declare, branches that share a
property, a name clash with an existing schema, or the idiom outside
``components/schemas`` (where there is no name to give the variants).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

JSON = dict[str, Any]

# Keys that make a oneOf branch a whole schema the generator handles itself.
_WHOLE_SCHEMA_KEYS = frozenset(
    {"$ref", "type", "properties", "allOf", "anyOf", "oneOf", "items", "enum"}
)


class NormalizationError(ValueError):
    """A schema has a ``oneOf`` shape the normalizer does not understand."""


def normalize(document: JSON) -> JSON:
    """Return a copy of ``document`` with required-only ``oneOf`` schemas made explicit.

    The input is left untouched, so ``specs/`` can stay verbatim on disk.
    """
    result = copy.deepcopy(document)
    _nullable_refs(result)
    schemas: JSON = result.get("components", {}).get("schemas", {})
    for name in list(schemas):
        schema = schemas[name]
        if isinstance(schema, dict) and "oneOf" in schema:
            if _is_required_only(name, schema):
                _rewrite(name, schema, schemas)
            else:
                _check_whole_branches(f"components/schemas/{name}", schema)
    # Anywhere else, only unions of whole schemas are acceptable.
    for where, schema in _walk(result, ""):
        if where.count("/") == 2 and where.startswith("components/schemas/"):
            continue
        _check_whole_branches(where, schema)
    return result


def _nullable_refs(node: Any) -> None:
    """Rewrite every ``{$ref, nullable: true}`` so that the nullability is kept."""
    if isinstance(node, dict):
        if "$ref" in node and node.get("nullable") is True:
            ref = node.pop("$ref")
            node["allOf"] = [{"$ref": ref}]
        for value in node.values():
            _nullable_refs(value)
    elif isinstance(node, list):
        for value in node:
            _nullable_refs(value)


def _walk(node: Any, where: str) -> Iterator[tuple[str, JSON]]:
    if isinstance(node, dict):
        if "oneOf" in node:
            yield where, node
        for key, value in node.items():
            yield from _walk(value, f"{where}/{key}" if where else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{where}/{index}")


def _branches(where: str, schema: JSON) -> list[Any]:
    branches = schema["oneOf"]
    if not isinstance(branches, list) or len(branches) < 2:
        raise NormalizationError(f"{where}: oneOf must list at least two branches")
    return branches


def _is_required_only(name: str, schema: JSON) -> bool:
    branches = _branches(f"components/schemas/{name}", schema)
    shapes = {isinstance(b, dict) and set(b) == {"required"} for b in branches}
    if shapes == {True}:
        return True
    if shapes == {True, False}:
        raise NormalizationError(
            f"components/schemas/{name}: oneOf mixes required-only branches with"
            " other branches; this shape is not supported"
        )
    return False


def _check_whole_branches(where: str, schema: JSON) -> None:
    for index, branch in enumerate(_branches(where, schema)):
        if not isinstance(branch, dict) or not _WHOLE_SCHEMA_KEYS & set(branch):
            raise NormalizationError(
                f"{where}: oneOf branch {index} is not a schema the generator"
                f" understands ({branch!r})"
            )


def _pascal(name: str) -> str:
    parts = name.replace("-", "_").split("_")
    return "".join(p[:1].upper() + p[1:] for p in parts if p)


def _rewrite(name: str, schema: JSON, schemas: JSON) -> None:
    where = f"components/schemas/{name}"
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        raise NormalizationError(f"{where}: required-only oneOf without properties")
    unsupported = set(schema) - {
        "type",
        "properties",
        "required",
        "oneOf",
        "description",
        "title",
        "example",
    }
    if unsupported:
        raise NormalizationError(
            f"{where}: required-only oneOf beside {sorted(unsupported)} is not supported"
        )
    common_required = list(schema.get("required", []))
    branch_props: list[list[str]] = []
    for index, branch in enumerate(schema["oneOf"]):
        required = branch["required"]
        if not isinstance(required, list) or not required:
            raise NormalizationError(f"{where}: oneOf branch {index} requires nothing")
        for prop in required:
            if prop not in properties:
                raise NormalizationError(
                    f"{where}: oneOf branch {index} requires {prop!r},"
                    " which the schema does not declare"
                )
            if prop in common_required:
                raise NormalizationError(
                    f"{where}: {prop!r} is required both by the schema and by a branch"
                )
        branch_props.append(list(required))
    seen: set[str] = set()
    for props in branch_props:
        if seen & set(props):
            raise NormalizationError(
                f"{where}: oneOf branches share {sorted(seen & set(props))};"
                " the variants could not be told apart"
            )
        seen |= set(props)

    refs = []
    for props in branch_props:
        variant_name = name + "By" + "And".join(_pascal(p) for p in props)
        if variant_name in schemas:
            raise NormalizationError(f"{where}: variant name {variant_name!r} is already a schema")
        others = seen - set(props)
        variant: JSON = {
            "type": "object",
            "description": schema.get("description", f"{name} identified by {', '.join(props)}."),
            "properties": {
                key: copy.deepcopy(value) for key, value in properties.items() if key not in others
            },
            "required": common_required + props,
            "additionalProperties": False,
        }
        schemas[variant_name] = variant
        refs.append({"$ref": f"#/components/schemas/{variant_name}"})
    kept: JSON = {k: schema[k] for k in ("description", "title") if k in schema}
    schema.clear()
    schema.update(kept)
    schema["oneOf"] = refs
