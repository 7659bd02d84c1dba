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
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, PydanticUserError

from extractor import maps
from extractor.errors import SchemaError

__all__ = ["Example", "SchemaSpec", "load_schema", "strict_schema"]

# Keywords strict mode rejects (or that providers disagree on: Mistral's documentation
# lists none it accepts beyond the structure); moved into the description.
_MOVED_KEYWORDS = (
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minLength", "maxLength", "pattern", "format",
    "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
    "contentMediaType", "contentEncoding",
)  # fmt: skip
# Annotations no provider needs; ``$id`` and ``$schema`` are refused by Mistral.
_DROPPED_KEYWORDS = (
    "default", "examples", "title", "$id", "$schema", "$comment", "deprecated", "readOnly",
    "writeOnly", "discriminator", "propertyNames",
)  # fmt: skip
# What llama.cpp's grammar builder enforces; the embedded engine keeps these in place.
_GRAMMAR_FORMATS = ("date", "time", "date-time", "uuid")
_GRAMMAR_KEYWORDS = (
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
    "pattern", "minItems", "maxItems",
)  # fmt: skip


@dataclass(frozen=True)
class Example:
    """A worked example sent before the document: a document and its right answer.

    Attributes:
        source: where the example document came from (for messages, not sent).
        content: the example document as the model is sent it (a user message content).
        answer: the right answer, as the model dumps it (``model_dump(mode="json")``).
    """

    source: str
    content: str | tuple[dict[str, Any], ...]
    answer: dict[str, Any]


@dataclass(frozen=True)
class SchemaSpec:
    """A loaded schema: the pydantic model that validates and the strict JSON Schema we send.

    Attributes:
        model: validates every answer (constraints included).
        name: the schema name sent in ``response_format`` (``^[a-zA-Z0-9_-]{1,64}$``).
        json_schema: the strict schema.
        grammar_schema: the same, keeping what a llama.cpp grammar enforces (string
            formats such as ``date``, patterns, lengths, numeric ranges), for the embedded
            engine.
        instructions: extra guidance for the model, added to the system prompt.
        examples: worked examples, sent as earlier turns of the conversation.
    """

    model: type[BaseModel]
    name: str
    json_schema: dict[str, Any]
    grammar_schema: dict[str, Any]
    instructions: str | None = None
    examples: tuple[Example, ...] = field(default=())

    @classmethod
    def from_model(cls, model: type[BaseModel]) -> SchemaSpec:
        """Build a spec from a pydantic model class.

        Raises:
            SchemaError: the model has no JSON Schema (a ``Callable`` field …), or its
                root is not an object.
        """
        name = re.sub(r"[^a-zA-Z0-9_-]", "_", model.__name__)[:64] or "Extraction"
        return cls(
            model=model,
            name=name,
            json_schema=strict_schema(model),
            grammar_schema=strict_schema(model, grammar=True),
        )

    def fingerprint(self) -> str:
        """A stable text form of what is asked: the strict schema, plus the instructions
        and examples when there are any (for job fingerprints and caches)."""
        asked: Any = self.json_schema
        if self.instructions or self.examples:
            asked = {
                "schema": self.json_schema,
                "instructions": self.instructions,
                "examples": [[e.content, e.answer] for e in self.examples],
            }
        return orjson.dumps(asked, option=orjson.OPT_SORT_KEYS).decode()


def strict_schema(model: type[BaseModel], *, grammar: bool = False) -> dict[str, Any]:
    """Return the strict-mode JSON Schema for ``model``.

    With ``grammar``, what a llama.cpp grammar can enforce stays in place. Maps
    (``dict[str, X]``) become lists of key/value pairs (see :mod:`extractor.maps`); a
    recursive model's root is its object, with ``$defs`` beside it.

    Raises:
        SchemaError: the model has no JSON Schema, or its root is not an object.

    Example:
        >>> from pydantic import BaseModel
        >>> class Item(BaseModel):
        ...     name: str
        ...     price: float | None = None
        >>> s = strict_schema(Item)
        >>> s["required"], s["additionalProperties"]
        (['name', 'price'], False)
    """
    raw = _model_schema(model)
    defs = {k: _strict_node(v, grammar) for k, v in raw.get("$defs", {}).items()}
    root = raw
    if "$ref" in raw:  # a recursive root: pydantic puts the model itself in $defs
        root = raw["$defs"][raw["$ref"].rsplit("/", 1)[-1]]
    schema = _strict_node(copy.deepcopy(root), grammar)
    if schema.get("type") != "object":
        raise SchemaError(f"{model.__name__}: the root of a schema must be an object")
    if defs:
        schema["$defs"] = defs
    return schema


def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    try:
        return model.model_json_schema(mode="validation")
    except (PydanticUserError, RecursionError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SchemaError(
            f"{model.__name__} cannot be sent as a JSON Schema ({first}); use fields of "
            "JSON types (str, int, float, bool, lists, nested models …)"
        ) from None


def _strict_node(node: dict[str, Any], grammar: bool = False) -> dict[str, Any]:
    node = {k: v for k, v in node.items() if k != "$defs"}
    if maps.is_map(node):
        node = maps.pairs_schema(node)
    kept = {k: node.pop(k) for k in _kept_for_grammar(node)} if grammar else {}
    notes = [f"{k}: {json.dumps(node.pop(k))}" for k in _MOVED_KEYWORDS if k in node]
    node.update(kept)
    for key in _DROPPED_KEYWORDS:
        node.pop(key, None)
    if "const" in node:  # every strict implementation knows enum; not all know const
        node["enum"] = [node.pop("const")]
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


def _kept_for_grammar(node: dict[str, Any]) -> list[str]:
    """The keywords of ``node`` a llama.cpp grammar enforces (patterns only anchored)."""
    kept = [k for k in _GRAMMAR_KEYWORDS if k in node]
    if node.get("format") in _GRAMMAR_FORMATS:
        kept.append("format")
    pattern = node.get("pattern")
    if isinstance(pattern, str) and not (pattern.startswith("^") and pattern.endswith("$")):
        kept.remove("pattern")  # the grammar builder takes whole-string patterns only
    return kept


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
        from extractor.json_schema_file import model_from_json_schema

        return model_from_json_schema(Path(spec))
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


@contextmanager
def _importable(folder: str) -> Iterator[None]:
    """``folder`` on ``sys.path`` while a schema module is imported, so it can import
    the modules beside it (they stay loaded afterwards, as imports do)."""
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added:
            sys.path.remove(folder)


def _import_module(name: str) -> Any:
    # ``module:Class`` names a module as Python would find it from the current directory
    # (the console script's sys.path starts at its own folder, not there).
    try:
        with _importable(os.getcwd()):
            return importlib.import_module(name)
    except ImportError as exc:
        raise SchemaError(f"cannot import schema module {name!r}: {exc}") from exc
    except Exception as exc:
        raise SchemaError(f"error while importing {name}: {exc}") from exc


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
        with _importable(str(path.resolve().parent)):
            module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise SchemaError(f"error while importing {path}: {exc}") from exc
    return module
