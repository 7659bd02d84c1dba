"""Ray Data: extract from a dataset of documents on a Ray cluster (the ``ray`` extra).

:func:`extract_dataset` maps a dataset whose rows carry ``path`` (or ``bytes`` + ``name``)
to one row per input with the record's columns (:data:`COLUMNS`). It is built on
:class:`Extract`, a callable class for ``map_batches`` that users may call themselves:

- its configuration is picklable only (the schema as a shipped name or an import path,
  plus options); the provider, the event loop and the reading workers are made lazily in
  each actor, on first use;
- documents are read in isolated worker processes, as in the CLI;
- every finished record goes to a ledger (a Ray actor over a
  :class:`~extractor.store.RecordStore`, pinned to the driver's node) keyed by sha256 +
  source + job fingerprint, before the batch returns. A task Ray retries after its actor
  died finds the documents it had finished there and does not pay for them again.

``extractor extract … --engine ray`` (:func:`extractor.ray_job.run_ray_job`) uses the job's
own store as the ledger, so it resumes, skips and exports exactly as the local engine does.

Example:
    >>> import ray.data  # doctest: +SKIP
    >>> from extractor.ray import extract_dataset
    >>> ds = ray.data.from_items([{"path": "fixtures/invoice.pdf"}])  # doctest: +SKIP
    >>> extract_dataset(ds, "invoice", concurrency=8).take_all()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import ray
import ray.data
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from extractor.budget import Budget, BudgetExceeded
from extractor.examples import ExampleInput, steer
from extractor.isolate import PagesWorkerPool
from extractor.load import Source
from extractor.pipeline import process
from extractor.providers import Provider
from extractor.result import ErrorInfo, Failed
from extractor.schema import Example, SchemaSpec, load_schema
from extractor.settings import Settings
from extractor.store import RecordStore

__all__ = ["COLUMNS", "Extract", "close_ledgers", "extract_dataset", "ledger_actor"]

COLUMNS = (
    "source", "sha256", "status", "data", "error_type", "error_message",
    "provider", "model", "cost_usd", "prompt_tokens", "completion_tokens",
    "confidence_min", "warnings",
)  # fmt: skip
BATCH_SIZE = 16  # documents per map_batches call: small, so a retried task redoes little
_ACTOR_CPUS = 0.5  # an actor mostly waits on the provider; its reading workers do CPU work


class _Ledger:
    """Finished records by job fingerprint + sha256 + source, in one SQLite store; and
    the job's cost cap, shared by every actor (an actor runs one call at a time)."""

    def __init__(self, path: str, cap: float | None = None) -> None:
        self.path = path
        self.cap = cap
        self._store: RecordStore | None = None
        self._budget: Budget | None = None

    def _open(self, fingerprint: str) -> RecordStore:
        if self._store is None:
            self._store = RecordStore.open(Path(self.path), fingerprint)
            if self.cap is not None:
                self._budget = Budget.resumed(self.cap, self._store)
        return self._store

    def reserve(self, fingerprint: str) -> str:
        """``go`` (a document may start), ``wait`` (until a cost is known) or ``stop``."""
        self._open(fingerprint)
        if self._budget is None:
            return "go"
        if self._budget.may_start():
            self._budget.started()
            return "go"
        return "stop" if self._budget.stopped else "wait"

    def get(self, fingerprint: str, sha256: str, source: str) -> dict[str, Any] | None:
        return self._open(fingerprint).record_of(sha256, source)

    def put(self, fingerprint: str, record: dict[str, Any], source_key: str | None) -> None:
        self._open(fingerprint).commit(record, source_key=source_key)
        if self._budget is not None:
            self._budget.done(record.get("cost_usd"))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


_LEDGERS: dict[str, Any] = {}  # the driver holds its ledgers' handles: they live as long


def ledger_actor(
    path: Path, name: str | None = None, *, cap: float | None = None
) -> tuple[str, Any]:
    """Start the ledger actor over the store at ``path`` on the driver's node (where the
    file lives); returns its name (for :class:`Extract`) and its handle."""
    name = name or f"extractor-ledger-{uuid.uuid4().hex[:12]}"
    here = ray.get_runtime_context().get_node_id()
    remote = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(_Ledger)
    handle = remote.options(
        name=name, get_if_exists=True,
        scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
    ).remote(str(path), cap)  # fmt: skip
    _LEDGERS[name] = handle
    return name, handle


def close_ledgers() -> None:
    """Close the stores of the ledger actors this driver started, and end the actors."""
    while _LEDGERS:
        _, handle = _LEDGERS.popitem()
        ray.get(handle.close.remote())
        ray.kill(handle)


@dataclass
class _Actor:
    """What one actor made on first use: loop, provider, reading workers."""

    spec: SchemaSpec
    settings: Settings
    provider: Provider
    pool: PagesWorkerPool | None
    loop: asyncio.AbstractEventLoop
    fingerprint: str
    ledger: Any


class Extract:
    """``map_batches`` callable: one output row per input row, in input order.

    Input columns: ``path``, or ``bytes`` and ``name``; optional ``index`` (the record's
    index) and ``source_key`` (kept with the record for resumed folder runs).

    Args:
        schema: a shipped schema name, ``file.py:Class``, ``package.module:Class`` or a
            JSON Schema file (a class object would not be picklable by name everywhere).
        options: :class:`~extractor.settings.Settings` fields, flat (``model``,
            ``base_url``, ``mode``, ``dpi`` …); ``concurrency`` is per actor here.
        instructions: extra guidance for the model, added to the system prompt.
        examples: worked examples already read (``steer(...).examples``): they travel
            as they are, so every actor sends what the driver read.
        ledger: the name of the ledger actor (made by :func:`extract_dataset`); None: no
            ledger, so a retried task pays again for what it had finished.
        full_records: add a ``record`` column with the whole record as JSON text.
    """

    def __init__(
        self,
        schema: str,
        options: dict[str, Any] | None = None,
        *,
        instructions: str | None = None,
        examples: Sequence[Example] = (),
        ledger: str | None = None,
        full_records: bool = False,
    ) -> None:
        self.schema = schema
        self.options = dict(options or {})
        self.instructions = instructions
        self.examples = tuple(examples)
        self.ledger = ledger
        self.full_records = full_records
        self._actor: _Actor | None = None

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        actor = self._ready()
        rows = _input_rows(batch)
        records = actor.loop.run_until_complete(self._run(actor, rows))
        return _columns(records, full=self.full_records)

    def _ready(self) -> _Actor:
        if self._actor is None:
            from extractor.api import _pages_pool, open_job_provider
            from extractor.jobs import fingerprint_for

            spec = steer(load_schema(self.schema), instructions=self.instructions,
                         examples=self.examples)  # fmt: skip
            settings = Settings().with_options(**self.options)
            provider = open_job_provider(settings)
            ledger = ray.get_actor(self.ledger) if self.ledger else None
            self._actor = _Actor(
                spec, settings, provider, _pages_pool(settings, settings.concurrency),
                asyncio.new_event_loop(), fingerprint_for(spec, provider, settings), ledger,
            )  # fmt: skip
        return self._actor

    async def _run(self, actor: _Actor, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        limit = asyncio.Semaphore(actor.settings.concurrency)

        async def one(row: dict[str, Any]) -> dict[str, Any]:
            async with limit:
                return await _one(actor, row)

        return list(await asyncio.gather(*(one(row) for row in rows)))


async def _one(actor: _Actor, row: dict[str, Any]) -> dict[str, Any]:
    """One document's record: from the ledger when a try before this one finished it."""
    source, name = _source_of(row)
    digest = _sha256(source, actor.settings.reading.max_bytes)
    if actor.ledger is not None and digest is not None:
        found = await actor.ledger.get.remote(actor.fingerprint, digest, name)
        if found is not None:
            return dict(found)
    if actor.ledger is not None and not await _may_start(actor):
        info = ErrorInfo(type=BudgetExceeded.code, message="not started: the cost cap")
        return Failed(error=info, index=int(row.get("index") or 0), source=name,
                      sha256=digest).record()  # fmt: skip
    result = await process(
        source, actor.spec, actor.provider, actor.settings,
        index=int(row.get("index") or 0), pool=actor.pool,
    )  # fmt: skip
    record = result.record()
    if isinstance(source, bytes):
        record["source"] = name
    if actor.ledger is not None:
        await actor.ledger.put.remote(actor.fingerprint, record, row.get("source_key"))
    return record


async def _may_start(actor: _Actor) -> bool:
    """Ask the ledger's budget; until a first cost is known, documents go one at a time."""
    while True:
        answer = await actor.ledger.reserve.remote(actor.fingerprint)
        if answer != "wait":
            return bool(answer == "go")
        await asyncio.sleep(0.05)


def _source_of(row: dict[str, Any]) -> tuple[Source, str]:
    if row.get("path") is not None:
        path = os.fspath(row["path"])
        return Path(path), path
    data = row.get("bytes")
    if data is None:
        raise ValueError("each row needs a 'path', or 'bytes' and 'name'")
    return bytes(data), str(row.get("name") or "<bytes>")


def _sha256(source: Source, max_bytes: int) -> str | None:
    """The content hash, for a regular file no larger than the reading cap (a FIFO or a
    huge file is left to the isolated reader, which classifies it)."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    try:
        path = Path(source)
        if not path.is_file() or path.stat().st_size > max_bytes:
            return None
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def _input_rows(batch: dict[str, Any]) -> list[dict[str, Any]]:
    columns = {name: list(values) for name, values in batch.items()}
    size = len(next(iter(columns.values()), []))
    return [{name: values[i] for name, values in columns.items()} for i in range(size)]


def _columns(records: list[dict[str, Any]], *, full: bool) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    if full:
        out["record"] = []
    for record in records:
        for name, value in _row(record).items():
            out[name].append(value)
        if full:
            out["record"].append(orjson.dumps(record).decode())
    return out


def _row(record: dict[str, Any]) -> dict[str, Any]:
    error = record.get("error") or {}
    usage = record.get("usage") or {}
    confidence = [float(v) for v in (record.get("confidence") or {}).values()]
    data = record.get("data")
    return {
        "source": record["source"], "sha256": record.get("sha256"),
        "status": record["status"],
        "data": None if data is None else orjson.dumps(data).decode(),
        "error_type": error.get("type"), "error_message": error.get("message"),
        "provider": record.get("provider"), "model": record.get("model"),
        "cost_usd": record.get("cost_usd"),
        "prompt_tokens": int(usage.get("prompt_tokens") or 0),
        "completion_tokens": int(usage.get("completion_tokens") or 0),
        "confidence_min": min(confidence) if confidence else None,
        "warnings": [str(w) for w in record.get("warnings") or []],
    }  # fmt: skip


def extract_dataset(
    ds: ray.data.Dataset,
    schema: str,
    *,
    ledger: str | os.PathLike[str] | None = None,
    actors: int | None = None,
    batch_size: int = BATCH_SIZE,
    full_records: bool = False,
    instructions: str | None = None,
    examples: Iterable[ExampleInput] = (),
    **options: Any,
) -> ray.data.Dataset:
    """Extract ``schema`` from every row of ``ds``: one output row per input row.

    Args:
        ds: rows with ``path`` (a path every node can read), or ``bytes`` and ``name``.
        schema: a shipped name or an import path (see :class:`Extract`).
        ledger: the SQLite file (on the driver's node) that keeps finished records by
            sha256 + job fingerprint, so retried tasks do not pay twice; default: a new
            temporary file for this dataset.
        actors: actors in the pool (default: the cluster's CPUs).
        batch_size: documents per ``map_batches`` call.
        full_records: add a ``record`` column (the whole record, JSON text).
        instructions: extra guidance for the model, added to the system prompt.
        examples: ``(document, answer)`` pairs sent before each document as worked
            examples, read once here on the driver (as the provider will be sent them).
        options: :class:`~extractor.settings.Settings` fields, flat. ``concurrency`` is
            the documents in flight over all actors (each actor takes its share), so the
            provider's rate limit is shared as it is by one process. With ``max_cost``,
            the ledger's budget decides for every actor; a row not started because of it
            has ``status`` ``error`` and ``error_type`` ``budget_exceeded``.

    Returns:
        A lazy dataset with the :data:`COLUMNS` (and ``record``); ``status`` is ``ok`` or
        ``error``, so one bad document never fails a stage.
    """
    if not ray.is_initialized():
        ray.init(logging_level=logging.WARNING, log_to_driver=False)
    settings = Settings().with_options(**options)
    # A mistake raises here, on the driver, not in every actor.
    spec = _steered(load_schema(schema), settings, instructions, list(examples))
    size = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))  # type: ignore[no-untyped-call]
    per_actor = dict(options, concurrency=max(1, math.ceil(settings.concurrency / size)))
    path = Path(ledger) if ledger else Path(tempfile.mkdtemp()) / "ledger.db"
    name, _ = ledger_actor(path, cap=settings.max_cost)
    return ds.map_batches(
        Extract, batch_size=batch_size, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=size), num_cpus=_ACTOR_CPUS,
        fn_constructor_args=(schema, per_actor),
        fn_constructor_kwargs={
            "ledger": name, "full_records": full_records,
            "instructions": spec.instructions, "examples": spec.examples,
        },
    )  # fmt: skip


def _steered(
    spec: SchemaSpec, settings: Settings, instructions: str | None, examples: list[ExampleInput]
) -> SchemaSpec:
    """``spec`` with the steering; example documents are read as the provider the actors
    open will want them (images only for one that sees)."""
    if all(isinstance(example, Example) for example in examples):
        return steer(spec, instructions=instructions, examples=examples)
    from extractor.api import open_job_provider
    from extractor.pipeline import page_options

    provider = open_job_provider(settings)
    try:
        options = page_options(settings, provider)
    finally:
        asyncio.run(provider.aclose())
    return steer(spec, instructions=instructions, examples=examples, options=options)
