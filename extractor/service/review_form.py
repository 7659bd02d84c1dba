"""The review page's editor: a schema's fields as form inputs, filled with a record's data.

The form is built from the schema (not from the answer), so a value the model left out,
or a document that failed, can still be filled in. Each input carries the value's path
(``line_items[0].amount``, as in ``record["grounding"]``), its kind and whether it may be
empty, so the page's script can turn the form back into data of the schema's shape. All
text is escaped here; the script only ever sets ``value`` and ``textContent``.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

__all__ = ["Field", "band", "fields_of", "render_fields"]

_MAX_DEPTH = 6


@dataclass(frozen=True)
class Field:
    """One field of a schema: ``kind`` is string, number, integer, boolean, date, object or
    list; ``children`` are an object's fields, or a list's one item field."""

    name: str
    title: str
    kind: str
    nullable: bool
    children: tuple[Field, ...] = ()


def band(confidence: float | None) -> str:
    """The colour class of a confidence: high (≥ 0.9), mid (≥ 0.6), low, or none."""
    if confidence is None:
        return "conf-none"
    return "conf-high" if confidence >= 0.9 else "conf-mid" if confidence >= 0.6 else "conf-low"


def fields_of(schema: dict[str, Any]) -> tuple[Field, ...]:
    """The top-level fields of a pydantic JSON Schema (``model_json_schema()``)."""
    defs = schema.get("$defs", {})
    return _object_fields(schema, defs, 0)


def _object_fields(node: dict[str, Any], defs: dict[str, Any], depth: int) -> tuple[Field, ...]:
    properties = node.get("properties", {})
    return tuple(_field(name, prop, defs, depth) for name, prop in properties.items())


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
    if "allOf" in node and len(node["allOf"]) == 1:
        return _resolve(node["allOf"][0], defs)
    return node


def _field(name: str, node: dict[str, Any], defs: dict[str, Any], depth: int) -> Field:
    title = str(node.get("title") or name.replace("_", " ").capitalize())
    options = [_resolve(option, defs) for option in node.get("anyOf", [node])]
    nullable = any(o.get("type") == "null" for o in options)
    chosen = [o for o in options if o.get("type") != "null"] or [{"type": "string"}]
    types = {o.get("type") for o in chosen}
    main = chosen[0]
    if "number" in types or "integer" in types:  # Decimal is number | string
        kind = "integer" if types == {"integer"} else "number"
        return Field(name, title, kind, nullable)
    if main.get("type") == "array" and depth < _MAX_DEPTH:
        item = _field("", _resolve(main.get("items", {}), defs), defs, depth + 1)
        return Field(name, title, "list", nullable, (item,))
    if main.get("type") == "object" and "properties" in main and depth < _MAX_DEPTH:
        return Field(name, title, "object", nullable, _object_fields(main, defs, depth + 1))
    if main.get("type") == "boolean":
        return Field(name, title, "boolean", nullable)
    kind = "date" if main.get("format") == "date" else "string"
    return Field(name, title, kind, nullable)


def render_fields(
    fields: tuple[Field, ...],
    data: Any,
    grounding: dict[str, Any],
    confidence: dict[str, Any],
    prefix: str = "",
) -> list[str]:
    """HTML for ``fields`` holding ``data`` (a dict, or None for an empty form)."""
    values = data if isinstance(data, dict) else {}
    html: list[str] = []
    for field in fields:
        path = f"{prefix}{field.name}"
        html.extend(_render(field, path, values.get(field.name), grounding, confidence))
    return html


def _render(field: Field, path: str, value: Any, grounding: dict[str, Any],
            confidence: dict[str, Any]) -> list[str]:  # fmt: skip
    attrs = f'data-nullable="{int(field.nullable)}"'
    if field.kind == "object":
        inner = render_fields(field.children, value, grounding, confidence, f"{path}.")
        return [f'<fieldset class="group" data-object="{escape(path)}" {attrs}>',
                f"<legend>{escape(field.title)}</legend>", *inner, "</fieldset>"]  # fmt: skip
    if field.kind == "list":
        return _render_list(field, path, value, grounding, confidence)
    return [_input(field, path, value, grounding.get(path), confidence.get(path))]


def _render_list(field: Field, path: str, value: Any, grounding: dict[str, Any],
                 confidence: dict[str, Any]) -> list[str]:  # fmt: skip
    item = field.children[0]
    items = value if isinstance(value, list) else []
    html = [f'<fieldset class="list" data-list="{escape(path)}" '
            f'data-nullable="{int(field.nullable)}">',
            f"<legend>{escape(field.title)}</legend>", '<div class="rows">']  # fmt: skip
    for index, entry in enumerate(items):
        html.extend(_row(item, f"{path}[{index}]", entry, grounding, confidence))
    html.append("</div><template>")
    html.extend(_row(item, f"{path}[__i__]", None, {}, {}))
    html.append('</template><button type="button" class="add-row">Add a row</button></fieldset>')
    return html


def _row(item: Field, path: str, value: Any, grounding: dict[str, Any],
         confidence: dict[str, Any]) -> list[str]:  # fmt: skip
    if item.kind == "object":
        inner = render_fields(item.children, value, grounding, confidence, f"{path}.")
    else:
        inner = [_input(item, path, value, grounding.get(path), confidence.get(path))]
    return ['<div class="row">', *inner,
            '<button type="button" class="remove-row">Remove</button></div>']  # fmt: skip


def _input(field: Field, path: str, value: Any, where: Any, score: Any) -> str:
    shown = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    number = float(score) if isinstance(score, int | float) else None
    note = _where(where, number)
    title = escape(field.title if field.name else "Value")
    return (
        f'<label class="field {band(number)}" data-for="{escape(path)}">'
        f'<span class="name">{title}</span>'
        f'<input type="text" data-path="{escape(path)}" data-kind="{field.kind}" '
        f'data-nullable="{int(field.nullable)}" value="{escape(shown)}" spellcheck="false">'
        f'<span class="where">{escape(note)}</span></label>'
    )


def _where(grounding: Any, confidence: float | None) -> str:
    if not isinstance(grounding, dict):
        return "" if confidence is None else f"confidence {confidence:.2f}"
    parts = [str(grounding.get("status", ""))]
    if grounding.get("page") is not None:
        parts.append(f"page {grounding['page']}")
    if confidence is not None:
        parts.append(f"confidence {confidence:.2f}")
    return " · ".join(part for part in parts if part)
