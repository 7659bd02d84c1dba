"""--max-cost: no new document starts once committed cost + the in-flight estimate would pass
the cap; the run stops cleanly (exit code 3), says how to go on, and resumes with a higher cap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from extractor import extract_many
from extractor.budget import Budget, BudgetExceeded
from extractor.cli import app
from extractor.store import RecordStore
from extractor.testing import RecordedRequest, Reply, ScriptedServer

ANSWER = {"company": "ACME", "address": None, "date": "2024-01-01", "total": 12.5}
COST = 0.01  # each call reports this charge, as OpenRouter does in usage.cost


def _answer(_: RecordedRequest) -> Reply:
    return Reply.chat(json.dumps(ANSWER), cost=COST, delay=0.02)


def _folder(tmp_path: Path, count: int) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for number in range(count):
        (folder / f"r{number:02}.txt").write_text(f"ACME\nTOTAL 12.50\nno {number}\n")
    return folder


def _extract(folder: Path, out: Path, url: str, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [
        "extract", str(folder), "-s", "receipt", "-o", str(out), "-q", "--base-url", url,
        "--model", "m", "--concurrency", "4", "--no-isolate", "--include", "*.txt", *extra,
    ])  # fmt: skip
    return result.exit_code, result.output


def _store_cost(out: Path) -> tuple[int, float]:
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return len(records), sum(r["cost_usd"] for r in records)


def test_max_cost_stops_the_run_at_the_cap_and_a_higher_cap_resumes(tmp_path: Path) -> None:
    folder, out = _folder(tmp_path, 12), tmp_path / "out" / "r.jsonl"
    with ScriptedServer(responder=_answer) as server:
        code, output = _extract(folder, out, server.base_url, "--max-cost", "0.045")
        assert code == 3, output
        assert "--max-cost" in output and "not started" in output
        count, spent = _store_cost(out)  # the export holds what was committed
        assert spent <= 0.045 + 1e-9
        assert 3 <= count <= 4  # 4 x 0.01 fit under 0.045; never a 5th
        assert server.calls == count  # nothing paid that was not committed

        code, output = _extract(folder, out, server.base_url, "--max-cost", "0.045")
        assert code == 3  # the cap counts the job's earlier runs too
        assert server.calls == count

        code, output = _extract(folder, out, server.base_url, "--max-cost", "1")
        assert code == 0, output
        assert _store_cost(out)[0] == 12 and server.calls == 12


def test_a_run_under_its_cap_is_not_stopped(tmp_path: Path) -> None:
    folder, out = _folder(tmp_path, 5), tmp_path / "out" / "r.jsonl"
    with ScriptedServer(responder=_answer) as server:
        code, output = _extract(folder, out, server.base_url, "--max-cost", "0.2")
    assert code == 0, output
    assert _store_cost(out)[0] == 5


def test_the_library_takes_max_cost_and_raises_after_handing_over_what_finished(
    tmp_path: Path,
) -> None:
    folder = _folder(tmp_path, 8)
    sources = sorted(folder.iterdir())
    seen = []
    with ScriptedServer(responder=_answer) as server:
        with pytest.raises(BudgetExceeded) as stopped:
            for result in extract_many(
                sources, "receipt", base_url=server.base_url, model="m", max_cost=0.025,
                isolate=False,
            ):  # fmt: skip
                seen.append(result)
        assert server.calls == len(seen)
    assert len(seen) == 2 and all(r.ok for r in seen)
    assert stopped.value.not_started == 6 and stopped.value.spent == pytest.approx(0.02)


def test_committed_cost_sums_the_store(tmp_path: Path) -> None:
    with RecordStore.open(tmp_path / "s.db", "job") as store:
        store.commit({"source": "a", "sha256": "1", "status": "ok", "cost_usd": 0.5})
        store.commit({"source": "b", "sha256": "2", "status": "error", "cost_usd": None})
        store.commit({"source": "c", "sha256": "3", "status": "ok", "cost_usd": 0.25})
        assert store.committed_cost() == pytest.approx(0.75)


def test_until_a_cost_is_known_documents_start_one_at_a_time() -> None:
    budget = Budget(1.0)
    assert budget.may_start()
    budget.started()
    assert not budget.may_start() and not budget.stopped  # wait for the first cost
    budget.done(0.3)
    assert budget.may_start()  # 0.3 + 0.3 <= 1
    budget.started()
    assert budget.may_start()  # 0.3 + 2 x 0.3 <= 1
    budget.started()
    assert not budget.may_start() and budget.stopped  # 0.3 + 3 x 0.3 > 1
