"""Maps (``dict[str, X]`` fields) on the wire: a list of ``{"key", "value"}`` pairs.

Strict structured output wants every object closed and every property named, so a map
(an object whose keys are data: VAT rates by code, totals by currency) cannot go out as
an object: the model could only answer ``{}``. It goes out as a list of pairs, which
strict mode accepts, and the answer is turned back into a dict before validation, so the
user's model (and the record) sees the dict it declared::

    {"totals": [{"key": "EUR", "value": 12.5}]}   →   {"totals": {"EUR": 12.5}}

The conversion follows the model's own JSON Schema, so maps nested in objects, lists,
optional fields and recursive models are found wherever they are.

Example:
    >>> from pydantic import BaseModel
    >>> class Bill(BaseModel):
    ...     totals: dict[str, float]
    >>> from_wire(Bill, {"totals": [{"key": "EUR", "value": 12.5}]})
    {'totals': {'EUR': 12.5}}
    >>> to_wire(Bill, {"totals": {"EUR": 12.5}})
    {'totals': [{'key': 'EUR', 'value': 12.5}]}
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

__all__ = ["from_wire", "has_maps", "is_map", "pairs_schema", "to_wire"]

# What a value of ``dict[str, Any]`` may be on the wire: strict mode needs a type.
_ANY_VALUE: dict[str, Any] = {
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]
}
_NOTE = "a map, written as a list of {key, value} pairs"


def is_map(node: dict[str, Any]) -> bool:
    """Whether a JSON Schema node is a map: an object with no named properties whose
    other keys all share one schema (``additionalProperties``)."""
    return (
        node.get("type") == "object"
        and not node.get("properties")
        and node.get("additionalProperties") not in (None, False)
    )


def pairs_schema(node: dict[str, Any]) -> dict[str, Any]:
    """The wire form of a map node: an array of closed ``{key, value}`` objects.

    The key keeps what ``propertyNames`` says of it (an enum of allowed keys), the
    value the map's value schema; the caller makes both strict.
    """
    value = node["additionalProperties"]
    key = {"type": "string", **(node.get("propertyNames") or {})}
    description = node.get("description")
    pair = {
        "type": "object",
        "properties": {"key": key, "value": _ANY_VALUE if value is True else value},
        "required": ["key", "value"],
        "additionalProperties": False,
    }
    wire: dict[str, Any] = {"type": "array", "items": pair}
    wire["description"] = f"{description} ({_NOTE})" if description else _NOTE.capitalize()
    return wire


@functools.cache
def _schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(mode="validation")


@functools.cache
def has_maps(model: type[BaseModel]) -> bool:
    """Whether ``model`` (or anything nested in it) has a map field."""
    schema = _schema_of(model)
    nodes = [schema, *schema.get("$defs", {}).values()]
    return any(_contains_map(node) for node in nodes)


def _contains_map(node: Any) -> bool:
    if isinstance(node, dict):
        return is_map(node) or any(_contains_map(v) for v in node.values())
    if isinstance(node, list):
        return any(_contains_map(v) for v in node)
    return False


def from_wire(model: type[BaseModel], data: Any) -> Any:
    """``data`` as the model reads it: lists of pairs where it declares maps become dicts.

    Anything that does not look like a list of pairs is left as it is, for validation
    to report.
    """
    if not has_maps(model):
        return data
    schema = _schema_of(model)
    return _walk(schema, data, schema.get("$defs", {}), _pairs_to_dict)


def to_wire(model: type[BaseModel], data: Any) -> Any:
    """``data`` (as the model dumps it) as the model is asked to answer: maps as pairs."""
    if not has_maps(model):
        return data
    schema = _schema_of(model)
    return _walk(schema, data, schema.get("$defs", {}), _dict_to_pairs)


_Convert = Callable[[dict[str, Any], Any, dict[str, Any]], Any]


def _walk(node: dict[str, Any], value: Any, defs: dict[str, Any], convert: _Convert) -> Any:
    node = _resolved(node, defs)
    if is_map(node):
        return convert(node, value, defs)
    for key in ("anyOf", "oneOf"):
        if key in node:
            return _walk_union(node[key], value, defs, convert)
    if isinstance(value, dict) and node.get("properties"):
        properties = node["properties"]
        return {
            name: _walk(properties[name], item, defs, convert) if name in properties else item
            for name, item in value.items()
        }
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [_walk(node["items"], item, defs, convert) for item in value]
    return value


def _walk_union(variants: list[Any], value: Any, defs: dict[str, Any], convert: _Convert) -> Any:
    """A union: the first variant whose shape the value has (a map, an object, a list)."""
    for variant in variants:
        variant = _resolved(variant, defs)
        if is_map(variant) and isinstance(value, list | dict):
            converted = convert(variant, value, defs)
            if converted is not value:
                return converted
        elif _same_shape(variant, value):
            return _walk(variant, value, defs, convert)
    return value


def _same_shape(node: dict[str, Any], value: Any) -> bool:
    if isinstance(value, dict):
        return bool(node.get("properties"))
    return isinstance(value, list) and node.get("type") == "array"


def _pairs_to_dict(node: dict[str, Any], value: Any, defs: dict[str, Any]) -> Any:
    pairs = value if isinstance(value, list) else None
    if pairs is None or not all(isinstance(p, dict) and "key" in p for p in pairs):
        return value
    inner = node["additionalProperties"]
    return {
        pair["key"]: (
            _walk(inner, pair.get("value"), defs, _pairs_to_dict)
            if isinstance(inner, dict) else pair.get("value")
        )
        for pair in pairs
    }  # fmt: skip


def _dict_to_pairs(node: dict[str, Any], value: Any, defs: dict[str, Any]) -> Any:
    if not isinstance(value, dict):
        return value
    inner = node["additionalProperties"]
    return [
        {"key": key, "value": _walk(inner, item, defs, _dict_to_pairs)
         if isinstance(inner, dict) else item}
        for key, item in value.items()
    ]  # fmt: skip


def _resolved(node: Any, defs: dict[str, Any]) -> dict[str, Any]:
    seen = set()
    while isinstance(node, dict) and "$ref" in node and node["$ref"] not in seen:
        seen.add(node["$ref"])
        node = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
    return node if isinstance(node, dict) else {}
