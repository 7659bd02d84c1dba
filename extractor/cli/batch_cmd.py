"""``extractor batch submit|status|collect|cancel``: the provider's batch API, at its price,
with the live repair pass at collect."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from extractor.cli import options as opt
from extractor.errors import AuthError, ConfigError, ProviderError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["batch_app"]

batch_app = typer.Typer(
    name="batch",
    help="Run a job through the provider's batch API (Mistral, OpenAI): about half the "
    "price, answers within 24 h; invalid answers are repaired live at collect.",
    no_args_is_help=True,
)

Output = Annotated[
    Path, typer.Option("--output", "-o", help="The job's output (its store is OUT.db).")
]
_DEFAULT_OUT = Path("out/results.jsonl")
_JOB_OPTIONS = frozenset({
    "provider", "model", "base_url", "vision", "mode", "concurrency", "max_repairs",
    "retries", "timeout", "pages", "dpi", "max_side", "ocr", "password", "max_pages",
    "max_pixels", "temperature", "top_p", "seed", "max_tokens", "require_grounding",
    "max_cost",
})  # fmt: skip


def _console(quiet: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=True, quiet=quiet, soft_wrap=True)


@batch_app.command("submit")
def submit_command(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (walked recursively).")],
    schema: Annotated[str, typer.Option("--schema", "-s", help="As for `extractor extract`.")],
    output: Output = _DEFAULT_OUT,
    include: opt.Include = None,
    exclude: opt.Exclude = None,
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
    max_pages: opt.MaxPages = None,
    max_pixels: opt.MaxPixels = None,
    temperature: opt.Temperature = None,
    top_p: opt.TopP = None,
    seed: opt.Seed = None,
    max_tokens: opt.MaxTokens = None,
    require_grounding: opt.RequireGrounding = None,
    max_cost: opt.MaxCost = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Discard committed records.")] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Include documents whose record is an error.")
    ] = False,
) -> None:
    """Prepare the requests a live run would send and submit them as one batch.

    Documents already committed to OUT are skipped. Documents that need several requests
    (long ones) or cannot be read are done live by `collect`. With --max-cost, documents
    whose estimated batch cost would pass the cap are left out (exit code 3).

    Examples:

        extractor batch submit invoices/ -s invoice --provider mistral -o out/inv.jsonl

        extractor batch collect out/inv.jsonl
    """
    console = _console()
    given = {k: v for k, v in locals().items() if k in _JOB_OPTIONS and v is not None}
    from extractor.budget import BudgetExceeded

    try:
        from extractor.batch import submit

        spec, settings, job_provider, sources = opt.open_job(
            schema, paths, include, exclude, **given
        )
        done = submit(
            sources, schema, spec, settings, job_provider, output=output,
            job=settings.as_options(), fresh=fresh, retry_failed=retry_failed,
        )  # fmt: skip
    except BudgetExceeded as exc:
        typer.echo(f"{exc.code}: {exc}", err=True)
        raise typer.Exit(3) from None
    except (ConfigError, ProviderError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if done.batch is None:
        console.print(f"Nothing to submit: {done.skipped} document(s) already committed.")
        return
    console.print(
        f"Submitted batch {done.batch.id} ({done.batch.status}): {done.requests} request(s); "
        f"{done.live} document(s) will go live at collect; {done.skipped} already committed; "
        f"estimated ${done.estimate_usd:.4f} at the batch price. Then: extractor batch "
        f"collect {output}",
        highlight=False,
    )
    if done.over_budget:
        typer.echo(
            f"budget_exceeded: {done.over_budget} document(s) left out by --max-cost; submit "
            "again with a higher cap after collecting", err=True,
        )  # fmt: skip
        raise typer.Exit(3)


@batch_app.command("status")
def status_command(output: Annotated[Path, typer.Argument(help="The job's output.")]) -> None:
    """Show the latest batch of OUT as the provider describes it."""
    console = _console()
    try:
        from extractor.batch.collect import open_batch

        state, batch, client, *_ = open_batch(output)
        try:
            info = client.retrieve(batch.id)
        finally:
            client.close()
            state.close()
    except (ConfigError, ProviderError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    typer.echo(
        f"batch {info.id}: {info.status}; {info.done}/{info.total} answered, {info.failed} "
        f"failed; {'ready to collect' if info.finished else 'not finished'}"
    )


@batch_app.command("collect")
def collect_command(
    output: Annotated[Path, typer.Argument(help="The job's output.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl, json or csv.")] = "jsonl",
    max_cost: opt.MaxCost = None,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="When the provider failed the whole batch, send every document live at "
            "the full price instead of stopping.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Download the batch's answers and commit one record per document; then write OUT.

    Answers are validated as live ones are; invalid ones are repaired live, at the normal
    price (the cost ledger in OUT.db marks each call batch or live).

    Run it again after a crash: it commits only what is missing. --max-cost caps the job
    (batch answers and live calls together). Exit code 0 when every document succeeded,
    1 when some failed, 2 on an error (or a failed batch without --live), 3 when
    --max-cost stopped it, 4 when the batch is not finished yet.
    """
    console = _console(quiet)
    from extractor.batch import collect
    from extractor.budget import BudgetExceeded

    try:
        done = collect(output, fmt, max_cost=max_cost, live=live)  # type: ignore[arg-type]
    except BudgetExceeded as exc:
        typer.echo(f"{exc.code}: {exc}", err=True)
        raise typer.Exit(3) from None
    except (ConfigError, ProviderError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2 if isinstance(exc, ConfigError | AuthError) else 1) from None
    if not done.collected:
        info = done.info
        typer.echo(f"batch {info.id} is {info.status} ({info.done}/{info.total}); "
                   "collect again later", err=True)  # fmt: skip
        raise typer.Exit(4)
    assert done.summary is not None
    _ledger(console, done.ledger)
    console.print(f"Committed {done.summary.processed} record(s); wrote "
                  + ", ".join(str(p) for p in done.summary.written), highlight=False)  # fmt: skip
    raise typer.Exit(0 if done.summary.all_ok else 1)


def _ledger(console: Console, ledger: dict[str, dict[str, Any]]) -> None:
    for pricing in ("batch", "live"):
        row = ledger.get(pricing)
        if row:
            console.print(
                f"{pricing:>5}: {int(row['calls'])} call(s), {int(row['prompt_tokens']):,} / "
                f"{int(row['completion_tokens']):,} tokens, ${row['cost_usd']:.4f}",
                highlight=False,
            )


@batch_app.command("cancel")
def cancel_command(output: Annotated[Path, typer.Argument(help="The job's output.")]) -> None:
    """Cancel the latest batch of OUT (what it answered before can still be collected)."""
    console = _console()
    try:
        from extractor.batch.collect import open_batch

        state, batch, client, *_ = open_batch(output)
        try:
            info = client.cancel(batch.id)
            state.set_status(batch.id, info.status)
        finally:
            client.close()
            state.close()
    except (ConfigError, ProviderError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    typer.echo(f"batch {info.id}: {info.status}")
