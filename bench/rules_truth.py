"""Business rules against the eval truth: false alarms on true values, catches on corrupted ones.

    .venv/bin/python bench/rules_truth.py [--eval ../shared/eval] [--show-skipped]

- **Truth**: every truth file in ``invoices/`` and ``receipts/`` is validated into the
  shipped schema (a field missing from a truth file is unknown, so it stays None and the
  rules that need it are skipped) and checked with :func:`extractor.rules.check`. A rule
  that fails here fails on a model that answers the truth: a false alarm, or a document
  that itself breaks the rule. Each failure is listed with its message. Skipped results
  are split into *not applicable* (a field missing) and *inconclusive* (the rule ran and
  the values could not tell, e.g. line amounts below the net of a partial table).
- **Corrupted**: each eval invoice is corrupted the way a wrong answer would be (total =
  net + tax + 100; the first non-zero line amount × 10, or ÷ 10; invoice and due date
  swapped; one IBAN digit changed; the VAT id's last character dropped), where the fields
  it needs are present, and counted as caught when a rule fails that did not fail on the truth.

Prints markdown tables and writes ``bench/results/rules_truth.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from _common import EVAL, write_result
from pydantic import BaseModel

from extractor.identifiers import is_valid_iban
from extractor.rules import CheckResult, Status, check
from schemas.invoice import Invoice
from schemas.receipt import Receipt

Truth = dict[str, Any]
Corruption = Callable[[Truth], Truth | None]


def load(folder: Path) -> dict[str, Truth]:
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob("*.json"))
    }


def failed(results: list[CheckResult]) -> set[tuple[str, str]]:
    return {(r.name, r.message) for r in results if r.status is Status.FAILED}


def truth_table(
    documents: dict[str, Truth], model: type[BaseModel]
) -> tuple[dict[str, Counter[str]], list[dict[str, str]]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    failures: list[dict[str, str]] = []
    for stem, truth in documents.items():
        documents_hit: set[str] = set()
        for result in check(model.model_validate(truth)):
            status = result.status.value
            if result.status is Status.SKIPPED and ": not applicable, " not in result.message:
                status = "inconclusive"  # the rule ran, and the values could not tell
            counts[result.name][status] += 1
            if result.status is Status.FAILED:
                failures.append({"document": stem, "rule": result.name, "message": result.message})
                documents_hit.add(result.name)
        for name in documents_hit:
            counts[name]["documents_failed"] += 1
    return counts, failures


# -- corruptions -----------------------------------------------------------------------


def total_plus_100(truth: Truth) -> Truth | None:
    if not all(truth.get(k) is not None for k in ("net_amount", "tax_amount", "total_amount")):
        return None
    net, tax = Decimal(str(truth["net_amount"])), Decimal(str(truth["tax_amount"]))
    return {**truth, "total_amount": str(net + tax + 100)}


def line_amount_x10(truth: Truth) -> Truth | None:
    items = copy.deepcopy(truth.get("line_items") or [])
    for item in items:
        if item.get("amount"):
            item["amount"] = str(Decimal(str(item["amount"])) * 10)
            return {**truth, "line_items": items}
    return None


def line_amount_div10(truth: Truth) -> Truth | None:
    items = copy.deepcopy(truth.get("line_items") or [])
    for item in items:
        if item.get("amount"):
            item["amount"] = str(Decimal(str(item["amount"])) / 10)
            return {**truth, "line_items": items}
    return None


def swap_dates(truth: Truth) -> Truth | None:
    issued, due = truth.get("invoice_date"), truth.get("due_date")
    if not issued or not due or issued == due:
        return None
    return {**truth, "invoice_date": due, "due_date": issued}


def iban_digit(truth: Truth) -> Truth | None:
    iban = truth.get("iban")
    if not iban or not is_valid_iban(iban):
        return None  # an IBAN that is already invalid says nothing about a new slip
    position = max(i for i, char in enumerate(iban) if char.isdigit())
    changed = str((int(iban[position]) + 1) % 10)
    return {**truth, "iban": iban[:position] + changed + iban[position + 1 :]}


def vat_id_short(truth: Truth) -> Truth | None:
    vat_id = truth.get("seller_vat_id")
    return {**truth, "seller_vat_id": vat_id.rstrip()[:-1]} if vat_id else None


CORRUPTIONS: dict[str, Corruption] = {
    "total = net + tax + 100": total_plus_100,
    "first line amount × 10": line_amount_x10,
    "first line amount ÷ 10": line_amount_div10,
    "invoice and due date swapped": swap_dates,
    "one IBAN digit changed": iban_digit,
    "VAT id's last character dropped": vat_id_short,
}


def corruption_table(documents: dict[str, Truth]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for label, corrupt in CORRUPTIONS.items():
        applicable = caught = 0
        by_rule: Counter[str] = Counter()
        missed: list[str] = []
        for stem, truth in documents.items():
            wrong = corrupt(truth)
            if wrong is None:
                continue
            applicable += 1
            before = failed(check(Invoice.model_validate(truth)))
            new = failed(check(Invoice.model_validate(wrong))) - before
            if new:
                caught += 1
                by_rule.update({name for name, _ in new})
            else:
                missed.append(stem)
        table[label] = {
            "applicable": applicable, "caught": caught, "by_rule": dict(by_rule),
            "missed": missed,
        }  # fmt: skip
    return table


# -- report ----------------------------------------------------------------------------


def print_truth(title: str, counts: dict[str, Counter[str]], total: int) -> None:
    print(f"\n### {title}: {total} truth files\n")
    print("| rule | passed | failed (documents) | inconclusive | not applicable |")
    print("|---|---:|---:|---:|---:|")
    for name, c in counts.items():
        failed = f"{c['failed']} ({c['documents_failed']})"
        print(f"| {name} | {c['passed']} | {failed} | {c['inconclusive']} | {c['skipped']} |")


def print_corruptions(table: dict[str, dict[str, Any]]) -> None:
    print("\n### Corrupted invoice truth\n")
    print("| corruption | invoices it applies to | caught | share | rules that caught it |")
    print("|---|---:|---:|---:|---|")
    for label, row in table.items():
        share = f"{row['caught'] / row['applicable']:.0%}" if row["applicable"] else "–"
        rules = ", ".join(f"{k} {v}" for k, v in sorted(row["by_rule"].items()))
        print(f"| {label} | {row['applicable']} | {row['caught']} | {share} | {rules} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval", type=Path, default=EVAL)
    args = parser.parse_args()
    invoices, receipts = load(args.eval / "invoices"), load(args.eval / "receipts")

    invoice_counts, invoice_failures = truth_table(invoices, Invoice)
    receipt_counts, receipt_failures = truth_table(receipts, Receipt)
    corrupted = corruption_table(invoices)

    print_truth("Invoice truth", invoice_counts, len(invoices))
    print_truth("Receipt truth", receipt_counts, len(receipts))
    for failure in invoice_failures + receipt_failures:
        print(f"- {failure['document']}: {failure['message']}")
    print_corruptions(corrupted)
    for label, row in corrupted.items():
        if row["missed"]:
            print(f"- missed ({label}): {', '.join(row['missed'])}")

    path = write_result("rules_truth", {
        "invoices": len(invoices), "receipts": len(receipts),
        "invoice_rules": invoice_counts, "receipt_rules": receipt_counts,
        "truth_failures": invoice_failures + receipt_failures, "corrupted": corrupted,
    })  # fmt: skip
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
