"""Result stage: one record per input — the data, or a classified error — with provenance."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from extractor.errors import ExtractorError

__all__ = ["ErrorInfo", "Result", "UsageInfo"]

M = TypeVar("M", bound=BaseModel)


class ErrorInfo(BaseModel):
    """Why a document has no data: a stable ``type`` (see :mod:`extractor.errors`) and a message."""

    model_config = ConfigDict(frozen=True)

    type: str
    message: str
    reasons: list[str] = Field(default_factory=list)
    last_output: str | None = None

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        if isinstance(exc, ExtractorError):
            return cls(
                type=exc.code,
                message=exc.message,
                reasons=list(getattr(exc, "reasons", []) or []),
                last_output=getattr(exc, "last_output", None),
            )
        return cls(type="internal_error", message=f"{type(exc).__name__}: {exc}")


class UsageInfo(BaseModel):
    """Tokens summed over every attempt of a document, failed ones included."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0


class Result(BaseModel, Generic[M]):
    """The record of one input document.

    Attributes:
        index: position of the input in the caller's sequence (results of
            ``extract_many`` arrive as they finish; sort by ``index`` for input order).
        source: the path (or ``<bytes>``) the document came from.
        sha256: the document's content hash (None if it could not be read).
        status: ``ok`` with ``data``, or ``error`` with ``error``.
        data: the validated answer, an instance of the schema's model.
        provider, model: who answered; ``model`` is what the provider reports serving.
        attempts: every model request, with raw output, validation errors and usage.
        usage, cost_usd: summed over all attempts; cost as reported by the provider
            (OpenRouter) or from the price table, None when unknown.
        pages: pages read; ``requests``: how many page groups were sent.
        latency_s: wall time for the whole document.
        warnings: things a reviewer should know (hidden text, merged page groups …).
        grounding: per value path (``line_items[0].amount``), where it stands in the
            document: page, matched text, box, status (exact, normalized, fuzzy,
            hidden_only, not_found).
        confidence: per value path, a 0–1 score from grounding and repairs, to route
            doubtful values to review.
    """

    model_config = ConfigDict(frozen=True)

    index: int = 0
    source: str
    sha256: str | None = None
    status: Literal["ok", "error"]
    data: M | None = None
    error: ErrorInfo | None = None
    provider: str | None = None
    model: str | None = None
    attempts: list[dict[str, Any]] = Field(default_factory=list)
    usage: UsageInfo = Field(default_factory=UsageInfo)
    cost_usd: float | None = None
    pages: int | None = None
    requests: int = 0
    latency_s: float = 0.0
    warnings: list[str] = Field(default_factory=list)
    grounding: dict[str, dict[str, Any]] = Field(default_factory=dict)
    confidence: dict[str, float] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def record(self) -> dict[str, Any]:
        """The JSON-safe record that exports write."""
        return self.model_dump(mode="json")
