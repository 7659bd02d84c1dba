"""One document through every stage: load → pages → prompt → call/repair → merge → result.

Whatever goes wrong becomes the document's error record; nothing here takes a run down.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from extractor.errors import DocumentTimeout, ExtractionFailed, ExtractorError
from extractor.ground import ground, grounded_model
from extractor.pages import Page
from extractor.prompt import build_messages, estimate_tokens, split_pages
from extractor.providers import Provider, Sampling
from extractor.providers.pricing import cost_of
from extractor.reading import Source, prepare
from extractor.repair import Attempt, error_reasons, extract_with_repairs, total_usage
from extractor.result import ErrorInfo, Result, UsageInfo
from extractor.schema import SchemaSpec
from extractor.settings import Settings

if TYPE_CHECKING:
    from extractor.isolate import PagesWorkerPool

__all__ = ["merge_partials", "prepare", "process"]

_LOCAL_MAX_TOKENS = 1536


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
    name = "<bytes>" if isinstance(source, bytes) else os.fspath(source)
    state: dict[str, Any] = {"attempts": [], "warnings": [], "pages": None, "sha256": None}
    deadline = asyncio.timeout(settings.document_timeout)
    try:
        async with deadline:
            data = await _run(source, schema, provider, settings, state, pool)
    except Exception as exc:  # every failure becomes this document's record
        error: Exception = exc
        if deadline.expired():
            error = DocumentTimeout(
                f"{name}: not done after the {settings.document_timeout:g} s document deadline"
                f" ({len(state['attempts'])} model call(s) finished)"
            )
        attempts = getattr(error, "attempts", None) or state["attempts"]
        return _record(name, index, provider, state, attempts, started, error=error)
    return _record(name, index, provider, state, state["attempts"], started, data=data)


async def _run(
    source: Source,
    schema: SchemaSpec,
    provider: Provider,
    settings: Settings,
    state: dict[str, Any],
    pool: PagesWorkerPool | None,
) -> BaseModel:
    if pool is not None:
        document, pages = await pool.prepare(source, settings, vision=provider.vision)
    else:
        document, pages = await asyncio.to_thread(prepare, source, settings, vision=provider.vision)
    state.update(sha256=document.sha256, pages=len(pages), source=document.source)
    for page in pages:
        state["warnings"].extend(page.warnings)
    sampling = _sampling_for(provider, settings.sampling)
    budget = _prompt_budget(provider, sampling)
    pages = _fit_pages(pages, budget, state["warnings"])
    groups = split_pages(pages, max_images=provider.max_images, max_tokens=budget)
    state["requests"] = len(groups)
    answers: list[BaseModel] = []
    checked = grounded_model(schema.model) if settings.require_grounding else None
    for group in groups:
        messages = build_messages(
            schema, group, source_name=os.path.basename(document.source), total_pages=len(pages)
        )
        try:
            outcome = await extract_with_repairs(
                provider, messages, schema, sampling, max_repairs=settings.max_repairs,
                validation_context={"pages": group}, response_model=checked,
            )  # fmt: skip
        except ExtractorError as exc:
            state["attempts"].extend(getattr(exc, "attempts", []))
            exc.attempts = state["attempts"]  # type: ignore[attr-defined]
            raise
        state["attempts"].extend(outcome.attempts)
        answers.append(outcome.value)
    value = answers[0] if len(answers) == 1 else _merged(answers, schema, state)
    _ground(value, pages, state)
    return value


def _ground(value: BaseModel, pages: list[Page], state: dict[str, Any]) -> None:
    repaired = len(state["attempts"]) > state["requests"]
    found = ground(value.model_dump(mode="json"), pages, repaired=repaired)
    state["grounding"] = {path: g.as_dict() for path, g in found.items()}
    state["confidence"] = {path: g.confidence for path, g in found.items()}
    hidden = [path for path, g in found.items() if g.status == "hidden_only"]
    if hidden:
        state["warnings"].append(
            "found only in text a reader cannot see: " + ", ".join(hidden[:10])
        )


def _merged(answers: list[BaseModel], schema: SchemaSpec, state: dict[str, Any]) -> BaseModel:
    merged, conflicts = merge_partials([a.model_dump(mode="json") for a in answers])
    state["warnings"].append(
        f"the document was sent in {len(answers)} page groups and the answers merged"
    )
    state["warnings"].extend(conflicts)
    try:
        return schema.model.model_validate(merged)
    except ValidationError as exc:
        raise ExtractionFailed(
            "the merged answer of the page groups is invalid", reasons=error_reasons(exc)
        ) from None


def _sampling_for(provider: Provider, sampling: Sampling) -> Sampling:
    if provider.name == "local" and (sampling.max_tokens or 0) > _LOCAL_MAX_TOKENS:
        return replace(sampling, max_tokens=_LOCAL_MAX_TOKENS)
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


def _record(
    name: str,
    index: int,
    provider: Provider,
    state: dict[str, Any],
    attempts: list[Attempt],
    started: float,
    *,
    data: BaseModel | None = None,
    error: BaseException | None = None,
) -> Result[Any]:
    usage = total_usage(attempts)
    served = next((a.model for a in reversed(attempts) if a.model), None)
    return Result[Any](
        index=index,
        source=state.get("source", name),
        sha256=state["sha256"],
        status="ok" if error is None else "error",
        data=data,
        error=None if error is None else ErrorInfo.from_exception(error),
        provider=provider.name,
        model=served or provider.model,
        attempts=[a.as_dict() for a in attempts],
        usage=UsageInfo(
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
        ),
        cost_usd=cost_of(served or provider.model, usage) if attempts else None,
        pages=state["pages"],
        requests=state.get("requests", 0),
        latency_s=round(time.perf_counter() - started, 3),
        warnings=state["warnings"],
        grounding=state.get("grounding", {}),
        confidence=state.get("confidence", {}),
    )
