"""Candidates from the page: what a small model may choose from, found in the text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extractor.candidates import find_candidates, restrict
from extractor.load import load
from extractor.pages import read_pages
from extractor.schema import load_schema
from extractor.settings import PageOptions

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

INVOICE = """\
ACME GmbH, Hauptstr. 1, 20457 Hamburg
Rechnung RE-2024-0815  Datum: 15.03.2024  Fällig: 14. April 2024
USt-IdNr.: DE123456789
1 Toner 2 10,00 € 20,00 €
Netto 1.234,00 EUR  MwSt 19% 234,46  Gesamt 1.468,46 €
Rabatt -5,00  Skonto 3,20-
IBAN DE89 3704 0044 0532 0130 00
"""


def test_dates_are_iso_and_numbers_inside_dates_or_codes_are_not_amounts() -> None:
    found = find_candidates(INVOICE)
    assert found.dates == ("2024-03-15", "2024-04-14")
    assert {1468.46, 1234.0, 234.46, 20.0, -5.0, -3.2} <= set(found.amounts)
    assert not {15032024.0, -2024.0, 2024.0, 815.0} & set(found.amounts)
    assert found.money[0] == 1468.46  # largest first: totals are usually the largest
    assert found.ibans == ("DE89370400440532013000",)
    assert found.vat_ids == ("DE123456789",)
    assert found.currencies == ("EUR",)
    assert found.codes[0] == "RE-2024-0815"  # letters and digits before plain numbers


def test_ocr_dates_glued_to_times_and_ambiguous_dates_give_every_reading() -> None:
    assert find_candidates("30-06-201822:16:06 TOTAL 12.00").dates == ("2018-06-30",)
    assert set(find_candidates("Date: 03/04/2024").dates) == {"2024-04-03", "2024-03-04"}


def test_the_invoice_schema_is_restricted_where_its_types_allow() -> None:
    schema = load_schema("invoice").grammar_schema
    restricted = restrict(schema, find_candidates(INVOICE))
    props = restricted["properties"]

    def choices(name: str) -> list[object]:
        return props[name]["anyOf"][0]["enum"]

    assert choices("invoice_date") == ["2024-03-15", "2024-04-14"]
    assert choices("total_amount")[0] == 1468.46
    assert choices("iban") == ["DE89370400440532013000"]
    assert choices("seller_vat_id") == ["DE123456789"]
    assert choices("currency") == ["EUR"]
    assert "RE-2024-0815" in choices("invoice_number")
    assert props["seller_name"] == schema["properties"]["seller_name"]  # free text stays free
    item = restricted["$defs"]["LineItem"]["properties"]
    assert 10.0 in item["unit_price"]["anyOf"][0]["enum"]
    assert item["description"] == schema["$defs"]["LineItem"]["properties"]["description"]
    assert props["invoice_date"]["anyOf"][1] == {"type": "null"}  # null stays allowed


def test_a_field_takes_only_the_values_beside_a_label_naming_it_when_there_are_some() -> None:
    props = restrict(load_schema("invoice").grammar_schema, find_candidates(INVOICE))["properties"]
    assert props["total_amount"]["anyOf"][0]["enum"] == [1468.46]  # after "Gesamt"
    # "Netto" stands before all three amounts of its line: the line is the label's reach.
    assert props["net_amount"]["anyOf"][0]["enum"] == [1468.46, 1234.0, 234.46]
    # A label over its value, on the line above, counts too.
    above = find_candidates("Invoice date\n03/15/2024\nDelivered 03/10/2024")
    props = restrict(load_schema("invoice").grammar_schema, above)["properties"]
    assert props["invoice_date"]["anyOf"][0]["enum"] == ["2024-03-15"]
    # Where no value is labelled for a field, every candidate stays.
    plain = restrict(load_schema("receipt").grammar_schema, find_candidates("Tea 2,50\nCake 4,00"))
    assert plain["properties"]["total"]["anyOf"][0]["enum"] == [4.0, 2.5]


def test_a_kind_with_no_candidate_leaves_only_null() -> None:
    schema = load_schema("invoice").grammar_schema
    props = restrict(schema, find_candidates("Receipt, no dates here"))["properties"]
    assert props["iban"] == {"description": schema["properties"]["iban"]["description"],
                             "type": "null"}  # fmt: skip


@pytest.mark.parametrize("stem", ["invoice", "multipage"])
def test_every_truth_value_of_a_fixture_is_among_its_candidates(stem: str) -> None:
    """The restriction never takes the right answer away on the fixtures."""
    pages = read_pages(load(FIXTURES / f"{stem}.pdf"), PageOptions(mode="text", vision=False))
    found = find_candidates("\n".join(page.text for page in pages))
    truth = json.loads((FIXTURES / "expected" / f"{stem}.json").read_text())
    for field in ("invoice_date", "due_date"):
        assert truth[field] in found.dates
    for field in ("net_amount", "tax_amount", "total_amount"):
        assert truth[field] in found.money
    assert truth["iban"] in found.ibans and truth["currency"] in found.currencies
    assert truth["invoice_number"] in found.codes
    for item in truth["line_items"]:
        assert item["amount"] in found.money and item["quantity"] in found.amounts
