"""The embedded model's grammar enforces the schema's constraints (the real SmolLM2-135M).

A 135M model cannot repair a pattern or a range it broke: the grammar must not let it
break them. The document below tempts it with values that break every constraint.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from extractor import extract, load_schema
from extractor.providers.grammar import gbnf
from extractor.providers.local import LocalProvider, grammar_schema

TEMPTING = (
    b"ORDER FORM\nOrder code: abc_17 (old style)\nShort name: ABCDEFGHIJKLMNOP\n"
    b"Month: 15\nAmount: -120.50 EUR\nKind: c\nItems: 14\n"
)


class Constrained(BaseModel):
    model_config = ConfigDict(regex_engine="python-re")

    code: Annotated[str, Field(pattern=r"^[A-Z]{3}-[0-9]{2}$")]
    short: Annotated[str, Field(max_length=4)]
    month: Annotated[int, Field(ge=1, le=12)]
    amount: Annotated[float, Field(ge=0)]
    kind: Literal["a", "b"]
    items: Annotated[int, Field(gt=0, lt=10)]
    lookahead: Annotated[str, Field(pattern=r"^(?!x)\w+$")] | None


def test_the_grammar_states_ranges_patterns_and_lengths() -> None:
    grammar = gbnf(grammar_schema(load_schema(Constrained).grammar_schema))
    rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines())
    assert rules["month"] == " | ".join(f'"{m}"' for m in range(1, 13)).join("()") + " space"
    assert rules["items"] == " | ".join(f'"{m}"' for m in range(1, 10)).join("()") + " space"
    assert '"-"' not in rules["amount"]  # no sign: the amount may not be negative
    assert rules["code"] == '"\\"" code-1 code-1 code-1 "-" code-2 code-2 "\\"" space'
    assert rules["short"] == '"\\"" (char (char (char (char)?)?)?)? "\\"" space'
    assert re.search(r'"\\"lookahead\\"" space ":" space lookahead', grammar)  # kept, unpatterned


@pytest.mark.local_model
def test_the_embedded_model_cannot_break_what_the_grammar_enforces() -> None:
    result = extract(TEMPTING, Constrained, provider=LocalProvider(), max_repairs=0)
    assert result.status == "ok", (result.error, result.attempts)
    data = result.data
    assert re.fullmatch(r"[A-Z]{3}-[0-9]{2}", data.code)
    assert len(data.short) <= 4 and 1 <= data.month <= 12 and data.amount >= 0
    assert data.kind in ("a", "b") and 0 < data.items < 10


@pytest.mark.local_model
def test_worked_examples_lend_the_grammar_none_of_their_values() -> None:
    # The embedded grammar restricts amounts to those the document prints: the
    # document's, not the example's sent before it.
    example = (b"Cafe Nord\nTOTAL 4.20 EUR\n", {"company": "Cafe Nord", "address": None,
                                                 "date": None, "total": 4.2})  # fmt: skip
    document = b"ACME Coffee\nreceipt 17\nTOTAL 9.50 EUR\npaid by card\n"
    result = extract(document, "receipt", provider=LocalProvider(), examples=[example],
                     max_repairs=0)  # fmt: skip
    assert result.status == "ok", (result.error, result.attempts)
    assert result.data.total in (None, Decimal("9.50"), Decimal("17"))


def test_candidates_from_the_page_keep_the_schemas_bounds() -> None:
    from extractor.candidates import find_candidates, restrict

    schema = load_schema(Constrained).grammar_schema
    restricted = restrict(schema, find_candidates("Month 15, items 3 and 14, amount -120.50"))
    properties = restricted["properties"]
    assert properties["month"]["enum"] == [3]  # 15 and 14 are printed, but not months
    assert properties["items"]["enum"] == [3]  # 14 is over the range (0, 10)
    assert properties["amount"] == {"type": "number", "minimum": 0}  # -120.5: no candidate
