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

import copy
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from extractor.providers.base import Completion

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

    Attributes:
        message: what went wrong, for people.
        path: the file or setting it is about, when there is one.
        code: stable name of the class (what records put in ``error.type``).
        retryable: whether the same request may succeed when sent again.

    Errors are built once with all their context and not changed afterwards; they pickle
    with it (reading workers send them back to the parent process).
    """

    code: ClassVar[str] = "error"
    retryable: bool = False

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        context = {k: v for k, v in self.__dict__.items() if k != "message"}
        return (_rebuild, (type(self), self.message, context))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[ExtractorError], message: str, context: dict[str, Any]) -> ExtractorError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.message = message
    error.__dict__.update(context)
    return error


# -- the caller's -----------------------------------------------------------------------


class ConfigError(ExtractorError):
    code = "config_error"


class SchemaError(ConfigError):
    code = "schema_error"


# -- the document's ---------------------------------------------------------------------


class InputError(ExtractorError):
    """The document cannot be used.

    Attributes:
        signal: the signal that killed the worker reading it, when one did.
        limit: the cap it went over (``InputTooLarge``): bytes, pages, pixels, memory
            bytes or seconds, as a short text such as ``"2 GiB of memory"``.
    """

    code = "input_error"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        signal: int | None = None,
        limit: str | None = None,
    ) -> None:
        super().__init__(message, path=path)
        self.signal = signal
        self.limit = limit


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
    """The provider failed to answer.

    Attributes:
        status: the HTTP status (or the code of an error sent with HTTP 200).
        retry_after: seconds the provider asked us to wait, when it said.
        transport_retries: how many times the request was sent again before this.
    """

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        transport_retries: int = 0,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        if retryable is not None:
            self.retryable = retryable
        self.transport_retries = transport_retries

    def after_retries(self, transport_retries: int) -> ProviderError:
        """The same error, saying how many transport retries came before it."""
        again = copy.copy(self)
        again.transport_retries = transport_retries
        return again


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
    """The model answered, but not usefully.

    Attributes:
        completion: the answer as received (content, finish reason, usage), when there is one.
        last_output: the last raw answer.
        reasons: why it was not usable, one string each (validation errors …).
    """

    code = "model_error"

    def __init__(
        self,
        message: str,
        *,
        completion: Completion | None = None,
        last_output: str | None = None,
        reasons: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.completion = completion
        self.last_output = (
            last_output
            if last_output is not None
            else (completion.content if completion is not None else None)
        )
        self.reasons = tuple(reasons)


class EmptyOutput(ModelError):
    code = "empty_output"


class OutputTruncated(ModelError):
    code = "output_truncated"


class ContentFiltered(ModelError):
    code = "content_filtered"


class ExtractionFailed(ModelError):
    """The answer was still invalid after every repair: ``last_output`` is the last raw
    answer and ``reasons`` its validation errors (the attempts are in the record)."""

    code = "extraction_failed"


# -- ours -------------------------------------------------------------------------------


class DocumentTimeout(ExtractorError):
    """The whole document (reading, every call, retry and repair) took longer than its
    deadline, ``Settings.document_timeout``."""

    code = "document_timeout"


class InternalError(ExtractorError):
    code = "internal_error"
