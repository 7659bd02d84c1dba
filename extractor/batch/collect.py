"""``extractor batch collect``: download a finished batch's answers and commit records.

Each document goes through the live pipeline (:func:`extractor.pipeline.process`: reading,
validation, the repair pass, grounding, rules) with a :class:`PrimedProvider`: the first
request whose body is byte for byte the one sent in the batch is answered from the batch
(at the batch price); every other request, repairs included, goes to the provider live at
its normal price. The cost ledger gets one row per call saying which it was.

A document is committed once, with its ledger rows; a collect killed half-way commits
only what is missing when it runs again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import orjson

from extractor.api import iterate_in_thread, run_indexed
from extractor.batch.protocols import BatchInfo, client_for
from extractor.batch.state import COLLECTED_STATUS, Item, LedgerRow, State
from extractor.budget import Budget
from extractor.errors import ConfigError
from extractor.export import Format, write_records
from extractor.jobs import JobSummary, file_mode, fingerprint_for, store_path_for
from extractor.providers.base import Completion
from extractor.providers.pricing import batch_cost_of, cost_of
from extractor.result import Result
from extractor.schema import SchemaSpec, load_schema
from extractor.settings import Sampling, Settings
from extractor.store import RecordStore

__all__ = ["Collected", "PrimedProvider", "collect", "open_batch"]


@dataclass
class Collected:
    """What ``collect`` did: the batch as the provider last described it, whether it could
    be collected yet, this run's summary, and the job's cost ledger by pricing."""

    info: BatchInfo
    collected: bool
    summary: JobSummary | None = None
    ledger: dict[str, dict[str, float]] = field(default_factory=dict)


class PrimedProvider:
    """A provider whose requests are answered from a batch when their body is one the batch
    holds an answer for (each answer once), and live otherwise.

    Every completion gets a ``cost_usd`` (unless the provider reported one): batch-served
    ones at the batch price, live ones at the normal price, so a record's cost is right
    when both kinds are in it.
    """

    def __init__(self, live: Any, answers: dict[str, list[dict[str, Any]]]) -> None:
        self.live = live
        self.answers = answers  # body sha256 → answer bodies not yet used
        self.served: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        # Every capability (name, model, vision, max_images …) is the live provider's.
        return getattr(self.live, name)

    async def complete(
        self, messages: list[dict[str, Any]], schema: SchemaSpec, sampling: Sampling
    ) -> Completion:
        body = orjson.dumps(self.live.build_body(messages, schema, sampling))
        digest = hashlib.sha256(body).hexdigest()
        waiting = self.answers.get(digest)
        if waiting:
            self.served.add(digest)
            # The batch answer is parsed exactly as a live answer is (finish reasons,
            # errors sent with 200, usage).
            answer = httpx.Response(200, content=orjson.dumps(waiting.pop()))
            completion: Completion = self.live._parse(answer)
            return self._priced(completion, batch=True)
        return self._priced(await self.live.complete(messages, schema, sampling), batch=False)

    def _priced(self, completion: Completion, *, batch: bool) -> Completion:
        usage = completion.usage
        if usage.cost_usd is not None:
            return completion
        if batch:
            cost = batch_cost_of(self.live.name, self.live.model, usage)
        else:
            cost = cost_of(self.live.model, usage)
        return replace(completion, usage=usage.model_copy(update={"cost_usd": cost}))

    async def aclose(self) -> None:
        await self.live.aclose()


def open_batch(output: Path) -> tuple[State, Any, Any, SchemaSpec, Settings, Any]:
    """The job's latest batch and what ``collect`` needs to finish it: the state, the batch
    row, the batch client, the schema, the settings and the live provider."""
    from extractor.api import open_job_provider

    path = store_path_for(output)
    if not path.exists():
        raise ConfigError(f"{path} does not exist: submit a batch with `extractor batch submit`")
    with RecordStore.open(path, _stored_fingerprint(path)):
        pass  # brings an older store's tables up to date
    state = State(path)
    batch = state.latest()
    if batch is None:
        state.close()
        raise ConfigError(f"{path} has no batch: submit one with `extractor batch submit`")
    options = dict(batch.job)
    spec = load_schema(options.pop("schema"))
    settings = Settings().with_options(**options)
    provider = open_job_provider(settings)
    if fingerprint_for(spec, provider, settings) != batch.fingerprint:
        state.close()
        raise ConfigError("the batch's job cannot be rebuilt here (provider or model differ)")
    return state, batch, client_for(provider), spec, settings, provider


def _stored_fingerprint(path: Path) -> str:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        row = db.execute("SELECT value FROM meta WHERE name = 'fingerprint'").fetchone()
    finally:
        db.close()
    return str(row[0]) if row else ""


def collect(
    output: Path,
    fmt: Format,
    *,
    on_result: Any = None,
    max_cost: float | None = None,
    live: bool = False,
) -> Collected:
    """Collect the latest batch of ``output`` once it is finished; see the module doc.

    ``max_cost`` caps what the job may cost in all (the batch's answers and the live calls
    that repair or replace them): no document starts live once it could pass the cap, and
    :class:`~extractor.budget.BudgetExceeded` is raised after what finished is committed.
    A batch the provider *failed* would send every document live at full price: that
    needs ``live``.
    """
    state, batch, client, spec, settings, provider = open_batch(output)
    try:
        info = client.retrieve(batch.id)
        if batch.status != COLLECTED_STATUS:
            state.set_status(batch.id, info.status)
        if not info.finished:
            return Collected(info, collected=False)
        if not info.collectable and not live:
            raise ConfigError(
                f"batch {info.id} is {info.status}: no answer came back, so collecting would "
                "send every document live at the full price; pass --live to do that"
            )
        answers = client.answers(info) if info.collectable else {}
        if max_cost is not None:
            settings = settings.with_options(max_cost=max_cost)
        summary = _commit_all(
            state, batch, spec, settings, provider, answers, output, fmt, on_result
        )
        state.set_status(batch.id, COLLECTED_STATUS)
        return Collected(info, True, summary, state.totals(batch.fingerprint))
    finally:
        client.close()
        state.close()


def _commit_all(
    state: State, batch: Any, spec: SchemaSpec, settings: Settings, provider: Any,
    answers: dict[str, dict[str, Any]], output: Path, fmt: Format, on_result: Any,
) -> JobSummary:  # fmt: skip
    path = store_path_for(output)
    summary = JobSummary(store_path=path, fingerprint=batch.fingerprint)
    with RecordStore.open(path, batch.fingerprint) as store:
        items = [i for i in state.items(batch.id) if not _committed(store, i)]
        summary.pending = len(items)
        primed = PrimedProvider(provider, _by_body(items, answers))
        by_index = {item.index: item for item in items}
        todo = [(item.index, Path(item.source)) for item in items]
        budget = None if settings.max_cost is None else Budget.resumed(settings.max_cost, store)
        results = iterate_in_thread(
            lambda: run_indexed(todo, spec, settings, primed, budget=budget), primed
        )
        try:
            for result in results:
                item = by_index[result.index]
                batched = item.body_sha256 in primed.served
                state.record_costs(batch.fingerprint, _key(result, item), batch.id,
                                   _ledger_rows(result, batched))  # fmt: skip
                store.commit(result.record(), source_key=item.source_key)
                summary.add(result)
                if on_result is not None:
                    on_result(result)
        finally:
            results.close()
            summary.counts = store.counts()
            summary.written = write_records(
                store.records, output, fmt, mode=file_mode(path), model=spec.model
            )
            store.note_exports(summary.written)
    return summary


def _committed(store: RecordStore, item: Item) -> bool:
    if item.sha256 is not None:
        return store.record_of(item.sha256, item.source) is not None
    return item.source in store.sources_done()


def _by_body(items: list[Item], answers: dict[str, dict[str, Any]]) -> dict[str, list[Any]]:
    """Body sha256 → the batch's successful answers to it (failed lines go live)."""
    primed: dict[str, list[Any]] = {}
    for item in items:
        answer = answers.get(item.custom_id) or {}
        if item.body_sha256 and answer.get("status_code") == 200 and answer.get("body"):
            primed.setdefault(item.body_sha256, []).append(answer["body"])
    return primed


def _key(result: Result[Any], item: Item) -> str:
    return f"sha256:{result.sha256}:{result.source}" if result.sha256 else item.custom_id


def _ledger_rows(result: Result[Any], batched: bool) -> list[LedgerRow]:
    """One row per call: the first request of a batched document was the batch's."""
    return [
        LedgerRow(a.number, "batch" if batched and a.number == 1 else "live",
                  a.prompt_tokens, a.completion_tokens, a.cost_usd)
        for a in result.attempts
    ]  # fmt: skip
