"""Turn the many ways a value can be written into one canonical form.

Every parser returns ``None`` when the text is not what it claims to be, so callers can
fall back to comparing text. Nothing here knows about fields or scores. How dates,
amounts and currencies are printed is :mod:`extractor.formats`' knowledge, shared with
grounding, so the two read print the same way.

>>> parse_date("15.03.2024"), parse_date("March 15, 2024")
(datetime.date(2024, 3, 15), datetime.date(2024, 3, 15))
>>> parse_amount("1.234,56"), parse_amount("€ 12,00")
(Decimal('1234.56'), Decimal('12.00'))
>>> normalize_currency("€"), normalize_currency("RM")
('EUR', 'MYR')
"""

from __future__ import annotations

import re
import unicodedata

from extractor.formats import currency_code, currency_codes, parse_amount, parse_date

__all__ = [
    "currency_matches",
    "normalize_currency",
    "normalize_id",
    "normalize_text",
    "parse_amount",
    "parse_date",
]

_SPACE = re.compile(r"\s+")


def normalize_currency(value: object) -> str | None:
    """ISO 4217 code for a code, symbol or name (``€`` → ``EUR``, ``RM`` → ``MYR``).

    A symbol printed for several currencies gives the usual one (``¥`` → ``JPY``). Unknown
    three-letter codes are kept upper-cased; anything else unknown gives ``None``.
    """
    return currency_code(value) if isinstance(value, str) else None


def currency_matches(truth: object, prediction: object) -> bool | None:
    """Whether *prediction* may stand for the currency *truth* names (``¥`` for CNY too).

    ``None`` when *truth* is no currency at all (compare the text instead).
    """
    expected = normalize_currency(truth)
    if expected is None:
        return None
    return isinstance(prediction, str) and expected in currency_codes(prediction)


def _scalar_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def normalize_text(value: object) -> str:
    """NFKC, case-folded, whitespace collapsed to single spaces and trimmed."""
    text = unicodedata.normalize("NFKC", _scalar_text(value))
    return _SPACE.sub(" ", text.casefold()).strip()


def normalize_id(value: object) -> str:
    """Identifier (IBAN, VAT id, invoice number): case-folded, all whitespace removed.

    A leading ``#`` is dropped too: ``#123`` and ``123`` name the same invoice.
    """
    text = _SPACE.sub("", normalize_text(value))
    return text[1:] if text.startswith("#") and len(text) > 1 else text
