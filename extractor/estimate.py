"""What a run would send and cost, without calling the model.

Each document is read exactly as a run reads it (isolated workers, the job's page
options and the provider's capabilities), so the estimate sees the same text, OCR and
image pages; the requests are planned as :func:`extractor.pipeline.process` plans them
(one request, page groups or page windows). Tokens are counted as the pipeline counts
them: about four characters a token for text, ``W × H / 784`` for an image.

The cost is a range: ``low`` is one answer per request, of the expected size, and no
repairs; ``high`` spends every repair (each resends the request) with answers as large as
the pipeline's own bound for lists.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from extractor.errors import ExtractorError
from extractor.isolate import Prepared, read_each
from extractor.load import Source
from extractor.pages import Page
from extractor.pipeline import page_options, planned_requests
from extractor.prompt import build_messages
from extractor.providers.base import Provider
from extractor.providers.pricing import BATCH_DISCOUNT, price_of
from extractor.schema import SchemaSpec
from extractor.settings import Settings
from extractor.windows import answer_estimate, list_fields, rows_beyond

__all__ = ["DocumentEstimate", "Estimate", "estimate", "message_tokens"]

CHARS_PER_TOKEN = 4
ROW_TOKENS = 24  # one list item in an answer: a description and three numbers
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
        output_tokens: expected answer tokens: every field filled once per request, and
            one list item per line that looks like an item row (words and two amounts).
        output_tokens_high: the most the answers may take: the pipeline's own bound for
            lists (what decides page windows).
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
    output_tokens_high: int = 0
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
        low = tokens_in * price[0] + tokens_out * price[1]
        high_out = min(self.total("output_tokens_high"), self.total("requests") * self.max_tokens)
        # Every repair used: each resends the request with the answers so far.
        high = (1 + self.max_repairs) * (tokens_in * price[0] + high_out * price[1])
        return low * share / 1e6, high * share / 1e6

    def as_dict(self) -> dict[str, Any]:
        keys = ("pages", "text_pages", "ocr_pages", "image_pages", "requests",
                "input_tokens", "output_tokens", "output_tokens_high")  # fmt: skip
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
    plan = planned_requests(spec, provider, settings, pages)
    tokens = 0
    for group in plan:
        messages = build_messages(spec, group, total_pages=len(pages))
        tokens += message_tokens(messages, group)
    skeleton = len(plan) * _skeleton_tokens(spec)
    rows = rows_beyond(pages, 0) if list_fields(spec.model) else 0
    expected = skeleton + rows * ROW_TOKENS
    return DocumentEstimate(
        source, len(pages), requests=len(plan), input_tokens=tokens, output_tokens=expected,
        output_tokens_high=max(expected, skeleton + answer_estimate(pages)), **counts,
    )  # fmt: skip


def _skeleton_tokens(spec: SchemaSpec) -> int:
    """An answer with every top-level property filled with a short value."""
    names = list(spec.json_schema.get("properties", {}))
    return math.ceil(len(json.dumps({name: "x" * 12 for name in names})) / CHARS_PER_TOKEN)


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
    listed = list(sources)

    def estimated(index: int, read: Prepared | ExtractorError) -> DocumentEstimate:
        if isinstance(read, ExtractorError):
            return DocumentEstimate(str(listed[index]), error=f"{read.code}: {read.message}")
        document, pages = read
        return _document(document.source, pages, spec, provider, settings)

    result.documents = read_each(
        listed, page_options(settings, provider), estimated,
        concurrency=settings.concurrency, timeout_s=settings.read_timeout,
        memory_bytes=settings.worker_memory,
    )  # fmt: skip
    return result
