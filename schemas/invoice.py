"""An invoice: header fields, amounts and line items, named as in ``shared/eval``."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

__all__ = ["Invoice", "LineItem"]


class LineItem(BaseModel):
    """One billed line, as printed in the invoice's item table."""

    description: str = Field(description="The item or service text exactly as printed on the line.")
    quantity: float | None = Field(
        default=None, description="Number of units billed on this line; null if not printed."
    )
    unit_price: float | None = Field(
        default=None, description="Price of one unit, as a plain number without currency symbol."
    )
    amount: float | None = Field(
        default=None, description="Line total (usually quantity × unit price), as a plain number."
    )


class Invoice(BaseModel):
    """A commercial invoice. Use null for anything that is not printed on the document."""

    invoice_number: str | None = Field(
        default=None,
        description="The invoice's own identifier (Rechnungsnummer, numéro de facture).",
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
        description="The seller's VAT identification number, e.g. DE123456789 (not a tax number).",
    )
    buyer_name: str | None = Field(
        default=None, description="Name of the customer the invoice is addressed to."
    )
    currency: str | None = Field(
        default=None,
        description="ISO 4217 currency code of the amounts (EUR for €, USD for $, GBP for £).",
    )
    net_amount: float | None = Field(
        default=None, description="Total before tax (net), as a plain number."
    )
    tax_amount: float | None = Field(
        default=None, description="Total tax / VAT amount, as a plain number."
    )
    total_amount: float | None = Field(
        default=None, description="Grand total including tax (amount due), as a plain number."
    )
    iban: str | None = Field(
        default=None, description="The seller's bank account IBAN, without spaces."
    )
    line_items: list[LineItem] = Field(
        default_factory=list,
        description="The billed lines in the order printed; empty if there is no item table.",
    )
