"""``extractor estimate``: what a run would send and cost, without calling the model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from extractor.cli import options as opt
from extractor.errors import ConfigError

__all__ = ["estimate_command"]

_JOB_OPTIONS = frozenset({
    "provider", "model", "base_url", "vision", "mode", "concurrency", "max_repairs", "pages",
    "dpi", "max_side", "ocr", "password", "max_pages", "max_pixels", "max_tokens",
})  # fmt: skip


def estimate_command(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (walked recursively).")],
    schema: Annotated[str, typer.Option("--schema", "-s", help="As for `extractor extract`.")],
    include: opt.Include = None,
    exclude: opt.Exclude = None,
    provider: opt.Provider = None,
    model: opt.Model = None,
    base_url: opt.BaseUrl = None,
    vision: opt.Vision = None,
    mode: opt.Mode = None,
    concurrency: opt.Concurrency = None,
    max_repairs: opt.MaxRepairs = None,
    pages: opt.PageRange = None,
    dpi: opt.Dpi = None,
    max_side: opt.MaxSide = None,
    ocr: opt.Ocr = None,
    password: opt.Password = None,
    max_pages: opt.MaxPages = None,
    max_pixels: opt.MaxPixels = None,
    max_tokens: opt.MaxTokens = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the estimate as JSON.")] = False,
) -> None:
    """Report what a run would send and cost, without calling the model.

    The documents are read as a run reads them: pages (text, OCR and image pages as they
    would be sent), requests, input tokens, and a cost range for the model from the
    price table.

    The low end is one answer per request; the high end spends every repair.

    Examples:

        extractor estimate invoices/ -s invoice --provider mistral

        extractor estimate scans/ -s receipt --model gpt-4.1-mini --provider openai --json
    """
    import orjson
    from rich.console import Console

    console = Console(soft_wrap=True)
    given = {k: v for k, v in locals().items() if k in _JOB_OPTIONS and v is not None}
    try:
        from extractor.estimate import estimate

        spec, settings, job_provider, sources = opt.open_job(
            schema, paths, include, exclude, **given
        )
        report = estimate(sources, spec, job_provider, settings).as_dict()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return
    from rich.table import Table

    table = Table(title=f"estimate for {report['provider']} {report['model']}", show_header=False)
    for key in ("documents", "unreadable", "pages", "text_pages", "ocr_pages", "image_pages",
                "requests", "input_tokens", "output_tokens", "output_tokens_high"):  # fmt: skip
        table.add_row(key.replace("_", " "), f"{report[key]:,}")
    for key, label in (("cost_usd", "cost (USD)"), ("batch_cost_usd", "batch cost (USD)")):
        cost = report[key]
        table.add_row(label, "unknown model price" if cost is None
                      else f"{cost['low']:.4f} – {cost['high']:.4f}")  # fmt: skip
    console.print(table)
