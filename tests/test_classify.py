"""Every bad answer a provider can give becomes a classified error record, never an exception.

Transport retries (429, 5xx, timeouts, dropped connections, errors sent with HTTP 200) have
their own budget; 401/402/403 are never retried. The API key never appears in a message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractor import RetryPolicy, extract
from extractor.testing import Reply, ScriptedServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KEY = "sk-or-v1-classify-0123456789abcdef"
RETRIES = 2
POLICY = RetryPolicy(retries=RETRIES, backoff=0.01, max_backoff=0.02, timeout=0.25)
ENV_VARS = (
    "OPENROUTER_API_KEY", "MISTRAL_API_KEY", "OPENAI_API_KEY", "EXTRACTOR_API_KEY",
    "EXTRACTOR_PROVIDER", "EXTRACTOR_BASE_URL", "EXTRACTOR_MODEL",
)  # fmt: skip
VALID = (FIXTURES / "expected" / "invoice.json").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def run(
    server: ScriptedServer, provider: str = "openrouter", schema: str = "invoice", **options: Any
) -> Any:
    options.setdefault("retry", POLICY)
    return extract(
        FIXTURES / "invoice.pdf", schema, provider=provider, base_url=server.base_url,
        api_key=KEY, **options,
    )  # fmt: skip


def assert_error_record(result: Any, error_type: str) -> None:
    assert result.status == "error"
    assert result.data is None
    assert result.error.type == error_type, result.error
    assert result.error.message
    assert KEY not in result.error.message
    assert KEY not in result.model_dump_json()
    assert result.sha256 is not None and result.pages == 1  # the document itself was fine


def always(reply: Reply) -> list[Reply]:
    return [reply] * (RETRIES + 1)


HTML = Reply(body=b"<html>502 Bad Gateway</html>", headers={"Content-Type": "text/html"})
NO_CHOICES = Reply(json={"id": "x", "object": "chat.completion", "choices": []})
EXTRA_FIELD = {"loc": ["body", "seed"], "msg": "Extra inputs are not permitted"}
MISTRAL_422 = Reply(status=422, json={"detail": [EXTRA_FIELD]})

# Errors the transport retries until its budget runs out.
RETRIED = [
    pytest.param(Reply.error_in_200(f"failed for {KEY}"), "provider_http_error", id="error-in-200"),
    pytest.param(Reply.choice_error("disconnected mid-stream"), "provider_http_error", id="choice"),
    pytest.param(Reply.error(500, "internal error"), "provider_http_error", id="500"),
    pytest.param(Reply.error(503, "overloaded"), "provider_http_error", id="503"),
    pytest.param(
        Reply.error(429, "rate limited", headers={"Retry-After": "0"}), "rate_limited", id="429"
    ),
    pytest.param(HTML, "malformed_response", id="non-json-body"),
    pytest.param(NO_CHOICES, "malformed_response", id="no-choices"),
    pytest.param(Reply.chat(VALID, truncate=40), "provider_connection_error", id="truncated-body"),
    pytest.param(Reply(drop=True), "provider_connection_error", id="dropped-connection"),
    pytest.param(Reply.chat(VALID, delay=2.0), "provider_timeout", id="timeout"),
]


@pytest.mark.parametrize(("reply", "error_type"), RETRIED)
def test_retryable_failures_are_retried_then_classified(
    server: ScriptedServer, reply: Reply, error_type: str
) -> None:
    server.script(*always(reply))
    result = run(server)
    assert server.calls == RETRIES + 1
    assert_error_record(result, error_type)
    (attempt,) = result.attempts  # transport retries stay inside one attempt
    assert attempt.transport_retries == RETRIES
    assert attempt.errors == [f"{error_type}: {result.error.message}"]


@pytest.mark.parametrize(("reply", "error_type"), RETRIED)
def test_a_retried_failure_then_success_is_ok(
    server: ScriptedServer, reply: Reply, error_type: str
) -> None:
    server.script(reply, Reply.chat(VALID, prompt_tokens=50, completion_tokens=20))
    result = run(server)
    assert server.calls == 2
    assert result.status == "ok", result.error
    assert result.data.invoice_number == "RE-2024-0815"
    (attempt,) = result.attempts
    assert attempt.transport_retries == 1
    assert attempt.errors == []
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (50, 20)


# Answers that are complete but useless: no transport retry, no repair.
CUT_OFF = Reply.chat('{"invoice_number": "RE-2024', finish_reason="length")
FINAL = [
    pytest.param(Reply.chat(None, finish_reason="content_filter"), "content_filtered", id="filter"),
    pytest.param(Reply(json=["not", "a", "completion"]), "malformed_response", id="not-an-object"),
    pytest.param(Reply.error(401, f"Incorrect API key provided: {KEY}"), "auth_error", id="401"),
    pytest.param(Reply.error(402, "Insufficient credits"), "auth_error", id="402"),
    pytest.param(Reply.error(403, "Not available in your region"), "auth_error", id="403"),
    pytest.param(Reply.error_in_200("User not found.", code=401), "auth_error", id="401-in-200"),
    pytest.param(Reply.error(400, "response_format unsupported"), "provider_http_error", id="400"),
    pytest.param(MISTRAL_422, "provider_http_error", id="422"),
]


@pytest.mark.parametrize(("reply", "error_type"), FINAL)
def test_final_failures_are_not_retried(
    server: ScriptedServer, reply: Reply, error_type: str
) -> None:
    server.script(*always(reply))
    result = run(server)
    assert server.calls == 1
    assert_error_record(result, error_type)
    (attempt,) = result.attempts
    assert attempt.transport_retries == 0


# Answers that may come out right when asked again: retried within the repair budget.
EMPTY = [
    pytest.param(Reply.chat(""), id="empty-content"),
    pytest.param(Reply.chat(None), id="null-content"),
    pytest.param(Reply.chat("  \n "), id="blank-content"),
]


@pytest.mark.parametrize("reply", EMPTY)
def test_an_empty_answer_is_asked_again_within_the_repair_budget(
    server: ScriptedServer, reply: Reply
) -> None:
    server.script(reply, Reply.chat(VALID))
    result = run(server)
    assert result.status == "ok", result.error
    assert [a.errors[0].split(":")[0] for a in result.attempts[:1]] == ["empty_output"]
    first, second = server.requests
    assert first.json == second.json, "the same request, as it was"


@pytest.mark.parametrize("reply", EMPTY)
def test_empty_answers_use_up_the_repair_budget_and_no_more(
    server: ScriptedServer, reply: Reply
) -> None:
    server.script(*[reply] * 3)
    result = run(server, max_repairs=2)
    assert_error_record(result, "empty_output")
    assert server.calls == 3 and len(result.attempts) == 3


def test_a_cut_answer_is_asked_again_with_a_larger_limit(server: ScriptedServer) -> None:
    server.script(CUT_OFF, Reply.chat(VALID))
    result = run(server)
    assert result.status == "ok", result.error
    assert [r.json["max_tokens"] for r in server.requests] == [4096, 8192]
    assert result.attempts[0].finish_reason == "length"


def test_at_the_providers_cap_a_cut_answer_is_asked_for_compact_json(
    server: ScriptedServer,
) -> None:
    server.script(CUT_OFF, CUT_OFF, CUT_OFF)
    # (a schema without lists: for one with lists, a cut answer is then asked for in parts)
    result = run(server, schema="receipt", max_tokens=32_768)
    assert_error_record(result, "output_truncated")
    assert [r.json["max_tokens"] for r in server.requests] == [32_768] * 3
    last_turn = server.requests[1].json["messages"][-1]
    assert last_turn["role"] == "user" and "compactly" in last_turn["content"]


def test_the_same_invalid_answer_twice_varies_the_third_request(server: ScriptedServer) -> None:
    invalid = '{"invoice_number": 7}'
    server.responder = lambda r: Reply.chat(invalid if not r.json["temperature"] else VALID)
    result = run(server)
    assert result.status == "ok", result.error
    temperatures = [r.json["temperature"] for r in server.requests]
    assert temperatures[:2] == [0.0, 0.0] and temperatures[2] > 0


def test_auth_errors_say_what_to_do_without_the_key(server: ScriptedServer) -> None:
    hints = {401: "check the API key", 402: "add credits", 403: "access denied"}
    for status, hint in hints.items():
        server.script(Reply.error(status, f"rejected key {KEY}"))
        result = run(server)
        assert result.error.type == "auth_error"
        message = f"openrouter: HTTP {status}: rejected key [redacted] ({hint})"
        assert result.error.message == message
    assert server.calls == 3


def test_model_errors_keep_usage_and_output(server: ScriptedServer) -> None:
    partial = '{"invoice_number": "RE-2024-0815", "line_items": [{"descr'
    server.script(Reply.chat(partial, finish_reason="length", prompt_tokens=900,
                             completion_tokens=4096, cost=0.0123))  # fmt: skip
    result = run(server, schema="receipt", max_repairs=0)
    assert_error_record(result, "output_truncated")
    assert result.error.last_output == partial
    assert result.attempts[0].raw_output == partial
    assert result.attempts[0].finish_reason == "length"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (900, 4096)
    assert result.cost_usd == 0.0123


def test_mistral_validation_error_detail_is_shown(server: ScriptedServer) -> None:
    server.script(MISTRAL_422)
    result = run(server, provider="mistral")
    assert_error_record(result, "provider_http_error")
    assert result.error.message.startswith("mistral: HTTP 422: ")
    assert "Extra inputs are not permitted" in result.error.message


def test_retry_after_is_honoured(server: ScriptedServer) -> None:
    server.script(Reply.error(429, "slow down", headers={"Retry-After": "0.3"}), Reply.chat(VALID))
    result = run(server)
    assert result.status == "ok", result.error
    first, second = server.requests
    assert second.received_at - first.received_at >= 0.3
    assert result.attempts[0].transport_retries == 1


def test_a_retry_after_beyond_the_limit_fails_at_once(server: ScriptedServer) -> None:
    server.script(*always(Reply.error(429, "come back tomorrow", headers={"Retry-After": "86400"})))
    policy = RetryPolicy(retries=RETRIES, backoff=0.01, max_retry_after=5.0, timeout=0.5)
    result = run(server, retry=policy)
    assert server.calls == 1
    assert_error_record(result, "rate_limited")


def test_the_transport_budget_is_separate_from_the_repair_budget(server: ScriptedServer) -> None:
    invalid = json.dumps({"invoice_number": 815})
    server.script(
        Reply.error(503, "busy"), Reply.error(429, "slow", headers={"Retry-After": "0"}),
        Reply.chat(invalid), Reply.error(500, "oops"), Reply.chat(VALID),
    )  # fmt: skip
    result = run(server, max_repairs=1)
    assert server.calls == 5
    assert result.status == "ok", result.error
    assert [a.transport_retries for a in result.attempts] == [2, 1]
    assert result.attempts[0].raw_output == invalid
    assert result.attempts[0].errors == ["invoice_number: Input should be a valid string"]


def test_an_unreachable_server_is_a_connection_error() -> None:
    with ScriptedServer() as closed:
        base_url = closed.base_url
    result = extract(
        FIXTURES / "invoice.pdf", "invoice", provider="openrouter", base_url=base_url,
        api_key=KEY, retry=RetryPolicy(retries=1, backoff=0.01, timeout=0.5),
    )  # fmt: skip
    assert_error_record(result, "provider_connection_error")
    assert result.attempts[0].transport_retries == 1
