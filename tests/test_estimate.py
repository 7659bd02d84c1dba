"""``extractor estimate``: pages as a run would send them, tokens and a cost range, with
nothing sent to the model; and the estimate against what a run reports."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from extractor import extract_many
from extractor.cli import app
from extractor.testing import RecordedRequest, Reply, ScriptedServer

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
ANSWER = {"company": "ACME", "address": None, "date": None, "total": 1.0}


def _estimate(*args: str) -> dict:
    result = CliRunner().invoke(app, ["estimate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_estimate_reads_pages_as_the_run_would_and_sends_nothing() -> None:
    with ScriptedServer() as server:
        model = ["--base-url", server.base_url, "--model", "gpt-4.1-mini"]
        seen = _estimate(str(FIXTURES / "invoice.pdf"), str(FIXTURES / "scan.png"), "-s",
                         "invoice", *model)  # fmt: skip
        blind = _estimate(str(FIXTURES / "scan.png"), "-s", "invoice", *model, "--no-vision")
        assert server.requests == []  # the model was never asked
    assert seen["documents"] == 2 and seen["pages"] == 2
    assert seen["text_pages"] == 1 and seen["image_pages"] == 1  # the scan goes as an image
    assert blind["image_pages"] == 0 and blind["ocr_pages"] == 1  # a text-only model gets OCR
    low, high = seen["cost_usd"]["low"], seen["cost_usd"]["high"]
    assert 0 < low < high
    assert seen["batch_cost_usd"] is None  # a --base-url server has no batch price


def test_estimate_knows_the_batch_price_of_a_batch_provider(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MISTRAL_API_KEY", "k")
    report = _estimate(str(FIXTURES / "invoice.pdf"), "-s", "invoice", "--provider", "mistral")
    assert report["batch_cost_usd"]["low"] == report["cost_usd"]["low"] / 2


def test_estimated_input_tokens_are_near_what_the_run_reports() -> None:
    documents = [FIXTURES / "invoice.pdf", FIXTURES / "multipage.pdf"]

    def answer(request: RecordedRequest) -> Reply:
        # Report usage as a provider counts it: about four characters of text a token.
        text = "".join(
            m["content"] if isinstance(m["content"], str)
            else "".join(p.get("text", "") for p in m["content"])
            for m in request.json["messages"]
        )  # fmt: skip
        return Reply.chat(json.dumps(ANSWER), prompt_tokens=len(text) // 4)

    with ScriptedServer(responder=answer) as server:
        report = _estimate(*map(str, documents), "-s", "receipt", "--base-url", server.base_url,
                           "--model", "m")  # fmt: skip
        results = list(extract_many(documents, "receipt", base_url=server.base_url, model="m"))
    actual = sum(r.usage.prompt_tokens for r in results)
    assert report["requests"] == sum(r.requests for r in results)
    assert abs(report["input_tokens"] - actual) <= 0.05 * actual
