"""Adaptive admission for one provider: pace request *starts* when the provider says it
limits the rate, fall back to an AIMD concurrency limit when it does not say, and honour
``Retry-After`` for every request at once, not only the one that was refused.

The control law, per congestion event (one or more 429s):

- **What is one event.** A 429 whose request started before the last reaction belongs to
  that reaction: it was sent before we slowed down. After a change of pace, so does one
  started within the next half ``window``: the provider's window still holds requests
  sent at the old pace. A burst of 429s therefore counts once (halving once per 429 took
  the limit from 64 to 1 within milliseconds).
- **A 429 with ``Retry-After`` means a rate limit.** At the first one we estimate the
  rate the provider admits: the most requests we started within one ``window`` (1 s),
  from a window before the refused one to the end of the pause, less those refused
  (counted again as the rest of the burst's 429s arrive). Request starts are then
  spaced evenly at ``headroom`` (95 %) of that, on a fixed schedule: starts that our own
  busy event loop made late may catch up by ``slack`` (0.1 s) at most, so the pace holds
  on average without bursts.
- **Each later event cuts the pace** to ``backoff`` (90 %) of itself.
- **While the pace holds requests back, it grows**, additively, at each start it held
  back: by 8 × ``probe`` (0.4 %) of the pace set at the last event while under 95 % of
  the pace that drew the last 429, or before any cut (a client too busy to send evenly
  may read the first estimate low); by ``probe`` (0.05 %) above that. A cut is mostly
  regained within ~15 requests, then the pace creeps past its old level over ~100 more,
  so a limit that rose is found again and 429s stay near one per ~130 requests whatever
  the rate. A pace that holds nobody back does not grow, so an idle spell does not
  licence a burst afterwards.
- **``Retry-After`` pauses everyone** until it has passed: the requests queued behind the
  refused one would otherwise all be refused in turn.
- **A 429 without ``Retry-After``** (or one we cannot read as a rate: too few requests in
  the window to count) halves the concurrency limit, from the requests then in flight; it
  grows back by one per round trip (``1 / limit`` per success). This limit also caps the
  requests in flight when pacing.

Why a rate and not only a concurrency limit: a provider allowing R requests per second
with latency L holds R·L requests in flight, but each request also holds its slot for our
own send/parse time, so a concurrency limit at R·L reaches only ~90 % of R, and AIMD's
sawtooth keeps it under R·L. A provider that never answers 429 never sees any pacing: the
gate is then only the concurrency limit (``maximum``).

The state (pace, limit, pause) belongs to the provider and outlives an event loop; the
asyncio primitives and the in-flight count belong to one loop, and each sync
``extract()`` runs its own. All times are ``time.monotonic()``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["AdaptiveLimiter"]

_MIN_SAMPLES = 4  # fewer admitted requests in the window say nothing about a rate
_FAST_PROBE = 8.0  # how much faster the pace grows below the pace that drew the last 429
_REGAIN = 0.95  # ... up to this share of it


class AdaptiveLimiter:
    """Paces request starts under a rate limit and caps requests in flight (AIMD).

    Args:
        maximum: the most requests in flight (the concurrency limit starts here).
        minimum: the concurrency limit never goes below this.
        headroom: the first pace, as a share of the admitted rate measured at the first
            429 with ``Retry-After``.
        backoff: each later 429 event multiplies the pace by this.
        probe: each start that the pace held back raises the pace by this share of the
            pace set at the last event (8× as much below 95 % of the pace that drew the
            last 429, and before the first cut).
        window: seconds of history over which the admitted rate is measured.
        min_rate: the pace never goes below this many starts per second.
        slack: seconds by which paced starts that fell behind (a busy event loop) may
            catch up with the pace.

    Usage (what a provider does around each HTTP request)::

        async with limiter.slot() as started:
            response = await send()
        # then limiter.succeeded(), or on a 429: limiter.refused(retry_after, started)
    """

    def __init__(
        self,
        maximum: int = 64,
        *,
        minimum: int = 1,
        headroom: float = 0.95,
        backoff: float = 0.9,
        probe: float = 0.0005,
        window: float = 1.0,
        min_rate: float = 0.1,
        slack: float = 0.1,
    ) -> None:
        self.maximum = maximum
        self.minimum = minimum
        self.headroom = headroom
        self.backoff = backoff
        self.probe = probe
        self.window = window
        self.min_rate = min_rate
        self.slack = slack
        self.limit = float(maximum)
        self.rate: float | None = None  # starts per second; None: not pacing (no rate 429 yet)
        self.in_flight = 0
        self.waiting = 0  # requests queued in slot(), not yet started
        self._base = 0.0  # the pace set at the last event: the probe's step is a share of it
        self._due = 0.0  # when the next start is due at the exact pace
        self._resume_at = 0.0  # the shared Retry-After pause ends here
        self._quiet_until = float("-inf")  # 429s of requests started before: same event
        self._learning = False  # the pace is the first estimate, not yet corrected by a 429
        self._regain_to = 0.0  # below this pace, grow fast: the last 429 came above it
        self._measured: tuple[float, float] = (0.0, 0.0)  # the span of the first estimate
        self._starts: deque[float] = deque()  # recent start times
        self._refusals: deque[float] = deque()  # start times of recently refused requests
        self._loop: asyncio.AbstractEventLoop | None = None
        self._turnstile: asyncio.Lock | None = None
        self._freed: asyncio.Event | None = None

    def _primitives(self) -> tuple[asyncio.Lock, asyncio.Event]:
        # asyncio primitives belong to one loop; each sync extract() runs its own.
        loop = asyncio.get_running_loop()
        if self._turnstile is None or self._freed is None or self._loop is not loop:
            self._turnstile, self._freed = asyncio.Lock(), asyncio.Event()
            self._loop, self.in_flight, self.waiting = loop, 0, 0
        return self._turnstile, self._freed

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Hold one request slot for the duration of the block; yields its start time.

        Waiters queue first-come first-served; only the head of the queue waits on the
        clock (pause, pace) or for a slot to free up, so a waiting request costs nothing.
        """
        turnstile, freed = self._primitives()
        self.waiting += 1
        try:
            async with turnstile:
                paced = await self._wait_turn(freed)
                started = time.monotonic()
                self._started(started, paced)
        finally:
            self.waiting -= 1
        try:
            yield started
        finally:
            self.in_flight -= 1
            freed.set()

    async def _wait_turn(self, freed: asyncio.Event) -> bool:
        """Wait until the pause is over, the pace allows a start and a slot is free.

        Returns whether the pace (not the pause, nor the caller's demand) held us back.
        """
        paced = False
        while True:
            now = time.monotonic()
            ready_at = self._resume_at
            if self.rate is not None and self._due - self.slack > ready_at:
                ready_at = self._due - self.slack
                paced = paced or ready_at > now
            if ready_at > now:  # re-checked after: refused() may extend the pause meanwhile
                await asyncio.sleep(ready_at - now)
            elif self.in_flight >= int(self.limit):
                freed.clear()
                await freed.wait()
            else:
                return paced

    def _started(self, now: float, paced: bool) -> None:
        self.in_flight += 1
        self._starts.append(now)
        horizon = now - 2 * self.window  # refused() looks one window back from a start
        while self._starts and self._starts[0] < horizon:
            self._starts.popleft()
        while self._refusals and self._refusals[0] < horizon:
            self._refusals.popleft()
        if self.rate is None:
            return
        interval = 1.0 / self.rate
        if paced:  # the pace is binding: probe upward, additively
            fast = self._learning or self.rate < self._regain_to
            self.rate += (_FAST_PROBE if fast else 1.0) * self.probe * self._base
        # Starts are due on a fixed schedule (GCRA): one that came late (a busy event loop)
        # lets the next ones catch up, by ``slack`` seconds at most, so the pace holds on
        # average; any window of T seconds sees at most rate·(T + slack) + 1 starts.
        self._due = max(self._due, now) + interval

    def succeeded(self) -> None:
        """A request was answered: grow the concurrency limit by one per round trip."""
        self.limit = min(float(self.maximum), self.limit + 1.0 / max(self.limit, 1.0))

    def refused(self, retry_after: float | None, started: float) -> None:
        """A 429 for the request that ``slot()`` started at ``started``.

        With ``Retry-After``, everyone pauses until then. The first 429 of an event sets
        or cuts the pace (with ``Retry-After``) or halves the concurrency limit (without).
        """
        now = time.monotonic()
        if retry_after is not None:
            self._resume_at = max(self._resume_at, now + retry_after)
            # After the pause, the pace starts afresh: no catch-up burst into a full window.
            self._due = max(self._due, self._resume_at + self.slack)
        self._refusals.append(started)
        since, until = self._measured
        if self._learning and since <= started <= until:
            self._measure_again(since, until)  # more of the burst that set the first pace
        if started < self._quiet_until:
            return  # part of the last event
        if retry_after is not None and self.rate is not None:
            self._regain_to = _REGAIN * self.rate
            self._set_pace(self.backoff * self.rate, now, learning=False)
            return
        if retry_after is not None:
            since = started - self.window
            admitted = self._most_admitted(since, now)
            if admitted >= _MIN_SAMPLES:
                self._set_pace(self.headroom * admitted / self.window, now, learning=True)
                # The other 429s of this burst are still on their way: each one heard
                # lowers the count (the pause keeps anyone from starting meanwhile).
                self._measured = (since, max(now, self._resume_at))
                return
        in_flight = float(self.in_flight + 1)  # the refused request has left its slot
        self.limit = max(float(self.minimum), min(self.limit, in_flight) / 2)
        self._quiet_until = now

    def _set_pace(self, rate: float, now: float, *, learning: bool) -> None:
        self.rate = self._base = max(self.min_rate, rate)
        self._learning = learning
        # For a while the provider's window still holds requests sent at the old pace: a
        # 429 then says little. Half a window: after a 10 % cut from just over the limit,
        # the old pace keeps the window full for a quarter of it; a 429 later than half
        # says the new pace is still too high.
        self._quiet_until = now + self.window / 2

    def _measure_again(self, since: float, until: float) -> None:
        admitted = self._most_admitted(since, until)
        rate = self.headroom * admitted / self.window
        if admitted >= _MIN_SAMPLES and self.rate is not None and rate < self.rate:
            self.rate = self._base = rate

    def _most_admitted(self, since: float, until: float) -> int:
        """The most requests started within one ``window`` between ``since`` and ``until``
        and not refused: what the provider did let through in a window. (A busy client
        starts requests unevenly, so the one window ending at the refused start reads low.)
        """
        admitted = Counter(t for t in self._starts if since <= t <= until)
        admitted.subtract(t for t in self._refusals if since <= t <= until)
        times = sorted(admitted.elements())
        most, first = 0, 0
        for last, moment in enumerate(times):
            while moment - times[first] >= self.window:
                first += 1
            most = max(most, last - first + 1)
        return most
