"""Client CPU per document: what extractor itself costs, beside the provider's latency.

    .venv/bin/python bench/client_cpu.py [--copies 4] [--repeats 3] [--root DIR]

The 73 eval invoices (text layer) repeated ``--copies`` times go through ``extract_many``
against a ScriptedServer in a child process that answers every request at once with that
invoice's truth (found by the invoice number the request shows), as a good model would.
Reported: the CPU time (user + system) of this process per document — request building,
HTTP, validation, repairs, grounding, rules, records; reading happens in worker processes
and is not counted — the median over repeats after one warm-up run.

``--root`` measures another checkout of extractor (its ``extractor`` and ``schemas``
packages come first on ``sys.path``), for before/after figures from one script.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _common import EVAL as _EVAL

ROOT = Path(__file__).resolve().parent.parent
EVAL = _EVAL / "invoices"


def _truths() -> list[dict[str, Any]]:
    truths = []
    for path in sorted(EVAL.glob("*.json")):
        truth = json.loads(path.read_text())
        answer = {
            "invoice_number": None, "invoice_date": None, "due_date": None,
            "seller_name": None, "seller_vat_id": None, "buyer_name": None, "currency": None,
            "net_amount": None, "tax_amount": None, "total_amount": None, "iban": None,
            **truth,
        }  # fmt: skip
        answer["line_items"] = [
            {"quantity": None, "unit_price": None, "amount": None, **item}
            for item in truth.get("line_items", [])
        ]
        truths.append(answer)
    return truths


def _serve(conn: Connection) -> None:
    from extractor.testing import Reply, ScriptedServer

    truths = _truths()
    fallback = json.dumps(truths[0])

    def answer(request: Any) -> Any:
        text = json.dumps(request.json["messages"][1]["content"])
        for truth in truths:
            number = truth.get("invoice_number")
            if number and json.dumps(number)[1:-1] in text:
                return Reply.chat(json.dumps(truth))
        return Reply.chat(fallback)

    with ScriptedServer(responder=answer) as server:
        conn.send(server.base_url)
        conn.recv()


def _docs(folder: Path, copies: int) -> list[Path]:
    paths = []
    for copy in range(copies):
        for source in sorted(EVAL.glob("*.pdf")):
            target = folder / f"{copy}-{source.name}"
            target.write_bytes(source.read_bytes() + f"\n% copy {copy}\n".encode())
            paths.append(target)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    sys.path.insert(0, str(args.root.resolve()))
    from extractor import extract_many

    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    child = context.Process(target=_serve, args=(theirs,))
    child.start()
    base_url = ours.recv()
    per_doc = []
    try:
        with tempfile.TemporaryDirectory(prefix="extractor-cpu-") as folder:
            paths = _docs(Path(folder), args.copies)
            options = {"base_url": base_url, "model": "m", "concurrency": 16, "mode": "text",
                       "ocr": False}  # fmt: skip
            for repeat in range(args.repeats + 1):
                before, started = os.times(), time.perf_counter()
                results = list(extract_many(paths, "invoice", **options))
                after, wall = os.times(), time.perf_counter() - started
                cpu = (after.user - before.user) + (after.system - before.system)
                ok = sum(r.status == "ok" for r in results)
                errors = {r.error.type for r in results if r.error is not None}
                label = "warm-up" if repeat == 0 else f"repeat {repeat}"
                print(f"{label}: {len(paths)} docs, {ok} ok, wall {wall:.2f} s, client CPU "
                      f"{cpu:.2f} s = {1000 * cpu / len(paths):.1f} ms/doc"
                      + (f"; errors: {sorted(errors)}" if errors else ""), flush=True)  # fmt: skip
                if repeat:
                    per_doc.append(1000 * cpu / len(paths))
    finally:
        ours.send("stop")
        child.join(timeout=10)
    print(f"median client CPU per document: {statistics.median(per_doc):.1f} ms "
          f"[{min(per_doc):.1f}–{max(per_doc):.1f}] ({args.root})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
