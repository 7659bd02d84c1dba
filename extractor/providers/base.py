"""What every provider is: one method that turns a chat request into a completion.

A provider owns its wire format (OpenAI-compatible HTTP, or the embedded llama.cpp
engine) and reports usage; everything above it — validation, repair, records — is shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from extractor.result import Usage
from extractor.schema import SchemaSpec
from extractor.settings import Sampling

__all__ = ["Completion", "Provider", "Sampling", "Usage"]


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
    """A place that answers chat requests under a JSON schema, and what it can do.

    The pipeline asks these capabilities; it never branches on a provider's name.

    Attributes:
        name: the registered name (``openrouter``, ``mistral``, ``openai``, ``local``,
            ``openai-compatible`` or a plugin's).
        model: the model asked for.
        vision: accepts ``image_url`` parts (pages without text are then sent as images).
        max_images: images one request may carry.
        context_tokens: prompt budget of one request.
        max_output_tokens: the most answer tokens worth asking for (None: no cap of its
            own); a larger ``Sampling.max_tokens`` is lowered to it.
        max_concurrency: the most documents worth keeping in flight (None: no cap);
            ``extract_many`` keeps no more than that, whatever ``Settings.concurrency``
            says (the embedded model runs one call at a time).
        acts_on_feedback: whether asking again with what was wrong helps: a broken
            business rule's numbers, a list that stopped before the rows on later pages.
            When not, failed rules are only recorded and short lists left as they are (a
            135M model cannot do the arithmetic, and each request costs it half a minute).
    """

    name: str
    model: str
    vision: bool
    max_images: int
    context_tokens: int
    max_output_tokens: int | None
    max_concurrency: int | None
    acts_on_feedback: bool

    async def complete(
        self, messages: list[dict[str, Any]], schema: SchemaSpec, sampling: Sampling
    ) -> Completion:
        """Send one request; raise :class:`~extractor.errors.ProviderError` on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections or the model."""
        ...
