"""A job's batches in its store: what was submitted, the document behind each request,
and the cost ledger (one row per model call, priced ``batch`` or ``live``).

The tables come from the store's migrations (:mod:`extractor.store`); this module opens
its own connection to the same SQLite file (WAL: readers and one writer at a time).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = ["COLLECTED_STATUS", "BatchRow", "Item", "LedgerRow", "State", "now"]

COLLECTED_STATUS = "collected"  # ours: every answer of the batch is committed


@dataclass(frozen=True)
class Item:
    """One document of a batch: its request's ``custom_id`` (the record key) and where
    its record goes. ``route`` is ``batch`` (its request is in the batch) or ``live``
    (it needs more than one request, or could not be read: done live at collect)."""

    custom_id: str
    index: int
    source: str
    sha256: str | None
    source_key: str | None
    route: str
    body_sha256: str | None


@dataclass(frozen=True)
class BatchRow:
    id: str
    fingerprint: str
    provider: str
    job: dict[str, Any]
    status: str
    submitted_at: str


@dataclass(frozen=True)
class LedgerRow:
    attempt: int
    pricing: str  # 'batch' or 'live'
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None


class State:
    """The batch tables of the store at ``path`` (opened with :class:`RecordStore` first,
    so the tables exist)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        self._db.execute("PRAGMA synchronous=FULL")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def add(self, batch: BatchRow, items: list[Item]) -> None:
        """Record a submitted batch and its documents, in one transaction."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO batches VALUES (?,?,?,?,?,?)",
                (batch.id, batch.fingerprint, batch.provider, orjson.dumps(batch.job).decode(),
                 batch.status, batch.submitted_at),
            )  # fmt: skip
            self._db.executemany(
                "INSERT INTO batch_items VALUES (?,?,?,?,?,?,?,?)",
                [(batch.id, i.custom_id, i.index, i.source, i.sha256, i.source_key, i.route,
                  i.body_sha256) for i in items],
            )  # fmt: skip

    def latest(self) -> BatchRow | None:
        row = self._db.execute(
            "SELECT id, fingerprint, provider, job, status, submitted_at FROM batches"
            " ORDER BY submitted_at DESC, rowid DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return BatchRow(row[0], row[1], row[2], orjson.loads(row[3]), row[4], row[5])

    def set_status(self, batch_id: str, status: str) -> None:
        with self._transaction():
            self._db.execute("UPDATE batches SET status = ? WHERE id = ?", (status, batch_id))

    def items(self, batch_id: str) -> list[Item]:
        rows = self._db.execute(
            "SELECT custom_id, idx, source, sha256, source_key, route, body_sha256"
            " FROM batch_items WHERE batch_id = ? ORDER BY idx, custom_id",
            (batch_id,),
        ).fetchall()
        return [Item(*row) for row in rows]

    def record_costs(
        self, fingerprint: str, key: str, batch_id: str, rows: list[LedgerRow]
    ) -> None:
        """A document's calls, replacing any rows an interrupted collect left for it."""
        with self._transaction():
            self._db.execute(
                "DELETE FROM ledger WHERE fingerprint = ? AND key = ?", (fingerprint, key)
            )
            self._db.executemany(
                "INSERT INTO ledger VALUES (?,?,?,?,?,?,?,?)",
                [(fingerprint, key, r.attempt, r.pricing,
                  batch_id if r.pricing == "batch" else None, r.prompt_tokens,
                  r.completion_tokens, r.cost_usd) for r in rows],
            )  # fmt: skip

    def totals(self, fingerprint: str) -> dict[str, dict[str, float]]:
        """Per pricing (``batch``, ``live``): calls, prompt and completion tokens, cost."""
        rows = self._db.execute(
            "SELECT pricing, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens),"
            " SUM(cost_usd) FROM ledger WHERE fingerprint = ? GROUP BY pricing",
            (fingerprint,),
        ).fetchall()
        return {
            row[0]: {"calls": row[1], "prompt_tokens": row[2] or 0,
                     "completion_tokens": row[3] or 0, "cost_usd": row[4] or 0.0}
            for row in rows
        }  # fmt: skip


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
