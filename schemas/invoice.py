"""An invoice: header fields, amounts and line items, named as in ``shared/eval``.

Field descriptions say what a value is and how to write it, never an example value: a
model that echoes an example would score on every document that happens to print it.

The ``@rule`` methods are the business rules :func:`extractor.rules.check` runs on an
answer; their tolerances for allowances, gross lines, rounding and credit notes are
described in :mod:`extractor.rulebook`.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from extractor import rulebook
from extractor.money import Money
from extractor.rules import Verdict, rule

__all__ = ["Invoice", "LineItem"]


class LineItem(BaseModel):
    """One billed line, as printed in the invoice's item table."""

    description: str = Field(description="The item or service text exactly as printed on the line.")
    # A quantity is a count or a measure (hours, kg, m²), not money: nothing sums it to
    # the cent, and the few digits it is printed with survive a float exactly (its repr
    # gives them back), so it stays a plain float, as in earlier records.
    quantity: float | None = Field(
        default=None, description="Number of units billed on this line; null if not printed."
    )
    unit_price: Money | None = Field(
        default=None,
        description="Price of one unit as printed, as a plain number without currency symbol.",
    )
    amount: Money | None = Field(
        default=None,
        description="The line's total as printed (usually quantity × unit price), "
        "as a plain number.",
    )

    @rule("quantity_times_unit_price_is_amount", fields=("quantity", "unit_price", "amount"))
    def _line_arithmetic(self) -> Verdict:
        assert self.quantity is not None and self.unit_price is not None
        assert self.amount is not None
        return rulebook.line_amount_matches(self.quantity, self.unit_price, self.amount)


class Invoice(BaseModel):
    """A commercial invoice. Use null for anything that is not printed on the document."""

    invoice_number: str | None = Field(
        default=None,
        description="The invoice's own identifier (Rechnungsnummer, numéro de facture), "
        "copied character for character.",
    )
    invoice_date: dt.date | None = Field(
        default=None, description="Date the invoice was issued, as ISO 8601 (YYYY-MM-DD)."
    )
    due_date: dt.date | None = Field(
        default=None, description="Date by which payment is due, as ISO 8601 (YYYY-MM-DD)."
    )
    seller_name: str | None = Field(
        default=None,
        description="Legal name of the company that issued the invoice (the supplier).",
    )
    seller_vat_id: str | None = Field(
        default=None,
        description="The seller's VAT identification number: the two-letter country prefix "
        "followed by the national number, as printed (not a national tax number).",
    )
    buyer_name: str | None = Field(
        default=None, description="Name of the customer the invoice is addressed to."
    )
    currency: str | None = Field(
        default=None,
        description="The three-letter ISO 4217 code of the currency the amounts are in; "
        "write the code for a printed currency symbol.",
    )
    net_amount: Money | None = Field(
        default=None,
        description="Total before tax (net, after any invoice-level discounts and charges), "
        "as a plain number.",
    )
    tax_amount: Money | None = Field(
        default=None, description="Total tax / VAT amount, as a plain number."
    )
    total_amount: Money | None = Field(
        default=None,
        description="Grand total including tax, before any prepayment is deducted, "
        "as a plain number.",
    )
    iban: str | None = Field(
        default=None,
        description="The seller's bank account IBAN (country code, two check digits, account "
        "number), without spaces.",
    )
    line_items: list[LineItem] = Field(
        default_factory=list,
        description="The billed lines in the order printed; empty if there is no item table.",
    )

    # -- business rules (skipped when a field they need is null) ------------------------

    @rule("line_amounts_match_net", fields=("line_items", "net_amount"))
    def _line_sum(self) -> Verdict:
        assert self.net_amount is not None
        lines = enumerate(self.line_items)
        amounts = [(i, item.amount) for i, item in lines if item.amount is not None]
        return rulebook.line_amounts_match_net(
            amounts, self.net_amount, self.total_amount, self.currency
        )

    @rule("net_plus_tax_is_total", fields=("net_amount", "tax_amount", "total_amount"))
    def _totals(self) -> Verdict:
        assert self.net_amount is not None and self.tax_amount is not None
        assert self.total_amount is not None
        return rulebook.net_plus_tax_is_total(
            self.net_amount, self.tax_amount, self.total_amount, self.currency
        )

    @rule("due_date_not_before_invoice_date", fields=("invoice_date", "due_date"))
    def _dates(self) -> Verdict:
        assert self.invoice_date is not None and self.due_date is not None
        return rulebook.dates_in_order(self.invoice_date, self.due_date)

    @rule("iban_is_valid", fields=("iban",), as_printed=True)
    def _iban(self) -> Verdict:
        assert self.iban is not None
        return rulebook.iban_is_valid(self.iban)

    @rule("seller_vat_id_is_well_formed", fields=("seller_vat_id",), as_printed=True)
    def _vat_id(self) -> Verdict:
        assert self.seller_vat_id is not None
        return rulebook.vat_id_is_well_formed(self.seller_vat_id)

    @rule("currency_is_iso_4217", fields=("currency",))
    def _currency(self) -> Verdict:
        assert self.currency is not None
        return rulebook.currency_is_iso_4217(self.currency)
