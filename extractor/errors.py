"""Every error extractor raises, split by whose fault it is.

```
ExtractorError
├── ConfigError             the caller's: bad option, unknown provider, missing key
│   └── SchemaError         a schema spec that cannot be loaded or made strict
├── InputError              the document's: it cannot be read
│   ├── UnsupportedInput    not a PDF, image or text file we know
│   ├── EmptyInput          zero bytes, or no pages
│   ├── EncryptedInput      needs a password (or the password was wrong)
│   ├── CorruptInput        truncated or malformed
│   └── InputTooLarge       over a size, page or pixel cap
├── ProviderError           the provider's: transport and protocol
│   ├── AuthError           401/402/403 — never retried, stops a run
│   ├── RateLimited         429 after transport retries ran out
│   ├── ProviderHTTPError   any other non-2xx status
│   ├── ProviderTimeout     no answer within the request timeout
│   ├── ProviderConnectionError  refused, reset, dropped
│   └── MalformedResponse   a body that is not a chat completion (incl. errors sent with HTTP 200)
├── ModelError              the model's: it answered, but not usefully
│   ├── EmptyOutput         no content
│   ├── OutputTruncated     finish_reason "length"
│   ├── ContentFiltered     finish_reason "content_filter"
│   └── ExtractionFailed    still invalid after the repair budget; keeps every attempt
├── DocumentTimeout         the document's deadline passed (all calls and retries included)
└── InternalError           ours
```

Every error has a stable ``code`` (what records put in ``error.type``) and pickles
with its context, because errors cross process pools.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthError",
    "ConfigError",
    "ContentFiltered",
    "CorruptInput",
    "DocumentTimeout",
    "EmptyInput",
    "EmptyOutput",
    "EncryptedInput",
    "ExtractionFailed",
    "ExtractorError",
    "InputError",
    "InputTooLarge",
    "InternalError",
    "MalformedResponse",
    "ModelError",
    "OutputTruncated",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderTimeout",
    "RateLimited",
    "SchemaError",
    "UnsupportedInput",
]


class ExtractorError(Exception):
    """Base of every error extractor raises on purpose.

    Keyword context (``path``, ``status``, ``attempts`` …) is kept as attributes and
    survives pickling.
    """

    code = "error"
    retryable = False

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        for key, value in context.items():
            setattr(self, key, value)

    def __reduce__(self) -> tuple[Any, ...]:
        context = {k: v for k, v in self.__dict__.items() if k != "message"}
        return (_rebuild, (type(self), self.message, context))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[ExtractorError], message: str, context: dict[str, Any]) -> ExtractorError:
    return cls(message, **context)


# -- the caller's -----------------------------------------------------------------------


class ConfigError(ExtractorError):
    code = "config_error"


class SchemaError(ConfigError):
    code = "schema_error"


# -- the document's ---------------------------------------------------------------------


class InputError(ExtractorError):
    code = "input_error"


class UnsupportedInput(InputError):
    code = "unsupported_input"


class EmptyInput(InputError):
    code = "empty_input"


class EncryptedInput(InputError):
    code = "encrypted_input"


class CorruptInput(InputError):
    code = "corrupt_input"


class InputTooLarge(InputError):
    code = "input_too_large"


# -- the provider's ---------------------------------------------------------------------


class ProviderError(ExtractorError):
    code = "provider_error"


class AuthError(ProviderError):
    code = "auth_error"


class RateLimited(ProviderError):
    code = "rate_limited"
    retryable = True


class ProviderHTTPError(ProviderError):
    code = "provider_http_error"


class ProviderTimeout(ProviderError):
    code = "provider_timeout"
    retryable = True


class ProviderConnectionError(ProviderError):
    code = "provider_connection_error"
    retryable = True


class MalformedResponse(ProviderError):
    code = "malformed_response"


# -- the model's ------------------------------------------------------------------------


class ModelError(ExtractorError):
    code = "model_error"


class EmptyOutput(ModelError):
    code = "empty_output"


class OutputTruncated(ModelError):
    code = "output_truncated"


class ContentFiltered(ModelError):
    code = "content_filtered"


class ExtractionFailed(ModelError):
    """The answer was still invalid after every repair.

    Attributes:
        attempts: the recorded attempts (raw output, validation errors, usage).
        last_output: the last raw answer.
        reasons: the last validation errors, one string each.
    """

    code = "extraction_failed"


# -- ours -------------------------------------------------------------------------------


class DocumentTimeout(ExtractorError):
    """The whole document (reading, every call, retry and repair) took longer than its
    deadline, ``Settings.document_timeout``."""

    code = "document_timeout"


class InternalError(ExtractorError):
    code = "internal_error"
