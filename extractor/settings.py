"""Settings: everything a job can be told, in frozen objects, with every default written once.

This module is a leaf: it imports nothing of extractor but its errors, so a reading
worker (which receives only :class:`PageOptions`) and the CLI's option parser load it
without the model stack.

``None`` means "look at the environment, then use the default". Precedence is always
argument > ``EXTRACTOR_*`` / provider key variables > default. Secrets (the API key, a
PDF password) are never shown in ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, get_args

from extractor.errors import ConfigError

__all__ = [
    "MODES",
    "READ_TIMEOUT",
    "WORKER_MEMORY",
    "Mode",
    "PageOptions",
    "RetryPolicy",
    "Sampling",
    "Settings",
]

Mode = Literal["auto", "text", "vision", "hybrid"]
MODES: tuple[Mode, ...] = get_args(Mode)
WORKER_MEMORY = 2 << 30  # address space of a reading worker, bytes
READ_TIMEOUT = 60.0  # seconds a reading worker may spend on one document


@dataclass(frozen=True)
class Sampling:
    """The sampling parameters users know from the OpenAI API; None = provider default.

    Each provider maps them to its own names (Mistral: ``random_seed``).
    """

    temperature: float | None = 0.0
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    max_tokens: int | None = 4096
    frequency_penalty: float | None = None
    presence_penalty: float | None = None

    def __post_init__(self) -> None:
        # ``stop="END"`` is one sequence, as in the OpenAI API, not the letters E, N, D.
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        elif self.stop is not None and not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))


@dataclass(frozen=True)
class RetryPolicy:
    """The transport-retry budget (separate from the repair budget).

    Attributes:
        retries: extra tries after the first, per request.
        backoff: first backoff in seconds; doubles each try, with full jitter.
        max_backoff: cap of one computed backoff.
        max_retry_after: longest ``Retry-After`` we wait; longer ones fail the request.
        timeout: seconds per request.
    """

    retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 20.0
    max_retry_after: float = 60.0
    timeout: float = 120.0


@dataclass(frozen=True)
class PageOptions:
    """How a document is loaded and its pages prepared: all a reading worker is told.

    Attributes:
        mode: ``auto`` (per page, the text layer where the page has real text, otherwise
            the image when the model can see, else OCR text), ``text``, ``vision`` or
            ``hybrid`` (text layer and image).
        vision: whether the model accepts images (decides ``auto``); set from the
            provider's capabilities for each job.
        ocr: read pages without a text layer with OCR when the model gets no image.
        dpi: render resolution before the size cap applies.
        max_side: long side of a sent image in pixels (Mistral downscales above ~1540).
        max_pixels: refuse a page or image larger than this many pixels.
        max_pages: refuse documents with more pages than this (after ``pages``).
        pages: a page range such as ``"1-3,5"``; None for all.
        min_text_chars: a text layer with fewer letters/digits counts as no text.
        max_bytes: refuse input files larger than this.
        password: for encrypted PDFs.
    """

    mode: Mode = "auto"
    vision: bool = True
    ocr: bool = True
    dpi: int = 150
    max_side: int = 1540
    max_pixels: int = 50_000_000
    max_pages: int = 500
    pages: str | None = None
    min_text_chars: int = 16
    max_bytes: int = 200 * 1024 * 1024
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        for name in ("dpi", "max_side", "max_pixels", "max_pages", "max_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.pages is not None:
            _check_page_range(self.pages)


def _check_page_range(spec: str) -> None:
    """Refuse a page range no document can satisfy (``a-b``, ``5-2``, ``0``) now, not as
    an error record for every document."""
    parts = [part for part in spec.replace(" ", "").split(",") if part]
    for part in parts:
        start, dash, end = part.partition("-")
        numbers = [text for text in (start, end) if text]
        if not (numbers or dash) or not all(text.isdigit() for text in numbers):
            raise ConfigError(f"pages: {part!r} is not a page range; use e.g. 1-3,5,8-")
        first = int(start) if start else 1
        last = int(end) if end else None
        if first < 1 or (last is not None and last < 1):
            raise ConfigError(f"pages: {part!r}: pages are numbered from 1")
        if dash and last is not None and last < first:
            raise ConfigError(f"pages: {part!r} ends before it starts")
    if not parts:
        raise ConfigError(f"pages: {spec!r} names no page; use e.g. 1-3,5,8-")


@dataclass(frozen=True)
class Settings:
    """How a job runs.

    Attributes:
        provider: a registered provider name (``openrouter``, ``mistral``, ``openai``,
            ``openai-compatible``, ``local`` or a plugin's), or None to choose from the
            environment.
        model: model id, or a ``.gguf`` path for ``local``.
        base_url: any OpenAI-compatible server (vLLM, Ollama, llama.cpp server …).
        api_key: overrides the provider's key variable. Never logged.
        vision: whether the model takes images; None leaves it to the provider (an
            OpenAI-compatible server is assumed to see; many vLLM/Ollama models do not).
        max_repairs: validation repairs after the first answer.
        concurrency: documents in flight at once (``extract_many``).
        sampling: temperature, top_p, seed, stop, max tokens, penalties.
        retry: the transport-retry budget and request timeout.
        reading: how documents are loaded and pages prepared (:class:`PageOptions`).
        local_n_ctx: context window of the embedded model.
        require_grounding: values that appear nowhere in the document go back to the
            model as repair feedback.
        document_timeout: seconds one document may take end to end (reading, calls,
            transport retries, repairs); None for no deadline.
        isolate: ``extract_many`` (and so the CLI) reads documents in worker processes
            with ``worker_memory`` bytes of address space and ``read_timeout`` seconds
            each, so a hostile PDF becomes an error record instead of taking the run
            down. A single ``extract`` call reads in-process.
        max_cost: a cap in USD on what a run (a job: with its earlier runs) may cost; no
            new document starts once the committed cost plus the estimate of those in
            flight would pass it, and the run ends with
            :class:`~extractor.budget.BudgetExceeded`. None: no cap.

    :meth:`with_options` takes the fields of ``sampling``, ``retry`` and ``reading`` flat
    (``temperature=0.2``, ``timeout=30``, ``dpi=200``, ``mode="text"``).
    """

    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    vision: bool | None = None
    max_repairs: int = 2
    concurrency: int = 4
    sampling: Sampling = field(default_factory=Sampling)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    reading: PageOptions = field(default_factory=PageOptions)
    local_n_ctx: int = 8192
    require_grounding: bool = False
    document_timeout: float | None = 900.0
    isolate: bool = True
    worker_memory: int | None = WORKER_MEMORY
    read_timeout: float | None = READ_TIMEOUT
    max_cost: float | None = None

    def __post_init__(self) -> None:
        if self.max_repairs < 0:
            raise ConfigError("max_repairs must be 0 or more")
        if self.concurrency < 1:
            raise ConfigError("concurrency must be at least 1")
        for name in ("document_timeout", "worker_memory", "read_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be positive (or None for no limit)")
        if self.max_cost is not None and self.max_cost < 0:
            raise ConfigError("max_cost must be 0 or more (or None for no cap)")

    @property
    def mode(self) -> Mode:
        """The input mode (``reading.mode``)."""
        return self.reading.mode

    def as_options(self, *, secrets: bool = False) -> dict[str, Any]:
        """The inverse of :meth:`with_options`: every field flat, so that
        ``Settings().with_options(**s.as_options(secrets=True)) == s``. Without
        ``secrets`` the API key and the PDF password are left out (for what is stored).

        Example:
            >>> Settings().with_options(dpi=200).as_options()["dpi"]
            200
        """
        flat: dict[str, Any] = {}
        for nested in (self.sampling, self.retry, self.reading):
            flat.update({f.name: getattr(nested, f.name) for f in fields(nested)})
        del flat["vision"]  # the reading's is set from the provider's for each job
        own = {f.name: getattr(self, f.name) for f in fields(self)}
        flat.update({k: v for k, v in own.items() if k not in ("sampling", "retry", "reading")})
        if not secrets:
            flat.pop("api_key")
            flat.pop("password")
        return flat

    def with_options(self, **options: Any) -> Settings:
        """A copy with ``options`` applied; the fields of nested options may be given flat.

        Example:
            >>> s = Settings().with_options(temperature=0.2, mode="text", retries=1)
            >>> s.sampling.temperature, s.reading.mode, s.retry.retries
            (0.2, 'text', 1)
        """
        nested = {"sampling": Sampling, "retry": RetryPolicy, "reading": PageOptions}
        own = {f.name for f in fields(self)}
        updates: dict[str, dict[str, Any]] = {name: {} for name in nested}
        for name, kind in nested.items():
            for option in ({f.name for f in fields(kind)} & set(options)) - own:
                updates[name][option] = options.pop(option)
        unknown = set(options) - own
        if unknown:
            raise ConfigError(f"unknown option(s): {', '.join(sorted(unknown))}")
        updated = replace(self, **options)
        for name, values in updates.items():
            if values:
                updated = replace(updated, **{name: replace(getattr(updated, name), **values)})
        return updated
