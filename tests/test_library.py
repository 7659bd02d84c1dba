"""The library entry points over real fixtures and a real HTTP server.

``extract`` / ``aextract`` return one typed record; ``extract_many`` / ``aextract_many``
yield one record per input as they finish, with ``index`` giving the input order back.
Bad inputs become error records without hurting the others, and nothing is printed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import pickle
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from extractor import (
    ConfigError,
    Ok,
    Result,
    RetryPolicy,
    Settings,
    aextract,
    aextract_many,
    extract,
    extract_many,
)
from extractor.api import open_job_provider
from extractor.testing import RecordedRequest, Reply, ScriptedServer
from schemas.invoice import Invoice
from schemas.receipt import Receipt

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KEY = "sk-test-library-0123456789abcdef"
FAST = RetryPolicy(retries=1, backoff=0.01, timeout=5.0)


def expected(stem: str) -> str:
    return (FIXTURES / "expected" / f"{stem}.json").read_text(encoding="utf-8")


INVOICE_ANSWER = expected("invoice")


def options(server: ScriptedServer, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "openrouter", "base_url": server.base_url, "api_key": KEY, "retry": FAST,
        **extra,
    }  # fmt: skip


def text_doc(number: int) -> bytes:
    return f"Invoice INV-{number:03d}\nTotal due: {number}.00 EUR\nThank you.\n".encode()


def answer_from_document(request: RecordedRequest) -> Reply:
    """Answers with the invoice number printed in the document it was sent."""
    user = request.json["messages"][1]["content"]
    text = user if isinstance(user, str) else " ".join(p.get("text", "") for p in user)
    number = text.split("Invoice ", 1)[1].split()[0] if "Invoice INV-" in text else "RE-2024-0815"
    return Reply.chat(json.dumps({"invoice_number": number}))


def seen_by(seen: list[int]) -> Callable[[Result[Any]], None]:
    return lambda result: seen.append(result.index)


# -- one document ----------------------------------------------------------------------

FIXTURE_CASES = [
    ("invoice.pdf", Invoice, "invoice", 1),
    ("multipage.pdf", Invoice, "multipage", 3),
    ("scan.png", Invoice, "scan", 1),
    ("receipt.jpg", Receipt, "receipt", 1),
]


@pytest.mark.parametrize(("name", "model", "stem", "pages"), FIXTURE_CASES)
def test_extract_returns_one_typed_record(
    server: ScriptedServer, name: str, model: type[BaseModel], stem: str, pages: int
) -> None:
    server.script(Reply.chat(expected(stem), model="mistralai/mistral-medium-3.1", cost=0.002))
    path = FIXTURES / name
    result = extract(path, model, **options(server))

    assert isinstance(result, Ok)
    assert result.status == "ok", result.error
    assert result.ok and result.error is None
    assert type(result.data) is model
    assert result.data == model.model_validate_json(expected(stem))
    assert result.source == str(path)
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.pages == pages
    assert result.requests == 1
    assert result.index == 0
    assert (result.provider, result.model) == ("openrouter", "mistralai/mistral-medium-3.1")
    assert result.cost_usd == 0.002
    assert result.latency_s > 0
    record = result.record()
    assert json.loads(json.dumps(record)) == record  # JSON-safe
    assert record["data"] == json.loads(expected(stem))
    assert pickle.loads(pickle.dumps(result)) == result  # records cross process pools


def test_aextract_is_the_async_twin(server: ScriptedServer) -> None:
    server.script(Reply.chat(INVOICE_ANSWER))
    result = asyncio.run(aextract(FIXTURES / "invoice.pdf", "invoice", **options(server)))
    assert result.status == "ok", result.error
    assert result.data == Invoice.model_validate_json(INVOICE_ANSWER)


def test_bytes_in_a_schema_given_by_name(server: ScriptedServer) -> None:
    server.script(Reply.chat(expected("receipt")))
    result = extract((FIXTURES / "receipt.jpg").read_bytes(), "receipt", **options(server))
    assert result.status == "ok", result.error
    assert result.source == "<bytes>"
    assert isinstance(result.data, Receipt)


def test_an_open_provider_is_used_and_left_open(server: ScriptedServer) -> None:
    provider = open_job_provider(Settings(**options(server, provider="mistral")))
    server.script(Reply.chat(INVOICE_ANSWER), Reply.chat(INVOICE_ANSWER))
    try:
        for _ in range(2):
            result = extract(FIXTURES / "invoice.pdf", Invoice, provider=provider, seed=5)
            assert result.status == "ok", result.error
            assert result.provider == "mistral"
    finally:
        asyncio.run(provider.aclose())
    assert [r.json["random_seed"] for r in server.requests] == [5, 5]


def test_a_bad_input_is_an_error_record(server: ScriptedServer, tmp_path: Path) -> None:
    result = extract(tmp_path / "missing.pdf", Invoice, **options(server))
    assert result.status == "error"
    assert result.error.type == "input_error"
    assert "missing.pdf" in result.error.message
    assert result.attempts == [] and result.cost_usd is None
    assert server.calls == 0


def test_only_configuration_mistakes_raise(server: ScriptedServer) -> None:
    with pytest.raises(ConfigError, match="OPENROUTER_API_KEY"):
        extract(FIXTURES / "invoice.pdf", Invoice, **options(server, api_key=None))
    with pytest.raises(ConfigError, match="temprature"):
        extract(FIXTURES / "invoice.pdf", Invoice, **options(server), temprature=0.5)
    with pytest.raises(ConfigError, match="unknown provider"):
        extract(FIXTURES / "invoice.pdf", Invoice, **options(server, provider="nope"))
    assert server.calls == 0


# -- many documents --------------------------------------------------------------------


def mixed_sources(tmp_path: Path) -> list[tuple[Any, str]]:
    """(source, expected status or error type), good and bad inputs interleaved."""
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes((FIXTURES / "invoice.pdf").read_bytes()[:400])
    folder = tmp_path / "folder.pdf"
    folder.mkdir()
    return [
        (FIXTURES / "invoice.pdf", "ok"),
        (tmp_path / "missing.pdf", "input_error"),
        (empty, "empty_input"),
        (b"\x00\x01\x02 not a document", "unsupported_input"),
        (FIXTURES / "scan.png", "ok"),
        (broken, "corrupt_input"),
        (FIXTURES / "receipt.jpg", "ok"),
        (folder, "input_error"),
        (text_doc(7), "ok"),
    ]


def slow_first(request: RecordedRequest) -> Reply:
    """The first input's answer comes last, so results arrive out of input order."""
    reply = answer_from_document(request)
    if "RE-2024-0815" in json.dumps(request.json["messages"][1]["content"]):  # invoice.pdf
        return Reply(json=reply.json, delay=0.4)
    return reply


def test_extract_many_one_record_per_input(server: ScriptedServer, tmp_path: Path) -> None:
    cases = mixed_sources(tmp_path)
    server.responder = slow_first
    seen: list[int] = []
    sources = [source for source, _ in cases]
    results = list(
        extract_many(sources, Invoice, concurrency=4, on_result=seen_by(seen), **options(server))
    )

    assert len(results) == len(cases)
    arrival = [r.index for r in results]
    assert sorted(arrival) == list(range(len(cases)))
    assert arrival != sorted(arrival), "results arrive as they finish"
    assert seen == arrival
    ordered = sorted(results, key=lambda r: r.index)
    for result, (source, outcome) in zip(ordered, cases, strict=True):
        expected_source = "<bytes>" if isinstance(source, bytes) else str(source)
        assert result.source == expected_source
        assert (result.status if result.ok else result.error.type) == outcome, result.error
    assert ordered[8].data.invoice_number == "INV-007"
    assert server.calls == 4  # bad inputs never reach the provider


def test_aextract_many_yields_every_result(server: ScriptedServer) -> None:
    server.responder = answer_from_document
    sources = [text_doc(n) for n in range(6)]
    seen: list[int] = []

    async def collect() -> list[Result[Any]]:
        return [
            r async for r in aextract_many(
                sources, Invoice, concurrency=3, on_result=seen_by(seen),
                **options(server),
            )
        ]  # fmt: skip

    results = asyncio.run(collect())
    assert sorted(r.index for r in results) == list(range(6))
    assert sorted(seen) == list(range(6))
    for result in results:
        assert result.data.invoice_number == f"INV-{result.index:03d}"


def test_concurrency_is_bounded(server: ScriptedServer) -> None:
    lock = threading.Lock()
    in_flight = peak = 0

    def counting(request: RecordedRequest) -> Reply:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.05)
        with lock:
            in_flight -= 1
        return answer_from_document(request)

    server.responder = counting
    results = list(extract_many([text_doc(n) for n in range(8)], Invoice, concurrency=3,
                                **options(server)))  # fmt: skip
    assert len(results) == 8 and all(r.ok for r in results)
    assert peak == 3

    # A provider that can only serve so many at once (the embedded model: 2) caps it.
    provider = open_job_provider(Settings(**options(server)))
    provider.max_concurrency = 2  # type: ignore[attr-defined]
    peak = 0
    try:
        results = list(extract_many([text_doc(n) for n in range(8)], Invoice, concurrency=6,
                                    provider=provider))  # fmt: skip
    finally:
        asyncio.run(provider.aclose())
    assert len(results) == 8 and all(r.ok for r in results)
    assert peak == 2


def test_stopping_early_cancels_the_rest(server: ScriptedServer) -> None:
    server.responder = lambda request: Reply(json=answer_from_document(request).json, delay=0.2)
    sources = [text_doc(n) for n in range(10)]
    for result in extract_many(sources, Invoice, concurrency=2, **options(server)):
        assert result.ok
        break
    assert server.calls < len(sources)


def test_nothing_is_printed(server: ScriptedServer, capfd: pytest.CaptureFixture[str]) -> None:
    """Failures of every kind, with no logging configured: not a byte on stdout or stderr."""
    invalid = json.dumps({"invoice_number": 815})
    script = {
        "INV-001": [Reply.chat(invalid)] * 4,  # repairs run out (instructor logs at ERROR)
        "INV-002": [Reply.error(500, "down")] * 2,  # transport retries run out
        "INV-003": [Reply.chat(None, finish_reason="content_filter")],
    }

    def responder(request: RecordedRequest) -> Reply:
        text = json.dumps(request.json["messages"][1]["content"])
        for number, replies in script.items():
            if number in text and replies:
                return replies.pop(0)
        return answer_from_document(request)

    server.responder = responder
    sources = [text_doc(n) for n in range(5)] + [b"\x00 junk"]
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()  # as in a script that never configured logging
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = list(extract_many(sources, Invoice, **options(server)))
            single = extract(text_doc(1), Invoice, **options(server, max_repairs=0))
    finally:
        root.handlers[:] = saved
    assert sorted(r.error.type for r in results if not r.ok) == [
        "content_filtered", "extraction_failed", "provider_http_error", "unsupported_input",
    ]  # fmt: skip
    assert single.error.type == "extraction_failed"
    assert [str(w.message) for w in caught] == []
    assert capfd.readouterr() == ("", "")
