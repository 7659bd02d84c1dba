"""Score result records against truth: precision, recall and F1 over (document, field, value).

The rules:

* A field absent from a truth file is unknown: it is not scored, and a prediction for it
  is ignored. A field whose truth is ``null`` is known to be empty: predicting a value for
  it is a false positive.
* A known value predicted as nothing (missing, ``null``, blank) is a false negative; a
  correct prediction is a true positive; a wrong non-empty one is both a false positive
  and a false negative.
* Nested objects are flattened with dots (``seller.address.city``). Lists (line items)
  are aligned first: predicted and true items are paired greedily by mean item similarity,
  best pair first; extra predicted items are false positives and unpaired true items
  false negatives. Their sub-fields are scored as ``line_items.description`` etc.
* A document with no record, or whose record has ``status: "error"``, predicts nothing.

Example:
    >>> truth = {"inv1": {"invoice_date": "2024-03-15", "total_amount": 12.0}}
    >>> records = [{"source": "in/inv1.pdf", "status": "ok",
    ...             "data": {"invoice_date": "15.03.2024", "total_amount": "12,00"}}]
    >>> score(records, truth).overall.f1
    1.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from extractor.evaluate.align import align_items, dot_path, index_path, join_path, leaves
from extractor.evaluate.confidence import confidence_of, confidence_report
from extractor.evaluate.matching import (
    DEFAULT_TEXT_THRESHOLD,
    FieldKind,
    Match,
    field_kind,
    is_empty,
    match_value,
)
from extractor.evaluate.records import pair_records
from extractor.evaluate.report import DocumentCounts, EvalReport, FieldStats, Mismatch

__all__ = ["score"]

_NO_MATCH = Match(correct=False, similarity=0.0)


def _as_list(value: object) -> list[Any]:
    if is_empty(value):
        return []
    return value if isinstance(value, list) else [value]


@dataclass(slots=True)
class _Field:
    kind: FieldKind | None = None
    tp: int = 0
    fp: int = 0
    fn: int = 0
    anls: list[float] = field(default_factory=list)
    exact: list[int] = field(default_factory=lambda: [0, 0, 0])  # tp, fp, fn; text exactly

    def stats(self) -> FieldStats:
        exact = None
        if self.kind is FieldKind.TEXT:
            exact = FieldStats.from_counts(tp=self.exact[0], fp=self.exact[1], fn=self.exact[2])
        return FieldStats.from_counts(
            tp=self.tp,
            fp=self.fp,
            fn=self.fn,
            kind=self.kind.value if self.kind else None,
            mean_anls=sum(self.anls) / len(self.anls) if self.anls else None,
            exact=exact,
        )


@dataclass(slots=True)
class _Tally:
    text_threshold: float
    fields: dict[str, _Field] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)
    confidence: list[tuple[float, bool]] = field(default_factory=list)

    def stats(self) -> tuple[FieldStats, dict[str, FieldStats]]:
        per_field = {name: f.stats() for name, f in sorted(self.fields.items())}
        all_anls = [value for f in self.fields.values() for value in f.anls]
        exact = [sum(f.exact[k] for f in self.fields.values()) for k in range(3)]
        overall = FieldStats.from_counts(
            tp=sum(f.tp for f in self.fields.values()),
            fp=sum(f.fp for f in self.fields.values()),
            fn=sum(f.fn for f in self.fields.values()),
            mean_anls=sum(all_anls) / len(all_anls) if all_anls else None,
            exact=FieldStats.from_counts(tp=exact[0], fp=exact[1], fn=exact[2]),
        )
        return overall, per_field


@dataclass(slots=True)
class _Document:
    """Walks one truth document beside its prediction, adding outcomes to the tally."""

    name: str
    tally: _Tally
    confidences: Mapping[str, Any] | None

    def walk_object(
        self,
        truth: Mapping[str, Any],
        pred: object,
        field_path: str,
        truth_path: str,
        pred_path: str | None,
    ) -> None:
        predicted = pred if isinstance(pred, Mapping) else {}
        if not isinstance(pred, Mapping):
            pred_path = None
        for key, value in truth.items():
            self.walk_value(
                value,
                predicted.get(key),
                dot_path(field_path, key),
                dot_path(truth_path, key),
                join_path(pred_path, key),
            )

    def walk_value(
        self, truth: object, pred: object, field_path: str, truth_path: str, pred_path: str | None
    ) -> None:
        if isinstance(truth, Mapping):
            self.walk_object(truth, pred, field_path, truth_path, pred_path)
        elif isinstance(truth, list):
            self.walk_items(truth, pred, field_path, truth_path, pred_path)
        elif truth is None:
            for leaf_field, leaf_path, leaf in leaves(pred, field_path, pred_path):
                self.count(leaf_field, None, None, leaf, leaf_path, None)
        else:
            self.walk_leaf(truth, pred, field_path, truth_path, pred_path)

    def walk_leaf(
        self, truth: object, pred: object, field_path: str, truth_path: str, pred_path: str | None
    ) -> None:
        kind = field_kind(field_path, truth)
        if is_empty(pred):
            pred, pred_path = None, None
            match = _NO_MATCH
        elif isinstance(pred, Mapping | list):
            match = _NO_MATCH
        else:
            match = match_value(kind, truth, pred, text_threshold=self.tally.text_threshold)
        self.count(field_path, truth_path, truth, pred, pred_path, match, kind)

    def walk_items(
        self,
        truth: list[Any],
        pred: object,
        field_path: str,
        truth_path: str,
        pred_path: str | None,
    ) -> None:
        predicted = _as_list(pred)
        if not isinstance(pred, list):
            pred_path = None
        pairs = align_items(truth, predicted, field_path)
        for i, j in pairs:
            self.walk_value(
                truth[i], predicted[j], field_path, f"{truth_path}[{i}]", index_path(pred_path, j)
            )
        paired_truth = {i for i, _ in pairs}
        paired_pred = {j for _, j in pairs}
        for i, item in enumerate(truth):
            if i not in paired_truth:
                self.walk_value(item, None, field_path, f"{truth_path}[{i}]", None)
        known = _known_keys(truth)
        for j, item in enumerate(predicted):
            if j in paired_pred:
                continue
            if isinstance(item, Mapping) and known is not None:
                item = {key: value for key, value in item.items() if key in known}
            for leaf_field, leaf_path, leaf in leaves(item, field_path, index_path(pred_path, j)):
                self.count(leaf_field, None, None, leaf, leaf_path, None)

    def count(
        self,
        field_path: str,
        truth_path: str | None,
        truth: object,
        pred: object,
        pred_path: str | None,
        match: Match | None,
        kind: FieldKind | None = None,
    ) -> None:
        """Count one scored value; *match* is ``None`` when there is no truth for it."""
        stats = self.tally.fields.setdefault(field_path, _Field())
        if kind is not None and stats.kind is None:
            stats.kind = kind
        has_pred, correct = pred is not None, match is not None and match.correct
        tp, fp = int(correct), int(has_pred and not correct)
        fn = int(match is not None and not correct)
        stats.tp, stats.fp, stats.fn = stats.tp + tp, stats.fp + fp, stats.fn + fn
        if match is not None and kind is FieldKind.TEXT:
            stats.anls.append(match.similarity)
            exact = match.similarity == 1.0  # ANLS 1: equal after normalisation
            tp, fp, fn = int(exact), int(has_pred and not exact), int(not exact)
        stats.exact = [stats.exact[0] + tp, stats.exact[1] + fp, stats.exact[2] + fn]
        if has_pred:
            confidence = confidence_of(self.confidences, pred_path, field_path)
            if confidence is not None:
                self.tally.confidence.append((confidence, correct))
        if not correct:
            self.tally.mismatches.append(
                Mismatch(
                    document=self.name,
                    field=field_path,
                    truth_path=truth_path,
                    predicted_path=pred_path,
                    expected=truth,
                    predicted=pred,
                    outcome="fp+fn" if fp and fn else "fp" if fp else "fn",
                    similarity=match.similarity if match is not None else 0.0,
                )
            )


def _known_keys(truth: list[Any]) -> set[str] | None:
    """Sub-fields the true items know about; ``None`` when nothing is known about items."""
    keys = {str(key) for item in truth if isinstance(item, Mapping) for key in item}
    return keys or None


def _record_data(record: Mapping[str, Any] | None) -> tuple[Mapping[str, Any] | None, bool]:
    """The record's data (``None`` if it predicts nothing) and whether it is an error."""
    if record is None:
        return None, False
    if record.get("status") == "error":
        return None, True
    data = record.get("data")
    return (data if isinstance(data, Mapping) else None), False


def score(
    records: Iterable[Mapping[str, Any]],
    truth: Mapping[str, Mapping[str, Any]],
    *,
    text_threshold: float = DEFAULT_TEXT_THRESHOLD,
    skip_missing: bool = False,
) -> EvalReport:
    """Score *records* against *truth* (from :func:`load_records` / :func:`load_truth`).

    Args:
        records: result records; each is matched to truth by its ``source`` file stem.
        truth: truth objects keyed by document stem.
        text_threshold: a free-text prediction is correct at this ANLS or above.
        skip_missing: leave documents without any record out of the scores (for partial
            runs) instead of counting all their values as false negatives.

    Example:
        >>> from extractor.evaluate import load_records, load_truth, score
        >>> report = score(load_records("out/results.jsonl"),  # doctest: +SKIP
        ...                load_truth("../shared/eval/invoices"))
        >>> print(report.overall.f1)  # doctest: +SKIP
    """
    paired = pair_records(records, truth.keys())
    tally = _Tally(text_threshold=text_threshold)
    ok = missing = errors = scored = 0
    for name in sorted(truth):
        record = paired.by_stem.get(name)
        data, is_error = _record_data(record)
        missing += record is None
        errors += is_error
        ok += record is not None and not is_error
        if record is None and skip_missing:
            continue
        scored += 1
        confidences = record.get("confidence") if record is not None else None
        document = _Document(name, tally, confidences if isinstance(confidences, Mapping) else None)
        document.walk_object(truth[name], data, "", "", "")
    overall, fields = tally.stats()
    return EvalReport(
        text_threshold=text_threshold,
        documents=DocumentCounts(
            truth=len(truth),
            scored=scored,
            ok=ok,
            missing=missing,
            errors=errors,
            unmatched_records=paired.unmatched,
        ),
        overall=overall,
        fields=fields,
        confidence=confidence_report(tally.confidence),
        mismatches=tally.mismatches,
    )
