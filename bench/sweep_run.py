"""All of ../shared/corpus/pdf-malformed (1,004 files) as one CLI run: one record per file.

    .venv/bin/python bench/sweep_run.py [--corpus DIR] [--concurrency 4] [--mode auto]

``extractor extract CORPUS -s receipt -o OUT/results.jsonl --base-url … --model m`` runs
as a child against a ScriptedServer in this process that answers every request at once
with a valid receipt, so what is measured is extractor's own handling of the files:
reading them in worker processes, classifying what cannot be read, and never losing or
duplicating a record. Reported: exit code, records written and distinct sources (both
must equal the files), outcomes by status and error type, wall time, the CLI's peak RSS
(``/usr/bin/time``) and the peak RSS summed over the CLI and its reading workers
(sampled from /proc every 100 ms). Writes ``bench/results/sweep_run.json``.

Exit status 0 when every file has exactly one record.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from _common import CORPUS, descendants, run_cli_timed, status_kib, write_result

from extractor.testing import RecordedRequest, Reply, ScriptedServer

RECEIPT = json.dumps({"company": "ACME", "address": None, "date": None, "total": 1.0})


def answer(request: RecordedRequest) -> Reply:
    return Reply.chat(RECEIPT)


def run(corpus: Path, base_url: str, concurrency: int, mode: str, out: Path) -> dict[str, Any]:
    peak_tree_kib = 0

    def sample(wrapper: int, elapsed: float) -> None:
        nonlocal peak_tree_kib
        total = sum(status_kib(pid, "VmRSS") or 0 for pid in descendants(wrapper))
        peak_tree_kib = max(peak_tree_kib, total)

    code, wall, peak_kib, text = run_cli_timed(
        ["extract", str(corpus), "-s", "receipt", "-o", str(out), "--base-url", base_url,
         "--model", "m", "--mode", mode, "--concurrency", str(concurrency), "-q"],
        sample, interval=0.1,
    )  # fmt: skip
    records = [json.loads(line) for line in out.read_bytes().splitlines()] if out.exists() else []
    outcomes = Counter(r["status"] if r["status"] == "ok" else r["error"]["type"] for r in records)
    return {
        "exit_code": code,
        "records": len(records),
        "distinct_sources": len({r["source"] for r in records}),
        "outcomes": dict(outcomes.most_common()),
        "wall_s": round(wall, 1),
        "cli_peak_rss_mib": round(peak_kib / 1024, 1),
        "tree_peak_rss_mib": round(peak_tree_kib / 1024, 1),
        "internal_errors": [
            (r["source"], r["error"]["message"][:200])
            for r in records
            if r["status"] == "error" and r["error"]["type"] == "internal_error"
        ],
        "stderr_tail": text[-800:],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--mode", default="auto")
    args = parser.parse_args()
    files = sorted(p for p in args.corpus.rglob("*") if p.is_file())
    with ScriptedServer(responder=answer) as server, tempfile.TemporaryDirectory() as tmp:
        result = run(args.corpus, server.base_url, args.concurrency, args.mode,
                     Path(tmp) / "results.jsonl")  # fmt: skip
        result["model_calls"] = server.calls
    result["files"] = len(files)
    summary = {k: v for k, v in result.items() if k != "stderr_tail"}
    print(json.dumps(summary, indent=2))
    write_result("sweep_run", {"corpus": str(args.corpus), **result})
    one_each = result["records"] == result["distinct_sources"] == len(files)
    return 0 if one_each and result["exit_code"] in (0, 1) else 1


if __name__ == "__main__":
    sys.exit(main())
