"""An invoice: header fields, amounts and line items, named as in ``shared/eval``.

Field descriptions say what a value is and how to write it, never an example value: a
model that echoes an example would score on every document that happens to print it.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from extractor.money import Money

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
