"""``extractor schema``, ``preview`` and ``doctor``: see what a job would do before running it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from extractor import ocr
from extractor.errors import ConfigError, ExtractorError
from extractor.prompt import estimate_tokens, split_pages
from extractor.providers import choose
from extractor.providers import local as local_engine
from extractor.providers.openai_compat import PROFILES
from extractor.reading import prepare
from extractor.schema import load_schema
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
    mode: Annotated[str, typer.Option(help="auto, text, vision or hybrid.")] = "auto",
    vision: Annotated[
        bool,
        typer.Option(
            "--vision/--no-vision",
            help="Whether the model can see images (the embedded one cannot).",
        ),
    ] = True,
    pages: Annotated[str | None, typer.Option(help="Page range such as 1-3,5.")] = None,
    dpi: Annotated[int, typer.Option(min=36, max=600)] = 150,
    max_images: Annotated[int, typer.Option(help="Images one request may carry.")] = 8,
    chars: Annotated[int, typer.Option(help="Characters of text to show per page.")] = 600,
) -> None:
    """Show what the model would receive: text per page, image sizes, estimated tokens.

    Examples:

        extractor preview fixtures/invoice.pdf

        extractor preview fixtures/scan.png --no-vision     # OCR text, as the local model gets it
    """
    console = Console()
    settings = Settings(mode=mode, pages=pages, dpi=dpi)  # type: ignore[arg-type]
    try:
        document, page_list = prepare(file, settings, vision=vision)
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
    console = Console()
    table = Table(title="providers")
    table.add_column("provider")
    table.add_column("configured")
    table.add_column("default model")
    for name, profile in PROFILES.items():
        key = profile.key_env
        configured = (
            "yes" if key and os.environ.get(key) else (f"set {key}" if key else "--base-url")
        )
        table.add_row(name, configured, profile.default_model or "—")
    model_path = local_engine.default_model_path()
    engine = "installed" if local_engine.available() else "missing: pip install 'extractor[local]'"
    table.add_row("local", engine, str(model_path) if model_path else "—")
    console.print(table)
    console.print(f"OCR (rapidocr): {'installed' if ocr.available() else 'missing'}")
    try:
        choice = choose()
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    model = choice.model or (local_engine.DEFAULT_MODEL_NAME if choice.name == "local" else "?")
    console.print(f"A job would use [bold]{choice.name}[/bold] with {model} ({choice.reason}).",
                  highlight=False)  # fmt: skip
