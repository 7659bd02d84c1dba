"""Schemas keep their meaning on the wire and in validation: maps, recursion, JSON Schema
files with their constraints, keywords providers refuse, unions in the prompt, schema
modules that import their neighbours. Every test runs the library against a real
scripted server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from extractor import ConfigError, RetryPolicy, SchemaError, extract, extract_many, load_schema
from extractor.cli import app
from extractor.testing import RecordedRequest, Reply, ScriptedServer

TEXT = b"Invoice 17 from ACME GmbH. VAT 19%: 19.00 EUR, VAT 7%: 0.70 EUR. Total 129.70 EUR."
FAST = RetryPolicy(retries=0, timeout=5.0)


def _run(server: ScriptedServer, schema: Any, source: Any = TEXT, **options: Any) -> Any:
    return extract(source, schema, base_url=server.base_url, model="m", retry=FAST, **options)


def _wire_schema(request: RecordedRequest) -> dict[str, Any]:
    schema: dict[str, Any] = request.json["response_format"]["json_schema"]["schema"]
    return schema


def _all_keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _all_keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _all_keys(v)}
    return set()


# -- maps ---------------------------------------------------------------------------------


class Line(BaseModel):
    text: str
    attributes: dict[str, str]


class TaxBill(BaseModel):
    number: str
    vat_by_rate: dict[str, float]
    lines: list[Line] = []
    notes: dict[str, int] | None = None


def test_a_map_goes_out_as_key_value_pairs_and_comes_back_as_a_dict(
    server: ScriptedServer,
) -> None:
    answer = {
        "number": "17",
        "vat_by_rate": [{"key": "19%", "value": 19.0}, {"key": "7%", "value": 0.7}],
        "lines": [{"text": "Toner", "attributes": [{"key": "colour", "value": "black"}]}],
        "notes": None,
    }
    server.script(Reply.chat(json.dumps(answer)))
    result = _run(server, TaxBill)
    assert result.status == "ok", result.error
    assert result.data.vat_by_rate == {"19%": 19.0, "7%": 0.7}
    assert result.data.lines[0].attributes == {"colour": "black"}
    assert result.record()["data"]["vat_by_rate"] == {"19%": 19.0, "7%": 0.7}
    sent = _wire_schema(server.requests[0])["properties"]["vat_by_rate"]
    assert sent["type"] == "array"  # not a closed object with no properties
    pair = sent["items"]
    assert pair["required"] == ["key", "value"] and pair["additionalProperties"] is False
    assert pair["properties"]["value"] == {"type": "number"}
    assert "key, value" in json.dumps(server.requests[0].json["messages"][0])


def test_an_invalid_map_value_goes_back_to_the_model_as_a_repair(server: ScriptedServer) -> None:
    bad = {"number": "17", "vat_by_rate": [{"key": "19%", "value": "lots"}], "notes": None}
    good = {"number": "17", "vat_by_rate": [{"key": "19%", "value": 19.0}], "notes": None}
    server.script(Reply.chat(json.dumps(bad)), Reply.chat(json.dumps(good)))
    result = _run(server, TaxBill)
    assert result.status == "ok", result.error
    assert result.data.vat_by_rate == {"19%": 19.0}
    assert any("vat_by_rate" in e for e in result.attempts[0].errors)


# -- recursion ----------------------------------------------------------------------------


class Part(BaseModel):
    name: str
    parts: list[Part] = []


class Assembly(BaseModel):
    title: str
    root: Part


def test_a_recursive_model_works_with_an_object_root(server: ScriptedServer) -> None:
    answer = {"name": "bike", "parts": [{"name": "wheel", "parts": [{"name": "spoke",
              "parts": []}]}]}  # fmt: skip
    server.script(Reply.chat(json.dumps(answer)), Reply.chat(json.dumps({"title": "B",
                  "root": answer})))  # fmt: skip
    result = _run(server, Part)
    assert result.status == "ok", result.error
    assert result.data.parts[0].parts[0].name == "spoke"
    sent = _wire_schema(server.requests[0])
    assert sent["type"] == "object" and "$ref" not in sent
    assert sent["properties"]["parts"]["items"] == {"$ref": "#/$defs/Part"}
    system = server.requests[0].json["messages"][0]["content"]
    assert "- parts[].name (string)" in system
    nested = _run(server, Assembly)  # a recursive model below the root
    assert nested.status == "ok", nested.error
    assert nested.data.root.parts[0].name == "wheel"


# -- schemas that cannot be sent ------------------------------------------------------------


class WithCallback(BaseModel):
    total: float
    on_change: Callable[[float], None]


def test_a_schema_with_no_json_schema_is_refused_when_loaded(
    server: ScriptedServer, tmp_path: Path
) -> None:
    with pytest.raises(SchemaError, match="cannot be sent as a JSON Schema") as caught:
        load_schema(WithCallback)
    assert isinstance(caught.value, ConfigError)
    assert "\n" not in str(caught.value)  # one clear line
    with pytest.raises(ConfigError):
        extract_many([TEXT], WithCallback, base_url=server.base_url, model="m")
    schema_file = tmp_path / "cb.py"
    schema_file.write_text(
        textwrap.dedent("""
        from typing import Callable
        from pydantic import BaseModel

        class Cb(BaseModel):
            total: float
            hook: Callable[[], None]
    """)
    )
    doc = tmp_path / "a.txt"
    doc.write_bytes(TEXT)
    result = CliRunner().invoke(app, [
        "extract", str(doc), "-s", f"{schema_file}:Cb", "-o", str(tmp_path / "o.jsonl"),
        "--base-url", server.base_url, "--model", "m",
    ])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "cannot be sent as a JSON Schema" in result.output
    assert "Traceback" not in result.output
    assert server.calls == 0


# -- JSON Schema files ------------------------------------------------------------------------

ORDER_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.com/order.schema.json",
    "title": "Order",
    "type": "object",
    "$defs": {
        "Party": {"type": "object", "properties": {"name": {"type": "string", "minLength": 2}},
                  "required": ["name"]},
    },
    "properties": {
        "status": {"enum": ["open", "paid"]},
        "kind": {"const": "order"},
        "code": {"type": "string", "pattern": "^[A-Z]{3}-\\d+$", "maxLength": 12},
        "date": {"type": "string", "format": "date"},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 99},
        "items": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "buyer": {"allOf": [{"$ref": "#/$defs/Party"},
                            {"properties": {"vat_id": {"type": "string"}}}]},
        "rates": {"type": "object", "additionalProperties": {"type": "number"}},
    },
    "required": ["status", "kind", "code", "date", "quantity", "items", "buyer"],
    "additionalProperties": False,
}  # fmt: skip
GOOD_ORDER = {
    "status": "paid", "kind": "order", "code": "ABC-17", "date": "2024-03-15", "quantity": 3,
    "items": ["toner"], "buyer": {"name": "ACME", "vat_id": None},
    "rates": [{"key": "19%", "value": 19.0}],
}  # fmt: skip
BROKEN = [
    ("status", "lost", "status"),
    ("kind", "invoice", "kind"),
    ("code", "abc-17", "code"),
    ("date", "2024-13-45", "date"),
    ("quantity", 0, "quantity"),
    ("items", [], "items"),
    ("buyer", {"name": "A", "vat_id": None}, "buyer.name"),
]


@pytest.fixture
def order_schema(tmp_path: Path) -> Path:
    path = tmp_path / "order.schema.json"
    path.write_text(json.dumps(ORDER_SCHEMA))
    return path


@pytest.mark.parametrize(("field", "value", "loc"), BROKEN, ids=[b[0] for b in BROKEN])
def test_json_schema_files_keep_their_constraints_and_feed_them_to_repair(
    server: ScriptedServer, order_schema: Path, field: str, value: Any, loc: str
) -> None:
    server.script(Reply.chat(json.dumps({**GOOD_ORDER, field: value})),
                  Reply.chat(json.dumps(GOOD_ORDER)))  # fmt: skip
    result = _run(server, str(order_schema))
    assert result.status == "ok", result.error
    assert [e.split(":")[0] for e in result.attempts[0].errors] == [loc]
    repair_turn = server.requests[1].json["messages"][-1]["content"]
    assert loc in repair_turn
    assert result.record()["data"] == {**GOOD_ORDER, "rates": {"19%": 19.0}}


def test_keywords_providers_refuse_move_into_descriptions(
    server: ScriptedServer, order_schema: Path
) -> None:
    server.script(Reply.chat(json.dumps(GOOD_ORDER)))
    result = _run(server, str(order_schema), provider="mistral", api_key="k")
    assert result.status == "ok", result.error
    sent = _wire_schema(server.requests[0])
    refused = {"$schema", "$id", "const", "minLength", "maxLength", "pattern", "format",
               "minimum", "maximum", "minItems", "title", "default"}  # fmt: skip
    assert not refused & _all_keys(sent)
    properties = sent["properties"]
    assert properties["kind"]["enum"] == ["order"]
    assert properties["status"]["enum"] == ["open", "paid"]
    assert 'pattern: "^[A-Z]{3}-\\\\d+$"' in properties["code"]["description"]
    assert "maxLength: 12" in properties["code"]["description"]
    assert "minimum: 1; maximum: 99" in properties["quantity"]["description"]
    assert 'format: "date"' in properties["date"]["description"]


def test_json_schema_files_may_be_recursive(server: ScriptedServer, tmp_path: Path) -> None:
    path = tmp_path / "tree.json"
    path.write_text(json.dumps({
        "type": "object", "title": "Tree",
        "properties": {"label": {"type": "string"},
                       "children": {"type": "array", "items": {"$ref": "#"}}},
        "required": ["label", "children"],
    }))  # fmt: skip
    answer = {"label": "a", "children": [{"label": "b", "children": []}]}
    server.script(Reply.chat(json.dumps(answer)))
    result = _run(server, str(path))
    assert result.status == "ok", result.error
    assert result.record()["data"] == answer


# -- the prompt ---------------------------------------------------------------------------------


class Mixed(BaseModel):
    reference: str | int
    amount: float | None
    tag: str | None


def test_the_prompt_shows_unions_truthfully(server: ScriptedServer) -> None:
    server.script(Reply.chat('{"reference": 17, "amount": null, "tag": null}'))
    result = _run(server, Mixed)
    assert result.status == "ok", result.error
    system = server.requests[0].json["messages"][0]["content"]
    assert "- reference (string | integer)" in system
    assert "- amount (number)" in system and "- tag (string)" in system


# -- finding schema modules ------------------------------------------------------------------------


def test_schema_files_import_their_neighbours_and_modules_load_from_the_current_directory(
    server: ScriptedServer, tmp_path: Path
) -> None:
    (tmp_path / "common.py").write_text(
        textwrap.dedent("""
        from pydantic import BaseModel

        class Party(BaseModel):
            name: str
    """)
    )
    (tmp_path / "po_schema.py").write_text(
        textwrap.dedent("""
        from pydantic import BaseModel
        from common import Party

        class PurchaseOrder(BaseModel):
            number: str
            buyer: Party | None
    """)
    )
    (tmp_path / "doc.txt").write_bytes(TEXT)
    server.responder = lambda _: Reply.chat('{"number": "17", "buyer": {"name": "ACME"}}')
    cli = Path(sys.executable).with_name("extractor")  # the console script users run
    for spec in (f"{tmp_path / 'po_schema.py'}:PurchaseOrder", "po_schema:PurchaseOrder"):
        out = tmp_path / f"{len(spec)}.jsonl"
        run = subprocess.run(
            [str(cli), "extract", "doc.txt", "-s", spec, "-o", str(out), "--include", "*.txt",
             "--base-url", server.base_url, "--model", "m", "-q"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert json.loads(out.read_text())["data"]["buyer"] == {"name": "ACME"}
