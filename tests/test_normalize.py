"""The oneOf normalization that keeps the Limitless cancel body typed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from normalize import NormalizationError, normalize

SPECS = Path(__file__).resolve().parent.parent / "specs"


def limitless() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((SPECS / "limitless" / "cancel.yaml").read_bytes())
    return loaded


def test_limitless_combined_dto_becomes_two_explicit_variants() -> None:
    original = limitless()
    before = copy.deepcopy(original)
    schemas = normalize(original)["components"]["schemas"]

    assert original == before, "normalize must not touch its input (specs/ stay verbatim)"
    assert schemas["CancelOrderCombinedDto"]["oneOf"] == [
        {"$ref": "#/components/schemas/CancelOrderCombinedDtoByOrderId"},
        {"$ref": "#/components/schemas/CancelOrderCombinedDtoByClientOrderId"},
    ]
    by_id = schemas["CancelOrderCombinedDtoByOrderId"]
    assert by_id["required"] == ["orderId"]
    assert by_id["additionalProperties"] is False
    assert list(by_id["properties"]) == ["orderId"]
    order_id = by_id["properties"]["orderId"]
    assert (order_id["type"], order_id["format"]) == ("string", "uuid")
    assert order_id["description"].startswith("Internal order ID")

    by_client = schemas["CancelOrderCombinedDtoByClientOrderId"]
    assert by_client["required"] == ["clientOrderId"]
    assert by_client["additionalProperties"] is False
    client_order_id = by_client["properties"]["clientOrderId"]
    assert client_order_id["maxLength"] == 128
    assert "Client-provided" in client_order_id["description"]


def test_any_schema_of_that_shape_is_rewritten_whatever_its_names() -> None:
    document = {
        "openapi": "3.0.0",
        "components": {
            "schemas": {
                "Lookup": {
                    "type": "object",
                    "description": "Find a widget.",
                    "properties": {
                        "serial_no": {"type": "integer", "minimum": 1},
                        "tag": {"type": "string", "maxLength": 8},
                        "verbose": {"type": "boolean"},
                    },
                    "oneOf": [{"required": ["serial_no"]}, {"required": ["tag"]}],
                }
            }
        },
    }
    schemas = normalize(document)["components"]["schemas"]
    assert set(schemas) == {"Lookup", "LookupBySerialNo", "LookupByTag"}
    serial = schemas["LookupBySerialNo"]
    # The property shared by both branches stays optional in each variant; the
    # other branch's identifier is left out so "both" matches no variant.
    assert set(serial["properties"]) == {"serial_no", "verbose"}
    assert serial["properties"]["serial_no"] == {"type": "integer", "minimum": 1}
    assert serial["required"] == ["serial_no"]
    assert set(schemas["LookupByTag"]["properties"]) == {"tag", "verbose"}
    assert schemas["Lookup"]["description"] == "Find a widget."


def test_unions_of_whole_schemas_pass_through_unchanged() -> None:
    document = {
        "components": {
            "schemas": {
                "A": {"type": "object"},
                "B": {"type": "object"},
                "AOrB": {"oneOf": [{"$ref": "#/components/schemas/A"}, {"type": "string"}]},
            }
        }
    }
    assert normalize(document) == document


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "oneOf": [{"required": ["a"]}, {"$ref": "#/components/schemas/X"}],
            },
            "mixes required-only branches",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "oneOf": [{"required": ["a"]}, {"required": ["missing"]}],
            },
            "requires 'missing'",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                "oneOf": [{"required": ["a", "b"]}, {"required": ["b"]}],
            },
            r"share \['b'\]",
        ),
        ({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}, "without properties"),
        ({"oneOf": [{"minLength": 3}, {"maxLength": 1}]}, "not a schema the generator"),
        ({"oneOf": [{"$ref": "#/components/schemas/X"}]}, "at least two branches"),
    ],
)
def test_unknown_oneof_shapes_are_refused_naming_the_schema(
    schema: dict[str, Any], message: str
) -> None:
    document = {"components": {"schemas": {"Weird": schema}}}
    with pytest.raises(NormalizationError, match=message) as caught:
        normalize(document)
    assert "components/schemas/Weird" in str(caught.value)


def test_required_only_oneof_inline_in_an_operation_is_refused() -> None:
    inline = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
    }
    document = {
        "paths": {
            "/x": {"post": {"requestBody": {"content": {"application/json": {"schema": inline}}}}}
        }
    }
    with pytest.raises(NormalizationError, match=r"paths//x/post/requestBody"):
        normalize(document)
