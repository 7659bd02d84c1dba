"""Any form nobody has modelled yet: its fields as label → value pairs, as printed.

A first pass over an unknown form (what does it ask, what was filled in), or the fallback
for the long tail of forms. Values stay text exactly as written, so no conversion loses
anything; type them in a schema of their own once the form matters.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["KeyValue", "KeyValues"]


class KeyValue(BaseModel):
    """One field of the form: what it asks and what was filled in."""

    label: str = Field(
        description=(
            "The field's label or question exactly as printed beside it, without a trailing "
            "colon; the field's name when nothing is printed."
        )
    )
    value: str | None = Field(
        description=(
            "The value exactly as written or chosen, as text: the typed text; 'checked' or "
            "'unchecked' for a check box; the chosen option of a radio group or list (several "
            "joined with ', '); null when left blank."
        )
    )


class KeyValues(BaseModel):
    """Every field of a form, filled in or not, in reading order."""

    fields: list[KeyValue] = Field(
        default_factory=list,
        description=(
            "One entry per field, in reading order (top to bottom, left to right), "
            "including the fields left blank; sections and instructions are not fields."
        ),
    )
