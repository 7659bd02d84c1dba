"""``extractor serve``: the HTTP API and the review page, over one provider."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from extractor.cli import options as opt
from extractor.errors import ConfigError

__all__ = ["serve_command"]

_SERVICE_PANEL = "Service"
_MIB = 1 << 20


def serve_command(
    host: Annotated[
        str, typer.Option(help="Interface to listen on.", rich_help_panel=_SERVICE_PANEL)
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(help="Port to listen on.", min=0, max=65535, rich_help_panel=_SERVICE_PANEL),
    ] = 8000,
    data: Annotated[
        Path,
        typer.Option(
            help="Folder for uploads, job records and corrections; "
            "jobs resume from it after a restart.",
            rich_help_panel=_SERVICE_PANEL,
        ),
    ] = Path("data"),
    max_upload_mb: Annotated[
        float,
        typer.Option(
            help="Largest file one upload may carry (413 beyond).",
            min=0.001,
            rich_help_panel=_SERVICE_PANEL,
        ),
    ] = 50.0,
    max_files_per_job: Annotated[
        int,
        typer.Option(help="Files in one job (413 beyond).", min=1, rich_help_panel=_SERVICE_PANEL),
    ] = 1000,
    queue_limit: Annotated[
        int,
        typer.Option(
            help="Documents waiting for a slot, all jobs together; past it, 503 with Retry-After.",
            min=1,
            rich_help_panel=_SERVICE_PANEL,
        ),
    ] = 10_000,
    provider: opt.Provider = None,
    model: opt.Model = None,
    base_url: opt.BaseUrl = None,
    vision: opt.Vision = None,
    mode: opt.Mode = None,
    concurrency: opt.Concurrency = None,
    max_repairs: opt.MaxRepairs = None,
    retries: opt.Retries = None,
    timeout: opt.Timeout = None,
    pages: opt.PageRange = None,
    dpi: opt.Dpi = None,
    max_side: opt.MaxSide = None,
    ocr: opt.Ocr = None,
    password: opt.Password = None,
    max_file_mb: opt.MaxFileMb = None,
    max_pages: opt.MaxPages = None,
    max_pixels: opt.MaxPixels = None,
    worker_memory_mb: opt.WorkerMemoryMb = None,
    read_timeout: opt.ReadTimeout = None,
    document_timeout: opt.DocumentTimeout = None,
    temperature: opt.Temperature = None,
    top_p: opt.TopP = None,
    seed: opt.Seed = None,
    max_tokens: opt.MaxTokens = None,
    stop: opt.Stop = None,
    frequency_penalty: opt.FrequencyPenalty = None,
    presence_penalty: opt.PresencePenalty = None,
    require_grounding: opt.RequireGrounding = None,
) -> None:
    """Serve the HTTP API (/v1) and the review page (/review) on HOST:PORT.

    Set EXTRACTOR_API_TOKENS=token1,token2 to require "Authorization: Bearer <token>";
    without tokens the server listens only on a loopback address. Documents are read in
    isolated worker processes, as by `extractor extract`. The API is described at
    /docs and /openapi.json.

    Examples:

        extractor serve --data /srv/extractor

        EXTRACTOR_API_TOKENS=s3cret extractor serve --host 0.0.0.0 --port 8080

        extractor serve --base-url http://localhost:11434/v1 --model qwen2.5vl
    """
    from rich.console import Console

    console = Console(stderr=True, soft_wrap=True)
    given = {k: v for k, v in locals().items() if k in _JOB_OPTIONS}
    try:
        from extractor.service.config import TOKENS_VARIABLE, ServiceConfig, tokens_from

        settings = opt.job_settings(isolate=True, **given)
        config = ServiceConfig(
            data=data, settings=settings, tokens=tokens_from(os.environ.get(TOKENS_VARIABLE)),
            host=host, max_upload_bytes=int(max_upload_mb * _MIB),
            max_files_per_job=max_files_per_job, queue_limit=queue_limit,
        )  # fmt: skip
        from extractor.api import choose_provider

        choice = choose_provider(settings)  # a wrong provider or a missing key fails here
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except ImportError as exc:
        console.print(f"[red]error:[/red] {exc.name} is missing: install the service extra "
                      "(pip install 'extractor[service]')", highlight=False)  # fmt: skip
        raise typer.Exit(2) from None
    console.print(f"Serving on http://{host}:{port} with {choice.name} ({choice.reason}); "
                  f"data in {data}.", highlight=False)  # fmt: skip
    _serve(config, host, port)


_JOB_OPTIONS = frozenset({
    "provider", "model", "base_url", "vision", "mode", "concurrency", "max_repairs",
    "retries", "timeout", "pages", "dpi", "max_side", "ocr", "password", "max_file_mb",
    "max_pages", "max_pixels", "worker_memory_mb", "read_timeout", "document_timeout",
    "temperature", "top_p", "seed", "max_tokens", "stop", "frequency_penalty",
    "presence_penalty", "require_grounding",
})  # fmt: skip


def _serve(config: object, host: str, port: int) -> None:
    import uvicorn

    from extractor.service.app import create_app
    from extractor.service.config import ServiceConfig

    assert isinstance(config, ServiceConfig)
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning",
                server_header=False, timeout_graceful_shutdown=10)  # fmt: skip
