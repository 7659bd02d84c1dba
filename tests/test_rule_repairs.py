"""Business rules in the repair loop: a broken rule goes back to the model with the numbers;
an answer that still breaks one after the repairs is kept, flagged and trusted less; a
misprinted identifier is not sent back at all. Through the real pipeline and a scripted
server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from extractor import extract
from extractor.testing import Reply, ScriptedServer
from extractor.testing.pdf import PdfWriter
from schemas import Invoice

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TRUTH: dict[str, Any] = json.loads((FIXTURES / "expected" / "invoice.json").read_text())


def _answer(**changes: Any) -> str:
    return json.dumps({**TRUTH, **changes})


def _run(server: ScriptedServer, source: Any = FIXTURES / "invoice.pdf") -> Any:
    return extract(source, Invoice, base_url=server.base_url, model="m", retries=0)


def _last_user_turn(server: ScriptedServer, number: int) -> str:
    content = server.requests[number].json["messages"][-1]["content"]
    return content if isinstance(content, str) else json.dumps(content)


def test_a_broken_total_is_sent_back_with_the_numbers_and_repaired(
    server: ScriptedServer,
) -> None:
    wrong_total = round(TRUTH["net_amount"] + TRUTH["tax_amount"] + 100, 2)
    server.script(Reply.chat(_answer(total_amount=wrong_total)), Reply.chat(_answer()))
    result = _run(server)
    assert result.status == "ok", result.error
    repair = _last_user_turn(server, 1)
    assert "net_plus_tax_is_total" in repair
    assert "1234.00" in repair and "234.46" in repair and f"{wrong_total:.2f}" in repair
    assert result.record()["data"]["total_amount"] == TRUTH["total_amount"]
    checks = {c["name"]: c["status"] for c in result.checks}
    assert checks["net_plus_tax_is_total"] == "passed"
    assert not any(w.startswith("business rule failed") for w in result.warnings)


def test_an_answer_that_keeps_breaking_a_rule_is_kept_flagged_and_trusted_less(
    server: ScriptedServer,
) -> None:
    wrong = _answer(total_amount=round(TRUTH["total_amount"] + 100, 2))
    server.script(*(Reply.chat(wrong) for _ in range(3)))
    result = _run(server)
    assert result.status == "ok", result.error
    assert len(result.attempts) == 3  # the first answer and two repairs
    failed = [c for c in result.checks if c["status"] == "failed"]
    assert [c["name"] for c in failed] == ["net_plus_tax_is_total"]
    assert set(failed[0]["fields"]) == {"net_amount", "tax_amount", "total_amount"}
    assert any("business rule failed: net_plus_tax_is_total" in w for w in result.warnings)
    # the wrong total stands nowhere and breaks its rule: it is trusted least; the
    # values the rule could not vouch for are trusted less than in a consistent answer
    assert result.confidence["total_amount"] < 0.5
    with ScriptedServer([Reply.chat(_answer())]) as consistent:
        good = _run(consistent)
    assert result.confidence["tax_amount"] < good.confidence["tax_amount"]
    assert result.confidence["invoice_number"] > 0.5  # no rule speaks against it


def test_a_wrong_answer_that_breaks_the_schema_still_fails(server: ScriptedServer) -> None:
    server.script(*(Reply.chat('{"invoice_number": 7}') for _ in range(3)))
    result = _run(server)
    assert result.status == "error"
    assert result.error.type == "extraction_failed"


def _invoice_with_iban(iban: str) -> bytes:
    pdf = PdfWriter()
    page = pdf.page()
    lines = ["ACME GmbH, Hauptstr. 1, 20457 Hamburg", "Invoice RE-77  Date 15.03.2024",
             "Net 100,00 EUR  VAT 19,00 EUR  Total 119,00 EUR", f"IBAN: {iban}"]  # fmt: skip
    for number, line in enumerate(lines):
        page.text(56, 80 + 20 * number, line)
    return pdf.to_bytes()


def test_a_misprinted_iban_is_flagged_without_paying_for_repairs(server: ScriptedServer) -> None:
    misprinted = "DE12500105170648489891"  # one digit off: mod 97 fails
    answer = json.dumps({
        "invoice_number": "RE-77", "invoice_date": "2024-03-15", "seller_name": "ACME GmbH",
        "currency": "EUR", "net_amount": 100.0, "tax_amount": 19.0, "total_amount": 119.0,
        "iban": misprinted,
    })  # fmt: skip
    server.script(Reply.chat(answer))
    result = _run(server, _invoice_with_iban(misprinted))
    assert result.status == "ok", result.error
    assert server.calls == 1, "the page prints this IBAN: asking again cannot help"
    statuses = {c["name"]: c["status"] for c in result.checks}
    assert statuses["iban_is_valid"] == "failed"
    assert statuses["net_plus_tax_is_total"] == "passed"


def test_a_misread_iban_is_sent_back(server: ScriptedServer) -> None:
    printed = "DE89370400440532013000"
    misread = "DE89370400440532018000"
    base = {
        "invoice_number": "RE-77", "invoice_date": "2024-03-15", "seller_name": "ACME GmbH",
        "currency": "EUR", "net_amount": 100.0, "tax_amount": 19.0, "total_amount": 119.0,
    }  # fmt: skip
    server.script(
        Reply.chat(json.dumps({**base, "iban": misread})),
        Reply.chat(json.dumps({**base, "iban": printed})),
    )
    result = _run(server, _invoice_with_iban(printed))
    assert result.status == "ok", result.error
    assert server.calls == 2
    assert "iban_is_valid" in _last_user_turn(server, 1)
    assert {c["name"]: c["status"] for c in result.checks}["iban_is_valid"] == "passed"
