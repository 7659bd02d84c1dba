"""The checks behind the shipped invoice and receipt rules, reusable in your own schemas.

Each function takes plain values and returns a :class:`~extractor.rules.Verdict`, so a
schema's ``@rule`` method is one line (see ``schemas/invoice.py``). The tolerances are
chosen so that truthful documents pass; ``bench/rules_truth.py`` measures that on the
eval sets, and how many corrupted answers the rules catch.

What real invoices do to the arithmetic, and how each check allows for it:

- **Rounding**: amounts are compared to one or two units of the currency's minor unit
  (a cent; a yen), and a line's quantity × unit price to what a unit price rounded to
  its printed decimals allows.
- **Invoice-level allowances and charges** (a discount on the whole invoice, shipping):
  the line amounts may sum to more or less than the net. A sum *below* the net is not
  judged (the table may also list only some lines); a sum above it fails only when the
  allowance it implies would exceed :data:`MAX_ALLOWANCE_SHARE` of the lines.
- **Gross lines**: a table with amounts including tax sums to the total, not the net.
- **Line discounts, tax included in a line**: a line's amount may be below quantity ×
  unit price by up to :data:`MAX_LINE_DISCOUNT`, or above it by up to
  :data:`MAX_LINE_TAX`; those cases are reported as skipped (the values cannot tell).
- **Prices per 10, 100 or 1000 units**: for a unit price with sub-cent digits, an amount
  of quantity × unit price divided by 10, 100 or 1000 passes. For a price in whole cents
  that factor is more likely a misplaced decimal point, and fails.
- **Credit notes** print negative amounts: sums and products are compared by magnitude.
- **Prepayments**: ``total_amount`` is the grand total before prepayments are deducted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from extractor.identifiers import (
    currency_minor_units,
    iban_problem,
    is_currency_code,
    vat_id_problem,
)
from extractor.money import as_decimal, format_amount
from extractor.rules import Verdict

__all__ = [
    "EARLIEST_RECEIPT",
    "FUTURE_MARGIN",
    "MAX_ALLOWANCE_SHARE",
    "MAX_LINE_DISCOUNT",
    "MAX_LINE_TAX",
    "amount_is_positive",
    "currency_is_iso_4217",
    "date_is_plausible",
    "dates_in_order",
    "iban_is_valid",
    "line_amount_matches",
    "line_amounts_match_net",
    "net_plus_tax_is_total",
    "vat_id_is_well_formed",
]

# Invoice-level allowances (discounts, rebates, early-payment reductions) above a quarter
# of the line total are rare enough that a larger gap is worth a second look.
MAX_ALLOWANCE_SHARE = Decimal("0.25")
# A line's amount may sit below quantity × unit price by a line discount of up to half …
MAX_LINE_DISCOUNT = Decimal("0.50")
# … or above it by a tax included in the amount: 27 % is the highest EU standard VAT rate.
MAX_LINE_TAX = Decimal("0.27")
_PRICE_BASES = (10, 100, 1000)
EARLIEST_RECEIPT = dt.date(1990, 1, 1)
# Time zones and device clocks: a receipt dated tomorrow is not a misreading.
FUTURE_MARGIN = dt.timedelta(days=2)

Number = Decimal | float | int


def _unit(currency: str | None) -> Decimal:
    return Decimal(1).scaleb(-currency_minor_units(currency))


def _show(value: Number, currency: str | None = None) -> str:
    return format_amount(value, currency_minor_units(currency))


def net_plus_tax_is_total(
    net: Number, tax: Number, total: Number, currency: str | None = None
) -> Verdict:
    """net + tax = total, within two minor units (tax rounded per rate)."""
    expected = as_decimal(net) + as_decimal(tax)
    shown = f"net {_show(net, currency)} + tax {_show(tax, currency)} = {_show(expected, currency)}"
    if abs(expected - as_decimal(total)) <= 2 * _unit(currency):
        return Verdict.passed(shown)
    return Verdict.failed(f"{shown}, but total_amount is {_show(total, currency)}")


def line_amounts_match_net(
    amounts: Sequence[tuple[int, Number]],
    net: Number,
    total: Number | None = None,
    currency: str | None = None,
) -> Verdict:
    """The line amounts sum to the net (or, for gross lines, to the total).

    Args:
        amounts: ``(index, amount)`` of the lines that have an amount.
        net, total: the invoice's net and grand total (total may be unknown).
    """
    if not amounts:
        return Verdict.skipped("no line has an amount")
    paths = ["net_amount", *(f"line_items[{i}].amount" for i, _ in amounts)]
    lines = sum((as_decimal(a) for _, a in amounts), Decimal(0))
    net_d = as_decimal(net)
    tolerance = _unit(currency) * max(2, len(amounts))  # each line rounded on its own
    count = len(amounts)
    summed = (
        f"the {count} line amounts sum to {_show(lines, currency)}"
        if count > 1
        else f"the one line amount is {_show(lines, currency)}"
    )
    if abs(lines - net_d) <= tolerance:
        return Verdict.passed(f"{summed}, the net")
    if total is not None and abs(lines - as_decimal(total)) <= tolerance:
        return Verdict.passed(f"{summed}, the total (amounts include tax)")
    sign = -1 if net_d < 0 else 1  # a credit note: compare magnitudes
    gap = sign * (lines - net_d)
    if gap < 0:
        return Verdict.skipped(
            f"{summed}, less than net_amount {_show(net, currency)}: the table may list only "
            "some lines, or the invoice adds charges"
        )
    share = gap / (sign * lines)
    if share <= MAX_ALLOWANCE_SHARE:
        return Verdict.skipped(
            f"{summed}, more than net_amount {_show(net, currency)}: invoice-level allowances "
            f"of {_show(gap, currency)} ({share:.0%} of the lines) would explain it"
        )
    return Verdict.failed(
        f"{summed}, but net_amount is {_show(net, currency)}: allowances would have to take "
        f"{share:.0%} off the lines",
        paths,
    )


def line_amount_matches(quantity: Number, unit_price: Number, amount: Number) -> Verdict:
    """A line's quantity × unit price gives its amount (see the module notes)."""
    q, p, a = as_decimal(quantity).normalize(), as_decimal(unit_price), as_decimal(amount)
    product = q * p
    shown = f"quantity {q:f} × unit_price {format_amount(p)} = {format_amount(product)}"
    # The unit price may be rounded to its printed decimals (at least cents); so may amount.
    exponent = p.as_tuple().exponent
    last_place = Decimal(1).scaleb(min(exponent if isinstance(exponent, int) else -2, -2))
    tolerance = abs(q) * last_place / 2 + Decimal("0.01")
    expected, actual = abs(product), abs(a)
    if abs(actual - expected) <= tolerance:
        return Verdict.passed(shown)
    # A price per 10, 100 or 1000 units is how sub-cent prices are quoted; for a price in
    # whole cents the same factor is more likely a misplaced decimal point.
    sub_cent = p != p.quantize(Decimal("0.01"))
    for basis in _PRICE_BASES if sub_cent else ():
        if abs(actual - expected / basis) <= tolerance / basis + Decimal("0.01"):
            return Verdict.passed(f"{shown} per {basis} units")
    if expected and (1 - MAX_LINE_DISCOUNT) * expected <= actual <= (1 + MAX_LINE_TAX) * expected:
        change = actual / expected - 1
        return Verdict.skipped(
            f"{shown}, amount is {format_amount(a)} ({change:+.1%}): a line discount or a tax "
            "included in the amount would explain it"
        )
    return Verdict.failed(f"{shown}, but amount is {format_amount(a)}")


def dates_in_order(
    earlier: dt.date, later: dt.date, names: tuple[str, str] = ("invoice_date", "due_date")
) -> Verdict:
    """``later`` is not before ``earlier`` (the same day is fine)."""
    if later >= earlier:
        return Verdict.passed(f"{names[1]} {later} is not before {names[0]} {earlier}")
    return Verdict.failed(f"{names[1]} {later} is before {names[0]} {earlier}")


def iban_is_valid(iban: str) -> Verdict:
    """The IBAN has its country's length and structure, and its check digits verify."""
    problem = iban_problem(iban)
    if problem is None:
        return Verdict.passed()
    return Verdict.failed(f"iban {iban} is not a valid IBAN: {problem}")


def vat_id_is_well_formed(vat_id: str, name: str = "seller_vat_id") -> Verdict:
    """The VAT id has a known country prefix and that country's format."""
    problem = vat_id_problem(vat_id)
    if problem is None:
        return Verdict.passed()
    return Verdict.failed(f"{name} {vat_id} is not a well-formed VAT id: {problem}")


def currency_is_iso_4217(code: str) -> Verdict:
    """The code is an active ISO 4217 code, in upper case."""
    if is_currency_code(code):
        return Verdict.passed()
    return Verdict.failed(f"currency {code!r} is not an ISO 4217 code (three upper-case letters)")


def amount_is_positive(amount: Number, name: str = "total") -> Verdict:
    """The amount is more than zero."""
    if as_decimal(amount) > 0:
        return Verdict.passed()
    return Verdict.failed(f"{name} is {format_amount(amount)}, but it must be more than zero")


def date_is_plausible(date: dt.date, name: str = "date", today: dt.date | None = None) -> Verdict:
    """The date is neither before :data:`EARLIEST_RECEIPT` nor in the future beyond
    :data:`FUTURE_MARGIN` (``today`` defaults to the local date)."""
    latest = (today or dt.date.today()) + FUTURE_MARGIN
    if date < EARLIEST_RECEIPT:
        return Verdict.failed(f"{name} {date} is before {EARLIEST_RECEIPT}")
    if date > latest:
        return Verdict.failed(f"{name} {date} is in the future (after {latest})")
    return Verdict.passed()
