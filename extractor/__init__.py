"""extractor: documents in, validated structured data out.

Example:
    >>> from extractor import extract
    >>> result = extract("fixtures/invoice.pdf", "invoice")  # doctest: +SKIP
    >>> result.status, result.data.invoice_number  # doctest: +SKIP
    ('ok', 'RE-2024-0815')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below, for type checkers; at run time they load on first use
    from extractor.api import aextract, aextract_many, extract, extract_many
    from extractor.errors import (
        ConfigError,
        ExtractionFailed,
        ExtractorError,
        InputError,
        ModelError,
        ProviderError,
        SchemaError,
    )
    from extractor.etl import Tables, tables
    from extractor.money import Money
    from extractor.providers import Provider
    from extractor.result import Attempt, ErrorInfo, Failed, Ok, Result, Usage
    from extractor.rules import CheckResult, Verdict, check, rule
    from extractor.schema import SchemaSpec, load_schema, strict_schema
    from extractor.settings import PageOptions, RetryPolicy, Sampling, Settings

# Loaded lazily: a reading worker (extractor.isolate) imports extractor.pages, which must
# not pull in the model stack (instructor, openai: ~1 s of imports) through this file.
_EXPORTS = {
    "extractor.api": ("aextract", "aextract_many", "extract", "extract_many"),
    "extractor.etl": ("Tables", "tables"),
    "extractor.errors": ("ConfigError", "ExtractionFailed", "ExtractorError", "InputError",
                         "ModelError", "ProviderError", "SchemaError"),
    "extractor.money": ("Money",),
    "extractor.providers": ("Provider",),
    "extractor.result": ("Attempt", "ErrorInfo", "Failed", "Ok", "Result", "Usage"),
    "extractor.rules": ("CheckResult", "Verdict", "check", "rule"),
    "extractor.schema": ("SchemaSpec", "load_schema", "strict_schema"),
    "extractor.settings": ("PageOptions", "RetryPolicy", "Sampling", "Settings"),
}  # fmt: skip
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'extractor' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))


__version__ = "0.1.0"

__all__ = [
    "Attempt",
    "CheckResult",
    "ConfigError",
    "ErrorInfo",
    "ExtractionFailed",
    "ExtractorError",
    "Failed",
    "InputError",
    "ModelError",
    "Money",
    "Ok",
    "PageOptions",
    "Provider",
    "ProviderError",
    "Result",
    "RetryPolicy",
    "Sampling",
    "SchemaError",
    "SchemaSpec",
    "Settings",
    "Tables",
    "Usage",
    "Verdict",
    "__version__",
    "aextract",
    "aextract_many",
    "check",
    "extract",
    "extract_many",
    "load_schema",
    "rule",
    "strict_schema",
    "tables",
]
