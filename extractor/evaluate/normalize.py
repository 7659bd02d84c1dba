"""Turn the many ways a value can be written into one canonical form.

Every parser returns ``None`` when the text is not what it claims to be, so callers can
fall back to comparing text. Nothing here knows about fields or scores.

>>> parse_date("15.03.2024"), parse_date("March 15, 2024")
(datetime.date(2024, 3, 15), datetime.date(2024, 3, 15))
>>> parse_amount("1.234,56"), parse_amount("€ 12,00")
(Decimal('1234.56'), Decimal('12.00'))
>>> normalize_currency("€"), normalize_currency("RM")
('EUR', 'MYR')
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "normalize_currency",
    "normalize_id",
    "normalize_text",
    "parse_amount",
    "parse_date",
]

_CENT = Decimal("0.01")

# Symbols and local spellings → ISO 4217. Keys are case-folded, spaces removed.
_CURRENCY_ALIASES: dict[str, str] = {
    "€": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "$": "USD",
    "us$": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "£": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "¥": "JPY",
    "円": "JPY",
    "yen": "JPY",
    "元": "CNY",
    "rmb": "CNY",
    "fr.": "CHF",
    "sfr.": "CHF",
    "sfr": "CHF",
    "chf": "CHF",
    "rm": "MYR",
    "ringgit": "MYR",
    "₹": "INR",
    "rs": "INR",
    "rs.": "INR",
    "zł": "PLN",
    "zl": "PLN",
    "kč": "CZK",
    "ft": "HUF",
    "₩": "KRW",
    "₽": "RUB",
    "₺": "TRY",
    "₪": "ILS",
    "₫": "VND",
    "฿": "THB",
    "s$": "SGD",
    "a$": "AUD",
    "c$": "CAD",
    "hk$": "HKD",
    "nz$": "NZD",
    "r$": "BRL",
}

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "january jan januar janvier janvier janv januari jänner",
        "february feb februar février fevrier févr februari",
        "march mar märz maerz mars mrt maart",
        "april apr avril avr",
        "may mai mei",
        "june jun juni juin",
        "july jul juli juillet juil",
        "august aug août aout augustus",
        "september sep sept septembre",
        "october oct oktober okt octobre",
        "november nov novembre",
        "december dec dezember dez décembre decembre déc",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _number

_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?")
_YEAR_FIRST = re.compile(r"(\d{4})[./](\d{1,2})[./](\d{1,2})")
_DAY_FIRST = re.compile(r"(\d{1,2})[./-](\d{1,2})[./-](\d{4}|\d{2})(?:[T ,].*)?")
_MONTH_DAY_YEAR = re.compile(r"\b([^\W\d_]+)\.?[\s/-]+(\d{1,2})(?:st|nd|rd|th)?,?[\s/-]+(\d{4})\b")
_DAY_MONTH_YEAR = re.compile(
    r"\b(\d{1,2})(?:st|nd|rd|th)?\.?[\s/-]*([^\W\d_]+)\.?,?[\s/-]+(\d{4})\b"
)
_SPACE = re.compile(r"\s+")
_NOT_NUMBER = re.compile(r"[^0-9.,'\-]")


def _make_date(year: int, month: int, day: int) -> dt.date | None:
    if year < 100:
        year += 2000
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def parse_date(value: object) -> dt.date | None:
    """Read a date written as ISO, day-first numerals or with a month name.

    Accepts ``2024-03-15`` (and ISO datetimes), ``15.03.2024``, ``15/03/2024``,
    ``15-03-24`` (numerals are day-first), ``2024/03/15``, ``March 15, 2024`` and
    ``15. März 2024``; ``date``/``datetime`` objects pass through.

    >>> parse_date("2024-03-15T10:30:00Z")
    datetime.date(2024, 3, 15)
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    text = _SPACE.sub(" ", value.strip())
    for pattern, order in ((_ISO, "ymd"), (_YEAR_FIRST, "ymd"), (_DAY_FIRST, "dmy")):
        match = pattern.fullmatch(text)
        if match:
            parts = dict(zip(order, (int(g) for g in match.groups()[:3]), strict=True))
            return _make_date(parts["y"], parts["m"], parts["d"])
    return _parse_month_name(text.casefold())


def _parse_month_name(folded: str) -> dt.date | None:
    # finditer, not fullmatch: tolerate a weekday or words around ("Friday, March 15, 2024").
    for match in _MONTH_DAY_YEAR.finditer(folded):
        if match.group(1) in _MONTHS:
            month, day = _MONTHS[match.group(1)], int(match.group(2))
            return _make_date(int(match.group(3)), month, day)
    for match in _DAY_MONTH_YEAR.finditer(folded):
        if match.group(2) in _MONTHS:
            month, day = _MONTHS[match.group(2)], int(match.group(1))
            return _make_date(int(match.group(3)), month, day)
    return None


def _decimal_separator(digits: str) -> str | None:
    """Which of ``.`` and ``,`` separates the decimals in *digits*, if either."""
    last_dot, last_comma = digits.rfind("."), digits.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        return "." if last_dot > last_comma else ","
    sep = "." if last_dot >= 0 else "," if last_comma >= 0 else None
    if sep is None:
        return None
    if digits.count(sep) > 1:
        return None  # 1.234.567: thousands only
    whole, _, fraction = digits.partition(sep)
    # "1,234" / "1.234" is a thousands group; amounts rarely carry three decimals.
    if len(fraction) == 3 and whole.lstrip("-") not in ("", "0"):
        return None
    return sep


def parse_amount(value: object) -> Decimal | None:
    """Read a money amount or quantity, rounded to the cent.

    Accepts numbers and strings such as ``1.234,56``, ``1,234.56``, ``1 234,56``,
    ``€ 12,00``, ``12.50 EUR``, ``-3,20``, ``3,20-`` and ``(3.20)``.

    >>> parse_amount("1,234.56"), parse_amount(4.1), parse_amount("(3.20)")
    (Decimal('1234.56'), Decimal('4.10'), Decimal('-3.20'))
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        number = Decimal(str(value))
        return number.quantize(_CENT, rounding=ROUND_HALF_UP) if number.is_finite() else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    negative = (text.startswith("(") and text.endswith(")")) or text.endswith("-")
    digits = _NOT_NUMBER.sub("", text).replace("'", "").strip("-")
    negative = negative or _NOT_NUMBER.sub("", text).startswith("-")
    if not any(c.isdigit() for c in digits):
        return None
    sep = _decimal_separator(digits)
    if sep is None:
        digits = digits.replace(".", "").replace(",", "")
    else:
        other = "," if sep == "." else "."
        digits = digits.replace(other, "").replace(sep, ".")
    try:
        amount = Decimal(digits)
    except InvalidOperation:
        return None
    return (-amount if negative else amount).quantize(_CENT, rounding=ROUND_HALF_UP)


def normalize_currency(value: object) -> str | None:
    """ISO 4217 code for a code, symbol or name (``€`` → ``EUR``, ``RM`` → ``MYR``).

    Unknown three-letter codes are kept upper-cased; anything else unknown gives ``None``.
    """
    if not isinstance(value, str):
        return None
    key = _SPACE.sub("", unicodedata.normalize("NFKC", value)).casefold()
    if key in _CURRENCY_ALIASES:
        return _CURRENCY_ALIASES[key]
    if len(key) == 3 and key.isascii() and key.isalpha():
        return key.upper()
    return None


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
