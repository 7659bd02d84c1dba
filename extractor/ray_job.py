"""``extractor extract … --engine ray``: a folder job run by :mod:`extractor.ray` actors.

The job is the local engine's (:func:`extractor.jobs.run_job`): the same store beside the
output, the same skip of committed inputs, the same fingerprint, the same exports written
from the store. Only the work moves: the pending documents become a Ray dataset, actors
extract them, and each record is committed to the store through the ledger actor the
moment it is finished, so a killed run (or a killed actor) loses nothing it paid for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
import ray
import ray.data
from pydantic import TypeAdapter

from extractor.budget import Budget, BudgetExceeded
from extractor.export import Format, remove_stale_temporaries, write_records
from extractor.jobs import (
    JobSummary,
    file_mode,
    fingerprint_for,
    open_store,
    pending_sources,
    store_path_for,
)
from extractor.providers import Provider
from extractor.ray import close_ledgers, extract_dataset
from extractor.result import Result
from extractor.runlock import RunLock
from extractor.schema import SchemaSpec
from extractor.settings import Settings
from extractor.store import RecordStore

__all__ = ["run_ray_job"]

_RESULT: TypeAdapter[Result[Any]] = TypeAdapter(Result[Any])


def run_ray_job(
    sources: Iterable[Path],
    schema: str,
    spec: SchemaSpec,
    settings: Settings,
    provider: Provider,
    *,
    output: Path,
    fmt: Format,
    address: str | None = None,
    fresh: bool = False,
    retry_failed: bool = False,
    on_start: Callable[[JobSummary], None] | None = None,
    on_result: Callable[[Result[Any]], None] | None = None,
) -> JobSummary:
    """Run (or resume) a folder job on Ray; the same contract as :func:`~extractor.jobs.run_job`.

    ``schema`` is the spec as given (a shipped name or an import path: actors load it
    themselves, and take ``spec``'s instructions and examples); ``provider`` is the
    driver's, used only for the job fingerprint (each actor opens its own). ``address``
    joins a running cluster (``auto``, ``ray://head:10001``); None starts a local Ray
    instance.
    """
    path, fingerprint = store_path_for(output), fingerprint_for(spec, provider, settings)
    summary = JobSummary(store_path=path, fingerprint=fingerprint)
    with RunLock(path):  # as the local engine: one run per output at a time
        with open_store(path, fingerprint, fresh) as store:
            remove_stale_temporaries(output)
            pending, summary.skipped = pending_sources(sources, store, retry_failed)
        todo = [{"path": str(source), "index": index, "source_key": key}
                for index, source, key in pending]  # fmt: skip
        summary.pending = len(todo)
        if on_start is not None:
            on_start(summary)
        try:
            if todo:
                _extract(todo, schema, spec, settings, path, address, summary, on_result)
        finally:
            with RecordStore.open(path, fingerprint) as store:
                summary.counts = store.counts()
                summary.written = write_records(
                    store.records, output, fmt, mode=file_mode(path), model=spec.model
                )
                store.note_exports(summary.written)
    return summary


def _extract(
    todo: list[dict[str, Any]],
    schema: str,
    spec: SchemaSpec,
    settings: Settings,
    store_path: Path,
    address: str | None,
    summary: JobSummary,
    on_result: Callable[[Result[Any]], None] | None,
) -> None:
    if not ray.is_initialized():
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    options = settings.as_options(secrets=True)
    options.pop("api_key")  # actors take the key from their environment, as the driver did
    ds = ray.data.from_items(todo)
    try:
        # The steering the driver read travels as it is: every actor asks what the job's
        # fingerprint says it asks.
        out = extract_dataset(ds, schema, ledger=store_path, full_records=True,
                              instructions=spec.instructions, examples=spec.examples,
                              **options)  # fmt: skip
        not_started = 0
        for batch in out.iter_batches(batch_format="numpy", batch_size=None):
            for text in batch["record"]:
                result = _RESULT.validate_python(orjson.loads(text))
                if result.error is not None and result.error.type == BudgetExceeded.code:
                    not_started += 1
                    continue
                summary.add(result)
                if on_result is not None:
                    on_result(result)
    finally:
        close_ledgers()
    if not_started:
        with RecordStore.open(store_path, summary.fingerprint) as store:
            budget = Budget.resumed(settings.max_cost or 0.0, store)
        raise budget.exceeded(not_started)
