"""Business rules: named checks over a validated answer, reported as passed, failed or skipped.

Types and validators say whether an answer is well formed; rules say whether it is
plausible: net + tax = total, the IBAN's check digits, a due date after the invoice date.
A rule is a method of the pydantic model, declared with :func:`rule` next to the fields
and validators it reads::

    class Invoice(BaseModel):
        net_amount: Money | None = None
        tax_amount: Money | None = None
        total_amount: Money | None = None

        @rule("net_plus_tax_is_total", fields=("net_amount", "tax_amount", "total_amount"))
        def _net_plus_tax(self) -> Verdict:
            expected = self.net_amount + self.tax_amount
            if abs(expected - self.total_amount) <= Decimal("0.02"):
                return Verdict.passed()
            return Verdict.failed(f"net + tax = {expected}, but total_amount is …")

Why methods with a decorator rather than a list of rule objects: a rule reads the model's
fields, so it belongs in the class body beside them, as pydantic's own
``@field_validator`` / ``@model_validator`` do; ``self`` is typed as the model, so a type
checker sees every field a rule reads; and subclassing works as users expect (a subclass
adds rules, and overriding a rule's method replaces it, or switches it off when the new
method has no ``@rule``).

Unlike a validator, a rule never rejects the answer: a truthful document can break a rule
(a misprinted IBAN, a total with an unlisted surcharge), so a failure is a finding to send
back to the model as repair feedback (:func:`feedback`) and to show a reviewer, not an
error. :func:`check` runs every rule of a model instance and of the models nested in it
(line items), and a rule whose declared ``fields`` are missing is skipped, not failed.
A rule that raises is a bug in the rule: the exception propagates.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = [
    "CheckResult",
    "RuleSpec",
    "Status",
    "Verdict",
    "check",
    "failures",
    "feedback",
    "rule",
    "rules_of",
]

_MARK = "__extractor_rule__"


class Status(StrEnum):
    """What a rule concluded."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # not applicable: fields missing, or the values cannot tell


@dataclass(frozen=True)
class Verdict:
    """What a rule method returns: a status, a detail with the numbers, and optionally the
    fields involved (relative to the model; the rule's declared ``fields`` by default)."""

    status: Status
    detail: str = ""
    fields: tuple[str, ...] = ()

    @classmethod
    def passed(cls, detail: str = "") -> Verdict:
        return cls(Status.PASSED, detail)

    @classmethod
    def failed(cls, detail: str, fields: Sequence[str] = ()) -> Verdict:
        """A broken rule; ``detail`` names the values and the numbers, for the model."""
        return cls(Status.FAILED, detail, tuple(fields))

    @classmethod
    def skipped(cls, reason: str) -> Verdict:
        """The rule cannot judge these values (say why)."""
        return cls(Status.SKIPPED, reason)


@dataclass(frozen=True)
class RuleSpec:
    """A declared rule: its name, the fields it needs, and the method that checks it."""

    name: str
    fields: tuple[str, ...]
    method: str
    as_printed: bool = False


@dataclass(frozen=True)
class CheckResult:
    """One rule's outcome on one model instance (or one nested item).

    Attributes:
        name: the rule's name.
        status: passed, failed or skipped.
        message: one line naming the rule (and the item) with the numbers.
        fields: value paths involved, as grounding names them (``line_items[2].amount``).
        as_printed: the rule was declared ``as_printed``: a failure is the document's
            when the value stands on the page exactly so (a misprinted IBAN).
    """

    name: str
    status: Status
    message: str
    fields: tuple[str, ...] = field(default_factory=tuple)
    as_printed: bool = False

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe form for records."""
        return {
            "name": self.name,
            "status": self.status.value,
            "message": self.message,
            "fields": list(self.fields),
        }


_Method = TypeVar("_Method", bound=Callable[[Any], Verdict])


def rule(
    name: str | None = None, *, fields: Sequence[str] = (), as_printed: bool = False
) -> Callable[[_Method], _Method]:
    """Declare a model method as a named business rule.

    Args:
        name: the rule's name in results and feedback (the method's name by default);
            unique per model.
        fields: the model fields the rule needs; when one is None (or an empty list or
            string) the rule is skipped as not applicable, without being called.
        as_printed: a value that fails the rule but stands on the page exactly as
            answered is the document's fault (a misprinted IBAN or VAT id), so the
            failure is reported without asking the model to repair it.

    Example:
        >>> from pydantic import BaseModel
        >>> class Stay(BaseModel):
        ...     nights: int | None = None
        ...     @rule("at_least_one_night", fields=("nights",))
        ...     def _nights(self) -> Verdict:
        ...         if self.nights and self.nights >= 1:
        ...             return Verdict.passed()
        ...         return Verdict.failed(f"nights is {self.nights}")
        >>> [r.message for r in check(Stay(nights=0))]
        ['at_least_one_night: nights is 0']
    """

    def declare(method: _Method) -> _Method:
        spec = RuleSpec(name or method.__name__, tuple(fields), method.__name__, as_printed)
        setattr(method, _MARK, spec)
        return method

    return declare


@functools.lru_cache(maxsize=512)
def rules_of(model: type[BaseModel]) -> tuple[RuleSpec, ...]:
    """The rules declared on ``model`` and its bases, base classes' rules first.

    Raises:
        TypeError: a rule names a field the model does not have, or two rules share a name.
    """
    names: dict[str, None] = {}
    for klass in reversed(model.__mro__):
        names.update((attr, None) for attr, value in vars(klass).items() if hasattr(value, _MARK))
    specs: list[RuleSpec] = []
    for attr in names:
        # The class's own attribute decides: an override without @rule switches a rule off.
        spec = getattr(inspect.getattr_static(model, attr), _MARK, None)
        if isinstance(spec, RuleSpec):
            specs.append(spec)
    _validate(model, specs)
    return tuple(specs)


def _validate(model: type[BaseModel], specs: Sequence[RuleSpec]) -> None:
    seen: set[str] = set()
    for spec in specs:
        unknown = [name for name in spec.fields if name not in model.model_fields]
        if unknown:
            raise TypeError(
                f"rule {spec.name!r} on {model.__name__} names unknown fields {unknown}"
            )
        if spec.name in seen:
            raise TypeError(f"two rules on {model.__name__} are named {spec.name!r}")
        seen.add(spec.name)


def check(instance: BaseModel) -> list[CheckResult]:
    """Run every rule of ``instance`` and of the models nested in its fields.

    Nested models (a field holding a model, or a list or tuple of them) are checked with
    their own rules; their results name the item (``line_items[2]``) in the message and
    in the field paths.

    Example:
        >>> from schemas.invoice import Invoice
        >>> results = check(Invoice(net_amount=1234, tax_amount="234.46", total_amount="1568.46"))
        >>> [r.message for r in failures(results)]
        ['net_plus_tax_is_total: net 1234.00 + tax 234.46 = 1468.46, but total_amount is 1568.46']
    """
    return list(_check(instance, ""))


def _check(instance: BaseModel, prefix: str) -> Iterable[CheckResult]:
    for spec in rules_of(type(instance)):
        yield _run(instance, spec, prefix)
    for name in type(instance).model_fields:
        value = getattr(instance, name, None)
        if isinstance(value, BaseModel):
            yield from _check(value, f"{prefix}{name}.")
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _check(item, f"{prefix}{name}[{index}].")


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, str | list | tuple | dict) and not value)


def _run(instance: BaseModel, spec: RuleSpec, prefix: str) -> CheckResult:
    label = f"{spec.name} ({prefix[:-1]})" if prefix else spec.name
    paths = tuple(prefix + name for name in spec.fields)
    missing = [name for name in spec.fields if _missing(getattr(instance, name, None))]
    if missing:
        message = f"{label}: not applicable, {' and '.join(missing)} missing"
        return CheckResult(spec.name, Status.SKIPPED, message, paths, spec.as_printed)
    verdict = getattr(instance, spec.method)()
    if not isinstance(verdict, Verdict):
        raise TypeError(f"rule {spec.name!r} returned {type(verdict).__name__}, not a Verdict")
    if verdict.fields:
        paths = tuple(prefix + name for name in verdict.fields)
    message = f"{label}: {verdict.detail}" if verdict.detail else f"{label}: {verdict.status.value}"
    return CheckResult(spec.name, verdict.status, message, paths, spec.as_printed)


def failures(results: Iterable[CheckResult]) -> list[CheckResult]:
    """The failed results, in order."""
    return [result for result in results if result.status is Status.FAILED]


def feedback(results: Iterable[CheckResult]) -> str:
    """Repair feedback for the model: one line per failed rule, naming it and the numbers.

    Empty when nothing failed. The caller adds the instruction around it (what to do with
    the lines), since that depends on the conversation.
    """
    return "\n".join(result.message for result in failures(results))
