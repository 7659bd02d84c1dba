"""The committed-record store, on real SQLite files (and real SIGKILLs)."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

import extractor.store as store_module
from extractor.errors import ConfigError
from extractor.export import json_safe
from extractor.prompt import PROMPT_VERSION
from extractor.schema import SchemaSpec
from extractor.store import RecordStore, job_fingerprint, source_key

ROOT = Path(__file__).resolve().parents[1]
JOB = "job-a" * 8
OTHER_JOB = "job-b" * 8


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def record(n: int, status: str = "ok", *, digest: str | None = "", **extra: Any) -> dict[str, Any]:
    """A record shaped like ``Result.record()``."""
    error = None if status == "ok" else {"type": "provider_timeout", "message": "slow",
                                         "reasons": [], "last_output": None}  # fmt: skip
    base: dict[str, Any] = {
        "index": n, "source": f"docs/{n}.pdf", "sha256": sha(f"doc{n}") if digest == "" else digest,
        "status": status, "data": {"total": n} if status == "ok" else None, "error": error,
        "provider": "openrouter", "model": "m", "attempts": [], "cost_usd": 0.001,
        "usage": {"prompt_tokens": 10, "completion_tokens": 5}, "pages": 1, "requests": 1,
        "latency_s": 0.5, "warnings": [],
    }  # fmt: skip
    base.update(extra)
    return base


def rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT key, status FROM records ORDER BY key").fetchall()


# -- identity -----------------------------------------------------------------------------


class Invoice(BaseModel):
    number: str
    total: float


class Receipt(BaseModel):
    number: str
    total: float
    currency: str


def test_job_fingerprint_changes_with_every_part_of_the_job() -> None:
    spec = SchemaSpec.from_model(Invoice)
    job = (spec, "openrouter", "m", "auto", PROMPT_VERSION)
    base = job_fingerprint(*job, {"a": 1, "b": [2]})
    assert len(base) == 64 and int(base, 16) >= 0
    assert base == job_fingerprint(*job, {"b": [2], "a": 1})  # key order does not matter
    variants = {
        job_fingerprint(SchemaSpec.from_model(Receipt), "openrouter", "m", "auto", PROMPT_VERSION),
        job_fingerprint(spec, "mistral", "m", "auto", PROMPT_VERSION),
        job_fingerprint(spec, "openrouter", "m2", "auto", PROMPT_VERSION),
        job_fingerprint(spec, "openrouter", "m", "text", PROMPT_VERSION),
        job_fingerprint(spec, "openrouter", "m", "auto", PROMPT_VERSION + "x"),
        job_fingerprint(spec, "openrouter", "m", "auto", PROMPT_VERSION, {"a": 2, "b": [2]}),
        job_fingerprint(spec, "openrouter", "m", "auto", PROMPT_VERSION),
    }
    assert base not in variants and len(variants) == 7


def test_source_key_tracks_size_and_mtime(tmp_path: Path) -> None:
    path = tmp_path / "a.pdf"
    path.write_bytes(b"%PDF-1.4")
    key = source_key(path)
    stat = path.stat()
    assert key == f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert source_key(path) not in (None, key)
    assert source_key(tmp_path / "missing.pdf") is None


# -- committing and resuming --------------------------------------------------------------


def test_commit_survives_reopen_and_answers_done(tmp_path: Path) -> None:
    path = tmp_path / "out.db"
    with RecordStore.open(path, JOB) as store:
        store.commit(record(0))
        store.commit(record(1, "error"), source_key="docs/1.pdf|10|20")
    with RecordStore.open(path, JOB) as store:
        assert store.done(sha("doc0")) == "ok"
        assert store.done(sha("doc1")) == "error"
        assert store.done(sha("doc2")) is None
        assert store.done_by_source_key("docs/1.pdf|10|20") == "error"
        assert store.done_by_source_key("docs/1.pdf|10|21") is None
        assert store.counts() == {"ok": 1, "error": 1}
        assert store.sources_done() == {"docs/0.pdf", "docs/1.pdf"}
        assert list(store.records()) == [record(0), record(1, "error")]


def test_a_commit_is_visible_to_another_reader_at_once(tmp_path: Path) -> None:
    path = tmp_path / "out.db"
    with RecordStore.open(path, JOB) as store:
        store.commit(record(0))
        reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            assert reader.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            (blob,) = reader.execute("SELECT record FROM records").fetchone()
            assert orjson.loads(blob) == record(0)
            store.commit(record(1))  # the writer is not blocked by an open reader
            assert reader.execute("SELECT COUNT(*) FROM records").fetchone() == (2,)
        finally:
            reader.close()


def test_a_different_job_is_refused_and_fresh_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "out.db"
    with RecordStore.open(path, JOB) as store:
        store.commit(record(0))
    with pytest.raises(ConfigError, match=r"different job.*pass --fresh to start over"):
        RecordStore.open(path, OTHER_JOB)
    with RecordStore.open(path, JOB) as store:  # the refusal changed nothing
        assert store.done(sha("doc0")) == "ok"
    with RecordStore.open(path, OTHER_JOB, fresh=True) as store:
        assert store.counts() == {}
        assert store.done(sha("doc0")) is None
        store.commit(record(5))
    with RecordStore.open(path, OTHER_JOB) as store:
        assert [r["index"] for r in store.records()] == [5]
    with pytest.raises(ConfigError, match="--fresh"):
        RecordStore.open(path, JOB)


def test_recommitting_a_record_never_duplicates_it(tmp_path: Path) -> None:
    path = tmp_path / "out.db"
    with RecordStore.open(path, JOB) as store:
        for _ in range(3):
            store.commit(record(7))
        assert store.counts() == {"ok": 1}
        assert len(list(store.records())) == 1
    assert len(rows(path)) == 1


def test_retry_failed_replaces_an_error_with_a_result(tmp_path: Path) -> None:
    path = tmp_path / "out.db"
    with RecordStore.open(path, JOB) as store:
        store.commit(record(3, "error"))
        assert store.done(sha("doc3")) == "error"
        store.commit(record(3, "ok", attempts=[{"n": 1}]))
        assert store.done(sha("doc3")) == "ok"
        assert store.counts() == {"ok": 1}
        assert [r["attempts"] for r in store.records()] == [[{"n": 1}]]
    assert rows(path) == [(f"sha256:{sha('doc3')}:docs/3.pdf", "ok")]


def test_unreadable_files_are_keyed_by_source_and_replaced_once_readable(tmp_path: Path) -> None:
    path = tmp_path / "out.db"
    with RecordStore.open(path, JOB) as store:
        unreadable = record(4, "error", digest=None, source="docs/locked.pdf")
        store.commit(unreadable, source_key="docs/locked.pdf|0|1")
        store.commit(unreadable, source_key="docs/locked.pdf|0|1")
        assert store.sources_done() == {"docs/locked.pdf"}
        assert store.done_by_source_key("docs/locked.pdf|0|1") == "error"
        assert store.counts() == {"error": 1}
        # the file became readable: its record replaces the error, keyed by content now
        store.commit(record(4, source="docs/locked.pdf"), source_key="docs/locked.pdf|9|2")
        assert store.counts() == {"ok": 1}
        assert store.done_by_source_key("docs/locked.pdf|0|1") is None
        assert store.done(sha("doc4")) == "ok"


def test_a_changed_file_keeps_one_record_for_its_source(tmp_path: Path) -> None:
    with RecordStore.open(tmp_path / "out.db", JOB) as store:
        store.commit(record(0, digest=sha("version 1")))
        store.commit(record(0, digest=sha("version 2")))
        assert store.done(sha("version 1")) is None
        assert store.done(sha("version 2")) == "ok"
        assert [r["sha256"] for r in store.records()] == [sha("version 2")]


def test_records_come_in_index_order_across_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_PAGE", 3)
    order = list(range(20))
    random.Random(4).shuffle(order)
    with RecordStore.open(tmp_path / "out.db", JOB) as store:
        for n in order:
            store.commit(record(n))
        store.commit(record(5, digest=sha("twin of 5"), source="docs/5b.pdf"))  # a tie on index
        by_index = [(r["index"], r["sha256"]) for r in store.records()]
        assert [i for i, _ in by_index] == sorted([*range(20), 5])
        assert len(set(by_index)) == 21
        commit_order = [r["index"] for r in store.records(order_by_index=False)]
        assert commit_order == [*order, 5]


def test_lone_surrogates_do_not_break_a_commit(tmp_path: Path) -> None:
    path = tmp_path / "out.db"
    hostile = record(0, data={"text": "Total\ud800 12\udfff"}, warnings=["hidden \udc80 text"])
    # two unreadable files whose names differ only in bytes that are not UTF-8
    name_a, name_b = os.fsdecode(b"docs/\xff.pdf"), os.fsdecode(b"docs/\xfe.pdf")
    with RecordStore.open(path, JOB) as store:
        store.commit(hostile)
        store.commit(record(1, "error", digest=None, source=name_a), source_key=f"{name_a}|0|1")
        store.commit(record(2, "error", digest=None, source=name_b), source_key=f"{name_b}|0|1")
        assert store.counts() == {"ok": 1, "error": 2}  # not collapsed into one "?" name
        assert store.done_by_source_key(f"{name_a}|0|1") == "error"
        assert store.sources_done() == {"docs/0.pdf", "docs/\\xff.pdf", "docs/\\xfe.pdf"}
        first = next(store.records())
    assert first == json_safe(hostile)
    assert first["data"]["text"] == "Total? 12?"


def test_threads_can_share_one_store(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    with RecordStore.open(tmp_path / "out.db", JOB) as store:

        def commit_many(start: int) -> None:
            try:
                for n in range(start, start + 25):
                    store.commit(record(n))
                    store.done(sha(f"doc{n}"))
            except BaseException as exc:  # reported below; a thread cannot fail the test
                errors.append(exc)

        threads = [threading.Thread(target=commit_many, args=(k * 100,)) for k in range(4)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            sum(1 for _ in store.records())  # a reader in the main thread meanwhile
        for thread in threads:
            thread.join()
        assert errors == []
        assert store.counts() == {"ok": 100}


# -- refusing what is not a store ---------------------------------------------------------


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "out.db"
    junk.write_bytes(b"not a database " * 1000)
    with pytest.raises(ConfigError, match=r"cannot use .* as a record store"):
        RecordStore.open(junk, JOB)
    assert junk.read_bytes() == b"not a database " * 1000

    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(ConfigError, match="not an extractor record store"):
        RecordStore.open(foreign, JOB)


def test_a_store_from_a_newer_extractor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "out.db"
    RecordStore.open(path, JOB).close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone() == (
            str(store_module.SCHEMA_VERSION),
        )
        db.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    with pytest.raises(ConfigError, match="newer extractor"):
        RecordStore.open(path, JOB)


# -- SIGKILL at random moments --------------------------------------------------------------

# A zygote pays the package import once, then forks one writer per line it reads and
# reports how that writer ended. A writer opens the store itself (nothing SQLite crosses
# the fork) and commits records (3-16 KB) as fast as it can, logging each one *after*
# commit() returns; every third step re-commits the previous document, error -> ok, so
# kills also land inside replacements.
ZYGOTE = """
import hashlib, os, sys, traceback
from pathlib import Path
from extractor.store import RecordStore

store_path, log_path, job = sys.argv[1], sys.argv[2], sys.argv[3]

def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()

def make(n, attempt):
    blob = sha(f"{n}-{attempt}") * (50 + n % 200)
    return {
        "index": n, "source": f"docs/{n}.pdf", "sha256": sha(f"doc{n}"),
        "status": "ok" if attempt else "error",
        "data": {"blob": blob, "digest": sha(blob), "attempt": attempt},
        "error": None if attempt else {"type": "provider_timeout", "message": "slow"},
    }

def write(base):
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    with RecordStore.open(Path(store_path), job) as store:
        for i in range(20_000):
            steps = [(base + i, 0)] + ([(base + i - 1, 1)] if i % 3 == 2 else [])
            for n, attempt in steps:
                store.commit(make(n, attempt))
                os.write(log, f"{n} {attempt}\\n".encode())

for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            write(int(line))
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    print(pid, flush=True)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


def lines_in(log: Path) -> int:
    return log.read_bytes().count(b"\n") if log.exists() else 0


def kill_writer(zygote: subprocess.Popen[str], log: Path, base: int, delay: float) -> None:
    """Start a writer, let it commit at least once, SIGKILL it ``delay`` seconds later."""
    assert zygote.stdin is not None and zygote.stdout is not None
    before = lines_in(log)
    zygote.stdin.write(f"{base}\n")
    zygote.stdin.flush()
    pid = int(zygote.stdout.readline())
    deadline = time.monotonic() + 30
    while lines_in(log) == before:
        assert time.monotonic() < deadline, "the writer never committed"
        time.sleep(0.002)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    assert int(zygote.stdout.readline()) == -signal.SIGKILL  # not an exit of its own


def test_sigkill_at_random_moments_loses_no_committed_record(tmp_path: Path) -> None:
    store_path, log = tmp_path / "out.db", tmp_path / "commits.log"
    rng = random.Random(20240815)
    kills = 8
    zygote = subprocess.Popen(
        [sys.executable, "-c", ZYGOTE, str(store_path), str(log), JOB],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        for round_ in range(kills):
            kill_writer(zygote, log, base=round_ * 100_000, delay=rng.uniform(0.0, 0.25))
    finally:
        _, stderr = zygote.communicate(timeout=30)  # closes its stdin: it exits
    assert zygote.returncode == 0, stderr

    # what the writers saw committed (a torn last line was being written at the kill)
    logged: dict[int, int] = {}
    for line in log.read_bytes().split(b"\n")[:-1]:
        n, attempt = map(int, line.split())
        logged[n] = max(logged.get(n, 0), attempt)

    with sqlite3.connect(store_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    with RecordStore.open(store_path, JOB) as store:
        stored = list(store.records())
        counts = store.counts()
    assert sum(counts.values()) == len(stored)
    assert len({r["sha256"] for r in stored}) == len(stored)  # one record per document
    by_index = {r["index"]: r for r in stored}
    for n, r in by_index.items():  # each record is whole and self-consistent
        data = r["data"]
        assert hashlib.sha256(data["blob"].encode()).hexdigest() == data["digest"]
        assert r["status"] == ("ok" if data["attempt"] else "error")
        assert r["sha256"] == sha(f"doc{n}") and r["source"] == f"docs/{n}.pdf"
    for n, attempt in logged.items():  # every commit that returned survived the kill
        assert n in by_index, f"committed record {n} was lost"
        assert by_index[n]["data"]["attempt"] >= attempt
    # at most the one commit per kill that finished without reaching the log
    unlogged = sum(1 for n, r in by_index.items() if r["data"]["attempt"] > logged.get(n, -1))
    assert unlogged <= kills
    assert len(logged) >= kills


def test_the_same_bytes_under_two_names_are_two_records(tmp_path: Path) -> None:
    path = tmp_path / "out.db"
    with RecordStore.open(path, JOB) as store:
        store.commit(record(1, source="docs/a.pdf", sha256=sha("same")))
        store.commit(record(2, source="copies/a.pdf", sha256=sha("same")))
        assert store.counts() == {"ok": 2}
        assert [r["source"] for r in store.records()] == ["docs/a.pdf", "copies/a.pdf"]
        assert store.done(sha("same")) == "ok"
