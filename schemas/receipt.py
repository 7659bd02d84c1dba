"""A shop receipt, with the four fields of the ICDAR 2019 SROIE task."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from extractor import rulebook
from extractor.money import Money
from extractor.rules import Verdict, rule

__all__ = ["Receipt"]


class Receipt(BaseModel):
    """A till receipt. Use null for anything that is not printed."""

    company: str | None = Field(
        default=None, description="Name of the shop or company at the top of the receipt."
    )
    address: str | None = Field(
        default=None, description="The shop's address as printed, lines joined with spaces."
    )
    date: dt.date | None = Field(
        default=None,
        description="Date of purchase as ISO 8601 (YYYY-MM-DD); printed dates are day-first.",
    )
    total: Money | None = Field(
        default=None, description="The total amount paid (including tax), as a plain number."
    )

    @rule("total_is_positive", fields=("total",))
    def _total(self) -> Verdict:
        assert self.total is not None
        return rulebook.amount_is_positive(self.total)

    @rule("date_is_plausible", fields=("date",))
    def _date(self) -> Verdict:
        assert self.date is not None
        return rulebook.date_is_plausible(self.date)
