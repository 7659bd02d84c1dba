"""Measure extraction quality: score result records against truth files.

Type-aware matching (dates as dates, amounts to the cent, currency symbols as codes,
identifiers without spaces, free text by ANLS), precision/recall/F1 per field and overall
over (document, field, value), line items aligned before scoring, and a check of whether
per-field confidence separates right from wrong.

Example:
    >>> from extractor.evaluate import compare, load_records, load_truth, score
    >>> truth = load_truth("../shared/eval/invoices")  # doctest: +SKIP
    >>> report = score(load_records("out/results.jsonl"), truth)  # doctest: +SKIP
    >>> report.fields["invoice_date"].f1  # doctest: +SKIP
    0.97
    >>> print(report.to_json())  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers; at run time each name loads on first use
    from extractor.evaluate.matching import FieldKind, anls, field_kind
    from extractor.evaluate.records import load_records, load_truth
    from extractor.evaluate.report import (
        Comparison,
        ConfidenceBand,
        ConfidenceReport,
        DocumentCounts,
        EvalReport,
        FieldDelta,
        FieldStats,
        Mismatch,
        compare,
        load_report,
    )
    from extractor.evaluate.scoring import score

# Lazy, so that a command line option's default (extractor.evaluate.matching) does not load
# the report module (and rich's tables) for `extractor --help`.
_EXPORTS = {
    "extractor.evaluate.matching": ("FieldKind", "anls", "field_kind"),
    "extractor.evaluate.records": ("load_records", "load_truth"),
    "extractor.evaluate.report": ("Comparison", "ConfidenceBand", "ConfidenceReport",
                                  "DocumentCounts", "EvalReport", "FieldDelta", "FieldStats",
                                  "Mismatch", "compare", "load_report"),
    "extractor.evaluate.scoring": ("score",),
}  # fmt: skip
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'extractor.evaluate' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))


__all__ = [
    "Comparison",
    "ConfidenceBand",
    "ConfidenceReport",
    "DocumentCounts",
    "EvalReport",
    "FieldDelta",
    "FieldKind",
    "FieldStats",
    "Mismatch",
    "anls",
    "compare",
    "field_kind",
    "load_records",
    "load_report",
    "load_truth",
    "score",
]
