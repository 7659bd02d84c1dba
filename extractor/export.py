"""Export stage: records → JSONL, JSON or CSV files, each written atomically.

A file is written beside its destination and renamed over it, so a reader (or a kill)
sees either the old file, or the complete new one.

CSV: one row per document with nested objects as dotted columns (``address.city``);
each list of objects (``line_items``) goes to a second file ``OUT.line_items.csv`` keyed
by ``source`` and ``sha256``, so a spreadsheet or database can join the two. Cells a
spreadsheet would execute (starting ``=``, ``+``, ``-``, ``@``) are neutralised.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import orjson

__all__ = ["FORMATS", "Format", "json_safe", "write_atomic", "write_records"]

Format = Literal["jsonl", "json", "csv"]
FORMATS: tuple[Format, ...] = ("jsonl", "json", "csv")

_META_COLUMNS = (
    "source", "sha256", "status", "error.type", "error.message", "provider", "model",
    "usage.prompt_tokens", "usage.completion_tokens", "cost_usd", "pages", "latency_s",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_records(records: Sequence[dict[str, Any]], path: Path, fmt: Format) -> list[Path]:
    """Write ``records`` to ``path`` in ``fmt``; returns every file written."""
    records = [json_safe(r) for r in records]
    if fmt == "jsonl":
        write_atomic(path, b"".join(orjson.dumps(r) + b"\n" for r in records))
        return [path]
    if fmt == "json":
        write_atomic(path, orjson.dumps(records, option=orjson.OPT_INDENT_2) + b"\n")
        return [path]
    if fmt == "csv":
        return _write_csv(records, path)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def json_safe(value: Any) -> Any:
    """Replace lone surrogates (which PDF text layers produce) so JSON encoders accept them."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_atomic(path: Path, content: bytes) -> None:
    """Write ``content`` beside ``path``, fsync it, and rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# -- CSV -------------------------------------------------------------------------------


def _write_csv(records: Sequence[dict[str, Any]], path: Path) -> list[Path]:
    rows: list[dict[str, Any]] = []
    tables: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        row = {column: _lookup(record, column) for column in _META_COLUMNS}
        for key, value in _flatten(record.get("data") or {}, "").items():
            if isinstance(value, list) and any(isinstance(v, dict) for v in value):
                for number, item in enumerate(value, start=1):
                    item_row = {"source": record.get("source"), "sha256": record.get("sha256"),
                                "item": number}  # fmt: skip
                    item_row.update(
                        _flatten(item, "") if isinstance(item, dict) else {"value": item}
                    )
                    tables.setdefault(key, []).append(item_row)
            else:
                row[f"data.{key}"] = (
                    "; ".join(map(str, value)) if isinstance(value, list) else value
                )
        rows.append(row)
    written = [path]
    write_atomic(path, _csv_bytes(rows))
    for key, items in tables.items():
        table_path = path.with_name(f"{path.stem}.{key}{path.suffix or '.csv'}")
        write_atomic(table_path, _csv_bytes(items))
        written.append(table_path)
    return written


def _lookup(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _flatten(value: dict[str, Any], prefix: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            flat.update(_flatten(item, name + "."))
        else:
            flat[name] = item
    return flat


def _csv_bytes(rows: Iterable[dict[str, Any]]) -> bytes:
    rows = list(rows)
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue().encode("utf-8")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value  # a spreadsheet shows it as text instead of running it
    return value
