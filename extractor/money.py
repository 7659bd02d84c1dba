"""Money for pydantic schemas: exact decimals inside, plain JSON numbers outside.

``Money`` is a :class:`~decimal.Decimal`, so sums and comparisons are exact to the cent
(``0.1 + 0.2 == 0.3``), which business rules need. At the edges it looks like a float:

- it is accepted from JSON numbers and numeric strings (``1468.46``, ``"1468.46"``); a
  float keeps the digits of its shortest repr, so ``173.1`` becomes ``Decimal("173.1")``,
  not the binary expansion. Printed forms (``1.468,46 €``) are not parsed here;
- its JSON Schema is a plain ``{"type": "number"}``: strict structured output accepts it,
  where pydantic's own Decimal schema (``number`` or ``string`` for validation, ``string``
  for serialisation) would ask the model for strings;
- ``model_dump(mode="json")`` and ``model_dump_json()`` write it as a JSON number
  (``1468.46``), as a float field did, so records and exports keep their format. Values of
  up to 15 significant digits, which covers any amount on a document, come out digit for
  digit; ``model_dump()`` in Python mode keeps the Decimal.

Example:
    >>> from pydantic import BaseModel
    >>> class Bill(BaseModel):
    ...     total: Money | None = None
    >>> bill = Bill.model_validate_json('{"total": 1468.46}')
    >>> bill.total, bill.model_dump_json()
    (Decimal('1468.46'), '{"total":1468.46}')
    >>> Bill.model_json_schema()["properties"]["total"]["anyOf"]
    [{'type': 'number'}, {'type': 'null'}]
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer, WithJsonSchema

__all__ = ["Money", "as_decimal", "format_amount"]


def _plain(value: Decimal) -> Decimal:
    # "1e3" is a valid decimal string; keep it as 1000 so it prints as an amount.
    exponent = value.as_tuple().exponent
    return value.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else value


def _as_json_number(value: Decimal) -> float:
    # A float's repr is the shortest string that reads back to it, so up to 15 significant
    # digits the JSON text is the decimal's own digits (trailing zeros aside).
    return float(value)


Money = Annotated[
    Decimal,
    AfterValidator(_plain),
    PlainSerializer(_as_json_number, return_type=float, when_used="json"),
    WithJsonSchema({"type": "number"}),
]
"""A money amount: a Decimal in Python, a number in JSON Schema and in JSON output."""


def as_decimal(value: Decimal | float | int) -> Decimal:
    """``value`` as a Decimal; a float by its shortest repr (``0.1`` → ``Decimal("0.1")``)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def format_amount(value: Decimal | float | int, places: int = 2) -> str:
    """An amount for messages: fixed-point with at least ``places`` decimals, more if the
    value has them (``1234`` → ``1234.00``, ``3.3333`` → ``3.3333``)."""
    number = as_decimal(value)
    exponent = number.as_tuple().exponent
    shown = max(places, -exponent) if isinstance(exponent, int) else places
    return f"{number:.{shown}f}"
