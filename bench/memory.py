"""Peak memory of a CLI job: 1,000 against 10,000 small documents.

    .venv/bin/python bench/memory.py [--sizes 1000 10000] [--repeats 2] [--concurrency 16]
    .venv/bin/python bench/memory.py --diagnose 2000     # what grows, with tracemalloc

For each size a folder of small ``.txt`` receipts is made once; then, per repeat, a fresh
output directory and a child process

    /usr/bin/time -f %M extractor extract FOLDER -s receipt -o OUT/results.jsonl --include '*.txt'
                  --base-url URL --model m --concurrency 16 -q

runs against a ScriptedServer in this process that answers every request at once with a
valid receipt. The peak RSS is what ``/usr/bin/time`` reports for the extractor process.
Not ``wait4``/``RUSAGE_CHILDREN`` straight from here: Linux carries the *spawning*
process's RSS into the child's ``ru_maxrss`` across fork/vfork + exec, and this process
grows (the server records every request), so a small run spawned after a large one read
212 MiB where its own peak was 104 MiB. ``time`` is a small process that forks afresh.

The child's RSS is also sampled every 50 ms from /proc to show *when* memory grows: while
documents are processed, or in the export at the end. The aim (issue 4): the peak for
10,000 within 10 % of the peak for 1,000.

``--diagnose N`` runs the same job in this process under tracemalloc and reports the
Python memory at its peak during the run (results finished but not yet committed pile up
here when the producers outrun the store), held just before the export, and at the peak
during it, with the lines that allocated what is held at the export.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import tracemalloc
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _common import descendants, machine, run_cli_timed, spread, status_kib, write_result

from extractor.testing import RecordedRequest, Reply, ScriptedServer

RECEIPT = json.dumps(
    {"company": "ACME Stores", "address": "1 Main Street", "date": "2024-01-31", "total": 12.5}
)


def answer(request: RecordedRequest) -> Reply:
    return Reply.chat(RECEIPT)


def make_docs(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        (folder / f"receipt-{number:05d}.txt").write_text(
            f"ACME Stores\n1 Main Street\n31/01/2024\nreceipt {number}\nTOTAL 12.50\n"
        )


def one_run(docs: Path, out: Path, base_url: str, concurrency: int) -> dict[str, Any]:
    samples: list[tuple[float, int]] = []

    def sample(wrapper: int, elapsed: float) -> None:
        extractor = descendants(wrapper)[:1]  # time's child; not the reading workers
        value = status_kib(extractor[0], "VmRSS") if extractor else None
        if value:
            samples.append((elapsed, value))

    code, wall, peak_kib, text = run_cli_timed(
        ["extract", str(docs), "-s", "receipt", "-o", str(out / "results.jsonl"),
         "--include", "*.txt",  # folder walks take text files only when asked
         "--base-url", base_url, "--model", "m", "--concurrency", str(concurrency), "-q"],
        sample, interval=0.05,
    )  # fmt: skip
    path = out / "results.jsonl"
    lines = path.read_bytes().count(b"\n") if path.exists() else 0
    before_export = [v for t, v in samples if t < wall - 1.0]  # a coarse split, see below
    return {
        "exit_code": code,
        "records": lines,
        "wall_s": wall,
        "peak_rss_mib": peak_kib / 1024,
        "sampled_max_rss_mib": max(v for _, v in samples) / 1024 if samples else None,
        "sampled_rss_mib_until_last_second": max(before_export) / 1024 if before_export else None,
        "sampled_rss_mib": [
            (round(t, 2), round(v / 1024, 1)) for t, v in samples[:: max(1, len(samples) // 40)]
        ],
        "stderr_tail": text[-500:],
    }


def measure(args: argparse.Namespace) -> int:
    print(f"machine: {machine()}")
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in args.sizes}
    with (
        tempfile.TemporaryDirectory(prefix="extractor-bench-") as tmp,
        ScriptedServer(responder=answer) as server,
    ):
        for n in args.sizes:
            make_docs(Path(tmp) / f"docs-{n}", n)
        for repeat in range(args.repeats):
            for n in args.sizes:
                out = Path(tmp) / f"out-{n}-{repeat}"
                run = one_run(Path(tmp) / f"docs-{n}", out, server.base_url, args.concurrency)
                runs[n].append(run)
                print(
                    f"repeat {repeat + 1} N={n:6d}: peak RSS {run['peak_rss_mib']:.1f} MiB "
                    f"(sampled: {run['sampled_rss_mib_until_last_second']:.1f} MiB until the "
                    f"last second, {run['sampled_max_rss_mib']:.1f} MiB max), wall "
                    f"{run['wall_s']:.1f} s, exit {run['exit_code']}, records {run['records']}",
                    flush=True,
                )
                if run["exit_code"] != 0:
                    print(f"  stderr: {run['stderr_tail']}")
    summary: dict[str, Any] = {}
    for n, rs in runs.items():
        summary[str(n)] = {
            k: {m: round(v, 1) for m, v in spread([r[k] for r in rs]).items()}
            for k in ("peak_rss_mib", "sampled_rss_mib_until_last_second", "wall_s")
        }
        summary[str(n)]["all_records"] = all(r["records"] == n for r in rs)
    small, large = str(min(args.sizes)), str(max(args.sizes))
    ratio = summary[large]["peak_rss_mib"]["median"] / summary[small]["peak_rss_mib"]["median"]
    summary["ratio_large_to_small"] = round(ratio, 3)
    summary["aim_met"] = ratio <= 1.10
    peaks = ", ".join(
        f"N={n}: {summary[str(n)]['peak_rss_mib']['median']:.1f} MiB "
        f"[{summary[str(n)]['peak_rss_mib']['min']:.1f}–"
        f"{summary[str(n)]['peak_rss_mib']['max']:.1f}]"
        for n in args.sizes
    )
    print(f"\nmedian peak RSS: {peaks}")
    print(
        f"ratio {large}/{small}: {ratio:.3f} ({100 * (ratio - 1):+.1f}%), aim ≤ +10%: "
        f"{summary['aim_met']}"
    )
    payload = {"concurrency": args.concurrency, "repeats": args.repeats, "summary": summary}
    path = write_result("memory", {**payload, "runs": runs})
    print(f"written: {path}")
    return 0


def _serve(conn: Connection) -> None:
    with ScriptedServer(responder=answer) as server:
        conn.send(server.base_url)
        conn.recv()


def diagnose(n: int, concurrency: int) -> int:
    """The job in this process under tracemalloc: what is held before and during export."""
    from extractor import jobs
    from extractor.api import open_job_provider
    from extractor.schema import load_schema
    from extractor.settings import Settings
    from extractor.sources import iter_sources

    marks: dict[str, Any] = {}
    real_write = jobs.write_records

    def write_records(records: Any, path: Path, fmt: Any, **options: Any) -> Any:
        # Called as write_records(store.records, …): the records are read while writing.
        marks["at_export"], marks["run_peak"] = tracemalloc.get_traced_memory()
        marks["snapshot"] = tracemalloc.take_snapshot()
        tracemalloc.reset_peak()
        written = real_write(records, path, fmt, **options)
        marks["export_peak"] = tracemalloc.get_traced_memory()[1]
        return written

    # The server in a child process, so that its record of every request is not traced.
    ours, theirs = multiprocessing.get_context("fork").Pipe()
    server = multiprocessing.get_context("fork").Process(target=_serve, args=(theirs,))
    server.start()
    base_url = ours.recv()
    with tempfile.TemporaryDirectory(prefix="extractor-bench-") as tmp:
        make_docs(Path(tmp) / "docs", n)
        settings = Settings(base_url=base_url, model="m", concurrency=concurrency)
        provider = open_job_provider(settings)
        jobs.write_records = write_records  # type: ignore[assignment]
        tracemalloc.start(1)
        try:
            summary = jobs.run_job(
                iter_sources([Path(tmp) / "docs"], include=["*.txt"]), load_schema("receipt"),
                settings, provider,
                output=Path(tmp) / "out" / "results.jsonl", fmt="jsonl",
            )  # fmt: skip
            marks["after"] = tracemalloc.get_traced_memory()[0]
        finally:
            jobs.write_records = real_write  # type: ignore[assignment]
            tracemalloc.stop()
            ours.send("stop")
            server.join()
    mib = 1 / (1 << 20)
    print(f"diagnose N={n}, concurrency {concurrency}: processed {summary.processed} documents")
    print(f"  peak traced Python memory during the run: {marks['run_peak'] * mib:.1f} MiB")
    print(f"  traced Python memory at the export call: {marks['at_export'] * mib:.1f} MiB")
    print(f"  peak during write_records:                {marks['export_peak'] * mib:.1f} MiB")
    print(f"  after run_job returned (summary held):    {marks['after'] * mib:.1f} MiB")
    print("  biggest holders at the export call (by line):")
    for stat in marks["snapshot"].statistics("lineno")[:10]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        print(f"    {stat.size * mib:7.2f} MiB {stat.count:8d} blocks  {where}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--diagnose", type=int, metavar="N", default=None)
    args = parser.parse_args()
    if args.diagnose:
        return diagnose(args.diagnose, args.concurrency)
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
