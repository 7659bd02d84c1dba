"""Prices per million tokens, for providers that do not report the charge themselves.

OpenRouter reports ``usage.cost``; that figure wins over this table.
"""

from __future__ import annotations

from extractor.providers.base import Usage

__all__ = ["BATCH_DISCOUNT", "PRICES", "batch_cost_of", "cost_of", "price_of"]

# model id → (USD per 1M input tokens, USD per 1M output tokens)
PRICES: dict[str, tuple[float, float]] = {
    "mistralai/mistral-medium-3.1": (0.40, 2.00),
    "mistral-medium-2508": (0.40, 2.00),
    "mistral-medium-latest": (0.40, 2.00),
    "mistral-small-latest": (0.10, 0.30),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1-mini": (0.40, 1.60),
}

# provider → the share of the live price its batch API charges. Both publish 50 % off
# input and output tokens for batch jobs (Mistral: "50% discount"; OpenAI: "50% lower").
BATCH_DISCOUNT: dict[str, float] = {"mistral": 0.5, "openai": 0.5}


def price_of(model: str) -> tuple[float, float] | None:
    """(USD per 1M input tokens, per 1M output tokens) of ``model``, or None if unknown."""
    return PRICES.get(model) or PRICES.get(model.split("/", 1)[-1])


def batch_cost_of(provider: str, model: str, usage: Usage) -> float | None:
    """The charge for ``usage`` served by ``provider``'s batch API (None: price unknown)."""
    live = cost_of(model, usage)
    share = BATCH_DISCOUNT.get(provider)
    if live is None or share is None:
        return None
    return live * share


def cost_of(model: str, usage: Usage) -> float | None:
    """The charge for ``usage`` on ``model``: reported if known, else from the table, else None."""
    if usage.cost_usd is not None:
        return usage.cost_usd
    price = price_of(model)
    if price is None:
        return None
    return (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1_000_000
