"""JSON Schema files → a pydantic model that keeps what the schema means.

A schema written as JSON (``--schema invoice.schema.json``) becomes a pydantic model, so
answers are validated and repaired exactly as for a model written in Python. The
validation keywords become pydantic constraints, and so reach the model as repair
feedback when an answer breaks them:

- ``enum`` and ``const`` → ``Literal``;
- ``pattern``, ``minLength``, ``maxLength`` on strings; ``minimum``, ``maximum``,
  ``exclusiveMinimum``, ``exclusiveMaximum``, ``multipleOf`` on numbers; ``minItems``,
  ``maxItems`` on arrays;
- ``format`` (``date``, ``date-time``, ``time``, ``email``, ``uri``, ``uuid``, ``ipv4``,
  ``ipv6``) is checked, the value staying a string as the schema says; other formats
  are passed on to the model as a hint;
- ``allOf`` (with ``$ref``) merges its parts into one object; ``$ref`` to ``$defs`` or
  ``definitions`` may be recursive;
- an object with ``additionalProperties`` and no ``properties`` is a map
  (``dict[str, X]``).

Patterns follow JSON Schema (a match anywhere in the string, Python's ``re`` syntax).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Union, cast
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from extractor.errors import SchemaError

__all__ = ["FORMATS", "model_from_json_schema"]

_JSON_TYPES: dict[str, Any] = {
    "string": str, "integer": int, "number": float, "boolean": bool, "null": type(None),
}  # fmt: skip
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?", re.IGNORECASE)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _is_date(text: str) -> bool:
    return bool(_DATE.fullmatch(text)) and _parses(dt.date.fromisoformat, text)


def _is_date_time(text: str) -> bool:
    date, sep, time = text.upper().partition("T")
    return bool(sep) and _is_date(date) and bool(_TIME.fullmatch(time))


def _is_uri(text: str) -> bool:
    parts = urlsplit(text)
    return bool(parts.scheme) and bool(parts.netloc or parts.path)


def _parses(parse: Callable[[str], object], text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


FORMATS: dict[str, Callable[[str], bool]] = {
    "date": _is_date,
    "date-time": _is_date_time,
    "time": lambda text: bool(_TIME.fullmatch(text)),
    "email": lambda text: bool(_EMAIL.fullmatch(text)),
    "uri": _is_uri,
    "uuid": lambda text: _parses(uuid.UUID, text),
    "ipv4": lambda text: _parses(ipaddress.IPv4Address, text),
    "ipv6": lambda text: _parses(ipaddress.IPv6Address, text),
}
"""The string formats whose values are checked, by name."""

_NUMBER_CONSTRAINTS = {
    "minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt",
    "multipleOf": "multiple_of",
}  # fmt: skip
# JSON Schema's regular expressions are ECMA 262: lookarounds and back references are
# common in them, which pydantic's default (Rust) engine refuses.
_CONFIG = {"regex_engine": "python-re"}


def model_from_json_schema(path: Path) -> type[BaseModel]:
    """The pydantic model a JSON Schema file describes.

    Raises:
        SchemaError: the file cannot be read, its root is not an object, or it uses
            something that has no pydantic form (an unresolvable ``$ref`` …).
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaError(f"cannot read JSON Schema {path}: {exc}") from exc
    if not isinstance(document, dict) or document.get("type", "object") != "object":
        raise SchemaError(f"{path}: the top level of a JSON Schema must be an object")
    try:
        return _Converter(document).root(document.get("title") or path.stem)
    except SchemaError as exc:
        raise SchemaError(f"{path}: {exc}") from None
    except (TypeError, ValueError, re.error) as exc:
        raise SchemaError(f"{path}: cannot turn it into a model: {exc}") from None


class _Converter:
    """Turns the nodes of one JSON Schema document into annotations and models."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.models: dict[str, type[BaseModel]] = {}  # by $ref, once built
        self.building: set[str] = set()
        self.names: dict[str, str] = {}  # $ref → model name, for forward references

    def root(self, name: str) -> type[BaseModel]:
        self.names["#"] = _safe(name)
        self.building.add("#")
        model = self.object_model(name, self._merged(self.document))
        self.models["#"] = model
        namespace = {self.names[ref]: m for ref, m in self.models.items()}
        for built in self.models.values():  # resolve the forward references of recursion
            built.model_rebuild(_types_namespace=namespace)
        return model

    def object_model(self, name: str, node: dict[str, Any]) -> type[BaseModel]:
        required = set(node.get("required", []))
        fields: dict[str, Any] = {}
        for prop_name, prop in (node.get("properties") or {}).items():
            annotation = self.annotation(f"{name}_{prop_name}", prop)
            description = prop.get("description") if isinstance(prop, dict) else None
            if prop_name in required:
                fields[prop_name] = (annotation, Field(description=description))
            else:
                optional = _union([annotation, None])
                fields[prop_name] = (optional, Field(None, description=description))
        extra = "forbid" if node.get("additionalProperties") is False else "ignore"
        config = ConfigDict(extra=extra, **_CONFIG)  # type: ignore[typeddict-item]
        model = create_model(
            _safe(name), __config__=config, __doc__=node.get("description"), **fields
        )
        return cast(type[BaseModel], model)

    def annotation(self, name: str, node: Any) -> Any:
        if node is True or node == {}:
            return Any
        if not isinstance(node, dict):
            raise SchemaError(f"{name}: not a schema: {node!r}")
        if "$ref" in node:
            return self._reference(node["$ref"])
        if "allOf" in node:
            return self.annotation(name, self._merged(node))
        if "const" in node:
            return Literal[node["const"]]
        if "enum" in node:
            return Literal[tuple(node["enum"])]
        variants = node.get("anyOf") or node.get("oneOf")
        if variants:
            return _union([self.annotation(name, {**_inherited(node), **v}) for v in variants])
        kind = node.get("type")
        if isinstance(kind, list):
            return _union([self.annotation(name, {**node, "type": k}) for k in kind])
        annotation = self._typed(name, node, kind or _guess_type(node))
        return _union([annotation, None]) if node.get("nullable") is True else annotation

    def _typed(self, name: str, node: dict[str, Any], kind: str) -> Any:
        if kind == "object":
            if node.get("properties"):
                return self.object_model(node.get("title") or name, node)
            values = node.get("additionalProperties", True)
            return dict[str, self.annotation(name + "_value", values)]  # type: ignore[misc]
        if kind == "array":
            item = self.annotation(name + "_item", node.get("items", {}))
            limits = {"min_length": node.get("minItems"), "max_length": node.get("maxItems")}
            return _constrained(list[item], limits)  # type: ignore[valid-type]
        if kind not in _JSON_TYPES:
            raise SchemaError(f"{name}: unsupported JSON Schema type {kind!r}")
        if kind == "string":
            return _string(node)
        if kind in ("integer", "number"):
            return _constrained(_JSON_TYPES[kind], _number_limits(node))
        return _JSON_TYPES[kind]

    def _reference(self, ref: str) -> Any:
        if ref in self.models:
            return self.models[ref]
        target = self._target(ref)
        merged = self._merged(target)
        if not (merged.get("properties") and merged.get("type", "object") == "object"):
            if ref in self.building:
                raise SchemaError(f"{ref} refers to itself, and is not an object")
            self.building.add(ref)
            try:
                return self.annotation(ref.rsplit("/", 1)[-1], merged)
            finally:
                self.building.discard(ref)
        name = merged.get("title") or ref.rsplit("/", 1)[-1]
        if ref in self.building:  # recursion: a forward reference, resolved by rebuild
            return self.names[ref]
        self.names[ref] = _safe(name)
        self.building.add(ref)
        self.models[ref] = self.object_model(name, merged)
        return self.models[ref]

    def _target(self, ref: str) -> dict[str, Any]:
        if ref == "#":
            return self.document
        node: Any = self.document
        if not ref.startswith("#/"):
            raise SchemaError(f"only local references are supported, not {ref!r}")
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise SchemaError(f"unresolved $ref {ref!r}")
        return node

    def _merged(self, node: dict[str, Any]) -> dict[str, Any]:
        """``node`` with its ``allOf`` parts (and their references) merged in."""
        if "allOf" not in node:
            return node
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            if isinstance(part, dict) and "$ref" in part:
                part = {**self._target(part["$ref"]), **{k: v for k, v in part.items()
                                                         if k != "$ref"}}  # fmt: skip
            part = self._merged(part) if isinstance(part, dict) else {}
            for key, value in part.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged.setdefault(key, value)
        return merged


def _string(node: dict[str, Any]) -> Any:
    limits = {
        "min_length": node.get("minLength"), "max_length": node.get("maxLength"),
        "pattern": node.get("pattern"),
    }  # fmt: skip
    annotation = _constrained(str, limits)
    fmt = node.get("format")
    if not isinstance(fmt, str):
        return annotation
    # The format stays in the JSON Schema (a hint for the model, enforced by the local
    # grammar for dates); the value stays a string, checked when the format is known.
    hint = Field(json_schema_extra={"format": fmt})
    check = FORMATS.get(fmt)
    if check is None:
        return Annotated[annotation, hint]
    return Annotated[annotation, hint, AfterValidator(_format_check(fmt, check))]


def _format_check(fmt: str, check: Callable[[str], bool]) -> Callable[[str], str]:
    def validate(value: str) -> str:
        if not check(value):
            raise ValueError(f"not a valid {fmt}")
        return value

    return validate


def _number_limits(node: dict[str, Any]) -> dict[str, Any]:
    limits = {arg: node.get(key) for key, arg in _NUMBER_CONSTRAINTS.items()}
    # Draft 4 wrote exclusive bounds as booleans beside minimum/maximum.
    if node.get("exclusiveMinimum") is True:
        limits["gt"], limits["ge"] = node.get("minimum"), None
    if node.get("exclusiveMaximum") is True:
        limits["lt"], limits["le"] = node.get("maximum"), None
    return {k: v for k, v in limits.items() if not isinstance(v, bool)}


def _constrained(annotation: Any, limits: dict[str, Any]) -> Any:
    given = {k: v for k, v in limits.items() if v is not None}
    return Annotated[annotation, Field(**given)] if given else annotation


def _union(annotations: list[Any]) -> Any:
    # typing.Union, not ``|``: a recursive model's forward reference is a plain string.
    return Union[tuple(annotations)]  # noqa: UP007


def _inherited(node: dict[str, Any]) -> dict[str, Any]:
    """What the variants of an ``anyOf`` share from their parent (its type)."""
    return {"type": node["type"]} if isinstance(node.get("type"), str) else {}


def _guess_type(node: dict[str, Any]) -> str:
    if "properties" in node or "additionalProperties" in node:
        return "object"
    if "items" in node:
        return "array"
    if any(k in node for k in _NUMBER_CONSTRAINTS):
        return "number"
    return "string"


def _safe(name: str) -> str:
    return re.sub(r"\W", "_", name) or "Model"
