"""No silent truncation: long tables come out whole, in order, with their sums checked.

Against `TruthModel`: a scripted model that knows each fixture's truth but answers only
what the request shows and stops at the request's ``max_tokens``, as a real model does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from extractor import extract
from extractor.providers.openai_compat import OpenAICompatible, Profile
from extractor.testing import RecordedRequest, Reply, ScriptedServer, TruthModel
from schemas import Invoice

LONG = Path(__file__).resolve().parent.parent / "fixtures" / "long"
FIXTURES = LONG.parent


def truth_of(stem: str, folder: Path = LONG) -> dict[str, Any]:
    return json.loads((folder / "expected" / f"{stem}.json").read_text())


def items(result: Any) -> list[dict[str, Any]]:
    return list(result.record()["data"]["line_items"])


def checks(result: Any) -> dict[str, str]:
    return {c["name"]: c["status"] for c in result.checks}


def test_600_line_items_come_out_whole_in_order_with_the_sums_checked() -> None:
    truth = truth_of("invoice_600_items")
    model = TruthModel(truth)
    with ScriptedServer(responder=model) as server:
        result = extract(LONG / "invoice_600_items.pdf", Invoice, base_url=server.base_url,
                         model="m")  # fmt: skip
        requests = server.requests
    assert result.status == "ok", result.error
    assert items(result) == truth["line_items"]  # all 600, in the printed order
    assert model.cut == 0, "no answer was cut at max_tokens"
    assert checks(result)["line_amounts_match_net"] == "passed"
    assert checks(result)["net_plus_tax_is_total"] == "passed"
    assert result.record()["data"]["total_amount"] == truth["total_amount"]
    assert any("page windows" in w for w in result.warnings)
    asked = [
        set(r.json["response_format"]["json_schema"]["schema"]["properties"]) for r in requests
    ]
    assert asked[0] == set(Invoice.model_fields) - {"line_items"}  # the header, once
    assert all(fields == {"line_items"} for fields in asked[1:])  # then the windows
    assert result.requests == len(requests) == len(result.attempts)


def test_a_table_continued_over_a_page_break_stays_one_list() -> None:
    truth = truth_of("invoice_continued")
    with ScriptedServer(responder=TruthModel(truth)) as server:
        result = extract(LONG / "invoice_continued.pdf", Invoice, base_url=server.base_url,
                         model="m")  # fmt: skip
        assert server.calls == 1  # it fits one answer
    assert result.status == "ok", result.error
    assert items(result) == truth["line_items"]
    assert checks(result)["line_amounts_match_net"] == "passed"


def test_windows_split_at_the_page_break_keep_every_row_once() -> None:
    truth = truth_of("invoice_continued")
    model = TruthModel(truth)
    with ScriptedServer(responder=model) as server:
        result = extract(LONG / "invoice_continued.pdf", Invoice, base_url=server.base_url,
                         model="m", max_tokens=700)  # fmt: skip
        windows = [r for r in server.requests if "items printed on these pages" in _text(r)]
    assert len(windows) == 2 and model.cut == 0  # page 1, then page 2
    assert items(result) == truth["line_items"]


def _text(request: RecordedRequest) -> str:
    return json.dumps(request.json["messages"][1]["content"])


def test_a_list_that_stops_before_rows_on_later_pages_is_asked_for_again() -> None:
    truth = truth_of("invoice_continued")
    honest = TruthModel(truth)

    def lazy(request: RecordedRequest) -> Reply:
        """Answers the whole document with only the first page's rows."""
        reply = honest(request)
        answer = json.loads(reply.json["choices"][0]["message"]["content"])
        if "invoice_number" in answer:
            answer["line_items"] = answer.get("line_items", [])[:18]
        return Reply.chat(json.dumps(answer))

    with ScriptedServer(responder=lazy) as server:
        result = extract(LONG / "invoice_continued.pdf", Invoice, base_url=server.base_url,
                         model="m")  # fmt: skip
    assert result.status == "ok", result.error
    assert items(result) == truth["line_items"]
    assert any("end before rows on later pages" in w for w in result.warnings)


def test_an_answer_cut_even_at_the_providers_cap_is_asked_for_in_parts() -> None:
    truth = truth_of("invoice", FIXTURES)
    model = TruthModel(truth)
    with ScriptedServer(responder=model) as server:
        capped = Profile("capped", server.base_url, None, "m", max_output_tokens=150)
        provider = OpenAICompatible(capped, model="m", base_url=server.base_url, api_key=None)
        result = extract(FIXTURES / "invoice.pdf", Invoice, provider=provider)
        limits = [r.json["max_tokens"] for r in server.requests]
    assert result.status == "ok", result.error
    assert model.cut >= 1 and set(limits) == {150}
    assert items(result) == truth["line_items"]
    assert result.record()["data"]["invoice_number"] == truth["invoice_number"]
    assert any("cut at the token limit" in w for w in result.warnings)


@pytest.mark.parametrize("stem", ["invoice_600_items", "invoice_continued"])
def test_the_truth_model_answers_only_what_a_request_shows(stem: str) -> None:
    truth = truth_of(stem)
    shown = "\n".join(item["description"] for item in truth["line_items"][:2])
    request = RecordedRequest("POST", "/v1/chat/completions", {}, b"", {
        "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": shown}],
        "response_format": {"json_schema": {"schema": {"properties": {"line_items": {}}}}},
    }, 0.0)  # fmt: skip
    answer = json.loads(TruthModel(truth)(request).json["choices"][0]["message"]["content"])
    assert answer == {"line_items": truth["line_items"][:2]}


class Row(BaseModel):
    description: str
    amount: float


class Bill(BaseModel):
    rows: list[Row]


BILL = b"Memory cards 14.50\nShipping 5.00\nShipping 5.00\nTotal 24.50\n"


def test_an_item_repeated_beyond_what_the_page_prints_is_a_loop_and_dropped() -> None:
    card = {"description": "Memory cards", "amount": 14.5}
    ship = {"description": "Shipping", "amount": 5.0}
    looped = {"rows": [card] * 8 + [ship] * 3}
    with ScriptedServer(responder=lambda _: Reply.chat(json.dumps(looped))) as server:
        result = extract(BILL, Bill, base_url=server.base_url, model="m")
    assert result.ok, result.error
    # Printed once and twice: one card, two shipping rows (a row billed twice is kept).
    assert result.record()["data"]["rows"] == [card, ship, ship]
    assert any("rows: 8 repeated item(s) dropped" in w for w in result.warnings)
    assert server.calls == 1  # trimmed, not asked again


def test_items_printed_as_often_as_they_are_answered_are_all_kept(fixtures: Path) -> None:
    answer = {"rows": [{"description": "Shipping", "amount": 5.0}] * 2}
    with ScriptedServer(responder=lambda _: Reply.chat(json.dumps(answer))) as server:
        result = extract(BILL, Bill, base_url=server.base_url, model="m")
        # A page seen only as an image gives nothing to count by: nothing is dropped.
        seen = extract(fixtures / "receipt.jpg", Bill, base_url=server.base_url, model="m",
                       mode="vision")  # fmt: skip
    for kept in (result, seen):
        assert kept.ok and kept.record()["data"]["rows"] == answer["rows"]
        assert not any("repeated" in w for w in kept.warnings)
