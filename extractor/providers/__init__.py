"""Providers, and how one is chosen.

Precedence: an explicit ``provider`` name or ``base_url`` wins; otherwise the first
configured key (``OPENROUTER_API_KEY``, ``MISTRAL_API_KEY``, ``OPENAI_API_KEY``) picks its
provider; otherwise the embedded local model. Never a guess from the model name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from extractor.errors import ConfigError
from extractor.providers.base import Completion, Provider, Sampling, Usage
from extractor.providers.local import LocalProvider
from extractor.providers.openai_compat import PROFILES, OpenAICompatible, RetryPolicy

__all__ = [
    "PROVIDER_NAMES",
    "Choice",
    "Completion",
    "LocalProvider",
    "OpenAICompatible",
    "Provider",
    "RetryPolicy",
    "Sampling",
    "Usage",
    "choose",
    "open_provider",
]

PROVIDER_NAMES = ("openrouter", "mistral", "openai", "openai-compatible", "local")
_KEY_ORDER = ("openrouter", "mistral", "openai")


@dataclass(frozen=True)
class Choice:
    """Which provider a job will use, and why (shown by ``extractor doctor``)."""

    name: str
    model: str | None
    base_url: str | None
    reason: str


def choose(
    provider: str | None = None,
    *,
    model: str | None = None,
    base_url: str | None = None,
    environ: dict[str, str] | None = None,
) -> Choice:
    """Decide the provider without creating it."""
    env = dict(os.environ if environ is None else environ)
    provider = provider or env.get("EXTRACTOR_PROVIDER") or None
    base_url = base_url or env.get("EXTRACTOR_BASE_URL") or None
    model = model or env.get("EXTRACTOR_MODEL") or None
    if provider is not None and provider not in PROVIDER_NAMES:
        raise ConfigError(
            f"unknown provider {provider!r}; choose one of {', '.join(PROVIDER_NAMES)}"
        )
    if provider == "local":
        return Choice("local", model, None, "asked for")
    if provider is not None:
        profile = PROFILES[provider]
        url = base_url or profile.base_url
        if url is None:
            raise ConfigError("provider openai-compatible needs --base-url")
        return Choice(provider, model or profile.default_model, url, "asked for")
    if base_url is not None:
        return Choice("openai-compatible", model, base_url, "--base-url given")
    for name in _KEY_ORDER:
        profile = PROFILES[name]
        if profile.key_env and env.get(profile.key_env):
            return Choice(
                name, model or profile.default_model, profile.base_url, f"{profile.key_env} is set"
            )
    return Choice(
        "local",
        model,
        None,
        "no API key is set; for a real model set OPENROUTER_API_KEY or pass --base-url",
    )


def open_provider(
    choice: Choice,
    *,
    api_key: str | None = None,
    retry: RetryPolicy | None = None,
    environ: dict[str, str] | None = None,
    local_n_ctx: int = 8192,
) -> Provider:
    """Create the provider a :class:`Choice` names."""
    if choice.name == "local":
        return LocalProvider(choice.model, n_ctx=local_n_ctx)
    env = os.environ if environ is None else environ
    profile = PROFILES[choice.name]
    key = (
        api_key
        or env.get("EXTRACTOR_API_KEY")
        or (env.get(profile.key_env) if profile.key_env else None)
    )
    if not key and choice.name != "openai-compatible":
        raise ConfigError(f"provider {choice.name} needs an API key: set {profile.key_env}")
    if not choice.model:
        raise ConfigError(f"provider {choice.name} needs --model")
    assert choice.base_url is not None
    return OpenAICompatible(
        profile, model=choice.model, base_url=choice.base_url, api_key=key or None, retry=retry
    )
