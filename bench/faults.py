"""Throughput under a rate limit *and* faults: how close to the bound, and is anything lost?

    .venv/bin/python bench/faults.py [--copies 4] [--rate 10] [--latency 1.0]
                                     [--concurrency 16] [--error-rate 0.05] [--repeats 3]
                                     [--client extractor|instructor]

The documents are the 73 eval invoices (``../shared/eval/invoices``, text layer) repeated
``--copies`` times (292 by default), each copy a distinct file, extracted with the shipped
``invoice`` schema. The server (a ScriptedServer in a child process) admits at most
``--rate`` requests in any sliding second and answers the rest 429 with ``Retry-After``;
an admitted request is answered after ``--latency`` seconds with that invoice's truth, or
with HTTP 500 for a seeded ``--error-rate`` share of them. The bound is N / min(R, C/L)
seconds: what a client that never wasted a slot and never hit an error could do (the
retries the 500s force make it unreachable by ~error-rate).

``--client instructor`` measures the plain loop a user would write instead: one
``AsyncOpenAI`` client (its own retries: 2, as shipped), ``instructor.from_openai(...,
mode=JSON_SCHEMA)`` and ``asyncio.Semaphore(C)`` over the same files (their text read
with pypdfium2), an exception counting as a lost document.

Reported (median over repeats): wall seconds, % of the bound, documents that did not come
back ``ok`` (lost), requests, 429s and 500s seen by the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _common import EVAL as _EVAL
from _common import machine, revision, spread, write_result

from extractor import extract_many
from extractor.testing import RecordedRequest, Reply, ScriptedServer

EVAL = _EVAL / "invoices"
INVOICE = json.dumps({
    "invoice_number": "INV-1", "invoice_date": "2024-01-31", "due_date": None,
    "seller_name": "ACME GmbH", "seller_vat_id": None, "buyer_name": "Buyer Ltd",
    "currency": "EUR", "net_amount": 100.0, "tax_amount": 19.0, "total_amount": 119.0,
    "iban": None, "line_items": [],
})  # fmt: skip


def _truth_answers() -> list[tuple[str, str]]:
    """(invoice number, the invoice's truth as an answer) for every eval invoice."""
    from client_cpu import _truths

    return [(json.dumps(t["invoice_number"])[1:-1], json.dumps(t)) for t in _truths()
            if t.get("invoice_number")]  # fmt: skip


class FaultyResponder:
    """A sliding-window rate limit (429 + Retry-After), a latency, and seeded HTTP 500s;
    an admitted request is answered with its invoice's truth, as a good model would (a
    wrong answer could send the pipeline into extra requests the bound does not count)."""

    def __init__(self, rate: int, latency: float, error_rate: float, seed: int = 7) -> None:
        self.rate, self.latency, self.error_rate = rate, latency, error_rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._window: deque[float] = deque()
        self.counts = {"admitted": 0, "refused": 0, "errors": 0}
        self.admitted_at: list[float] = []
        self.answers = _truth_answers()

    def __call__(self, request: RecordedRequest) -> Reply:
        with self._lock:
            now = time.monotonic()
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= self.rate:
                self.counts["refused"] += 1
                wait = max(0.001, self._window[0] + 1.0 - now)
                return Reply.error(429, "rate limit", headers={"Retry-After": f"{wait:.3f}"})
            self._window.append(now)
            self.admitted_at.append(now)
            self.counts["admitted"] += 1
            failing = self._random.random() < self.error_rate
            if failing:
                self.counts["errors"] += 1
        if failing:
            return Reply(status=500, json={"error": {"message": "upstream"}}, delay=self.latency)
        shown = json.dumps(request.json["messages"])  # the document, whatever its turn
        answer = next((a for number, a in self.answers if number in shown), INVOICE)
        return Reply.chat(answer, delay=self.latency)


def _serve(conn: Connection, rate: int, latency: float, error_rate: float) -> None:
    responder = FaultyResponder(rate, latency, error_rate)
    with ScriptedServer(responder=responder) as server:
        conn.send(server.base_url)
        conn.recv()
        conn.send((responder.counts, responder.admitted_at))


@contextmanager
def faulty_server(args: argparse.Namespace) -> Iterator[tuple[str, dict[str, Any]]]:
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    child = context.Process(target=_serve, args=(theirs, args.rate, args.latency, args.error_rate))
    child.start()
    counts: dict[str, Any] = {}
    try:
        yield ours.recv(), counts
        ours.send("stop")
        tallies, counts["admitted_at"] = ours.recv()
        counts.update(tallies)
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()


def make_docs(folder: Path, copies: int) -> list[Path]:
    sources = sorted(EVAL.glob("*.pdf"))
    if not sources:
        raise SystemExit(f"no eval invoices in {EVAL}")
    paths = []
    for copy in range(copies):
        for source in sources:
            target = folder / f"{copy}-{source.name}"
            # A distinct file per copy: append a comment so the bytes (and sha256) differ.
            shutil.copyfile(source, target)
            with target.open("ab") as handle:
                handle.write(f"\n% copy {copy}\n".encode())
            paths.append(target)
    return paths


def run_extractor(paths: list[Path], base_url: str, args: argparse.Namespace) -> int:
    results = extract_many(
        paths, "invoice", base_url=base_url, model="m", concurrency=args.concurrency,
        mode="text", ocr=False,
    )  # fmt: skip
    return sum(not r.ok for r in results)


def run_instructor(paths: list[Path], base_url: str, args: argparse.Namespace) -> int:
    import instructor
    import pypdfium2
    from openai import AsyncOpenAI

    from schemas import Invoice

    texts = []
    for path in paths:
        pdf = pypdfium2.PdfDocument(path)
        texts.append("\n".join(page.get_textpage().get_text_range() for page in pdf))
        pdf.close()

    async def main() -> int:
        client = instructor.from_openai(
            AsyncOpenAI(base_url=base_url, api_key="x"), mode=instructor.Mode.JSON_SCHEMA
        )
        gate = asyncio.Semaphore(args.concurrency)
        kinds: Counter[str] = Counter()

        async def one(text: str) -> bool:
            async with gate:
                try:
                    await client.chat.completions.create(
                        model="m", response_model=Invoice, max_retries=2,
                        messages=[{"role": "user", "content": text}],
                    )  # fmt: skip
                    return True
                except Exception as exc:
                    kinds[type(exc).__name__] += 1
                    return False

        done = await asyncio.gather(*(one(t) for t in texts))
        if kinds:
            print(f"  the plain loop's exceptions: {dict(kinds)}")
        return sum(not ok for ok in done)

    return asyncio.run(main())


def one_run(paths: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    client = run_extractor if args.client == "extractor" else run_instructor
    with faulty_server(args) as (base_url, counts):
        started, t0 = time.perf_counter(), time.monotonic()
        lost = client(paths, base_url, args)
        wall = time.perf_counter() - started
    bound_s = len(paths) / min(args.rate, args.concurrency / args.latency)
    return {
        "wall_s": wall,
        "pct_of_bound": 100 * bound_s / wall,
        "lost": lost,
        "requests": counts["admitted"] + counts["refused"],
        "refused_429": counts["refused"],
        "errors_500": counts["errors"],
        "first_request_s": min(counts["admitted_at"], default=t0) - t0,
        "admitted_per_second": _per_second(counts["admitted_at"], t0),
    }


def _per_second(moments: list[float], t0: float) -> list[int]:
    tally: dict[int, int] = {}
    for moment in moments:
        tally[int(moment - t0)] = tally.get(int(moment - t0), 0) + 1
    return [tally.get(k, 0) for k in range(max(tally, default=-1) + 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--rate", type=int, default=10)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--error-rate", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--client", choices=["extractor", "instructor"], default="extractor")
    parser.add_argument("--verbose", action="store_true", help="admissions per second")
    args = parser.parse_args()
    print(f"machine: {machine()}, commit {revision()}")
    runs = []
    with tempfile.TemporaryDirectory(prefix="extractor-faults-") as folder:
        paths = make_docs(Path(folder), args.copies)
        bound_s = len(paths) / min(args.rate, args.concurrency / args.latency)
        print(
            f"{len(paths)} invoices, R={args.rate}/s, L={args.latency} s, "
            f"C={args.concurrency}, {args.error_rate:.0%} HTTP 500s: bound {bound_s:.1f} s; "
            f"client {args.client}"
        )
        for repeat in range(args.repeats):
            run = one_run(paths, args)
            runs.append(run)
            print(f"repeat {repeat + 1}: {run['wall_s']:.1f} s = {run['pct_of_bound']:.1f}% of "
                  f"the bound, lost {run['lost']}, requests {run['requests']} "
                  f"(429: {run['refused_429']}, 500: {run['errors_500']}), first request at "
                  f"{run['first_request_s']:.2f} s", flush=True)  # fmt: skip
            if args.verbose:
                print(f"  admitted per second: {run['admitted_per_second']}")
    summary = {k: spread([r[k] for r in runs]) for k in ("wall_s", "pct_of_bound", "lost")}
    print(f"median of {args.repeats}: {summary['wall_s']['median']:.1f} s = "
          f"{summary['pct_of_bound']['median']:.1f}% of the bound "
          f"[{summary['pct_of_bound']['min']:.1f}–{summary['pct_of_bound']['max']:.1f}], "
          f"lost {summary['lost']['median']:g}")  # fmt: skip
    name = f"faults_{args.client}_r{args.rate}_c{args.concurrency}_e{args.error_rate:g}"
    path = write_result(name, {"args": vars(args), "summary": summary, "runs": runs})
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
