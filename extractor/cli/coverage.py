"""``eval-compare``'s check that both runs cover the same documents.

Deltas between two runs mean something only over the same documents: a run that missed
ten invoices (or was scored on another folder) looks worse or better for reasons that
have nothing to do with extraction. Records files are compared by document (the stems
their truth is matched by); saved reports, which keep only counts, by their counts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from extractor.evaluate.report import EvalReport

__all__ = ["coverage_warning"]

_SHOWN = 5


def coverage_warning(a: Path, b: Path, report_a: EvalReport, report_b: EvalReport) -> str | None:
    """A warning when A and B cover different documents, else None."""
    stems_a, stems_b = _stems(a), _stems(b)
    if stems_a is not None and stems_b is not None:
        only_a, only_b = sorted(stems_a - stems_b), sorted(stems_b - stems_a)
        if not (only_a or only_b):
            return None
        return (
            f"A and B cover different documents: {len(only_a)} only in A{_names(only_a)}, "
            f"{len(only_b)} only in B{_names(only_b)}; the deltas compare different sets"
        )
    counts_a, counts_b = report_a.documents, report_b.documents
    seen_a = (counts_a.truth, counts_a.scored, counts_a.missing)
    seen_b = (counts_b.truth, counts_b.scored, counts_b.missing)
    if seen_a == seen_b:
        return None
    return (
        "A and B cover different documents (A: "
        f"{counts_a.scored} scored, {counts_a.missing} missing of {counts_a.truth}; B: "
        f"{counts_b.scored} scored, {counts_b.missing} missing of {counts_b.truth}); "
        "the deltas compare different sets"
    )


def _stems(path: Path) -> set[str] | None:
    """The document stems of a records file; None for a saved report."""
    from extractor.evaluate.records import document_stem, load_records
    from extractor.evaluate.report import is_report_json

    try:
        if is_report_json(json.loads(path.read_text(encoding="utf-8"))):
            return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass  # JSONL: records
    return {stem for record in load_records(path) if (stem := document_stem(record))}


def _names(stems: list[str]) -> str:
    if not stems:
        return ""
    more = f", … {len(stems) - _SHOWN} more" if len(stems) > _SHOWN else ""
    return f" ({', '.join(stems[:_SHOWN])}{more})"
