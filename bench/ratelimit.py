"""A rate-limited provider: how close does a run get to ``min(R, C/L)``, and at what 429 cost?

    .venv/bin/python bench/ratelimit.py [--docs 1000] [--rate 50] [--latency 0.2]
                                        [--concurrency 32] [--repeats 3]
                                        [--server process|thread] [--in-process]

The server (a ScriptedServer on 127.0.0.1 with a responder) admits at most ``--rate``
chat requests in any sliding one-second window (thread-safe). An admitted request is
answered after ``--latency`` seconds with a valid receipt; one over the limit is answered
at once with 429 and ``Retry-After`` = seconds until the oldest admission leaves the
window (a decimal string). ``--docs`` small text files go through ``extract_many`` with
``--concurrency`` well above R·L, so the bound is min(R, C/L) documents per second.

The server runs in a child process by default (a real provider is on another machine;
in this process it would take the GIL from the client measured); ``--server thread``
keeps it in-process. Monotonic clocks are system-wide, so its timestamps line up with ours.

Reported (median over repeats): docs/s and % of the bound, also counted from the first
request the server saw (the run's start-up, e.g. its worker processes, is not the
limiter's doing), the share of requests answered 429 (server-side counts), documents that
failed, and — from the client — the limiter's concurrency limit sampled every 10 ms and
the time spent paused by ``Retry-After``. ``--in-process`` reads documents in threads
(``Settings.isolate=False``) instead of worker processes.

The limiter measured is the shipped ``AdaptiveLimiter`` (extractor/providers/limiter.py);
its pace is sampled with its concurrency limit (``mean pace``: the mean of its starts per
second while pacing, from the first 429 on), and so are the requests queued in it
(``mean waiting``). The result file also holds, per second, the admitted and refused
counts, the highest pace and the mean queue, and every 429 the limiter heard (when, when
its request started, ``Retry-After``, then the pace and concurrency limit after it).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
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


def make_docs(folder: Path, count: int) -> list[Path]:
    paths = []
    for number in range(count):
        path = folder / f"receipt-{number:05d}.txt"
        path.write_text(f"ACME Stores\n1 Main Street\n31/01/2024\nreceipt {number}\nTOTAL 12.50\n")
        paths.append(path)
    return paths


Heard = tuple[float, float, float, float | None, float]


def watch_refusals(limiter: AdaptiveLimiter) -> list[Heard]:
    """Log each 429 the limiter hears: (when, its request's start, Retry-After, then the
    pace and the concurrency limit after it)."""
    log: list[Heard] = []
    heard = limiter.refused

    def refused(retry_after: float | None, started: float) -> None:
        heard(retry_after, started)
        log.append((time.monotonic(), started, retry_after or 0.0, limiter.rate, limiter.limit))

    limiter.refused = refused  # type: ignore[method-assign]
    return log


def sample_limiter(limiter: AdaptiveLimiter, stop: threading.Event, out: list[Any]) -> None:
    while not stop.wait(0.01):
        paused = limiter._resume_at > time.monotonic()
        out.append(
            (
                time.monotonic(),
                limiter.limit,
                limiter.in_flight,
                paused,
                limiter.rate,
                limiter.waiting,
            )
        )


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
        if args.in_process:  # read documents in threads, as before worker isolation
            settings = replace(settings, isolate=False)
        provider = open_job_provider(settings)  # what extract_many would open; kept to watch it
        limiter: AdaptiveLimiter = provider.limiter  # type: ignore[attr-defined]
        reactions = watch_refusals(limiter)
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
    first = min(admitted_at[:1] + refused_at[:1], default=t0) - t0  # start-up before it
    admitted, refused = len(admitted_at), len(refused_at)
    failed = [r for r in results if not r.ok]
    bound = min(args.rate, args.concurrency / args.latency)
    per_second: dict[int, list[int]] = {}
    for moment in admitted_at:
        per_second.setdefault(int(moment - t0), [0, 0])[0] += 1
    for moment in refused_at:
        per_second.setdefault(int(moment - t0), [0, 0])[1] += 1
    limits = [s[1] for s in samples]
    paces = [s[4] for s in samples if s[4] is not None]
    return {
        "wall_s": wall,
        "docs_per_s": len(paths) / wall,
        "pct_of_bound": 100 * len(paths) / wall / bound,
        "first_request_s": first,
        "pct_of_bound_from_first": 100 * len(paths) / (wall - first) / bound,
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
        "mean_pace": sum(paces) / len(paces) if paces else float("nan"),
        "mean_waiting": sum(s[5] for s in samples) / max(len(samples), 1),
        "pct_time_paused": 100 * sum(1 for s in samples if s[3]) / max(len(samples), 1),
        "per_second_admitted_refused": [per_second.get(k, [0, 0]) for k in range(int(wall) + 1)],
        # Requests queued in the limiter (paced, paused or at the concurrency limit), per second.
        "refusals_heard": [
            (round(t - t0, 3), round(s - t0, 3), ra, round(rate, 2) if rate else None, limit)
            for t, s, ra, rate, limit in reactions
        ],
        "per_second_pace": [
            round(max(r), 1)
            if (r := [x[4] for x in samples if int(x[0] - t0) == k and x[4]])
            else 0
            for k in range(int(wall) + 1)
        ],
        "per_second_waiting": [
            round(sum(w) / len(w), 1)
            if (w := [x[5] for x in samples if int(x[0] - t0) == k])
            else 0
            for k in range(int(wall) + 1)
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--server", choices=["process", "thread"], default="process")
    parser.add_argument(
        "--in-process", action="store_true", help="read documents in threads (isolate=False)"
    )
    args = parser.parse_args()
    bound = min(args.rate, args.concurrency / args.latency)
    print(f"machine: {machine()}")
    print(
        f"R={args.rate}/s, L={args.latency} s, C={args.concurrency}, N={args.docs}: "
        f"bound min(R, C/L) = {bound:g} docs/s, R·L = {args.rate * args.latency:g} in flight; "
        f"server in a {args.server}"
    )
    runs = []
    with tempfile.TemporaryDirectory(prefix="extractor-bench-") as folder:
        paths = make_docs(Path(folder), args.docs)
        for repeat in range(args.repeats):
            run = one_run(paths, args)
            runs.append(run)
            print(
                f"repeat {repeat + 1}: wall {run['wall_s']:.2f} s, {run['docs_per_s']:.2f} "
                f"docs/s = {run['pct_of_bound']:.1f}% of bound "
                f"({run['pct_of_bound_from_first']:.1f}% after the first request at "
                f"{run['first_request_s']:.2f} s); "
                f"requests {run['requests']}, "
                f"429s {run['refused_429']} ({run['pct_429']:.1f}%), failed {run['failed']} "
                f"{run['failed_types']}; mean limit {run['mean_limit']:.1f}, mean in flight "
                f"{run['mean_in_flight']:.1f} x {run['mean_slot_s'] * 1000:.0f} ms per slot, "
                f"mean pace {run['mean_pace']:.1f}/s, mean waiting {run['mean_waiting']:.1f}, "
                f"paused {run['pct_time_paused']:.0f}% of the "
                f"time",
                flush=True,
            )
            print(f"  admitted/refused per second: {run['per_second_admitted_refused']}")
    keys = (
        "wall_s",
        "docs_per_s",
        "pct_of_bound",
        "first_request_s",
        "pct_of_bound_from_first",
        "pct_429",
        "mean_limit",
        "mean_in_flight",
        "mean_slot_s",
        "mean_pace",
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
        f"[{summary['pct_of_bound']['min']:.1f}–{summary['pct_of_bound']['max']:.1f}] "
        f"({summary['pct_of_bound_from_first']['median']:.1f}% after the first request, "
        f"{summary['first_request_s']['median']:.2f} s in), "
        f"429 share {summary['pct_429']['median']:.1f}% "
        f"[{summary['pct_429']['min']:.1f}–{summary['pct_429']['max']:.1f}], "
        f"mean pace {summary['mean_pace']['median']:.1f}/s, "
        f"mean limit {summary['mean_limit']['median']:.1f} (R·L = "
        f"{args.rate * args.latency:g}), aim met: {summary['aim_met']}"
    )
    name = "ratelimit"
    if (args.rate, args.latency, args.concurrency, args.docs) != (50, 0.2, 32, 1000):
        name += f"_r{args.rate}_l{args.latency:g}_c{args.concurrency}_n{args.docs}"
    if args.server == "thread":
        name += "_thread"
    if args.in_process:
        name += "_in_process"
    path = write_result(
        name,
        {
            "docs": args.docs,
            "rate": args.rate,
            "latency_s": args.latency,
            "concurrency": args.concurrency,
            "server": args.server,
            "in_process": args.in_process,
            "bound_docs_per_s": bound,
            "repeats": args.repeats,
            "summary": summary,
            "runs": runs,
        },
    )
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
