"""Settings: everything a job can be told, in one frozen object.

``None`` means "look at the environment, then use the default". Precedence is always
argument > ``EXTRACTOR_*`` / provider key variables > default. The API key is never
shown in ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from extractor.errors import ConfigError
from extractor.pages import Mode, PageOptions
from extractor.providers import RetryPolicy, Sampling

__all__ = ["Settings"]

_MODES = ("auto", "text", "vision", "hybrid")


@dataclass(frozen=True)
class Settings:
    """How a job runs.

    Attributes:
        provider: ``openrouter``, ``mistral``, ``openai``, ``openai-compatible``, ``local``,
            or None to choose from the environment.
        model: model id, or a ``.gguf`` path for ``local``.
        base_url: any OpenAI-compatible server (vLLM, Ollama, llama.cpp server …).
        api_key: overrides the provider's key variable. Never logged.
        mode: ``auto``, ``text``, ``vision`` or ``hybrid`` (see :mod:`extractor.pages`).
        max_repairs: validation repairs after the first answer.
        concurrency: documents in flight at once (``extract_many``).
        sampling: temperature, top_p, seed, stop, max tokens, penalties.
        retry: the transport-retry budget and request timeout.
        dpi, max_side, max_pixels, max_pages, pages, ocr, password: page preparation.
        max_bytes: refuse larger input files.
        local_n_ctx: context window of the embedded model.
        require_grounding: values that appear nowhere in the document go back to the
            model as repair feedback.
        document_timeout: seconds one document may take end to end (reading, calls,
            transport retries, repairs); None for no deadline.
        isolate: ``extract_many`` (and so the CLI) reads documents in worker processes
            with ``worker_memory`` bytes of address space and ``read_timeout`` seconds
            each, so a hostile PDF becomes an error record instead of taking the run
            down. A single ``extract`` call reads in-process.
    """

    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    mode: Mode = "auto"
    max_repairs: int = 2
    concurrency: int = 4
    sampling: Sampling = field(default_factory=Sampling)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    dpi: int = 150
    max_side: int = 1540
    max_pixels: int = 50_000_000
    max_pages: int = 500
    pages: str | None = None
    ocr: bool = True
    password: str | None = field(default=None, repr=False)
    max_bytes: int = 200 * 1024 * 1024
    local_n_ctx: int = 8192
    require_grounding: bool = False
    document_timeout: float | None = 900.0
    isolate: bool = True
    worker_memory: int | None = 2 << 30
    read_timeout: float | None = 60.0

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ConfigError(f"mode must be one of {', '.join(_MODES)}, not {self.mode!r}")
        if self.max_repairs < 0:
            raise ConfigError("max_repairs must be 0 or more")
        if self.concurrency < 1:
            raise ConfigError("concurrency must be at least 1")
        for name in ("document_timeout", "worker_memory", "read_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be positive (or None for no limit)")

    def with_options(self, **options: Any) -> Settings:
        """A copy with ``options`` applied; sampling fields may be given flat.

        Example:
            >>> Settings().with_options(temperature=0.2, mode="text").sampling.temperature
            0.2
        """
        names = {f.name for f in fields(self)}
        sampling_names = {f.name for f in fields(Sampling)}
        sampling = {k: options.pop(k) for k in list(options) if k in sampling_names}
        unknown = set(options) - names
        if unknown:
            raise ConfigError(f"unknown option(s): {', '.join(sorted(unknown))}")
        updated = replace(self, **options)
        if sampling:
            updated = replace(updated, sampling=replace(updated.sampling, **sampling))
        return updated

    def page_options(self, *, vision: bool) -> PageOptions:
        return PageOptions(
            mode=self.mode,
            vision=vision,
            ocr=self.ocr,
            dpi=self.dpi,
            max_side=self.max_side,
            max_pixels=self.max_pixels,
            max_pages=self.max_pages,
            pages=self.pages,
            password=self.password,
        )
