"""The evaluation report, its JSON form, and the comparison of two reports.

Example:
    >>> a = FieldStats.from_counts(tp=8, fp=2, fn=2)
    >>> b = FieldStats.from_counts(tp=9, fp=1, fn=1)
    >>> a.f1, b.f1
    (0.8, 0.9)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from extractor.errors import ConfigError

__all__ = [
    "Comparison",
    "ConfidenceBand",
    "ConfidenceReport",
    "DocumentCounts",
    "EvalReport",
    "FieldDelta",
    "FieldStats",
    "Mismatch",
    "Verdict",
    "compare",
    "is_report_json",
    "load_report",
]

Verdict = Literal["better", "worse", "same", "only_a", "only_b"]

_SAME = 1e-9


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


class FieldStats(_Frozen):
    """Counts and scores for one field path (or for all fields together).

    ``n`` is the support: how many truth values there were (``tp + fn``). ``mean_anls`` is
    the mean similarity over the truth values of text fields (a missing prediction scores
    0), and ``None`` where no text was scored. With nothing to score at all
    (``tp = fp = fn = 0``) precision, recall and F1 are 1.

    Free text counts as correct at an ANLS of at least the report's ``text_threshold``, so
    the address of another branch (one digit off) passes. ``exact`` holds the same counts
    with free text judged by exact match after normalisation (case, spacing, Unicode
    forms): on a free-text field, and overall; ``None`` on other fields, where it would
    repeat the counts above.
    """

    kind: str | None = None
    tp: int
    fp: int
    fn: int
    n: int
    precision: float
    recall: float
    f1: float
    mean_anls: float | None = None
    exact: FieldStats | None = None

    @classmethod
    def from_counts(
        cls,
        *,
        tp: int,
        fp: int,
        fn: int,
        kind: str | None = None,
        mean_anls: float | None = None,
        exact: FieldStats | None = None,
    ) -> FieldStats:
        """Stats with precision, recall and F1 computed from the counts."""
        if tp == fp == fn == 0:
            precision = recall = f1 = 1.0
        else:
            precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
            f1 = _ratio(2 * tp, 2 * tp + fp + fn)  # = harmonic mean of P and R
        return cls(
            kind=kind,
            tp=tp,
            fp=fp,
            fn=fn,
            n=tp + fn,
            precision=precision,
            recall=recall,
            f1=f1,
            mean_anls=mean_anls,
            exact=exact,
        )


class DocumentCounts(_Frozen):
    """How the truth documents were covered by records.

    Attributes:
        truth: truth files read.
        scored: documents that entered the scores (all truth documents, unless missing
            records were skipped).
        ok: documents with an ``ok`` record.
        missing: documents with no record at all.
        errors: documents whose record has ``status`` ``error`` (they predict nothing).
        unmatched_records: records whose source has no truth file.
    """

    truth: int
    scored: int
    ok: int
    missing: int
    errors: int
    unmatched_records: int


class ConfidenceBand(_Frozen):
    """Accuracy of the scored predictions whose confidence is in ``[low, high)``.

    The last band includes 1.0. ``accuracy`` and ``mean_confidence`` are ``None`` for an
    empty band.
    """

    low: float
    high: float
    n: int
    accuracy: float | None
    mean_confidence: float | None = None


class ConfidenceReport(_Frozen):
    """Does the confidence separate right from wrong, and does it mean what it says?

    Predictions are sorted by confidence, highest first; the top half is the first
    ``ceil(n / 2)``, the bottom half the rest. ``bands`` gives the accuracy per
    confidence band. ``ece`` is the expected calibration error over the ten equal-width
    bins in ``calibration``: the mean, weighted by each bin's share of the predictions, of
    the gap between a bin's accuracy and its mean confidence (0 when a confidence of
    ``c`` is right a share ``c`` of the time).
    """

    n: int
    top_half_accuracy: float
    bottom_half_accuracy: float | None
    bands: list[ConfidenceBand]
    accuracy: float | None = None
    mean_confidence: float | None = None
    ece: float | None = None
    calibration: list[ConfidenceBand] = []


class Mismatch(_Frozen):
    """One scored value that was not a true positive (kept for error analysis).

    ``field`` is the index-free path the stats use; ``truth_path`` and ``predicted_path``
    locate the value in the truth file and in the record's data (``None`` where absent).
    """

    document: str
    field: str
    truth_path: str | None
    predicted_path: str | None
    expected: Any
    predicted: Any
    outcome: Literal["fn", "fp", "fp+fn"]
    similarity: float


class EvalReport(_Frozen):
    """Everything :func:`extractor.evaluate.score` measured.

    ``fields`` is keyed by field path without list indices (``line_items.amount``);
    ``overall`` is micro-averaged over all of them.
    """

    text_threshold: float
    documents: DocumentCounts
    overall: FieldStats
    fields: dict[str, FieldStats]
    confidence: ConfidenceReport | None = None
    mismatches: list[Mismatch] = []

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON text; :meth:`from_json` reads it back."""
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> EvalReport:
        """Parse a report written by :meth:`to_json`."""
        return cls.model_validate_json(text)


def is_report_json(value: object) -> bool:
    """Whether parsed JSON looks like an :class:`EvalReport` rather than records."""
    return isinstance(value, dict) and {"overall", "fields", "documents"} <= value.keys()


def load_report(path: Path | str) -> EvalReport:
    """Read a report written by :meth:`EvalReport.to_json`."""
    path = Path(path)
    try:
        return EvalReport.from_json(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}", path=str(path)) from exc
    except ValidationError as exc:
        raise ConfigError(f"{path} is not an evaluation report: {exc}", path=str(path)) from exc


class FieldDelta(_Frozen):
    """One field in two reports; deltas are ``b - a``, so positive means *b* is better.

    ``delta_exact_f1`` compares the exact-match F1 of free text (None where either report
    lacks it).
    """

    a: FieldStats | None
    b: FieldStats | None
    delta_precision: float | None
    delta_recall: float | None
    delta_f1: float | None
    delta_anls: float | None
    verdict: Verdict
    delta_exact_f1: float | None = None


class Comparison(_Frozen):
    """Per-field and overall deltas between report *a* and report *b*."""

    overall: FieldDelta
    fields: dict[str, FieldDelta]

    def to_json(self, *, indent: int | None = 2) -> str:
        """The comparison as JSON text."""
        return self.model_dump_json(indent=indent)

    def count(self, verdict: Verdict) -> int:
        """How many fields got *verdict*."""
        return sum(1 for delta in self.fields.values() if delta.verdict == verdict)


def _delta_of(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _field_delta(a: FieldStats | None, b: FieldStats | None) -> FieldDelta:
    if a is None or b is None:
        verdict: Verdict = "only_b" if a is None else "only_a"
        return FieldDelta(
            a=a,
            b=b,
            delta_precision=None,
            delta_recall=None,
            delta_f1=None,
            delta_anls=None,
            verdict=verdict,
        )
    delta_f1 = b.f1 - a.f1
    verdict = "same" if abs(delta_f1) <= _SAME else "better" if delta_f1 > 0 else "worse"
    return FieldDelta(
        a=a,
        b=b,
        delta_precision=b.precision - a.precision,
        delta_recall=b.recall - a.recall,
        delta_f1=delta_f1,
        delta_anls=_delta_of(a.mean_anls, b.mean_anls),
        verdict=verdict,
        delta_exact_f1=_delta_of(a.exact.f1 if a.exact else None, b.exact.f1 if b.exact else None),
    )


def compare(a: EvalReport, b: EvalReport) -> Comparison:
    """Field-by-field deltas from report *a* to report *b*, judged on F1.

    Example:
        >>> from extractor.evaluate import compare, load_records, load_truth, score
        >>> truth = load_truth("../shared/eval/invoices")  # doctest: +SKIP
        >>> old = score(load_records("old.jsonl"), truth)  # doctest: +SKIP
        >>> new = score(load_records("new.jsonl"), truth)  # doctest: +SKIP
        >>> compare(old, new).count("worse")  # doctest: +SKIP
        0
    """
    names = sorted(a.fields.keys() | b.fields.keys())
    return Comparison(
        overall=_field_delta(a.overall, b.overall),
        fields={name: _field_delta(a.fields.get(name), b.fields.get(name)) for name in names},
    )
