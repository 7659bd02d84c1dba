"""Does a record's per-field confidence tell right predictions from wrong ones?

Records may carry ``confidence``: a mapping from field path (as in the record's data,
with list indices: ``line_items[0].amount``) to a number in ``[0, 1]``. For every scored
prediction that has one, we know whether it was right; this module summarises those
``(confidence, correct)`` pairs.

Two summaries: accuracy per confidence band (is a confident value more often right?),
and the expected calibration error (ECE) over ten equal-width bins (is a value of
confidence ``c`` right a share ``c`` of the time?).

>>> report = confidence_report([(0.9, True), (0.8, True), (0.4, False), (0.3, True)])
>>> report.top_half_accuracy, report.bottom_half_accuracy
(1.0, 0.5)
>>> round(report.ece, 3)  # |1 - .9|/4 + |1 - .8|/4 + |0 - .4|/4 + |1 - .3|/4
0.35
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from extractor.evaluate.report import ConfidenceBand, ConfidenceReport

__all__ = ["BAND_EDGES", "CALIBRATION_BINS", "confidence_of", "confidence_report"]

BAND_EDGES: tuple[float, ...] = (0.0, 0.5, 0.7, 0.8, 0.9, 1.0)
"""Band boundaries: ``[0, .5) [.5, .7) [.7, .8) [.8, .9) [.9, 1]``."""

CALIBRATION_BINS = 10
"""Equal-width bins for the expected calibration error: ``[0, .1) … [.9, 1]``."""


def confidence_of(confidences: Mapping[str, Any] | None, *paths: str | None) -> float | None:
    """The first finite numeric confidence found under any of *paths*, else ``None``."""
    if not confidences:
        return None
    for path in paths:
        if path is None:
            continue
        value = confidences.get(path)
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
            if math.isfinite(number):
                return number
    return None


def _accuracy(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def _band_index(confidence: float, edges: Sequence[float]) -> int:
    last = len(edges) - 2
    for index in range(last):
        if confidence < edges[index + 1]:
            return index
    return last  # the last band is closed: it holds 1.0 (and anything above)


def _bands(pairs: Sequence[tuple[float, bool]], edges: Sequence[float]) -> list[ConfidenceBand]:
    banded: list[list[tuple[float, bool]]] = [[] for _ in edges[1:]]
    for pair in pairs:
        banded[_band_index(pair[0], edges)].append(pair)
    return [
        ConfidenceBand(
            low=low,
            high=high,
            n=len(members),
            accuracy=_accuracy([correct for _, correct in members]),
            mean_confidence=sum(c for c, _ in members) / len(members) if members else None,
        )
        for (low, high), members in zip(pairwise(edges), banded, strict=True)
    ]


def _ece(bins: Sequence[ConfidenceBand], total: int) -> float:
    """Expected calibration error: the bins' |accuracy - mean confidence|, weighted by size."""
    return sum(
        b.n / total * abs(b.accuracy - b.mean_confidence)
        for b in bins
        if b.accuracy is not None and b.mean_confidence is not None
    )


def confidence_report(pairs: Sequence[tuple[float, bool]]) -> ConfidenceReport | None:
    """Accuracy of the more and the less confident half and per confidence band, and the
    expected calibration error over :data:`CALIBRATION_BINS` equal-width bins.

    The pairs are sorted by confidence, highest first (ties keep their order); the top half
    is the first ``ceil(n / 2)``. ``None`` when there are no pairs.
    """
    if not pairs:
        return None
    ordered = sorted(pairs, key=lambda pair: -pair[0])
    split = math.ceil(len(ordered) / 2)
    top = [correct for _, correct in ordered[:split]]
    bottom = [correct for _, correct in ordered[split:]]
    calibration = _bands(pairs, [i / CALIBRATION_BINS for i in range(CALIBRATION_BINS + 1)])
    return ConfidenceReport(
        n=len(pairs),
        top_half_accuracy=sum(top) / len(top),  # split >= 1 whenever there are pairs
        bottom_half_accuracy=_accuracy(bottom),
        bands=_bands(pairs, BAND_EDGES),
        accuracy=_accuracy([correct for _, correct in pairs]),
        mean_confidence=sum(c for c, _ in pairs) / len(pairs),
        ece=_ece(calibration, len(pairs)),
        calibration=calibration,
    )
