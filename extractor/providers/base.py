"""What every provider is: one method that turns a chat request into a completion.

A provider owns its wire format (OpenAI-compatible HTTP, or the embedded llama.cpp
engine) and reports usage; everything above it — validation, repair, records — is shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from extractor.schema import SchemaSpec

__all__ = ["Completion", "Provider", "Sampling", "Usage"]


@dataclass(frozen=True)
class Usage:
    """Tokens and charge of one or more calls. ``cost_usd`` is None when nobody knows it."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None

    def __add__(self, other: Usage) -> Usage:
        if self.cost_usd is None and other.cost_usd is None:
            cost = None
        else:
            cost = (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            cost,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Sampling:
    """The sampling parameters users know from the OpenAI API; None = provider default.

    Each provider maps them to its own names (Mistral: ``random_seed``).
    """

    temperature: float | None = 0.0
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    max_tokens: int | None = 4096
    frequency_penalty: float | None = None
    presence_penalty: float | None = None

    def __post_init__(self) -> None:
        # ``stop="END"`` is one sequence, as in the OpenAI API, not the letters E, N, D.
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        elif self.stop is not None and not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))


@dataclass(frozen=True)
class Completion:
    """What came back from one call.

    Attributes:
        content: the assistant message text (None when the model sent none).
        finish_reason: as reported (``stop``, ``length``, ``content_filter`` …).
        model: the model the provider says it served.
        usage: tokens and charge of this call.
        transport_retries: how many times the transport layer had to try again.
    """

    content: str | None
    finish_reason: str | None
    model: str | None
    usage: Usage = field(default_factory=Usage)
    transport_retries: int = 0


@runtime_checkable
class Provider(Protocol):
    """A place that answers chat requests under a JSON schema.

    Attributes:
        name: ``openrouter``, ``mistral``, ``openai``, ``local`` or ``openai-compatible``.
        model: the model asked for.
        vision: accepts ``image_url`` parts.
        max_images: images one request may carry.
        context_tokens: prompt budget of one request.

    A provider may also set ``max_concurrency`` (an int): ``extract_many`` then keeps no
    more documents in flight than that, whatever ``Settings.concurrency`` says.
    """

    name: str
    model: str
    vision: bool
    max_images: int
    context_tokens: int

    async def complete(
        self, messages: list[dict[str, Any]], schema: SchemaSpec, sampling: Sampling
    ) -> Completion:
        """Send one request; raise :class:`~extractor.errors.ProviderError` on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections or the model."""
        ...
