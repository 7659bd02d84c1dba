"""Export stage: records → JSONL, JSON, CSV or Parquet files, each written atomically.

A file is written beside its destination and renamed over it, so a reader (or a kill)
sees either the old file, or the complete new one. Records are streamed into that
temporary file one at a time, so an export of any size holds about one record in memory.
The temporary files of one export are named after its main file
(``.OUT.<random>.tmp``), so the next run can remove what a killed one left
(:func:`remove_stale_temporaries`). Only a regular file is ever replaced: a symlink, a
FIFO or a device at a destination is refused. Files get the mode a new file gets
(0666 less the umask), or the one the caller gives (the run's store's).

CSV: one row per document with nested objects as dotted columns (``address.city``);
each list of objects (``line_items``) goes to a second file ``OUT.line_items.csv`` keyed
by ``source`` and ``sha256``, so a spreadsheet or database can join the two. Cells a
spreadsheet would execute (starting ``=``, ``+``, ``-``, ``@``) are neutralised. A CSV
header names every column of every row, so CSV reads the records twice: once for the
columns, once for the rows. Parquet (:mod:`extractor.etl`, needs pyarrow) writes the
same two tables with column types derived from the schema.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, TypeAlias

import orjson

from extractor.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "FORMATS",
    "META_COLUMNS",
    "Format",
    "Records",
    "default_mode",
    "flat_rows",
    "json_safe",
    "remove_stale_temporaries",
    "write_atomic",
    "write_records",
]

Format = Literal["jsonl", "json", "csv", "parquet"]
FORMATS: tuple[Format, ...] = ("jsonl", "json", "csv", "parquet")
Records: TypeAlias = Iterable[Mapping[str, Any]] | Callable[[], Iterable[Mapping[str, Any]]]

META_COLUMNS = (
    "source", "sha256", "status", "error.type", "error.message", "provider", "model",
    "usage.prompt_tokens", "usage.completion_tokens", "cost_usd", "pages", "latency_s",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_records(
    records: Records,
    path: Path,
    fmt: Format,
    *,
    mode: int | None = None,
    model: type[BaseModel] | None = None,
) -> list[Path]:
    """Write ``records`` to ``path`` in ``fmt``, streaming; returns every file written.

    ``records`` is any iterable of records (a list, a generator, ``store.records()``), or
    a callable that returns a fresh iterable on each call (``store.records``). JSONL and
    JSON read it once. CSV reads it twice (columns, then rows): a callable is called twice,
    a collection such as a list is iterated twice, and a one-shot iterator is first
    gathered into a list, so pass a callable to keep a large CSV export flat in memory.
    Parquet takes its column types from ``model`` (the schema's pydantic model).
    ``mode`` is the files' permission bits (default: :func:`default_mode`).

    Raises:
        ConfigError: a destination exists and is not a regular file.

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
    mode = default_mode() if mode is None else mode
    if fmt == "csv":
        return _write_csv(_passes(records), path, mode)
    if fmt == "parquet":
        from extractor.etl import write_parquet

        written = write_parquet(_once(records), path, model, opener=_atomic_group, mode=mode)
        return list(written)
    with _atomic(path, mode) as handle:
        if fmt == "jsonl":
            for record in _once(records):
                handle.write(orjson.dumps(json_safe(record)) + b"\n")
        else:
            _write_json_array(handle, _once(records))
    return [path]


def json_safe(value: Any) -> Any:
    """Make strings JSON encoders accept: a file name's undecodable bytes (which
    ``os.fsdecode`` keeps as lone surrogates) become ``\\xNN`` escapes, losslessly, as
    the store writes them; other lone surrogates (which PDF text layers produce) become
    ``?``."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            try:
                raw = value.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                return value.encode("utf-8", "replace").decode("utf-8")
            return raw.decode("utf-8", "backslashreplace")
        return value
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_atomic(path: Path, content: bytes, *, mode: int | None = None) -> None:
    """Write ``content`` beside ``path``, fsync it, and rename it over ``path``."""
    with _atomic(path, default_mode() if mode is None else mode) as handle:
        handle.write(content)


def default_mode() -> int:
    """The permission bits a new file gets here: 0666 less the process's umask."""
    umask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    return 0o666 & ~umask


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files that exports of ``path`` left when a run was killed
    mid-write (``.OUT.<random>.tmp``, and those of ``OUT.eval.json``); returns them.

    Call it only while no other run writes ``path`` (under the run's lock).
    """
    name = re.escape(path.name)
    stale = re.compile(rf"\.{name}(?:\.eval\.json)?\.[a-z0-9_]{{8}}\.tmp")
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return []
    for entry in entries:
        if stale.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


@contextmanager
def _atomic(path: Path, mode: int) -> Iterator[IO[bytes]]:
    """A buffered handle on a temporary file beside ``path``; on a clean exit it is
    fsynced and renamed over ``path``, on an exception it is removed and ``path`` stays."""
    with _atomic_group([path], mode) as (handle,):
        yield handle


@contextmanager
def _atomic_group(paths: list[Path], mode: int) -> Iterator[list[IO[bytes]]]:
    """:func:`_atomic` for several files that belong together: none is renamed into place
    until all of them are written (the renames themselves happen one after another).
    Every temporary file is named after the first path, so a killed run's leftovers
    are found by its name alone."""
    temps: list[Path] = []
    prefix = f".{paths[0].name}."
    try:
        with ExitStack() as stack:
            handles: list[IO[bytes]] = []
            for path in paths:
                _check_replaceable(path)
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
                temps.append(Path(name))
                os.fchmod(fd, mode)  # mkstemp makes 0600; the export takes the run's mode
                handles.append(stack.enter_context(os.fdopen(fd, "wb", buffering=1 << 16)))
            yield handles
            for handle in handles:
                handle.flush()
                os.fsync(handle.fileno())
        for written, path in zip(temps, paths, strict=True):
            _check_replaceable(path)
            os.replace(written, path)
    except BaseException:
        for leftover in temps:
            leftover.unlink(missing_ok=True)
        raise


def _check_replaceable(path: Path) -> None:
    """Refuse to rename over anything but a regular file (a symlink, a FIFO, a device,
    a directory): the rename would replace it, or what a symlink points at would not
    be written."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path} exists and is not a regular file; not replacing it",
                          path=str(path))  # fmt: skip


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


def _write_csv(
    records: Callable[[], Iterable[Mapping[str, Any]]], path: Path, mode: int
) -> list[Path]:
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
    with _atomic_group([path, *tables.values()], mode) as handles:
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
    row, items = flat_rows(record)
    for column, value in row.items():
        if isinstance(value, list):
            row[column] = "; ".join(map(str, value))
    return row, items


def flat_rows(record: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """A record as table rows: the document's row (the record's own columns, then the
    data with nested objects as dotted columns and lists of values kept as lists), and a
    ``(list name, row)`` pair per item of each list of objects, keyed by ``source``,
    ``sha256`` and the 1-based ``item`` number."""
    row = {column: _lookup(record, column) for column in META_COLUMNS}
    items: list[tuple[str, dict[str, Any]]] = []
    for key, value in _flatten(record.get("data") or {}, "").items():
        if isinstance(value, list) and any(isinstance(v, dict) for v in value):
            for number, item in enumerate(value, start=1):
                item_row = {"source": record.get("source"), "sha256": record.get("sha256"),
                            "item": number}  # fmt: skip
                item_row.update(_flatten(item, "") if isinstance(item, dict) else {"value": item})
                items.append((key, item_row))
        else:
            row[f"data.{key}"] = value
    return row, items


def _lookup(record: Mapping[str, Any], dotted: str) -> Any:
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
