"""``extractor extract``: a folder (or files) in, one record per document out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from extractor.cli import options as opt
from extractor.errors import AuthError, ConfigError, ProviderError

if TYPE_CHECKING:  # the heavy modules load when a command runs, not for --help
    from rich.console import Console

    from extractor.export import Format
    from extractor.jobs import JobSummary
    from extractor.providers import Provider
    from extractor.schema import SchemaSpec
    from extractor.settings import Settings

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
            help="invoice, receipt, form, key_values, FILE.py:Class, module:Class or FILE.json.",
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output file; '-' writes JSONL to stdout.")
    ] = Path("out/results.jsonl"),
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="jsonl, json, csv or parquet (csv and parquet also write OUT.<list>.csv|parquet "
            "per list of objects; parquet needs pyarrow); default: from the output's "
            "extension (.jsonl, .json, .csv, .parquet), else jsonl.",
            show_default=False,
        ),
    ] = None,
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
    isolate: opt.Isolate = None,
    worker_memory_mb: opt.WorkerMemoryMb = None,
    read_timeout: opt.ReadTimeout = None,
    document_timeout: opt.DocumentTimeout = None,
    include: opt.Include = None,
    exclude: opt.Exclude = None,
    temperature: opt.Temperature = None,
    top_p: opt.TopP = None,
    seed: opt.Seed = None,
    max_tokens: opt.MaxTokens = None,
    stop: opt.Stop = None,
    frequency_penalty: opt.FrequencyPenalty = None,
    presence_penalty: opt.PresencePenalty = None,
    require_grounding: opt.RequireGrounding = None,
    max_cost: opt.MaxCost = None,
    engine: opt.Engine = "local",
    ray_address: opt.RayAddress = None,
    instructions: opt.Instructions = None,
    examples: opt.Examples = None,
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
    or a key the provider refuses, 3 when --max-cost stopped the run. Usage errors are
    found before the first model call: an output that is a folder, a link, a device, an
    input or a file extractor did not write, a folder it cannot write in, another run
    writing the same output.

    Examples:

        extractor extract fixtures/ --schema invoice

        extractor extract invoices/ -s invoice -o out.csv -f csv --concurrency 16

        extractor extract scans/ -s receipt --base-url http://localhost:11434/v1 --model qwen2.5vl

        extractor extract docs/ -s my_schemas.py:PurchaseOrder --include '*.pdf' --pages 1-2

        extractor extract ../shared/eval/receipts -s receipt --truth ../shared/eval/receipts

        extractor extract invoices/ -s invoice --max-cost 5 --engine ray --ray-address auto

        extractor extract scans/ -s invoice --instructions @house-rules.txt --examples shots/

        extractor extract notes/ -s receipt --include '*.txt' -o out/notes.parquet
    """
    _prefetch_model_stack()
    from rich.console import Console

    console = Console(stderr=True, quiet=quiet, soft_wrap=True)
    chosen_format = _format_for(output, fmt)
    if engine not in ("local", "ray"):
        raise typer.BadParameter("choose local or ray", param_hint="--engine")
    given = {k: v for k, v in locals().items() if k in _JOB_OPTIONS}
    try:
        _check_destination(output, chosen_format, paths, truth)
        from extractor.schema import load_schema

        spec = load_schema(schema)
        settings = opt.job_settings(**given)
        guidance = opt.instructions_text(instructions)
        from extractor.api import choose_provider, open_job_provider

        choice = choose_provider(settings)
        job_provider = open_job_provider(settings, choice)
        spec = _steered(spec, settings, job_provider, guidance, examples)
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if choice.name == "local":
        console.print(
            f"Using the embedded model {job_provider.model}: {choice.reason}.", highlight=False
        )
    from extractor.sources import DEFAULT_INCLUDE, Skipped, iter_sources

    skipped = Skipped()
    sources = iter_sources(paths, include=include or DEFAULT_INCLUDE, exclude=exclude or (),
                           skipped=skipped)  # fmt: skip
    if str(output) == "-":
        raise typer.Exit(0 if _stream(sources, spec, settings, job_provider) else 1)
    ray = (schema, ray_address) if engine == "ray" else None
    summary = _run(console, sources, spec, settings, job_provider, output, chosen_format,
                   fresh=fresh, retry_failed=retry_failed, ray=ray)  # fmt: skip
    console.print("Wrote " + ", ".join(str(p) for p in summary.written), highlight=False)
    from extractor.cli.summary import print_summary

    print_summary(console, summary, skipped)
    if truth is not None:
        _score(console, summary, output, truth)
    raise typer.Exit(0 if summary.all_ok else 1)


_JOB_OPTIONS = frozenset({
    "provider", "model", "base_url", "vision", "mode", "concurrency", "max_repairs",
    "retries", "timeout", "pages", "dpi", "max_side", "ocr", "password", "max_file_mb",
    "max_pages", "max_pixels", "isolate", "worker_memory_mb", "read_timeout",
    "document_timeout", "temperature", "top_p", "seed", "max_tokens", "stop",
    "frequency_penalty", "presence_penalty", "require_grounding", "max_cost",
})  # fmt: skip
_SUFFIX_FORMATS: dict[str, Format] = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv",
    ".parquet": "parquet",
}  # fmt: skip


def _format_for(output: Path, fmt: str | None) -> Format:
    """The export format: as given, else from the output's extension, else JSONL."""
    from extractor.export import FORMATS

    inferred = _SUFFIX_FORMATS.get(output.suffix.lower())
    if fmt is None:
        return inferred or "jsonl"
    if fmt not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    if inferred is not None and inferred != fmt:
        raise typer.BadParameter(
            f"{output} looks like {inferred}, not {fmt}; name the output to match",
            param_hint="--format",
        )
    return fmt


def _check_destination(output: Path, fmt: Format, inputs: list[Path], truth: Path | None) -> None:
    """Refuse, before anything is paid for, an output the run must not write."""
    if str(output) == "-":
        return
    if fmt == "parquet":
        import importlib.util

        if importlib.util.find_spec("pyarrow") is None:
            raise ConfigError("--format parquet needs pyarrow: pip install 'extractor[parquet]'")
    from extractor.outputs import check_output

    report = [output.with_name(output.name + ".eval.json")] if truth is not None else []
    check_output(output, inputs=inputs, also=report)


def _steered(
    spec: SchemaSpec,
    settings: Settings,
    provider: Provider,
    instructions: str | None,
    examples: Path | None,
) -> SchemaSpec:
    """The spec with ``--instructions`` and ``--examples`` (read as the job reads pages)."""
    if instructions is None and examples is None:
        return spec
    from extractor.examples import examples_from_folder, steer
    from extractor.pipeline import page_options

    pairs = examples_from_folder(examples) if examples is not None else []
    return steer(spec, instructions=instructions, examples=pairs,
                 options=page_options(settings, provider))  # fmt: skip


def _prefetch_model_stack() -> None:
    """Start importing the repair stack (instructor, openai: most of a second) in a
    thread, so it overlaps walking the folder, opening the store and starting the
    reading workers instead of delaying the first request."""
    import importlib
    import threading

    threading.Thread(
        target=importlib.import_module, args=("extractor.repair",), daemon=True,
        name="extractor-prefetch",
    ).start()  # fmt: skip


def _run(
    console: Console,
    sources: Any,
    spec: SchemaSpec,
    settings: Settings,
    provider: Provider,
    output: Path,
    fmt: Format,
    *,
    fresh: bool,
    retry_failed: bool,
    ray: tuple[str, str | None] | None = None,
) -> JobSummary:
    from extractor.budget import BudgetExceeded
    from extractor.cli.progress import JobProgress
    from extractor.jobs import run_job, store_path_for

    progress = JobProgress(console)
    job: dict[str, Any] = {
        "output": output, "fmt": fmt, "fresh": fresh, "retry_failed": retry_failed,
        "on_start": progress.start, "on_result": progress.advance,
    }  # fmt: skip
    try:
        with progress:
            if ray is not None:
                from extractor.ray_job import run_ray_job

                return run_ray_job(sources, ray[0], spec, settings, provider,
                                   address=ray[1], **job)  # fmt: skip
            return run_job(sources, spec, settings, provider, **job)
    except BudgetExceeded as exc:  # shown even with --quiet: it says how to go on
        typer.echo(f"{exc.code}: {exc}", err=True)
        raise typer.Exit(3) from None
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except ProviderError as exc:
        console.print(f"[red]{exc.code}:[/red] {exc}", highlight=False)
        raise typer.Exit(2 if isinstance(exc, AuthError) else 1) from None
    except KeyboardInterrupt:
        console.print(
            f"Interrupted: {progress.done:,} record(s) committed this run to "
            f"{store_path_for(output)}; run the same command again to resume.",
            highlight=False,
        )
        raise typer.Exit(130) from None


def _score(console: Console, summary: JobSummary, output: Path, truth: Path) -> None:
    from extractor.cli.eval_cmd import show_report
    from extractor.evaluate import load_truth, score
    from extractor.export import write_atomic
    from extractor.jobs import file_mode
    from extractor.store import RecordStore

    report = score(summary.records(), load_truth(truth), skip_missing=True)
    show_report(console, report, f"{output} vs {truth}")
    assert summary.store_path is not None
    path = output.with_name(output.name + ".eval.json")
    write_atomic(path, report.to_json().encode(), mode=file_mode(summary.store_path))
    with RecordStore.open(summary.store_path, summary.fingerprint) as store:
        store.note_exports([path])


def _stream(sources: Any, spec: SchemaSpec, settings: Settings, provider: Provider) -> bool:
    """``-o -``: JSONL to stdout as documents finish, no store; True when all succeeded."""
    import orjson

    from extractor.api import extract_many
    from extractor.export import json_safe

    all_ok = True
    for result in extract_many(sources, spec, settings=settings, provider=provider):
        sys.stdout.buffer.write(orjson.dumps(json_safe(result.record())) + b"\n")
        sys.stdout.buffer.flush()
        all_ok = all_ok and result.ok
    return all_ok
