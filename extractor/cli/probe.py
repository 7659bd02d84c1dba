"""``extractor doctor --check``: one tiny request to the configured provider.

It asks for a two-field JSON object under a strict ``response_format`` and reports the
model the provider says it served, whether the answer followed the schema (structured
output honoured, ignored, or refused), and the latency. The request is the size of a
greeting: a few dozen tokens.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, replace

from pydantic import BaseModel, ValidationError

from extractor.errors import AuthError, ModelError, ProviderError, ProviderHTTPError
from extractor.providers.base import Completion
from extractor.settings import Sampling, Settings

__all__ = ["Probe", "probe"]

_MESSAGES = [
    {"role": "system", "content": "Answer with one JSON object that follows the schema."},
    {"role": "user", "content": 'Set "ok" to true and "echo" to "ping".'},
]
_SAMPLING = Sampling(temperature=0.0, max_tokens=64)
_REFUSED_FORMAT = re.compile(r"response_format|json_schema|structured|schema", re.IGNORECASE)


class Ping(BaseModel):
    """The answer asked for."""

    ok: bool
    echo: str


@dataclass(frozen=True)
class Probe:
    """What the one request showed.

    Attributes:
        provider, base_url, model: where it went and what it asked for.
        served: the model the provider says answered (None when none answered).
        structured: ``yes`` (the answer followed the schema), ``no`` or ``unknown``.
        detail: why, in a few words.
        latency_s: wall time of the request.
        completion: the answer, when one came.
        auth_failed: the key was refused (401/402/403).
    """

    provider: str
    base_url: str | None
    model: str
    served: str | None = None
    structured: str = "unknown"
    detail: str = ""
    latency_s: float = 0.0
    completion: Completion | None = None
    auth_failed: bool = False


def probe(settings: Settings) -> Probe:
    """Send the one request ``settings`` choose a provider for, and say what came back.

    Raises:
        ConfigError: no provider can be opened with ``settings``.
    """
    from extractor.api import choose_provider, open_job_provider
    from extractor.schema import SchemaSpec

    settings = settings.with_options(retries=min(settings.retry.retries, 1))
    choice = choose_provider(settings)
    provider = open_job_provider(settings, choice)
    spec = SchemaSpec.from_model(Ping)

    async def once() -> Completion:
        try:
            return await provider.complete(list(_MESSAGES), spec, _SAMPLING)
        finally:
            await provider.aclose()

    asked = Probe(provider.name, getattr(provider, "base_url", None), provider.model)
    started = time.perf_counter()
    try:
        completion = asyncio.run(once())
    except ProviderError as exc:
        structured, detail = _refusal(exc)
        return replace(asked, structured=structured, detail=detail,
                       latency_s=time.perf_counter() - started,
                       auth_failed=isinstance(exc, AuthError))  # fmt: skip
    except ModelError as exc:
        served = exc.completion.model if exc.completion else None
        latency = time.perf_counter() - started
        return replace(asked, served=served, detail=f"{exc.code}: {exc}", latency_s=latency,
                       completion=exc.completion)  # fmt: skip
    answered = replace(asked, served=completion.model, completion=completion,
                       latency_s=time.perf_counter() - started)  # fmt: skip
    try:
        Ping.model_validate_json(completion.content or "")
    except ValidationError:
        shown = (completion.content or "")[:80]
        return replace(answered, structured="no",
                       detail=f"the answer does not follow the schema: {shown!r}")  # fmt: skip
    return replace(answered, structured="yes", detail="the answer followed the JSON schema")


def _refusal(exc: ProviderError) -> tuple[str, str]:
    refused = isinstance(exc, ProviderHTTPError) and exc.status in (400, 422)
    if refused and _REFUSED_FORMAT.search(exc.message):
        return "no", f"the provider refused response_format: {exc}"
    return "unknown", f"the request failed: {exc.code}: {exc}"
