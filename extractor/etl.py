"""Records as flat tables for ETL: one row per document, one row per list item.

(``extractor.tables`` is :func:`tables`; this module has another name so that the
function is not shadowed by a submodule of the same name.)

:func:`tables` turns results (or their records) into a *documents* table (the record's
own columns, then the data with nested objects as dotted columns: ``data.address.city``)
and one table per list of objects (``line_items``: one row per item, keyed by ``source``,
``sha256`` and the 1-based ``item`` number), as the CSV export does. They come as lists
of dicts, or as pyarrow tables (:meth:`Tables.to_arrow`) and pandas data frames
(:meth:`Tables.to_pandas`) when those are installed.

With the schema known, the columns are the schema's (also for documents that failed)
and their Arrow types come from it: ``str`` → string, ``int`` → int64, ``float`` →
float64, :data:`~extractor.money.Money` and ``Decimal`` → decimal128(38, 9), ``date`` →
date32, ``datetime`` → timestamp, lists of values → list, maps → map, other unions →
string. ``--format parquet`` writes these tables, streaming (pyarrow is the ``parquet``
extra).

Example:
    >>> records = [{"source": "a.pdf", "status": "ok", "data": {"total": 9.5,
    ...             "line_items": [{"description": "Toner", "amount": 9.5}]}}]
    >>> t = tables(records)
    >>> t.documents[0]["data.total"], t.line_items[0]["description"]
    (9.5, 'Toner')
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from extractor.errors import ConfigError
from extractor.export import META_COLUMNS, flat_rows, json_safe

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = ["Column", "Tables", "arrow_schemas", "columns_of", "tables", "write_parquet"]

T = TypeVar("T")
_ITEM_KEYS = ("source", "sha256", "item")
_BATCH = 1024  # rows per Parquet row group write: memory stays flat on large runs
_DECIMAL_PLACES = Decimal(1).scaleb(-9)
_META_TYPES = {
    "usage.prompt_tokens": int, "usage.completion_tokens": int, "cost_usd": float,
    "pages": int, "latency_s": float,
}  # fmt: skip


@dataclass(frozen=True)
class Column:
    """One column: its name, where its value stands in a record, its Python type."""

    name: str
    path: tuple[str, ...]
    annotation: Any


@dataclass(frozen=True)
class Tables(Generic[T]):
    """A documents table and one table per list of objects (by its dotted name).

    Attributes:
        documents: one row per document.
        lists: one table per list of objects in the data, e.g. ``lists["line_items"]``.
        model: the schema the columns come from (None when they come from the records).
    """

    documents: T
    lists: dict[str, T] = field(default_factory=dict)
    model: type[BaseModel] | None = None

    @property
    def line_items(self) -> T | None:
        """``lists["line_items"]``, or the only list table; None when there is none."""
        if "line_items" in self.lists:
            return self.lists["line_items"]
        return next(iter(self.lists.values())) if len(self.lists) == 1 else None

    def to_arrow(
        self: Tables[list[dict[str, Any]]], model: type[BaseModel] | None = None
    ) -> Tables[Any]:
        """The tables as ``pyarrow.Table`` objects, typed from ``model`` (default: the
        schema :func:`tables` found) or, without one, as pyarrow infers them."""
        pa = _pyarrow()
        model = model or self.model
        if model is None:
            return Tables(pa.Table.from_pylist(self.documents),
                          {k: pa.Table.from_pylist(v) for k, v in self.lists.items()})  # fmt: skip
        documents, lists = columns_of(model)
        doc_schema, list_schemas = arrow_schemas(model)
        return Tables(
            _arrow_table(self.documents, documents, doc_schema, pa),
            {k: _arrow_table(v, lists[k], list_schemas[k], pa) for k, v in self.lists.items()},
            model,
        )

    def to_pandas(
        self: Tables[list[dict[str, Any]]], model: type[BaseModel] | None = None
    ) -> Tables[Any]:
        """The tables as pandas ``DataFrame`` objects (through Arrow, so typed alike)."""
        arrow = self.to_arrow(model)
        return Tables(arrow.documents.to_pandas(),
                      {k: v.to_pandas() for k, v in arrow.lists.items()}, arrow.model)  # fmt: skip


def tables(
    records: Iterable[Any], schema: type[BaseModel] | None = None
) -> Tables[list[dict[str, Any]]]:
    """Flat tables of ``records`` (results, or record dicts as exports hold them).

    The schema is ``schema``, else the model of the first successful result; with it,
    every document row has the schema's columns and maps stay one column. Without one
    (plain record dicts), the columns are those the records have.
    """
    dumped: list[dict[str, Any]] = []
    model = schema
    for record in records:
        if model is None and isinstance(getattr(record, "data", None), BaseModel):
            model = type(record.data)
        dumped.append(json_safe(record.record() if hasattr(record, "record") else dict(record)))
    if model is None:
        return _free_tables(dumped)
    documents, lists = columns_of(model)
    result: Tables[list[dict[str, Any]]] = Tables([], {name: [] for name in lists}, model)
    for record in dumped:
        result.documents.append(_row(record, documents))
        for name, item_columns in lists.items():
            result.lists[name].extend(_item_rows(record, name, item_columns))
    return result


def _free_tables(records: list[dict[str, Any]]) -> Tables[list[dict[str, Any]]]:
    result: Tables[list[dict[str, Any]]] = Tables([])
    for record in records:
        row, items = flat_rows(record)
        result.documents.append(row)
        for name, item in items:
            result.lists.setdefault(name, []).append(item)
    return result


# -- columns from the schema -------------------------------------------------------------------


def columns_of(model: type[BaseModel]) -> tuple[list[Column], dict[str, list[Column]]]:
    """The documents table's columns and, per list of objects, its item table's columns."""
    meta = [Column(name, tuple(name.split(".")), _META_TYPES.get(name, str))
            for name in META_COLUMNS]  # fmt: skip
    data: list[Column] = []
    lists: dict[str, list[Column]] = {}
    _walk_model(model, "", data, lists, frozenset())
    return meta + data, lists


def _walk_model(
    model: type[BaseModel],
    prefix: str,
    columns: list[Column],
    lists: dict[str, list[Column]],
    seen: frozenset[type[BaseModel]],
) -> None:
    for name, info in model.model_fields.items():
        dotted = f"{prefix}{name}"
        annotation = _plain(info.annotation)
        item = _list_item(annotation)
        if _is_model(annotation) and annotation not in seen:
            _walk_model(annotation, dotted + ".", columns, lists, seen | {model})
        elif item is not None and _is_model(item):
            item_columns: list[Column] = [Column(k, (k,), int if k == "item" else str)
                                          for k in _ITEM_KEYS]  # fmt: skip
            _walk_model(item, "", item_columns, {}, seen | {model})
            lists[dotted] = [replace_path(c) for c in item_columns]
        else:
            columns.append(Column(f"data.{dotted}", ("data", *dotted.split(".")), annotation))


def replace_path(column: Column) -> Column:
    """An item column: read from the item row by its own name (not ``data.…``)."""
    name = column.name.removeprefix("data.")
    return Column(name, (name,), column.annotation)


def _row(record: Mapping[str, Any], columns: list[Column]) -> dict[str, Any]:
    return {column.name: _lookup(record, column.path) for column in columns}


def _item_rows(
    record: Mapping[str, Any], name: str, columns: list[Column]
) -> Iterator[dict[str, Any]]:
    items = _lookup(record, ("data", *name.split(".")))
    for number, item in enumerate(items if isinstance(items, list) else [], start=1):
        flat = {"source": record.get("source"), "sha256": record.get("sha256"), "item": number}
        flat.update(_flatten(item) if isinstance(item, dict) else {})
        yield {column.name: flat.get(column.name) for column in columns}


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat[f"{prefix}{key}"] = item
        if isinstance(item, dict):
            flat.update(_flatten(item, f"{prefix}{key}."))
    return flat


def _lookup(record: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _plain(annotation: Any) -> Any:
    """``annotation`` without ``Annotated`` and without ``None`` in a union."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _plain(args[0]) if len(args) == 1 else annotation
    return annotation


def _list_item(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (list, tuple, set, frozenset):
        args = typing.get_args(annotation)
        return _plain(args[0]) if args else Any
    return None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


# -- Arrow ---------------------------------------------------------------------------------


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:
        raise ConfigError(
            "Arrow tables and Parquet need pyarrow: pip install 'extractor[parquet]'"
        ) from None
    return pyarrow


def arrow_schemas(model: type[BaseModel]) -> tuple[Any, dict[str, Any]]:
    """The ``pyarrow.Schema`` of the documents table and of each list table of ``model``."""
    pa = _pyarrow()
    documents, lists = columns_of(model)

    def schema(columns: list[Column]) -> Any:
        return pa.schema([pa.field(c.name, _arrow_type(c.annotation, pa)) for c in columns])

    return schema(documents), {name: schema(columns) for name, columns in lists.items()}


def _arrow_type(annotation: Any, pa: Any) -> Any:
    annotation = _plain(annotation)
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return pa.bool_()
    if annotation is int:
        return pa.int64()
    if annotation is float:
        return pa.float64()
    if annotation is Decimal:
        return pa.decimal128(38, 9)
    if annotation is dt.datetime:
        return pa.timestamp("us")
    if annotation is dt.date:
        return pa.date32()
    if annotation is dt.time:
        return pa.time64("us")
    if _is_model(annotation):
        fields = [pa.field(k, _arrow_type(v.annotation, pa))
                  for k, v in annotation.model_fields.items()]  # fmt: skip
        return pa.struct(fields)
    if origin in (list, tuple, set, frozenset):
        return pa.list_(_arrow_type(_list_item(annotation), pa))
    if origin is dict:
        key, value = typing.get_args(annotation) or (str, Any)
        return pa.map_(_arrow_type(key, pa), _arrow_type(value, pa))
    return pa.string()  # str, Literal, Enum, unions of several types, Any


def _convert(annotation: Any) -> Callable[[Any], Any]:
    """A function from a record's JSON value to what pyarrow takes for the column's type."""
    annotation = _plain(annotation)
    origin = typing.get_origin(annotation)
    if annotation in (bool, int, float):
        return lambda v: v
    if annotation is Decimal:
        return _decimal
    if annotation in (dt.datetime, dt.date, dt.time):
        return lambda v: None if v is None else _iso(annotation, v)
    if _is_model(annotation):
        inner = {k: _convert(f.annotation) for k, f in annotation.model_fields.items()}
        return lambda v: None if v is None else {k: c(v.get(k)) for k, c in inner.items()}
    if origin in (list, tuple, set, frozenset):
        each = _convert(_list_item(annotation))
        return lambda v: None if v is None else [each(x) for x in v]
    if origin is dict:
        key, value = typing.get_args(annotation) or (str, Any)
        to_key, to_value = _convert(key), _convert(value)
        return lambda v: None if v is None else [(to_key(k), to_value(x)) for k, x in v.items()]
    return _text


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    exact = Decimal(repr(value) if isinstance(value, float) else str(value))
    return exact.quantize(_DECIMAL_PLACES, ROUND_HALF_EVEN)


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, enum.Enum):
        return str(value.value)
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)


def _iso(kind: Any, value: Any) -> Any:
    if isinstance(value, kind):
        return value
    parsed = kind.fromisoformat(str(value))
    if isinstance(parsed, dt.datetime) and parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)  # stored as UTC
    return parsed


def _arrow_table(rows: list[dict[str, Any]], columns: list[Column], schema: Any, pa: Any) -> Any:
    convert = _converters(columns)
    typed = [{k: convert[k](v) for k, v in row.items()} for row in rows]
    return pa.Table.from_pylist(typed, schema=schema)


# -- Parquet --------------------------------------------------------------------------------


def write_parquet(
    records: Iterable[Mapping[str, Any]],
    path: Path,
    model: type[BaseModel] | None,
    *,
    opener: Callable[[list[Path], int], AbstractContextManager[list[IO[bytes]]]],
    mode: int,
) -> list[Path]:
    """Write the documents table to ``path`` and each list table to ``OUT.<list>.parquet``,
    streaming ``records`` in row groups; the files are opened (and renamed into place
    together) by ``opener``."""
    pa = _pyarrow()
    import pyarrow.parquet as pq

    if model is None:
        raise ConfigError("a Parquet export needs the schema's model for its column types")
    documents, lists = columns_of(model)
    doc_schema, list_schemas = arrow_schemas(model)
    suffix = path.suffix or ".parquet"
    paths = {name: path.with_name(f"{path.stem}.{name}{suffix}") for name in lists}
    schemas = [doc_schema, *list_schemas.values()]
    with opener([path, *paths.values()], mode) as handles:
        writers = [pq.ParquetWriter(h, s) for h, s in zip(handles, schemas, strict=True)]
        batches: list[list[dict[str, Any]]] = [[] for _ in writers]
        converters = [_converters(documents), *(_converters(lists[name]) for name in lists)]
        for record in records:
            safe = json_safe(dict(record))
            batches[0].append(_row(safe, documents))
            for number, name in enumerate(lists, start=1):
                batches[number].extend(_item_rows(safe, name, lists[name]))
            if sum(map(len, batches)) >= _BATCH:
                _flush(writers, batches, converters, pa)
        _flush(writers, batches, converters, pa)
        for writer in writers:
            writer.close()
    return [path, *paths.values()]


def _converters(columns: list[Column]) -> dict[str, Callable[[Any], Any]]:
    return {column.name: _convert(column.annotation) for column in columns}


def _flush(
    writers: list[Any],
    batches: list[list[dict[str, Any]]],
    converters: list[dict[str, Callable[[Any], Any]]],
    pa: Any,
) -> None:
    for writer, batch, convert in zip(writers, batches, converters, strict=True):
        if batch:
            rows = [{k: convert[k](v) for k, v in row.items()} for row in batch]
            writer.write_table(pa.Table.from_pylist(rows, schema=writer.schema))
            batch.clear()
