"""extractor: documents in, validated structured data out.

Example:
    >>> from extractor import extract
    >>> result = extract("fixtures/invoice.pdf", "invoice")  # doctest: +SKIP
    >>> result.status, result.data.invoice_number  # doctest: +SKIP
    ('ok', 'RE-2024-0815')
"""

from __future__ import annotations

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
from extractor.providers import Provider, RetryPolicy, Sampling, Usage
from extractor.result import ErrorInfo, Result
from extractor.schema import SchemaSpec, load_schema, strict_schema
from extractor.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ErrorInfo",
    "ExtractionFailed",
    "ExtractorError",
    "InputError",
    "ModelError",
    "Provider",
    "ProviderError",
    "Result",
    "RetryPolicy",
    "Sampling",
    "SchemaError",
    "SchemaSpec",
    "Settings",
    "Usage",
    "__version__",
    "aextract",
    "aextract_many",
    "extract",
    "extract_many",
    "load_schema",
    "strict_schema",
]
