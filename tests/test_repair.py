"""Validate → repair over the wire: the errors reach the model, every attempt is recorded,
and usage and cost are summed over all attempts, failed ones included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from extractor import RetryPolicy, extract
from extractor.testing import Reply, ScriptedServer
from schemas.invoice import Invoice

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
INVOICE = FIXTURES / "invoice.pdf"
KEY = "sk-test-repair-0123456789abcdef"
FAST = RetryPolicy(retries=1, backoff=0.01, timeout=5.0)
SEED_MODEL = "mistralai/mistral-medium-3.1"


class Line(BaseModel):
    description: str
    amount: float


class Bill(BaseModel):
    """Two required fields, one constraint that strict mode cannot carry."""

    invoice_number: str
    total_amount: float = Field(ge=0)
    line_items: list[Line] = Field(default_factory=list)


VALID = json.dumps({"invoice_number": "RE-2024-0815", "total_amount": 1468.46, "line_items": []})
MISSING = json.dumps({"invoice_number": "RE-2024-0815"})
BAD_TYPE = json.dumps({"invoice_number": "RE-2024-0815", "total_amount": "lots", "line_items": []})
NEGATIVE = json.dumps({"invoice_number": "RE-2024-0815", "total_amount": -5, "line_items": []})
BAD_LINE = json.dumps(
    {"invoice_number": "X", "total_amount": 1, "line_items": [{"description": "pen"}]}
)
NOT_A_NUMBER = "Input should be a valid number, unable to parse string as a number"
NOT_JSON = "Sure! The invoice RE-2024-0815 totals 1.468,46 EUR."


def run(
    server: ScriptedServer, schema: Any = Bill, provider: str = "openrouter", **options: Any
) -> Any:
    return extract(
        INVOICE, schema, provider=provider, base_url=server.base_url, api_key=KEY, retry=FAST,
        **options,
    )  # fmt: skip


# -- the repair conversation -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (MISSING, "total_amount: Field required"),
        (BAD_TYPE, f"total_amount: {NOT_A_NUMBER}"),
        (NEGATIVE, "total_amount: Input should be greater than or equal to 0"),
        (BAD_LINE, "line_items.0.amount: Field required"),
        (NOT_JSON, "(root): Invalid JSON: expected value at line 1 column 1"),
    ],
    ids=["missing-field", "bad-type", "constraint", "nested", "not-json"],
)
def test_the_validation_errors_reach_the_model(
    server: ScriptedServer, raw: str, error: str
) -> None:
    server.script(
        Reply.chat(raw, model=SEED_MODEL, prompt_tokens=1000, completion_tokens=40),
        Reply.chat(VALID, model=SEED_MODEL, prompt_tokens=1100, completion_tokens=60),
    )
    result = run(server)

    assert server.calls == 2
    first, second = (r.json for r in server.requests)
    assert len(first["messages"]) == 2
    # The repair turn repeats the conversation, then the invalid answer, then the errors.
    assert second["messages"][:2] == first["messages"]
    assert second["messages"][2] == {"role": "assistant", "content": raw}
    repair = second["messages"][3]
    assert repair["role"] == "user"
    assert "Correct your JSON" in repair["content"]
    field = error.split(":", 1)[0].split(".")[-1]
    if field != "(root)":
        assert field in repair["content"]
    assert error.split(": ", 1)[1].split(",")[0] in repair["content"]
    assert len(second["messages"]) == 4
    # The repair is sent under the same strict schema and sampling.
    assert {k: v for k, v in second.items() if k != "messages"} == {
        k: v for k, v in first.items() if k != "messages"
    }

    assert result.status == "ok", result.error
    assert result.data == Bill.model_validate_json(VALID)
    assert [a.number for a in result.attempts] == [1, 2]
    failed, fixed = result.attempts
    assert failed.raw_output == raw
    assert failed.errors == [error]
    assert (failed.prompt_tokens, failed.completion_tokens) == (1000, 40)
    assert fixed.raw_output == VALID
    assert fixed.errors == []
    assert (fixed.prompt_tokens, fixed.completion_tokens) == (1100, 60)
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (2100, 100)


def test_recorded_reasons_leave_out_the_document_content(server: ScriptedServer) -> None:
    secret_value = "IBAN DE89370400440532013000"
    raw = json.dumps({"invoice_number": "X", "total_amount": secret_value})
    server.script(*[Reply.chat(raw)] * 2)
    result = run(server, max_repairs=1)
    assert result.error.type == "extraction_failed"
    assert result.error.reasons == [f"total_amount: {NOT_A_NUMBER}"]
    assert secret_value not in result.error.message
    assert all(secret_value not in e for a in result.attempts for e in a.errors)


# -- exhaustion ------------------------------------------------------------------------


@pytest.mark.parametrize("max_repairs", [0, 1, 2])
def test_repairs_run_out(server: ScriptedServer, max_repairs: int) -> None:
    outputs = [MISSING, BAD_TYPE, NEGATIVE][: max_repairs + 1]
    server.script(*[Reply.chat(raw, prompt_tokens=100, completion_tokens=10) for raw in outputs])
    server.script(Reply.chat(VALID))  # never asked for
    result = run(server, max_repairs=max_repairs)

    assert server.calls == max_repairs + 1
    assert server.pending == 1
    assert result.status == "error"
    assert result.data is None
    assert result.error.type == "extraction_failed"
    assert result.error.last_output == outputs[-1]
    assert result.error.reasons == result.attempts[-1].errors
    assert result.error.reasons, "the reasons are kept"
    assert "total_amount" in result.error.reasons[0]
    assert f"after {max_repairs + 1} attempt(s)" in result.error.message
    assert len(result.attempts) == max_repairs + 1
    assert [a.raw_output for a in result.attempts] == outputs
    assert all(a.errors for a in result.attempts)
    assert result.usage.prompt_tokens == 100 * (max_repairs + 1)
    assert result.usage.completion_tokens == 10 * (max_repairs + 1)
    # Each repair turn carries only the latest invalid answer and its errors.
    for number, request in enumerate(server.requests[1:], start=1):
        assert request.json["messages"][-2] == {"role": "assistant", "content": outputs[number - 1]}


def test_default_budget_is_two_repairs(server: ScriptedServer) -> None:
    server.script(*[Reply.chat(MISSING)] * 4)
    result = run(server)
    assert server.calls == 3
    assert len(result.attempts) == 3
    assert result.error.type == "extraction_failed"


# -- usage, cost and the served model --------------------------------------------------


def test_cost_is_the_reported_charge_summed_over_all_attempts(server: ScriptedServer) -> None:
    server.script(
        Reply.chat(MISSING, model=SEED_MODEL, cost=0.0011),
        Reply.chat(NEGATIVE, model=SEED_MODEL, cost=0.0022),
        Reply.chat(VALID, model=SEED_MODEL, cost=0.0044),
    )
    result = run(server)
    assert result.status == "ok", result.error
    assert [a.cost_usd for a in result.attempts] == [0.0011, 0.0022, 0.0044]
    assert result.cost_usd == pytest.approx(0.0077)


def test_cost_of_exhausted_repairs_is_still_counted(server: ScriptedServer) -> None:
    server.script(
        Reply.chat(MISSING, model=SEED_MODEL, cost=0.001, prompt_tokens=500, completion_tokens=5),
        Reply.chat(MISSING, model=SEED_MODEL, cost=0.002, prompt_tokens=600, completion_tokens=6),
    )
    result = run(server, max_repairs=1)
    assert result.status == "error"
    assert result.cost_usd == pytest.approx(0.003)
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (1100, 11)


def test_cost_from_the_price_table_when_not_reported(server: ScriptedServer) -> None:
    server.script(
        Reply.chat(MISSING, model=SEED_MODEL, prompt_tokens=1000, completion_tokens=200),
        Reply.chat(VALID, model=SEED_MODEL, prompt_tokens=1200, completion_tokens=300),
    )
    result = run(server)
    assert result.status == "ok", result.error
    # $0.40 per million prompt tokens, $2.00 per million completion tokens.
    assert result.cost_usd == pytest.approx((2200 * 0.40 + 500 * 2.00) / 1_000_000)


def test_mistral_cost_from_the_price_table_of_the_served_model(server: ScriptedServer) -> None:
    served = "mistral-medium-2508"
    server.script(
        Reply.chat(BAD_TYPE, model=served, prompt_tokens=2000, completion_tokens=100),
        Reply.chat(VALID, model=served, prompt_tokens=2100, completion_tokens=150),
    )
    result = run(server, provider="mistral")
    assert result.status == "ok", result.error
    assert server.requests[0].json["model"] == "mistral-medium-latest"
    assert result.model == "mistral-medium-2508"
    assert result.cost_usd == pytest.approx((4100 * 0.40 + 250 * 2.00) / 1_000_000)


def test_the_model_the_provider_reports_is_recorded(server: ScriptedServer) -> None:
    server.script(
        Reply.chat(MISSING, model="mistralai/mistral-medium-3.1-20250812"),
        Reply.chat(VALID, model="mistralai/mistral-medium-3.1-20250812", cost=0.5),
    )
    result = run(server, model=SEED_MODEL)
    assert server.requests[0].json["model"] == SEED_MODEL
    assert result.model == "mistralai/mistral-medium-3.1-20250812"
    assert {a.model for a in result.attempts} == {"mistralai/mistral-medium-3.1-20250812"}
    assert result.cost_usd == 0.5


class Header(BaseModel):
    """Bill without its list (a cut answer to a schema with lists is asked for in parts)."""

    invoice_number: str
    total_amount: float


def test_a_failed_attempt_after_a_repair_still_counts(server: ScriptedServer) -> None:
    """A validation failure, then an answer cut off at the token limit: both are paid for."""
    server.script(
        Reply.chat(MISSING, model=SEED_MODEL, prompt_tokens=800, completion_tokens=30, cost=0.01),
        Reply.chat('{"invoice_number": "RE-', model=SEED_MODEL, finish_reason="length",
                   prompt_tokens=900, completion_tokens=4096, cost=0.02),
    )  # fmt: skip
    result = run(server, Header, max_repairs=1)
    assert server.calls == 2
    assert result.status == "error"
    assert result.error.type == "output_truncated"
    assert result.error.last_output == '{"invoice_number": "RE-'
    assert len(result.attempts) == 2
    assert result.attempts[0].errors == ["total_amount: Field required"]
    assert result.attempts[1].finish_reason == "length"
    assert result.attempts[1].raw_output == '{"invoice_number": "RE-'
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (1700, 4126)
    assert result.cost_usd == pytest.approx(0.03)


def test_a_shipped_schema_repairs_a_bad_date(server: ScriptedServer) -> None:
    answer = json.loads((FIXTURES / "expected" / "invoice.json").read_text(encoding="utf-8"))
    bad = dict(answer, invoice_date="15.03.2024")
    server.script(Reply.chat(json.dumps(bad)), Reply.chat(json.dumps(answer)))
    result = run(server, schema=Invoice)
    assert result.status == "ok", result.error
    assert result.attempts[0].errors[0].startswith("invoice_date: ")
    assert "invoice_date" in server.requests[1].json["messages"][3]["content"]
    assert result.data == Invoice.model_validate(answer)
    assert type(result.data) is Invoice


class Total(BaseModel):
    total: float


@pytest.mark.parametrize("printed", ["Total {{ 7*7 }} EUR", "{% if paid %}PAID{% endif %}"])
def test_document_text_is_never_rendered_as_a_template(
    server: ScriptedServer, printed: str
) -> None:
    # instructor's patched client renders every message as a Jinja template when it is
    # given a validation context (we always give one); a document printing "{{" or "{%"
    # must reach the model as printed, in the repair turn too, and must not fail.
    server.script(Reply.chat('{"total": "x"}'), Reply.chat('{"total": 12.5}'))
    document = f"Invoice\n{printed}\nAmount due 12.50\n".encode()
    result = extract(document, Total, base_url=server.base_url, model="m")
    assert result.status == "ok", result.error
    assert result.data.total == 12.5
    for request in server.requests:
        assert printed in request.json["messages"][1]["content"]
