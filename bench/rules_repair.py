"""Does a first answer that breaks the arithmetic get repaired, and do truthful answers pass?

    .venv/bin/python bench/rules_repair.py [--corrupt total|line|none]

For every eval invoice (``../shared/eval/invoices``) the real pipeline runs against a
scripted model that answers the truth, except that its *first* answer is corrupted:

- ``total``: ``total_amount = net + tax + 100`` (invoices whose truth has all three);
- ``line``: the first line item's amount × 10 (invoices with line items and a net);
- ``none``: no corruption: how many truthful documents are sent into repairs anyway.

Repairs are answered with the truth, as a model that rereads the page would. Reported:
the affected invoices, how many needed a repair (the rule fired), and how many ended with
the right value; for ``none``, how many documents were sent a repair at all, and which
rules failed on the final answers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

from _common import EVAL as _EVAL
from _common import machine, revision, write_result

from extractor import extract
from extractor.testing import Reply, ScriptedServer
from schemas import Invoice

EVAL = _EVAL / "invoices"


def _answer(truth: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = dict.fromkeys(Invoice.model_fields)
    answer.update(truth)
    answer["line_items"] = [
        {"quantity": None, "unit_price": None, "amount": None, **item}
        for item in truth.get("line_items", [])
    ]
    return answer


def _corrupted(truth: dict[str, Any], how: str) -> dict[str, Any] | None:
    answer = _answer(truth)
    if how == "total":
        if any(truth.get(k) is None for k in ("net_amount", "tax_amount", "total_amount")):
            return None
        answer["total_amount"] = round(truth["net_amount"] + truth["tax_amount"] + 100, 2)
    elif how == "line":
        items = answer["line_items"]
        if not items or items[0]["amount"] is None or truth.get("net_amount") is None:
            return None
        items[0] = {**items[0], "amount": round(items[0]["amount"] * 10, 2)}
    return answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corrupt", choices=["total", "line", "none"], default="total")
    args = parser.parse_args()
    print(f"machine: {machine()}, commit {revision()}")
    rows = []
    failed_rules: Counter[str] = Counter()
    for truth_path in sorted(EVAL.glob("*.json")):
        truth = json.loads(truth_path.read_text())
        first = _corrupted(truth, args.corrupt)
        if first is None:
            continue
        right = Reply.chat(json.dumps(_answer(truth)))
        with ScriptedServer([Reply.chat(json.dumps(first))], lambda _, r=right: r) as s:
            result = extract(truth_path.with_suffix(".pdf"), Invoice, base_url=s.base_url,
                             model="m", retries=0)  # fmt: skip
        data = result.record()["data"] or {}
        key = "total_amount" if args.corrupt != "line" else "line_items"
        correct = data.get(key) == _answer(truth)[key]
        failed_rules.update(c["name"] for c in result.checks if c["status"] == "failed")
        rows.append({
            "document": truth_path.stem, "status": result.status,
            "attempts": len(result.attempts), "repaired": len(result.attempts) > 1,
            "correct": correct,
        })  # fmt: skip
    repaired = sum(r["repaired"] for r in rows)
    correct = sum(r["correct"] for r in rows)
    print(f"corruption {args.corrupt}: {len(rows)} invoices affected; sent a repair: {repaired} "
          f"({100 * repaired / max(len(rows), 1):.1f}%); right at the end: {correct} "
          f"({100 * correct / max(len(rows), 1):.1f}%)")  # fmt: skip
    print(f"rules still failing on the final answers: {dict(failed_rules)}")
    path = write_result(
        f"rules_repair_{args.corrupt}",
        {"rows": rows, "repaired": repaired, "correct": correct, "failed": dict(failed_rules)},
    )
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
