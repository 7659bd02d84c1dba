"""Providers: the one method that turns a chat request into a completion, and the
registry that chooses and opens them (see :mod:`extractor.providers.registry`).

Importing this package stays cheap: the HTTP client (httpx) and the embedded engine
load only when a provider of theirs is opened.
"""

from __future__ import annotations

from extractor.providers.base import Completion, Provider
from extractor.providers.registry import (
    Choice,
    ProviderConfig,
    ProviderInfo,
    choose,
    open_provider,
    provider_names,
    registered,
)
from extractor.result import Usage
from extractor.settings import RetryPolicy, Sampling

__all__ = [
    "Choice",
    "Completion",
    "Provider",
    "ProviderConfig",
    "ProviderInfo",
    "RetryPolicy",
    "Sampling",
    "Usage",
    "choose",
    "open_provider",
    "provider_names",
    "registered",
]
