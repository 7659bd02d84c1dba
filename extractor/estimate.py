"""What a run would send and cost, without calling the model.

Each document is read exactly as a run reads it (isolated workers, the job's page
options and the provider's capabilities), so the estimate sees the same text, OCR and
image pages; the requests are planned as :func:`extractor.pipeline.process` plans them
(one request, page groups or page windows). Tokens are counted as the pipeline counts
them: about four characters a token for text, ``W × H / 784`` for an image.

The cost is a range: ``low`` is one answer per request and no repairs; ``high`` spends
every repair (each resends the request) with answers twice the expected size.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from extractor.errors import ExtractorError
from extractor.isolate import PagesWorkerPool
from extractor.load import Source
from extractor.pages import Page
from extractor.pipeline import first_request, page_options
from extractor.prompt import estimate_tokens, split_pages, system_prompt
from extractor.providers.base import Provider
from extractor.providers.pricing import BATCH_DISCOUNT, price_of
from extractor.schema import SchemaSpec
from extractor.settings import Settings
from extractor.windows import answer_estimate

__all__ = ["DocumentEstimate", "Estimate", "estimate", "message_tokens"]

CHARS_PER_TOKEN = 4
_IMAGE_TOKENS_PER_PIXEL = 1 / 784


@dataclass(frozen=True)
class DocumentEstimate:
    """One document as a run would send it.

    Attributes:
        source: the path.
        pages: pages read; ``text_pages`` sent as text (layer or plain), ``ocr_pages`` as
            OCR text, ``image_pages`` with an image (``hybrid`` pages count in both).
        requests: requests before repairs (1, page groups, or header + page windows).
        input_tokens: prompt tokens of those requests.
        output_tokens: expected answer tokens.
        error: why it could not be read (the run would record this error, free).
    """

    source: str
    pages: int = 0
    text_pages: int = 0
    ocr_pages: int = 0
    image_pages: int = 0
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None


@dataclass
class Estimate:
    """A run's estimate: totals over its documents and a cost range for ``model``."""

    model: str
    provider: str
    max_repairs: int
    max_tokens: int
    documents: list[DocumentEstimate] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(int(getattr(d, name)) for d in self.documents)

    @property
    def unreadable(self) -> int:
        return sum(d.error is not None for d in self.documents)

    def cost(self, *, batch: bool = False) -> tuple[float, float] | None:
        """(low, high) USD at the model's price (``batch``: its batch price), or None when
        the price table does not know the model (or the provider has no batch price)."""
        price = price_of(self.model)
        share = BATCH_DISCOUNT.get(self.provider) if batch else 1.0
        if price is None or share is None:
            return None
        tokens_in, tokens_out = self.total("input_tokens"), self.total("output_tokens")
        requests = self.total("requests")
        low = tokens_in * price[0] + tokens_out * price[1]
        attempts = 1 + self.max_repairs
        high_out = min(2 * tokens_out, requests * self.max_tokens)
        high = attempts * (tokens_in * price[0] + high_out * price[1])
        return low * share / 1e6, high * share / 1e6

    def as_dict(self) -> dict[str, Any]:
        keys = ("pages", "text_pages", "ocr_pages", "image_pages", "requests",
                "input_tokens", "output_tokens")  # fmt: skip
        cost, batch = self.cost(), self.cost(batch=True)
        return {
            "provider": self.provider, "model": self.model, "documents": len(self.documents),
            "unreadable": self.unreadable, **{k: self.total(k) for k in keys},
            "cost_usd": None if cost is None else {"low": cost[0], "high": cost[1]},
            "batch_cost_usd": None if batch is None else {"low": batch[0], "high": batch[1]},
        }  # fmt: skip


def message_tokens(messages: list[dict[str, Any]], pages: Iterable[Page] = ()) -> int:
    """Prompt tokens of ``messages``: their text at four characters a token, plus
    ``W × H / 784`` for each page image among ``pages``."""
    chars = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        else:
            chars += sum(len(p.get("text", "")) for p in content or [] if p.get("type") == "text")
    images = sum(p.image.width * p.image.height for p in pages if p.image is not None)
    return math.ceil(chars / CHARS_PER_TOKEN) + int(images * _IMAGE_TOKENS_PER_PIXEL)


def _document(
    source: str, pages: list[Page], spec: SchemaSpec, provider: Provider, settings: Settings
) -> DocumentEstimate:
    counts: dict[str, Any] = {
        "text_pages": sum(p.text_source in ("layer", "plain") and bool(p.text) for p in pages),
        "ocr_pages": sum(p.text_source == "ocr" and bool(p.text) for p in pages),
        "image_pages": sum(p.image is not None for p in pages),
    }
    skeleton = _skeleton_tokens(spec)
    planned = first_request(spec, provider, settings, pages)
    if planned is not None:
        messages, _ = planned
        return DocumentEstimate(
            source, len(pages), requests=1, input_tokens=message_tokens(messages, pages),
            output_tokens=skeleton + answer_estimate(pages), **counts,
        )  # fmt: skip
    # Page groups or windows: each request carries the system prompt and some pages.
    groups = split_pages(pages, max_images=provider.max_images, max_tokens=10**9)
    requests = max(2, len(groups))
    overhead = math.ceil(len(system_prompt(spec)) / CHARS_PER_TOKEN) + 30
    tokens = sum(estimate_tokens(p) for p in pages) + requests * overhead
    return DocumentEstimate(
        source, len(pages), requests=requests, input_tokens=tokens,
        output_tokens=requests * skeleton + answer_estimate(pages), **counts,
    )  # fmt: skip


def _skeleton_tokens(spec: SchemaSpec) -> int:
    """An answer with every top-level property filled with a short value."""
    names = list(spec.json_schema.get("properties", {}))
    return math.ceil(len(json.dumps({name: "x" * 12 for name in names})) / CHARS_PER_TOKEN)


async def _read_all(
    sources: list[Source], provider: Provider, settings: Settings
) -> list[tuple[str, list[Page] | str]]:
    options = page_options(settings, provider)
    pool = PagesWorkerPool(
        max(1, min(settings.concurrency, 2)), memory_bytes=settings.worker_memory,
        timeout_s=settings.read_timeout,
    )  # fmt: skip
    limit = asyncio.Semaphore(settings.concurrency)

    async def one(source: Source) -> tuple[str, list[Page] | str]:
        async with limit:
            try:
                document, pages = await pool.prepare(source, options)
            except ExtractorError as exc:
                return str(source), f"{exc.code}: {exc.message}"
            return document.source, pages

    try:
        return list(await asyncio.gather(*(one(s) for s in sources)))
    finally:
        await pool.aclose()


def estimate(
    sources: Iterable[Source], spec: SchemaSpec, provider: Provider, settings: Settings
) -> Estimate:
    """Read every document as a run would and estimate what it sends and costs.

    ``provider`` is asked only for its capabilities (vision, images per request, context,
    answer cap); nothing is sent to it.
    """
    result = Estimate(
        provider.model, provider.name, settings.max_repairs,
        settings.sampling.max_tokens or 4096,
    )  # fmt: skip
    for source, read in asyncio.run(_read_all(list(sources), provider, settings)):
        if isinstance(read, str):
            result.documents.append(DocumentEstimate(source, error=read))
        else:
            result.documents.append(_document(source, read, spec, provider, settings))
    return result
