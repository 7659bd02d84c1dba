"""The adaptive limiter through its public API, on a real event loop.

Times are tens of milliseconds and every bound is generous: these tests check the control
law (what changes, and how often), not throughput; that is bench/ratelimit.py's job.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from contextlib import AsyncExitStack

import pytest

from extractor.providers.limiter import AdaptiveLimiter


async def _starts(limiter: AdaptiveLimiter, count: int) -> list[float]:
    """Open ``count`` slots at once and close them all; their start times."""
    async with AsyncExitStack() as stack:
        return [await stack.enter_async_context(limiter.slot()) for _ in range(count)]


async def _one_by_one(limiter: AdaptiveLimiter, count: int) -> list[float]:
    """``count`` requests in a row, each leaving its slot before the next: start times."""
    starts = []
    for _ in range(count):
        async with limiter.slot() as started:
            starts.append(started)
        limiter.succeeded()
    return starts


async def _refused_together(limiter: AdaptiveLimiter, count: int) -> None:
    """``count`` requests in flight at once all get a 429 without ``Retry-After``; each
    leaves its slot before it reports, as a provider does."""
    answered = asyncio.Event()

    async def request() -> None:
        async with limiter.slot() as started:
            await answered.wait()
        limiter.refused(None, started)

    tasks = [asyncio.create_task(request()) for _ in range(count)]
    while limiter.in_flight < count:
        await asyncio.sleep(0.001)
    answered.set()
    await asyncio.gather(*tasks)


async def _learn_rate(limiter: AdaptiveLimiter, admitted: int, refused: int) -> list[float]:
    """The window fills: ``admitted`` requests go through, the next ``refused`` get a 429
    with a short ``Retry-After``. Returns the refused requests' start times."""
    starts = await _starts(limiter, admitted + refused)
    for _ in range(admitted):
        limiter.succeeded()
    for started in starts[admitted:]:
        limiter.refused(0.01, started)
    return starts[admitted:]


def test_no_pacing_while_the_provider_never_refuses() -> None:
    limiter = AdaptiveLimiter()

    async def scenario() -> float:
        began = time.monotonic()
        await _one_by_one(limiter, 200)
        await _starts(limiter, 64)
        return time.monotonic() - began

    elapsed = asyncio.run(scenario())
    assert limiter.rate is None
    assert limiter.limit == 64
    assert elapsed < 2.0  # paced at even 100/s, 200 starts alone would take 2 s


def test_a_burst_of_rate_limit_429s_sets_the_pace_once() -> None:
    limiter = AdaptiveLimiter(headroom=0.95, probe=0.0)
    asyncio.run(_learn_rate(limiter, admitted=20, refused=12))
    # 20 admitted in the last second, 95 % of it; the other 11 429s are the same event.
    assert limiter.rate == pytest.approx(19.0)
    assert limiter.limit == 64  # a rate limit does not touch the concurrency limit


def test_a_later_429_event_cuts_the_pace_by_ten_percent_once_per_burst() -> None:
    limiter = AdaptiveLimiter(headroom=1.0, probe=0.0, window=0.1)

    async def scenario() -> None:
        await _learn_rate(limiter, admitted=20, refused=3)
        assert limiter.rate == pytest.approx(200.0)  # 20 in the last 0.1 s
        await asyncio.sleep(0.12)  # the provider's window has forgotten the old pace
        later = await _starts(limiter, 3)
        for started in later:
            limiter.refused(0.01, started)

    asyncio.run(scenario())
    assert limiter.rate == pytest.approx(180.0)


def test_429s_within_a_window_of_a_change_of_pace_are_the_same_event() -> None:
    # The provider's window still holds the requests sent before the pace was set.
    limiter = AdaptiveLimiter(headroom=1.0, probe=0.0, window=1.0)

    async def scenario() -> None:
        await _learn_rate(limiter, admitted=20, refused=3)
        await asyncio.sleep(0.02)
        for started in await _starts(limiter, 2):
            limiter.refused(0.01, started)

    asyncio.run(scenario())
    assert limiter.rate == pytest.approx(20.0)


def test_a_burst_of_429s_without_retry_after_halves_the_concurrency_limit_once() -> None:
    limiter = AdaptiveLimiter(maximum=64)

    async def scenario() -> None:
        await _refused_together(limiter, 16)  # 16 in flight when the first 429 came
        assert limiter.limit == 8
        await _refused_together(limiter, 8)  # sent after the reaction: a new event

    asyncio.run(scenario())
    assert limiter.limit == 4
    assert limiter.rate is None  # no Retry-After: nothing says it is a rate


def test_a_lone_429_with_retry_after_is_no_rate_to_learn() -> None:
    limiter = AdaptiveLimiter(maximum=8)

    async def scenario() -> None:
        async with limiter.slot() as started:
            pass
        limiter.refused(0.0, started)

    asyncio.run(scenario())
    assert limiter.rate is None
    assert limiter.limit == 1  # the fallback: halve the requests then in flight (1)


def test_retry_after_pauses_every_request_not_only_the_refused_one() -> None:
    limiter = AdaptiveLimiter()

    async def scenario() -> tuple[float, list[float]]:
        async with limiter.slot() as started:
            pass
        limiter.refused(0.15, started)
        refused_at = time.monotonic()
        others = await asyncio.gather(*(_one_by_one(limiter, 1) for _ in range(5)))
        return refused_at, [s for starts in others for s in starts]

    refused_at, starts = asyncio.run(scenario())
    assert min(starts) - refused_at >= 0.14


def test_pacing_spaces_request_starts_evenly() -> None:
    limiter = AdaptiveLimiter(headroom=1.0, probe=0.0, slack=0.0)

    async def scenario() -> list[float]:
        await _learn_rate(limiter, admitted=20, refused=1)  # 20/s: one start per 50 ms
        await asyncio.sleep(0.02)  # the Retry-After
        tasks = [asyncio.create_task(_one_by_one(limiter, 1)) for _ in range(6)]
        return sorted(s for starts in await asyncio.gather(*tasks) for s in starts)

    starts = asyncio.run(scenario())
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.05 - 0.005


def test_starts_a_busy_loop_made_late_catch_up_by_the_slack_at_most() -> None:
    limiter = AdaptiveLimiter(headroom=1.0, probe=0.0, slack=0.1)

    async def scenario() -> list[float]:
        await _learn_rate(limiter, admitted=20, refused=1)  # 20/s: one start per 50 ms
        await asyncio.sleep(0.02)
        first = await _one_by_one(limiter, 1)
        time.sleep(0.2)  # the event loop is busy elsewhere: starts fall behind the pace
        return first + await _one_by_one(limiter, 8)

    first, *later = asyncio.run(scenario())
    gaps = [b - a for a, b in itertools.pairwise(later)]
    assert min(gaps[:2]) < 0.025  # behind the pace: the next ones come at once
    for k, moment in enumerate(later, start=1):  # but never more than slack ahead of it
        assert moment - first >= k * 0.05 - 0.1 - 0.005


def test_the_pace_recovers_while_it_holds_requests_back() -> None:
    limiter = AdaptiveLimiter(headroom=1.0, probe=0.01)  # before a cut: +8 % a start

    async def scenario() -> None:
        await _learn_rate(limiter, admitted=20, refused=1)
        await asyncio.sleep(0.02)
        await _one_by_one(limiter, 8)  # about 0.3 s of paced starts

    asyncio.run(scenario())
    assert limiter.rate is not None
    assert limiter.rate > 24.0  # 20/s plus 1.6/s for each start held back (about 30)


def test_after_a_cut_the_pace_regains_fast_then_creeps() -> None:
    limiter = AdaptiveLimiter(headroom=1.0, probe=0.01, window=0.4, slack=0.0)

    async def scenario() -> None:
        await _learn_rate(limiter, admitted=20, refused=1)  # 20 in 0.4 s: 50/s
        await asyncio.sleep(0.25)  # past the quiet half window
        async with limiter.slot() as started:
            pass
        limiter.refused(0.01, started)  # cut to 45/s; the 429 came at 50/s
        assert limiter.rate == pytest.approx(45.0)
        await _one_by_one(limiter, 5)

    asyncio.run(scenario())
    # Fast (+8 % of 45) until 95 % of 50, then +1 % of 45 a start: over 47.5 after one
    # start held back, under 50.4 after five. Creeping all along would stay under 47.5.
    assert limiter.rate is not None
    assert 47.5 < limiter.rate <= 50.4 + 1e-9


def test_an_idle_pace_does_not_grow() -> None:
    limiter = AdaptiveLimiter(headroom=1.0, probe=2.0)

    async def scenario() -> None:
        await _learn_rate(limiter, admitted=20, refused=1)
        for _ in range(3):  # demand well under the pace: it never holds anyone back
            await asyncio.sleep(0.1)
            await _one_by_one(limiter, 1)

    asyncio.run(scenario())
    assert limiter.rate == pytest.approx(20.0)


def test_the_concurrency_limit_recovers_one_step_per_round_trip() -> None:
    limiter = AdaptiveLimiter(maximum=16)

    asyncio.run(_refused_together(limiter, 16))
    assert limiter.limit == 8
    for _ in range(8):  # one round trip at a limit of 8
        limiter.succeeded()
    assert 8.8 < limiter.limit < 9.2
    for _ in range(200):
        limiter.succeeded()
    assert limiter.limit == 16


def test_the_concurrency_limit_caps_requests_in_flight() -> None:
    limiter = AdaptiveLimiter(maximum=2)
    peak = 0

    async def request() -> None:
        nonlocal peak
        async with limiter.slot():
            peak = max(peak, limiter.in_flight)
            await asyncio.sleep(0.01)

    async def scenario() -> None:
        await asyncio.gather(*(request() for _ in range(8)))

    asyncio.run(scenario())
    assert peak == 2
    assert limiter.in_flight == 0


def test_the_pace_outlives_the_event_loop_that_learned_it() -> None:
    # Each sync extract() runs its own loop; the provider's limit is the same.
    limiter = AdaptiveLimiter(headroom=1.0, probe=0.0)
    asyncio.run(_learn_rate(limiter, admitted=20, refused=1))
    starts = asyncio.run(_one_by_one(limiter, 4))
    assert limiter.rate == pytest.approx(20.0)
    assert starts[-1] - starts[0] >= 2 * 0.05 - 0.01  # still paced (one early start allowed)
    assert limiter.in_flight == 0
