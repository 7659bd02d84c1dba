"""One document through every stage: load → pages → prompt → call/repair → merge → ground → result.

Whatever goes wrong becomes the document's error record; nothing here takes a run down.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from extractor.checks import checked_model, kept_despite_rules, rule_warnings
from extractor.confidence import confidence, features, find_label, kind_of
from extractor.errors import DocumentTimeout, ExtractionFailed, OutputTruncated
from extractor.ground import ground
from extractor.load import Source
from extractor.pages import Page
from extractor.prompt import build_messages, estimate_tokens, split_pages
from extractor.providers.base import Provider
from extractor.providers.pricing import cost_of
from extractor.reading import prepare
from extractor.repair import error_reasons, extract_with_repairs, total_usage
from extractor.result import Attempt, ErrorInfo, Failed, Ok, Result
from extractor.rules import check
from extractor.schema import SchemaSpec
from extractor.settings import PageOptions, Sampling, Settings
from extractor.windows import (
    answer_estimate,
    drop_repeats,
    header_spec,
    join_lists,
    list_fields,
    list_spec,
    page_windows,
    rows_beyond,
)

if TYPE_CHECKING:
    from extractor.isolate import PagesWorkerPool

__all__ = ["first_request", "merge_partials", "page_options", "planned_requests", "process"]


@dataclass
class _Doc:
    """What is known about one document so far, whatever stage it reached."""

    source: str
    sha256: str | None = None
    pages: int | None = None
    requests: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    grounding: dict[str, dict[str, Any]] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)


def page_options(settings: Settings, provider: Provider) -> PageOptions:
    """The reading options for a job on ``provider``: images only where it can see them."""
    return replace(settings.reading, vision=provider.vision)


async def process(
    source: Source,
    schema: SchemaSpec,
    provider: Provider,
    settings: Settings,
    *,
    index: int = 0,
    pool: PagesWorkerPool | None = None,
) -> Result[Any]:
    """Extract one document; always returns a record, never raises for its content.

    With a ``pool``, the document is read in one of its worker processes; otherwise in a
    thread of this process.
    """
    started = time.perf_counter()
    doc = _Doc("<bytes>" if isinstance(source, bytes) else os.fspath(source))
    deadline = asyncio.timeout(settings.document_timeout)
    try:
        async with deadline:
            data = await _run(source, schema, provider, settings, doc, pool)
    except Exception as exc:  # every failure becomes this document's record
        error: Exception = exc
        if deadline.expired():
            error = DocumentTimeout(
                f"{doc.source}: not done after the {settings.document_timeout:g} s document "
                f"deadline ({len(doc.attempts)} model call(s) finished)"
            )
        info = ErrorInfo.from_exception(error)
        return Failed(error=info, **_provenance(doc, index, provider, started))
    return Ok(data=data, **_provenance(doc, index, provider, started))


async def _run(
    source: Source,
    schema: SchemaSpec,
    provider: Provider,
    settings: Settings,
    doc: _Doc,
    pool: PagesWorkerPool | None,
) -> BaseModel:
    options = page_options(settings, provider)
    if pool is not None:
        document, pages = await pool.prepare(source, options)
    else:
        document, pages = await asyncio.to_thread(prepare, source, options)
    doc.sha256, doc.pages, doc.source = document.sha256, len(pages), document.source
    for page in pages:
        doc.warnings.extend(page.warnings)
    sampling = _sampling_for(provider, settings.sampling)
    budget = _prompt_budget(provider, sampling)
    pages = _fit_pages(pages, budget, doc.warnings)
    job = _Job(schema, provider, settings, sampling, budget, pages, doc)
    value = await job.extract()
    _ground(value, pages, doc)
    return value


def first_request(
    schema: SchemaSpec, provider: Provider, settings: Settings, pages: list[Page]
) -> tuple[list[dict[str, Any]], Sampling] | None:
    """The messages and sampling of the request :func:`process` sends first for these
    pages, when that one request carries the whole document (None when the document goes
    in page groups or windows). Batch jobs send exactly this request."""
    sampling = _sampling_for(provider, settings.sampling)
    plan = planned_requests(schema, provider, settings, pages)
    if len(plan) != 1 or len(plan[0]) != len(pages):
        return None
    pages = _fit_pages(pages, _prompt_budget(provider, sampling), [])
    return build_messages(schema, pages, total_pages=len(pages)), sampling


def planned_requests(
    schema: SchemaSpec, provider: Provider, settings: Settings, pages: list[Page]
) -> list[list[Page]]:
    """The pages of each request :func:`process` plans before any answer: the whole
    document (one request, or page groups), or its header groups then its page windows.
    (An answer cut short can still send a document to page windows afterwards.)"""
    sampling = _sampling_for(provider, settings.sampling)
    budget = _prompt_budget(provider, sampling)
    pages = _fit_pages(pages, budget, [])
    job = _Job(schema, provider, settings, sampling, budget, pages, _Doc(""))
    groups = split_pages(pages, max_images=provider.max_images, max_tokens=budget)
    several = list_fields(schema.model) and len(pages) > 1
    if several and answer_estimate(pages) > job.answer_budget:
        windows = page_windows(
            pages, answer_budget=job.answer_budget, prompt_budget=budget,
            max_images=provider.max_images,
        )  # fmt: skip
        return groups + windows
    return groups


@dataclass
class _Job:
    """One document's requests: the whole document at once, or header and page windows."""

    schema: SchemaSpec
    provider: Provider
    settings: Settings
    sampling: Sampling
    budget: int  # prompt tokens one request may carry
    pages: list[Page]
    doc: _Doc

    @property
    def answer_budget(self) -> int:
        return int(0.8 * (self.sampling.max_tokens or 4096))

    async def extract(self) -> BaseModel:
        lists = list_fields(self.schema.model)
        several = lists and len(self.pages) > 1
        if several and answer_estimate(self.pages) > self.answer_budget:
            return await self.windowed("its lists would not fit one answer")
        try:
            value = await self.whole()
        except OutputTruncated:
            if not lists:
                raise
            return await self.windowed("the answer was cut at the token limit")
        if several and self.provider.acts_on_feedback and _cut_short(value, self.pages, lists):
            return await self.windowed("its lists end before rows on later pages")
        return value

    async def whole(self) -> BaseModel:
        groups = split_pages(
            self.pages, max_images=self.provider.max_images, max_tokens=self.budget
        )
        self.doc.requests += len(groups)
        rules = len(groups) == 1 and self.provider.acts_on_feedback
        answers = [await self.ask(self.schema, group, rules=rules) for group in groups]
        return answers[0] if len(answers) == 1 else _merged(answers, self.schema, self.doc)

    async def windowed(self, why: str) -> BaseModel:
        self.doc.warnings.append(
            f"the document was read in page windows ({why}): its header in one request, "
            "its lists page window by page window"
        )
        header = header_spec(self.schema)
        header_groups = split_pages(
            self.pages, max_images=self.provider.max_images, max_tokens=self.budget
        )
        windows = page_windows(
            self.pages, answer_budget=self.answer_budget, prompt_budget=self.budget,
            max_images=self.provider.max_images,
        )  # fmt: skip
        self.doc.requests += len(header_groups) + len(windows)
        heads = [await self.ask(header, group) for group in header_groups]
        merged, conflicts = merge_partials([h.model_dump(mode="json") for h in heads])
        self.doc.warnings.extend(conflicts)
        lists = list_spec(self.schema)
        parts = [
            (await self.ask(lists, window, note=_WINDOW_NOTE)).model_dump(mode="json")
            for window in windows
        ]
        merged.update(join_lists(parts, list_fields(self.schema.model)))
        try:
            return self.schema.model.model_validate(merged)
        except ValidationError as exc:
            raise ExtractionFailed(
                "the joined answer of the page windows is invalid",
                reasons=tuple(error_reasons(exc)),
            ) from None

    async def ask(
        self, spec: SchemaSpec, group: list[Page], *, rules: bool = False, note: str | None = None
    ) -> BaseModel:
        messages = build_messages(spec, group, total_pages=len(self.pages), note=note)
        checked = checked_model(spec.model, rules=rules, grounding=self.settings.require_grounding)
        outcome = await extract_with_repairs(
            self.provider, messages, spec, self.sampling,
            max_repairs=self.settings.max_repairs, validation_context={"pages": group},
            response_model=checked, first_number=len(self.doc.attempts) + 1,
        )  # fmt: skip
        self.doc.attempts.extend(outcome.attempts)
        value = _answer(outcome.value, outcome.error, spec, group, self.settings, self.doc)
        text = "\n".join(page.text for page in group)
        value, loops = drop_repeats(value, list_fields(spec.model), text)
        self.doc.warnings.extend(loops)
        return value


_WINDOW_NOTE = (
    "Extract only the items printed on these pages, in the order printed. A table may "
    "continue from an earlier page or onto a later one: give the rows these pages show, "
    "and leave out carried-forward, subtotal and total lines."
)
_ROWS_AFTER_THE_LIST = 5  # row-like lines after a list's last item that make it suspect


def _cut_short(value: BaseModel, pages: list[Page], lists: list[str]) -> bool:
    """Whether a list of ``value`` ends on a page after which item-like rows (words and at
    least two amounts with cents, as a unit price and a line total) still follow."""
    data = value.model_dump(mode="json")
    items = [item for name in lists for item in data.get(name) or [] if isinstance(item, dict)]
    # An item's text may wrap over lines as printed: look for its longest word.
    words = {max(_squash(v).split(), key=len) for item in items for v in item.values()
             if isinstance(v, str) and v.strip()}  # fmt: skip
    texts = {page.number: _squash(page.text) for page in pages}
    last = max((n for n, text in texts.items() if any(w in text for w in words)), default=0)
    return rows_beyond(pages, last) >= _ROWS_AFTER_THE_LIST


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()


def _answer(
    value: BaseModel | None,
    error: Exception | None,
    schema: SchemaSpec,
    group: list[Page],
    settings: Settings,
    doc: _Doc,
) -> BaseModel:
    """A group's validated answer; when the repairs ran out only because business rules
    still fail, its last answer (the record shows the failed rules)."""
    if error is None:
        assert value is not None
        return value
    if isinstance(error, ExtractionFailed) and len(group) == doc.pages:
        kept = kept_despite_rules(
            schema.model, error.last_output, group, grounding=settings.require_grounding
        )
        if kept is not None:
            doc.warnings.append(
                f"kept the answer after {len(doc.attempts)} attempt(s) although business "
                "rules still fail (see checks)"
            )
            return kept
    raise error


def _ground(value: BaseModel, pages: list[Page], doc: _Doc) -> None:
    """Where each value stands, the business rules' results, and from both (and the
    repairs) each value's confidence."""
    repaired = len(doc.attempts) > doc.requests
    found = ground(value.model_dump(mode="json"), pages, repaired=repaired)
    results = check(value)
    doc.checks = [result.as_dict() for result in results]
    doc.warnings.extend(rule_warnings(results))
    doc.grounding = {}
    for path, grounding in found.items():
        entry = grounding.as_dict()
        entry["label"] = find_label(path, entry, pages)
        doc.grounding[path] = entry
    for path, grounding in found.items():
        evidence = features(path, doc.grounding, doc.checks, repaired=repaired)
        doc.confidence[path] = confidence(evidence, kind_of(path, grounding.value))
    hidden = [path for path, g in found.items() if g.status == "hidden_only"]
    if hidden:
        doc.warnings.append("found only in text a reader cannot see: " + ", ".join(hidden[:10]))


def _merged(answers: list[BaseModel], schema: SchemaSpec, doc: _Doc) -> BaseModel:
    merged, conflicts = merge_partials([a.model_dump(mode="json") for a in answers])
    doc.warnings.append(
        f"the document was sent in {len(answers)} page groups and the answers merged"
    )
    doc.warnings.extend(conflicts)
    try:
        return schema.model.model_validate(merged)
    except ValidationError as exc:
        raise ExtractionFailed(
            "the merged answer of the page groups is invalid", reasons=tuple(error_reasons(exc))
        ) from None


def _sampling_for(provider: Provider, sampling: Sampling) -> Sampling:
    cap = provider.max_output_tokens
    if cap is not None and (sampling.max_tokens is None or sampling.max_tokens > cap):
        return replace(sampling, max_tokens=cap)
    return sampling


def _prompt_budget(provider: Provider, sampling: Sampling) -> int:
    # Leave room for the answer and the system prompt; estimates are rough, so keep a margin.
    room = provider.context_tokens - (sampling.max_tokens or 0) - 1000
    return max(512, int(room * 0.75))


def _fit_pages(pages: list[Page], budget: int, warnings: list[str]) -> list[Page]:
    fitted = []
    for page in pages:
        if estimate_tokens(page) > budget and page.text:
            keep = max(0, budget * 4 - (estimate_tokens(page) - len(page.text) // 4) * 4)
            warnings.append(f"page {page.number}: text cut to {keep} characters to fit the context")
            page = replace(page, text=page.text[:keep])
        fitted.append(page)
    return fitted


def merge_partials(parts: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """Merge the answers of page groups: first non-null scalar wins, lists concatenate."""
    merged: dict[str, Any] = {}
    conflicts: list[str] = []
    for part in parts:
        _merge_into(merged, part, "", conflicts)
    return merged, conflicts


def _merge_into(
    target: dict[str, Any], part: dict[str, Any], prefix: str, conflicts: list[str]
) -> None:
    for key, value in part.items():
        current = target.get(key)
        if value is None or value == [] or value == {}:
            target.setdefault(key, value)
        elif current is None or current == [] or current == {}:
            target[key] = value
        elif isinstance(current, list) and isinstance(value, list):
            target[key] = current + value
        elif isinstance(current, dict) and isinstance(value, dict):
            _merge_into(current, value, f"{prefix}{key}.", conflicts)
        elif current != value:
            conflicts.append(
                f"{prefix}{key}: page groups disagree ({current!r} kept, {value!r} seen)"
            )


def _provenance(doc: _Doc, index: int, provider: Provider, started: float) -> dict[str, Any]:
    """The fields every record has, whether the document succeeded or not."""
    usage = total_usage(doc.attempts)
    served = next((a.model for a in reversed(doc.attempts) if a.model), None)
    return {
        "index": index,
        "source": doc.source,
        "sha256": doc.sha256,
        "provider": provider.name,
        "model": served or provider.model,
        "attempts": doc.attempts,
        "usage": usage,
        "cost_usd": cost_of(served or provider.model, usage) if doc.attempts else None,
        "pages": doc.pages,
        "requests": doc.requests,
        "latency_s": round(time.perf_counter() - started, 3),
        "warnings": doc.warnings,
        "grounding": doc.grounding,
        "confidence": doc.confidence,
        "checks": doc.checks,
    }
