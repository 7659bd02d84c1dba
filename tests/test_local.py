"""The embedded engine end to end: the real SmolLM2-135M model, real fixtures, no API key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, field_validator

from extractor import extract, extract_many, load_schema
from extractor.load import load
from extractor.pages import read_pages
from extractor.providers import choose
from extractor.providers.local import LocalProvider, grammar_schema
from extractor.settings import PageOptions, Sampling
from schemas import Invoice, Receipt

pytestmark = pytest.mark.local_model


@pytest.fixture(scope="module")
def provider() -> LocalProvider:
    return LocalProvider()  # loaded once, reused by every test here


def test_without_a_key_the_embedded_model_is_chosen() -> None:
    choice = choose()
    assert choice.name == "local"
    assert "no API key" in choice.reason


def test_invoice_pdf_end_to_end(fixtures: Path, provider: LocalProvider) -> None:
    result = extract(fixtures / "invoice.pdf", Invoice, provider=provider, max_repairs=1)
    record = result.record()
    assert record["provider"] == "local"
    assert record["usage"]["prompt_tokens"] > 200
    assert record["usage"]["completion_tokens"] > 0
    assert record["cost_usd"] == 0.0
    for attempt in record["attempts"]:
        # The grammar holds on this > 512-token prompt: every raw answer is a JSON object.
        assert isinstance(json.loads(attempt["raw_output"]), dict)
    if result.ok:
        assert isinstance(result.data, Invoice)
        Invoice.model_validate(record["data"])
    else:  # the tiny model may still be wrong; then the error is classified and explained
        assert record["error"]["type"] in {"extraction_failed", "output_truncated"}


def test_receipt_photo_goes_through_ocr(fixtures: Path, provider: LocalProvider) -> None:
    result = extract(fixtures / "receipt.jpg", Receipt, provider=provider)
    assert result.pages == 1
    prompt_tokens = result.usage.prompt_tokens
    assert prompt_tokens > 100  # the OCR text was sent, not an empty page
    assert result.ok, result.error
    assert isinstance(result.data, Receipt)


def test_many_documents_share_one_model(fixtures: Path, provider: LocalProvider) -> None:
    sources = [fixtures / "receipt.jpg", fixtures / "form.pdf", fixtures / "missing.pdf"]
    results = sorted(extract_many(sources, "form", provider=provider), key=lambda r: r.index)
    assert [r.index for r in results] == [0, 1, 2]
    assert results[2].status == "error" and results[2].error is not None
    assert results[2].error.type == "input_error"
    for result in results[:2]:
        assert result.provider == "local"
        assert result.attempts, "the model was called"


class PickyReceipt(BaseModel):
    """A validator no grammar can express: forces the repair loop with the real engine."""

    company: str | None = None
    total: float | None = None

    @field_validator("company")
    @classmethod
    def must_say_bakery(cls, value: str | None) -> str | None:
        if value is None or "BAKERY" not in value:
            raise ValueError("company must contain the word BAKERY")
        return value


def test_validation_errors_drive_repairs_with_the_real_engine(
    fixtures: Path, provider: LocalProvider
) -> None:
    result = extract(fixtures / "receipt.jpg", PickyReceipt, provider=provider, max_repairs=2)
    assert result.status == "error"
    assert result.error is not None and result.error.type == "extraction_failed"
    assert len(result.attempts) == 3
    for attempt in result.attempts:
        json.loads(attempt.raw_output)  # grammar-valid JSON every time
        assert any("BAKERY" in reason for reason in attempt.errors)
    assert result.error.last_output == result.attempts[-1].raw_output
    total = sum(a.prompt_tokens for a in result.attempts)
    assert result.usage.prompt_tokens == total
    # Each repair resends the conversation plus the errors, so prompts grow.
    assert result.attempts[1].prompt_tokens > result.attempts[0].prompt_tokens


def test_grammar_bounds_arrays_and_free_strings() -> None:
    schema = grammar_schema(load_schema(Invoice).grammar_schema)
    assert schema["properties"]["line_items"]["maxItems"] == 8
    name, _ = schema["properties"]["seller_name"]["anyOf"]
    assert name == {"type": "string", "maxLength": 300}
    date, _ = schema["properties"]["invoice_date"]["anyOf"]
    assert date == {"type": "string", "format": "date"}  # bounded by its format already


def test_constraint_holds_on_a_long_prompt(provider: LocalProvider) -> None:
    spec = load_schema(Receipt)
    filler = " ".join(f"line {i}: nothing to see here." for i in range(90))
    messages = [
        {"role": "system", "content": "Extract the receipt as JSON."},
        {"role": "user", "content": filler + "\nSHOP: ACME STORE TOTAL 12.50"},
    ]
    assert provider.count_tokens(filler) > 700  # beyond llama-cpp's default n_batch of 512
    import asyncio

    completion = asyncio.run(provider.complete(messages, spec, Sampling(max_tokens=200)))
    data = json.loads(completion.content or "")
    assert set(data) == {"company", "address", "date", "total"}


def test_ocr_reads_the_known_text_of_the_scan(fixtures: Path) -> None:
    document = load(fixtures / "scan.png")
    pages = read_pages(document, PageOptions(mode="auto", vision=False))
    assert pages[0].text_source == "ocr"
    text = pages[0].text
    for needle in ("RE-2024-0815", "DE123456789", "1.468,46"):
        assert needle in text
    assert any("RE-2024-0815" in run.text for run in pages[0].runs)


def test_ocr_never_runs_on_a_good_text_layer(fixtures: Path) -> None:
    pages = read_pages(load(fixtures / "invoice.pdf"), PageOptions(mode="auto", vision=False))
    assert pages[0].text_source == "layer"


def test_ocr_can_be_turned_off(fixtures: Path) -> None:
    pages = read_pages(
        load(fixtures / "scan.png"), PageOptions(mode="auto", vision=False, ocr=False)
    )
    assert pages[0].text == "" and pages[0].text_source == "none"
