"""A filled-in membership registration form, in the shapes forms take.

- typed entries as text (``full_name``, ``email``, ``phone``);
- dates as ``datetime.date`` (``date_of_birth``, ``signature_date``);
- a nested object (``address``);
- one choice among radio buttons (or boxes where one is to be ticked) as a ``Literal``
  (``membership_type``);
- check boxes as booleans (``newsletter``, ``photo_consent``, ``signed``);
- several choices from a multi-select list or a row of check boxes as a list of
  ``Literal`` values (``interests``).

A value may come from a fillable field or be printed on a flattened or scanned form.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

__all__ = ["Address", "Interest", "MembershipType", "RegistrationForm"]

MembershipType = Literal["Individual", "Family", "Student"]
Interest = Literal["Competitions", "Training", "Coaching", "Social events", "Volunteering"]


def _once_each(chosen: list[Interest]) -> list[Interest]:
    """A selection names each option once (small models tend to repeat the last one)."""
    return list(dict.fromkeys(chosen))


class Address(BaseModel):
    """A postal address as filled in on the form."""

    street: str | None = Field(
        default=None, description="Street name and house number, as written."
    )
    city: str | None = Field(default=None, description="City or town, as written.")
    postal_code: str | None = Field(
        default=None, description="Postal or ZIP code exactly as written, spaces kept."
    )
    country: str | None = Field(default=None, description="Country name, as written.")


class RegistrationForm(BaseModel):
    """A membership registration form. Use null for anything left blank or not on the form."""

    full_name: str | None = Field(
        default=None, description="The applicant's full name, as written."
    )
    date_of_birth: dt.date | None = Field(
        default=None,
        description=(
            "The applicant's date of birth as ISO 8601 (YYYY-MM-DD); take the order of day "
            "and month from the field's label (DD/MM/YYYY or MM/DD/YYYY)."
        ),
    )
    email: str | None = Field(default=None, description="E-mail address, exactly as written.")
    phone: str | None = Field(
        default=None, description="Telephone number as written, with its spaces and leading + or 0."
    )
    address: Address | None = Field(default=None, description="The applicant's postal address.")
    membership_type: MembershipType | None = Field(
        default=None,
        description="The membership option chosen: the selected radio button or ticked box.",
    )
    interests: Annotated[list[Interest], AfterValidator(_once_each)] = Field(
        default_factory=list,
        description=(
            "Every activity that is selected in the list or ticked, in the order printed; "
            "empty when none is."
        ),
    )
    newsletter: bool | None = Field(
        default=None,
        description=(
            "Whether the box asking for the newsletter is ticked: true if ticked, false if "
            "left empty, null if the form has no such box."
        ),
    )
    photo_consent: bool | None = Field(
        default=None,
        description=(
            "Whether the box agreeing to the use of photographs is ticked: true if ticked, "
            "false if left empty, null if the form has no such box."
        ),
    )
    signed: bool | None = Field(
        default=None,
        description="Whether the form is signed: true if a signature (drawn or digital) is there.",
    )
    signature_date: dt.date | None = Field(
        default=None,
        description="The date beside the signature, as ISO 8601 (YYYY-MM-DD).",
    )
