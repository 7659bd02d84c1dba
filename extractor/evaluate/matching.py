"""Decide what kind of value a field holds, and whether a prediction matches the truth.

Kinds, picked from the truth value and the field's name (:func:`field_kind`):

========  ===================================================  ==========================
kind      when                                                 correct when
========  ===================================================  ==========================
currency  the field is called ``currency`` (or ``*_currency``)  a form of the code (€=EUR)
id        ``iban``, ``bic``, ``*_id``, ``*_number``, …         equal without spaces/case
number    the truth is a number, or a numeric string in an     equal to the cent
          amount-like field (``total``, ``*_amount``, …)
date      an ISO date string, or a parsable ``*date`` field    the same calendar day
exact     a boolean                                            equal after normalising
text      any other string (names, addresses, descriptions)    ANLS ≥ the text threshold
========  ===================================================  ==========================

>>> anls("Lieferant GmbH", "Lieferant GmbH.")
0.9333333333333333
>>> match_value(field_kind("invoice_date", "2024-03-15"), "2024-03-15", "15.03.2024").correct
True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from extractor.evaluate.normalize import (
    currency_matches,
    normalize_currency,
    normalize_id,
    normalize_text,
    parse_amount,
    parse_date,
)
from extractor.fuzzy import levenshtein

__all__ = [
    "ANLS_CUTOFF",
    "DEFAULT_TEXT_THRESHOLD",
    "FieldKind",
    "Match",
    "anls",
    "canonical",
    "field_kind",
    "is_empty",
    "levenshtein",
    "match_value",
    "normalized_anls",
]

DEFAULT_TEXT_THRESHOLD = 0.8
"""A text prediction counts as correct at this ANLS or above."""

ANLS_CUTOFF = 0.5
"""Similarities below this score 0 (the ANLS convention from DocVQA)."""

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ].*)?")
_ID_NAMES = frozenset({"iban", "bic", "swift", "vat", "ust_id", "ustid", "siret", "siren"})
_ID_SUFFIXES = ("_id", "_number", "_no", "_nr", "_iban", "_bic", "_code", "_ref", "_reference")
_AMOUNT_WORDS = ("amount", "total", "price", "tax", "net", "gross", "subtotal", "quantity", "qty")

_Parser = Callable[[object], object]


class FieldKind(StrEnum):
    """How values of a field are normalised and compared."""

    CURRENCY = "currency"
    NUMBER = "number"
    ID = "id"
    DATE = "date"
    EXACT = "exact"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Match:
    """The verdict on one (truth, prediction) pair.

    Attributes:
        correct: whether the prediction counts as a true positive.
        similarity: ANLS for text, otherwise 1.0 when correct and 0.0 when not.
    """

    correct: bool
    similarity: float


def _leaf(name: str) -> str:
    return name.rsplit(".", 1)[-1].casefold()


def _is_id_name(leaf: str) -> bool:
    return leaf in _ID_NAMES or leaf.endswith(_ID_SUFFIXES) or "iban" in leaf or "vat_id" in leaf


def field_kind(name: str, truth: object) -> FieldKind:
    """The kind of a field, from its (dotted) name and its truth value.

    >>> field_kind("total_amount", 12.5), field_kind("seller_vat_id", "DE123")
    (<FieldKind.NUMBER: 'number'>, <FieldKind.ID: 'id'>)
    """
    leaf = _leaf(name)
    if leaf == "currency" or leaf.endswith("_currency"):
        return FieldKind.CURRENCY
    if isinstance(truth, bool):
        return FieldKind.EXACT
    if _is_id_name(leaf):
        return FieldKind.ID
    if isinstance(truth, int | float):
        return FieldKind.NUMBER
    if isinstance(truth, str):
        if _ISO_DATE.fullmatch(truth.strip()) or (
            leaf.endswith("date") and parse_date(truth) is not None
        ):
            return FieldKind.DATE
        if any(word in leaf for word in _AMOUNT_WORDS) and parse_amount(truth) is not None:
            return FieldKind.NUMBER
    return FieldKind.TEXT


def is_empty(value: object) -> bool:
    """``None``, a blank string, or an empty list/object: a prediction of nothing."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict | tuple):
        return not value
    return False


def anls(truth: object, prediction: object) -> float:
    """Normalised Levenshtein similarity of two normalised texts, 0 below :data:`ANLS_CUTOFF`.

    Both sides go through :func:`normalize_text` first; two empty strings score 1.
    """
    return normalized_anls(normalize_text(truth), normalize_text(prediction))


def normalized_anls(a: str, b: str) -> float:
    """:func:`anls` of two texts already passed through :func:`normalize_text`."""
    longest = max(len(a), len(b))
    if longest == 0:
        return 1.0
    if abs(len(a) - len(b)) > longest * (1.0 - ANLS_CUTOFF):
        return 0.0  # the distance is at least the length difference
    similarity = 1.0 - levenshtein(a, b) / longest
    return similarity if similarity >= ANLS_CUTOFF else 0.0


def canonical(kind: FieldKind, value: object) -> object:
    """A hashable form of *value*: for every kind but text, two values match exactly when
    their forms are equal. Text gives ``("text", normalised text)``, on which
    :func:`normalized_anls` works.

    Empty values (and objects or lists where a scalar belongs) give ``None``.
    """
    if is_empty(value) or isinstance(value, Mapping | list):
        return None
    parsed: object = None
    if kind is FieldKind.NUMBER:
        parsed = parse_amount(value)
    elif kind is FieldKind.DATE:
        parsed = parse_date(value)
    elif kind is FieldKind.CURRENCY:
        parsed = normalize_currency(value)
    elif kind is FieldKind.ID:
        parsed = normalize_id(value)
    if parsed is not None:
        return (kind.value, parsed)
    return ("text", normalize_text(value))


def _binary(correct: bool) -> Match:
    return Match(correct=correct, similarity=1.0 if correct else 0.0)


def _equal_parsed(truth: object, prediction: object, parse: _Parser) -> Match:
    expected = parse(truth)
    if expected is None:  # unparsable truth: compare what is written
        return _binary(normalize_text(truth) == normalize_text(prediction))
    return _binary(expected == parse(prediction))


def match_value(
    kind: FieldKind,
    truth: object,
    prediction: object,
    *,
    text_threshold: float = DEFAULT_TEXT_THRESHOLD,
) -> Match:
    """Compare one predicted value with its truth under the rules of *kind*.

    An empty prediction (see :func:`is_empty`) never matches.
    """
    if is_empty(prediction):
        return Match(correct=False, similarity=0.0)
    if kind is FieldKind.NUMBER:
        return _equal_parsed(truth, prediction, parse_amount)
    if kind is FieldKind.DATE:
        return _equal_parsed(truth, prediction, parse_date)
    if kind is FieldKind.CURRENCY:
        verdict = currency_matches(truth, prediction)
        if verdict is not None:
            return _binary(verdict)
        return _binary(normalize_text(truth) == normalize_text(prediction))
    if kind is FieldKind.ID:
        return _binary(normalize_id(truth) == normalize_id(prediction))
    if kind is FieldKind.EXACT:
        return _binary(normalize_text(truth) == normalize_text(prediction))
    similarity = anls(truth, prediction)
    return Match(correct=similarity >= text_threshold, similarity=similarity)
