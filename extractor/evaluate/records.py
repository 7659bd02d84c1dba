"""Read result records and truth files, and pair them by document stem.

A record names its document in ``source``; the truth for it is ``<stem>.json`` in the truth
folder, where ``<stem>`` is the source's file name without its extension.

>>> document_stem({"source": "/data/in/zf_abc.pdf"})
'zf_abc'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from extractor.errors import ConfigError

__all__ = [
    "PairedRecords",
    "document_stem",
    "load_records",
    "load_truth",
    "pair_records",
]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", path=str(path)) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}", path=str(path)) from exc


def _as_record(value: object, path: Path, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}{where}: a record must be a JSON object", path=str(path))
    return value


def load_records(path: Path | str) -> list[dict[str, Any]]:
    """Read result records from a JSONL file, a JSON array file or a single JSON object.

    Blank lines in JSONL are skipped. A malformed line raises :class:`ConfigError` naming
    the file and line.

    Example:
        >>> records = load_records("out/results.jsonl")  # doctest: +SKIP
        >>> records[0]["status"]  # doctest: +SKIP
        'ok'
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", path=str(path)) from exc
    stripped = text.lstrip()
    if stripped.startswith("["):
        items = _read_json(path)
        return [_as_record(item, path, f"[{i}]") for i, item in enumerate(items)]
    if stripped.startswith("{") and "\n" in stripped.rstrip():
        try:  # one pretty-printed record rather than JSONL
            return [_as_record(json.loads(text), path, "")]
        except json.JSONDecodeError:
            pass
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}:{number}: not a JSON record: {exc}", path=f"{path}:{number}"
            ) from exc
        records.append(_as_record(value, path, f":{number}"))
    return records


def load_truth(path: Path | str) -> dict[str, dict[str, Any]]:
    """Read every ``*.json`` truth file in a folder (or one file), keyed by file stem.

    Example:
        >>> truth = load_truth("../shared/eval/invoices")  # doctest: +SKIP
        >>> truth["i2d_AzureInterior"]["currency"]  # doctest: +SKIP
        'USD'
    """
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(path.glob("*.json"))
    else:
        raise ConfigError(f"truth path {path} does not exist", path=str(path))
    truth: dict[str, dict[str, Any]] = {}
    for file in files:
        value = _read_json(file)
        if not isinstance(value, dict):
            raise ConfigError(f"{file}: a truth file must hold a JSON object", path=str(file))
        truth[file.stem] = value
    return truth


def document_stem(record: Mapping[str, Any]) -> str | None:
    """The file stem of a record's ``source`` (POSIX or Windows path), or ``None``."""
    source = record.get("source")
    if not isinstance(source, str) or not source.strip():
        return None
    pure = PureWindowsPath(source) if "\\" in source else PurePosixPath(source)
    return pure.stem or None


@dataclass(slots=True)
class PairedRecords:
    """Records indexed by the truth document they belong to.

    Attributes:
        by_stem: the record for each truth stem that has one (the last one wins, so a
            resumed run's newer record replaces the older).
        unmatched: how many records name no truth document (or no source at all).
    """

    by_stem: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    unmatched: int = 0


def pair_records(records: Iterable[Mapping[str, Any]], truth_stems: Iterable[str]) -> PairedRecords:
    """Index *records* by document stem, keeping only stems that have truth."""
    known = set(truth_stems)
    paired = PairedRecords()
    for record in records:
        stem = document_stem(record)
        if stem is None or stem not in known:
            paired.unmatched += 1
            continue
        paired.by_stem[stem] = record
    return paired
