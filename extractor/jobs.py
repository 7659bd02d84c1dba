"""Resumable folder jobs: every input gets exactly one committed record, across kills.

A job commits each record to a :class:`~extractor.store.RecordStore` beside the output
the moment it arrives. Re-running the same job skips inputs already committed (without
reading them, by path, size and mtime), ``retry_failed`` redoes only the errors, and a
changed job (schema, provider, model, mode, pages) is refused unless ``fresh``. The export
files are streamed from the store, atomically, so they are either absent or complete.

Memory stays flat however many documents a job has: a result is dropped once committed
(the summary keeps running totals, not results), and the export reads the store in pages.

One run at a time writes an output: a run holds a lock beside its store
(:mod:`extractor.runlock`) and refuses to start while another holds it. Under the lock it
removes the temporary export files a killed run left, and it writes the store and the
exports with one file mode (a new file's: 0666 less the umask; the store's, when the
store exists), since the exports hold what the store holds.

:func:`resume_many` is the same for ``extract_many(..., store="run.db")``: committed
documents come back from the store without a model call.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from extractor.api import iterate_in_thread, run_indexed
from extractor.budget import Budget, BudgetExceeded
from extractor.errors import AuthError, ProviderError
from extractor.export import (
    Format,
    default_mode,
    json_safe,
    remove_stale_temporaries,
    write_records,
)
from extractor.load import Source
from extractor.outputs import store_path_for
from extractor.prompt import PROMPT_VERSION
from extractor.providers import Provider
from extractor.result import Result
from extractor.runlock import RunLock
from extractor.schema import SchemaSpec
from extractor.settings import Settings
from extractor.store import RecordStore, job_fingerprint, source_key

__all__ = [
    "JobSummary", "file_mode", "open_store", "pending_sources", "resume_many", "run_job",
    "store_path_for",
]  # fmt: skip

# Provider failures that mean "the provider is down", not "this document is bad".
_OUTAGE_ERRORS = frozenset({
    "provider_http_error", "provider_timeout", "provider_connection_error", "rate_limited",
    "malformed_response",
})  # fmt: skip


@dataclass
class JobSummary:
    """What a run did (this run) and where the job stands (all runs).

    This run: ``pending`` inputs it set out to do, ``processed`` results committed,
    with their summed ``prompt_tokens``,
    ``completion_tokens``, ``cost_usd`` and ``repairs``, and ``errors`` by error type;
    ``skipped`` inputs that were committed before. The job: ``counts`` of committed records
    by status, the export files ``written``, and :meth:`records` to read them all again.
    """

    pending: int = 0
    processed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    repairs: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    store_path: Path | None = None
    fingerprint: str = ""

    @property
    def all_ok(self) -> bool:
        return self.counts.get("error", 0) == 0

    def add(self, result: Result[Any]) -> None:
        """Count one committed result of this run."""
        self.processed += 1
        self.prompt_tokens += result.usage.prompt_tokens
        self.completion_tokens += result.usage.completion_tokens
        self.cost_usd += result.cost_usd or 0.0
        self.repairs += result.repairs
        if result.error is not None:
            self.errors[result.error.type] += 1

    def records(self) -> Iterator[dict[str, Any]]:
        """Every committed record of the job, by input index, read afresh from the store
        in pages (the summary holds no records)."""
        if self.store_path is None:
            return
        with RecordStore.open(self.store_path, self.fingerprint) as store:
            yield from store.records()


def fingerprint_for(spec: SchemaSpec, provider: Provider, settings: Settings) -> str:
    reading = settings.reading
    extra = {"pages": reading.pages, "dpi": reading.dpi, "max_side": reading.max_side,
             "ocr": reading.ocr}  # fmt: skip
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
    on_start: Callable[[JobSummary], None] | None = None,
    on_result: Callable[[Result[Any]], None] | None = None,
) -> JobSummary:
    """Run (or resume) a job over ``sources`` and write the export from the store.

    The inputs already committed are set aside first, here (a file whose path, size and
    mtime are unchanged is not read again); ``on_start`` then sees the summary with
    ``pending`` and ``skipped`` filled in, and ``on_result`` each committed result.

    Raises:
        AuthError: the provider refused the key (401/402/403): the run stops at once.
        BudgetExceeded: the next document could pass ``settings.max_cost`` (what the job's
            earlier runs committed counts too); what finished is committed and exported.
        ProviderError: ``breaker`` documents in a row failed with provider outages (the
            circuit breaker). Records that tripped either are not committed, so the next
            run retries them; everything committed before stays.
    """
    path, fingerprint = store_path_for(output), fingerprint_for(spec, provider, settings)
    summary = JobSummary(store_path=path, fingerprint=fingerprint)
    with RunLock(path), open_store(path, fingerprint, fresh) as store:
        remove_stale_temporaries(output)
        pending, summary.skipped = pending_sources(sources, store, retry_failed)
        todo = [(index, source) for index, source, _ in pending]
        keys = {index: key for index, _, key in pending}  # until the input's result is in
        summary.pending = len(todo)
        if on_start is not None:
            on_start(summary)
        held: list[tuple[Result[Any], str | None]] = []  # an outage streak, not yet committed
        budget = None if settings.max_cost is None else Budget.resumed(settings.max_cost, store)
        results = iterate_in_thread(
            lambda: run_indexed(todo, spec, settings, provider, budget=budget), provider
        )
        try:
            for result in results:
                held.append((result, keys.pop(result.index)))
                _check_stop(result, held, breaker)
                if result.error is None or result.error.type not in _OUTAGE_ERRORS:
                    _commit(store, held, summary, on_result)
            _commit(store, held, summary, on_result)  # the run ended inside a short streak
        except BudgetExceeded:
            _commit(store, held, summary, on_result)  # paid for: keep them
            raise
        finally:  # also when a run stops early: the export shows what is committed
            results.close()
            summary.counts = store.counts()
            summary.written = write_records(  # streamed, in pages
                store.records, output, fmt, mode=file_mode(path), model=spec.model
            )
            store.note_exports(summary.written)
    return summary


def file_mode(path: Path) -> int:
    """The permission bits of ``path`` (a run's store): its exports get the same."""
    return stat.S_IMODE(path.stat().st_mode)


def pending_sources(
    sources: Iterable[Path], store: RecordStore, retry_failed: bool
) -> tuple[list[tuple[int, Path, str | None]], int]:
    """The inputs a run on ``store`` still has to do, as (input index, path, source key),
    and how many it skips: those committed ``ok``, and ``error`` unless ``retry_failed``."""
    todo, skipped = [], 0
    for index, source in enumerate(sources):
        key = source_key(source)
        status = store.done_by_source_key(key) if key else None
        if status == "ok" or (status == "error" and not retry_failed):
            skipped += 1
        else:
            todo.append((index, source, key))
    return todo, skipped


def open_store(path: Path, fingerprint: str, fresh: bool) -> RecordStore:
    """Open (or create) a store; a new one is created with a new file's mode, as the
    exports are (SQLite would make it 0644 whatever the umask)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, default_mode()))
    return RecordStore.open(path, fingerprint, fresh=fresh)


def _check_stop(result: Result[Any], held: list[Any], breaker: int) -> None:
    """Stop the run on a refused key, or when the provider has been failing too long."""
    if result.error is None:
        return
    if result.error.type == AuthError.code:
        raise AuthError(f"stopping the run: {result.error.message}")
    if result.error.type in _OUTAGE_ERRORS and len(held) >= breaker:
        raise ProviderError(
            f"stopping the run: {len(held)} documents in a row failed because the provider "
            f"is failing (last: {result.error.message}); rerun to resume"
        )


def _commit(
    store: RecordStore,
    held: list[tuple[Result[Any], str | None]],
    summary: JobSummary,
    on_result: Callable[[Result[Any]], None] | None,
) -> None:
    for result, key in held:
        store.commit(result.record(), source_key=key)
        summary.add(result)
        if on_result is not None:
            on_result(result)
    held.clear()


def resume_many(
    sources: Iterable[Source],
    spec: SchemaSpec,
    settings: Settings,
    provider: Provider,
    *,
    store: Path,
    fresh: bool = False,
    retry_failed: bool = False,
    on_result: Callable[[Result[Any]], None] | None = None,
) -> Iterator[Result[Any]]:
    """``extract_many`` with a store: documents committed to ``store`` by an earlier call
    with the same job come back from it (no model call), the others are extracted and
    each committed as it finishes; every result carries its input's ``index``.

    A path is taken as done when its path, size and mtime are unchanged since its record
    was committed; bytes when a record of the same bytes is in the store. With
    ``retry_failed``, committed errors are done again. The store is locked for the
    iteration (a second process using it is refused).

    Raises:
        ConfigError: (when iterated) the store belongs to another job (unless ``fresh``)
            or another process is using it.
    """
    fingerprint = fingerprint_for(spec, provider, settings)
    adapter: TypeAdapter[Any] = TypeAdapter(Result[spec.model])  # type: ignore[arg-type,name-defined]
    with RunLock(store), open_store(store, fingerprint, fresh) as db:
        todo: list[tuple[int, Source]] = []
        done: dict[tuple[str, str | None], list[tuple[int, Source]]] = {}
        for index, source in enumerate(sources):
            found = _committed(db, source, retry_failed)
            if found is None:
                todo.append((index, source))
            else:
                done.setdefault(found, []).append((index, source))
        for record in db.records() if done else ():
            source = record["source"]
            for index, _ in done.pop((source, record["sha256"] if source == _BYTES else None), []):
                result = adapter.validate_python({**record, "index": index})
                if on_result is not None:
                    on_result(result)
                yield result
        todo.extend(pair for pairs in done.values() for pair in pairs)  # not found after all
        keys = {i: None if isinstance(s, bytes) else source_key(Path(s)) for i, s in todo}
        results = iterate_in_thread(lambda: run_indexed(todo, spec, settings, provider), provider)
        try:
            for result in results:
                db.commit(result.record(), source_key=keys.pop(result.index))
                if on_result is not None:
                    on_result(result)
                yield result
        finally:
            results.close()


_BYTES = "<bytes>"


def _committed(
    db: RecordStore, source: Source, retry_failed: bool
) -> tuple[str, str | None] | None:
    """How the committed record of ``source`` is found (its source, and its sha256 for
    bytes), or None when ``source`` is to be done."""
    if isinstance(source, bytes):
        digest: str | None = hashlib.sha256(source).hexdigest()
        status, name = db.done(digest or ""), _BYTES
    else:
        key = source_key(Path(source))
        status = db.done_by_source_key(key) if key else None
        name, digest = json_safe(str(Path(source))), None
    if status == "ok" or (status == "error" and not retry_failed):
        return name, digest
    return None
