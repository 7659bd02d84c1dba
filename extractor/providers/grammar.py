"""The embedded engine's grammar: a JSON Schema → a llama.cpp GBNF grammar that enforces
what it can, so the tiny model cannot break a constraint that it could never repair.

llama-cpp-python's own converter enforces ``enum``, ``const``, string formats
(``date`` …), anchored ``pattern``, ``minLength``/``maxLength`` and
``minItems``/``maxItems``, but no numeric range (its source says so: "TODO: support
minimum, maximum"). This converter adds the ranges it can state in a grammar:

- an integer range of at most :data:`MAX_ENUMERATED` values is written out exactly
  (``1``–``12`` for a month);
- a number or integer that may not be negative is written without a sign, with at most
  as many integer digits as its maximum has;

anything else (a fractional bound, a range far from zero) is left to validation and
repair. A pattern the grammar cannot express (lookarounds) is dropped from the grammar
alone, never from validation.

This module imports llama_cpp only when a grammar is built.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
from typing import Any

__all__ = ["MAX_ENUMERATED", "gbnf", "usable"]

MAX_ENUMERATED = 256


@functools.lru_cache(maxsize=64)
def _cached(schema_json: str) -> str:
    converter = _converter_class()(
        prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False
    )
    schema = converter.resolve_refs(usable(json.loads(schema_json)), "")
    converter.visit(schema, "")
    return str(converter.format_grammar())


def gbnf(schema: dict[str, Any]) -> str:
    """The GBNF grammar for ``schema`` (cached per schema).

    Raises:
        Exception: whatever llama-cpp-python's converter raises for a schema it cannot
            express; the caller falls back to its own conversion.
    """
    return _cached(json.dumps(schema))  # key order is the order the model writes in


def usable(schema: Any) -> Any:
    """``schema`` without the patterns the grammar converter cannot express."""
    if isinstance(schema, list):
        return [usable(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    node = {key: usable(value) for key, value in schema.items()}
    pattern = node.get("pattern")
    if isinstance(pattern, str) and not _pattern_converts(pattern):
        del node["pattern"]
    return node


@functools.lru_cache(maxsize=256)
def _pattern_converts(pattern: str) -> bool:
    converter = _converter_class()(
        prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False
    )
    try:
        converter.visit({"type": "string", "pattern": pattern}, "")
        converter.format_grammar()
    except Exception:  # AssertionError and friends: llama-cpp-python's way to say no
        return False
    return True


def _llama_grammar() -> Any:
    return importlib.import_module("llama_cpp.llama_grammar")  # untyped: held as Any


@functools.cache
def _converter_class() -> type[Any]:
    llama_grammar = _llama_grammar()
    base: Any = llama_grammar.SchemaConverter

    class RangeConverter(base):  # type: ignore[misc]
        """llama-cpp-python's converter, plus the numeric ranges a grammar can state."""

        def visit(self, schema: dict[str, Any], name: str) -> str:
            rule = _number_rule(schema, self)
            if rule is None:
                return str(super().visit(schema, name))
            reserved = name in llama_grammar.RESERVED_NAMES
            rule_name = name + "-" if reserved else name or "root"
            return str(self._add_rule(rule_name, rule))

    return RangeConverter


def _number_rule(schema: dict[str, Any], converter: Any) -> str | None:
    kind = schema.get("type")
    if kind not in ("integer", "number") or schema.keys() & {"enum", "const", "anyOf"}:
        return None
    low, high = _bounds(schema, kind == "integer")
    if low is None and high is None:
        return None
    if kind == "integer" and low is not None and high is not None:
        low_int, high_int = math.ceil(low), math.floor(high)
        if 0 <= high_int - low_int < MAX_ENUMERATED:
            values = " | ".join(f'"{v}"' for v in range(low_int, high_int + 1))
            return f"({values}) space"
    if low is None or low < 0 or (high is not None and high < low):
        return None  # a sign is allowed: nothing a grammar can add cheaply
    llama_grammar = _llama_grammar()

    digits = None if high is None else max(1, len(str(math.floor(high))))
    converter._add_primitive("decimal-part", llama_grammar.PRIMITIVE_RULES["decimal-part"])
    integral = "([0-9] | [1-9] " + llama_grammar._build_repetition("[0-9]", 0, 15) + ")"
    if digits is not None:  # no leading zeros, at most as many digits as the maximum
        more = llama_grammar._build_repetition("[0-9]", 0, digits - 1) if digits > 1 else ""
        integral = f'("0" | [1-9] {more})' if more else "[0-9]"
    fraction = ' ("." decimal-part)?' if kind == "number" else ""
    return f"{integral}{fraction} space"


def _bounds(schema: dict[str, Any], integer: bool) -> tuple[float | None, float | None]:
    step = 1 if integer else 0
    low, high = _number(schema, "minimum"), _number(schema, "maximum")
    if (exclusive := _number(schema, "exclusiveMinimum")) is not None:
        low = exclusive + step
    if (exclusive := _number(schema, "exclusiveMaximum")) is not None:
        high = exclusive - step
    return low, high


def _number(schema: dict[str, Any], key: str) -> float | None:
    value = schema.get(key)
    return None if isinstance(value, bool) or not isinstance(value, int | float) else value
