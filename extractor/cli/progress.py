"""Progress of a folder run: a rich bar on a terminal, plain lines in logs.

On a terminal the bar shows done/total, failures, tokens, the running cost and an ETA.
Anywhere else (CI logs, cron, a pipe) a bar would print nothing useful, so a plain line
is written every ``interval`` seconds and once at the end::

    extracting: 120/1,000 · ok 118 · failed 2 · 3.2 docs/s · ETA 4m35s · $0.0123
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from extractor.jobs import JobSummary
    from extractor.result import Result

__all__ = ["JobProgress"]


class JobProgress:
    """Fed by a run's ``on_start`` and ``on_result`` callbacks; a context manager.

    Args:
        console: where to write (stderr in the CLI); nothing when it is quiet.
        interval: seconds between plain lines when the console is not a terminal.
        clock: monotonic seconds (injected by tests).
    """

    def __init__(
        self,
        console: Console,
        *,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.interval = interval
        self.clock = clock
        self.total: int | None = None
        self.done = self.failed = self.tokens = 0
        self.cost = 0.0
        self.started = clock()
        self._last_line = self.started
        self._bar: Progress | None = None
        if console.is_terminal and not console.quiet:
            columns = (
                TextColumn("[progress.description]{task.description}"), BarColumn(),
                MofNCompleteColumn(), TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            )  # fmt: skip
            self._bar = Progress(*columns, console=console)
            self._task = self._bar.add_task("extracting", total=None, stats="")

    def __enter__(self) -> JobProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif not self.console.quiet and self.done:
            self.console.print(self.line(), highlight=False)

    def start(self, summary: JobSummary) -> None:
        """The run knows what it will do: ``summary.pending`` documents."""
        self.total = summary.pending
        self.started = self._last_line = self.clock()
        if self._bar is not None:
            self._bar.update(self._task, total=summary.pending)
        elif not self.console.quiet:
            skipped = f" ({summary.skipped:,} already done)" if summary.skipped else ""
            self.console.print(f"extracting {summary.pending:,} document(s){skipped}",
                               highlight=False)  # fmt: skip

    def advance(self, result: Result[Any]) -> None:
        """One result was committed."""
        self.done += 1
        self.failed += not result.ok
        self.tokens += result.usage.total_tokens
        self.cost += result.cost_usd or 0.0
        if self._bar is not None:
            stats = f"failed {self.failed} · {self.tokens:,} tokens · ${self.cost:.4f}"
            self._bar.update(self._task, advance=1, stats=stats)
            return
        now = self.clock()
        if not self.console.quiet and now - self._last_line >= self.interval:
            self._last_line = now
            self.console.print(self.line(), highlight=False)

    def line(self) -> str:
        """The plain progress line."""
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        total = f"/{self.total:,}" if self.total is not None else ""
        parts = [
            f"extracting: {self.done:,}{total}",
            f"ok {self.done - self.failed:,}",
            f"failed {self.failed:,}",
            f"{rate:.1f} docs/s",
        ]
        if self.total is not None and rate > 0 and self.done < self.total:
            parts.append(f"ETA {_duration((self.total - self.done) / rate)}")
        parts.append(f"${self.cost:.4f}")
        return " · ".join(parts)


def _duration(span: float) -> str:
    seconds = round(span)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
