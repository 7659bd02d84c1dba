"""The options every job command shares (``extract``, ``serve``, ``batch`` …), declared once.

Each option defaults to None, meaning "not given": :func:`job_settings` applies only the
given ones over :class:`~extractor.settings.Settings`, so every default is written in one
place (settings.py) and merely quoted in the help text. Importing this module costs only
typer and the settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from extractor.settings import MODES, Settings

if TYPE_CHECKING:
    from extractor.providers import Provider as OpenProvider  # `Provider` is the option
    from extractor.schema import SchemaSpec

__all__ = [
    "BaseUrl",
    "Concurrency",
    "DocumentTimeout",
    "Dpi",
    "Engine",
    "Examples",
    "Exclude",
    "FrequencyPenalty",
    "Include",
    "Instructions",
    "Isolate",
    "MaxCost",
    "MaxFileMb",
    "MaxPages",
    "MaxPixels",
    "MaxRepairs",
    "MaxSide",
    "MaxTokens",
    "Mode",
    "Model",
    "Ocr",
    "PageRange",
    "Password",
    "PresencePenalty",
    "Provider",
    "RayAddress",
    "ReadTimeout",
    "RequireGrounding",
    "Retries",
    "Seed",
    "Stop",
    "Temperature",
    "Timeout",
    "TopP",
    "Vision",
    "WorkerMemoryMb",
    "instructions_text",
    "job_settings",
]

_D = Settings()
_MIB = 1 << 20
MODEL_PANEL = "Model and provider"
PROMPT_PANEL = "Prompt"
PAGES_PANEL = "Pages"
SAMPLING_PANEL = "Sampling"
LIMITS_PANEL = "Limits (hostile and huge inputs)"


def _opt(help: str, panel: str | None = None, *names: str, **extra: Any) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=panel, show_default=False, **extra)


Provider = Annotated[
    str | None,
    _opt("openrouter, mistral, openai, openai-compatible, local, or a plugin's name.",
         MODEL_PANEL, envvar="EXTRACTOR_PROVIDER"),
]  # fmt: skip
Model = Annotated[
    str | None,
    _opt("Model id, or a .gguf path for local.", MODEL_PANEL, envvar="EXTRACTOR_MODEL"),
]
BaseUrl = Annotated[
    str | None,
    _opt("Any OpenAI-compatible server, e.g. http://localhost:8000/v1.", MODEL_PANEL,
         envvar="EXTRACTOR_BASE_URL"),
]  # fmt: skip
Vision = Annotated[
    bool | None,
    _opt("Whether the model takes images (default: the provider's word; a --base-url "
         "server is assumed to see). --no-vision sends OCR text instead of page images.",
         MODEL_PANEL, "--vision/--no-vision"),
]  # fmt: skip
Mode = Annotated[
    str | None,
    _opt(f"{', '.join(MODES)} (default {_D.reading.mode}: the text layer where there is "
         "one, else the image or OCR).", PAGES_PANEL),
]  # fmt: skip
Concurrency = Annotated[
    int | None, _opt(f"Documents in flight at once (default {_D.concurrency}).", min=1)
]
MaxRepairs = Annotated[
    int | None,
    _opt(f"Validation repairs after the first answer (default {_D.max_repairs}).", min=0),
]
Retries = Annotated[
    int | None,
    _opt(f"Transport retries per request: 429, 5xx, timeouts (default {_D.retry.retries}).",
         min=0),
]  # fmt: skip
Timeout = Annotated[
    float | None, _opt(f"Seconds per request (default {_D.retry.timeout:g}).", min=1)
]
PageRange = Annotated[
    str | None, _opt("Page range such as 1-3,5 (default: all).", PAGES_PANEL, "--pages")
]
Dpi = Annotated[
    int | None,
    _opt(f"Render resolution for page images (default {_D.reading.dpi}).", PAGES_PANEL,
         min=36, max=600),
]  # fmt: skip
MaxSide = Annotated[
    int | None,
    _opt(f"Long side of sent images in pixels (default {_D.reading.max_side}).", PAGES_PANEL,
         min=256),
]  # fmt: skip
Ocr = Annotated[
    bool | None,
    _opt("OCR pages without a text layer when the model gets no image (default: on).",
         PAGES_PANEL, "--ocr/--no-ocr"),
]  # fmt: skip
Password = Annotated[
    str | None,
    _opt("Password for encrypted PDFs.", PAGES_PANEL, envvar="EXTRACTOR_PDF_PASSWORD"),
]
MaxFileMb = Annotated[
    float | None,
    _opt(f"Refuse larger input files (default {_D.reading.max_bytes // _MIB} MB).",
         LIMITS_PANEL, min=0.001),
]  # fmt: skip
MaxPages = Annotated[
    int | None,
    _opt(f"Refuse documents with more pages (default {_D.reading.max_pages}).", LIMITS_PANEL,
         min=1),
]  # fmt: skip
MaxPixels = Annotated[
    int | None,
    _opt(f"Refuse a page or image larger than this many pixels "
         f"(default {_D.reading.max_pixels:,}).", LIMITS_PANEL, min=1),
]  # fmt: skip
Isolate = Annotated[
    bool | None,
    _opt("Read documents in worker processes with a memory and a time limit (default: on).",
         LIMITS_PANEL, "--isolate/--no-isolate"),
]  # fmt: skip
WorkerMemoryMb = Annotated[
    int | None,
    _opt(f"Address space of each reading worker "
         f"(default {(_D.worker_memory or 0) // _MIB} MB).", LIMITS_PANEL, min=64),
]  # fmt: skip
ReadTimeout = Annotated[
    float | None,
    _opt(f"Seconds a worker may spend reading one document (default {_D.read_timeout:g}).",
         LIMITS_PANEL, min=0.1),
]  # fmt: skip
DocumentTimeout = Annotated[
    float | None,
    _opt(f"Seconds one document may take end to end: calls, retries, repairs "
         f"(default {_D.document_timeout:g}).", LIMITS_PANEL, min=1),
]  # fmt: skip
Temperature = Annotated[
    float | None, _opt(f"(default {_D.sampling.temperature:g})", SAMPLING_PANEL)
]
TopP = Annotated[float | None, _opt("(default: the provider's)", SAMPLING_PANEL)]
Seed = Annotated[int | None, _opt("(default: none)", SAMPLING_PANEL)]
MaxTokens = Annotated[
    int | None, _opt(f"Answer token limit (default {_D.sampling.max_tokens}).", SAMPLING_PANEL)
]
Stop = Annotated[list[str] | None, _opt("Stop sequence (repeatable).", SAMPLING_PANEL)]
FrequencyPenalty = Annotated[float | None, _opt("(default: the provider's)", SAMPLING_PANEL)]
PresencePenalty = Annotated[float | None, _opt("(default: the provider's)", SAMPLING_PANEL)]
RequireGrounding = Annotated[
    bool | None,
    _opt("Send values that appear nowhere in the document back to the model as repairs.",
         None, "--require-grounding/--no-require-grounding"),
]  # fmt: skip

Include = Annotated[
    list[str] | None,
    typer.Option(help="Glob of files to take from folders (repeatable; default: PDFs and "
                 "images; '*.txt' takes text files too)."),
]  # fmt: skip
Exclude = Annotated[
    list[str] | None, typer.Option(help="Glob of files to skip in folders (repeatable).")
]

MaxCost = Annotated[
    float | None,
    _opt("Stop starting documents once the job's committed cost plus the estimate of "
         "those in flight would pass this many USD (exit code 3; rerun with a higher cap "
         "to go on). Default: no cap.", None, "--max-cost", min=0),
]  # fmt: skip
Engine = Annotated[
    str,
    _opt("local (this process) or ray (a Ray cluster: pip install 'extractor[ray]').", None,
         "--engine"),
]  # fmt: skip
RayAddress = Annotated[
    str | None,
    _opt("With --engine ray: the cluster to join (ray://host:10001, auto); default: a "
         "local Ray instance.", None, "--ray-address", envvar="RAY_ADDRESS"),
]  # fmt: skip


Instructions = Annotated[
    str | None,
    _opt("Extra guidance for the model, added to the system prompt: TEXT, or @FILE to "
         "read it from a file. Part of the job (a change starts another job).",
         PROMPT_PANEL, "--instructions"),
]  # fmt: skip
Examples = Annotated[
    Path | None,
    _opt("Folder of worked examples: each document with its right answer beside it as "
         "JSON (a.pdf + a.json), sent before every document. Part of the job.",
         PROMPT_PANEL, "--examples"),
]  # fmt: skip


def instructions_text(value: str | None) -> str | None:
    """``--instructions`` as text: the value, or the contents of the file after ``@``.

    Raises:
        ConfigError: the file cannot be read, or the text is empty.
    """
    from extractor.errors import ConfigError

    if value is None:
        return None
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--instructions {value}: cannot read it: {exc}") from None
    if not text.strip():
        raise ConfigError("--instructions is empty")
    return text


def job_settings(**given: Any) -> Settings:
    """Settings from the options a command was given (None = not given), in their units.

    Raises:
        ConfigError: a value the settings refuse (an unknown mode …).
    """
    values = {name: value for name, value in given.items() if value is not None}
    if "max_file_mb" in values:
        values["max_bytes"] = int(values.pop("max_file_mb") * _MIB)
    if "worker_memory_mb" in values:
        values["worker_memory"] = values.pop("worker_memory_mb") * _MIB
    if "stop" in values:
        values["stop"] = tuple(values["stop"]) or None
    return Settings().with_options(**values)


def open_job(
    schema: str,
    paths: list[Path],
    include: list[str] | None,
    exclude: list[str] | None,
    **given: Any,
) -> tuple[SchemaSpec, Settings, OpenProvider, list[Path]]:
    """What a planning command (``estimate``, ``batch submit``) works on: the schema, the
    settings from its options, the provider they choose and the files of ``paths``.

    Raises:
        ConfigError: an unknown schema, a value the settings refuse.
    """
    from extractor.api import open_job_provider
    from extractor.schema import load_schema
    from extractor.sources import DEFAULT_INCLUDE, iter_sources

    spec = load_schema(schema)
    settings = job_settings(**given)
    sources = list(iter_sources(paths, include=include or DEFAULT_INCLUDE, exclude=exclude or ()))
    return spec, settings, open_job_provider(settings), sources
