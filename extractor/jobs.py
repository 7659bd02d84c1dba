"""Resumable folder jobs: every input gets exactly one committed record, across kills.

A job commits each record to a :class:`~extractor.store.RecordStore` beside the output
the moment it arrives. Re-running the same job skips inputs already committed (without
reading them, by path, size and mtime), ``retry_failed`` redoes only the errors, and a
changed job (schema, provider, model, mode, pages) is refused unless ``fresh``. The export
files are written from the store, atomically, so they are either absent or complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor.api import extract_many
from extractor.errors import AuthError, ProviderError
from extractor.export import Format, write_records
from extractor.prompt import PROMPT_VERSION
from extractor.providers import Provider
from extractor.result import Result
from extractor.schema import SchemaSpec
from extractor.settings import Settings
from extractor.store import RecordStore, job_fingerprint, source_key

__all__ = ["JobSummary", "run_job", "store_path_for"]

# Provider failures that mean "the provider is down", not "this document is bad".
_OUTAGE_ERRORS = frozenset({
    "provider_http_error", "provider_timeout", "provider_connection_error", "rate_limited",
    "malformed_response",
})  # fmt: skip


@dataclass
class JobSummary:
    """What a run did (this run) and where the job stands (all runs)."""

    processed: list[Result[Any]] = field(default_factory=list)
    skipped: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # every committed record

    @property
    def all_ok(self) -> bool:
        return self.counts.get("error", 0) == 0


def store_path_for(output: Path) -> Path:
    """The store beside an output file: ``out/results.jsonl`` → ``out/results.jsonl.db``."""
    return output.with_name(output.name + ".db")


def fingerprint_for(spec: SchemaSpec, provider: Provider, settings: Settings) -> str:
    extra = {"pages": settings.pages, "dpi": settings.dpi, "max_side": settings.max_side,
             "ocr": settings.ocr}  # fmt: skip
    return job_fingerprint(
        spec, provider.name, provider.model, settings.mode, PROMPT_VERSION, extra
    )


def run_job(
    sources: Iterable[Path],
    spec: SchemaSpec,
    settings: Settings,
    provider: Provider,
    *,
    output: Path,
    fmt: Format,
    fresh: bool = False,
    retry_failed: bool = False,
    breaker: int = 20,
    on_result: Callable[[Result[Any]], None] | None = None,
) -> JobSummary:
    """Run (or resume) a job over ``sources`` and write the export from the store.

    Raises:
        AuthError: the provider refused the key (401/402/403): the run stops at once.
        ProviderError: ``breaker`` documents in a row failed with provider outages (the
            circuit breaker). Records that tripped either are not committed, so the next
            run retries them; everything committed before stays.
    """
    summary = JobSummary()
    fingerprint = fingerprint_for(spec, provider, settings)
    with RecordStore.open(store_path_for(output), fingerprint, fresh=fresh) as store:
        keys: dict[int, str | None] = {}
        positions: list[int] = []

        def pending() -> Iterator[Path]:
            for index, path in enumerate(sources):
                key = source_key(path)
                status = store.done_by_source_key(key) if key else None
                if status == "ok" or (status == "error" and not retry_failed):
                    summary.skipped += 1
                    continue
                keys[index] = key
                positions.append(index)
                yield path

        held: list[tuple[Result[Any], str | None]] = []  # an outage streak, not yet committed
        try:
            for result in extract_many(pending(), spec, settings=settings, provider=provider):
                result = result.model_copy(update={"index": positions[result.index]})
                kind = result.error.type if result.error else None
                if kind == AuthError.code:
                    raise AuthError(f"stopping the run: {result.error.message}")  # type: ignore[union-attr]
                held.append((result, keys.pop(result.index, None)))
                if kind in _OUTAGE_ERRORS and len(held) >= breaker:
                    raise ProviderError(
                        f"stopping the run: {len(held)} documents in a row failed because the "
                        f"provider is failing (last: {result.error.message}); rerun to resume"  # type: ignore[union-attr]
                    )
                if kind not in _OUTAGE_ERRORS:
                    _commit(store, held, summary, on_result)
            _commit(store, held, summary, on_result)  # the run ended inside a short streak
        finally:  # also when a run stops early: the export shows what is committed
            summary.counts = store.counts()
            summary.records = list(store.records())
            summary.written = write_records(summary.records, output, fmt)
    return summary


def _commit(
    store: RecordStore,
    held: list[tuple[Result[Any], str | None]],
    summary: JobSummary,
    on_result: Callable[[Result[Any]], None] | None,
) -> None:
    for result, key in held:
        store.commit(result.record(), source_key=key)
        summary.processed.append(result)
        if on_result is not None:
            on_result(result)
    held.clear()
