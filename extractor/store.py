"""The committed-record store of a folder run: exactly one record per input, kept across kills.

A run commits each document's record (result or classified error) the moment it
finishes; re-running the same job skips what is already committed, ``--retry-failed``
redoes only errors, and the export files are written from the store at the end.

Why SQLite (stdlib ``sqlite3``) in WAL mode rather than an append-only log:

- **Atomic commit per record.** One ``INSERT OR REPLACE`` in one transaction: a record is
  there completely or not at all, and replacing a record (an error retried into a result)
  can never leave two rows or none. A log would need a reader that skips torn tails and
  de-duplicates replaced entries on every resume.
- **Crash-safe.** A transaction is committed once its frames are in the WAL; a killed
  process (SIGKILL, OOM killer, Ctrl-C) loses nothing it committed, and the next open rolls
  back any half-written transaction. ``tests/test_store.py`` kills writers mid-commit.
- **Concurrent readers.** WAL readers never block the writer and see a consistent
  snapshot, so ``sqlite3 out.db "select status, count(*) …"`` works during a run.
- **One file beside the output** (plus its transient ``-wal``/``-shm``), nothing to run.
- **Queryable.** status, source, index and commit time are columns; the record itself is
  the exact JSON the exports write (orjson bytes).

Durability: ``synchronous=FULL``. In WAL mode ``NORMAL`` already survives a killed
*process* (the WAL is in the OS page cache once ``COMMIT`` returns); it differs from
``FULL`` only on power loss or an OS crash, where ``NORMAL`` can roll back the last
transactions. Every record here stands for a paid model call of seconds, while ``FULL``
costs one fsync (milliseconds) per commit, so we pay for the stronger guarantee.

Identity: a record is keyed by the job fingerprint (:func:`job_fingerprint`: schema,
provider, model, mode, prompt version) plus the document's sha256 and its ``source``, or
its ``source`` alone when it has no hash (an unreadable file). Two inputs with the same
bytes under different names are two inputs, with a record each. One store holds one job:
opening it with another fingerprint raises :class:`~extractor.errors.ConfigError` unless
``fresh=True``. A committed record also replaces any other record of the same source (the
file was fixed or changed), so a source never has two records. A ``source_key`` (path,
size, mtime) lets a resumed run skip a committed file without reading it.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with RecordStore.open(folder / "out.db", "job-1") as store:
    ...     store.commit({"index": 0, "source": "a.pdf", "sha256": "ab12", "status": "ok"})
    ...     store.done("ab12"), store.counts()
    ('ok', {'ok': 1})
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

import orjson

from extractor.errors import ConfigError
from extractor.export import json_safe

if TYPE_CHECKING:
    from extractor.schema import SchemaSpec

__all__ = ["RecordStore", "job_fingerprint", "source_key"]

# Append-only: never edit a shipped step, add a new one. ``meta.schema_version`` counts
# the steps applied to a file.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE records (
            fingerprint  TEXT NOT NULL,
            key          TEXT NOT NULL,   -- 'sha256:<hex>[:<path>]', or 'source:<path>'
            sha256       TEXT,
            source       TEXT NOT NULL,
            source_key   TEXT,            -- '<path>|<size>|<mtime_ns>' when the runner knew it
            idx          INTEGER NOT NULL,
            status       TEXT NOT NULL,
            record       BLOB NOT NULL,   -- the record as orjson bytes
            committed_at TEXT NOT NULL,   -- ISO 8601, UTC
            PRIMARY KEY (fingerprint, key)
        )""",
        "CREATE INDEX records_source ON records (fingerprint, source)",
        "CREATE INDEX records_source_key ON records (fingerprint, source_key)",
        "CREATE INDEX records_order ON records (fingerprint, idx, key)",
    ),
    # Keys became 'sha256:<hex>:<path>' (one record per input, duplicates included);
    # lookups by content go through the sha256 column.
    ("CREATE INDEX records_sha256 ON records (fingerprint, sha256)",),
    # Provider batch jobs (extractor.batch): the batches submitted, the document behind
    # each request, and a cost ledger row per model call saying how it was priced.
    (
        """CREATE TABLE batches (
            id           TEXT PRIMARY KEY,  -- the provider's batch id
            fingerprint  TEXT NOT NULL,
            provider     TEXT NOT NULL,
            job          TEXT NOT NULL,     -- JSON: schema spec and job options (no secrets)
            status       TEXT NOT NULL,     -- as the provider last said
            submitted_at TEXT NOT NULL
        )""",
        """CREATE TABLE batch_items (
            batch_id     TEXT NOT NULL,
            custom_id    TEXT NOT NULL,     -- the record key: 'sha256:<hex>:<source>'
            idx          INTEGER NOT NULL,
            source       TEXT NOT NULL,
            sha256       TEXT,
            source_key   TEXT,
            route        TEXT NOT NULL,     -- 'batch', or 'live' (the live path at collect)
            body_sha256  TEXT,              -- of the request body sent in the batch
            PRIMARY KEY (batch_id, custom_id)
        )""",
        """CREATE TABLE ledger (
            fingerprint  TEXT NOT NULL,
            key          TEXT NOT NULL,     -- the record's key
            attempt      INTEGER NOT NULL,
            pricing      TEXT NOT NULL,     -- 'batch' or 'live'
            batch_id     TEXT,
            prompt_tokens     INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            cost_usd     REAL,
            PRIMARY KEY (fingerprint, key, attempt)
        )""",
    ),
    # The export files a run wrote (by name, beside the store): a later run replaces
    # only files this tool wrote.
    ("CREATE TABLE exports (name TEXT PRIMARY KEY, written_at TEXT NOT NULL)",),
)
SCHEMA_VERSION = len(_MIGRATIONS)
_PAGE = 256  # records read per lock hold while iterating
_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})
_FRESH_HINT = (
    "the output was made by a different job (schema/provider/model/mode changed); "
    "pass --fresh to start over"
)


def job_fingerprint(
    schema: SchemaSpec,
    provider: str,
    model: str,
    mode: str,
    prompt_version: str,
    extra: Mapping[str, Any] = _NO_EXTRA,
) -> str:
    """The sha256 (hex) of a canonical JSON of everything that decides a document's answer.

    ``extra`` takes anything else the caller counts as part of the job (sampling, page
    options …); it must be JSON-serialisable, and key order does not matter.
    """
    canonical = {
        "v": 1,
        "schema": {"name": schema.name, "strict": schema.fingerprint()},
        "provider": provider,
        "model": model,
        "mode": mode,
        "prompt_version": prompt_version,
        "extra": dict(extra),
    }
    text = orjson.dumps(json_safe(canonical), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest()


def source_key(path: Path) -> str | None:
    """``"<path>|<size>|<mtime_ns>"``, or None when the path cannot be stat'ed.

    A file whose key is unchanged since its record was committed is taken as unchanged
    (the cheap check that ``make`` and ``rsync`` make); symlinks are followed.
    """
    try:
        stat = path.stat()
    except (OSError, ValueError):
        return None
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"


class RecordStore:
    """One job's committed records in a SQLite file. Use :meth:`open`.

    Safe to share between threads (one connection behind a lock); meant for one writing
    process at a time, with any number of readers.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path, fingerprint: str) -> None:
        self._db = connection
        self._lock = threading.Lock()
        self.path = path
        self.fingerprint = fingerprint

    @classmethod
    def open(cls, path: Path, fingerprint: str, *, fresh: bool = False) -> RecordStore:
        """Open (or create) the store at ``path`` for the job ``fingerprint``.

        Raises:
            ConfigError: the store belongs to another job (and ``fresh`` is False), was
                made by a newer extractor, or is not a store at all.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = None
        try:
            db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            _prepare(db, path, fingerprint, fresh=fresh)
        except BaseException as exc:
            if db is not None:
                db.close()
            if isinstance(exc, sqlite3.Error):
                message = f"cannot use {path} as a record store: {exc}"
                raise ConfigError(message, path=str(path)) from exc
            raise
        return cls(db, path, fingerprint)

    # -- reading --------------------------------------------------------------------------

    def done(self, sha256: str) -> str | None:
        """The status (``ok``/``error``) of the committed record of this content, or None."""
        return self._status("sha256 = ?", sha256)

    def done_by_source_key(self, key: str) -> str | None:
        """The status of the record committed for a file whose :func:`source_key` is ``key``."""
        return self._status("source_key = ?", _text(key))

    def sources_done(self) -> set[str]:
        """Every source with a committed record, unreadable ones (no sha256) included.

        A name that is not valid UTF-8 appears with ``\\xNN`` escapes for its odd bytes.
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT source FROM records WHERE fingerprint = ?", (self.fingerprint,)
            ).fetchall()
        return {row[0] for row in rows}

    def counts(self) -> dict[str, int]:
        """How many records there are of each status, e.g. ``{"ok": 990, "error": 10}``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT status, COUNT(*) FROM records WHERE fingerprint = ? GROUP BY status",
                (self.fingerprint,),
            ).fetchall()
        return dict(rows)

    def record_of(self, sha256: str, source: str) -> dict[str, Any] | None:
        """The committed record of ``source`` with content ``sha256``, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM records WHERE fingerprint = ? AND key = ?",
                (self.fingerprint, f"sha256:{sha256}:{_text(source)}"),
            ).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def committed_cost(self) -> float:
        """The summed ``cost_usd`` of every committed record (what the job has cost)."""
        with self._lock:
            row = self._db.execute(
                "SELECT SUM(json_extract(CAST(record AS TEXT), '$.cost_usd')) FROM records"
                " WHERE fingerprint = ?",
                (self.fingerprint,),
            ).fetchone()
        return float(row[0] or 0.0)

    def records(self, order_by_index: bool = True) -> Iterator[dict[str, Any]]:
        """Every committed record, by input index (or in commit order), read in pages.

        Pages keep memory flat for large runs and never hold the lock while the caller works.
        """
        if order_by_index:
            query = (
                "SELECT idx, key, record FROM records WHERE fingerprint = ? AND (idx, key) > (?, ?)"
                " ORDER BY idx, key LIMIT ?"
            )
            after: tuple[Any, ...] = (-(2**63), "")
        else:
            query = (
                "SELECT rowid, '', record FROM records WHERE fingerprint = ? AND rowid > ?"
                " ORDER BY rowid LIMIT ?"
            )
            after = (-(2**63),)
        while True:
            with self._lock:
                rows = self._db.execute(query, (self.fingerprint, *after, _PAGE)).fetchall()
            for row in rows:
                yield orjson.loads(row[2])
            if len(rows) < _PAGE:
                return
            after = (rows[-1][0], rows[-1][1]) if order_by_index else (rows[-1][0],)

    def exports(self) -> set[str]:
        """The names of the export files runs of this store wrote (beside the store)."""
        with self._lock:
            rows = self._db.execute("SELECT name FROM exports").fetchall()
        return {row[0] for row in rows}

    # -- writing --------------------------------------------------------------------------

    def note_exports(self, paths: list[Path]) -> None:
        """Remember that these export files (beside the store) were written by a run."""
        when = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self._lock, _transaction(self._db):
            self._db.executemany(
                "INSERT OR REPLACE INTO exports VALUES (?, ?)",
                [(_text(Path(p).name), when) for p in paths],
            )

    def commit(self, record: Mapping[str, Any], *, source_key: str | None = None) -> None:
        """Commit one record atomically, replacing any earlier record of the same document.

        The document is ``record["source"]`` with ``record["sha256"]`` (its content when
        it could be read).
        Any other record of the same source goes too (the file changed, or became readable).
        ``source_key`` is :func:`source_key` of the file, taken *before* it was read, so a
        file modified during its run is not skipped by the next one.

        Raises:
            ValueError: the record has no ``source`` or ``status``.
        """
        safe = json_safe(dict(record))
        if not isinstance(safe.get("source"), str) or not isinstance(safe.get("status"), str):
            raise ValueError("a record needs a 'source' and a 'status'")
        source = _text(record["source"])
        digest = record.get("sha256")
        key = f"sha256:{digest}:{source}" if digest else f"source:{source}"
        row = (
            self.fingerprint, key, digest or None, source,
            None if source_key is None else _text(source_key),
            int(safe.get("index") or 0), safe["status"], orjson.dumps(safe),
            datetime.now(UTC).isoformat(timespec="milliseconds"),
        )  # fmt: skip
        with self._lock, _transaction(self._db):
            self._db.execute(
                "DELETE FROM records WHERE fingerprint = ? AND source = ? AND key <> ?",
                (self.fingerprint, source, key),
            )
            self._db.execute("INSERT OR REPLACE INTO records VALUES (?,?,?,?,?,?,?,?,?)", row)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RecordStore({str(self.path)!r}, fingerprint={self.fingerprint[:12]!r})"

    def _status(self, where: str, value: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT status FROM records WHERE fingerprint = ? AND {where}",
                (self.fingerprint, value),
            ).fetchone()
        return None if row is None else str(row[0])


# -- opening ------------------------------------------------------------------------------


def _prepare(db: sqlite3.Connection, path: Path, fingerprint: str, *, fresh: bool) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    # IMMEDIATE takes the write lock first, so two processes opening one new file at once
    # cannot both create the tables or both claim the job.
    with _transaction(db):
        version = _migrate(db, path)
        row = db.execute("SELECT value FROM meta WHERE name = 'fingerprint'").fetchone()
        if row is not None and row[0] != fingerprint and not fresh:
            raise ConfigError(
                f"{path}: {_FRESH_HINT} (stored job {row[0][:12]}, this job {fingerprint[:12]})",
                path=str(path),
            )
        if fresh:
            db.execute("DELETE FROM records")
        db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [("fingerprint", fingerprint), ("schema_version", str(version))],
        )


def _migrate(db: sqlite3.Connection, path: Path) -> int:
    has_meta = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    version = 0
    if has_meta:
        row = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
    elif db.execute("SELECT 1 FROM sqlite_master").fetchone():
        raise ConfigError(f"{path} is a SQLite file, but not an extractor record store")
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"{path} was written by a newer extractor (store version {version}, "
            f"this one knows {SCHEMA_VERSION}); upgrade extractor or pass --fresh",
            path=str(path),
        )
    for step in _MIGRATIONS[version:]:
        for statement in step:
            db.execute(statement)
    return SCHEMA_VERSION


class _transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on any exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._rollback()
            return
        try:
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()  # a failed COMMIT (disk full, busy) must not leave it open
            raise

    def _rollback(self) -> None:
        if self._db.in_transaction:  # SQLite may have rolled back on its own already
            self._db.execute("ROLLBACK")


def _text(value: str) -> str:
    """``value`` as SQLite can store it, losslessly: undecodable bytes in file names
    (lone surrogates from ``os.fsdecode``) become ``\\xNN`` escapes instead of an error."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = value.encode("utf-8", "surrogateescape")  # the file name's real bytes
        except UnicodeEncodeError:
            raw = value.encode("utf-8", "surrogatepass")  # any other lone surrogate
        return raw.decode("utf-8", "backslashreplace")
    return value
