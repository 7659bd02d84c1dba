"""Output safety through the real CLI: what -o may replace, checked before any model call;
one run per output; leftovers of killed runs; file modes; the format from the name."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from extractor.cli import app
from extractor.testing import Reply, ScriptedServer

RECEIPT = json.dumps({"company": "ACME", "address": None, "date": None, "total": 9.5})


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(responder=lambda _: Reply.chat(RECEIPT)) as scripted:
        yield scripted


@pytest.fixture
def docs(tmp_path: Path, fixtures: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(fixtures / "receipt.jpg", folder / "r1.jpg")
    shutil.copy(fixtures / "scan.png", folder / "r2.png")
    return folder


def _extract(server: ScriptedServer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [
        "extract", *args, "-s", "receipt", "--base-url", server.base_url, "--model", "m",
        "--mode", "text", "--no-ocr",
    ])  # fmt: skip
    return result.exit_code, result.output


def _flat(output: str) -> str:
    """The output as one line, without the boxes rich draws around errors."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def _refused(server: ScriptedServer, docs: Path, output: str, *, says: str) -> None:
    code, output_text = _extract(server, str(docs), "-o", output)
    assert code == 2, output_text
    assert says in _flat(output_text)
    assert "Traceback" not in output_text
    assert server.calls == 0, "refused before the first model call"


def test_a_device_node_is_refused(server: ScriptedServer, docs: Path, tmp_path: Path) -> None:
    # A device node of our own, never /dev/null itself: a regression (or this test run
    # against a build without the check) would replace the node it is given.
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root (as does -o /dev/null replacing it)")
    _refused(server, docs, str(device), says="is not a regular file")
    assert stat.S_ISCHR(os.lstat(device).st_mode)


def test_a_fifo_is_refused(server: ScriptedServer, docs: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "out.jsonl"
    os.mkfifo(fifo)
    _refused(server, docs, str(fifo), says="is not a regular file")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlink_is_refused_and_its_target_kept(
    server: ScriptedServer, docs: Path, tmp_path: Path
) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("do not replace me")
    link = tmp_path / "out.jsonl"
    link.symlink_to(target)
    _refused(server, docs, str(link), says="is a symbolic link")
    assert link.is_symlink() and target.read_text() == "do not replace me"


def test_the_input_document_itself_is_refused(
    server: ScriptedServer, docs: Path, fixtures: Path
) -> None:
    before = (docs / "r1.jpg").read_bytes()
    code, output = _extract(server, str(docs / "r1.jpg"), "-o", str(docs / "r1.jpg"), "-f", "json")
    assert code == 2 and "is one of the input documents" in _flat(output)
    assert server.calls == 0
    assert (docs / "r1.jpg").read_bytes() == before


def test_a_file_no_run_wrote_is_refused_and_one_a_run_wrote_is_replaced(
    server: ScriptedServer, docs: Path, tmp_path: Path
) -> None:
    foreign = tmp_path / "notes.jsonl"
    foreign.write_text("my own notes\n")
    _refused(server, docs, str(foreign), says="was not written by an extractor run")
    assert foreign.read_text() == "my own notes\n"
    ours = tmp_path / "ours.jsonl"
    assert _extract(server, str(docs), "-o", str(ours))[0] == 0
    assert _extract(server, str(docs), "-o", str(ours), "--fresh")[0] == 0  # replaced
    assert len(ours.read_text().splitlines()) == 2


def test_a_folder_a_file_as_parent_and_an_unwritable_folder_are_refused(
    server: ScriptedServer, docs: Path, tmp_path: Path
) -> None:
    _refused(server, docs, str(tmp_path), says="is a folder; name a file in it")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    _refused(server, docs, str(plain / "out.jsonl"), says="is not a folder")
    if os.geteuid() == 0:  # root writes anywhere a permission allows; /proc/sys refuses all
        unwritable = Path("/proc/sys")
    else:
        unwritable = tmp_path / "locked"
        unwritable.mkdir(mode=0o500)
    _refused(server, docs, str(unwritable / "out.jsonl"), says="cannot write in")
    missing = tmp_path / "new" / "deeper" / "out.jsonl"  # a missing folder is created
    assert _extract(server, str(docs), "-o", str(missing))[0] == 0 and missing.is_file()


HOLD = """
import sys, time
from pathlib import Path
from extractor.runlock import RunLock
lock = RunLock(Path(sys.argv[1]))
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_run_on_the_same_output_is_refused_naming_the_first(
    server: ScriptedServer, docs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLD), str(tmp_path / "out.jsonl.db")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, output = _extract(server, str(docs), "-o", str(out))
        flat = _flat(output)
        assert code == 2, output
        assert f"another run is writing out.jsonl.db (process {holder.pid} on" in flat
        assert server.calls == 0
    finally:
        holder.kill()
        holder.wait()
    code, output = _extract(server, str(docs), "-o", str(out))  # the kill freed the lock
    assert code == 0, output
    assert not (tmp_path / "out.jsonl.db.lock").exists()


def test_temporary_files_a_killed_export_left_are_removed(
    server: ScriptedServer, docs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    stale = [  # named as a killed run's export (and its report) named them
        Path(tempfile.mkstemp(dir=tmp_path, prefix=".out.csv.", suffix=".tmp")[1]),
        Path(tempfile.mkstemp(dir=tmp_path, prefix=".out.csv.eval.json.", suffix=".tmp")[1]),
    ]
    unrelated = [tmp_path / ".out.csv.mine.tmp", tmp_path / ".other.csv.abcdefgh.tmp"]
    for path in unrelated:
        path.write_text("not ours")
    assert _extract(server, str(docs), "-o", str(out))[0] == 0
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in unrelated)
    assert sorted(p.name for p in tmp_path.glob(".out.csv*.tmp")) == [".out.csv.mine.tmp"]


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_the_store_and_the_exports_get_the_same_mode(
    server: ScriptedServer, docs: Path, tmp_path: Path, fixtures: Path, umask: int
) -> None:
    shutil.copy(fixtures / "invoice.pdf", docs / "i.pdf")  # a document with line items
    server.responder = lambda _: Reply.chat((fixtures / "expected" / "invoice.json").read_text())
    previous = os.umask(umask)
    try:
        result = CliRunner().invoke(app, [
            "extract", str(docs / "i.pdf"), "-s", "invoice", "-o", str(tmp_path / "o.csv"),
            "--base-url", server.base_url, "--model", "m", "--truth", str(fixtures / "expected"),
        ])  # fmt: skip
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    written = ["o.csv.db", "o.csv", "o.line_items.csv", "o.csv.eval.json"]
    modes = {name: stat.S_IMODE((tmp_path / name).stat().st_mode) for name in written}
    assert set(modes.values()) == {0o666 & ~umask}, modes


@pytest.mark.parametrize(
    ("name", "first_bytes"),
    [
        ("o.jsonl", b'{"index"'),
        ("o.json", b"[\n  {"),
        ("o.csv", b"source,"),
        ("o.parquet", b"PAR1"),
    ],
)
def test_the_format_comes_from_the_extension(
    server: ScriptedServer, docs: Path, tmp_path: Path, name: str, first_bytes: bytes
) -> None:
    code, output = _extract(server, str(docs), "-o", str(tmp_path / name))
    assert code == 0, output
    assert (tmp_path / name).read_bytes().startswith(first_bytes)


@pytest.mark.parametrize(
    ("name", "fmt"), [("o.csv", "json"), ("o.parquet", "jsonl"), ("o.json", "csv")]
)
def test_a_format_that_contradicts_the_extension_is_a_usage_error(
    server: ScriptedServer, docs: Path, tmp_path: Path, name: str, fmt: str
) -> None:
    code, output = _extract(server, str(docs), "-o", str(tmp_path / name), "-f", fmt)
    assert code == 2 and f"looks like {name.split('.')[1]}, not {fmt}" in _flat(output)
    assert server.calls == 0 and not (tmp_path / name).exists()
