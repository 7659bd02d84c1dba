"""Confidence per value: how likely an extracted value is right, from the evidence for it.

The evidence, for one value path (``total_amount``, ``line_items[2].amount``):

- **grounding**: found exactly as answered, in a usual printed form, only approximately,
  only in hidden text, or nowhere (:mod:`extractor.ground`); and whether it stands in one
  place or many (a ``1`` printed twenty times says little);
- **label**: the value stands beside a label that names its field (``Total``,
  ``Gesamtbetrag``, ``Due date``, ``IBAN`` — in the languages the eval sets use) on its
  line or the line above; a value read from the wrong place rarely has one;
- **row**: a list item's value stands on the same line as the item's description (a
  number taken from another row or from the totals does not);
- **business rules**: the value takes part in a rule that passed (net + tax = total
  corroborates all three) or failed;
- **repairs**: the answer needed a repair round;
- **token log-probabilities**, where a provider returns them (not used yet).

They are combined by a logistic model whose weights were fitted on the eval sets with a
scripted model that answers the truth but corrupts a share of the values, out of fold
(``bench/calibrate.py``, figures in docs/quality.md). So a confidence is meant as a
probability: of the values given 0.9, about nine in ten should be right.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from extractor.labels import has_label, label_words
from extractor.pages import Page

__all__ = ["FEATURES", "KINDS", "MODEL", "confidence", "features", "find_label", "kind_of"]

FEATURES = (
    "exact", "normalized", "fuzzy", "hidden_only", "not_found", "form_field", "unique",
    "labelled", "on_row", "rule_passed", "rule_failed", "repaired",
)  # fmt: skip

KINDS = ("amount", "date", "id", "text", "item")

# Per kind of value: (bias, weights), fitted by `bench/calibrate.py --set both` (logistic
# regression on the 173 eval documents with a scripted model corrupting a quarter of the
# values; docs/quality.md has the out-of-fold figures). Refit after changing a feature.
_FITTED = {  # kind: (bias, weights in the order of FEATURES)
    "amount": (-2.33, (0.54, 1.43, 0.00, 0.00, -2.71, 0.00, -0.19, 2.36, 0.00, 1.64, -0.99, 1.92)),
    "date": (-1.06, (1.22, 2.05, 0.00, 0.00, -3.56, 0.00, -0.15, 1.65, 0.00, 0.82, -2.45, -0.23)),
    "id": (0.54, (0.23, 3.37, 0.49, 0.00, -2.07, 0.00, -0.24, 1.40, 0.00, 0.85, -1.54, -0.49)),
    "text": (0.94, (0.54, 2.53, -0.15, 0.00, -2.78, 0.00, 0.61, 0.00, 0.00, -0.41, 0.00, -0.38)),
    "item": (1.20, (0.75, 0.91, 0.00, 0.00, -1.25, 0.00, -0.65, 0.00, 2.88, 1.73, -1.18, -1.12)),
}  # fmt: skip
# Evidence the calibration documents never show (no hidden text, no form fields in the
# eval sets) gets a set weight: a value found only in hidden text counts as not found (it
# is how prompt injections answer), a form field's value as an exact, labelled one.
_UNSEEN = {"hidden_only": -3.0, "form_field": 3.0}
MODEL: dict[str, tuple[float, dict[str, float]]] = {
    kind: (bias, {**dict(zip(FEATURES, weights, strict=True)), **_UNSEEN})
    for kind, (bias, weights) in _FITTED.items()
}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}$")
_ITEM = re.compile(r"\[\d+\]")


def find_label(path: str, grounding: Mapping[str, Any], pages: Sequence[Page]) -> str | None:
    """The label naming ``path``'s field beside where its value stands, if there is one.

    List items (``line_items[0].amount``) are left out: their labels are column headers,
    far above the row; the row's own rules speak for them.
    """
    if _ITEM.search(path) or grounding.get("box") is None or grounding.get("page") is None:
        return None
    words = label_words(path)
    if not words:
        return None
    page = next((p for p in pages if p.number == grounding["page"]), None)
    if page is None:
        return None
    x0, top, _, bottom = grounding["box"]
    height = max(bottom - top, 1.0)
    for run in page.runs:
        if not run.visible:
            continue
        r_x0, r_top, _, r_bottom = run.box
        same_line = abs((r_top + r_bottom) / 2 - (top + bottom) / 2) < height * 0.6
        above = 0 < top - r_bottom < height * 1.6 and r_x0 < x0 + 150
        if ((same_line and r_x0 <= x0) or above) and has_label(run.text, words):
            return run.text.strip()[:60]
    return None


def features(
    path: str,
    groundings: Mapping[str, Mapping[str, Any]],
    checks: Sequence[Mapping[str, Any]],
    *,
    repaired: bool,
) -> dict[str, float]:
    """The evidence for one value, from its record's grounding entries and checks."""
    grounding = groundings.get(path, {})
    status = grounding.get("status", "not_found")
    found: dict[str, float] = dict.fromkeys(FEATURES, 0.0)
    if status in found:
        found[status] = 1.0
    if status == "fuzzy":
        found["fuzzy"] = float(grounding.get("similarity") or 0.0)
    found["unique"] = float(grounding.get("occurrences") == 1 and status != "not_found")
    found["labelled"] = float(bool(grounding.get("label")))
    found["on_row"] = float(_on_row(path, grounding, groundings))
    for check in checks:
        involved = any(_within(path, f) for f in check.get("fields", ()))
        if involved and check.get("status") == "passed":
            found["rule_passed"] = 1.0
        elif involved and check.get("status") == "failed":
            found["rule_failed"] = 1.0
    found["repaired"] = float(repaired)
    return found


def _on_row(
    path: str, grounding: Mapping[str, Any], groundings: Mapping[str, Mapping[str, Any]]
) -> bool:
    """Whether a list item's value stands on its item's row: the line of the item's
    longest text value (its description)."""
    match = _ITEM.search(path)
    box = grounding.get("box")
    if match is None or box is None:
        return False
    prefix = path[: match.end()]
    siblings = [
        (len(str(g.get("text") or "")), g) for p, g in groundings.items()
        if p.startswith(prefix + ".") and p != path and g.get("box") is not None
        and g.get("page") == grounding.get("page") and not _numeric(g.get("text"))
    ]  # fmt: skip
    if not siblings:
        return False
    anchor = max(siblings, key=lambda pair: pair[0])[1]["box"]
    overlap = float(min(box[3], anchor[3]) - max(box[1], anchor[1]))
    return overlap > 0.5 * float(min(box[3] - box[1], anchor[3] - anchor[1]))


def _numeric(text: Any) -> bool:
    return isinstance(text, str) and not any(c.isalpha() for c in text)


def _within(path: str, field: str) -> bool:
    return path == field or path.startswith((field + ".", field + "["))


def kind_of(path: str, value: Any) -> str:
    """Which of :data:`KINDS` a value is: a list item's number, an amount, a date, an
    identifier (digits in a string, a currency code) or free text."""
    if isinstance(value, bool):
        return "id"
    if isinstance(value, int | float):
        return "item" if _ITEM.search(path) else "amount"
    text = str(value)
    if _ISO_DATE.match(text):
        return "date"
    if any(c.isdigit() for c in text) or path.rsplit(".", 1)[-1] == "currency":
        return "id"
    return "text"


def confidence(evidence: Mapping[str, float], kind: str) -> float:
    """The calibrated probability that a value of ``kind`` is right, from :func:`features`."""
    bias, weights = MODEL[kind]
    z = bias + sum(weights[name] * evidence.get(name, 0.0) for name in FEATURES)
    return round(1.0 / (1.0 + math.exp(-z)), 4)
