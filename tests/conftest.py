"""Shared test set-up: no real provider key ever reaches a test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractor.testing import ScriptedServer

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SHARED = ROOT.parent / "shared"

_ENV_PREFIXES = ("EXTRACTOR_",)
_KEYS = ("OPENROUTER_API_KEY", "MISTRAL_API_KEY", "OPENAI_API_KEY")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name in _KEYS or name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name)
    yield


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A scripted OpenAI-compatible server on 127.0.0.1 (modules may override it)."""
    with ScriptedServer() as scripted:
        yield scripted


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
