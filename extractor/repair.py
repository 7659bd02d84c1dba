"""Validate and repair: instructor drives answer → validate → send the errors back → ask again.

instructor is given our own ``create`` function, so every attempt goes through the
chosen provider (with its strict schema and its transport retries) and is recorded here:
raw output, validation errors, tokens. The repair budget (``max_repairs``) is separate
from the transport budget. When it runs out, the outcome keeps every attempt and an
:class:`~extractor.errors.ExtractionFailed` with the last invalid output and the reasons.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import instructor
from instructor.core.exceptions import InstructorRetryException
from instructor.v2.core.providers import Provider as InstructorProvider
from instructor.v2.core.response_model import prepare_response_model
from instructor.v2.core.retry import retry_async
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

from extractor.errors import (
    EmptyOutput,
    ExtractionFailed,
    ExtractorError,
    InternalError,
    ModelError,
    OutputTruncated,
    ProviderError,
)
from extractor.providers.base import Completion, Provider
from extractor.result import Attempt, Usage
from extractor.schema import SchemaSpec
from extractor.settings import Sampling

__all__ = ["Outcome", "error_reasons", "extract_with_repairs", "total_usage"]

# instructor logs failed attempts at ERROR; with no handler configured Python would print
# them to stderr, and a library must not print. Users who configure logging still see them.
logging.getLogger("instructor").addHandler(logging.NullHandler())


@dataclass
class _Draft:
    """One attempt while it is under way; frozen into an :class:`Attempt` at the end."""

    number: int
    raw_output: str | None = None
    errors: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    finish_reason: str | None = None
    transport_retries: int = 0
    latency_s: float = 0.0

    def freeze(self) -> Attempt:
        return Attempt(
            number=self.number, raw_output=self.raw_output, errors=list(self.errors),
            prompt_tokens=self.usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens, cost_usd=self.usage.cost_usd,
            model=self.model, finish_reason=self.finish_reason,
            transport_retries=self.transport_retries, latency_s=round(self.latency_s, 3),
        )  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """What asking (and repairing) came to: a validated ``value``, or the ``error`` that
    ended it; the ``attempts`` either way."""

    value: BaseModel | None
    attempts: tuple[Attempt, ...]
    error: ExtractorError | None = None


def error_reasons(error: ValidationError) -> list[str]:
    """``loc: message`` per validation error, without the input values (document content)."""
    reasons = []
    for item in error.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in item["loc"]) or "(root)"
        reasons.append(f"{loc}: {item['msg']}")
    return reasons


def total_usage(attempts: tuple[Attempt, ...] | list[Attempt]) -> Usage:
    usage = Usage()
    for attempt in attempts:
        usage = usage + attempt.usage
    return usage


async def extract_with_repairs(
    provider: Provider,
    messages: list[dict[str, Any]],
    schema: SchemaSpec,
    sampling: Sampling,
    *,
    max_repairs: int,
    validation_context: dict[str, Any] | None = None,
    response_model: type[BaseModel] | None = None,
    first_number: int = 1,
) -> Outcome:
    """Ask, validate, and repair up to ``max_repairs`` times.

    Never raises for what the provider or the model did: a provider error, a model
    error, or :class:`~extractor.errors.ExtractionFailed` (still invalid after the
    repairs, with the last output and reasons) comes back as ``Outcome.error``.
    """
    asker = _Asker(provider, schema, sampling, first_number, budget=max_repairs + 1)
    drafts = asker.drafts

    def on_parse_error(error: Exception, **_metadata: Any) -> None:
        if isinstance(error, ValidationError):
            drafts[-1].errors.extend(error_reasons(error))
        else:
            drafts[-1].errors.append(str(error))

    hooks = instructor.hooks.Hooks()
    hooks.on("parse:error", on_parse_error)
    try:
        # instructor's retry loop itself, not its patched client: the patched client
        # would rebuild the model's JSON schema on every request (the provider sends our
        # strict one instead) and render every message as a Jinja template whenever a
        # validation context is given, so a document printing "{{" would be rewritten.
        value = await retry_async(
            func=asker.create,
            response_model=_prepared(response_model or schema.model),
            args=(),
            kwargs={"messages": list(messages)},
            context=validation_context,
            max_retries=max_repairs,
            strict=False,
            mode=instructor.Mode.JSON_SCHEMA,
            provider=InstructorProvider.OPENAI,
            hooks=hooks,
        )
    except InstructorRetryException as exc:
        return Outcome(None, _frozen(drafts), _classify(exc, drafts))
    except ExtractorError as exc:
        return Outcome(None, _frozen(drafts), exc)
    if value is None:  # only for response_model=None, which we never pass
        return Outcome(None, _frozen(drafts), InternalError("the repair loop gave no answer"))
    return Outcome(_as_user_model(value, schema.model), _frozen(drafts))


_COMPACT = (
    "Your last answer was cut off at the length limit. Answer again with the same JSON, "
    "written compactly: no indentation, no line breaks, no spaces between tokens."
)
_VARIED_TEMPERATURE = 0.4


class _Asker:
    """Sends the requests of one repair loop and records each as a draft attempt.

    Inside the repair budget (every request counts) it also retries what validation
    never sees: an empty answer is asked again as it was; an answer cut at the token
    limit is asked again with twice the limit (up to the provider's cap), then for
    compact JSON; and after the same invalid answer twice at temperature 0 the request
    is varied (a higher temperature), since asking the same again would buy the same
    answer a third time.
    """

    def __init__(
        self,
        provider: Provider,
        schema: SchemaSpec,
        sampling: Sampling,
        first_number: int,
        *,
        budget: int,
    ) -> None:
        self.provider, self.schema, self.sampling = provider, schema, sampling
        self.first_number, self.budget = first_number, budget
        self.drafts: list[_Draft] = []

    async def create(self, *, messages: list[dict[str, Any]], **_ignored: Any) -> ChatCompletion:
        # instructor passes its own response_format; the provider sends our strict one.
        sampling = self._varied(self.sampling)
        extra: list[dict[str, Any]] = []
        while True:
            if len(self.drafts) >= self.budget:
                raise self._spent()
            try:
                return _as_openai(await self._send(messages + extra, sampling))
            except EmptyOutput:
                if len(self.drafts) >= self.budget:
                    raise
            except OutputTruncated:
                if len(self.drafts) >= self.budget:
                    raise
                larger = self._larger(sampling)
                if larger is None:
                    extra = [{"role": "user", "content": _COMPACT}]
                else:
                    sampling = larger

    async def _send(self, messages: list[dict[str, Any]], sampling: Sampling) -> Completion:
        draft = _Draft(number=self.first_number + len(self.drafts))
        self.drafts.append(draft)
        started = time.perf_counter()
        try:
            completion = await self.provider.complete(messages, self.schema, sampling)
        except ExtractorError as exc:
            draft.latency_s = time.perf_counter() - started
            _record_failure(draft, exc)
            raise
        draft.latency_s = time.perf_counter() - started
        _record(draft, completion)
        return completion

    def _larger(self, sampling: Sampling) -> Sampling | None:
        """Twice the answer limit, within the provider's cap; None when at the cap."""
        current = sampling.max_tokens or 4096
        cap = self.provider.max_output_tokens or 32_768
        if current >= cap:
            return None
        return dataclasses.replace(sampling, max_tokens=min(cap, current * 2))

    def _varied(self, sampling: Sampling) -> Sampling:
        """A higher temperature after two identical invalid answers at temperature 0."""
        last = [d for d in self.drafts[-2:] if d.errors and d.raw_output is not None]
        deterministic = not sampling.temperature
        if deterministic and len(last) == 2 and last[0].raw_output == last[1].raw_output:
            return dataclasses.replace(sampling, temperature=_VARIED_TEMPERATURE)
        return sampling

    def _spent(self) -> ExtractorError:
        last = self.drafts[-1] if self.drafts else None
        reasons = tuple(last.errors) if last else ()
        return ExtractionFailed(
            f"no valid answer within {self.budget} attempt(s): " + "; ".join(reasons[:5]),
            last_output=last.raw_output if last else None,
            reasons=reasons,
        )


@functools.cache
def _prepared(model: type[BaseModel]) -> type[BaseModel]:
    """instructor's subclass of ``model`` (it carries the parsing), made once per model."""
    prepared = prepare_response_model(model)
    assert prepared is not None
    return prepared


def _frozen(drafts: list[_Draft]) -> tuple[Attempt, ...]:
    return tuple(draft.freeze() for draft in drafts)


def _as_user_model(value: BaseModel, model: type[BaseModel]) -> BaseModel:
    # instructor answers with an instance of its own subclass of the model (carrying the
    # raw completion), which neither equals nor pickles as the user's class. Copy the
    # already validated values over; validating again could run validators twice.
    if type(value) is model:
        return value
    fields = {name: value.__dict__[name] for name in model.model_fields if name in value.__dict__}
    plain = model.model_construct(
        _fields_set=set(value.model_fields_set), **fields, **(value.model_extra or {})
    )
    for name in model.__private_attributes__:
        if name in (value.__pydantic_private__ or {}):
            setattr(plain, name, value.__pydantic_private__[name])  # type: ignore[index]
    return plain


def _record(draft: _Draft, completion: Completion) -> None:
    draft.raw_output = completion.content
    draft.usage = completion.usage
    draft.model = completion.model
    draft.finish_reason = completion.finish_reason
    draft.transport_retries = completion.transport_retries


def _record_failure(draft: _Draft, exc: ExtractorError) -> None:
    if isinstance(exc, ModelError) and exc.completion is not None:
        _record(draft, exc.completion)
    if isinstance(exc, ProviderError):
        draft.transport_retries = exc.transport_retries
    draft.errors.append(f"{exc.code}: {exc}")


def _classify(exc: InstructorRetryException, drafts: list[_Draft]) -> ExtractorError:
    cause = exc.__cause__
    if isinstance(cause, ExtractorError):
        return cause
    if isinstance(cause, ValidationError) or (drafts and drafts[-1].errors):
        reasons = drafts[-1].errors if drafts else [str(cause)]
        return ExtractionFailed(
            f"the answer was still invalid after {len(drafts)} attempt(s): "
            + "; ".join(reasons[:5]),
            last_output=drafts[-1].raw_output if drafts else None,
            reasons=tuple(reasons),
        )
    return InternalError(f"repair loop failed: {type(cause).__name__}: {cause}")


def _as_openai(completion: Completion) -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "extractor",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": completion.model or "unknown",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": completion.finish_reason or "stop",
                    "message": {"role": "assistant", "content": completion.content},
                }
            ],
            "usage": {
                "prompt_tokens": completion.usage.prompt_tokens,
                "completion_tokens": completion.usage.completion_tokens,
                "total_tokens": completion.usage.total_tokens,
            },
        }
    )
