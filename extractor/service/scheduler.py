"""One concurrency limit shared fairly: documents are taken from the lanes round-robin.

Each job is a lane (and so is each ``/v1/extract`` call). Whenever a slot frees up the
scheduler takes the next document from the next lane that has one, so a job of 10,000
documents and a job of 2 submitted after it alternate: the small one finishes after a
few documents of the large one, not after all of them. The provider sees at most
``concurrency`` documents at once, whatever the number of jobs.

What waits for a slot is counted (``queued``): the service refuses new work past its
queue limit, and :meth:`FairScheduler.retry_after` estimates when to come back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FairScheduler"]

_log = logging.getLogger("extractor.service")
Run = Callable[[Any], Awaitable[None]]


@dataclass(eq=False)
class _Lane:
    key: str
    run: Run
    items: deque[Any] = field(default_factory=deque)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class FairScheduler:
    """Runs ``run(item)`` for the items of every lane, ``concurrency`` at a time, round-robin.

    Example:
        >>> scheduler = FairScheduler(4)  # doctest: +SKIP
        >>> await scheduler.start()  # doctest: +SKIP
        >>> scheduler.add("job-1", documents, run_document)  # doctest: +SKIP
    """

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.queued = 0  # items waiting for a slot, all lanes together
        self._lanes: dict[str, _Lane] = {}
        self._turns: deque[_Lane] = deque()  # lanes with queued items, in turn order
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._seconds = 1.0  # moving average of one item's run time, for Retry-After

    def add(self, key: str, items: Iterable[Any], run: Run) -> None:
        """Queue ``items`` in lane ``key``; each will be run as ``await run(item)``."""
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(key, run)
        before = len(lane.items)
        lane.items.extend(items)
        self.queued += len(lane.items) - before
        if lane.items and before == 0:
            self._turns.append(lane)
            self._wake.set()

    def cancel(self, key: str) -> None:
        """Drop lane ``key``'s queued items and cancel the ones running (except the caller,
        when an item cancels its own lane: it finishes what it is doing)."""
        lane = self._lanes.pop(key, None)
        if lane is None:
            return
        self.queued -= len(lane.items)
        lane.items.clear()
        for task in list(lane.tasks):
            if task is not asyncio.current_task():
                task.cancel()

    def running(self, key: str) -> int:
        """How many items of lane ``key`` hold a slot now."""
        lane = self._lanes.get(key)
        return 0 if lane is None else len(lane.tasks)

    def retry_after(self) -> int:
        """Seconds until the queue has likely drained a concurrency's worth (1–600)."""
        estimate = self._seconds * (self.queued / max(1, self.concurrency))
        return max(1, min(600, math.ceil(estimate)))

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._dispatch(), name="extractor-scheduler")

    async def close(self) -> None:
        """Stop taking items and cancel every running one (their lanes are dropped)."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        tasks = [task for lane in self._lanes.values() for task in lane.tasks]
        for key in list(self._lanes):
            self.cancel(key)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _dispatch(self) -> None:
        while True:
            await self._slots.acquire()
            lane = await self._next_lane()
            item = lane.items.popleft()
            self.queued -= 1
            if lane.items:
                self._turns.append(lane)  # back of the line: the other lanes go first
            task = asyncio.create_task(self._run(lane, item))
            lane.tasks.add(task)

    async def _next_lane(self) -> _Lane:
        while True:
            while self._turns:
                lane = self._turns.popleft()
                if lane.items and self._lanes.get(lane.key) is lane:
                    return lane
            self._wake.clear()
            await self._wake.wait()

    async def _run(self, lane: _Lane, item: Any) -> None:
        started = time.monotonic()
        try:
            await lane.run(item)
        except asyncio.CancelledError:
            pass  # cancelled with its lane: nothing was committed
        except Exception:  # a bug in the runner must not stop the other lanes
            _log.exception("a document of %s failed unexpectedly", lane.key)
        finally:
            self._slots.release()
            task = asyncio.current_task()
            if task is not None:
                lane.tasks.discard(task)
            if not lane.items and not lane.tasks and self._lanes.get(lane.key) is lane:
                del self._lanes[lane.key]
            self._seconds = 0.8 * self._seconds + 0.2 * (time.monotonic() - started)
