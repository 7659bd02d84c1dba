"""Prompt control: instructions and few-shot examples, through the library and the CLI,
seen on the wire; both are part of the job fingerprint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from extractor import ConfigError, extract, extract_many
from extractor.cli import app
from extractor.testing import RecordedRequest, Reply, ScriptedServer

RECEIPT = {"company": "ACME", "address": None, "date": None, "total": 9.5}
EXAMPLE_TEXT = b"Cafe Nord, Hafenstr. 1, 2024-01-02, TOTAL 4.20 EUR (tip 0.50 included)"
EXAMPLE_ANSWER = {"company": "Cafe Nord", "address": "Hafenstr. 1", "date": "2024-01-02",
                  "total": 4.2}  # fmt: skip
DOCUMENT = b"ACME Coffee, receipt 17, total 9.50 EUR, paid by card."
RULE = "Totals include the tip; company names without legal suffixes."


@pytest.fixture
def server() -> Any:
    with ScriptedServer(responder=lambda _: Reply.chat(json.dumps(RECEIPT))) as scripted:
        yield scripted


def _roles(request: RecordedRequest) -> list[str]:
    return [message["role"] for message in request.json["messages"]]


def test_instructions_and_examples_reach_the_model_as_system_text_and_prior_turns(
    server: ScriptedServer,
) -> None:
    result = extract(
        DOCUMENT, "receipt", base_url=server.base_url, model="m", instructions=RULE,
        examples=[(EXAMPLE_TEXT, EXAMPLE_ANSWER)],
    )  # fmt: skip
    assert result.status == "ok", result.error
    messages = server.requests[0].json["messages"]
    assert _roles(server.requests[0]) == ["system", "user", "assistant", "user"]
    assert messages[0]["content"].endswith(RULE)
    assert "Cafe Nord" in messages[1]["content"] and "example" in messages[1]["content"]
    assert json.loads(messages[2]["content"]) == EXAMPLE_ANSWER
    assert "ACME Coffee" in messages[3]["content"] and "Cafe Nord" not in messages[3]["content"]


class Bill(BaseModel):
    number: str
    vat_by_rate: dict[str, float]


def test_an_example_answer_is_written_as_the_model_must_answer(server: ScriptedServer) -> None:
    server.responder = lambda _: Reply.chat('{"number": "2", "vat_by_rate": []}')
    example = (b"Bill 1: VAT 19% 1.90", Bill(number="1", vat_by_rate={"19%": 1.9}))
    many = list(extract_many([DOCUMENT, DOCUMENT], Bill, base_url=server.base_url, model="m",
                             examples=[example]))  # fmt: skip
    assert [r.status for r in many] == ["ok", "ok"]
    for request in server.requests:
        answer = json.loads(request.json["messages"][2]["content"])
        assert answer == {"number": "1", "vat_by_rate": [{"key": "19%", "value": 1.9}]}


def test_an_example_that_does_not_fit_the_schema_is_refused_before_anything_runs(
    server: ScriptedServer,
) -> None:
    unfit = r"example 1 \(<bytes>\): its answer does not fit Receipt: total"
    with pytest.raises(ConfigError, match=unfit):
        extract(DOCUMENT, "receipt", base_url=server.base_url, model="m",
                examples=[(EXAMPLE_TEXT, {"total": "lots"})])  # fmt: skip
    with pytest.raises(ConfigError, match=r"example 1 \(/no/such/example.pdf\) cannot be read"):
        extract_many([DOCUMENT], "receipt", base_url=server.base_url, model="m",
                     examples=[(Path("/no/such/example.pdf"), EXAMPLE_ANSWER)])  # fmt: skip
    assert server.calls == 0


@pytest.fixture
def shots(tmp_path: Path, fixtures: Path) -> Path:
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "nord.txt").write_bytes(EXAMPLE_TEXT)
    (folder / "nord.json").write_text(json.dumps(EXAMPLE_ANSWER))
    shutil.copy(fixtures / "receipt.jpg", folder / "photo.jpg")
    (folder / "photo.json").write_text(json.dumps(RECEIPT))
    return folder


def _cli(server: ScriptedServer, tmp_path: Path, *extra: str) -> tuple[int, str]:
    doc = tmp_path / "doc.txt"
    if not doc.exists():  # written once: a rewritten file is a changed document
        doc.write_bytes(DOCUMENT)
    result = CliRunner().invoke(app, [
        "extract", str(doc), "-s", "receipt", "-o", str(tmp_path / "o.jsonl"),
        "--base-url", server.base_url, "--model", "m", "--no-vision", *extra,
    ])  # fmt: skip
    return result.exit_code, result.output


def test_the_cli_reads_instructions_from_a_file_and_examples_from_a_folder(
    server: ScriptedServer, tmp_path: Path, shots: Path
) -> None:
    rules = tmp_path / "rules.txt"
    rules.write_text(RULE + "\n")
    code, output = _cli(server, tmp_path, "--instructions", f"@{rules}", "--examples", str(shots))
    assert code == 0, output
    request = server.requests[0]
    assert _roles(request) == ["system", "user", "assistant", "user", "assistant", "user"]
    messages = request.json["messages"]
    assert messages[0]["content"].endswith(RULE)
    assert "Cafe Nord" in messages[1]["content"]
    assert json.loads(messages[2]["content"]) == EXAMPLE_ANSWER
    assert "(OCR text" in messages[3]["content"]  # photo.jpg, read as the job reads it
    assert json.loads(messages[4]["content"]) == RECEIPT


def test_instructions_and_examples_are_part_of_the_job(
    server: ScriptedServer, tmp_path: Path, shots: Path
) -> None:
    assert _cli(server, tmp_path, "--instructions", RULE)[0] == 0
    assert _cli(server, tmp_path, "--instructions", RULE)[0] == 0  # the same job: resumed
    assert server.calls == 1
    for changed in (["--instructions", RULE + " Dates as written."], ["--examples", str(shots)],
                    []):  # fmt: skip
        code, output = _cli(server, tmp_path, *changed)
        assert code == 2 and "--fresh" in output, changed
    assert server.calls == 1
    assert _cli(server, tmp_path, "--examples", str(shots), "--fresh")[0] == 0
    assert server.calls == 2


@pytest.mark.parametrize(
    ("setup", "says"),
    [("lonely", "unpaired: alone.txt"), ("empty", "no examples"), ("bad", "does not fit")],
)
def test_a_broken_examples_folder_is_a_usage_error(
    server: ScriptedServer, tmp_path: Path, setup: str, says: str
) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    if setup == "lonely":
        (folder / "alone.txt").write_bytes(EXAMPLE_TEXT)
    if setup == "bad":
        (folder / "a.txt").write_bytes(EXAMPLE_TEXT)
        (folder / "a.json").write_text('{"total": "a lot"}')
    code, output = _cli(server, tmp_path, "--examples", str(folder))
    assert code == 2 and says in " ".join(output.split())
    assert server.calls == 0
    code, output = _cli(server, tmp_path, "--instructions", "@/no/such/rules.txt")
    assert code == 2 and "cannot read it" in output
