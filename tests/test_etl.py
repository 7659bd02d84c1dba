"""ETL ergonomics: flat tables of results (dicts, Arrow, pandas), Parquet exports typed from
the schema, and extract_many(store=...) that resumes like the CLI."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import extractor
from extractor import ConfigError, extract_many
from extractor.cli import app
from extractor.testing import Reply, ScriptedServer
from schemas import Invoice

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
INVOICE = json.loads((FIXTURES / "expected" / "invoice.json").read_text())


@pytest.fixture
def server() -> Any:
    with ScriptedServer(responder=lambda _: Reply.chat(json.dumps(INVOICE))) as scripted:
        yield scripted


@pytest.fixture
def docs(tmp_path: Path) -> list[Path]:
    paths = [tmp_path / "a.pdf", tmp_path / "b.pdf", tmp_path / "empty.pdf"]
    shutil.copy(FIXTURES / "invoice.pdf", paths[0])
    shutil.copy(FIXTURES / "invoice.pdf", paths[1])
    paths[2].write_bytes(b"")
    return paths


def test_tables_of_results_as_dicts_arrow_and_pandas(
    server: ScriptedServer, docs: list[Path]
) -> None:
    results = list(extract_many(docs, Invoice, base_url=server.base_url, model="m"))
    tables = extractor.tables(results)
    assert len(tables.documents) == 3 and tables.line_items is not None
    by_source = {Path(row["source"]).name: row for row in tables.documents}
    assert by_source["a.pdf"]["data.total_amount"] == 1468.46
    assert by_source["empty.pdf"]["status"] == "error"
    assert by_source["empty.pdf"]["error.type"] == "empty_input"
    assert by_source["empty.pdf"]["data.total_amount"] is None  # the schema's columns, always
    items = tables.line_items
    assert len(items) == 2 * len(INVOICE["line_items"])
    assert {row["item"] for row in items} == set(range(1, len(INVOICE["line_items"]) + 1))
    assert items[0]["description"] == INVOICE["line_items"][0]["description"]

    arrow = tables.to_arrow()
    types = {f.name: f.type for f in arrow.documents.schema}
    assert types["data.total_amount"] == pa.decimal128(38, 9)
    assert types["data.invoice_date"] == pa.date32()
    assert types["data.invoice_number"] == pa.string()
    assert types["usage.prompt_tokens"] == pa.int64()
    assert arrow.line_items.schema.field("quantity").type == pa.float64()
    row = next(r for r in arrow.documents.to_pylist() if r["source"].endswith("a.pdf"))
    assert row["data.total_amount"] == Decimal("1468.46")
    assert row["data.invoice_date"] == dt.date.fromisoformat(INVOICE["invoice_date"])

    frames = tables.to_pandas()
    assert list(frames.documents["status"]).count("ok") == 2
    assert len(frames.line_items) == len(items)


def test_tables_of_plain_records_take_the_columns_they_have(tmp_path: Path) -> None:
    records = [{"source": "a.pdf", "status": "ok",
                "data": {"total": 9.5, "address": {"city": "Kiel"},
                         "line_items": [{"description": "Toner", "amount": 9.5}]}}]  # fmt: skip
    tables = extractor.tables(records)
    assert tables.documents[0]["data.address.city"] == "Kiel"
    assert tables.line_items == [{"source": "a.pdf", "sha256": None, "item": 1,
                                  "description": "Toner", "amount": 9.5}]  # fmt: skip
    assert tables.to_arrow().documents.num_rows == 1


def test_parquet_export_is_typed_from_the_schema(
    server: ScriptedServer, docs: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "out" / "invoices.parquet"
    result = CliRunner().invoke(app, [
        "extract", *map(str, docs), "-s", "invoice", "-o", str(out),
        "--base-url", server.base_url, "--model", "m",
    ])  # fmt: skip
    assert result.exit_code == 1, result.output  # empty.pdf failed; the rest is written
    documents = pq.read_table(out)
    items = pq.read_table(out.with_name("invoices.line_items.parquet"))
    assert documents.num_rows == 3
    assert documents.schema.field("data.total_amount").type == pa.decimal128(38, 9)
    assert documents.schema.field("data.due_date").type == pa.date32()
    assert items.num_rows == 2 * len(INVOICE["line_items"])
    assert items.schema.field("amount").type == pa.decimal128(38, 9)
    amounts = [row["data.total_amount"] for row in documents.to_pylist()]
    assert amounts.count(Decimal("1468.46")) == 2 and None in amounts


def test_extract_many_with_a_store_resumes_without_paying_twice(
    server: ScriptedServer, docs: list[Path], tmp_path: Path
) -> None:
    store = tmp_path / "run.db"
    sources: list[Any] = [*docs, (FIXTURES / "invoice.pdf").read_bytes()]
    options: dict[str, Any] = {"base_url": server.base_url, "model": "m", "store": store}
    first = {r.index: r for r in extract_many(sources, Invoice, **options)}
    assert server.calls == 3 and sorted(first) == [0, 1, 2, 3]
    again = {r.index: r for r in extract_many(sources, Invoice, **options)}
    assert server.calls == 3, "nothing committed is asked again"
    assert sorted(again) == [0, 1, 2, 3]
    assert again[0].data == first[0].data and isinstance(again[0].data, Invoice)
    assert again[3].source == "<bytes>" and again[3].ok
    assert again[2].error is not None and again[2].error.type == "empty_input"
    docs[2].write_bytes((FIXTURES / "invoice.pdf").read_bytes())  # the broken file, fixed
    fixed = {r.index: r for r in extract_many(sources, Invoice, **options)}
    assert server.calls == 4 and fixed[2].ok  # only the changed file
    retried = list(extract_many(sources, Invoice, retry_failed=True, **options))
    assert server.calls == 4 and len(retried) == 4  # no errors left to retry
    with pytest.raises(ConfigError, match="different job"):
        list(extract_many(sources, "receipt", **options))


HOLD = """
import sys, time
from pathlib import Path
from extractor.runlock import RunLock
RunLock(Path(sys.argv[1])).acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_a_store_another_process_is_using_is_refused(
    server: ScriptedServer, docs: list[Path], tmp_path: Path
) -> None:
    store = tmp_path / "run.db"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLD), str(store)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        refused = f"another run is writing run.db .process {holder.pid}"
        with pytest.raises(ConfigError, match=refused):
            list(extract_many(docs, Invoice, base_url=server.base_url, model="m", store=store))
    finally:
        holder.kill()
        holder.wait()
    assert server.calls == 0
