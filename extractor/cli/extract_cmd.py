"""``extractor extract``: a folder (or files) in, one record per document out."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from extractor.api import extract_many, open_job_provider
from extractor.cli.eval_cmd import show_report
from extractor.errors import AuthError, ConfigError, ProviderError
from extractor.evaluate import load_truth, score
from extractor.export import FORMATS, json_safe, write_atomic
from extractor.jobs import JobSummary, run_job
from extractor.providers import RetryPolicy, Sampling, choose
from extractor.result import Result
from extractor.schema import load_schema
from extractor.settings import Settings
from extractor.sources import DEFAULT_INCLUDE, iter_sources

__all__ = ["extract_command"]

_PANEL_MODEL = "Model and provider"
_PANEL_PAGES = "Pages"
_PANEL_SAMPLING = "Sampling"
_PANEL_LIMITS = "Limits (hostile and huge inputs)"
_MIB = 1 << 20


def extract_command(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (walked recursively).")],
    schema: Annotated[
        str,
        typer.Option(
            "--schema",
            "-s",
            help="invoice, receipt, form, FILE.py:Class, module:Class or FILE.json.",
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output file; '-' writes JSONL to stdout.")
    ] = Path("out/results.jsonl"),
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="jsonl, json or csv (csv also writes OUT.<list>.csv per list of objects).",
        ),
    ] = "jsonl",
    provider: Annotated[
        str | None,
        typer.Option(
            help="openrouter, mistral, openai, openai-compatible or local.",
            envvar="EXTRACTOR_PROVIDER",
            rich_help_panel=_PANEL_MODEL,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model id, or a .gguf path for local.",
            envvar="EXTRACTOR_MODEL",
            rich_help_panel=_PANEL_MODEL,
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            help="Any OpenAI-compatible server, e.g. http://localhost:8000/v1.",
            envvar="EXTRACTOR_BASE_URL",
            rich_help_panel=_PANEL_MODEL,
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            help="auto (text layer where there is one, else image/OCR), text, vision or hybrid.",
            rich_help_panel=_PANEL_PAGES,
        ),
    ] = "auto",
    concurrency: Annotated[int, typer.Option(min=1, help="Documents in flight at once.")] = 4,
    max_repairs: Annotated[
        int, typer.Option(min=0, help="Validation repairs after the first answer.")
    ] = 2,
    retries: Annotated[
        int, typer.Option(min=0, help="Transport retries per request (429, 5xx, timeouts).")
    ] = 4,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds per request.")] = 120.0,
    pages: Annotated[
        str | None,
        typer.Option(help="Page range such as 1-3,5 (default: all).", rich_help_panel=_PANEL_PAGES),
    ] = None,
    dpi: Annotated[
        int,
        typer.Option(
            min=36, max=600, help="Render resolution for page images.", rich_help_panel=_PANEL_PAGES
        ),
    ] = 150,
    max_side: Annotated[
        int,
        typer.Option(
            min=256, help="Long side of sent images in pixels.", rich_help_panel=_PANEL_PAGES
        ),
    ] = 1540,
    ocr: Annotated[
        bool,
        typer.Option(
            "--ocr/--no-ocr",
            help="OCR pages without a text layer when the model gets no image.",
            rich_help_panel=_PANEL_PAGES,
        ),
    ] = True,
    password: Annotated[
        str | None,
        typer.Option(
            help="Password for encrypted PDFs.",
            envvar="EXTRACTOR_PDF_PASSWORD",
            rich_help_panel=_PANEL_PAGES,
        ),
    ] = None,
    max_file_mb: Annotated[
        float,
        typer.Option(min=0.001, help="Refuse larger input files.", rich_help_panel=_PANEL_LIMITS),
    ] = 200,
    max_pages: Annotated[
        int,
        typer.Option(
            min=1, help="Refuse documents with more pages.", rich_help_panel=_PANEL_LIMITS
        ),
    ] = 500,
    max_pixels: Annotated[
        int,
        typer.Option(
            min=1,
            help="Refuse a page or image larger than this many pixels.",
            rich_help_panel=_PANEL_LIMITS,
        ),
    ] = 50_000_000,
    isolate: Annotated[
        bool,
        typer.Option(
            "--isolate/--no-isolate",
            help="Read documents in worker processes with a memory and a time limit.",
            rich_help_panel=_PANEL_LIMITS,
        ),
    ] = True,
    worker_memory_mb: Annotated[
        int,
        typer.Option(
            min=64, help="Address space of each reading worker.", rich_help_panel=_PANEL_LIMITS
        ),
    ] = 2048,
    read_timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Seconds a worker may spend reading one document.",
            rich_help_panel=_PANEL_LIMITS,
        ),
    ] = 60.0,
    document_timeout: Annotated[
        float,
        typer.Option(
            min=1,
            help="Seconds one document may take end to end (calls, retries, repairs).",
            rich_help_panel=_PANEL_LIMITS,
        ),
    ] = 900.0,
    include: Annotated[
        list[str] | None, typer.Option(help="Glob of files to take from folders (repeatable).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="Glob of files to skip in folders (repeatable).")
    ] = None,
    temperature: Annotated[float | None, typer.Option(rich_help_panel=_PANEL_SAMPLING)] = 0.0,
    top_p: Annotated[float | None, typer.Option(rich_help_panel=_PANEL_SAMPLING)] = None,
    seed: Annotated[int | None, typer.Option(rich_help_panel=_PANEL_SAMPLING)] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Answer token limit.", rich_help_panel=_PANEL_SAMPLING)
    ] = 4096,
    stop: Annotated[
        list[str] | None,
        typer.Option(help="Stop sequence (repeatable).", rich_help_panel=_PANEL_SAMPLING),
    ] = None,
    frequency_penalty: Annotated[
        float | None, typer.Option(rich_help_panel=_PANEL_SAMPLING)
    ] = None,
    presence_penalty: Annotated[float | None, typer.Option(rich_help_panel=_PANEL_SAMPLING)] = None,
    require_grounding: Annotated[
        bool,
        typer.Option(
            "--require-grounding",
            help="Send values that appear nowhere in the document back to the model as repairs.",
        ),
    ] = False,
    truth: Annotated[
        Path | None,
        typer.Option(
            "--truth",
            help="Score the records against truth files (<stem>.json) after the run, "
            "as `extractor eval --skip-missing` does; the report goes to OUT.eval.json.",
            exists=True,
        ),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Discard the records an earlier run committed to this output; start over.",
        ),
    ] = False,
    retry_failed: Annotated[
        bool,
        typer.Option("--retry-failed", help="Redo documents whose committed record is an error."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")
    ] = False,
) -> None:
    """Extract SCHEMA from every document under PATH... and write one record per document.

    Each record is committed to OUT.db as it finishes; running the same command again
    resumes (finished documents are skipped without calling the model) and the export is
    rewritten from all committed records.

    Exit code 0 when every document succeeded, 1 when some failed, 2 on a usage error
    or a key the provider refuses.

    Examples:

        extractor extract fixtures/ --schema invoice

        extractor extract invoices/ -s invoice -o out.csv -f csv --concurrency 16

        extractor extract scans/ -s receipt --base-url http://localhost:11434/v1 --model qwen2.5vl

        extractor extract docs/ -s my_schemas.py:PurchaseOrder --include '*.pdf' --pages 1-2

        extractor extract ../shared/eval/receipts -s receipt --truth ../shared/eval/receipts
    """
    console = Console(stderr=True, quiet=quiet)
    if fmt not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    try:
        spec = load_schema(schema)
        settings = Settings(
            provider=provider, model=model, base_url=base_url, mode=mode,  # type: ignore[arg-type]
            max_repairs=max_repairs, concurrency=concurrency, pages=pages, dpi=dpi,
            max_side=max_side, ocr=ocr, password=password,
            retry=RetryPolicy(retries=retries, timeout=timeout),
            require_grounding=require_grounding, max_bytes=int(max_file_mb * _MIB),
            max_pages=max_pages, max_pixels=max_pixels, isolate=isolate,
            worker_memory=worker_memory_mb * _MIB, read_timeout=read_timeout,
            document_timeout=document_timeout,
            sampling=Sampling(temperature, top_p, seed, tuple(stop) if stop else None,
                              max_tokens, frequency_penalty, presence_penalty),
        )  # fmt: skip
        choice = choose(provider, model=model, base_url=base_url)
        job_provider = open_job_provider(settings)
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if choice.name == "local":
        console.print(
            f"Using the embedded model {job_provider.model}: {choice.reason}.", highlight=False
        )
    sources = iter_sources(paths, include=include or DEFAULT_INCLUDE, exclude=exclude or ())
    if str(output) == "-":
        raise typer.Exit(0 if _stream(sources, spec, settings, job_provider) else 1)
    with _progress(console) as progress:
        try:
            summary = run_job(
                sources, spec, settings, job_provider, output=output, fmt=fmt,
                fresh=fresh, retry_failed=retry_failed, on_result=progress.advance,
            )  # fmt: skip
        except ConfigError as exc:
            console.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
        except ProviderError as exc:
            console.print(f"[red]{exc.code}:[/red] {exc}", highlight=False)
            raise typer.Exit(2 if isinstance(exc, AuthError) else 1) from None
    console.print("Wrote " + ", ".join(str(p) for p in summary.written), highlight=False)
    _summary(console, summary)
    if truth is not None:
        report = score(summary.records(), load_truth(truth), skip_missing=True)
        show_report(console, report, f"{output} vs {truth}")
        write_atomic(output.with_name(output.name + ".eval.json"), report.to_json().encode())
    raise typer.Exit(0 if summary.all_ok else 1)


def _stream(sources: Any, spec: Any, settings: Settings, provider: Any) -> bool:
    """``-o -``: JSONL to stdout as documents finish, no store; True when all succeeded."""
    all_ok = True
    for result in extract_many(sources, spec, settings=settings, provider=provider):
        sys.stdout.buffer.write(orjson.dumps(json_safe(result.record())) + b"\n")
        sys.stdout.buffer.flush()
        all_ok = all_ok and result.ok
    return all_ok


class _Progress:
    """A rich progress bar fed one result at a time: done, failed, tokens, running cost."""

    def __init__(self, console: Console) -> None:
        columns = (
            TextColumn("[progress.description]{task.description}"), BarColumn(),
            TextColumn("{task.completed} done"), TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
        )  # fmt: skip
        self.bar = Progress(*columns, console=console, disable=console.quiet)
        self.task = self.bar.add_task("extracting", total=None, stats="")
        self.failed = self.tokens = 0
        self.cost = 0.0

    def advance(self, result: Result[Any]) -> None:
        self.failed += not result.ok
        self.tokens += result.usage.prompt_tokens + result.usage.completion_tokens
        self.cost += result.cost_usd or 0.0
        stats = f"failed {self.failed} · {self.tokens:,} tokens · ${self.cost:.4f}"
        self.bar.update(self.task, advance=1, stats=stats)


@contextmanager
def _progress(console: Console) -> Iterator[_Progress]:
    progress = _Progress(console)
    with progress.bar:
        yield progress


def _summary(console: Console, summary: JobSummary) -> None:
    table = Table(title="extractor summary", show_header=False)
    table.add_row("documents in the job", str(sum(summary.counts.values())))
    table.add_row("  ok", f"[green]{summary.counts.get('ok', 0)}[/green]")
    failed = summary.counts.get("error", 0)
    table.add_row("  failed", f"[red]{failed}[/red]" if failed else "0")
    table.add_row("processed this run", str(summary.processed))
    table.add_row("skipped (already committed)", str(summary.skipped))
    tokens = f"{summary.prompt_tokens:,} / {summary.completion_tokens:,}"
    table.add_row("prompt / completion tokens", tokens)
    table.add_row("cost this run (USD)", f"{summary.cost_usd:.4f}")
    table.add_row("repairs", str(summary.repairs))
    for kind, count in sorted(summary.errors.items()):
        table.add_row(f"  {kind}", str(count))
    console.print(table)
