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
