"""``extractor batch submit``: prepare the requests the live path would send, upload them
as one batch, and remember the batch and its documents in the run store.

Each document is read as a run reads it (isolated workers, the job's page options). When
one request carries the whole document, that request goes into the batch, byte for byte
the body :meth:`OpenAICompatible.build_body` sends live, with ``custom_id`` = the record
key (``sha256:<hex>:<source>``). A document that needs page groups or windows, or cannot
be read, is left for the live path at collect time (``route = live``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from extractor.batch.protocols import BatchInfo, client_for
from extractor.batch.state import COLLECTED_STATUS, BatchRow, Item, State, now
from extractor.budget import Budget
from extractor.errors import ConfigError, ExtractorError
from extractor.estimate import message_tokens
from extractor.isolate import Prepared, read_each
from extractor.jobs import fingerprint_for, pending_sources, store_path_for
from extractor.pages import Page
from extractor.pipeline import first_request, page_options
from extractor.providers.base import Provider
from extractor.providers.pricing import batch_cost_of
from extractor.result import Usage
from extractor.schema import SchemaSpec
from extractor.settings import Settings
from extractor.store import RecordStore
from extractor.windows import answer_estimate

__all__ = ["Submitted", "submit"]


@dataclass
class Submitted:
    """What ``submit`` did: the ``batch`` (None when nothing needed one), its
    ``requests``, the documents left for the ``live`` path at collect, those ``skipped``
    (committed before) and those left out by the cost cap (``over_budget``)."""

    batch: BatchInfo | None
    requests: int
    live: int
    skipped: int
    over_budget: int
    estimate_usd: float
    store_path: Path


@dataclass
class _Doc:
    index: int
    path: Path
    key: str | None
    sha256: str | None = None
    source: str = ""
    body: bytes | None = None
    estimate: float = 0.0


def submit(
    sources: list[Path],
    schema: str,
    spec: SchemaSpec,
    settings: Settings,
    provider: Provider,
    *,
    output: Path,
    job: dict[str, Any],
    fresh: bool = False,
    retry_failed: bool = False,
) -> Submitted:
    """Submit a batch for the documents of ``sources`` not yet committed to ``output``.

    ``schema`` and ``job`` (the job's options, without secrets) are stored so that
    ``collect`` rebuilds the same job.

    Raises:
        ConfigError: the provider has no batch API here, or a batch of this output is
            still waiting to be collected.
        BudgetExceeded: ``settings.max_cost`` leaves room for none of the documents.
    """
    client = client_for(provider)
    path, fingerprint = store_path_for(output), fingerprint_for(spec, provider, settings)
    with RecordStore.open(path, fingerprint, fresh=fresh) as store:
        pending, skipped = pending_sources(sources, store, retry_failed)
        docs = [_Doc(index, path, key, source=str(path)) for index, path, key in pending]
        budget = None if settings.max_cost is None else Budget.resumed(settings.max_cost, store)
    state = State(path)
    try:
        _refuse_open_batch(state)
        _prepare(docs, spec, provider, settings)
        chosen, over = _within(docs, budget)
        if docs and not chosen:
            assert budget is not None
            raise budget.exceeded(len(docs))
        requests = [d for d in chosen if d.body is not None]
        batch = None
        if requests:
            batch = _upload(client, requests, provider.model)
            job = {**job, "schema": schema}
            row = BatchRow(batch.id, fingerprint, provider.name, job, batch.status, now())
            state.add(row, [_item(d) for d in chosen])
        elif chosen:
            raise ConfigError(
                "nothing to batch: these documents need several requests each (page groups "
                "or windows) or cannot be read; run them with `extractor extract`"
            )
    finally:
        state.close()
        client.close()
    live = len(chosen) - len(requests)
    cost = sum(d.estimate for d in chosen)
    return Submitted(batch, len(requests), live, skipped, over, cost, path)


def _refuse_open_batch(state: State) -> None:
    latest = state.latest()
    if latest is not None and latest.status != COLLECTED_STATUS:
        raise ConfigError(
            f"batch {latest.id} of this output is not collected yet (status "
            f"{latest.status}): run `extractor batch collect` (or `batch cancel`) first"
        )


def _prepare(docs: list[_Doc], spec: SchemaSpec, provider: Any, settings: Settings) -> None:
    def plan(index: int, read: Prepared | ExtractorError) -> None:
        if isinstance(read, ExtractorError):
            return  # the live path at collect records the error (free)
        document, pages = read
        doc = docs[index]
        doc.sha256, doc.source = document.sha256, document.source
        _plan(doc, pages, spec, provider, settings)

    read_each(
        [doc.path for doc in docs], page_options(settings, provider), plan,
        concurrency=settings.concurrency, timeout_s=settings.read_timeout,
        memory_bytes=settings.worker_memory,
    )  # fmt: skip


def _plan(
    doc: _Doc, pages: list[Page], spec: SchemaSpec, provider: Any, settings: Settings
) -> None:
    planned = first_request(spec, provider, settings, pages)
    if planned is None:
        return  # page groups or windows: live at collect
    messages, sampling = planned
    doc.body = orjson.dumps(provider.build_body(messages, spec, sampling))
    usage = Usage(prompt_tokens=message_tokens(messages, pages),
                  completion_tokens=answer_estimate(pages) + 64)  # fmt: skip
    doc.estimate = batch_cost_of(provider.name, provider.model, usage) or 0.0


def _within(docs: list[_Doc], budget: Budget | None) -> tuple[list[_Doc], int]:
    """The documents whose estimates fit the cap, in input order; how many did not."""
    if budget is None:
        return docs, 0
    chosen, running = [], budget.spent
    for doc in docs:
        if running + doc.estimate > budget.cap:
            break
        running += doc.estimate
        chosen.append(doc)
    return chosen, len(docs) - len(chosen)


def _upload(client: Any, docs: list[_Doc], model: str) -> BatchInfo:
    lines = [orjson.dumps(client.line(_custom_id(d), orjson.loads(d.body or b"{}"))) for d in docs]
    file_id = client.upload(b"\n".join(lines) + b"\n")
    info: BatchInfo = client.create(file_id, model, {"created_by": "extractor"})
    return info


def _custom_id(doc: _Doc) -> str:
    return f"sha256:{doc.sha256}:{doc.source}" if doc.sha256 else f"source:{doc.source}"


def _item(doc: _Doc) -> Item:
    digest = hashlib.sha256(doc.body).hexdigest() if doc.body is not None else None
    route = "batch" if doc.body is not None else "live"
    return Item(_custom_id(doc), doc.index, doc.source, doc.sha256, doc.key, route, digest)
