"""Candidates from the page: the values a small model may choose from, found in the text.

A 135M-parameter model under a JSON grammar writes well-formed values, but often ones the
document never shows: a date it made up, an amount from nowhere, a VAT id from its
training data. Where a field's type allows, the embedded engine's grammar therefore
restricts it to values printed in the document — dates (as ISO dates, every reading of an
ambiguous one), amounts and other numbers, IBANs, VAT ids, currency codes and, for fields
named like a number or reference, the document's number-like tokens. Free text (names,
addresses, descriptions) stays free. A value chosen from candidates is grounded by
construction; null stays allowed where the schema allows it.

Where some of a field's candidates stand beside a label naming the field (a date after
"Rechnungsdatum", an amount after "Total", a number after "Invoice no."; the words of
:mod:`extractor.labels`), the field is restricted to those: a small model picks among a
few labelled values far better than among every number on the page. Where none is
labelled, all stay.

Example:
    >>> found = find_candidates("Invoice RE-2024-0815 of 15.03.2024, total 1.468,46 EUR")
    >>> found.dates, found.amounts[-1], found.currencies
    (('2024-03-15',), 1468.46, ('EUR',))
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from extractor.formats import CURRENCIES, amount_readings, date_readings
from extractor.identifiers import find_ibans, find_vat_ids, is_currency_code
from extractor.labels import has_label, label_words

__all__ = ["Candidates", "find_candidates", "restrict"]

MAX_PER_KIND = 300  # a grammar with thousands of alternatives gets slow to build and run

_NUMERIC_DATE = re.compile(
    r"(?<!\d)(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2}(?!\d)))"
)
_NAMED_DATE = re.compile(
    r"(?:\b[A-Za-zÀ-ÿ]{3,10}\.?,?\s+)?\d{1,2}(?:\.|st|nd|rd|th)?\s*(?:de\s+)?[A-Za-zÀ-ÿ]{3,10}\.?"
    r",?\s*(?:de\s+)?\d{2,4}|\b[A-Za-zÀ-ÿ]{3,10}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}"
)
# A sign counts only beside a space or the line's edge: "RE-2024-0815" holds no -2024.
_NUMBER = re.compile(
    r"(?:(?<=\s)|^)\(?-?\d[\d.,']*\d\)?(?:-(?=\s|$))?|(?<![\w.,-])\d[\d.,']*\d(?![\w])|"
    r"(?<![\w.,-])\d(?![\w.,])",
    re.MULTILINE,
)
_AMOUNT_LIKE = re.compile(r"^-?[\d.,' ]*[.,]\d{2}$")
_GROUPED = re.compile(r"^\d{1,3}(?:[.,']\d{3})+(?:[.,]\d+)?$")  # 1.234 or 1,234.5: a number
_CENTS = re.compile(r"\d[.,]\d{2,4}\)?-?$")  # unit prices are printed to 4 places too
_MONEY_NAMES = re.compile(r"(amount|total|net|tax|vat_amount|price|sum|balance|due|paid|cost)")
_CODE = re.compile(r"(?<![\w-])[A-Za-z0-9][A-Za-z0-9/_.-]{1,38}[A-Za-z0-9](?![\w-])")
_SYMBOL_CODES = {form: code for code, forms in CURRENCIES.items() for form in forms}
_LABELLED_IBAN = re.compile(r"IBAN\W{0,5}([A-Z]{2}\d{2}(?: ?[A-Z0-9]{2,4}){2,8})\b", re.IGNORECASE)
_CODE_NAMES = re.compile(r"(number|nummer|numero|no\b|_no$|^no_|_id$|^id$|reference|_ref$)")


@dataclass(frozen=True)
class Candidates:
    """Values found in a text, by kind, in the order first printed."""

    dates: tuple[str, ...] = ()
    amounts: tuple[float, ...] = ()
    money: tuple[float, ...] = ()  # amounts printed with cents, largest first
    ibans: tuple[str, ...] = ()
    vat_ids: tuple[str, ...] = ()
    currencies: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    # Where a label would stand at each place a value is printed: the text before it on
    # its line, or the line above when nothing precedes it (a label over its value).
    labels: dict[Any, tuple[str, ...]] = field(default_factory=dict, compare=False)


def find_candidates(text: str) -> Candidates:
    """Every date, number, IBAN, VAT id, currency and number-like token ``text`` prints."""
    labels: dict[Any, list[str]] = {}

    def place(value: Any, at: int) -> Any:
        labels.setdefault(value, []).append(_label_place(text, at))
        return value

    date_matches = [*_NUMERIC_DATE.finditer(text), *_NAMED_DATE.finditer(text)]
    dates = [place(day.isoformat(), m.start()) for m in date_matches
             for day in date_readings(m.group())]  # fmt: skip
    # Numbers that are part of a printed date are not amounts (15.03.2024 is not 15032024).
    in_dates = {i for m in date_matches if date_readings(m.group()) for i in range(*m.span())}
    number_matches = [m for m in _NUMBER.finditer(text) if m.start() not in in_dates]
    numbers = [m.group() for m in number_matches]
    amounts = [place(float(n), m.start()) for m in number_matches
               for n in amount_readings(m.group())]  # fmt: skip
    cents = [float(n) for t in numbers if _CENTS.search(t) for n in amount_readings(t)[:1]]
    currencies = [w for w in re.findall(r"\b[A-Z]{3}\b", text) if is_currency_code(w)]
    currencies += [code for form, code in _SYMBOL_CODES.items() if _prints(text, form)]
    codes = [
        place(m.group(), m.start())
        for m in _CODE.finditer(text)
        if any(c.isdigit() for c in m.group())
        and m.start() not in in_dates
        and not _AMOUNT_LIKE.match(m.group())
        and not _GROUPED.match(m.group())
    ]
    # An identifier usually mixes letters and digits (RE-2024-0815); plain numbers after.
    codes.sort(key=lambda code: not any(c.isalpha() for c in code))
    return Candidates(
        dates=_unique(dates),
        amounts=_unique(amounts),
        money=_unique(sorted(set(cents), reverse=True)),
        # Unchecked: a misprinted IBAN is still what the page says (the rule flags it).
        ibans=_unique([*(f.value for f in find_ibans(text, checked=False)), *_loose_ibans(text)]),
        vat_ids=_unique(f.value for f in find_vat_ids(text)),
        currencies=_unique(currencies),
        codes=_unique(codes),
        labels={value: tuple(places) for value, places in labels.items()},
    )


def _label_place(text: str, at: int) -> str:
    start = text.rfind("\n", 0, at) + 1
    if text[start:at].strip() or not start:
        return text[start:at]
    above = text.rfind("\n", 0, start - 1) + 1
    return text[above : start - 1]


def _loose_ibans(text: str) -> list[str]:
    """IBAN-shaped tokens after an "IBAN" label, whatever their length or check digits."""
    return ["".join(m.group(1).split()) for m in _LABELLED_IBAN.finditer(text)]


def _prints(text: str, form: str) -> bool:
    if not form.isalpha():
        return form in text
    return (
        re.search(rf"(?<![A-Za-z]){re.escape(form)}(?![A-Za-z])", text, re.IGNORECASE) is not None
    )


def _unique(values: Any) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))[:MAX_PER_KIND]


def restrict(schema: dict[str, Any], found: Candidates) -> dict[str, Any]:
    """``schema`` with each field whose type allows it restricted to ``found`` values.

    Dates (``format: date``), numbers, and strings named like an IBAN, a VAT id, a
    currency or a number/reference become an ``enum`` of the candidates (plus null where
    null was allowed). Other strings stay free. A field with no candidate of its kind can
    only be null; where null is not allowed it stays unrestricted.
    """
    restricted = copy.deepcopy(schema)
    defs = restricted.get("$defs", {})
    for node in (restricted, *defs.values()):
        _restrict_object(node, found)
    return restricted


def _restrict_object(node: dict[str, Any], found: Candidates) -> None:
    for name, prop in list(node.get("properties", {}).items()):
        node["properties"][name] = _restrict_field(name, prop, found)
        items = prop.get("items")
        if isinstance(items, dict) and items.get("properties"):
            _restrict_object(items, found)


def _restrict_field(name: str, prop: dict[str, Any], found: Candidates) -> dict[str, Any]:
    variants = prop.get("anyOf", [prop])
    nullable = any(v.get("type") == "null" for v in variants)
    kinds = [v for v in variants if v.get("type") != "null"]
    if len(kinds) != 1 or "$ref" in kinds[0] or "enum" in kinds[0] or "const" in kinds[0]:
        return prop
    values = _values_for(name.lower(), kinds[0], found)
    if values is not None:  # a candidate the schema's own bounds refuse is no candidate
        values = tuple(v for v in values if _fits(kinds[0], v))
        values = _labelled(name, values, found) or values
    if values is None or (not values and not nullable):
        return prop
    described = {k: prop[k] for k in ("description",) if k in prop}
    if not values:
        return {**described, "type": "null"}
    choice = {"enum": list(values)}
    return (
        {**described, "anyOf": [choice, {"type": "null"}]} if nullable else {**described, **choice}
    )


def _labelled(name: str, values: tuple[Any, ...], found: Candidates) -> tuple[Any, ...]:
    """The values printed beside a label naming field ``name`` somewhere."""
    words = label_words(name)
    if not words:
        return ()
    return tuple(
        v for v in values if any(has_label(place, words) for place in found.labels.get(v, ()))
    )


def _fits(kind: dict[str, Any], value: Any) -> bool:
    """Whether ``value`` keeps the bounds the grammar schema states (ranges, lengths)."""
    if isinstance(value, str):
        return bool(kind.get("minLength", 0) <= len(value) <= kind.get("maxLength", len(value)))
    number = float(value)
    low, high = _bound(kind, "minimum"), _bound(kind, "maximum")
    above, below = _bound(kind, "exclusiveMinimum"), _bound(kind, "exclusiveMaximum")
    return (
        (low is None or number >= low) and (high is None or number <= high)
        and (above is None or number > above) and (below is None or number < below)
    )  # fmt: skip


def _bound(kind: dict[str, Any], key: str) -> float | None:
    value = kind.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _values_for(name: str, kind: dict[str, Any], found: Candidates) -> tuple[Any, ...] | None:
    """The candidates a field of this name and type may take; None: leave it free."""
    if kind.get("type") == "string" and kind.get("format") == "date":
        return found.dates
    if kind.get("type") == "number":
        # Money is printed with cents; totals tend to be the largest, so those come first.
        money = _MONEY_NAMES.search(name) and not name.startswith(("quantity", "qty"))
        return found.money if money and found.money else found.amounts
    if kind.get("type") == "integer":
        return tuple(int(a) for a in found.amounts if a == int(a))
    if kind.get("type") != "string" or "format" in kind or "pattern" in kind:
        return None
    if "iban" in name:
        return found.ibans
    if "vat" in name or "tax_id" in name:
        return found.vat_ids
    if "currency" in name:
        return found.currencies
    if _CODE_NAMES.search(name):
        return found.codes
    return None
