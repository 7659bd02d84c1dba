"""Grounding in records, and --require-grounding feeding misplaced values back as repairs."""

from __future__ import annotations

import json
from pathlib import Path

from extractor import extract
from extractor.testing import Reply, ScriptedServer
from schemas import Invoice


def _truth(fixtures: Path) -> dict[str, object]:
    return json.loads((fixtures / "expected" / "invoice.json").read_text())


def test_records_say_where_each_value_stands(fixtures: Path) -> None:
    with ScriptedServer([Reply.chat(json.dumps(_truth(fixtures)))]) as server:
        result = extract(fixtures / "invoice.pdf", Invoice, base_url=server.base_url, model="m")
    assert result.ok
    number = result.grounding["invoice_number"]
    assert number["status"] == "exact" and number["page"] == 1
    x0, top, x1, bottom = number["box"]
    assert 0 <= x0 < x1 <= 595.3 and 0 <= top < bottom <= 841.9  # on the A4 page
    assert result.grounding["total_amount"]["status"] == "normalized"  # printed 1.468,46
    assert result.grounding["line_items[0].amount"]["status"] in {"exact", "normalized"}
    # printed beside its label, and its rule (net + tax = total) passed: strong evidence
    assert result.grounding["total_amount"]["label"]
    assert result.confidence["total_amount"] >= 0.9
    assert result.confidence["invoice_number"] >= 0.8


def test_an_invented_value_is_flagged_with_low_confidence(fixtures: Path) -> None:
    # a well-formed IBAN (its rule passes, so no repair is asked) that the page never shows
    invented = dict(_truth(fixtures), iban="GB82WEST12345698765432")
    with ScriptedServer([Reply.chat(json.dumps(invented))]) as server:
        result = extract(fixtures / "invoice.pdf", Invoice, base_url=server.base_url, model="m")
    assert result.ok  # without --require-grounding the value stays, flagged
    assert result.grounding["iban"]["status"] == "not_found"
    assert result.confidence["iban"] < 0.5 < result.confidence["invoice_number"]


def test_require_grounding_sends_unfound_values_back(fixtures: Path) -> None:
    truth = _truth(fixtures)
    wrong = dict(truth, total_amount=243.95)
    with ScriptedServer([Reply.chat(json.dumps(wrong)), Reply.chat(json.dumps(truth))]) as server:
        result = extract(
            fixtures / "invoice.pdf", Invoice, base_url=server.base_url, model="m",
            require_grounding=True,
        )  # fmt: skip
        repair_turn = server.requests[1].json["messages"][-1]["content"]
    assert result.ok and len(result.attempts) == 2
    assert "`total_amount` 243.95 does not appear in the document" in repair_turn
    assert result.data is not None and type(result.data) is Invoice
    assert result.record()["data"]["total_amount"] == truth["total_amount"]  # a JSON number
