"""How values are printed: currencies, month names, dates and amounts, both ways.

The one place that knows how a value looks on paper. Grounding (:mod:`extractor.ground`)
asks it for the printed forms of a value to look for on the page; evaluation
(:mod:`extractor.evaluate`) asks it to read a printed form back. Both use the same tables,
so a form grounding looks for is one evaluation reads as the same value.

Readings are ambiguous where print is: ``¥`` is yen or yuan, ``03/04/2024`` is 3 April or
4 March, ``1,234`` is a thousand or one and a bit. The ``*_readings`` / :func:`currency_codes`
functions give every reading; :func:`parse_date`, :func:`parse_amount` and
:func:`currency_code` pick the usual one.

Example:
    >>> parse_date("15. März 2024"), parse_amount("1.234,56"), currency_code("RM")
    (datetime.date(2024, 3, 15), Decimal('1234.56'), 'MYR')
    >>> "15 marzo 2024" in date_forms(datetime.date(2024, 3, 15))
    True
"""

from __future__ import annotations

import datetime
import itertools
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "CURRENCIES",
    "MONTHS",
    "amount_forms",
    "amount_readings",
    "currency_code",
    "currency_codes",
    "date_forms",
    "date_readings",
    "month_number",
    "parse_amount",
    "parse_date",
    "plain_forms",
    "to_decimal",
]

# -- currencies ----------------------------------------------------------------------------

CURRENCIES: dict[str, tuple[str, ...]] = {
    "EUR": ("€", "euro", "euros"),
    "USD": ("$", "US$", "dollar", "dollars"),
    "GBP": ("£", "pound", "pounds"),
    "JPY": ("¥", "円", "yen"),
    "CNY": ("¥", "元", "RMB"),
    "CHF": ("Fr.", "SFr.", "SFr"),
    "MYR": ("RM", "ringgit"),
    "INR": ("₹", "Rs", "Rs."),
    "PLN": ("zł", "zl"),
    "CZK": ("Kč",),
    "HUF": ("Ft",),
    "SEK": ("kr",),
    "NOK": ("kr",),
    "DKK": ("kr",),
    "KRW": ("₩",),
    "RUB": ("₽",),
    "TRY": ("₺",),
    "ILS": ("₪",),
    "VND": ("₫",),
    "THB": ("฿",),
    "PHP": ("₱",),
    "NGN": ("₦",),
    "UAH": ("₴",),
    "SGD": ("S$",),
    "AUD": ("A$",),
    "CAD": ("C$",),
    "HKD": ("HK$",),
    "NZD": ("NZ$",),
    "BRL": ("R$",),
}
"""ISO 4217 code → the symbols and local spellings printed for it, most usual first.

A form printed for several codes (``¥``, ``kr``) reads by default as the first code listed.
"""

_SPACE = re.compile(r"\s+")


def _key(text: str) -> str:
    return _SPACE.sub("", unicodedata.normalize("NFKC", text)).casefold()


_CODES_OF: dict[str, tuple[str, ...]] = {}
for _code, _forms in CURRENCIES.items():
    for _form in (_code, *_forms):
        _CODES_OF[_key(_form)] = (*_CODES_OF.get(_key(_form), ()), _code)


def currency_codes(text: str) -> tuple[str, ...]:
    """Every ISO code a printed code, symbol or name may stand for, the usual one first.

    Any other three letters are taken as a code; anything else unknown gives ``()``.

    >>> currency_codes("¥"), currency_codes("eur"), currency_codes("XYZ"), currency_codes("12")
    (('JPY', 'CNY'), ('EUR',), ('XYZ',), ())
    """
    key = _key(text)
    if key in _CODES_OF:
        return _CODES_OF[key]
    return (key.upper(),) if len(key) == 3 and key.isascii() and key.isalpha() else ()


def currency_code(text: str) -> str | None:
    """The usual ISO code for a printed code, symbol or name (``€`` → ``EUR``), else None."""
    codes = currency_codes(text)
    return codes[0] if codes else None


# -- months --------------------------------------------------------------------------------

MONTHS: dict[str, tuple[tuple[str, ...], ...]] = {
    lang: tuple(tuple(month.split("/")) for month in names.split())
    for lang, names in {
        "en": "january/jan february/feb march/mar april/apr may june/jun july/jul "
        "august/aug september/sep/sept october/oct november/nov december/dec",
        "de": "januar/jan/jänner/jän februar/feb märz/mär/maerz april/apr mai juni/jun "
        "juli/jul august/aug september/sep/sept oktober/okt november/nov dezember/dez",
        "fr": "janvier/janv février/févr/fév/fevrier/fevr/fev mars avril/avr mai juin "
        "juillet/juil août/aout septembre/sept octobre/oct novembre/nov "
        "décembre/déc/decembre/dec",
        "nl": "januari/jan februari/feb maart/mrt april/apr mei juni/jun juli/jul "
        "augustus/aug september/sep/sept oktober/okt november/nov december/dec",
        "es": "enero/ene febrero/feb marzo/mar abril/abr mayo/may junio/jun julio/jul "
        "agosto/ago septiembre/sep/sept/setiembre octubre/oct noviembre/nov diciembre/dic",
        "it": "gennaio/gen febbraio/feb marzo/mar aprile/apr maggio/mag giugno/giu "
        "luglio/lug agosto/ago settembre/set/sett ottobre/ott novembre/nov dicembre/dic",
    }.items()
}
"""Language → twelve tuples of month names (lower case): the full name, then abbreviations."""

_MONTH_OF: dict[str, int] = {}
for _names in MONTHS.values():
    for _number, _spellings in enumerate(_names, start=1):
        for _name in _spellings:
            if _MONTH_OF.setdefault(_name, _number) != _number:
                raise AssertionError(f"month name {_name!r} names two months")


def month_number(name: str) -> int | None:
    """1–12 for a month name or abbreviation in any language of :data:`MONTHS`.

    >>> month_number("Mrt"), month_number("juil."), month_number("Friday")
    (3, 7, None)
    """
    return _MONTH_OF.get(unicodedata.normalize("NFKC", name).casefold().rstrip("."))


# -- dates ---------------------------------------------------------------------------------


def _ordinal(day: int) -> str:
    if 10 <= day % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def date_forms(day: datetime.date) -> list[str]:
    """The ways ``day`` is printed: numerals in day- and month-first order with ``.``,
    ``/`` or ``-`` and 4- or 2-digit years, year-first, eight digits (``15032024``,
    ``20240315``), and with a month name in any language of :data:`MONTHS` (lower case;
    compare case-insensitively).

    >>> forms = date_forms(datetime.date(2024, 3, 5))
    >>> all(f in forms for f in ("05.03.2024", "3/5/24", "5. märz 2024", "5 de marzo de 2024"))
    True
    """
    d, m, y = day.day, day.month, day.year
    forms = {
        f"{y}/{m:02d}/{d:02d}",
        f"{y}.{m:02d}.{d:02d}",
        f"{d:02d}{m:02d}{y}",
        f"{y}{m:02d}{d:02d}",
    }
    days, months, years = {str(d), f"{d:02d}"}, {str(m), f"{m:02d}"}, (str(y), f"{y % 100:02d}")
    for dd, mm, sep, year in itertools.product(days, months, "./-", years):
        forms.update((f"{dd}{sep}{mm}{sep}{year}", f"{mm}{sep}{dd}{sep}{year}"))
    names = {n for lang in MONTHS.values() for n in lang[m - 1]}
    names |= {f"{n}." for lang in MONTHS.values() for n in lang[m - 1][1:]}  # "Sept."
    for dd, name in itertools.product(days, names):
        forms.update((f"{dd} {name} {y}", f"{dd}. {name} {y}", f"{name} {dd}, {y}",
                      f"{name} {dd} {y}", f"{dd}-{name}-{y}", f"{dd}-{name}-{y % 100:02d}",
                      f"{dd} {name} {y % 100:02d}",
                      f"{dd} de {name} de {y}"))  # fmt: skip
    english = MONTHS["en"][m - 1][0]
    forms.update((f"{d}{_ordinal(d)} {english} {y}", f"{english} {d}{_ordinal(d)}, {y}"))
    if d == 1:
        forms.update(f"1er {name} {y}" for name in names)
    return sorted(forms)


_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?")
_YEAR_FIRST = re.compile(r"(\d{4})[./](\d{1,2})[./](\d{1,2})")
_EIGHT_DIGITS = re.compile(r"\d{8}")
_NUMERALS = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})(?:[T ,].*)?")
_NAMED = re.compile(
    r"(?<![^\W_])(?:(?P<d1>\d{1,2})(?:st|nd|rd|th|er)?\.?[\s/-]*(?:de\s+)?"
    r"(?P<m1>[^\W\d_]+)\.?,?[\s/-]+(?:de\s+)?(?P<y1>\d{4}|\d{2})"
    r"|(?P<m2>[^\W\d_]+)\.?[\s/-]+(?P<d2>\d{1,2})(?:st|nd|rd|th)?,?[\s/-]+(?P<y2>\d{4}))(?!\d)"
)


def _make_date(year: int, month: int, day: int) -> datetime.date | None:
    try:
        return datetime.date(year + 2000 if year < 100 else year, month, day)
    except ValueError:
        return None


def date_readings(text: str) -> list[datetime.date]:
    """Every date ``text`` may print, the usual reading first (numerals day-first).

    Accepts ISO dates (and datetimes), ``2024/03/15``, numerals with ``.``, ``/`` or ``-``
    and 4- or 2-digit years, eight digits (``15032024``, ``20240315``), and dates with a
    month name (``March 15, 2024``, ``15. März 2024``, ``15 de marzo de 2024``,
    ``Friday, March 15, 2024``, ``28 Mar 18``).

    >>> date_readings("03/04/2024")
    [datetime.date(2024, 4, 3), datetime.date(2024, 3, 4)]
    """
    text = _SPACE.sub(" ", text.strip())
    return _numeric_readings(text) or _named_reading(text)


def _numeric_readings(text: str) -> list[datetime.date]:
    for pattern in (_ISO, _YEAR_FIRST):
        if match := pattern.fullmatch(text):
            year, month, day = (int(g) for g in match.groups()[:3])
            return [d for d in (_make_date(year, month, day),) if d]
    if _EIGHT_DIGITS.fullmatch(text):  # 27032018 (day first) or 20180327 (year first)
        eight = (_make_date(int(text[4:]), int(text[2:4]), int(text[:2])),
                 _make_date(int(text[:4]), int(text[4:6]), int(text[6:])))  # fmt: skip
        return list(dict.fromkeys(d for d in eight if d and 1900 <= d.year < 2100))
    if match := _NUMERALS.fullmatch(text):
        first, second, year = int(match[1]), int(match[3]), int(match[4])
        readings = (_make_date(year, second, first), _make_date(year, first, second))
        return list(dict.fromkeys(d for d in readings if d))
    return []


def _named_reading(text: str) -> list[datetime.date]:
    # finditer, not fullmatch: tolerate a weekday or words around ("Friday, March 15, 2024")
    for match in _NAMED.finditer(unicodedata.normalize("NFKC", text).casefold()):
        month = _MONTH_OF.get(match["m1"] or match["m2"])
        if month is not None:
            day, year = match["d1"] or match["d2"], match["y1"] or match["y2"]
            found = _make_date(int(year), month, int(day))
            return [found] if found else []
    return []


def parse_date(value: object) -> datetime.date | None:
    """The usual reading of a printed date (see :func:`date_readings`), else None.

    ``date``/``datetime`` objects pass through.

    >>> parse_date("2024-03-15T10:30:00Z"), parse_date("03/15/2024")
    (datetime.date(2024, 3, 15), datetime.date(2024, 3, 15))
    """
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    readings = date_readings(value) if isinstance(value, str) else []
    return readings[0] if readings else None


# -- amounts -------------------------------------------------------------------------------

_CENT = Decimal("0.01")
_GROUPS = ", '\u00a0\u202f", ". \u00a0\u202f"  # thousands separators beside "." and ","
_NOT_NUMBER = re.compile(r"[^0-9.,'\-]")


def to_decimal(value: int | float | Decimal | str) -> Decimal | None:
    """The number as written (``4.1`` → ``Decimal('4.1')``, not its binary expansion)."""
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def plain_forms(number: Decimal) -> set[str]:
    """The number in its plain form (``1468.46``; ``12`` and ``12.0`` for twelve)."""
    forms = {format(number, "f")}
    if number == number.to_integral_value():
        forms.add(str(int(number)))
    return forms


def amount_forms(number: Decimal) -> set[str]:
    """Every usual printed form of ``number``, its :func:`plain_forms` included.

    Decimal point or comma, thousands grouped by ``.``, ``,``, ``'`` or (thin) spaces or not
    at all, the decimals given or padded to 2, 3 or 4 places (``86,5500``), whole numbers
    also as ``12,-``; negative numbers with ``-``, ``−`` or in parentheses.

    >>> {"1468.46", "1.468,46", "1,468.46", "1 468,46", "1468,4600"} <= amount_forms(
    ...     Decimal("1468.46"))
    True
    """
    decimals = max(0, -int(number.normalize().as_tuple().exponent))
    forms: set[str] = set()
    for places in {decimals, *range(max(decimals, 2), 5)}:
        whole, _, frac = format(abs(number), f".{places}f").partition(".")
        for point, seps in zip(".,", _GROUPS, strict=True):
            for head in {whole, *(f"{int(whole):,}".replace(",", sep) for sep in seps)}:
                forms.update([f"{head}{point}{frac}"] if frac else [head, f"{head},-", head + ".-"])
    if number < 0:
        forms = {f"{sign}{f}" for f in forms for sign in "-−"} | {f"({f})" for f in forms}
    return forms | plain_forms(number)


def _decimal_points(digits: str) -> list[str | None]:
    """The decimal point of ``digits`` (None: a whole number), the usual reading first."""
    last_dot, last_comma = digits.rfind("."), digits.rfind(",")
    if last_dot >= 0 and last_comma >= 0:  # both: the later one is the decimal point
        return ["." if last_dot > last_comma else ","]
    sep = "." if last_dot >= 0 else "," if last_comma >= 0 else None
    if sep is None or digits.count(sep) > 1:
        return [None]  # 1.234.567: thousands groups only
    whole, _, fraction = digits.partition(sep)
    if len(fraction) == 3 and whole not in ("", "0"):
        return [None, sep]  # "1,234": a thousands group first
    return [sep]


def amount_readings(value: str) -> list[Decimal]:
    """Every number a printed amount may be, the usual reading first, unrounded.

    ``1,234`` (one separator, three digits after it) is usually a thousands group, but may
    be a number with three decimals; any other print has one reading.

    >>> amount_readings("1,234"), amount_readings("€ 1.234,56"), amount_readings("(3.20)")
    ([Decimal('1234'), Decimal('1.234')], [Decimal('1234.56')], [Decimal('-3.20')])
    """
    text = unicodedata.normalize("NFKC", value).strip().replace("−", "-")
    kept = _NOT_NUMBER.sub("", text)
    digits = kept.replace("'", "").strip("-")
    if not any(c.isdigit() for c in digits):
        return []
    if text.endswith((",-", ".-")):  # "12,-": a whole amount, not a negative one
        text, digits = text[:-2], digits.rstrip(",.")
    negative = (text.startswith("(") and text.endswith(")")) or text.endswith("-")
    negative = negative or kept.startswith("-")
    readings: list[Decimal] = []
    for point in _decimal_points(digits):
        kept_digits = "".join(c for c in digits if c.isdigit() or c == point)
        number = to_decimal(kept_digits.replace(",", ".") if point else kept_digits)
        if number is not None:
            readings.append(-number if negative else number)
    return readings


def parse_amount(value: object) -> Decimal | None:
    """The usual reading of a money amount or quantity, rounded to the cent.

    Accepts numbers and strings such as ``1.234,56``, ``1,234.56``, ``1 234,56``,
    ``€ 12,00``, ``12.50 EUR``, ``-3,20``, ``3,20-`` and ``(3.20)``.

    >>> parse_amount("1,234.56"), parse_amount(4.1), parse_amount("(3.20)")
    (Decimal('1234.56'), Decimal('4.10'), Decimal('-3.20'))
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        number = to_decimal(value)
    elif isinstance(value, str):
        readings = amount_readings(value)
        number = readings[0] if readings else None
    else:
        return None
    return None if number is None else number.quantize(_CENT, rounding=ROUND_HALF_UP)
