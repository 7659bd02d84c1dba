"""Usage errors are found before anything runs (exit 2 in the CLI, ConfigError in the
library), never an internal_error in every record; sources in any form a caller has."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from extractor import ConfigError, aextract_many, extract, extract_many
from extractor.cli import app
from extractor.testing import Reply, ScriptedServer

RECEIPT = json.dumps({"company": "ACME", "address": None, "date": None, "total": 9.5})
TEXT = b"ACME Coffee, receipt 17, total 9.50 EUR, paid by card on 2024-03-15."


@pytest.fixture
def server() -> Any:
    with ScriptedServer(responder=lambda _: Reply.chat(RECEIPT)) as scripted:
        yield scripted


def _options(server: ScriptedServer) -> dict[str, Any]:
    return {"base_url": server.base_url, "model": "m"}


@pytest.mark.parametrize("pages", ["a-b", "5-2", "0", "1,x", "0-3", " "])
def test_a_page_range_no_document_can_satisfy_is_a_usage_error(
    server: ScriptedServer, tmp_path: Path, fixtures: Path, pages: str
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(fixtures / "multipage.pdf", folder / "m.pdf")
    result = CliRunner().invoke(app, [
        "extract", str(folder), "-s", "invoice", "-o", str(tmp_path / "o.jsonl"),
        "--pages", pages, "--base-url", server.base_url, "--model", "m",
    ])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "pages:" in result.output and "Traceback" not in result.output
    assert server.calls == 0 and not (tmp_path / "o.jsonl").exists()
    with pytest.raises(ConfigError, match="pages"):
        extract(folder / "m.pdf", "invoice", pages=pages, **_options(server))
    with pytest.raises(ConfigError, match="pages"):
        extract_many([folder / "m.pdf"], "invoice", pages=pages, **_options(server))
    assert server.calls == 0


def test_page_ranges_a_document_can_satisfy_still_work(
    server: ScriptedServer, fixtures: Path
) -> None:
    for pages in ("2", "2-", "-2", "1-3,3"):
        result = extract(fixtures / "multipage.pdf", "receipt", pages=pages, **_options(server))
        assert result.status == "ok", (pages, result.error)


def test_bytearrays_and_file_objects_are_sources(server: ScriptedServer, fixtures: Path) -> None:
    with (fixtures / "receipt.jpg").open("rb") as handle:
        sources: list[Any] = [bytearray(TEXT), memoryview(TEXT), io.BytesIO(TEXT), handle]
        results = sorted(extract_many(sources, "receipt", **_options(server)),
                         key=lambda r: r.index)  # fmt: skip
    assert [r.status for r in results] == ["ok"] * 4, [r.error for r in results]
    assert len({r.sha256 for r in results[:3]}) == 1  # the same bytes, however given
    one = extract(bytearray(TEXT), "receipt", **_options(server))
    assert one.status == "ok" and one.sha256 == results[0].sha256
    assert server.calls == 5


@pytest.mark.parametrize(
    ("source", "says"),
    [(None, "not NoneType"), (17, "not int"), ("", "empty string"),
     (io.StringIO("text"), "text mode")],
)  # fmt: skip
def test_what_is_not_a_source_is_refused_before_anything_runs(
    server: ScriptedServer, source: Any, says: str
) -> None:
    with pytest.raises(ConfigError, match=says):
        extract(source, "receipt", **_options(server))
    with pytest.raises(ConfigError, match=says):
        extract_many([TEXT, source], "receipt", **_options(server))
    with pytest.raises(ConfigError, match=says):
        aextract_many([TEXT, source], "receipt", **_options(server))
    assert server.calls == 0


def test_a_lazy_iterable_is_checked_as_its_sources_come(server: ScriptedServer) -> None:
    def sources() -> Any:
        yield TEXT
        yield None

    with pytest.raises(ConfigError, match="source 1: a source is a path"):
        list(extract_many(sources(), "receipt", concurrency=1, **_options(server)))


def test_a_file_object_alone_is_one_source_not_many(server: ScriptedServer) -> None:
    with pytest.raises(ConfigError, match="not one source"):
        extract_many(io.BytesIO(TEXT), "receipt", **_options(server))
    assert server.calls == 0
