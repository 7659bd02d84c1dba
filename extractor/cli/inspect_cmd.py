"""``extractor schema``, ``preview`` and ``doctor``: see what a job would do before running it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from extractor.cli import options as opt
from extractor.errors import ConfigError, ExtractorError

if TYPE_CHECKING:
    from rich.console import Console

    from extractor.settings import Settings

__all__ = ["doctor_command", "preview_command", "schema_command"]


def schema_command(
    schema: Annotated[
        str,
        typer.Argument(help="invoice, receipt, form, FILE.py:Class, module:Class or FILE.json."),
    ],
) -> None:
    """Print the response_format exactly as it is sent to the provider.

    Examples:

        extractor schema invoice

        extractor schema my_schemas.py:PurchaseOrder > po.schema.json
    """
    import orjson
    from rich.console import Console

    from extractor.schema import load_schema

    try:
        spec = load_schema(schema)
    except ConfigError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": spec.name, "strict": True, "schema": spec.json_schema},
    }
    typer.echo(orjson.dumps(response_format, option=orjson.OPT_INDENT_2).decode())


def preview_command(
    file: Annotated[Path, typer.Argument(help="A PDF, image or text file.")],
    mode: opt.Mode = None,
    vision: Annotated[
        bool,
        typer.Option(
            "--vision/--no-vision",
            help="Whether the model can see images (the embedded one cannot).",
        ),
    ] = True,
    pages: opt.PageRange = None,
    dpi: opt.Dpi = None,
    ocr: opt.Ocr = None,
    password: opt.Password = None,
    max_images: Annotated[int, typer.Option(help="Images one request may carry.")] = 8,
    chars: Annotated[int, typer.Option(help="Characters of text to show per page.")] = 600,
) -> None:
    """Show what the model would receive: text per page, image sizes, estimated tokens.

    Examples:

        extractor preview fixtures/invoice.pdf

        extractor preview fixtures/scan.png --no-vision     # OCR text, as the local model gets it
    """
    from dataclasses import replace

    from rich.console import Console

    from extractor.forms import render_fields
    from extractor.prompt import estimate_tokens, split_pages
    from extractor.reading import prepare

    console = Console()
    try:
        settings = opt.job_settings(mode=mode, pages=pages, dpi=dpi, ocr=ocr, password=password)
        document, page_list = prepare(file, replace(settings.reading, vision=vision))
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except ExtractorError as exc:
        console.print(f"[red]{exc.code}:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"[bold]{document.source}[/bold] {document.media_type}, {document.size:,} bytes, "
                  f"sha256 {document.sha256[:16]}…", highlight=False)  # fmt: skip
    total = 0
    for page in page_list:
        tokens = estimate_tokens(page)
        total += tokens
        image = f", image {page.image.width}×{page.image.height}" if page.image else ""
        console.rule(f"page {page.number}: text from {page.text_source}{image}, ~{tokens:,} tokens")
        for warning in page.warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
        if page.text:
            shown = page.text.strip()
            console.print(
                shown[:chars] + ("…" if len(shown) > chars else ""), highlight=False, markup=False
            )
        form = render_fields(page.fields)  # whole: every value the model is sent
        if form:
            console.print(form, highlight=False, markup=False)
    groups = split_pages(page_list, max_images=max_images, max_tokens=100_000)
    console.rule()
    console.print(f"~{total:,} tokens in {len(groups)} request(s)")


def doctor_command(
    provider: opt.Provider = None,
    model: opt.Model = None,
    base_url: opt.BaseUrl = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Send one tiny request (a few dozen tokens) to the provider a job would "
            "use, and report the model served, structured-output support and latency.",
        ),
    ] = False,
) -> None:
    """Report which providers are configured and what a job would use.

    With --check, also send one tiny request and say what came back (exit 1 when the
    provider failed or ignored the JSON schema, 2 when it refused the key).

    Examples:

        OPENROUTER_API_KEY=… extractor doctor

        extractor doctor --check --base-url http://localhost:11434/v1 --model qwen2.5vl
    """
    import os

    from rich.console import Console
    from rich.table import Table

    from extractor import ocr
    from extractor.providers import choose, registered
    from extractor.providers import local as local_engine
    from extractor.providers.registry import broken_plugins

    console = Console()
    table = Table(title="providers")
    for column in ("provider", "configured", "default model", "what it is"):
        table.add_column(column)
    for name, info in registered().items():
        if name == "local":
            path = local_engine.default_model_path()
            configured = (
                "installed"
                if local_engine.available()
                else "missing: pip install 'extractor[local]'"
            )
            table.add_row(name, configured, path.name if path else "—", info.description)
            continue
        key = info.key_env
        configured = (
            "yes" if key and os.environ.get(key) else (f"set {key}" if key else "--base-url")
        )
        table.add_row(name, configured, info.default_model or "—", info.description)
    console.print(table)
    for name, why in broken_plugins().items():
        console.print(f"[yellow]plugin {name}:[/yellow] {why}", highlight=False)
    console.print(f"OCR (rapidocr): {'installed' if ocr.available() else 'missing'}")
    try:
        settings = opt.job_settings(provider=provider, model=model, base_url=base_url)
        choice = choose(settings.provider, model=settings.model, base_url=settings.base_url)
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    name = choice.model or (local_engine.DEFAULT_MODEL_NAME if choice.name == "local" else "?")
    console.print(f"A job would use [bold]{choice.name}[/bold] with {name} ({choice.reason}).",
                  highlight=False)  # fmt: skip
    if check:
        _check(console, settings)


def _check(console: Console, settings: Settings) -> None:
    from extractor.cli.probe import probe

    try:
        found = probe(settings)
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    where = f" at {found.base_url}" if found.base_url else ""
    usage = found.completion.usage if found.completion else None
    tokens = ""
    if usage is not None:
        tokens = f" ({usage.prompt_tokens} prompt + {usage.completion_tokens} answer tokens)"
    style = {"yes": "green", "no": "red"}.get(found.structured, "yellow")
    console.print(f"check: one request to {found.provider}{where} for {found.model}",
                  highlight=False)  # fmt: skip
    console.print(f"  model served: {found.served or '—'}", highlight=False)
    console.print(f"  structured output: [{style}]{found.structured}[/{style}] ({found.detail})",
                  highlight=False)  # fmt: skip
    console.print(f"  latency: {found.latency_s * 1000:,.0f} ms{tokens}", highlight=False)
    if found.auth_failed:
        raise typer.Exit(2)
    if found.structured != "yes":
        raise typer.Exit(1)
