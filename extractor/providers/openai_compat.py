"""OpenAI-compatible chat completions over httpx: OpenRouter, Mistral, OpenAI, any base URL.

The providers differ in small, costly ways, so each has a profile:

- OpenRouter: strict ``json_schema``, ``provider.require_parameters: true`` so only
  upstreams that honour ``response_format`` are chosen, and errors that arrive with
  HTTP 200 (top-level ``error``, or ``choices[0].error`` with ``finish_reason: error``).
- Mistral: rejects unknown fields with 422, so the body holds only what it accepts
  (``random_seed``, not ``seed``).
- OpenAI: ``max_completion_tokens``.
- Anything else (vLLM, Ollama, llama.cpp server, LM Studio): plain OpenAI fields.

Transport retries (429, 408, 409, 5xx, timeouts, dropped connections, errors sent with
HTTP 200) happen here with exponential backoff, jitter and ``Retry-After``; they are a
budget of their own, separate from the repair budget. 401/402/403 are never retried.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from extractor.errors import (
    AuthError,
    ContentFiltered,
    EmptyOutput,
    MalformedResponse,
    OutputTruncated,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    RateLimited,
)
from extractor.providers.base import Completion
from extractor.providers.limiter import AdaptiveLimiter
from extractor.result import Usage
from extractor.schema import SchemaSpec
from extractor.settings import RetryPolicy, Sampling

__all__ = ["PROFILES", "OpenAICompatible", "Profile"]

_RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}
_AUTH_STATUSES = {401, 402, 403}


@dataclass(frozen=True)
class Profile:
    """What differs between OpenAI-compatible providers.

    Attributes:
        name: the provider's registered name.
        base_url: where it answers (None: the user must give one).
        key_env: the environment variable holding its key.
        default_model: the model used when none is named.
        seed_field, max_tokens_field: its names for the seed and the answer limit.
        extra_body: fields it needs in every request body.
        extra_headers: headers it wants on every request (never the key).
        vision: whether its models take images, unless the user says otherwise.
        max_images: images one request may carry.
        context_tokens: prompt budget of one request.
        max_output_tokens: the most answer tokens worth asking for (None: no cap).
    """

    name: str
    base_url: str | None
    key_env: str | None
    default_model: str | None
    seed_field: str = "seed"
    max_tokens_field: str = "max_tokens"
    extra_body: dict[str, Any] = field(default_factory=dict)
    extra_headers: dict[str, str] = field(default_factory=dict)
    vision: bool = True
    max_images: int = 8
    context_tokens: int = 128_000
    max_output_tokens: int | None = None


PROFILES: dict[str, Profile] = {
    "openrouter": Profile(
        "openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY",
        "mistralai/mistral-medium-3.1",
        extra_body={"provider": {"require_parameters": True}, "usage": {"include": True}},
        extra_headers={"X-Title": "extractor"}, context_tokens=131_000,
    ),
    "mistral": Profile(
        "mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", "mistral-medium-latest",
        seed_field="random_seed", context_tokens=131_000,
    ),
    "openai": Profile(
        "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "gpt-4.1-mini",
        max_tokens_field="max_completion_tokens", max_images=50,
    ),
    "openai-compatible": Profile("openai-compatible", None, None, None),
}  # fmt: skip


class OpenAICompatible:
    """A provider reached over the OpenAI chat-completions protocol.

    Args:
        profile: what differs for this provider (:data:`PROFILES`).
        model: the model id asked for.
        base_url: where it answers (``…/v1``).
        api_key: sent as a bearer token; never logged or shown.
        retry: the transport-retry budget.
        vision: whether the model takes images; None takes the profile's word.
        client: an httpx client to use instead of our own.
    """

    max_concurrency: int | None = None
    acts_on_feedback = True

    def __init__(
        self,
        profile: Profile,
        *,
        model: str,
        base_url: str,
        api_key: str | None,
        retry: RetryPolicy | None = None,
        vision: bool | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.profile = profile
        self.name = profile.name
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.vision = profile.vision if vision is None else vision
        self.max_images = profile.max_images if self.vision else 0
        self.context_tokens = profile.context_tokens
        self.max_output_tokens = profile.max_output_tokens
        self.retry = retry or RetryPolicy()
        self._api_key = api_key
        self._refused: AuthError | None = None  # once the key is refused, stop calling
        self.limiter = AdaptiveLimiter()
        self._own_client = client is None
        self._client = client
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:  # never the key
        return f"OpenAICompatible({self.name!r}, model={self.model!r}, base_url={self.base_url!r})"

    async def aclose(self) -> None:
        if self._client is not None and self._client_loop in (None, asyncio.get_running_loop()):
            await self._client.aclose()

    def _http(self) -> httpx.AsyncClient:
        # Pooled connections belong to the event loop that opened them, and every sync
        # ``extract()`` runs its own loop: a provider reused across calls needs a new client.
        loop = asyncio.get_running_loop()
        if self._client is None or (self._own_client and self._client_loop is not loop):
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.retry.timeout, connect=min(10.0, self.retry.timeout)),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            )
            self._client_loop = loop
        return self._client

    # -- the request -------------------------------------------------------------------

    def build_body(
        self, messages: list[dict[str, Any]], schema: SchemaSpec, sampling: Sampling
    ) -> dict[str, Any]:
        """The exact JSON body sent (public so tests and ``--dry-run`` can show it)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": schema.name, "strict": True, "schema": schema.json_schema},
            },
        }
        wanted = {
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            self.profile.seed_field: sampling.seed,
            "stop": list(sampling.stop) if sampling.stop else None,
            self.profile.max_tokens_field: sampling.max_tokens,
            "frequency_penalty": sampling.frequency_penalty,
            "presence_penalty": sampling.presence_penalty,
        }
        body.update({k: v for k, v in wanted.items() if v is not None})
        body.update(self.profile.extra_body)
        return body

    def _headers(self) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json", "Accept": "application/json",
            **self.profile.extra_headers,
        }  # fmt: skip
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    async def complete(
        self, messages: list[dict[str, Any]], schema: SchemaSpec, sampling: Sampling
    ) -> Completion:
        if self._refused is not None:  # 401/402/403 will not change: spare the other documents
            raise AuthError(self._refused.message, status=self._refused.status)
        content = orjson.dumps(self.build_body(messages, schema, sampling))
        url = f"{self.base_url}/chat/completions"
        for attempt in range(self.retry.retries + 1):
            try:
                async with self.limiter.slot() as started:
                    completion = await self._send_once(url, content)
                self.limiter.succeeded()
                return _with_retries(completion, attempt)
            except ProviderError as exc:
                if isinstance(exc, AuthError):
                    self._refused = exc
                if isinstance(exc, RateLimited):
                    self.limiter.refused(exc.retry_after, started)
                wait = self._retry_wait(exc, attempt)
                if wait is None:
                    raise exc.after_retries(attempt) from None
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _retry_wait(self, exc: ProviderError, attempt: int) -> float | None:
        if not exc.retryable or attempt >= self.retry.retries:
            return None
        retry_after = exc.retry_after
        if retry_after is not None:
            return None if retry_after > self.retry.max_retry_after else retry_after
        ceiling = min(self.retry.max_backoff, self.retry.backoff * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)

    async def _send_once(self, url: str, content: bytes) -> Completion:
        try:
            response = await self._http().post(url, content=content, headers=self._headers())
        except httpx.TimeoutException as exc:
            message = f"{self.name}: no answer within {self.retry.timeout:g} s"
            raise ProviderTimeout(message) from exc
        except httpx.TransportError as exc:
            raise ProviderConnectionError(
                f"{self.name}: connection failed ({type(exc).__name__})"
            ) from exc
        if response.status_code >= 400:
            raise self._status_error(response)
        return self._parse(response)

    # -- the response ------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "[redacted]")
        return text[:500]

    def _status_error(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        message = self._redact(_error_message(response.content) or response.reason_phrase)
        text = f"{self.name}: HTTP {status}: {message}"
        if status in _AUTH_STATUSES:
            hint = {401: "check the API key", 402: "add credits", 403: "access denied"}[status]
            return AuthError(f"{text} ({hint})", status=status)
        if status == 429:
            return RateLimited(text, status=status, retry_after=_retry_after(response))
        return ProviderHTTPError(
            text, status=status, retry_after=_retry_after(response),
            retryable=status in _RETRY_STATUSES,
        )  # fmt: skip

    def _parse(self, response: httpx.Response) -> Completion:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise MalformedResponse(
                f"{self.name}: the response body is not JSON ({len(response.content)} bytes)",
                retryable=True,
            ) from None
        if not isinstance(body, dict):
            raise MalformedResponse(f"{self.name}: the response body is not a JSON object")
        if "error" in body and not body.get("choices"):
            raise self._body_error(body["error"])
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise MalformedResponse(f"{self.name}: the response has no choices", retryable=True)
        choice = choices[0]
        if choice.get("error") or choice.get("finish_reason") == "error":
            raise self._body_error(choice.get("error") or {"message": "finish_reason error"})
        message = choice.get("message") or {}
        completion = Completion(
            content=message.get("content") if isinstance(message, dict) else None,
            finish_reason=choice.get("finish_reason"),
            model=body.get("model"),
            usage=_usage(body.get("usage")),
        )
        _check_finish(self.name, completion)
        return completion

    def _body_error(self, error: Any) -> ProviderError:
        detail = error if isinstance(error, dict) else {"message": str(error)}
        raw_code = detail.get("code")
        code = raw_code if isinstance(raw_code, int) else None
        message = self._redact(str(detail.get("message") or "unknown error"))
        text = f"{self.name}: error in a 200 response: {message}"
        if code in _AUTH_STATUSES:
            return AuthError(text, status=code)
        if code == 429:
            return RateLimited(text, status=code, retry_after=None)
        return ProviderHTTPError(text, status=code, retryable=True)


def _check_finish(name: str, completion: Completion) -> None:
    reason = completion.finish_reason
    if reason == "length":
        raise OutputTruncated(
            f"{name}: the answer was cut off at the token limit (finish_reason length)",
            completion=completion,
        )
    if reason == "content_filter":
        raise ContentFiltered(
            f"{name}: the answer was withheld by a content filter", completion=completion
        )
    if not completion.content or not completion.content.strip():
        raise EmptyOutput(f"{name}: the answer has no content", completion=completion)


def _with_retries(completion: Completion, retries: int) -> Completion:
    return dataclasses.replace(completion, transport_retries=retries) if retries else completion


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    cost = raw.get("cost")
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        cost_usd=float(cost) if isinstance(cost, int | float) else None,
    )


def _error_message(content: bytes) -> str | None:
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return content[:200].decode("utf-8", errors="replace").strip() or None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if isinstance(body, dict) and "detail" in body:  # Mistral's 422 validation errors
        return str(body["detail"])
    return str(error) if error else None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
