"""Checks beyond the schema's types: business rules and grounding, as repair feedback.

The repair loop validates each answer with a *checked* subclass of the user's model. It
reads the answer as sent (maps arrive as key/value pairs, :mod:`extractor.maps`), refuses
numbers that are not numbers (``NaN``, ``Infinity``: JSON parsers accept them, records
could only show them as null), runs the model's business rules (:mod:`extractor.rules`)
and, when asked, requires every value to stand somewhere a reader can see it
(:mod:`extractor.ground`). A failure goes back to the model as repair feedback that names
the field, the rule and the numbers.

The two differ once the repairs are spent. An answer that still breaks a rule is kept
(the document may well be inconsistent: a misprinted IBAN, an unlisted surcharge): the
record stays ``ok``, with every rule's result in ``checks``, a warning, and lower
confidence on the fields involved. An answer with values found nowhere stays an error.

A rule declared ``as_printed`` (IBAN, VAT id) is not sent back when its value stands on
the page exactly as answered: the model read it right, the document is wrong, and asking
again would only cost money.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any, cast

from pydantic import BaseModel, ValidationInfo, create_model, model_validator
from pydantic_core import from_json

from extractor import maps
from extractor.ground import Grounding, ground, require_grounding_feedback
from extractor.pages import Page
from extractor.rules import CheckResult, check, failures, rules_of

__all__ = [
    "checked_model",
    "has_rules",
    "kept_despite_rules",
    "not_finite",
    "rule_warnings",
    "to_repair",
]

_PRINTED = ("exact", "normalized", "form_field")  # stands in the document as answered
_CHECKED: dict[tuple[type[BaseModel], bool, bool], type[BaseModel]] = {}


def has_rules(model: type[BaseModel], _seen: frozenset[type[BaseModel]] = frozenset()) -> bool:
    """Whether ``model`` or a model nested in it declares business rules."""
    if rules_of(model):
        return True
    seen = _seen | {model}  # recursive models refer to themselves
    for info in model.model_fields.values():
        for kind in _models_in(info.annotation):
            if kind not in seen and has_rules(kind, seen):
                return True
    return False


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


def to_repair(
    results: Sequence[CheckResult], groundings: dict[str, Grounding] | None
) -> list[CheckResult]:
    """The failed rules worth sending back: not the ``as_printed`` ones whose values all
    stand on the page as answered."""
    repair = []
    for result in failures(results):
        printed = groundings is not None and all(
            path in groundings and groundings[path].status in _PRINTED for path in result.fields
        )
        if not (result.as_printed and printed and result.fields):
            repair.append(result)
    return repair


def checked_model(
    model: type[BaseModel], *, rules: bool = True, grounding: bool = False
) -> type[BaseModel]:
    """``model`` reading answers in their wire form (maps as pairs), plus one validator
    that fails on numbers that are not finite, on broken rules (with ``rules``) and on
    values found nowhere in the pages given as validation context ``{"pages": [...]}``
    (with ``grounding``).

    (A part of a document sent in page groups is not checked against the rules: its
    totals may stand in another part.)
    """
    rules = rules and has_rules(model)
    key = (model, rules, grounding)
    if key not in _CHECKED:

        def from_wire(cls: type[BaseModel], data: Any) -> Any:
            return maps.from_wire(model, data)

        def checked(self: BaseModel, info: ValidationInfo) -> BaseModel:
            pages: list[Page] | None = (info.context or {}).get("pages")
            problems = [f"{path}: {value} is not a number; answer a number, or null when "
                        "the document shows none" for path, value in not_finite(self)]  # fmt: skip
            if not problems:  # the rules would only stumble over NaN
                problems = _rule_and_grounding_problems(self, pages, rules, grounding)
            if problems:
                raise ValueError("\n".join(problems))
            return self

        validators = cast(dict[str, Any], {
            "from_wire": model_validator(mode="before")(from_wire),
            "checked": model_validator(mode="after")(checked),
        })  # fmt: skip
        _CHECKED[key] = create_model(model.__name__, __base__=model, __validators__=validators)
    return _CHECKED[key]


def _rule_and_grounding_problems(
    value: BaseModel, pages: list[Page] | None, rules: bool, grounding: bool
) -> list[str]:
    results = check(value) if rules else []
    # Grounding costs more than all the rules: only when asked for, or to tell a
    # misprinted identifier from a misread one.
    printed_rule_failed = any(r.as_printed for r in failures(results))
    found = None
    if pages and (grounding or printed_rule_failed):
        found = ground(value.model_dump(mode="json"), pages)
    broken = to_repair(results, found)
    problems = []
    if broken:
        problems.append(
            "business rules are broken; correct the values you misread (the "
            "document's own figures usually agree):\n"
            + "\n".join(result.message for result in broken)
        )
    if grounding and found is not None:
        problems.extend(require_grounding_feedback(found))
    return problems


def not_finite(value: BaseModel) -> list[tuple[str, str]]:
    """``(path, value)`` of every number in ``value`` that is NaN or infinite."""
    return list(_not_finite(value.model_dump(), ""))


def _not_finite(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, float) and not math.isfinite(value):
        yield path or "(root)", repr(value).replace("nan", "NaN").replace("inf", "Infinity")
    elif isinstance(value, Decimal) and not value.is_finite():
        yield path or "(root)", str(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _not_finite(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for number, item in enumerate(value):
            yield from _not_finite(item, f"{path}[{number}]")


def kept_despite_rules(
    model: type[BaseModel], raw: str | None, pages: list[Page], *, grounding: bool
) -> BaseModel | None:
    """The last answer of a spent repair budget, when only business rules held it back:
    it validates against ``model`` and (with ``grounding``) every value stands somewhere.
    None otherwise."""
    if raw is None:
        return None
    try:
        value = model.model_validate(maps.from_wire(model, from_json(raw)))
    except ValueError:  # not JSON, or invalid (a ValidationError is a ValueError)
        return None
    if not_finite(value):
        return None
    if grounding and require_grounding_feedback(ground(value.model_dump(mode="json"), pages)):
        return None
    return value if failures(check(value)) else None


def rule_warnings(results: Sequence[CheckResult]) -> list[str]:
    """One warning per failed rule, for the record."""
    return [f"business rule failed: {result.message}" for result in failures(results)]
