"""Runs read documents in worker processes, and every document has a deadline.

``extract_many`` (and so the CLI) reads each document in a worker process with a memory
and a time limit: a PDF that inflates past the limit, or that takes too long to read,
becomes that document's error record while the others finish. A document whose calls
take longer than ``document_timeout`` becomes a ``document_timeout`` record.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_hostile import flate_bomb_pdf, slow_pdf

from extractor import Settings, extract_many
from extractor.testing import Reply, ScriptedServer

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
RECEIPT = json.dumps({"company": "ACME", "address": None, "date": None, "total": 12.5})


def run(server: ScriptedServer, paths: list[Path], **options: object) -> dict[str, dict]:
    given = {"mode": "text", "ocr": False, "max_repairs": 0, **options}
    settings = Settings().with_options(base_url=server.base_url, model="m", **given)
    results = list(extract_many(paths, "receipt", settings=settings))
    assert sorted(r.index for r in results) == list(range(len(paths)))  # one record each
    return {Path(r.source).name: r.record() for r in results}


def test_a_memory_bomb_is_its_own_error_and_the_others_finish(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(flate_bomb_pdf(600))  # ~0.6 MB on disk, 600 MiB once inflated
    with ScriptedServer(responder=lambda request: Reply.chat(RECEIPT)) as server:
        records = run(
            server,
            [bomb, FIXTURES / "invoice.pdf", FIXTURES / "multipage.pdf"],
            worker_memory=300 << 20,
            concurrency=2,
        )
        assert server.calls == 2  # the bomb never reached the model
    assert records["bomb.pdf"]["status"] == "error"
    assert records["bomb.pdf"]["error"]["type"] == "input_too_large"
    assert "300 MiB" in records["bomb.pdf"]["error"]["message"]
    assert records["invoice.pdf"]["status"] == "ok"
    assert records["multipage.pdf"]["status"] == "ok"


def test_a_document_that_reads_too_long_is_stopped(tmp_path: Path) -> None:
    slow = tmp_path / "slow.pdf"
    slow.write_bytes(slow_pdf(400))
    with ScriptedServer(responder=lambda request: Reply.chat(RECEIPT)) as server:
        records = run(server, [slow, FIXTURES / "invoice.pdf"], mode="vision", read_timeout=0.5)
    assert records["slow.pdf"]["error"]["type"] == "input_too_large"
    assert "0.5" in records["slow.pdf"]["error"]["message"]
    assert records["invoice.pdf"]["status"] == "ok"


def test_the_document_deadline_covers_every_call(tmp_path: Path) -> None:
    slow_reply = Reply.chat(RECEIPT, delay=1.5)
    with ScriptedServer([slow_reply, Reply.chat(RECEIPT)]) as server:
        records = run(server, [FIXTURES / "invoice.pdf"], document_timeout=0.5, concurrency=1)
    record = records["invoice.pdf"]
    assert record["status"] == "error"
    assert record["error"]["type"] == "document_timeout"
    assert "0.5 s document deadline" in record["error"]["message"]
    assert record["sha256"]  # what was learnt before the deadline stays in the record


def test_in_process_reading_is_still_available(tmp_path: Path) -> None:
    with ScriptedServer(responder=lambda request: Reply.chat(RECEIPT)) as server:
        records = run(server, [FIXTURES / "invoice.pdf"], isolate=False)
    assert records["invoice.pdf"]["status"] == "ok"


def test_an_unguarded_script_from_stdin_can_use_the_workers(tmp_path: Path) -> None:
    """Workers must not re-import the caller's ``__main__`` (an ETL script, a notebook)."""
    with ScriptedServer(responder=lambda request: Reply.chat(RECEIPT)) as server:
        script = (
            "from extractor import extract_many\n"
            "print('top level ran')\n"  # no __main__ guard: a worker re-running this would print
            f"rs = list(extract_many([{str(FIXTURES / 'invoice.pdf')!r}], 'receipt', "
            f"base_url={server.base_url!r}, model='m', mode='text'))\n"
            "print(rs[0].status)\n"
        )
        done = subprocess.run(
            [sys.executable, "-"], input=script, capture_output=True, text=True, cwd=tmp_path,
            timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["top", "level", "ran", "ok"]
