"""``extractor eval`` and ``extractor eval-compare``: score results against truth files.

The functions here are plain typer commands; ``extractor.cli`` registers them. All
printing goes through rich; the scoring itself lives in :mod:`extractor.evaluate`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from extractor.errors import ConfigError
from extractor.evaluate.matching import DEFAULT_TEXT_THRESHOLD

if TYPE_CHECKING:  # loaded when a command runs, not for --help
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from extractor.evaluate import Comparison, EvalReport, FieldDelta, FieldStats

__all__ = ["compare_command", "eval_command", "show_report"]

_TRUTH_HELP = "Folder of truth files, one <stem>.json per document (matched by source stem)."
_THRESHOLD_HELP = "A free-text value counts as correct at this ANLS similarity or above."

TruthOption = Annotated[
    Path,
    typer.Option(
        "--truth",
        "-t",
        help=_TRUTH_HELP,
        envvar="EXTRACTOR_EVAL_TRUTH",
        exists=True,
        file_okay=True,
        dir_okay=True,
        readable=True,
    ),
]
ThresholdOption = Annotated[
    float, typer.Option("--threshold", min=0.0, max=1.0, help=_THRESHOLD_HELP)
]

_VERDICT_STYLE = {
    "better": "green",
    "worse": "red",
    "same": "dim",
    "only_a": "yellow",
    "only_b": "yellow",
}


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f}"


def _fail(message: str) -> typer.Exit:
    from rich.console import Console

    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _score_file(results: Path, truth: Path, threshold: float, skip_missing: bool) -> EvalReport:
    from extractor.evaluate import load_records, load_truth, score

    try:
        return score(
            load_records(results),
            load_truth(truth),
            text_threshold=threshold,
            skip_missing=skip_missing,
        )
    except ConfigError as exc:
        raise _fail(str(exc)) from exc


def _stats_row(name: str, stats: FieldStats) -> list[str]:
    return [
        name,
        stats.kind or "",
        _fmt(stats.precision),
        _fmt(stats.recall),
        _fmt(stats.f1),
        _fmt(stats.exact.f1 if stats.exact else None),
        _fmt(stats.mean_anls),
        str(stats.n),
    ]


def _report_table(report: EvalReport, title: str) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("field", no_wrap=True)
    table.add_column("kind", style="dim")
    for name in ("P", "R", "F1", "F1 exact", "ANLS", "n"):
        table.add_column(name, justify="right")
    for name, stats in report.fields.items():
        table.add_row(*_stats_row(name, stats))
    table.add_section()
    table.add_row(*_stats_row("overall (micro)", report.overall), style="bold")
    table.caption = (
        f"F1: free text right at ANLS ≥ {report.text_threshold:g}. "
        "F1 exact: only when equal up to case and spacing."
    )
    table.caption_justify = "left"
    return table


def _print_documents(console: Console, report: EvalReport) -> None:
    docs = report.documents
    console.print(
        f"documents: {docs.truth} with truth, {docs.scored} scored, {docs.ok} ok, "
        f"{docs.missing} missing, {docs.errors} errors; "
        f"{docs.unmatched_records} records without truth",
        highlight=False,
    )


def _print_confidence(console: Console, report: EvalReport) -> None:
    from rich.table import Table
    from rich.text import Text

    from extractor.evaluate.confidence import CALIBRATION_BINS

    conf = report.confidence
    if conf is None:
        return
    table = Table(title="confidence vs accuracy", title_justify="left")
    table.add_column("confidence")
    for name in ("n", "accuracy", "mean confidence"):
        table.add_column(name, justify="right")
    table.add_row("all scored", str(conf.n), _fmt(conf.accuracy), _fmt(conf.mean_confidence))
    table.add_row("top half", str((conf.n + 1) // 2), _fmt(conf.top_half_accuracy), "")
    table.add_row("bottom half", str(conf.n // 2), _fmt(conf.bottom_half_accuracy), "")
    table.add_section()
    for band in conf.bands:
        bracket = "]" if band.high >= 1.0 else ")"
        label = f"[{band.low:.1f}, {band.high:.1f}{bracket}"
        table.add_row(Text(label), str(band.n), _fmt(band.accuracy), _fmt(band.mean_confidence))
    table.caption = f"ECE ({CALIBRATION_BINS} equal-width bins): {_fmt(conf.ece)}"
    table.caption_justify = "left"
    console.print(table)


def show_report(console: Console, report: EvalReport, title: str) -> None:
    """Print a report as ``extractor eval`` does (also used by ``extract --truth``)."""
    console.print(_report_table(report, title))
    _print_documents(console, report)
    _print_confidence(console, report)


def eval_command(
    results: Annotated[
        Path,
        typer.Argument(
            help="Result records: JSONL (one per line) or a JSON array.",
            metavar="RESULTS",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    truth: TruthOption,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the full report (with every mismatch) here."),
    ] = None,
    threshold: ThresholdOption = DEFAULT_TEXT_THRESHOLD,
    skip_missing: Annotated[
        bool,
        typer.Option(
            "--skip-missing",
            help="Leave documents without a record out, instead of counting their "
            "values as missed (for partial runs).",
        ),
    ] = False,
    fail_under: Annotated[
        float | None,
        typer.Option(
            "--fail-under",
            min=0.0,
            max=1.0,
            help="Exit with status 1 when the overall F1 is below this.",
        ),
    ] = None,
) -> None:
    """Score extraction results against truth files: precision, recall, F1 and ANLS per field.

    Dates, amounts, currencies and ids are compared by meaning, free text by ANLS similarity:

    15.03.2024 = 2024-03-15, "1.234,56" = 1234.56, € = EUR, "DE 123" = "de123".

    Fields absent from a truth file are unknown and not scored.

    Example:

        extractor eval results.jsonl -t ../shared/eval/invoices --json report.json
    """
    from rich.console import Console

    from extractor.export import write_atomic

    report = _score_file(results, truth, threshold, skip_missing)
    console = Console()
    show_report(console, report, f"{results} vs {truth}")
    if json_out is not None:
        write_atomic(json_out, report.to_json().encode())
        console.print(f"report written to {json_out}", highlight=False)
    if fail_under is not None and report.overall.f1 < fail_under:
        console.print(
            f"[red]overall F1 {report.overall.f1:.3f} is below {fail_under:.3f}[/red]",
            highlight=False,
        )
        raise typer.Exit(1)


def _load_side(path: Path, truth: Path | None, threshold: float) -> EvalReport:
    """A saved report as it is, or a records file scored against *truth*."""
    from pydantic import ValidationError

    from extractor.evaluate.report import EvalReport, is_report_json

    try:
        parsed = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        parsed = None  # JSONL: more than one JSON value
    if is_report_json(parsed):
        try:
            return EvalReport.model_validate(parsed)
        except ValidationError as exc:
            raise _fail(f"{path} is not a valid evaluation report: {exc}") from exc
    if truth is None:
        raise _fail(f"{path} holds records, not a report: give --truth to score it")
    return _score_file(path, truth, threshold, skip_missing=False)


def _delta_cell(delta: FieldDelta) -> Text:
    from rich.text import Text

    style = _VERDICT_STYLE[delta.verdict]
    if delta.delta_f1 is None:
        return Text(delta.verdict.replace("_", " "), style=style)
    return Text(_signed(delta.delta_f1), style=style)


def _compare_row(name: str, delta: FieldDelta) -> list[str | Text]:
    from rich.text import Text

    a, b = delta.a, delta.b
    return [
        name,
        str(b.n if b else a.n if a else 0),
        _fmt(a.f1 if a else None),
        _fmt(b.f1 if b else None),
        _delta_cell(delta),
        Text(delta.verdict, style=_VERDICT_STYLE[delta.verdict]),
    ]


def _comparison_table(comparison: Comparison, a: Path, b: Path) -> Table:
    from rich.table import Table

    table = Table(title=f"a = {a}\nb = {b}", title_justify="left")
    table.add_column("field", no_wrap=True)
    for name in ("n", "F1 a", "F1 b", "Δ F1"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    for name, delta in comparison.fields.items():
        table.add_row(*_compare_row(name, delta))
    table.add_section()
    table.add_row(*_compare_row("overall (micro)", comparison.overall), style="bold")
    return table


def compare_command(
    a: Annotated[
        Path,
        typer.Argument(
            help="Baseline: a records file or a JSON report from `extractor eval`.",
            metavar="A",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    b: Annotated[
        Path,
        typer.Argument(
            help="Candidate: a records file or a JSON report.",
            metavar="B",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    truth: Annotated[
        Path | None,
        typer.Option(
            "--truth",
            "-t",
            help=_TRUTH_HELP + " Needed for records files.",
            envvar="EXTRACTOR_EVAL_TRUTH",
            exists=True,
            readable=True,
        ),
    ] = None,
    threshold: ThresholdOption = DEFAULT_TEXT_THRESHOLD,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the comparison as JSON here.")
    ] = None,
) -> None:
    """Compare two runs field by field: F1 deltas from A (baseline) to B, better or worse.

    A and B are records files (scored against --truth) or reports from `extractor eval --json`.

    Example:

        extractor eval-compare old.jsonl new.jsonl -t ../shared/eval/invoices
    """
    from rich.console import Console

    from extractor.cli.coverage import coverage_warning
    from extractor.evaluate import compare
    from extractor.export import write_atomic

    side_a, side_b = _load_side(a, truth, threshold), _load_side(b, truth, threshold)
    comparison = compare(side_a, side_b)
    console = Console()
    console.print(_comparison_table(comparison, a, b))
    if (warning := coverage_warning(a, b, side_a, side_b)) is not None:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    console.print(
        f"{comparison.count('better')} better, {comparison.count('worse')} worse, "
        f"{comparison.count('same')} same; overall F1 {_signed(comparison.overall.delta_f1)}",
        highlight=False,
    )
    if json_out is not None:
        write_atomic(json_out, comparison.to_json().encode())
        console.print(f"comparison written to {json_out}", highlight=False)
