"""Documents per minute, local engine vs Ray (``--engine ray``), on this machine.

    .venv/bin/python bench/scale.py [--docs 200] [--latency 0.5] [--concurrency 8] [--repeats 3]

A ScriptedServer on 127.0.0.1 answers every chat request after ``--latency`` seconds with a
valid receipt. ``--docs`` small text files go through ``extractor extract … -o OUT``, a new
process each run, once with the local engine and once with ``--engine ray`` (which starts
a local Ray instance with the machine's cores). Each run starts from an empty output.

Besides the end-to-end docs/min, the overhead of Ray is split into what can be timed
alone: ``ray.init`` (starting GCS, raylet and the first workers) and the time between the
run's start and the first request reaching the provider (imports, actors starting,
reading workers in each actor).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, spread, write_result

from extractor.testing import RecordedRequest, Reply, ScriptedServer

ANSWER = '{"company": "ACME", "address": null, "date": null, "total": 12.5}'


def _run(folder: Path, out: Path, url: str, engine: str, concurrency: int) -> float:
    command = [
        str(ROOT / ".venv" / "bin" / "extractor"), "extract", str(folder), "-s", "receipt",
        "-o", str(out), "-q", "--base-url", url, "--model", "m",
        "--concurrency", str(concurrency), "--engine", engine, "--include", "*.txt",
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _ray_init() -> float:
    code = (
        "import time; t = time.perf_counter(); import ray; "
        "ray.init(include_dashboard=False, logging_level='ERROR'); "
        "print(time.perf_counter() - t); ray.shutdown()"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    first: dict[str, list[float]] = {"local": [], "ray": []}
    walls: dict[str, list[float]] = {"local": [], "ray": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        for n in range(args.docs):
            (folder / f"r{n:04}.txt").write_text(f"ACME\nreceipt no {n}\nTOTAL 12.50\n")
        arrivals: list[float] = []

        def answer(request: RecordedRequest) -> Reply:
            arrivals.append(time.perf_counter())
            return Reply.chat(ANSWER, delay=args.latency)

        with ScriptedServer(responder=answer) as server:
            for repeat in range(args.repeats):
                for engine in ("local", "ray"):
                    arrivals.clear()
                    out = Path(tmp) / f"{engine}{repeat}" / "r.jsonl"
                    started = time.perf_counter()
                    walls[engine].append(_run(folder, out, server.base_url, engine,
                                              args.concurrency))  # fmt: skip
                    first[engine].append(min(arrivals) - started)
    inits = [_ray_init() for _ in range(args.repeats)]
    ideal = args.docs / args.concurrency * args.latency
    result = {
        "docs": args.docs, "latency_s": args.latency, "concurrency": args.concurrency,
        "ideal_s": ideal,
        "engines": {
            engine: {
                "wall_s": spread(walls[engine]),
                "docs_per_min": args.docs / spread(walls[engine])["median"] * 60,
                "first_request_after_s": spread(first[engine]),
            }
            for engine in walls
        },
        "ray_init_s": spread(inits),
    }  # fmt: skip
    path = write_result("scale", result)
    for engine, figures in result["engines"].items():  # type: ignore[attr-defined]
        print(f"{engine:>5}: {figures['docs_per_min']:.0f} docs/min, wall "
              f"{figures['wall_s']['median']:.1f} s, first request after "
              f"{figures['first_request_after_s']['median']:.1f} s")  # fmt: skip
    print(f"ray.init alone: {spread(inits)['median']:.1f} s; ideal {ideal:.1f} s; -> {path}")


if __name__ == "__main__":
    main()
