"""Schema stage: find the user's pydantic model and turn it into a strict JSON Schema.

Strict structured output (OpenAI, OpenRouter, Mistral) accepts a subset of JSON Schema:
every object closed (``additionalProperties: false``), every property listed in
``required``, optional values expressed as nullable (``anyOf [..., null]``), and no
validation keywords such as ``minimum`` or ``pattern``. Pydantic emits all of those, so
:func:`strict_schema` rewrites the model's schema. Constraints that leave the schema are
written into the description instead, so the model still reads them, and the original
model still validates every answer.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import orjson
from pydantic import BaseModel, ConfigDict, Field, create_model

from extractor.errors import SchemaError

__all__ = ["SchemaSpec", "load_schema", "strict_schema"]

# Keywords strict mode rejects (or that providers disagree on); moved into the description.
_MOVED_KEYWORDS = (
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minLength", "maxLength", "pattern", "format",
    "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
)  # fmt: skip
_DROPPED_KEYWORDS = ("default", "examples", "title")
# String formats llama.cpp's grammar builder enforces; the embedded engine keeps them.
_GRAMMAR_FORMATS = ("date", "time", "date-time", "uuid")


@dataclass(frozen=True)
class SchemaSpec:
    """A loaded schema: the pydantic model that validates and the strict JSON Schema we send.

    Attributes:
        model: validates every answer (constraints included).
        name: the schema name sent in ``response_format`` (``^[a-zA-Z0-9_-]{1,64}$``).
        json_schema: the strict schema.
        grammar_schema: the same, keeping the string formats a llama.cpp grammar enforces
            (``date``…), for the embedded engine.
    """

    model: type[BaseModel]
    name: str
    json_schema: dict[str, Any]
    grammar_schema: dict[str, Any]

    @classmethod
    def from_model(cls, model: type[BaseModel]) -> SchemaSpec:
        """Build a spec from a pydantic model class."""
        name = re.sub(r"[^a-zA-Z0-9_-]", "_", model.__name__)[:64] or "Extraction"
        return cls(
            model=model,
            name=name,
            json_schema=strict_schema(model),
            grammar_schema=strict_schema(model, grammar=True),
        )

    def fingerprint(self) -> str:
        """A stable text form of the strict schema (for job fingerprints and caches)."""
        return orjson.dumps(self.json_schema, option=orjson.OPT_SORT_KEYS).decode()


def strict_schema(model: type[BaseModel], *, grammar: bool = False) -> dict[str, Any]:
    """Return the strict-mode JSON Schema for ``model``.

    With ``grammar``, string formats a llama.cpp grammar can enforce stay in place.

    Example:
        >>> from pydantic import BaseModel
        >>> class Item(BaseModel):
        ...     name: str
        ...     price: float | None = None
        >>> s = strict_schema(Item)
        >>> s["required"], s["additionalProperties"]
        (['name', 'price'], False)
    """
    raw = model.model_json_schema(mode="validation")
    schema = _strict_node(copy.deepcopy(raw), grammar)
    if "$defs" in raw:
        schema["$defs"] = {k: _strict_node(v, grammar) for k, v in raw["$defs"].items()}
    return schema


def _strict_node(node: dict[str, Any], grammar: bool = False) -> dict[str, Any]:
    node = {k: v for k, v in node.items() if k != "$defs"}
    kept = node.pop("format", None) if grammar and node.get("format") in _GRAMMAR_FORMATS else None
    notes = [f"{k}: {json.dumps(node.pop(k))}" for k in _MOVED_KEYWORDS if k in node]
    if kept:
        node["format"] = kept
    for key in _DROPPED_KEYWORDS:
        node.pop(key, None)
    if notes:
        prefix = node.get("description", "")
        node["description"] = (prefix + " " if prefix else "") + f"({'; '.join(notes)})"
    if "$ref" in node and len(node) > 1:
        # Strict mode wants a bare $ref; keep the description beside it via anyOf.
        description = node.pop("description", None)
        node = {"anyOf": [{"$ref": node.pop("$ref")}], **node}
        if description:
            node["description"] = description
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            node[key] = [_strict_node(sub, grammar) for sub in node[key]]
    if "oneOf" in node:  # strict mode knows anyOf only
        node["anyOf"] = node.pop("oneOf")
    if "items" in node and isinstance(node["items"], dict):
        node["items"] = _strict_node(node["items"], grammar)
    if node.get("type") == "object" or "properties" in node:
        node = _close_object(node, grammar)
    return node


def _close_object(node: dict[str, Any], grammar: bool) -> dict[str, Any]:
    # Every property becomes required. Optional fields already allow null in pydantic's
    # schema (``X | None``); a field with a non-null default (``list = []``) stays
    # non-null, so the model must send a value the original model accepts.
    node["type"] = "object"
    properties = node.get("properties", {}).items()
    node["properties"] = {k: _strict_node(v, grammar) for k, v in properties}
    node["required"] = list(node["properties"])
    node["additionalProperties"] = False
    return node


# -- finding the user's schema ----------------------------------------------------------


def load_schema(spec: str | type[BaseModel] | SchemaSpec) -> SchemaSpec:
    """Load a schema from a model class or a spec string.

    Accepted strings: a shipped name (``invoice``, ``receipt``, ``form``),
    ``path/to/file.py:ClassName``, ``package.module:ClassName``, or a JSON Schema file
    (``*.json``).

    Raises:
        SchemaError: the spec names nothing loadable.
    """
    if isinstance(spec, SchemaSpec):
        return spec
    if isinstance(spec, type) and issubclass(spec, BaseModel):
        return SchemaSpec.from_model(spec)
    if not isinstance(spec, str) or not spec:
        raise SchemaError(f"not a schema: {spec!r}")
    return SchemaSpec.from_model(_resolve(spec))


def _resolve(spec: str) -> type[BaseModel]:
    from schemas import SHIPPED

    if spec in SHIPPED:
        spec = SHIPPED[spec]
    if spec.endswith(".json") and ":" not in spec:
        return _model_from_json_schema(Path(spec))
    target, sep, class_name = spec.rpartition(":")
    if not sep or not class_name:
        known = ", ".join(sorted(SHIPPED))
        raise SchemaError(
            f"cannot read schema {spec!r}: use one of {known}, FILE.py:Class, "
            "package.module:Class or FILE.json"
        )
    module = _import_file(Path(target)) if target.endswith(".py") else _import_module(target)
    model = getattr(module, class_name, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise SchemaError(f"{class_name!r} in {target!r} is not a pydantic model")
    return model


def _import_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise SchemaError(f"cannot import schema module {name!r}: {exc}") from exc


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise SchemaError(f"schema file not found: {path}")
    name = f"_extractor_schema_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise SchemaError(f"cannot import schema file {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # pydantic resolves forward references through sys.modules
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        raise SchemaError(f"error while importing {path}: {exc}") from exc
    return module


# -- JSON Schema files → a pydantic model ----------------------------------------------

_JSON_TYPES: dict[str, Any] = {
    "string": str, "integer": int, "number": float, "boolean": bool, "null": type(None),
}  # fmt: skip


def _model_from_json_schema(path: Path) -> type[BaseModel]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaError(f"cannot read JSON Schema {path}: {exc}") from exc
    if not isinstance(document, dict) or document.get("type", "object") != "object":
        raise SchemaError(f"{path}: the top level of a JSON Schema must be an object")
    defs: dict[str, Any] = document.get("$defs") or document.get("definitions") or {}
    return _object_model(document.get("title") or path.stem, document, defs)


def _object_model(name: str, node: dict[str, Any], defs: dict[str, Any]) -> type[BaseModel]:
    required = set(node.get("required", []))
    fields: dict[str, Any] = {}
    for prop_name, prop in node.get("properties", {}).items():
        annotation = _annotation(f"{name}_{prop_name}", prop, defs)
        info = Field(description=prop.get("description"))
        if prop_name not in required:
            annotation = annotation | None
            info = Field(default=None, description=prop.get("description"))
        fields[prop_name] = (annotation, info)
    safe = re.sub(r"\W", "_", name) or "Model"
    config = ConfigDict(extra="forbid" if node.get("additionalProperties") is False else "ignore")
    return cast(
        type[BaseModel],
        create_model(safe, __config__=config, __doc__=node.get("description"), **fields),
    )


def _annotation(name: str, prop: dict[str, Any], defs: dict[str, Any]) -> Any:
    if "$ref" in prop:
        ref_name = prop["$ref"].rsplit("/", 1)[-1]
        if ref_name not in defs:
            raise SchemaError(f"unresolved $ref {prop['$ref']!r}")
        return _annotation(ref_name, defs[ref_name], defs)
    variants = prop.get("anyOf") or prop.get("oneOf")
    if variants:
        result: Any = None
        for variant in variants:
            sub = _annotation(name, variant, defs)
            result = sub if result is None else result | sub
        return result
    kind = prop.get("type", "string")
    if isinstance(kind, list):
        return _annotation(name, {"anyOf": [{**prop, "type": k} for k in kind]}, defs)
    if kind == "object":
        return _object_model(prop.get("title") or name, prop, defs)
    if kind == "array":
        return list[_annotation(name + "_item", prop.get("items", {}), defs)]  # type: ignore[misc]
    if kind not in _JSON_TYPES:
        raise SchemaError(f"unsupported JSON Schema type {kind!r}")
    return _JSON_TYPES[kind]
