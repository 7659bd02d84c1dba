"""The export stage: streamed JSONL, JSON and CSV, byte for byte, and written atomically."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from extractor.export import Format, json_safe, write_records

RECORDS: list[dict[str, Any]] = [
    {
        "index": 0, "source": "docs/a.pdf", "sha256": "aa", "status": "ok",
        "data": {
            "number": "=1+1", "total": 12.5, "tags": ["x", "y"], "paid": True,
            "address": {"city": "Köln", "zip": None},
            "line_items": [{"description": "Toner", "amount": 20.0},
                           {"description": "Paper\nA4", "amount": 5.0, "note": "-cheap"}],
        },
        "error": None, "provider": "openai-compatible", "model": "m",
        "usage": {"prompt_tokens": 100, "completion_tokens": 50}, "cost_usd": None,
        "pages": 1, "latency_s": 0.25, "attempts": [], "empty": {},
    },
    {
        "index": 1, "source": "docs/b\ud800.txt", "sha256": None, "status": "error",
        "data": None, "error": {"type": "empty_input", "message": "the file is empty"},
        "provider": "openai-compatible", "model": "m",
        "usage": {"prompt_tokens": 0, "completion_tokens": 0}, "cost_usd": 0.0,
        "pages": 0, "latency_s": 0.0, "attempts": [],
    },
    {
        "index": 2, "source": "docs/c.pdf", "sha256": "cc", "status": "ok",
        "data": {"number": "7", "total": 3, "extra": "new column", "line_items": [],
                 "codes": [{"code": "A"}]},
        "error": None, "provider": "openai-compatible", "model": "m",
        "usage": {"prompt_tokens": 10, "completion_tokens": 5}, "cost_usd": 0.0015,
        "pages": 2, "latency_s": 1.5, "attempts": [{"n": 1}],
    },
]  # fmt: skip

META = (
    "source,sha256,status,error.type,error.message,provider,model,usage.prompt_tokens,"
    "usage.completion_tokens,cost_usd,pages,latency_s"
)
# Columns in order of first appearance; an empty list is a (blank) cell, not a table.
EXPECTED_CSV = (
    f"{META},data.number,data.total,data.tags,data.paid,data.address.city,data.address.zip,"
    "data.extra,data.line_items\r\n"
    "docs/a.pdf,aa,ok,,,openai-compatible,m,100,50,,1,0.25,'=1+1,12.5,x; y,true,Köln,,,\r\n"
    "docs/b?.txt,,error,empty_input,the file is empty,openai-compatible,m,0,0,0.0,0,0.0"
    ",,,,,,,,\r\n"
    "docs/c.pdf,cc,ok,,,openai-compatible,m,10,5,0.0015,2,1.5,7,3,,,,,new column,\r\n"
)
EXPECTED_ITEMS = (
    "source,sha256,item,description,amount,note\r\n"
    "docs/a.pdf,aa,1,Toner,20.0,\r\n"
    'docs/a.pdf,aa,2,"Paper\nA4",5.0,\'-cheap\r\n'
)
EXPECTED_CODES = "source,sha256,item,code\r\ndocs/c.pdf,cc,1,A\r\n"


def _inputs() -> dict[str, Callable[[], Any]]:
    """The kinds of ``records`` that write_records takes, each made fresh per call."""
    return {
        "list": lambda: list(RECORDS),
        "generator": lambda: (r for r in RECORDS),
        "callable": lambda: lambda: iter(RECORDS),
    }


@pytest.mark.parametrize("kind", list(_inputs()))
def test_jsonl_is_one_json_safe_record_per_line(tmp_path: Path, kind: str) -> None:
    out = tmp_path / "r.jsonl"
    assert write_records(_inputs()[kind](), out, "jsonl") == [out]
    expected = b"".join(orjson.dumps(json_safe(r)) + b"\n" for r in RECORDS)
    assert out.read_bytes() == expected
    lines = out.read_bytes().splitlines()
    assert orjson.loads(lines[1])["source"] == "docs/b?.txt"  # the lone surrogate, replaced
    assert orjson.loads(lines[0])["data"]["line_items"][1]["description"] == "Paper\nA4"


@pytest.mark.parametrize("kind", list(_inputs()))
def test_json_is_the_indented_array_it_always_was(tmp_path: Path, kind: str) -> None:
    out = tmp_path / "r.json"
    assert write_records(_inputs()[kind](), out, "json") == [out]
    whole = [json_safe(r) for r in RECORDS]
    assert out.read_bytes() == orjson.dumps(whole, option=orjson.OPT_INDENT_2) + b"\n"
    assert orjson.loads(out.read_bytes()) == whole


@pytest.mark.parametrize(
    ("records", "expected"),
    [([], b"[]\n"), ([{"a": [], "b": {}}], b'[\n  {\n    "a": [],\n    "b": {}\n  }\n]\n')],
)
def test_json_edge_cases(tmp_path: Path, records: list[dict[str, Any]], expected: bytes) -> None:
    out = tmp_path / "r.json"
    write_records(iter(records), out, "json")
    assert out.read_bytes() == expected == orjson.dumps(records, option=orjson.OPT_INDENT_2) + b"\n"


@pytest.mark.parametrize("kind", list(_inputs()))
def test_csv_has_every_column_and_a_table_per_list_of_objects(tmp_path: Path, kind: str) -> None:
    out = tmp_path / "r.csv"
    written = write_records(_inputs()[kind](), out, "csv")
    assert written == [out, tmp_path / "r.line_items.csv", tmp_path / "r.codes.csv"]
    assert out.read_bytes().decode() == EXPECTED_CSV
    assert (tmp_path / "r.line_items.csv").read_bytes().decode() == EXPECTED_ITEMS
    assert (tmp_path / "r.codes.csv").read_bytes().decode() == EXPECTED_CODES


def test_csv_reads_a_callable_twice_and_holds_no_list(tmp_path: Path) -> None:
    calls: list[int] = []

    def records() -> Iterator[dict[str, Any]]:
        calls.append(1)
        yield from RECORDS

    write_records(records, tmp_path / "r.csv", "csv")
    assert len(calls) == 2
    write_records(records, tmp_path / "r.jsonl", "jsonl")
    assert len(calls) == 3


def test_csv_of_no_records_is_an_empty_file(tmp_path: Path) -> None:
    assert write_records([], tmp_path / "r.csv", "csv") == [tmp_path / "r.csv"]
    assert (tmp_path / "r.csv").read_bytes() == b"\r\n"


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown format"):
        write_records(RECORDS, tmp_path / "r.xml", "xml")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


# -- atomic ----------------------------------------------------------------------------


class Boom(Exception):
    pass


def _failing(after: int) -> Iterator[dict[str, Any]]:
    """The records, but the source fails after ``after`` of them (a store read error)."""
    for number, record in enumerate(RECORDS * 100):
        if number == after:
            raise Boom("the store went away")
        yield record


def _fails_in_last_pass(fmt: Format, after: int) -> Callable[[], Iterable[dict[str, Any]]]:
    """Records that fail after ``after`` of them while rows are written: in the only pass
    of JSONL and JSON, in the second of CSV (the column pass sees them all)."""
    calls = 0

    def records() -> Iterable[dict[str, Any]]:
        nonlocal calls
        calls += 1
        return RECORDS * 100 if fmt == "csv" and calls == 1 else _failing(after)

    return records


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
@pytest.mark.parametrize("after", [0, 2, 250])
def test_a_failure_mid_write_leaves_no_partial_file(
    tmp_path: Path, fmt: Format, after: int
) -> None:
    out = tmp_path / "out" / f"r.{fmt}"
    with pytest.raises(Boom):
        write_records(_fails_in_last_pass(fmt, after), out, fmt)
    assert list((tmp_path / "out").iterdir()) == []  # no export, no temporary file
    with pytest.raises(Boom):  # CSV: the column pass fails
        write_records(lambda: _failing(after), out, fmt)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_a_failure_mid_write_keeps_the_old_export(tmp_path: Path, fmt: Format) -> None:
    out = tmp_path / f"r.{fmt}"
    written = write_records(RECORDS, out, fmt)
    before = {path: path.read_bytes() for path in written}
    with pytest.raises(Boom):
        write_records(_fails_in_last_pass(fmt, 4), out, fmt)
    assert {path: path.read_bytes() for path in tmp_path.iterdir()} == before


def test_write_records_accepts_the_store_records_method(tmp_path: Path) -> None:
    from extractor.store import RecordStore

    with RecordStore.open(tmp_path / "r.db", "job") as store:
        for record in RECORDS:
            store.commit(record)
        write_records(store.records, tmp_path / "r.csv", "csv")
        write_records(store.records(), tmp_path / "r.jsonl", "jsonl")
    assert (tmp_path / "r.csv").read_bytes().decode() == EXPECTED_CSV
    expected = b"".join(orjson.dumps(json_safe(r)) + b"\n" for r in RECORDS)
    assert (tmp_path / "r.jsonl").read_bytes() == expected
