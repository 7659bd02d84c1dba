"""Codes printed on invoices, checked for validity and found in free text.

- **ISO 4217 currency codes**: the complete list of active codes as data.
- **IBAN**: the country's length and BBAN structure from the SWIFT IBAN Registry, and the
  ISO 13616 check digits (mod 97).
- **VAT identification numbers**: the country prefix and the format of the national part
  for every EU member state, XI (Northern Ireland), and the common non-EU GB, CH and NO.
  Formats only, plus the two check-digit schemes verified against real numbers (Belgium,
  France); other countries' check digits are deliberately not computed.

Every check takes the value as printed: spaces, dots and hyphens between characters are
ignored (``DE 232 446 240``, ``CHE-123.456.789 MWST``).

Example:
    >>> is_valid_iban("DE88 2008 0000 0970 3757 00")
    True
    >>> iban_problem("DE88 2008 0000 0970 3757 01")
    'the check digits do not verify (mod 97)'
    >>> [found.value for found in find_vat_ids("USt-IdNr.: DE 136 695 976, Amtsgericht")]
    ['DE136695976']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "CURRENCY_CODES",
    "IBAN_FORMATS",
    "VAT_FORMATS",
    "Found",
    "compact",
    "currency_minor_units",
    "find_ibans",
    "find_vat_ids",
    "iban_problem",
    "is_currency_code",
    "is_valid_iban",
    "is_valid_vat_id",
    "vat_id_problem",
]

# -- ISO 4217 --------------------------------------------------------------------------


def _words(block: str) -> list[str]:
    # Code tables read best as blocks of words, as the standards print them.
    return block.split()


# ISO 4217 list one (current currency & funds codes, maintained by SIX Financial
# Information for ISO), as published in Debian's iso-codes data (iso_4217.json, shipped
# by pycountry 26.2.16): 178 codes, including fund codes (BOV, CHE, CHW, CLF, COU, MXV,
# USN, UYI, UYW), precious metals and the special codes XDR, XSU, XUA, XTS, XXX.
# Withdrawn codes (HRK, ANG, SLL, ZWL, CUC …) are not in it.
CURRENCY_CODES: frozenset[str] = frozenset(
    _words(
        """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD
    EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
    IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD
    MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD
    OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE
    SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI
    UYU UYW UZS VED VES VND VUV WST XAD XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD
    XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG
    """
    )
)

# The "minor unit" column of list one where it is not 2 (codes without one, such as the
# precious metals, are left at 2: they do not appear on invoices as amounts' currency).
_MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        _words("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"), 0
    ),
    **dict.fromkeys(_words("BHD IQD JOD KWD LYD OMR TND"), 3),
    **dict.fromkeys(_words("CLF UYW"), 4),
}


def is_currency_code(code: str) -> bool:
    """True if ``code`` is an active ISO 4217 alphabetic code (upper case, as listed)."""
    return code.strip() in CURRENCY_CODES


def currency_minor_units(code: str | None) -> int:
    """Decimal places of the currency's minor unit (2 when unknown or not given)."""
    return _MINOR_UNITS.get((code or "").strip().upper(), 2)


# -- IBAN -----------------------------------------------------------------------------

# BBAN structure per country, from the SWIFT IBAN Registry as transcribed by schwifty
# 2026.10.1 (schwifty/iban_registry/generated.json), keeping the 89 countries with their
# own IBAN prefix (territories such as Åland or Réunion use FI / FR IBANs). In SWIFT
# notation "8!n" is 8 digits, "4!a" 4 upper-case letters, "12!c" 12 letters or digits;
# the IBAN is the country code, 2 check digits and the BBAN.
IBAN_FORMATS: dict[str, str] = {
    "AD": "4!n4!n12!c", "AE": "3!n16!n", "AL": "8!n16!c", "AT": "5!n11!n", "AZ": "4!a20!c",
    "BA": "3!n3!n8!n2!n", "BE": "3!n7!n2!n", "BG": "4!a4!n2!n8!c", "BH": "4!a14!c",
    "BI": "5!n5!n11!n2!n", "BR": "8!c5!n10!n1!c1!c", "BY": "4!c4!n16!c", "CH": "5!n12!c",
    "CR": "4!n14!n", "CY": "3!n5!n16!c", "CZ": "4!n16!n", "DE": "8!n10!n", "DJ": "5!n5!n11!n2!n",
    "DK": "4!n9!n1!n", "DO": "4!c20!n", "EE": "2!n14!n", "EG": "4!n4!n17!n",
    "ES": "4!n4!n1!n1!n10!n", "FI": "3!n11!n", "FK": "2!a12!n", "FO": "4!n9!n1!n",
    "FR": "5!n5!n11!c2!n", "GB": "4!a6!n8!n", "GE": "2!a16!n", "GI": "4!a15!c", "GL": "4!n9!n1!n",
    "GR": "3!n4!n16!c", "GT": "4!c20!c", "HN": "4!a20!n", "HR": "7!n10!n",
    "HU": "3!n4!n1!n15!n1!n", "IE": "4!a6!n8!n", "IL": "3!n3!n13!n", "IQ": "4!a3!n12!n",
    "IS": "4!n2!n6!n10!n", "IT": "1!a5!n5!n12!c", "JO": "4!a4!n18!c", "KW": "4!a22!c",
    "KZ": "3!n13!c", "LB": "4!n20!c", "LC": "4!a24!c", "LI": "5!n12!c", "LT": "5!n11!n",
    "LU": "3!n13!c", "LV": "4!a13!c", "LY": "3!n3!n15!n", "MC": "5!n5!n11!c2!n", "MD": "2!c18!c",
    "ME": "3!n13!n2!n", "MK": "3!n10!c2!n", "MN": "4!n12!n", "MR": "5!n5!n11!n2!n",
    "MT": "4!a5!n18!c", "MU": "4!a2!n2!n12!n3!n3!a", "NI": "4!a20!n", "NL": "4!a10!n",
    "NO": "4!n6!n1!n", "OM": "3!n16!c", "PK": "4!a16!c", "PL": "8!n16!n", "PS": "4!a21!c",
    "PT": "4!n4!n11!n2!n", "QA": "4!a21!c", "RO": "4!a16!c", "RS": "3!n13!n2!n",
    "RU": "9!n5!n15!c", "SA": "2!n18!c", "SC": "4!a2!n2!n16!n3!a", "SD": "2!n12!n",
    "SE": "3!n16!n1!n", "SI": "5!n8!n2!n", "SK": "4!n6!n10!n", "SM": "1!a5!n5!n12!c",
    "SO": "4!n3!n12!n", "ST": "4!n4!n11!n2!n", "SV": "4!a20!n", "TL": "3!n14!n2!n",
    "TN": "2!n3!n13!n2!n", "TR": "5!n1!n16!c", "UA": "6!n19!c", "VA": "3!n15!n", "VG": "4!a16!n",
    "XK": "4!n10!n2!n", "YE": "4!a4!n18!c",
}  # fmt: skip

_SWIFT_CLASS = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Z0-9]"}


def _bban_regex(spec: str) -> re.Pattern[str]:
    parts = re.findall(r"(\d+)!([nac])", spec)
    return re.compile("".join(f"{_SWIFT_CLASS[kind]}{{{count}}}" for count, kind in parts))


_BBAN = {country: _bban_regex(spec) for country, spec in IBAN_FORMATS.items()}
_IBAN_LENGTH = {
    country: 4 + sum(int(n) for n in re.findall(r"(\d+)!", spec))
    for country, spec in IBAN_FORMATS.items()
}
_SEPARATORS = re.compile(r"[\s.\-]+")


def compact(value: str) -> str:
    """Upper case, without the spaces, dots and hyphens that group a printed code."""
    return _SEPARATORS.sub("", value).upper()


def _mod97(digits_and_letters: str) -> int:
    # ISO 7064 MOD 97-10 as ISO 13616 uses it: letters count as 10 (A) … 35 (Z).
    return int("".join(str(int(char, 36)) for char in digits_and_letters)) % 97


def iban_problem(value: str) -> str | None:
    """Why ``value`` is not a valid IBAN, or None if it is.

    Checks the country, the length and BBAN structure the SWIFT registry gives for it,
    and the check digits.
    """
    iban = compact(value)
    problem = _iban_structure_problem(iban)
    if problem is None and _mod97(iban[4:] + iban[:4]) != 1:
        problem = "the check digits do not verify (mod 97)"
    return problem


def _iban_structure_problem(iban: str) -> str | None:
    country = iban[:2]
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+", iban):
        return "not an IBAN (two letters, two check digits, then letters and digits)"
    if country not in _BBAN:
        return f"{country} is not a country with IBANs in the SWIFT registry"
    if len(iban) != _IBAN_LENGTH[country]:
        return f"it has {len(iban)} characters, {country} IBANs have {_IBAN_LENGTH[country]}"
    if not _BBAN[country].fullmatch(iban[4:]):
        return f"the account part does not have the {country} structure {IBAN_FORMATS[country]}"
    return None


def is_valid_iban(value: str) -> bool:
    """True if ``value`` (spaces allowed) is a valid IBAN."""
    return iban_problem(value) is None


# -- VAT identification numbers ---------------------------------------------------------

# The national part after the prefix, per the European Commission's VIES description of
# VAT number structures; GB (and XI, Northern Ireland since 2021) from HMRC; CH is the UID
# "CHE" + 9 digits with the optional MWST/TVA/IVA/TPV suffix; NO the organisation number
# with the optional MVA suffix. Greece uses EL; GR is accepted as printed on some invoices.
VAT_FORMATS: dict[str, str] = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[A-Z]\d{7}[A-Z0-9]|\d{8}[A-Z]",
    "FI": r"\d{8}",
    "FR": r"[0-9A-HJ-NP-Z]{2}\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}",
    "IE": r"\d{7}[A-W][A-IW]?|\d[A-Z+*]\d{5}[A-W]",
    "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"[1-9]\d{1,9}",
    "SE": r"\d{10}01",
    "SI": r"[1-9]\d{7}",
    "SK": r"\d{10}",
    "XI": r"\d{9}|\d{12}|GD[0-4]\d{2}|HA[5-9]\d{2}",
    "GB": r"\d{9}|\d{12}|GD[0-4]\d{2}|HA[5-9]\d{2}",
    "CH": r"E\d{9}(?:MWST|TVA|IVA|TPV)?",
    "NO": r"\d{9}(?:MVA)?",
}
_VAT_ALIASES = {"GR": "EL"}
_VAT = {country: re.compile(pattern) for country, pattern in VAT_FORMATS.items()}


def _vat_country(vat_id: str) -> str | None:
    country = _VAT_ALIASES.get(vat_id[:2], vat_id[:2])
    return country if country in _VAT else None


def _vat_checksum_problem(country: str, number: str) -> str | None:
    # Only the schemes checked against real, published numbers (the eval invoices' FR ids
    # and Belgian companies' ids); python-stdnum implements the same two.
    if country == "BE" and (int(number[:8]) + int(number[8:])) % 97 != 0:
        return "the Belgian check digits do not verify (mod 97)"
    # France: the key is (12 + 3 × (SIREN mod 97)) mod 97, i.e. SIREN·100 + 12 mod 97
    if country == "FR" and number[:2].isdigit() and int(number[:2]) != int(number[2:] + "12") % 97:
        return "the French key does not match the SIREN (mod 97)"
    return None


def vat_id_problem(value: str) -> str | None:
    """Why ``value`` is not a well-formed VAT identification number, or None if it is.

    The value must start with its country prefix (``DE``, ``EL``, ``XI``, ``CHE`` …).
    """
    vat_id = compact(value)
    country = _vat_country(vat_id)
    if country is None:
        known = ", ".join(sorted(_VAT))
        return f"it does not start with a known country prefix ({known})"
    number = vat_id[2:]
    if not _VAT[country].fullmatch(number):
        return f"{number!r} does not have the {country} format {VAT_FORMATS[country]}"
    return _vat_checksum_problem(country, number)


def is_valid_vat_id(value: str) -> bool:
    """True if ``value`` is a well-formed VAT identification number with its prefix."""
    return vat_id_problem(value) is None


# -- finding codes in free text ---------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A code found in text: its compact ``value`` and where it is printed.

    Attributes:
        value: the code without separators, upper case (``DE88200800000970375700``).
        printed: the text as printed (``DE88 2008 0000 0970 3757 00``).
        start, end: its span in the searched text.
    """

    value: str
    printed: str
    start: int
    end: int


# Codes are printed in upper case, grouped by single spaces, dots or hyphens; a line
# break ends a code. A candidate starts where a letter does not follow a letter or digit.
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}")
_VAT_START = re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(sorted([*_VAT, *_VAT_ALIASES])) + ")")
_GROUP_SEPARATOR = re.compile(r"[ .\-]")


def _spans(text: str, start: int, limit: int) -> list[int]:
    """End offsets after each of up to ``limit`` code characters read from ``start``,
    stepping over single separators between characters."""
    ends: list[int] = []
    i = start
    while i < len(text) and len(ends) < limit:
        char = text[i]
        if char.isascii() and (char.isupper() or char.isdigit()):
            i += 1
            ends.append(i)
        elif (
            _GROUP_SEPARATOR.fullmatch(char)
            and ends
            and i + 1 < len(text)
            and text[i + 1].isascii()
            and text[i + 1].isalnum()
        ):
            i += 1
        else:
            break
    return ends


def _at_boundary(text: str, end: int) -> bool:
    return end >= len(text) or not text[end].isalnum()


def find_ibans(text: str, *, checked: bool = True) -> list[Found]:
    """IBANs printed in ``text``, grouped or not, in order of appearance.

    Args:
        text: free text (a page's text layer or OCR).
        checked: keep only IBANs whose check digits verify; with False, any code with
            the registry's length and structure for its country (a misprinted or
            sample IBAN) is kept too.
    """
    found: list[Found] = []
    cursor = 0
    for match in _IBAN_START.finditer(text):
        country = match.group()[:2]
        if match.start() < cursor or country not in _IBAN_LENGTH:
            continue
        length = _IBAN_LENGTH[country]
        ends = _spans(text, match.start(), length)
        if len(ends) != length or not _at_boundary(text, ends[-1]):
            continue
        printed = text[match.start() : ends[-1]]
        iban = compact(printed)
        if _iban_structure_problem(iban) is None and (
            not checked or _mod97(iban[4:] + iban[:4]) == 1
        ):
            found.append(Found(iban, printed, match.start(), ends[-1]))
            cursor = ends[-1]
    return found


def find_vat_ids(text: str) -> list[Found]:
    """Well-formed VAT identification numbers printed in ``text`` with their prefix.

    The longest well-formed reading that ends at a word boundary wins (``NL810433941B01``
    rather than ``NL810433941``…); separators inside the number are allowed.
    """
    found: list[Found] = []
    cursor = 0
    for match in _VAT_START.finditer(text):
        if match.start() < cursor:
            continue
        ends = _spans(text, match.start(), 2 + 16)
        for end in reversed(ends[2:]):
            printed = text[match.start() : end]
            if _at_boundary(text, end) and vat_id_problem(printed) is None:
                found.append(Found(compact(printed), printed, match.start(), end))
                cursor = end
                break
    return found
