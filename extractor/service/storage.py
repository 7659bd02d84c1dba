"""Where a service keeps its state under ``--data``, and the SQLite file that indexes it.

Layout::

    DATA/service.db                  jobs, their documents, and reviewers' corrections
    DATA/jobs/<job id>/uploads/<n>   the uploaded files, under names the server chose
    DATA/jobs/<job id>/records.db    the job's records: a RecordStore, as the CLI's
    DATA/cache/pages/<sha256>-<dpi>/ page images rendered for the review page
    DATA/tmp/                        uploads being received (emptied at start)

``service.db`` says what a job *is* (its schema, fingerprint, files); the job's record
store says what is *done*. A job's rows and files are written before its ``202`` is
sent, so a job the client was told about survives a ``kill -9``; its records are
committed one by one as documents finish. Corrections are rows of their own, never
written into the model's record: both are kept.

Migrations are append-only, as in :mod:`extractor.store`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from extractor.errors import ConfigError

__all__ = ["DocumentRow", "JobRow", "ServiceDB", "now_iso"]

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE jobs (
            id          TEXT PRIMARY KEY,
            schema      TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            status      TEXT NOT NULL,    -- queued, running, done, failed, cancelled
            total       INTEGER NOT NULL,
            created_at  TEXT NOT NULL,
            finished_at TEXT,
            error       TEXT,
            totals      BLOB              -- done/ok/failed/cost_usd once finished (orjson)
        )""",
        """CREATE TABLE documents (
            job_id  TEXT NOT NULL,
            idx     INTEGER NOT NULL,
            label   TEXT NOT NULL,        -- the client's file name: shown, never a path
            stored  TEXT NOT NULL,        -- the server's file name under the job's uploads/
            sha256  TEXT NOT NULL,
            size    INTEGER NOT NULL,
            PRIMARY KEY (job_id, idx)
        )""",
        "CREATE INDEX documents_sha256 ON documents (job_id, sha256)",
        """CREATE TABLE corrections (
            id       INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id   TEXT NOT NULL,
            sha256   TEXT NOT NULL,
            data     BLOB NOT NULL,       -- the corrected data, validated (orjson)
            saved_at TEXT NOT NULL
        )""",
        "CREATE INDEX corrections_document ON corrections (job_id, sha256, id)",
    ),
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class JobRow:
    id: str
    schema: str
    fingerprint: str
    status: str
    total: int
    created_at: str
    finished_at: str | None
    error: str | None
    totals: dict[str, Any] | None


@dataclass(frozen=True)
class DocumentRow:
    job_id: str
    index: int
    label: str
    stored: str
    sha256: str
    size: int


class ServiceDB:
    """The service's index (``DATA/service.db``); safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None,
                                   check_same_thread=False)  # fmt: skip
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        with self._transaction():
            self._migrate()

    # -- jobs -----------------------------------------------------------------------------

    def add_job(self, job: JobRow, documents: Iterable[DocumentRow]) -> None:
        """Record a new job and its documents in one transaction."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?)",
                (job.id, job.schema, job.fingerprint, job.status, job.total, job.created_at,
                 None, None, None),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO documents VALUES (?,?,?,?,?,?)",
                [(d.job_id, d.index, d.label, d.stored, d.sha256, d.size) for d in documents],
            )

    def set_status(
        self,
        job_id: str,
        status: str,
        *,
        error: str | None = None,
        totals: dict[str, Any] | None = None,
    ) -> None:
        finished = now_iso() if status in ("done", "failed", "cancelled") else None
        blob = None if totals is None else orjson.dumps(totals)
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET status = ?, error = ?, totals = ?, finished_at = ? WHERE id = ?",
                (status, error, blob, finished, job_id),
            )

    def jobs(self) -> list[JobRow]:
        """Every job, oldest first."""
        rows = self._query("SELECT * FROM jobs ORDER BY created_at, id")
        return [_job(row) for row in rows]

    def documents(self, job_id: str) -> list[DocumentRow]:
        rows = self._query("SELECT * FROM documents WHERE job_id = ? ORDER BY idx", job_id)
        return [DocumentRow(*row) for row in rows]

    def document(self, job_id: str, sha256: str) -> DocumentRow | None:
        rows = self._query(
            "SELECT * FROM documents WHERE job_id = ? AND sha256 = ? ORDER BY idx LIMIT 1",
            job_id, sha256,
        )  # fmt: skip
        return DocumentRow(*rows[0]) if rows else None

    # -- corrections ----------------------------------------------------------------------

    def add_correction(self, job_id: str, sha256: str, data: dict[str, Any]) -> str:
        """Keep a reviewer's corrected data (earlier saves stay); returns when it was saved."""
        saved_at = now_iso()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO corrections (job_id, sha256, data, saved_at) VALUES (?,?,?,?)",
                (job_id, sha256, orjson.dumps(data), saved_at),
            )
        return saved_at

    def corrections(self, job_id: str) -> dict[str, tuple[dict[str, Any], str]]:
        """The latest correction of each reviewed document: sha256 → (data, saved_at)."""
        rows = self._query(
            "SELECT sha256, data, saved_at FROM corrections WHERE id IN ("
            " SELECT MAX(id) FROM corrections WHERE job_id = ? GROUP BY sha256)",
            job_id,
        )
        return {row[0]: (orjson.loads(row[1]), row[2]) for row in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- internals ------------------------------------------------------------------------

    def _query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        db = self._db
        has_meta = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        version = 0
        if has_meta:
            row = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
        elif db.execute("SELECT 1 FROM sqlite_master").fetchone():
            raise ConfigError(f"{self.path} is a SQLite file, but not an extractor service index")
        if version > len(_MIGRATIONS):
            raise ConfigError(f"{self.path} was written by a newer extractor; upgrade it")
        for step in _MIGRATIONS[version:]:
            for statement in step:
                db.execute(statement)
        db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(len(_MIGRATIONS)),)
        )


def _job(row: tuple[Any, ...]) -> JobRow:
    values = list(row)
    values[8] = None if values[8] is None else orjson.loads(values[8])
    return JobRow(*values)
