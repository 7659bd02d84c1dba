"""Result stage: one record per input — the data, or a classified error — with provenance.

A :data:`Result` is either :class:`Ok` (``status == "ok"``, ``data`` is the schema's
model) or :class:`Failed` (``status == "error"``, ``error`` says why). Checking
``result.status == "ok"`` (or ``isinstance(result, Ok)``) narrows the type, so
``result.data`` is typed as the schema's model without further checks. Both have the
same provenance fields, and :meth:`record` gives the JSON that exports write.

Example:
    >>> ok = Ok[Any](source="a.pdf", data=None, usage=Usage(prompt_tokens=3))
    >>> ok.record()["usage"], ok.ok
    ({'prompt_tokens': 3, 'completion_tokens': 0}, True)
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeAliasType

from extractor.errors import ExtractorError, ModelError

__all__ = ["RECORD_KEYS", "Attempt", "ErrorInfo", "Failed", "Ok", "Result", "Usage"]

M = TypeVar("M")

RECORD_KEYS = (
    "index", "source", "sha256", "status", "data", "error", "provider", "model", "attempts",
    "usage", "cost_usd", "pages", "requests", "latency_s", "warnings", "grounding", "confidence",
    "checks",
)  # fmt: skip


class Usage(BaseModel):
    """Tokens of one call or of many summed, and the charge when someone reported it.

    ``cost_usd`` is None when nobody knows it (a record shows the cost at its top level,
    so it is not repeated under ``usage``).
    """

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = Field(default=None, exclude=True)

    def __add__(self, other: Usage) -> Usage:
        if self.cost_usd is None and other.cost_usd is None:
            cost = None
        else:
            cost = (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost_usd=cost,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Attempt(BaseModel):
    """One request to the model and what came of it.

    Attributes:
        number: 1-based, over the whole document (page groups included).
        raw_output: the answer as sent (None when none came).
        errors: why it was not accepted (validation errors, or the provider's error).
        prompt_tokens, completion_tokens, cost_usd: this call's usage.
        model: the model the provider says answered.
        finish_reason: as reported (``stop``, ``length`` …).
        transport_retries: how many times the transport had to send it again.
        latency_s: wall time of the call, transport retries included.
    """

    model_config = ConfigDict(frozen=True)

    number: int
    raw_output: str | None = None
    errors: list[str] = Field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    model: str | None = None
    finish_reason: str | None = None
    transport_retries: int = 0
    latency_s: float = 0.0

    @property
    def usage(self) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost_usd=self.cost_usd,
        )


class ErrorInfo(BaseModel):
    """Why a document has no data: a stable ``type`` (see :mod:`extractor.errors`) and a message."""

    model_config = ConfigDict(frozen=True)

    type: str
    message: str
    reasons: list[str] = Field(default_factory=list)
    last_output: str | None = None

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        if isinstance(exc, ModelError):
            return cls(
                type=exc.code,
                message=exc.message,
                reasons=list(exc.reasons),
                last_output=exc.last_output,
            )
        if isinstance(exc, ExtractorError):
            return cls(type=exc.code, message=exc.message)
        return cls(type="internal_error", message=f"{type(exc).__name__}: {exc}")


class _Record(BaseModel):
    """What every record says, whatever became of the document.

    Attributes:
        index: position of the input in the caller's sequence (results of
            ``extract_many`` arrive as they finish; sort by ``index`` for input order).
        source: the path (or ``<bytes>``) the document came from.
        sha256: the document's content hash (None if it could not be read).
        provider, model: who answered; ``model`` is what the provider reports serving.
        attempts: every model request, with raw output, validation errors and usage.
        usage, cost_usd: summed over all attempts; cost as reported by the provider
            (OpenRouter) or from the price table, None when unknown.
        pages: pages read; ``requests``: how many page groups were sent.
        latency_s: wall time for the whole document.
        warnings: things a reviewer should know (hidden text, merged page groups …).
        grounding: per value path (``line_items[0].amount``), where it stands in the
            document: page, matched text, box, status (exact, normalized, fuzzy,
            form_field, hidden_only, not_found).
        confidence: per value path, a 0–1 score from grounding, repairs and business
            rules, to route doubtful values to review.
        checks: every business rule of the schema on the answer: name, status (passed,
            failed, skipped), a message with the numbers, the value paths involved.
    """

    model_config = ConfigDict(frozen=True)

    index: int = 0
    source: str
    sha256: str | None = None
    provider: str | None = None
    model: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    pages: int | None = None
    requests: int = 0
    latency_s: float = 0.0
    warnings: list[str] = Field(default_factory=list)
    grounding: dict[str, dict[str, Any]] = Field(default_factory=dict)
    confidence: dict[str, float] = Field(default_factory=dict)
    checks: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def repairs(self) -> int:
        """Attempts beyond one per request: the repair rounds this document needed."""
        return max(0, len(self.attempts) - self.requests)

    def __reduce__(self) -> tuple[Any, ...]:
        # ``Ok[Invoice]`` is a class pydantic makes on the fly, which pickle cannot find by
        # name; records cross process pools, so they pickle as their plain class (``Ok``).
        origin = type(self).__pydantic_generic_metadata__["origin"] or type(self)
        return (_restore, (origin, self.__getstate__()))

    def record(self) -> dict[str, Any]:
        """The JSON-safe record that exports write, keys in their documented order."""
        dumped = self.model_dump(mode="json")
        return {key: dumped[key] for key in RECORD_KEYS}


def _restore(cls: type[_Record], state: Any) -> _Record:
    record = cls.__new__(cls)
    record.__setstate__(state)
    return record


class Ok(_Record, Generic[M]):
    """A document whose answer validated: ``data`` is an instance of the schema's model."""

    status: Literal["ok"] = "ok"
    data: M
    error: None = None

    @property
    def ok(self) -> Literal[True]:
        return True


class Failed(_Record):
    """A document without data: ``error`` says why (its ``type`` is an error code)."""

    status: Literal["error"] = "error"
    data: None = None
    error: ErrorInfo

    @property
    def ok(self) -> Literal[False]:
        return False


Result = TypeAliasType(
    "Result", Annotated[Ok[M] | Failed, Field(discriminator="status")], type_params=(M,)
)
"""The record of one input document: :class:`Ok` or :class:`Failed`, told apart by ``status``.

Read a stored record back with ``pydantic.TypeAdapter(Result[Invoice]).validate_python(record)``.
"""
