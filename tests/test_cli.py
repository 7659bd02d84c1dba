"""The command line through typer's CliRunner, against a real scripted server."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from extractor.cli import app
from extractor.testing import RecordedRequest, Reply, ScriptedServer

runner = CliRunner()
CANARY = "sk-canary-9f8e7d6c5b4a"

INVOICE = {
    "invoice_number": "RE-2024-0815", "invoice_date": "2024-03-15", "due_date": None,
    "seller_name": "=HYPERLINK(\"http://evil\")", "seller_vat_id": None, "buyer_name": None,
    "currency": "EUR", "net_amount": 1234.0, "tax_amount": 234.46, "total_amount": 1468.46,
    "iban": None,
    "line_items": [
        {"description": "Toner", "quantity": 2.0, "unit_price": 10.0, "amount": 20.0},
        {"description": "Paper", "quantity": 1.0, "unit_price": 5.0, "amount": 5.0},
    ],
}  # fmt: skip


def _good(_: RecordedRequest) -> Reply:
    return Reply.chat(json.dumps(INVOICE), prompt_tokens=100, completion_tokens=50)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(responder=_good) as scripted:
        yield scripted


@pytest.fixture
def docs(tmp_path: Path, fixtures: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(fixtures / "invoice.pdf", folder / "a.pdf")
    shutil.copy(fixtures / "form.pdf", folder / "sub" / "b.pdf")
    (folder / "notes.txt").write_text("Invoice RE-1, total 12.50 EUR, from ACME GmbH.\n")
    (folder / "ignored.xyz").write_text("not a document")
    return folder


# The docs folder holds a text file, and folder walks take text files only when asked.
TAKE_TEXT = ("--include", "*.pdf", "--include", "*.txt")


def _extract(server: ScriptedServer, *args: str, take_text: bool = True) -> tuple[int, str]:
    result = runner.invoke(
        app,
        ["extract", *args, *(TAKE_TEXT if take_text else ()), "--base-url", server.base_url,
         "--model", "m", "--retries", "0"],
        env={"EXTRACTOR_API_KEY": CANARY},
    )  # fmt: skip
    return result.exit_code, result.output


def _records(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_every_command_has_help_with_examples() -> None:
    for command in ("extract", "schema", "preview", "doctor", "eval", "eval-compare"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, command
        assert "Example" in result.output, command


def test_schema_prints_the_response_format_that_is_sent() -> None:
    result = runner.invoke(app, ["schema", "invoice"])
    assert result.exit_code == 0
    sent = json.loads(result.output)
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["strict"] is True
    assert sent["json_schema"]["schema"]["additionalProperties"] is False


def test_folder_run_writes_one_record_per_document(server: ScriptedServer, docs: Path) -> None:
    out = docs.parent / "out" / "r.jsonl"
    code, output = _extract(server, str(docs), "-s", "invoice", "-o", str(out))
    assert code == 0, output
    records = _records(out)
    assert sorted(Path(str(r["source"])).name for r in records) == ["a.pdf", "b.pdf", "notes.txt"]
    assert all(r["status"] == "ok" for r in records)
    assert server.calls == 3
    assert "documents in the job" in output


def test_folder_walks_list_what_they_leave_out_and_take_text_only_when_asked(
    server: ScriptedServer, docs: Path
) -> None:
    (docs / "sub" / "report.docx").write_bytes(b"PK\x03\x04 not read")
    (docs / "README.md").write_text("# scans from March\n")
    out = docs.parent / "out" / "r.jsonl"
    code, output = _extract(server, str(docs), "-s", "invoice", "-o", str(out), take_text=False)
    assert code == 0, output
    assert sorted(Path(str(r["source"])).name for r in _records(out)) == ["a.pdf", "b.pdf"]
    assert server.calls == 2
    lines = " ".join(output.split())
    assert "not read (extension) │ 2: .docx 1, .xyz 1" in lines
    assert "text files left out (--include '*.txt') │ 2" in lines
    for name in ("ignored.xyz", "report.docx", "notes.txt", "README.md"):
        assert name in output


def test_exit_code_1_when_a_document_fails(server: ScriptedServer, docs: Path) -> None:
    (docs / "empty.pdf").write_bytes(b"")
    out = docs.parent / "r.jsonl"
    code, _ = _extract(server, str(docs), "-s", "invoice", "-o", str(out))
    assert code == 1
    failed = [r for r in _records(out) if r["status"] == "error"]
    assert [(Path(str(r["source"])).name, r["error"]["type"]) for r in failed] == [  # type: ignore[index]
        ("empty.pdf", "empty_input")
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["-s", "no-such-schema"],
        ["-s", "invoice", "--mode", "psychic"],
        ["-s", "invoice", "-f", "xml"],
    ],
)
def test_exit_code_2_on_usage_errors(server: ScriptedServer, docs: Path, args: list[str]) -> None:
    code, _ = _extract(server, str(docs), *args, "-o", str(docs.parent / "r.jsonl"))
    assert code == 2
    assert server.calls == 0


def test_rerun_resumes_without_calling_the_model(server: ScriptedServer, docs: Path) -> None:
    out = docs.parent / "r.jsonl"
    assert _extract(server, str(docs), "-s", "invoice", "-o", str(out))[0] == 0
    calls = server.calls
    code, output = _extract(server, str(docs), "-s", "invoice", "-o", str(out))
    assert code == 0
    assert server.calls == calls
    assert len(_records(out)) == 3
    assert "skipped" in output


def test_a_changed_job_is_refused_unless_fresh(server: ScriptedServer, docs: Path) -> None:
    out = docs.parent / "r.jsonl"
    assert _extract(server, str(docs), "-s", "invoice", "-o", str(out))[0] == 0
    code, output = _extract(server, str(docs), "-s", "receipt", "-o", str(out))
    assert code == 2
    assert "--fresh" in output
    server.responder = lambda _: Reply.chat(
        '{"company": "A", "address": null, "date": null, "total": 1}'
    )
    code, _ = _extract(server, str(docs), "-s", "receipt", "-o", str(out), "--fresh")
    assert code == 0
    assert {r["data"]["company"] for r in _records(out)} == {"A"}  # type: ignore[index]


def test_retry_failed_redoes_only_the_errors(server: ScriptedServer, docs: Path) -> None:
    out = docs.parent / "r.jsonl"
    server.responder = lambda req: (
        Reply.chat("not json") if "Invoice RE-1," in json.dumps(req.json) else _good(req)
    )
    assert (
        _extract(server, str(docs), "-s", "invoice", "-o", str(out), "--max-repairs", "0")[0] == 1
    )
    server.responder = _good
    before = server.calls
    assert _extract(server, str(docs), "-s", "invoice", "-o", str(out))[0] == 1  # errors are kept
    assert server.calls == before
    assert _extract(server, str(docs), "-s", "invoice", "-o", str(out), "--retry-failed")[0] == 0
    assert server.calls == before + 1
    assert len(_records(out)) == 3


def test_auth_errors_stop_the_run_at_once(server: ScriptedServer, docs: Path) -> None:
    server.responder = lambda _: Reply.error(401, f"Incorrect API key provided: {CANARY}")
    out = docs.parent / "r.jsonl"
    code, output = _extract(
        server, str(docs), "-s", "invoice", "-o", str(out), "--concurrency", "1"
    )
    assert code == 2
    assert server.calls == 1
    assert "auth_error" in output
    assert CANARY not in output
    assert _records(out) == []  # nothing committed: the next run retries every document


def test_csv_export_has_a_line_item_table_and_defused_formulas(
    server: ScriptedServer, docs: Path
) -> None:
    out = docs.parent / "r.csv"
    assert (
        _extract(server, str(docs / "a.pdf"), "-s", "invoice", "-o", str(out), "-f", "csv")[0] == 0
    )
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["data.total_amount"] == "1468.46"
    assert rows[0]["data.seller_name"].startswith("'=")
    items = list(csv.DictReader((docs.parent / "r.line_items.csv").open()))
    assert [i["description"] for i in items] == ["Toner", "Paper"]
    assert items[0]["sha256"] == rows[0]["sha256"]


def test_the_api_key_appears_in_no_output(server: ScriptedServer, docs: Path) -> None:
    replies = [
        Reply.error(500, f"upstream said {CANARY}"), Reply.error_in_200(f"bad key {CANARY}"),
        Reply.chat("this is not JSON"), Reply.error(429, CANARY, headers={"Retry-After": "0"}),
    ]  # fmt: skip
    server.responder = lambda _: replies[server.calls % len(replies)]
    out = docs.parent / "r.jsonl"
    code, output = _extract(
        server, str(docs), "-s", "invoice", "-o", str(out), "--max-repairs", "1"
    )
    assert code == 1
    assert CANARY not in output
    for path in out.parent.glob("r.jsonl*"):
        assert CANARY.encode() not in path.read_bytes(), path
    assert all(r.headers["authorization"] == f"Bearer {CANARY}" for r in server.requests)


def test_stdout_output_streams_jsonl(server: ScriptedServer, docs: Path) -> None:
    code, output = _extract(server, str(docs / "a.pdf"), "-s", "invoice", "-o", "-", "-q")
    assert code == 0
    assert json.loads(output.strip().splitlines()[-1])["status"] == "ok"


def test_preview_shows_what_the_model_receives(fixtures: Path) -> None:
    result = runner.invoke(app, ["preview", str(fixtures / "multipage.pdf")])
    assert result.exit_code == 0
    assert "page 3" in result.output and "INV-7731" in result.output


def test_doctor_says_the_embedded_model_is_used_without_a_key() -> None:
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0
    assert "would use local" in " ".join(result.output.split())


def test_extract_and_score_in_one_go(
    server: ScriptedServer, tmp_path: Path, fixtures: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(fixtures / "invoice.pdf", folder / "invoice.pdf")
    out = tmp_path / "r.jsonl"
    truth = fixtures / "expected"
    code, output = _extract(
        server, str(folder), "-s", "invoice", "-o", str(out), "--truth", str(truth)
    )
    assert code == 0, output
    report = json.loads((tmp_path / "r.jsonl.eval.json").read_text())
    # The scripted answer gets the number and total right and the seller and items wrong.
    fields = report["fields"]
    assert fields["invoice_number"]["f1"] == 1.0
    assert fields["total_amount"]["f1"] == 1.0
    assert fields["seller_name"]["f1"] == 0.0
    assert 0.0 < report["overall"]["f1"] < 1.0
    assert "invoice_number" in output


def test_the_summary_counts_this_run_after_a_resume(server: ScriptedServer, docs: Path) -> None:
    out = docs.parent / "r.jsonl"
    assert _extract(server, str(docs / "a.pdf"), "-s", "invoice", "-o", str(out))[0] == 0
    (docs / "empty.pdf").write_bytes(b"")
    code, output = _extract(server, str(docs), "-s", "invoice", "-o", str(out))
    assert code == 1
    rows = {
        cells[0]: cells[1]
        for line in output.splitlines()
        if len(cells := [c.strip() for c in line.strip("│┃ ").split("│")]) == 2
    }
    assert rows["documents in the job"] == "4"
    assert (rows["ok"], rows["failed"]) == ("3", "1")
    assert rows["processed this run"] == "3"
    assert rows["skipped (already committed)"] == "1"
    assert rows["prompt / completion tokens"] == "200 / 100"  # two model calls, 100 + 50 each
    assert rows["repairs"] == "0"
    assert rows["empty_input"] == "1"


def test_stdout_output_exits_1_when_a_document_fails(server: ScriptedServer, docs: Path) -> None:
    (docs / "empty.pdf").write_bytes(b"")
    code, output = _extract(server, str(docs), "-s", "invoice", "-o", "-", "-q")
    assert code == 1
    assert sorted(json.loads(line)["status"] for line in output.splitlines()) == [
        "error", "ok", "ok", "ok"
    ]  # fmt: skip


def test_caps_and_limits_are_flags(server: ScriptedServer, docs: Path, fixtures: Path) -> None:
    shutil.copy(fixtures / "multipage.pdf", docs / "three-pages.pdf")  # over --max-pages 2
    (docs / "big.txt").write_text("x" * 2_000_000)  # over --max-file-mb 1
    out = docs.parent / "r.jsonl"
    code, output = _extract(
        server, str(docs), "-s", "invoice", "-o", str(out), "--max-pages", "2",
        "--max-file-mb", "1", "--worker-memory-mb", "512", "--read-timeout", "30",
        "--document-timeout", "60",
    )  # fmt: skip
    assert code == 1, output
    by_name = {Path(str(r["source"])).name: r for r in _records(out)}
    assert sorted(by_name) == ["a.pdf", "b.pdf", "big.txt", "notes.txt", "three-pages.pdf"]
    assert by_name["three-pages.pdf"]["error"]["type"] == "input_too_large"  # type: ignore[index]
    assert "over the cap of 2" in by_name["three-pages.pdf"]["error"]["message"]  # type: ignore[index]
    assert by_name["big.txt"]["error"]["type"] == "input_too_large"  # type: ignore[index]
    assert [by_name[n]["status"] for n in ("a.pdf", "b.pdf", "notes.txt")] == ["ok"] * 3
    assert server.calls == 3


def test_identical_files_under_two_names_get_a_record_each(
    server: ScriptedServer, docs: Path
) -> None:
    shutil.copy(docs / "a.pdf", docs / "sub" / "copy-of-a.pdf")
    out = docs.parent / "r.jsonl"
    code, output = _extract(server, str(docs), "-s", "invoice", "-o", str(out))
    assert code == 0, output
    records = _records(out)
    names = sorted(Path(str(r["source"])).name for r in records)
    assert names == ["a.pdf", "b.pdf", "copy-of-a.pdf", "notes.txt"]
    assert len({r["sha256"] for r in records}) == 3
    code, _ = _extract(server, str(docs), "-s", "invoice", "-o", str(out))  # resume: all done
    assert code == 0 and server.calls == 4
