"""Kill a folder run with SIGKILL at random moments, resume, and count records and calls."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from extractor.store import RecordStore
from extractor.testing import RecordedRequest, Reply, ScriptedServer

DOCUMENTS = 200
CONCURRENCY = 4
KILLS = 4
ANSWER = {"company": "ACME", "address": None, "date": "2024-01-01", "total": 12.5}


def _answer(_: RecordedRequest) -> Reply:
    return Reply.chat(json.dumps(ANSWER), delay=0.04)


def _run(folder: Path, out: Path, base_url: str) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-c", "from extractor.cli import main; main()",
        "extract", str(folder), "-s", "receipt", "-o", str(out), "-q", "--include", "*.txt",
        "--base-url", base_url, "--model", "m", "--concurrency", str(CONCURRENCY),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_kill_and_resume_gives_exactly_one_record_per_document(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for number in range(DOCUMENTS):
        (folder / f"r{number:03}.txt").write_text(f"SHOP {number}\nTOTAL {number}.50\n")
    out = tmp_path / "out" / "receipts.jsonl"
    rng = random.Random(7)
    kills = 0
    with ScriptedServer(responder=_answer) as server:
        for _ in range(KILLS):
            before = server.calls
            process = _run(folder, out, server.base_url)
            deadline = time.monotonic() + 60
            # Kill at a random moment once the run is making calls.
            while server.calls == before and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.05, 1.0))
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                kills += 1
        final = _run(folder, out, server.base_url)
        _, stderr = final.communicate(timeout=300)
        assert final.returncode == 0, stderr.decode()
        calls = server.calls

        records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        names = [Path(r["source"]).name for r in records]
        assert len(names) == DOCUMENTS == len(set(names))
        assert all(r["status"] == "ok" for r in records)
        assert kills >= 2
        assert calls <= DOCUMENTS + kills * CONCURRENCY
        with _store(out) as store:
            assert store.counts() == {"ok": DOCUMENTS}

        again = _run(folder, out, server.base_url)
        again.communicate(timeout=120)
        assert again.returncode == 0
        assert server.calls == calls  # the finished job makes no model call


def _store(out: Path) -> RecordStore:
    import sqlite3

    path = out.with_name(out.name + ".db")
    with sqlite3.connect(path) as db:
        (fingerprint,) = db.execute("select value from meta where name = 'fingerprint'").fetchone()
    return RecordStore.open(path, fingerprint)


def test_summary_counts_this_run_only_after_a_resume(tmp_path: Path) -> None:
    from collections import Counter

    from extractor.api import open_job_provider
    from extractor.jobs import run_job
    from extractor.schema import load_schema
    from extractor.settings import Settings

    folder = tmp_path / "docs"
    folder.mkdir()
    for number in range(5):
        (folder / f"r{number}.txt").write_text(f"SHOP {number}\nTOTAL {number}.50\n")
    files = sorted(folder.iterdir())
    seen: Counter[str] = Counter()

    def answer(request: RecordedRequest) -> Reply:
        shop = next(n for n in "01234" if f"SHOP {n}" in json.dumps(request.json))
        seen[shop] += 1
        bad = shop == "4" or (shop == "3" and seen[shop] == 1)  # 3 needs a repair, 4 fails
        text = "not json" if bad else json.dumps(ANSWER)
        return Reply.chat(text, prompt_tokens=100, completion_tokens=10 + int(shop), cost=0.25)

    out = tmp_path / "out" / "receipts.jsonl"
    with ScriptedServer(responder=answer) as server:
        settings = Settings(base_url=server.base_url, model="m", concurrency=2, max_repairs=2)
        provider = open_job_provider(settings)
        spec = load_schema("receipt")
        first = run_job(files[:3], spec, settings, provider, output=out, fmt="jsonl")
        assert (first.processed, first.skipped, first.repairs) == (3, 0, 0)
        second = run_job(files, spec, settings, provider, output=out, fmt="csv")

    records = list(second.records())  # read afresh from the store
    assert [Path(r["source"]).name for r in records] == [f"r{n}.txt" for n in range(5)]
    assert [r["index"] for r in records] == list(range(5))
    this_run = records[3:]
    assert (second.processed, second.skipped) == (2, 3)
    assert second.counts == {"ok": 4, "error": 1}
    assert not second.all_ok
    assert second.prompt_tokens == 100 * (2 + 3)  # r3: answer + repair; r4: three tries
    assert second.completion_tokens == 13 * 2 + 14 * 3
    assert second.prompt_tokens == sum(r["usage"]["prompt_tokens"] for r in this_run)
    assert second.completion_tokens == sum(r["usage"]["completion_tokens"] for r in this_run)
    assert second.cost_usd == pytest.approx(0.25 * 5) == sum(r["cost_usd"] for r in this_run)
    assert second.repairs == 1 + 2
    assert second.errors == Counter({records[4]["error"]["type"]: 1})
    assert second.written == [out]
    assert out.read_text().count("\n") == 6  # the CSV: a header and every record of the job
