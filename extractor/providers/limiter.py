"""Adaptive request concurrency: back off on 429, recover on success (AIMD), and honour
``Retry-After`` for every request at once, not only the one that was refused.

A provider that allows R requests per second with latency L serves at most R·L requests
in flight. Sending more only buys 429s, so the limit halves on each 429 and grows by one
every ``limit`` successes (one step per round trip), settling just under R·L. When a
429 names a ``Retry-After``, the whole gate closes until then: requests already waiting
would otherwise all be refused in turn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

__all__ = ["AdaptiveLimiter"]


class AdaptiveLimiter:
    """An AIMD concurrency limit with a shared pause.

    Args:
        maximum: the most requests in flight (the limit starts here).
        minimum: the limit never goes below this.
    """

    def __init__(self, maximum: int = 64, *, minimum: int = 1) -> None:
        self.maximum = maximum
        self.minimum = minimum
        self.limit = float(maximum)
        self.in_flight = 0
        self._resume_at = 0.0
        self._changed: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _condition(self) -> asyncio.Condition:
        # asyncio primitives belong to one loop; each sync extract() runs its own.
        loop = asyncio.get_running_loop()
        if self._changed is None or self._loop is not loop:
            self._changed, self._loop, self.in_flight = asyncio.Condition(), loop, 0
        return self._changed

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one request slot for the duration of the block."""
        changed = self._condition()
        async with changed:
            while True:
                pause = self._resume_at - time.monotonic()
                if pause > 0:  # wait() releases the lock, so finishing requests can leave
                    with suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), pause)
                    continue
                if self.in_flight < int(self.limit):
                    break
                await changed.wait()
            self.in_flight += 1
        try:
            yield
        finally:
            async with changed:
                self.in_flight -= 1
                changed.notify_all()

    def succeeded(self) -> None:
        self.limit = min(float(self.maximum), self.limit + 1.0 / max(self.limit, 1.0))

    def refused(self, retry_after: float | None) -> None:
        """A 429: halve the limit and, with ``Retry-After``, pause everyone until then."""
        self.limit = max(float(self.minimum), self.limit / 2)
        if retry_after is not None:
            self._resume_at = max(self._resume_at, time.monotonic() + retry_after)
