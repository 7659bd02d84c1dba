"""Grounding and evaluation read print the same way: both go through extractor.formats.

Each agreement test prints a form on a real page, grounds the value there, and asks the
evaluator whether that form means the value: the two must say yes together.
"""

from __future__ import annotations

import datetime as dt
import doctest
from decimal import Decimal

import pytest

from extractor import formats
from extractor.evaluate.matching import FieldKind, match_value
from extractor.evaluate.normalize import normalize_currency, parse_amount, parse_date
from extractor.ground import ground
from extractor.pages import Page, TextRun


def page_with(*lines: str) -> list[Page]:
    runs = tuple(TextRun(line, (50.0, 100.0 + 20 * i, 400.0, 110.0 + 20 * i))
                 for i, line in enumerate(lines))  # fmt: skip
    return [Page(1, 600, 800, runs=runs)]


def status(value: object, *lines: str) -> str:
    return ground({"v": value}, page_with(*lines))["v"].status


@pytest.mark.parametrize("code", sorted(formats.CURRENCIES))
def test_every_currency_form_grounding_looks_for_is_that_currency_in_eval(code: str) -> None:
    for form in formats.CURRENCIES[code]:
        assert status(code, f"Total 12,00 {form}", "Thank you") == "normalized", form
        assert match_value(FieldKind.CURRENCY, code, form).correct, form
        assert status(form, f"Total {code} 12,00") in ("exact", "normalized"), form
    assert status(code, "Total 12,00", "Thank you") == "not_found"


def test_a_shared_symbol_reads_as_the_usual_currency_but_matches_both() -> None:
    assert normalize_currency("¥") == "JPY" and formats.currency_codes("¥") == ("JPY", "CNY")
    assert match_value(FieldKind.CURRENCY, "CNY", "¥").correct
    assert not match_value(FieldKind.CURRENCY, "CNY", "$").correct
    assert status("CNY", "合计 ¥ 35.00") == "normalized"


@pytest.mark.parametrize("lang", sorted(formats.MONTHS))
def test_every_month_name_eval_reads_is_one_grounding_finds(lang: str) -> None:
    for number, spellings in enumerate(formats.MONTHS[lang], start=1):
        day = dt.date(2024, number, 5)
        for name in spellings:
            printed = f"Datum: 5 {name.title()} 2024"
            assert parse_date(printed) == day, printed
            assert status(day.isoformat(), printed, "Summe 12,00") == "normalized", printed
            assert formats.month_number(name) == number


@pytest.mark.parametrize(
    "day", [dt.date(2024, 3, 15), dt.date(2024, 3, 4), dt.date(2021, 11, 1), dt.date(2009, 1, 9)]
)
def test_every_printed_date_grounding_looks_for_reads_back_in_eval(day: dt.date) -> None:
    forms = formats.date_forms(day)
    assert len(forms) > 100
    for form in forms:
        assert status(day.isoformat(), f"Rechnung vom {form}", "Seite 1") == "normalized", form
        readings = formats.date_readings(form)
        assert day in readings, form
        if len(readings) == 1:  # ambiguous numerals (03/04) are read day-first by eval
            assert match_value(FieldKind.DATE, day.isoformat(), form).correct, form


AMOUNTS = ["1468.46", "-12.5", "86.55", "12", "1234567.8", "0.5", "-3"]


@pytest.mark.parametrize("value", [Decimal(text) for text in AMOUNTS])
def test_every_printed_amount_grounding_looks_for_reads_back_in_eval(value: Decimal) -> None:
    cents = value.quantize(Decimal("0.01"))
    for form in formats.amount_forms(value):
        assert status(value, f"Summe {form} EUR", "Danke") in ("exact", "normalized"), form
        readings = [r.quantize(Decimal("0.01")) for r in formats.amount_readings(form)]
        assert cents in readings, form
        if len(readings) == 1:  # "1,234" is a thousand to eval, 1.234 to a unit price
            assert parse_amount(form) == cents, form
            assert match_value(FieldKind.NUMBER, float(value), form).correct, form


def test_a_whole_amount_with_a_dash_is_not_negative() -> None:
    assert parse_amount("12,-") == Decimal("12.00")
    assert parse_amount("12.-") == Decimal("12.00")
    assert parse_amount("3,20-") == Decimal("-3.20")
    assert parse_amount("−3,20") == Decimal("-3.20")  # U+2212, as grounding prints it


def test_month_names_are_unambiguous_and_cover_six_languages() -> None:
    assert {"en", "de", "fr", "nl", "es", "it"} <= formats.MONTHS.keys()
    for names in formats.MONTHS.values():
        assert len(names) == 12 and all(spellings for spellings in names)
    assert formats.month_number("Mrt") == 3 and formats.month_number("dic.") == 12
    assert formats.month_number("Friday") is None


def test_docstring_examples_run() -> None:
    result = doctest.testmod(formats)
    assert result.attempted > 5 and result.failed == 0
