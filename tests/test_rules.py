"""Business rules: the @rule declaration, check() and feedback(), and the shipped rules."""

from __future__ import annotations

import datetime as dt
import doctest
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import extractor.rules
from extractor import rulebook
from extractor.identifiers import is_valid_iban
from extractor.rules import CheckResult, Status, Verdict, check, failures, feedback, rule, rules_of
from schemas.invoice import Invoice, LineItem
from schemas.receipt import Receipt

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def statuses(results: list[CheckResult]) -> dict[str, str]:
    return {r.message.split(":")[0]: r.status.value for r in results}


# -- declaring rules ----------------------------------------------------------------------


class Night(BaseModel):
    price: Decimal | None = None

    @rule("price_is_positive", fields=("price",))
    def _price(self) -> Verdict:
        assert self.price is not None
        return Verdict.passed() if self.price > 0 else Verdict.failed(f"price is {self.price}")


class Stay(BaseModel):
    guest: str | None = None
    nights: list[Night] = []
    total: Decimal | None = None

    @rule("nights_sum_to_total", fields=("nights", "total"))
    def _sum(self) -> Verdict:
        summed = sum((n.price or Decimal(0) for n in self.nights), Decimal(0))
        if summed == self.total:
            return Verdict.passed()
        return Verdict.failed(f"nights sum to {summed}, but total is {self.total}")

    @rule(fields=("guest",))
    def guest_is_named(self) -> Verdict:
        return Verdict.skipped("cannot tell") if self.guest == "?" else Verdict.passed()


def test_rules_are_collected_in_declaration_order() -> None:
    assert [(s.name, s.fields) for s in rules_of(Stay)] == [
        ("nights_sum_to_total", ("nights", "total")),
        ("guest_is_named", ("guest",)),  # named after the method by default
    ]


def test_check_reports_passed_failed_and_skipped_with_paths() -> None:
    stay = Stay(guest="?", nights=[Night(price=Decimal(90)), Night(price=Decimal(-5))], total=85)
    results = check(stay)
    assert [(r.name, r.status, r.fields) for r in results] == [
        ("nights_sum_to_total", Status.PASSED, ("nights", "total")),
        ("guest_is_named", Status.SKIPPED, ("guest",)),
        ("price_is_positive", Status.PASSED, ("nights[0].price",)),
        ("price_is_positive", Status.FAILED, ("nights[1].price",)),
    ]
    assert results[1].message == "guest_is_named: cannot tell"
    assert results[3].message == "price_is_positive (nights[1]): price is -5"
    assert feedback(results) == "price_is_positive (nights[1]): price is -5"


def test_missing_fields_skip_without_calling_the_rule() -> None:
    results = check(Stay(guest="", nights=[], total=None))  # empty counts as missing
    assert all(r.status is Status.SKIPPED for r in results)
    assert [r.message for r in results] == [
        "nights_sum_to_total: not applicable, nights and total missing",
        "guest_is_named: not applicable, guest missing",
    ]
    assert feedback(results) == "" and failures(results) == []


def test_subclasses_add_replace_and_switch_off_rules() -> None:
    class StrictStay(Stay):
        @rule("nights_sum_to_total", fields=("total",))
        def _sum(self) -> Verdict:  # replaces the base rule of the same method
            return Verdict.failed("always")

        def guest_is_named(self) -> Verdict:  # no @rule: the base rule is off
            return Verdict.passed()

        @rule("at_most_three_nights", fields=("nights",))
        def _few(self) -> Verdict:
            return Verdict.passed() if len(self.nights) <= 3 else Verdict.failed("too many")

    assert [s.name for s in rules_of(StrictStay)] == ["nights_sum_to_total", "at_most_three_nights"]
    assert [s.name for s in rules_of(Stay)] == ["nights_sum_to_total", "guest_is_named"]
    stay = StrictStay(total=1, nights=[Night()] * 4)
    assert feedback(check(stay)) == "nights_sum_to_total: always\nat_most_three_nights: too many"


def test_declaration_mistakes_are_type_errors() -> None:
    class Typo(BaseModel):
        total: int | None = None

        @rule("needs_totl", fields=("totl",))
        def _r(self) -> Verdict:
            return Verdict.passed()

    class Twice(BaseModel):
        @rule("same")
        def _a(self) -> Verdict:
            return Verdict.passed()

        @rule("same")
        def _b(self) -> Verdict:
            return Verdict.passed()

    class Sloppy(BaseModel):
        @rule("returns_a_bool")
        def _r(self) -> Any:
            return True

    with pytest.raises(TypeError, match="unknown"):
        check(Typo())
    with pytest.raises(TypeError, match="named 'same'"):
        rules_of(Twice)
    with pytest.raises(TypeError, match="not a Verdict"):
        check(Sloppy())


def test_results_are_json_safe_and_modules_examples_run() -> None:
    [result] = [
        r for r in check(Stay(total=1, nights=[Night(price=Decimal(2))])) if r.fields[0] == "nights"
    ]
    assert json.loads(json.dumps(result.as_dict())) == {
        "name": "nights_sum_to_total", "status": "failed",
        "message": "nights_sum_to_total: nights sum to 2, but total is 1",
        "fields": ["nights", "total"],
    }  # fmt: skip
    assert doctest.testmod(extractor.rules).failed == 0


# -- the shipped invoice rules ------------------------------------------------------------


def fixture_invoice() -> dict[str, Any]:
    return json.loads((FIXTURES / "expected" / "invoice.json").read_text(encoding="utf-8"))


def test_the_fixture_invoice_passes_every_rule() -> None:
    results = check(Invoice.model_validate(fixture_invoice()))
    assert {r.status for r in results} == {Status.PASSED}
    assert len(results) == 6 + 3  # six invoice rules, one per line item


def test_net_plus_tax_names_the_numbers() -> None:
    wrong = Invoice(net_amount=1234, tax_amount="234.46", total_amount="1568.46")
    assert feedback(check(wrong)) == (
        "net_plus_tax_is_total: net 1234.00 + tax 234.46 = 1468.46, but total_amount is 1568.46"
    )
    assert [r.fields for r in failures(check(wrong))] == [
        ("net_amount", "tax_amount", "total_amount")
    ]


@pytest.mark.parametrize(
    ("net", "tax", "total", "currency", "status"),
    [
        ("100.00", "19.00", "119.02", "EUR", "passed"),  # rounding per tax rate
        ("100.00", "19.00", "119.03", "EUR", "failed"),
        ("10000", "1000", "11002", "JPY", "passed"),  # yen have no minor unit
        ("10000", "1000", "11003", "JPY", "failed"),
        ("-7.67", "-1.12", "-8.79", "EUR", "passed"),  # a credit note
    ],
)
def test_net_plus_tax_tolerance(net: str, tax: str, total: str, currency: str, status: str) -> None:
    verdict = rulebook.net_plus_tax_is_total(Decimal(net), Decimal(tax), Decimal(total), currency)
    assert verdict.status.value == status


def lines(*amounts: str) -> list[tuple[int, Decimal]]:
    return [(i, Decimal(a)) for i, a in enumerate(amounts)]


@pytest.mark.parametrize(
    ("amounts", "net", "total", "status", "says"),
    [
        (lines("298.80", "578.00", "357.20"), "1234.00", None, "passed", "the net"),
        (lines("171.20", "376.04", "23.80"), "496.00", "571.04", "passed", "include tax"),
        # the Teilrechnung sample: allowances 9.07, charges 5.80 on the invoice
        (lines("10.00", "5.50", "109.80", "55.46"), "177.49", "197.65", "skipped", "2% of the"),
        (lines("140.00"), "220.00", "220.00", "skipped", "only some lines"),
        (lines("-5.00", "-2.90"), "-7.67", "-8.79", "skipped", "allowances of 0.23"),
        (lines("2988.00", "578.00", "357.20"), "1234.00", "1468.46", "failed", "69% off"),
        (lines("-50.00", "-2.90"), "-7.67", "-8.79", "failed", "but net_amount is -7.67"),
        (lines("5.00"), "0", None, "failed", "100% off"),
    ],
)
def test_line_amounts_against_net(
    amounts: list[tuple[int, Decimal]], net: str, total: str | None, status: str, says: str
) -> None:
    verdict = rulebook.line_amounts_match_net(
        amounts, Decimal(net), None if total is None else Decimal(total), "EUR"
    )
    assert verdict.status.value == status and says in verdict.detail, verdict.detail


def test_a_line_sum_failure_names_every_amount_involved() -> None:
    invoice = Invoice.model_validate(fixture_invoice())
    invoice.line_items[0].amount = Decimal("2988.00")
    failed = {r.name: r for r in failures(check(invoice))}
    assert set(failed) == {"line_amounts_match_net", "quantity_times_unit_price_is_amount"}
    assert failed["line_amounts_match_net"].fields == (
        "net_amount", "line_items[0].amount", "line_items[1].amount", "line_items[2].amount",
    )  # fmt: skip
    assert failed["quantity_times_unit_price_is_amount"].message == (
        "quantity_times_unit_price_is_amount (line_items[0]): "
        "quantity 12 × unit_price 24.90 = 298.80, but amount is 2988.00"
    )
    assert failed["quantity_times_unit_price_is_amount"].fields == (
        "line_items[0].quantity", "line_items[0].unit_price", "line_items[0].amount",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("quantity", "price", "amount", "status"),
    [
        (5, "71.44", "357.20", "passed"),
        (20, "2.77", "55.46", "passed"),  # a unit price rounded to the cent (2.773)
        (3, "3.3333", "10.00", "passed"),
        (-2, "1.45", "-2.90", "passed"),  # a returned item
        (10, "100.00", "850.00", "skipped"),  # a 15 % line discount
        (1, "117.65", "140.00", "skipped"),  # 19 % insurance tax included in the amount
        (10000, "0.052", "52.00", "passed"),  # a sub-cent price quoted per 10 units
        (5, "71.44", "3572.00", "failed"),  # amount × 10
        (5, "71.44", "35.72", "failed"),  # amount ÷ 10: a misplaced decimal point
        (5, "71.44", "0.36", "failed"),
        (2, "0.00", "5.00", "failed"),
        (10, "0.00", "0.00", "passed"),  # free goods
    ],
)
def test_quantity_times_unit_price(quantity: float, price: str, amount: str, status: str) -> None:
    item = LineItem(description="x", quantity=quantity, unit_price=price, amount=amount)
    [result] = check(item)
    assert result.status.value == status, result.message


def test_dates_identifiers_and_currency() -> None:
    invoice = Invoice(
        invoice_date=dt.date(2018, 11, 20), due_date=dt.date(2018, 10, 31),
        iban="DE12 1234 4321 9876 00", seller_vat_id="DE12345678", currency="EURO",
    )  # fmt: skip
    assert feedback(check(invoice)).splitlines() == [
        "due_date_not_before_invoice_date: due_date 2018-10-31 is before invoice_date 2018-11-20",
        "iban_is_valid: iban DE12 1234 4321 9876 00 is not a valid IBAN: it has 18 characters, "
        "DE IBANs have 22",
        "seller_vat_id_is_well_formed: seller_vat_id DE12345678 is not a well-formed VAT id: "
        "'12345678' does not have the DE format \\d{9}",
        "currency_is_iso_4217: currency 'EURO' is not an ISO 4217 code (three upper-case letters)",
    ]
    same_day = Invoice(invoice_date=dt.date(2024, 3, 15), due_date=dt.date(2024, 3, 15))
    assert statuses(check(same_day))["due_date_not_before_invoice_date"] == "passed"


# -- the shipped receipt rules ------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "date", "failed"),
    [
        ("9.00", dt.date(2018, 12, 25), []),
        ("0", dt.date(2018, 12, 25), ["total_is_positive"]),
        ("-3.50", dt.date.today(), ["total_is_positive"]),
        ("9.00", dt.date(1989, 12, 31), ["date_is_plausible"]),
        ("9.00", dt.date.today() + dt.timedelta(days=30), ["date_is_plausible"]),
        ("9.00", dt.date.today() + dt.timedelta(days=1), []),  # time zones
    ],
)
def test_receipt_rules(total: str, date: dt.date, failed: list[str]) -> None:
    results = check(Receipt(total=total, date=date))
    assert [r.name for r in failures(results)] == failed


def test_plausible_date_against_a_given_day() -> None:
    today = dt.date(2019, 1, 1)
    assert rulebook.date_is_plausible(dt.date(2019, 1, 3), today=today).status is Status.PASSED
    verdict = rulebook.date_is_plausible(dt.date(2019, 1, 4), today=today)
    assert verdict.detail == "date 2019-01-04 is in the future (after 2019-01-03)"


# -- the eval sets: truthful values do not fail, corrupted ones do -----------------------


def eval_truths(kind: str) -> dict[str, dict[str, Any]]:
    folder = EVAL / kind
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.json")}


@pytest.mark.eval_data
@pytest.mark.skipif(not (EVAL / "invoices").is_dir(), reason="needs ../shared/eval")
def test_truthful_invoices_and_receipts_break_no_rule_but_printed_bad_ibans() -> None:
    invoices = eval_truths("invoices")
    for stem, truth in invoices.items():
        failed = failures(check(Invoice.model_validate(truth)))
        # The only failures: sample invoices that print an invalid IBAN (placeholders).
        assert [r.name for r in failed] in ([], ["iban_is_valid"]), (stem, failed)
        assert bool(failed) == (truth.get("iban") is not None and not is_valid_iban(truth["iban"]))
    for stem, truth in eval_truths("receipts").items():
        assert failures(check(Receipt.model_validate(truth))) == [], stem
    assert len(invoices) == 73


@pytest.mark.eval_data
@pytest.mark.skipif(not (EVAL / "invoices").is_dir(), reason="needs ../shared/eval")
def test_a_total_off_by_100_is_caught_on_every_eval_invoice() -> None:
    caught = applicable = 0
    for truth in eval_truths("invoices").values():
        if any(truth.get(k) is None for k in ("net_amount", "tax_amount", "total_amount")):
            continue
        applicable += 1
        wrong = Invoice.model_validate(truth)
        assert wrong.net_amount is not None and wrong.tax_amount is not None
        wrong.total_amount = wrong.net_amount + wrong.tax_amount + 100
        caught += "net_plus_tax_is_total" in {r.name for r in failures(check(wrong))}
    assert caught == applicable == 60
