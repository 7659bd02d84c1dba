"""The CLI's checks for people: doctor --check against a real server, eval-compare's
coverage warning, and the progress bar on a terminal."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from extractor.cli import app
from extractor.cli.progress import JobProgress
from extractor.jobs import JobSummary
from extractor.result import Ok, Usage
from extractor.testing import Reply, ScriptedServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KEY = "sk-doctor-check-0123456789"


def _doctor(server: ScriptedServer, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["doctor", "--check", "--base-url", server.base_url, "--model", "asked-model", *extra],
        env={"EXTRACTOR_API_KEY": KEY},
    )  # fmt: skip
    return result.exit_code, " ".join(result.output.split())


def test_doctor_check_reports_the_model_served_structured_output_and_latency() -> None:
    with ScriptedServer([Reply.chat('{"ok": true, "echo": "ping"}', model="served-7b",
                                    prompt_tokens=31, completion_tokens=9)]) as server:  # fmt: skip
        code, output = _doctor(server)
    assert code == 0, output
    assert server.calls == 1
    body = server.requests[0].json
    assert body["model"] == "asked-model"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["max_tokens"] <= 64  # a tiny request
    assert f"one request to openai-compatible at {server.base_url} for asked-model" in output
    assert "model served: served-7b" in output
    assert "structured output: yes (the answer followed the JSON schema)" in output
    assert re.search(r"latency: [\d,]+ ms \(31 prompt \+ 9 answer tokens\)", output)
    assert KEY not in output


@pytest.mark.parametrize(
    ("reply", "code", "says"),
    [
        (Reply.chat("Sure! ok is true and echo is ping."), 1,
         "structured output: no (the answer does not follow the schema"),
        (Reply.error(400, "response_format json_schema is not supported by this model"), 1,
         "structured output: no (the provider refused response_format"),
        (Reply.error(401, f"bad key {KEY}"), 2, "structured output: unknown (the request failed"),
        (Reply.error(503, "down"), 1, "structured output: unknown (the request failed"),
    ],
    ids=["prose", "refused", "auth", "down"],
)  # fmt: skip
def test_doctor_check_says_what_went_wrong(reply: Reply, code: int, says: str) -> None:
    with ScriptedServer(responder=lambda _: reply) as server:
        exit_code, output = _doctor(server)
    assert exit_code == code, output
    assert says in output
    assert KEY not in output


def _records(path: Path, sources: list[str]) -> Path:
    lines = []
    for source in sources:
        truth = json.loads((FIXTURES / "expected" / f"{Path(source).stem}.json").read_text())
        lines.append(json.dumps({"source": source, "status": "ok", "data": truth}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_eval_compare_warns_when_the_runs_cover_different_documents(tmp_path: Path) -> None:
    truth = str(FIXTURES / "expected")
    a = _records(tmp_path / "a.jsonl", ["in/invoice.pdf", "in/receipt.jpg", "in/scan.png"])
    b = _records(tmp_path / "b.jsonl", ["in/invoice.pdf", "in/form.pdf"])
    result = CliRunner().invoke(app, ["eval-compare", str(a), str(b), "--truth", truth])
    flat = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert ("warning: A and B cover different documents: 2 only in A (receipt, scan), "
            "1 only in B (form)") in flat  # fmt: skip
    same = CliRunner().invoke(app, ["eval-compare", str(a), str(a), "--truth", truth])
    assert same.exit_code == 0 and "warning" not in same.output
    reports = []
    for records in (a, b):
        report = tmp_path / f"{records.stem}.report.json"
        args = ["eval", str(records), "--truth", truth, "--json", str(report)]
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 0, done.output
        reports.append(str(report))
    saved = CliRunner().invoke(app, ["eval-compare", *reports])
    assert "warning: A and B cover different documents (A: " in " ".join(saved.output.split())


def test_the_terminal_bar_shows_the_total_and_an_eta() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=140, color_system=None)
    progress = JobProgress(console)
    with progress:
        progress.start(JobSummary(pending=10))
        for _ in range(4):
            progress.advance(Ok[Any](source="a.pdf", data=None, usage=Usage(prompt_tokens=10)))
    shown = screen.getvalue().rsplit("\r", 1)[-1]
    assert re.search(r"extracting .* 4/10 failed 0 · 40 tokens · \$0\.0000 .* ETA \d+:\d\d:\d\d",
                     shown), shown  # fmt: skip
