"""Export stage: records → JSONL, JSON or CSV files, each written atomically.

A file is written beside its destination and renamed over it, so a reader (or a kill)
sees either the old file, or the complete new one. Records are streamed into that
temporary file one at a time, so an export of any size holds about one record in memory.

CSV: one row per document with nested objects as dotted columns (``address.city``);
each list of objects (``line_items``) goes to a second file ``OUT.line_items.csv`` keyed
by ``source`` and ``sha256``, so a spreadsheet or database can join the two. Cells a
spreadsheet would execute (starting ``=``, ``+``, ``-``, ``@``) are neutralised. A CSV
header names every column of every row, so CSV reads the records twice: once for the
columns, once for the rows.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any, Literal, TypeAlias

import orjson

__all__ = ["FORMATS", "Format", "Records", "json_safe", "write_atomic", "write_records"]

Format = Literal["jsonl", "json", "csv"]
FORMATS: tuple[Format, ...] = ("jsonl", "json", "csv")
Records: TypeAlias = Iterable[Mapping[str, Any]] | Callable[[], Iterable[Mapping[str, Any]]]

_META_COLUMNS = (
    "source", "sha256", "status", "error.type", "error.message", "provider", "model",
    "usage.prompt_tokens", "usage.completion_tokens", "cost_usd", "pages", "latency_s",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_records(records: Records, path: Path, fmt: Format) -> list[Path]:
    """Write ``records`` to ``path`` in ``fmt``, streaming; returns every file written.

    ``records`` is any iterable of records (a list, a generator, ``store.records()``), or
    a callable that returns a fresh iterable on each call (``store.records``). JSONL and
    JSON read it once. CSV reads it twice (columns, then rows): a callable is called twice,
    a collection such as a list is iterated twice, and a one-shot iterator is first
    gathered into a list, so pass a callable to keep a large CSV export flat in memory.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "r.jsonl"
        >>> write_records(iter([{"source": "a.pdf", "status": "ok"}]), out, "jsonl") == [out]
        True
        >>> out.read_text()
        '{"source":"a.pdf","status":"ok"}\\n'
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return _write_csv(_passes(records), path)
    with _atomic(path) as handle:
        if fmt == "jsonl":
            for record in _once(records):
                handle.write(orjson.dumps(json_safe(record)) + b"\n")
        else:
            _write_json_array(handle, _once(records))
    return [path]


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
    with _atomic(path) as handle:
        handle.write(content)


@contextmanager
def _atomic(path: Path) -> Iterator[IO[bytes]]:
    """A buffered handle on a temporary file beside ``path``; on a clean exit it is
    fsynced and renamed over ``path``, on an exception it is removed and ``path`` stays."""
    with _atomic_group([path]) as (handle,):
        yield handle


@contextmanager
def _atomic_group(paths: list[Path]) -> Iterator[list[IO[bytes]]]:
    """:func:`_atomic` for several files that belong together: none is renamed into place
    until all of them are written (the renames themselves happen one after another)."""
    temps: list[Path] = []
    try:
        with ExitStack() as stack:
            handles: list[IO[bytes]] = []
            for path in paths:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
                temps.append(Path(name))
                handles.append(stack.enter_context(os.fdopen(fd, "wb", buffering=1 << 16)))
            yield handles
            for handle in handles:
                handle.flush()
                os.fsync(handle.fileno())
        for written, path in zip(temps, paths, strict=True):
            os.replace(written, path)
    except BaseException:
        for leftover in temps:
            leftover.unlink(missing_ok=True)
        raise


def _once(records: Records) -> Iterable[Mapping[str, Any]]:
    return records() if callable(records) else records


def _passes(records: Records) -> Callable[[], Iterable[Mapping[str, Any]]]:
    """A callable giving a fresh iteration per call, for formats that read twice."""
    if callable(records):
        return records
    # A one-shot iterator cannot be read twice: the second pass needs a copy.
    again = list(records) if iter(records) is records else records
    return lambda: again


def _write_json_array(handle: IO[bytes], records: Iterable[Mapping[str, Any]]) -> None:
    """Byte for byte what ``orjson.dumps(list(records), option=OPT_INDENT_2) + b"\\n"``
    writes, one record at a time: a JSON string never holds a raw newline, so every line
    of an indented record can be shifted two spaces into the array."""
    separator = b"[\n  "
    for record in records:
        indented = orjson.dumps(json_safe(record), option=orjson.OPT_INDENT_2)
        handle.write(separator + indented.replace(b"\n", b"\n  "))
        separator = b",\n  "
    handle.write(b"[]\n" if separator == b"[\n  " else b"\n]\n")


# -- CSV -------------------------------------------------------------------------------


def _write_csv(records: Callable[[], Iterable[Mapping[str, Any]]], path: Path) -> list[Path]:
    columns: dict[str, None] = {}
    table_columns: dict[str, dict[str, None]] = {}
    for record in records():  # pass 1: every column, in order of first appearance
        row, items = _csv_rows(json_safe(record))
        columns.update(dict.fromkeys(row))
        for key, item_row in items:
            table_columns.setdefault(key, {}).update(dict.fromkeys(item_row))
    tables = {
        key: path.with_name(f"{path.stem}.{key}{path.suffix or '.csv'}") for key in table_columns
    }
    with _atomic_group([path, *tables.values()]) as handles:
        main = _csv_writer(handles[0], columns)
        by_table = {
            key: _csv_writer(handle, table_columns[key])
            for key, handle in zip(tables, handles[1:], strict=True)
        }
        for record in records():  # pass 2: the rows
            row, items = _csv_rows(json_safe(record))
            main.writerow(row)
            for key, item_row in items:
                by_table[key].writerow(item_row)
        for writer in (main, *by_table.values()):
            writer.flush()
    return [path, *tables.values()]


def _csv_rows(record: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """The document's row, and its ``(list name, row)`` pairs for the list tables."""
    row = {column: _lookup(record, column) for column in _META_COLUMNS}
    items: list[tuple[str, dict[str, Any]]] = []
    for key, value in _flatten(record.get("data") or {}, "").items():
        if isinstance(value, list) and any(isinstance(v, dict) for v in value):
            for number, item in enumerate(value, start=1):
                item_row = {"source": record.get("source"), "sha256": record.get("sha256"),
                            "item": number}  # fmt: skip
                item_row.update(_flatten(item, "") if isinstance(item, dict) else {"value": item})
                items.append((key, item_row))
        else:
            row[f"data.{key}"] = "; ".join(map(str, value)) if isinstance(value, list) else value
    return row, items


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


class _csv_writer:
    """A ``csv.DictWriter`` over a binary handle, header first, cells defused."""

    def __init__(self, handle: IO[bytes], columns: dict[str, None]) -> None:
        self._handle = handle
        self._buffer = io.StringIO()
        self._writer = csv.DictWriter(self._buffer, fieldnames=list(columns), extrasaction="ignore")
        self._writer.writeheader()

    def writerow(self, row: dict[str, Any]) -> None:
        self._writer.writerow({k: _cell(v) for k, v in row.items()})
        if self._buffer.tell() >= 1 << 16:
            self.flush()

    def flush(self) -> None:
        self._handle.write(self._buffer.getvalue().encode("utf-8"))
        self._buffer.seek(0)
        self._buffer.truncate()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value  # a spreadsheet shows it as text instead of running it
    return value
