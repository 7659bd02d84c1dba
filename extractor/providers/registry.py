"""Which providers exist, which one a job uses, and how it is opened.

Providers are registered by name with a factory, the way simonw/llm takes model plugins:
the five built-in ones, plus any a package declares under the ``extractor.providers``
entry-point group::

    # pyproject.toml of a plugin
    [project.entry-points."extractor.providers"]
    acme = "acme_extractor:PROVIDER"      # a ProviderInfo

Choice precedence: an explicit ``provider`` name or ``base_url`` wins; otherwise the
first configured key (``OPENROUTER_API_KEY``, ``MISTRAL_API_KEY``, ``OPENAI_API_KEY``)
picks its provider; otherwise the embedded local model. Never a guess from the model name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points

from extractor.errors import ConfigError
from extractor.providers.base import Provider
from extractor.settings import RetryPolicy, Settings

__all__ = [
    "Choice",
    "ProviderConfig",
    "ProviderInfo",
    "broken_plugins",
    "choose",
    "open_provider",
    "provider_names",
    "registered",
]

ENTRY_POINT_GROUP = "extractor.providers"
_KEY_ORDER = ("openrouter", "mistral", "openai")
_BROKEN: dict[str, str] = {}


@dataclass(frozen=True)
class ProviderConfig:
    """What a provider factory is given to open a provider.

    Attributes:
        name: the registered name chosen.
        model: the model asked for (None: the provider's default, if it has one).
        base_url: where to send requests (None: the provider's own).
        api_key: the key, from the settings or the environment. Never logged.
        vision: whether the model takes images (None: the provider decides).
        retry: the transport-retry budget.
        local_n_ctx: context window for in-process engines.
    """

    name: str
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    vision: bool | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    local_n_ctx: int = 8192


@dataclass(frozen=True)
class ProviderInfo:
    """A registered provider.

    Attributes:
        name: what ``--provider`` takes.
        factory: opens the provider from a :class:`ProviderConfig`.
        key_env: the environment variable holding its API key (None: none needed).
        base_url: its endpoint (None: the user must give ``--base-url``).
        default_model: the model used when none is named.
        description: one line for ``extractor doctor``.
    """

    name: str
    factory: Callable[[ProviderConfig], Provider]
    key_env: str | None = None
    base_url: str | None = None
    default_model: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Choice:
    """Which provider a job will use, and why (shown by the CLI and ``extractor doctor``)."""

    name: str
    model: str | None
    base_url: str | None
    reason: str


def _open_local(config: ProviderConfig) -> Provider:
    from extractor.providers.local import LocalProvider

    return LocalProvider(config.model, n_ctx=config.local_n_ctx)


def _http_factory(profile_name: str) -> Callable[[ProviderConfig], Provider]:
    def open_http(config: ProviderConfig) -> Provider:
        from extractor.providers.openai_compat import PROFILES, OpenAICompatible

        profile = PROFILES[profile_name]
        if not config.api_key and profile.key_env:
            raise ConfigError(f"provider {config.name} needs an API key: set {profile.key_env}")
        if not config.model:
            raise ConfigError(f"provider {config.name} needs --model")
        if not config.base_url:
            raise ConfigError(f"provider {config.name} needs --base-url")
        return OpenAICompatible(
            profile, model=config.model, base_url=config.base_url, api_key=config.api_key,
            retry=config.retry, vision=config.vision,
        )  # fmt: skip

    return open_http


_BUILTIN = (
    ProviderInfo("openrouter", _http_factory("openrouter"), "OPENROUTER_API_KEY",
                 "https://openrouter.ai/api/v1", "mistralai/mistral-medium-3.1",
                 "OpenRouter (strict json_schema, usage.cost reported)"),
    ProviderInfo("mistral", _http_factory("mistral"), "MISTRAL_API_KEY",
                 "https://api.mistral.ai/v1", "mistral-medium-latest", "Mistral's API"),
    ProviderInfo("openai", _http_factory("openai"), "OPENAI_API_KEY",
                 "https://api.openai.com/v1", "gpt-4.1-mini", "OpenAI's API"),
    ProviderInfo("openai-compatible", _http_factory("openai-compatible"),
                 description="any OpenAI-compatible server (vLLM, Ollama …): --base-url"),
    ProviderInfo("local", _open_local,
                 description="the embedded llama.cpp engine (SmolLM2-135M, or a .gguf file)"),
)  # fmt: skip


@cache
def registered() -> Mapping[str, ProviderInfo]:
    """Every provider by name: the built-in ones, then plugins' (a plugin cannot replace a
    built-in name; one that fails to load is left out, see :func:`broken_plugins`)."""
    providers = {info.name: info for info in _BUILTIN}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in providers:
            continue
        try:
            info = point.load()
        except Exception as exc:  # a broken plugin must not break the built-in providers
            _BROKEN[point.name] = f"{point.value} failed to load: {type(exc).__name__}: {exc}"
            continue
        if callable(info) and not isinstance(info, ProviderInfo):
            info = ProviderInfo(point.name, info)
        if not isinstance(info, ProviderInfo):
            _BROKEN[point.name] = f"{point.value} is not a ProviderInfo or a factory"
            continue
        providers[point.name] = info
    return providers


def broken_plugins() -> Mapping[str, str]:
    """Provider plugins that could not be loaded, with why."""
    registered()
    return dict(_BROKEN)


def provider_names() -> tuple[str, ...]:
    return tuple(registered())


def choose(
    provider: str | None = None,
    *,
    model: str | None = None,
    base_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Choice:
    """Decide the provider without opening it."""
    env = os.environ if environ is None else environ
    provider = provider or env.get("EXTRACTOR_PROVIDER") or None
    base_url = base_url or env.get("EXTRACTOR_BASE_URL") or None
    model = model or env.get("EXTRACTOR_MODEL") or None
    providers = registered()
    if provider is not None:
        info = providers.get(provider)
        if info is None and provider in _BROKEN:
            raise ConfigError(f"provider plugin {provider!r}: {_BROKEN[provider]}")
        if info is None:
            raise ConfigError(
                f"unknown provider {provider!r}; choose one of {', '.join(providers)}"
            )
        url = base_url or info.base_url
        if info.name == "openai-compatible" and url is None:
            raise ConfigError("provider openai-compatible needs --base-url")
        return Choice(provider, model or info.default_model, url, "asked for")
    if base_url is not None:
        return Choice("openai-compatible", model, base_url, "--base-url given")
    for name in _KEY_ORDER:
        info = providers[name]
        if info.key_env and env.get(info.key_env):
            reason = f"{info.key_env} is set"
            return Choice(name, model or info.default_model, info.base_url, reason)
    return Choice(
        "local",
        model,
        None,
        "no API key is set; for a real model set OPENROUTER_API_KEY or pass --base-url",
    )


def open_provider(
    choice: Choice, settings: Settings | None = None, *, environ: Mapping[str, str] | None = None
) -> Provider:
    """Open the provider a :class:`Choice` names, configured by ``settings``.

    The key comes from ``settings.api_key``, else ``EXTRACTOR_API_KEY``, else the
    provider's own variable.
    """
    settings = settings or Settings()
    env = os.environ if environ is None else environ
    info = registered()[choice.name]
    key = (
        settings.api_key
        or env.get("EXTRACTOR_API_KEY")
        or (env.get(info.key_env) if info.key_env else None)
    )
    config = ProviderConfig(
        name=choice.name, model=choice.model, base_url=choice.base_url, api_key=key or None,
        vision=settings.vision, retry=settings.retry, local_n_ctx=settings.local_n_ctx,
    )  # fmt: skip
    return info.factory(config)
