"""A filled-in membership registration form: typed values, a nested address, a checkbox choice."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["Address", "RegistrationForm"]


class Address(BaseModel):
    """A postal address as filled in on the form."""

    street: str | None = Field(default=None, description="Street and house number.")
    city: str | None = Field(default=None, description="City or town.")
    postal_code: str | None = Field(default=None, description="Postal / ZIP code as printed.")
    country: str | None = Field(default=None, description="Country name.")


class RegistrationForm(BaseModel):
    """A membership registration form. Use null for fields left blank."""

    full_name: str | None = Field(default=None, description="The applicant's full name.")
    date_of_birth: dt.date | None = Field(
        default=None, description="Date of birth as ISO 8601 (YYYY-MM-DD); printed day-first."
    )
    email: str | None = Field(default=None, description="E-mail address, e.g. name@example.org.")
    phone: str | None = Field(default=None, description="Telephone number as written.")
    address: Address | None = Field(default=None, description="Postal address.")
    membership_type: Literal["Individual", "Family", "Student"] | None = Field(
        default=None, description="The membership box that is ticked ([X])."
    )
    signed: bool | None = Field(
        default=None, description="Whether the form is signed (true if a signature is present)."
    )
    signature_date: dt.date | None = Field(
        default=None, description="Date next to the signature, as ISO 8601 (YYYY-MM-DD)."
    )
