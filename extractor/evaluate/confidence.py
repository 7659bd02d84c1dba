"""Does a record's per-field confidence tell right predictions from wrong ones?

Records may carry ``confidence``: a mapping from field path (as in the record's data,
with list indices: ``line_items[0].amount``) to a number in ``[0, 1]``. For every scored
prediction that has one, we know whether it was right; this module summarises those
``(confidence, correct)`` pairs.

>>> report = confidence_report([(0.9, True), (0.8, True), (0.4, False), (0.3, True)])
>>> report.top_half_accuracy, report.bottom_half_accuracy
(1.0, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from extractor.evaluate.report import ConfidenceBand, ConfidenceReport

__all__ = ["BAND_EDGES", "confidence_of", "confidence_report"]

BAND_EDGES: tuple[float, ...] = (0.0, 0.5, 0.7, 0.8, 0.9, 1.0)
"""Band boundaries: ``[0, .5) [.5, .7) [.7, .8) [.8, .9) [.9, 1]``."""


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


def _band_index(confidence: float) -> int:
    last = len(BAND_EDGES) - 2
    for index in range(last):
        if confidence < BAND_EDGES[index + 1]:
            return index
    return last  # the last band is closed: it holds 1.0 (and anything above)


def confidence_report(pairs: Sequence[tuple[float, bool]]) -> ConfidenceReport | None:
    """Accuracy of the more and the less confident half, and per confidence band.

    The pairs are sorted by confidence, highest first (ties keep their order); the top half
    is the first ``ceil(n / 2)``. ``None`` when there are no pairs.
    """
    if not pairs:
        return None
    ordered = sorted(pairs, key=lambda pair: -pair[0])
    split = math.ceil(len(ordered) / 2)
    top = [correct for _, correct in ordered[:split]]
    bottom = [correct for _, correct in ordered[split:]]
    banded: list[list[bool]] = [[] for _ in BAND_EDGES[1:]]
    for confidence, correct in pairs:
        banded[_band_index(confidence)].append(correct)
    bands = [
        ConfidenceBand(low=low, high=high, n=len(flags), accuracy=_accuracy(flags))
        for (low, high), flags in zip(pairwise(BAND_EDGES), banded, strict=True)
    ]
    return ConfidenceReport(
        n=len(pairs),
        top_half_accuracy=sum(top) / len(top),  # split >= 1 whenever there are pairs
        bottom_half_accuracy=_accuracy(bottom),
        bands=bands,
    )
