"""A job as the service tracks it in memory, and how its documents are named in records.

Records from the service carry the client's file name as ``source`` (the *label*), not
the server's storage path: the label is what a person recognises on the review page, and
its stem names the truth file ``GET /v1/jobs/{id}/truth`` writes, so ``extractor eval``
pairs the job's records with the reviewed truth as it does for a folder run. Labels are
made unique within a job by their stem (case-insensitively), because one stem is one
truth file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from extractor.schema import SchemaSpec

__all__ = ["JOB_STATUSES", "JobState", "relabel", "stem_of", "unique_labels"]

JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = frozenset({"done", "failed", "cancelled"})


def stem_of(label: str) -> str:
    """The stem of a label (``invoice 7.pdf`` → ``invoice 7``), as ``extractor eval`` reads it."""
    return PurePosixPath(label).stem or label


def unique_labels(labels: list[str]) -> list[str]:
    """``labels`` with repeated stems numbered (``a.pdf``, ``a.png`` → ``a.pdf``, ``a-2.png``)."""
    seen: set[str] = set()
    unique = []
    for label in labels:
        path = PurePosixPath(label)
        candidate, number = label, 2
        while stem_of(candidate).casefold() in seen:
            candidate = f"{path.stem}-{number}{path.suffix}"
            number += 1
        seen.add(stem_of(candidate).casefold())
        unique.append(candidate)
    return unique


def relabel(value: Any, stored: str, label: str) -> Any:
    """``value`` (a record) with the server's path ``stored`` replaced by ``label`` in every
    string: ``source``, and error messages or warnings that quote the path."""
    if isinstance(value, str):
        return value.replace(stored, label) if stored in value else value
    if isinstance(value, dict):
        return {key: relabel(item, stored, label) for key, item in value.items()}
    if isinstance(value, list):
        return [relabel(item, stored, label) for item in value]
    return value


@dataclass
class JobState:
    """One job's identity and running totals (``done`` = records committed)."""

    id: str
    schema: str
    spec: SchemaSpec | None
    fingerprint: str
    status: str
    total: int
    created_at: str
    error: str | None = None
    done: int = 0
    ok: int = 0
    failed: int = 0
    cost_usd: float = 0.0
    pending: set[int] = field(default_factory=set)  # document indexes not yet committed

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def count(self, record: dict[str, Any]) -> None:
        """Add one committed record to the totals."""
        self.done += 1
        if record.get("status") == "ok":
            self.ok += 1
        else:
            self.failed += 1
        self.cost_usd += float(record.get("cost_usd") or 0.0)
        self.pending.discard(int(record.get("index") or 0))

    def totals(self) -> dict[str, Any]:
        return {"done": self.done, "ok": self.ok, "failed": self.failed,
                "cost_usd": round(self.cost_usd, 6)}  # fmt: skip

    def view(self) -> dict[str, Any]:
        """The job as ``GET /v1/jobs/{id}`` shows it."""
        shown: dict[str, Any] = {"id": self.id, "status": self.status, "total": self.total,
                                 **self.totals(), "schema": self.schema,
                                 "created_at": self.created_at}  # fmt: skip
        if self.error:
            shown["error"] = self.error
        return shown
