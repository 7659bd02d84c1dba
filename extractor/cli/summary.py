"""The summary a folder run prints at its end: the job, this run, and what it left out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from rich.console import Console

    from extractor.jobs import JobSummary
    from extractor.sources import Skipped

__all__ = ["print_summary"]


def print_summary(console: Console, summary: JobSummary, skipped: Skipped | None = None) -> None:
    """The summary table; then, when folder walks left files out, their first names."""
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
    if skipped is not None:
        _skipped_rows(table, skipped)
    console.print(table)
    if skipped is not None and skipped.examples:
        more = sum(skipped.unread.values()) + skipped.text - len(skipped.examples)
        names = ", ".join(str(path) for path in skipped.examples)
        console.print(f"left out of folders: {names}" + (f" and {more:,} more" if more else ""),
                      highlight=False, markup=False)  # fmt: skip


def _skipped_rows(table: Table, skipped: Skipped) -> None:
    if skipped.unread:
        kinds = ", ".join(f"{ext} {n}" for ext, n in sorted(skipped.unread.items()))
        count = sum(skipped.unread.values())
        table.add_row("not read (extension)", f"[yellow]{count}: {kinds}[/yellow]")
    if skipped.text:
        table.add_row("text files left out (--include '*.txt')", str(skipped.text))
