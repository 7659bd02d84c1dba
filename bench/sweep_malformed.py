"""Sweep every file of ../shared/corpus/pdf-malformed through the pages worker pool.

Each file must end with exactly one outcome (pages, or one classified error), the parent
must survive, and time and memory must stay bounded. Prints a summary and writes every
outcome to bench/results/sweep_malformed.json.

    .venv/bin/python bench/sweep_malformed.py [--corpus DIR] [--concurrency 2] [--mode text]

``--mode vision`` renders every page too (the pixel cap, rendering crashes).

Exit status: 0 when every file has exactly one classified outcome, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing.forkserver
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import CORPUS, RESULTS

ROOT = Path(__file__).resolve().parent.parent
OUT = RESULTS / "sweep_malformed.json"


async def sweep(files: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    from extractor.errors import ExtractorError
    from extractor.isolate import PagesWorkerPool
    from extractor.settings import PageOptions

    options = PageOptions(mode=args.mode, ocr=False, vision=args.mode != "text")
    concurrency = args.concurrency
    outcomes: dict[str, list[dict[str, Any]]] = {str(f): [] for f in files}
    todo: asyncio.Queue[Path] = asyncio.Queue()
    for path in files:
        todo.put_nowait(path)

    async def one(pool: PagesWorkerPool, path: Path) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            _, pages = await pool.prepare(path, options)
            outcome: dict[str, Any] = {"status": "ok", "error": None, "pages": len(pages)}
        except ExtractorError as exc:
            outcome = {"status": "error", "error": exc.code, "message": str(exc)[:300]}
        except Exception as exc:  # not classified: a bug in the pool, counted as a failure
            outcome = {"status": "unclassified", "error": type(exc).__name__, "message": str(exc)}
        outcome["seconds"] = round(time.perf_counter() - started, 4)
        return outcome

    async def consumer(pool: PagesWorkerPool) -> None:
        while not todo.empty():
            path = todo.get_nowait()
            outcomes[str(path)].append(await one(pool, path))

    started = time.perf_counter()
    memory = args.memory_mib << 20
    async with PagesWorkerPool(concurrency, timeout_s=args.timeout, memory_bytes=memory) as pool:
        await asyncio.gather(*(consumer(pool) for _ in range(concurrency)))
        stats = pool.stats
    return {
        "wall_s": round(time.perf_counter() - started, 2),
        "outcomes": outcomes,
        "pool": stats.__dict__,
    }


def summarise(run: dict[str, Any], corpus: Path) -> dict[str, Any]:
    outcomes = run["outcomes"]
    single = [o[0] for o in outcomes.values() if len(o) == 1]
    seconds = sorted(o["seconds"] for o in single)
    kinds = Counter(o["error"] or "ok" for o in single)
    slowest = sorted(
        ((o[0]["seconds"], name) for name, o in outcomes.items() if len(o) == 1), reverse=True
    )[:5]
    return {
        "corpus": str(corpus),
        "files": len(outcomes),
        "without_exactly_one_outcome": [n for n, o in outcomes.items() if len(o) != 1],
        "unclassified": [n for n, o in outcomes.items() if o and o[0]["status"] == "unclassified"],
        "ok": kinds.pop("ok", 0),
        "errors": dict(kinds.most_common()),
        "wall_s": run["wall_s"],
        "sum_s": round(sum(seconds), 2),
        "p50_s": round(statistics.median(seconds), 4) if seconds else None,
        "p95_s": round(seconds[int(0.95 * (len(seconds) - 1))], 4) if seconds else None,
        "max_s": seconds[-1] if seconds else None,
        "slowest": [{"seconds": s, "file": Path(n).name} for s, n in slowest],
        "pool": run["pool"],
    }


def _stop_forkserver() -> None:
    # Workers are children of the forkserver, which reaps them; their peak RSS reaches our
    # RUSAGE_CHILDREN only once we reap the forkserver itself (a private API, hence the guard).
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    if server is not None and hasattr(server, "_stop"):
        server._stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--mode", choices=["text", "vision"], default="text")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--memory-mib", type=int, default=2048)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    files = sorted(p for p in args.corpus.rglob("*") if p.is_file())
    run = asyncio.run(sweep(files, args))
    _stop_forkserver()
    summary = summarise(run, args.corpus)
    summary["mode"] = args.mode
    summary["parent_peak_rss_mib"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    summary["children_peak_rss_mib"] = round(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "outcomes": run["outcomes"]}, indent=1))
    print(json.dumps(summary, indent=2))
    print(f"written: {args.out}")
    failed = summary["without_exactly_one_outcome"] or summary["unclassified"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
