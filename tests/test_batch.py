"""Batch round trips in Mistral's and OpenAI's protocols against the scripted server:
submit → the batch completes with some invalid answers → collect validates, commits the
valid ones, repairs the invalid ones live at the normal price (so recorded in the ledger),
and after a kill during collect commits only what is missing."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from extractor.cli import app
from extractor.providers.pricing import PRICES
from extractor.testing import RecordedRequest, Reply, ScriptedServer

PROTOCOLS = {  # protocol → (provider, a priced model, its key variable)
    "mistral": ("mistral", "mistral-medium-latest", "MISTRAL_API_KEY"),
    "openai": ("openai", "gpt-4.1-mini", "OPENAI_API_KEY"),
}
_NUMBER = re.compile(r"receipt no (\d+)")


class Model:
    """Answers a receipt from its number; in the batch, every third one is invalid."""

    def __init__(self, delay: float = 0.0) -> None:
        self.in_batch = False
        self.delay = delay

    def __call__(self, request: RecordedRequest) -> Reply:
        number = int(_NUMBER.search(json.dumps(request.json["messages"])).group(1))  # type: ignore[union-attr]
        total: Any = number + 0.5
        if self.in_batch and number % 3 == 0:
            total = "a lot"  # not a number: fails validation
        answer = {"company": "ACME", "address": None, "date": None, "total": total}
        delay = 0.0 if self.in_batch else self.delay
        return Reply.chat(json.dumps(answer), prompt_tokens=1000, completion_tokens=100,
                          delay=delay)  # fmt: skip


def _folder(tmp_path: Path, count: int) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for number in range(count):
        (folder / f"r{number:02}.txt").write_text(f"ACME\nreceipt no {number}\nTOTAL {number}.50\n")
    return folder


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _submit(protocol: str, folder: Path, out: Path, url: str, *extra: str) -> tuple[int, str]:
    provider, model, _ = PROTOCOLS[protocol]
    return _cli("batch", "submit", str(folder), "-s", "receipt", "-o", str(out),
                "--provider", provider, "--model", model, "--base-url", url,
                "--concurrency", "2", "--include", "*.txt", *extra)  # fmt: skip


def _ledger(out: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(str(out) + ".db")
    try:
        return db.execute(
            "SELECT key, attempt, pricing, prompt_tokens, completion_tokens, cost_usd FROM ledger"
        ).fetchall()
    finally:
        db.close()


@pytest.fixture(params=sorted(PROTOCOLS))
def protocol(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PROTOCOLS[request.param][2], "sk-test-secret")
    return str(request.param)


def test_round_trip_commits_valid_answers_and_repairs_the_rest_live(
    protocol: str, tmp_path: Path
) -> None:
    count = 9
    folder, out = _folder(tmp_path, count), tmp_path / "out" / "r.jsonl"
    model = Model()
    with ScriptedServer(responder=model, batch_protocol=protocol) as server:
        code, output = _submit(protocol, folder, out, server.base_url)
        assert code == 0, output
        assert server.calls == 0  # nothing live yet
        code, output = _cli("batch", "collect", str(out))
        assert code == 4 and "collect again later" in output  # not finished yet

        model.in_batch = True
        server.batches.complete()
        model.in_batch = False
        assert server.batches.answered == count
        code, output = _cli("batch", "collect", str(out))
        assert code == 0, output
        invalid = len([n for n in range(count) if n % 3 == 0])
        assert server.calls == invalid  # one live repair each, nothing else
        assert "sk-test-secret" not in output

    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == count and all(r["status"] == "ok" for r in records)
    assert sorted(r["data"]["total"] for r in records) == [n + 0.5 for n in range(count)]
    price_in, price_out = PRICES[PROTOCOLS[protocol][1]]
    live = (1000 * price_in + 100 * price_out) / 1e6
    rows = _ledger(out)
    assert sorted(r[2] for r in rows) == ["batch"] * count + ["live"] * invalid
    for _, attempt, pricing, *_, cost in rows:
        assert cost == pytest.approx(live * (0.5 if pricing == "batch" else 1.0))
        assert (attempt == 1) == (pricing == "batch")
    repaired = [r for r in records if len(r["attempts"]) == 2]
    assert len(repaired) == invalid
    assert all(r["cost_usd"] == pytest.approx(1.5 * live) for r in repaired)


def test_batch_lines_carry_the_live_request_body_and_the_record_key(
    protocol: str, tmp_path: Path
) -> None:
    folder, out = _folder(tmp_path, 2), tmp_path / "out" / "r.jsonl"
    provider, model, _ = PROTOCOLS[protocol]
    with ScriptedServer(responder=Model(), batch_protocol=protocol) as server:
        assert _submit(protocol, folder, out, server.base_url)[0] == 0
        upload = next(r for r in server.requests if r.path.endswith("/files"))
        assert b'name="purpose"' in upload.body and b"batch" in upload.body
        job = server.batches.jobs[0]
        created = next(r for r in server.requests if r.method == "POST" and "batch" in r.path)
        file_id = created.json["input_file_id" if protocol == "openai" else "input_files"]
        lines = server.batches.file_content(file_id if protocol == "openai" else file_id[0])
        sent = [json.loads(line) for line in lines.decode().splitlines()]
        code, _ = _cli("extract", str(folder), "-s", "receipt", "-o", str(tmp_path / "live.jsonl"),
                       "--provider", provider, "--model", model, "--base-url", server.base_url,
                       "--concurrency", "2", "-q", "--include", "*.txt")  # fmt: skip
        assert code == 0
        live = [r.json for r in server.requests if r.path.endswith("/chat/completions")]
    assert job
    assert sorted(json.dumps(line["body"], sort_keys=True) for line in sent) == sorted(
        json.dumps(body, sort_keys=True) for body in live
    )
    for line in sent:
        assert line["custom_id"].startswith("sha256:") and line["custom_id"].endswith(".txt")
        if protocol == "openai":
            assert line["method"] == "POST" and line["url"] == "/v1/chat/completions"
        else:
            assert set(line) == {"custom_id", "body"}


def test_openai_objects_have_the_published_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_types = pytest.importorskip("openai.types")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    folder, out = _folder(tmp_path, 2), tmp_path / "out" / "r.jsonl"
    with ScriptedServer(responder=Model(), batch_protocol="openai") as server:
        assert _submit("openai", folder, out, server.base_url)[0] == 0
        server.batches.complete()
        import httpx

        batch = httpx.get(f"{server.base_url}/batches/{server.batches.jobs[0]}").json()
        parsed = openai_types.Batch.model_validate(batch)
        assert parsed.status == "completed" and parsed.request_counts.completed == 2
        file = httpx.get(f"{server.base_url}/files/{parsed.output_file_id}").json()
        assert openai_types.FileObject.model_validate(file).purpose == "batch"


def test_a_collect_killed_half_way_commits_only_what_is_missing(
    protocol: str, tmp_path: Path
) -> None:
    count = 12
    folder, out = _folder(tmp_path, count), tmp_path / "out" / "r.jsonl"
    model = Model(delay=0.4)  # live repairs are slow: the kill lands among them
    invalid = len([n for n in range(count) if n % 3 == 0])
    with ScriptedServer(responder=model, batch_protocol=protocol) as server:
        assert _submit(protocol, folder, out, server.base_url)[0] == 0
        model.in_batch = True
        server.batches.complete()
        model.in_batch = False
        command = [sys.executable, "-c", "from extractor.cli import main; main()",
                   "batch", "collect", str(out), "-q"]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while server.calls < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        done = _committed_sources(out)
        assert 0 < len(done) < count  # killed half-way
        waiting = [n for n in range(count) if n % 3 == 0 and not any(
            s.endswith(f"r{n:02}.txt") for s in done)]  # fmt: skip
        before = server.calls
        code, output = _cli("batch", "collect", str(out))
        assert code == 0, output
        assert f"Committed {count - len(done)} record(s)" in output
        # Only the documents not committed were done again: their repairs, nothing else.
        assert server.calls - before == len(waiting)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == count and len({r["source"] for r in records}) == count
    rows = _ledger(out)
    assert len({(r[0], r[1]) for r in rows}) == len(rows) == count + invalid


def _committed_sources(out: Path) -> list[str]:
    db = sqlite3.connect(str(out) + ".db")
    try:
        return [row[0] for row in db.execute("SELECT source FROM records")]
    finally:
        db.close()


def test_submit_refuses_a_provider_without_a_batch_api(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 1)
    code, output = _cli("batch", "submit", str(folder), "-s", "receipt", "-o",
                        str(tmp_path / "o.jsonl"), "--base-url", "http://127.0.0.1:9/v1",
                        "--model", "m")  # fmt: skip
    assert code == 2 and "--provider mistral or openai" in output


def test_submit_with_max_cost_leaves_out_what_would_pass_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "k")
    folder, out = _folder(tmp_path, 10), tmp_path / "out" / "r.jsonl"
    with ScriptedServer(responder=Model(), batch_protocol="mistral") as server:
        code, output = _submit("mistral", folder, out, server.base_url, "--max-cost", "0.0003")
        assert code == 3 and "left out by --max-cost" in output
        created = next(r for r in server.requests if r.path.endswith("/batch/jobs"))
        lines = server.batches.file_content(created.json["input_files"][0]).splitlines()
        assert 0 < len(lines) < 10
        code, output = _submit("mistral", folder, out, server.base_url, "--max-cost", "0")
        assert code == 2 and "not collected yet" in output  # one open batch per output


def test_a_failed_batch_goes_live_only_when_asked(protocol: str, tmp_path: Path) -> None:
    count = 4
    folder, out = _folder(tmp_path, count), tmp_path / "out" / "r.jsonl"
    with ScriptedServer(responder=Model(), batch_protocol=protocol) as server:
        code, output = _submit(protocol, folder, out, server.base_url)
        assert code == 0, output
        server.batches.fail()
        code, output = _cli("batch", "collect", str(out))
        assert code == 2 and "--live" in output and "full price" in output
        assert server.calls == 0, "nothing is paid for without --live"
        code, output = _cli("batch", "collect", str(out), "--live")
        assert code == 0, output
        assert server.calls == count
    assert sorted(r[2] for r in _ledger(out)) == ["live"] * count


def test_collect_stops_its_live_calls_at_max_cost(protocol: str, tmp_path: Path) -> None:
    count = 6
    folder, out = _folder(tmp_path, count), tmp_path / "out" / "r.jsonl"
    price_in, price_out = PRICES[PROTOCOLS[protocol][1]]
    one = (1000 * price_in + 100 * price_out) / 1e6  # a live call's price
    with ScriptedServer(responder=Model(), batch_protocol=protocol) as server:
        code, output = _submit(protocol, folder, out, server.base_url)
        assert code == 0, output
        server.batches.fail()
        cap = 2.5 * one
        code, output = _cli("batch", "collect", str(out), "--live", "--max-cost", f"{cap:.8f}")
        assert code == 3 and "budget_exceeded" in output
        spent = sum(r[5] for r in _ledger(out))
        assert 1 <= server.calls < count and spent <= cap + 1e-12
