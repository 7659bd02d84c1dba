"""``extractor schema``, ``preview`` and ``doctor``: see what a job would do before running it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from extractor.cli import options as opt
from extractor.errors import ConfigError, ExtractorError

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
    groups = split_pages(page_list, max_images=max_images, max_tokens=100_000)
    console.rule()
    console.print(f"~{total:,} tokens in {len(groups)} request(s)")


def doctor_command() -> None:
    """Report which providers are configured and what a job would use.

    Example:

        OPENROUTER_API_KEY=… extractor doctor
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
        choice = choose()
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    model = choice.model or (local_engine.DEFAULT_MODEL_NAME if choice.name == "local" else "?")
    console.print(f"A job would use [bold]{choice.name}[/bold] with {model} ({choice.reason}).",
                  highlight=False)  # fmt: skip
