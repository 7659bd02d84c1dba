"""A rate-limited provider: how close does a run get to ``min(R, C/L)``, and at what 429 cost?

    .venv/bin/python bench/ratelimit.py [--docs 1000] [--rate 50] [--latency 0.2]
                                        [--concurrency 32] [--repeats 3]
                                        [--limiter shipped|whatif|pacer]
                                        [--server process|thread]

The server (a ScriptedServer on 127.0.0.1 with a responder) admits at most ``--rate``
chat requests in any sliding one-second window (thread-safe). An admitted request is
answered after ``--latency`` seconds with a valid receipt; one over the limit is answered
at once with 429 and ``Retry-After`` = seconds until the oldest admission leaves the
window (a decimal string). ``--docs`` small text files go through ``extract_many`` with
``--concurrency`` well above R·L, so the bound is min(R, C/L) documents per second.

The server runs in a child process by default (a real provider is on another machine;
in this process it would take the GIL from the client measured); ``--server thread``
keeps it in-process. Monotonic clocks are system-wide, so its timestamps line up with ours.

Reported (median over repeats): docs/s and % of the bound, the share of requests answered
429 (server-side counts), documents that failed, and — from the client — the limiter's
concurrency limit sampled every 10 ms and the time spent paused by ``Retry-After``.

``--limiter whatif`` and ``--limiter pacer`` swap in, *in this process only*, the two
limiter changes discussed in docs/benchmarks.md (``WhatIfLimiter``: one gentler decrease
per burst of 429s; ``WhatIfPacer``: learn the rate from 429 + Retry-After and pace request
starts) so their effect is measured against the same server. Nothing in extractor changes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _common import machine, spread, write_result

from extractor import extract_many
from extractor.api import open_job_provider
from extractor.providers.limiter import AdaptiveLimiter
from extractor.settings import Settings
from extractor.testing import RecordedRequest, Reply, ScriptedServer

RECEIPT = json.dumps(
    {"company": "ACME Stores", "address": "1 Main Street", "date": "2024-01-31", "total": 12.5}
)


class RateLimitedResponder:
    """At most ``rate`` admissions in any sliding 1-second window; 429 + Retry-After over it."""

    def __init__(self, rate: int, latency: float) -> None:
        self.rate = rate
        self.latency = latency
        self._lock = threading.Lock()
        self._window: deque[float] = deque()
        self.admitted: list[float] = []
        self.refused: list[float] = []

    def __call__(self, request: RecordedRequest) -> Reply:
        with self._lock:
            now = time.monotonic()
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= self.rate:
                wait = max(0.001, self._window[0] + 1.0 - now)
                self.refused.append(now)
                return Reply.error(
                    429,
                    "rate limit exceeded",
                    type="rate_limit_error",
                    headers={"Retry-After": f"{wait:.3f}"},
                )
            self._window.append(now)
            self.admitted.append(now)
        return Reply.chat(RECEIPT, delay=self.latency)


class WhatIfLimiter(AdaptiveLimiter):
    """Proposed change: one decrease per congestion event, and a pause that does not stack.

    The shipped limiter halves on *every* 429. When the window fills, the C requests
    already in flight are all refused together, so one event halves the limit many times
    (64 → 1 after six). Here a 429 lowers the limit only if no decrease happened within
    the last ``Retry-After`` (or one second): the refusals of one burst count once. The
    decrease is to 3/4 of the requests then in flight rather than a halving of a limit that
    may be far above them.
    """

    def __init__(self, maximum: int = 64, *, minimum: int = 1) -> None:
        super().__init__(maximum, minimum=minimum)
        self._quiet_until = 0.0

    def refused(self, retry_after: float | None) -> None:
        now = time.monotonic()
        if now >= self._quiet_until:
            base = min(self.limit, max(float(self.in_flight), float(self.minimum)))
            self.limit = max(float(self.minimum), base * 0.75)
            self._quiet_until = now + (retry_after if retry_after is not None else 1.0)
        if retry_after is not None:
            self._resume_at = max(self._resume_at, now + retry_after)


class WhatIfPacer(AdaptiveLimiter):
    """Proposed change, second form: a 429 that names ``Retry-After`` means a *rate* limit,
    so learn the rate and space request starts evenly instead of cutting concurrency.

    The first such 429 arrives as the window fills: the server's rate is about the requests
    sent in the last second minus those refused; pace at 95 % of that. Each later 429
    event (at most one per ``Retry-After``) cuts the pace by 10 %; every second without
    one raises it by 2 %, to find a limit that went up. A 429
    without ``Retry-After`` keeps the shipped AIMD (a concurrency limit, not a rate).
    """

    def __init__(self, maximum: int = 64, *, minimum: int = 1) -> None:
        super().__init__(maximum, minimum=minimum)
        self.rate: float | None = None
        self._next_start = 0.0
        self._sent: deque[float] = deque()
        self._refusals: deque[float] = deque()
        self._quiet_until = 0.0
        self._raised_at = 0.0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with super().slot():
            now = time.monotonic()
            if self.rate is not None:
                if now - self._raised_at >= 1.0 and now >= self._quiet_until:
                    self.rate *= 1.02
                    self._raised_at = now
                start = max(now, self._next_start)
                self._next_start = start + 1.0 / self.rate
                if start > now:
                    await asyncio.sleep(start - now)
                now = time.monotonic()
            self._sent.append(now)
            while self._sent and self._sent[0] < now - 1.0:
                self._sent.popleft()
            yield

    def refused(self, retry_after: float | None) -> None:
        if retry_after is None:
            super().refused(retry_after)
            return
        now = time.monotonic()
        self._refusals.append(now)
        while self._refusals and self._refusals[0] < now - 1.0:
            self._refusals.popleft()
        if now >= self._quiet_until:
            if self.rate is None:  # the first 429: the window just filled, so measure it
                sent = sum(1 for t in self._sent if t >= now - 1.0)
                self.rate = max(1.0, 0.95 * (sent - len(self._refusals)))
            else:  # later ones follow pauses, when a measurement reads low: cut by 10 %
                self.rate = max(1.0, 0.9 * self.rate)
            self._quiet_until = now + retry_after
            self._raised_at = now
        self._resume_at = max(self._resume_at, now + retry_after)


def make_docs(folder: Path, count: int) -> list[Path]:
    paths = []
    for number in range(count):
        path = folder / f"receipt-{number:05d}.txt"
        path.write_text(f"ACME Stores\n1 Main Street\n31/01/2024\nreceipt {number}\nTOTAL 12.50\n")
        paths.append(path)
    return paths


def sample_limiter(limiter: AdaptiveLimiter, stop: threading.Event, out: list[Any]) -> None:
    while not stop.wait(0.01):
        paused = limiter._resume_at > time.monotonic()
        out.append((time.monotonic(), limiter.limit, limiter.in_flight, paused))


def _serve(conn: Connection, rate: int, latency: float) -> None:
    """In a child process: the rate-limited server until told to stop; then its counts."""
    responder = RateLimitedResponder(rate, latency)
    with ScriptedServer(responder=responder) as server:
        conn.send(server.base_url)
        conn.recv()
        conn.send((responder.admitted, responder.refused, server.calls))


@contextmanager
def provider_server(args: argparse.Namespace) -> Iterator[tuple[str, dict[str, Any]]]:
    """The rate-limited server; yields its URL and, after the block, its counts.

    In a child process by default, so its request handling does not take the GIL from the
    client being measured (a real provider is on another machine); ``--server thread``
    keeps it in this process, as the tests do.
    """
    log: dict[str, Any] = {}
    if args.server == "thread":
        responder = RateLimitedResponder(args.rate, args.latency)
        with ScriptedServer(responder=responder) as server:
            yield server.base_url, log
            log.update(admitted=responder.admitted, refused=responder.refused, calls=server.calls)
        return
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    child = context.Process(target=_serve, args=(theirs, args.rate, args.latency))
    child.start()
    try:
        yield ours.recv(), log
        ours.send("stop")
        log["admitted"], log["refused"], log["calls"] = ours.recv()
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()


def one_run(paths: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    with provider_server(args) as (base_url, log):
        settings = Settings(base_url=base_url, model="m", concurrency=args.concurrency)
        provider = open_job_provider(settings)  # what extract_many would open; kept to watch it
        if args.limiter == "whatif":
            provider.limiter = WhatIfLimiter()  # type: ignore[attr-defined]
        elif args.limiter == "pacer":
            provider.limiter = WhatIfPacer()  # type: ignore[attr-defined]
        limiter: AdaptiveLimiter = provider.limiter  # type: ignore[attr-defined]
        samples: list[Any] = []
        stop = threading.Event()
        sampler = threading.Thread(target=sample_limiter, args=(limiter, stop, samples))
        sampler.start()
        started = time.perf_counter()
        t0 = time.monotonic()
        try:
            results = list(extract_many(paths, "receipt", settings=settings, provider=provider))
        finally:
            wall = time.perf_counter() - started
            stop.set()
            sampler.join()
    requests, admitted_at, refused_at = log["calls"], log["admitted"], log["refused"]
    admitted, refused = len(admitted_at), len(refused_at)
    failed = [r for r in results if not r.ok]
    bound = min(args.rate, args.concurrency / args.latency)
    per_second: dict[int, list[int]] = {}
    for moment in admitted_at:
        per_second.setdefault(int(moment - t0), [0, 0])[0] += 1
    for moment in refused_at:
        per_second.setdefault(int(moment - t0), [0, 0])[1] += 1
    limits = [s[1] for s in samples]
    return {
        "wall_s": wall,
        "docs_per_s": len(paths) / wall,
        "pct_of_bound": 100 * len(paths) / wall / bound,
        "requests": requests,
        "admitted": admitted,
        "refused_429": refused,
        "pct_429": 100 * refused / max(requests, 1),
        "failed": len(failed),
        "failed_types": sorted({r.error.type for r in failed if r.error}),
        "mean_limit": sum(limits) / max(len(limits), 1),
        "mean_in_flight": sum(s[2] for s in samples) / max(len(samples), 1),
        # Little's law: how long a request holds its slot (server latency + client work).
        "mean_slot_s": (sum(s[2] for s in samples) / max(len(samples), 1)) / (requests / wall),
        "pct_time_paused": 100 * sum(1 for s in samples if s[3]) / max(len(samples), 1),
        "per_second_admitted_refused": [per_second.get(k, [0, 0]) for k in range(int(wall) + 1)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--server", choices=["process", "thread"], default="process")
    parser.add_argument("--limiter", choices=["shipped", "whatif", "pacer"], default="shipped")
    args = parser.parse_args()
    bound = min(args.rate, args.concurrency / args.latency)
    print(f"machine: {machine()}")
    print(
        f"R={args.rate}/s, L={args.latency} s, C={args.concurrency}, N={args.docs}: "
        f"bound min(R, C/L) = {bound:g} docs/s, R·L = {args.rate * args.latency:g} in flight; "
        f"limiter: {args.limiter}; server in a {args.server}"
    )
    runs = []
    with tempfile.TemporaryDirectory(prefix="extractor-bench-") as folder:
        paths = make_docs(Path(folder), args.docs)
        for repeat in range(args.repeats):
            run = one_run(paths, args)
            runs.append(run)
            print(
                f"repeat {repeat + 1}: wall {run['wall_s']:.2f} s, {run['docs_per_s']:.2f} "
                f"docs/s = {run['pct_of_bound']:.1f}% of bound; requests {run['requests']}, "
                f"429s {run['refused_429']} ({run['pct_429']:.1f}%), failed {run['failed']} "
                f"{run['failed_types']}; mean limit {run['mean_limit']:.1f}, mean in flight "
                f"{run['mean_in_flight']:.1f} x {run['mean_slot_s'] * 1000:.0f} ms per slot, "
                f"paused {run['pct_time_paused']:.0f}% of the "
                f"time",
                flush=True,
            )
            print(f"  admitted/refused per second: {run['per_second_admitted_refused']}")
    keys = (
        "wall_s",
        "docs_per_s",
        "pct_of_bound",
        "pct_429",
        "mean_limit",
        "mean_in_flight",
        "mean_slot_s",
        "pct_time_paused",
        "failed",
    )
    summary: dict[str, Any] = {
        k: {m: round(v, 2) for m, v in spread([r[k] for r in runs]).items()} for k in keys
    }
    summary["aim_met"] = (
        summary["pct_of_bound"]["median"] >= 90 and summary["pct_429"]["median"] < 5
    )
    print(
        f"\nmedian of {args.repeats}: {summary['docs_per_s']['median']:.2f} docs/s = "
        f"{summary['pct_of_bound']['median']:.1f}% of the {bound:g}/s bound "
        f"[{summary['pct_of_bound']['min']:.1f}–{summary['pct_of_bound']['max']:.1f}], "
        f"429 share {summary['pct_429']['median']:.1f}% "
        f"[{summary['pct_429']['min']:.1f}–{summary['pct_429']['max']:.1f}], "
        f"mean limit {summary['mean_limit']['median']:.1f} (R·L = "
        f"{args.rate * args.latency:g}), aim met: {summary['aim_met']}"
    )
    name = "ratelimit" if args.limiter == "shipped" else f"ratelimit_{args.limiter}"
    if args.server == "thread":
        name += "_thread"
    path = write_result(
        name,
        {
            "docs": args.docs,
            "rate": args.rate,
            "latency_s": args.latency,
            "concurrency": args.concurrency,
            "server": args.server,
            "bound_docs_per_s": bound,
            "limiter": args.limiter,
            "repeats": args.repeats,
            "summary": summary,
            "runs": runs,
        },
    )
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
