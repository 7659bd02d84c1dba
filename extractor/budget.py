"""A spending cap for a run: no new document starts once the cost committed so far plus
the estimate of what is in flight would pass the cap.

The estimate of one document is the mean cost of the documents the job has finished (its
earlier runs included). Until one has finished nothing is known, so documents start one
at a time until a cost is known: a cap of $1 is never passed by 16 documents started at
once.

A run stopped by its cap raises :class:`BudgetExceeded` once the documents in flight have
finished and been handed over; everything finished stays committed, so the same command
with a higher cap resumes where it stopped.

Example:
    >>> budget = Budget(1.00, spent=0.40, finished=1)   # an earlier run: 1 document, $0.40
    >>> budget.may_start()   # 0.40 + 0.40 expected <= 1.00
    True
    >>> budget.started()
    >>> budget.may_start()   # 0.40 + 2 x 0.40 in flight > 1.00
    False
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from extractor.errors import ExtractorError

if TYPE_CHECKING:
    from extractor.store import RecordStore

__all__ = ["Budget", "BudgetExceeded"]


class BudgetExceeded(ExtractorError):
    """A run stopped because its next document could pass ``max_cost``.

    Attributes:
        cap: the cap in USD.
        spent: the cost committed (this job's earlier runs included) when it stopped.
        not_started: documents the run did not start.
    """

    code = "budget_exceeded"

    def __init__(self, message: str, *, cap: float, spent: float, not_started: int) -> None:
        super().__init__(message)
        self.cap = cap
        self.spent = spent
        self.not_started = not_started


class Budget:
    """Committed cost and in-flight estimates against a cap (thread-safe).

    Args:
        cap: USD the job may cost in all (its earlier runs included).
        spent: USD already committed by earlier runs of the job.
        finished: documents those earlier runs committed.
    """

    def __init__(self, cap: float, *, spent: float = 0.0, finished: int = 0) -> None:
        if cap < 0:
            raise ValueError("max_cost must be 0 or more")
        self.cap = cap
        self.spent = spent
        self.in_flight = 0
        self.finished = finished
        self.stopped = False
        self._lock = threading.Lock()

    @classmethod
    def resumed(cls, cap: float, store: RecordStore) -> Budget:
        """A budget for a job whose earlier runs committed to ``store``: what they spent,
        over how many documents, counts against ``cap``."""
        return cls(cap, spent=store.committed_cost(), finished=sum(store.counts().values()))

    @property
    def estimate(self) -> float | None:
        """The expected cost of one more document: the mean of those finished."""
        if not self.finished:
            return None
        return self.spent / self.finished

    def may_start(self) -> bool:
        """Whether one more document may start now; False also marks the run stopped."""
        with self._lock:
            estimate = self.estimate
            if estimate is None:  # nothing known yet: one at a time, while under the cap
                allowed = self.in_flight == 0 and self.spent < self.cap
            else:
                allowed = self.spent + (self.in_flight + 1) * estimate <= self.cap
            if not allowed and (self.in_flight == 0 or estimate is not None):
                self.stopped = True
            return allowed

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1

    def done(self, cost: float | None) -> None:
        """One document is done, at ``cost`` (None: free, or unknown)."""
        with self._lock:
            self.in_flight -= 1
            self.finished += 1
            self.spent += cost or 0.0

    def exceeded(self, not_started: int) -> BudgetExceeded:
        """The error that ends a run stopped by this budget."""
        return BudgetExceeded(
            f"stopped at the cost cap: ${self.spent:.4f} committed of --max-cost "
            f"${self.cap:.4f}; {not_started} document(s) not started (the next would "
            f"cost about ${self.estimate or 0.0:.4f}). Everything finished is committed: "
            f"run the same command with a higher --max-cost (e.g. "
            f"{suggest_cap(self.spent, self.estimate, not_started):.2f}) to go on",
            cap=self.cap, spent=self.spent, not_started=not_started,
        )  # fmt: skip


def suggest_cap(spent: float, estimate: float | None, remaining: int) -> float:
    """A cap that lets ``remaining`` more documents of ``estimate`` each finish, with 20 %
    of headroom."""
    return spent + 1.2 * (estimate or 0.0) * remaining + 0.01
