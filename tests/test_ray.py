"""Ray Data: one record per input, equal to the local engine's; a killed actor costs no
second record and no second payment for what it had finished.

One local Ray instance (``ray.init(num_cpus=2)``) serves the whole module: starting one
takes seconds, so the tests share it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from extractor.cli import app
from extractor.testing import RecordedRequest, Reply, ScriptedServer

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
pytest.importorskip("ray.data")

from extractor.ray import COLUMNS, extract_dataset  # noqa: E402

DOCUMENTS = 200
_NUMBER = re.compile(r"receipt no (\d+)")


@pytest.fixture(scope="module", autouse=True)
def _ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def _answer(request: RecordedRequest) -> Reply:
    """A receipt's answer from what the request shows: its number decides its total."""
    text = json.dumps(request.json["messages"])
    number = int(_NUMBER.search(text).group(1))  # type: ignore[union-attr]
    answer = {"company": "ACME", "address": None, "date": None, "total": number + 0.5}
    return Reply.chat(json.dumps(answer), prompt_tokens=100 + number, completion_tokens=20)


def _folder(tmp_path: Path, count: int) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for number in range(count):
        (folder / f"r{number:03}.txt").write_text(f"ACME\nreceipt no {number}\nTOTAL {number}.50\n")
    return folder


def _without_latency(record: dict[str, Any]) -> dict[str, Any]:
    record = dict(record, latency_s=None)
    record["attempts"] = [dict(a, latency_s=None) for a in record["attempts"]]
    return record


def _extract(folder: Path, out: Path, url: str, *extra: str) -> None:
    result = CliRunner().invoke(app, [
        "extract", str(folder), "-s", "receipt", "-o", str(out), "-q",
        "--base-url", url, "--model", "m", "--concurrency", "4", "--include", "*.txt", *extra,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output


def test_engine_ray_writes_the_same_records_as_the_local_engine(tmp_path: Path) -> None:
    folder = _folder(tmp_path, DOCUMENTS)
    local, remote = tmp_path / "local" / "r.jsonl", tmp_path / "ray" / "r.jsonl"
    with ScriptedServer(responder=_answer) as server:
        _extract(folder, local, server.base_url)
        _extract(folder, remote, server.base_url, "--engine", "ray")
        assert server.calls == 2 * DOCUMENTS
        _extract(folder, remote, server.base_url, "--engine", "ray")  # resumes: all done
        assert server.calls == 2 * DOCUMENTS
    mine = [json.loads(line) for line in local.read_text().splitlines()]
    theirs = [json.loads(line) for line in remote.read_text().splitlines()]
    assert len(theirs) == DOCUMENTS
    assert [_without_latency(r) for r in theirs] == [_without_latency(r) for r in mine]


KILLER = """
import os
from pathlib import Path

from pydantic import BaseModel, field_validator

MARKER = Path(__file__).with_name("killed")


class Receipt(BaseModel):
    company: str | None
    total: float | None

    @field_validator("total")
    @classmethod
    def _die_once(cls, value):
        # The actor validating this answer dies, the first time only.
        if value == {kill} + 0.5 and not MARKER.exists():
            MARKER.write_text("killed")
            os._exit(1)
        return value
"""


def test_a_killed_actor_is_retried_without_a_second_record_or_payment(tmp_path: Path) -> None:
    count, batch, per_actor = 40, 8, 2
    folder = _folder(tmp_path, count)
    schema = tmp_path / "killer.py"
    schema.write_text(KILLER.replace("{kill}", "13"))  # the 6th document of its batch
    ds = ray.data.from_items([{"path": str(p)} for p in sorted(folder.iterdir())])
    with ScriptedServer(responder=_answer) as server:
        out = extract_dataset(
            ds, f"{schema}:Receipt", base_url=server.base_url, model="m",
            concurrency=2 * per_actor, actors=2, batch_size=batch,
        )  # fmt: skip
        rows = out.take_all()
        calls = server.calls
    assert (tmp_path / "killed").exists()  # the actor really died
    assert sorted(r["source"] for r in rows) == sorted(str(p) for p in folder.iterdir())
    assert all(r["status"] == "ok" for r in rows)
    # Only what was in flight in the dead actor is paid again; what it had finished
    # came back from the ledger.
    assert count < calls <= count + per_actor
    assert set(COLUMNS) <= set(rows[0])


def test_rows_of_bytes_and_a_bad_document_keep_one_row_each(tmp_path: Path) -> None:
    items = [
        {"bytes": b"ACME\nreceipt no 1\nTOTAL 1.50\n", "name": "one.txt"},
        {"bytes": b"\x00\x01 not a document", "name": "junk.bin"},
    ]
    ds = ray.data.from_items(items)
    with ScriptedServer(responder=_answer) as server:
        rows = extract_dataset(ds, "receipt", base_url=server.base_url, model="m").take_all()
    by_name = {r["source"]: r for r in rows}
    assert set(by_name) == {"one.txt", "junk.bin"}
    good, bad = by_name["one.txt"], by_name["junk.bin"]
    assert good["status"] == "ok" and json.loads(good["data"])["total"] == 1.5
    assert good["prompt_tokens"] > 0 and good["provider"] == "openai-compatible"
    assert bad["status"] == "error" and bad["error_type"] and bad["data"] is None


def test_engine_ray_stops_at_max_cost_and_resumes_with_a_higher_cap(tmp_path: Path) -> None:
    folder, out = _folder(tmp_path, 20), tmp_path / "out" / "r.jsonl"

    def priced(request: RecordedRequest) -> Reply:
        reply = _answer(request)
        reply.json["usage"]["cost"] = 0.01  # reported, as OpenRouter does
        return reply

    args = ["extract", str(folder), "-s", "receipt", "-o", str(out), "-q", "--engine", "ray",
            "--model", "m", "--concurrency", "4", "--include", "*.txt"]  # fmt: skip
    with ScriptedServer(responder=priced) as server:
        stopped = CliRunner().invoke(app, [*args, "--base-url", server.base_url,
                                           "--max-cost", "0.055"])  # fmt: skip
        assert stopped.exit_code == 3, stopped.output
        assert "--max-cost" in stopped.output
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert 1 <= len(records) <= 5 and sum(r["cost_usd"] for r in records) <= 0.055 + 1e-9
        assert server.calls == len(records)  # nothing paid that was not committed
        resumed = CliRunner().invoke(app, [*args, "--base-url", server.base_url,
                                           "--max-cost", "1"])  # fmt: skip
        assert resumed.exit_code == 0, resumed.output
        assert len(out.read_text().splitlines()) == 20 and server.calls == 20


STEER = "Totals include the tip."
SHOT = b"Cafe Nord\nTOTAL 4.20\n"
SHOT_ANSWER = {"company": "Cafe Nord", "address": None, "date": None, "total": 4.2}


def test_engine_ray_sends_the_instructions_and_examples_the_local_engine_sends(
    tmp_path: Path,
) -> None:
    folder, shots = _folder(tmp_path, 6), tmp_path / "shots"
    shots.mkdir()
    (shots / "nord.txt").write_bytes(SHOT)
    (shots / "nord.json").write_text(json.dumps(SHOT_ANSWER))
    steering = ("--instructions", STEER, "--examples", str(shots))
    local, remote = tmp_path / "local" / "r.jsonl", tmp_path / "ray" / "r.jsonl"
    with ScriptedServer(responder=_answer) as server:
        _extract(folder, local, server.base_url, *steering)
        _extract(folder, remote, server.base_url, "--engine", "ray", *steering)
        sent = [request.json["messages"] for request in server.requests]
        # The library reads (document, answer) pairs on the driver, as extract() does.
        ds = ray.data.from_items([{"bytes": (folder / "r000.txt").read_bytes(), "name": "x"}])
        rows = extract_dataset(
            ds,
            "receipt",
            base_url=server.base_url,
            model="m",
            instructions=STEER,
            examples=[(SHOT, SHOT_ANSWER)],
        ).take_all()
        library = server.requests[-1].json["messages"]
    assert len(sent) == 12 and rows[0]["status"] == "ok"
    for messages in [*sent, library]:
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
        assert messages[0]["content"].endswith(STEER) and "Cafe Nord" in messages[1]["content"]
        assert json.loads(messages[2]["content"]) == SHOT_ANSWER
    by_document = sorted(json.dumps(m) for m in sent)
    assert by_document[0::2] == by_document[1::2]  # each document asked alike by both engines
    mine = [json.loads(line) for line in local.read_text().splitlines()]
    theirs = [json.loads(line) for line in remote.read_text().splitlines()]
    assert [_without_latency(r) for r in theirs] == [_without_latency(r) for r in mine]
