"""Money: exact Decimals in the shipped schemas, plain numbers in the schema and the records."""

from __future__ import annotations

import doctest
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, ValidationError

import extractor.money
from extractor import RetryPolicy, extract
from extractor.export import write_records
from extractor.money import Money, as_decimal, format_amount
from extractor.schema import strict_schema
from extractor.testing import Reply, ScriptedServer
from schemas.invoice import Invoice, LineItem
from schemas.receipt import Receipt

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EVAL_INVOICES = Path(__file__).resolve().parents[2] / "shared" / "eval" / "invoices"
INVOICE_ANSWER = (FIXTURES / "expected" / "invoice.json").read_text(encoding="utf-8")


class Bill(BaseModel):
    total: Money | None = None


class FloatBill(BaseModel):
    total: float | None = None


def test_module_examples_run() -> None:
    assert doctest.testmod(extractor.money).failed == 0


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (1468.46, Decimal("1468.46")),  # a float keeps its printed digits …
        (173.1, Decimal("173.1")),  # … not its binary expansion 173.099999…
        ("1468.46", Decimal("1468.46")),
        (" 12.50 ", Decimal("12.50")),
        (-8.79, Decimal("-8.79")),
        (1, Decimal("1")),
        ("1e3", Decimal("1000")),  # an exponent is written out
        (None, None),
    ],
)
def test_accepted_from_numbers_and_numeric_strings(given: Any, expected: Decimal | None) -> None:
    value = Bill(total=given).total
    assert value == expected and (value is None or str(value) == str(expected))


@pytest.mark.parametrize("given", ["1.468,46", "€ 12", "", "NaN", "Infinity", float("inf"), True])
def test_rejected_inputs(given: Any) -> None:
    # Printed forms are parsed elsewhere; a NaN or a boolean is never an amount.
    with pytest.raises(ValidationError):
        Bill(total=given)


def test_from_json_text_and_exact_arithmetic() -> None:
    invoice = Invoice.model_validate_json(INVOICE_ANSWER)
    assert invoice.net_amount == Decimal("1234.0") and invoice.total_amount == Decimal("1468.46")
    assert invoice.net_amount + invoice.tax_amount == invoice.total_amount  # type: ignore[operator]
    amounts = [item.amount for item in invoice.line_items]
    assert sum(a for a in amounts if a is not None) == invoice.net_amount
    assert Bill.model_validate_json('{"total": 0.1}').total + Decimal("0.2") == Decimal("0.3")  # type: ignore[operator]


def test_json_schema_is_a_plain_number_like_a_float() -> None:
    for mode in ("validation", "serialization"):
        money = Bill.model_json_schema(mode=mode)["properties"]["total"]
        plain = FloatBill.model_json_schema(mode=mode)["properties"]["total"]
        assert money == plain == {"anyOf": [{"type": "number"}, {"type": "null"}],
                                  "default": None, "title": "Total"}  # fmt: skip
    invoice = strict_schema(Invoice)
    for name in ("net_amount", "tax_amount", "total_amount"):
        assert invoice["properties"][name]["anyOf"] == [{"type": "number"}, {"type": "null"}]
    item = invoice["$defs"]["LineItem"]["properties"]
    assert item["amount"]["anyOf"] == item["unit_price"]["anyOf"] == item["quantity"]["anyOf"]
    assert "string" not in json.dumps(strict_schema(Receipt)["properties"]["total"])


def test_dumps_are_json_numbers() -> None:
    bill = Bill(total="1468.46")
    assert bill.model_dump() == {"total": Decimal("1468.46")}  # Python mode keeps the Decimal
    assert bill.model_dump(mode="json") == {"total": 1468.46}
    assert bill.model_dump_json() == '{"total":1468.46}'
    assert orjson.dumps(bill.model_dump(mode="json")) == b'{"total":1468.46}'
    assert json.dumps(Bill(total=Decimal("1234.00")).model_dump(mode="json")) == '{"total": 1234.0}'
    item = LineItem(description="Pfand", quantity=20, unit_price="2.77", amount="55.40")
    assert item.model_dump(mode="json") == {
        "description": "Pfand", "quantity": 20.0, "unit_price": 2.77, "amount": 55.4,
    }  # fmt: skip


def test_records_and_exports_keep_numbers(tmp_path: Path) -> None:
    with ScriptedServer([Reply.chat(INVOICE_ANSWER)]) as server:
        result = extract(
            FIXTURES / "invoice.pdf", Invoice, provider="openrouter", base_url=server.base_url,
            api_key="sk-test-money-0123456789", retry=RetryPolicy(retries=0, timeout=5.0),
        )  # fmt: skip
    assert result.ok, result.error
    assert result.data is not None and result.data.total_amount == Decimal("1468.46")
    record = result.record()
    assert record["data"] == json.loads(INVOICE_ANSWER)  # the same record as with floats
    [jsonl] = write_records([record], tmp_path / "out.jsonl", "jsonl")
    line = jsonl.read_bytes()
    assert b'"total_amount":1468.46' in line and b'"net_amount":1234.0' in line
    assert b'"1468.46"' not in line
    [csv_file, *_] = write_records([record], tmp_path / "out.csv", "csv")
    assert "1468.46" in csv_file.read_text(encoding="utf-8")


def test_helpers() -> None:
    assert as_decimal(0.1) + as_decimal(0.2) == Decimal("0.3")
    assert as_decimal(3) == Decimal(3) and as_decimal(Decimal("2.5")) == Decimal("2.5")
    shown = [format_amount(v) for v in (1234, 3.3333, Decimal("-7.9"), Decimal("1E+3"))]
    assert shown == ["1234.00", "3.3333", "-7.90", "1000.00"]


@pytest.mark.eval_data
@pytest.mark.skipif(not EVAL_INVOICES.is_dir(), reason="needs ../shared/eval/invoices")
def test_eval_totals_add_up_exactly_only_as_decimals() -> None:
    documents = exact = inexact_as_floats = 0
    for path in sorted(EVAL_INVOICES.glob("*.json")):
        truth = json.loads(path.read_text(encoding="utf-8"))
        if not {"net_amount", "tax_amount", "total_amount"} <= truth.keys():
            continue
        documents += 1
        invoice = Invoice.model_validate(truth)
        assert invoice.net_amount is not None and invoice.tax_amount is not None
        exact += invoice.net_amount + invoice.tax_amount == invoice.total_amount
        floats = truth["net_amount"] + truth["tax_amount"]
        inexact_as_floats += floats != truth["total_amount"]
    assert exact == documents == 60  # every truth file that has all three amounts
    assert inexact_as_floats > 0  # what the float schema got wrong
