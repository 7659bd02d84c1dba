"""Fit and check the confidence model: does a value given 0.9 come out right nine times in ten?

    .venv/bin/python bench/calibrate.py [--share 0.25] [--set invoices|receipts|both]

Every eval document goes through the real pipeline against a scripted model
(`extractor.testing.TruthModel`) that answers the truth but corrupts a seeded ``--share``
of the values, half of them *misread* (a digit, a day or a letter changed) and half
*taken from elsewhere* (another date, amount or number-like token the same document
prints, or another line of it for free text) — the two ways models go wrong. For every
value the record holds, the evidence (:func:`extractor.confidence.features`: grounding,
label, rules, repairs) and whether it is right (``extractor eval``'s matching against the
truth) are collected.

A logistic model is fitted on half of the documents and scored on the other half, and the
other way round (two folds, split by document): reported out of fold are the expected
calibration error, the accuracy of values given ≥ 0.9, and the share of corrupted values
given < 0.5 — for the shipped weights and for the fitted ones. The weights fitted on all
documents are printed for extractor/confidence.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import sys
from typing import Any

from _common import EVAL, RESULTS, write_result
from ground_dates import read_once

from extractor import extract
from extractor.candidates import find_candidates
from extractor.confidence import FEATURES, KINDS, MODEL, features, kind_of
from extractor.evaluate.confidence import confidence_report
from extractor.evaluate.matching import field_kind, match_value
from extractor.testing import ScriptedServer, TruthModel

SETS = {"invoices": "invoice", "receipts": "receipt"}
_ITEM = re.compile(r"^(\w+)\[(\d+)\]\.(\w+)$")


class Corrupter:
    """Corrupts a seeded share of a document's values, misread or taken from elsewhere."""

    def __init__(self, document: str, text: str, share: float) -> None:
        self.document, self.share = document, share
        self.found = find_candidates(text)
        self.lines = [line.strip() for line in text.splitlines() if len(line.strip()) > 3]
        self.corrupted: dict[str, Any] = {}

    def __call__(self, path: str, value: Any) -> Any:
        if path in self.corrupted:
            return self.corrupted[path]
        seed = int(hashlib.sha256(f"{self.document}|{path}".encode()).hexdigest()[:12], 16)
        rng = random.Random(seed)
        if isinstance(value, bool) or rng.random() >= self.share:
            return value
        wrong = self._elsewhere(value, rng) if rng.random() < 0.5 else None
        if wrong is None or wrong == value:
            wrong = _misread(value, rng)
        self.corrupted[path] = wrong
        return wrong

    def _elsewhere(self, value: Any, rng: random.Random) -> Any:
        if isinstance(value, int | float):
            pool: list[Any] = [a for a in self.found.money if a != value]
        elif isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            pool = [d for d in self.found.dates if d != value]
        elif isinstance(value, str) and any(c.isdigit() for c in value):
            pool = [c for c in self.found.codes if c != value]
        else:
            pool = [line for line in self.lines if line != value]
        return rng.choice(pool) if pool else None


def _misread(value: Any, rng: random.Random) -> Any:
    if isinstance(value, int | float):
        return round(value * rng.choice([10, 0.1, 1.1]) + rng.choice([0, 1]), 2)
    text = str(value)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = (int(text[8:]) % 28) + 1
        return f"{text[:8]}{day:02d}" if f"{day:02d}" != text[8:] else f"{text[:8]}01"
    digits = [i for i, c in enumerate(text) if c.isdigit()]
    if digits:
        i = rng.choice(digits)
        return text[:i] + str((int(text[i]) + rng.randint(1, 8)) % 10) + text[i + 1 :]
    words = text.split()
    return " ".join(words[:-1]) if len(words) > 1 else text[::-1] if len(text) > 1 else text + "x"


def _truth_answer(truth: dict[str, Any], schema: str) -> dict[str, Any]:
    from schemas import Invoice, Receipt

    model = Invoice if schema == "invoice" else Receipt
    answer: dict[str, Any] = {**dict.fromkeys(model.model_fields), **truth}
    if schema == "invoice":
        answer["line_items"] = [
            {"quantity": None, "unit_price": None, "amount": None, **item}
            for item in truth.get("line_items", [])
        ]
    return answer


def _truth_of(path: str, truth: dict[str, Any]) -> tuple[bool, Any]:
    item = _ITEM.match(path)
    if item:
        items = truth.get(item.group(1)) or []
        index = int(item.group(2))
        if index >= len(items) or item.group(3) not in items[index]:
            return False, None
        return True, items[index][item.group(3)]
    return (path in truth), truth.get(path)


def run_set(name: str, share: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    schema = SETS[name]
    for truth_path in sorted((EVAL / name).glob("*.json")):
        folder = EVAL / name
        source = next(p for p in folder.glob(truth_path.stem + ".*") if p.suffix != ".json")
        truth = json.loads(truth_path.read_text())
        text = "\n".join(page.text for page in read_once(source, RESULTS / f"pages-{name}"))
        corrupter = Corrupter(truth_path.stem, text, share)
        model = TruthModel(_truth_answer(truth, schema), corrupt=corrupter)
        with ScriptedServer(responder=model) as server:
            # vision off: the scans go as OCR text, which the scripted model can read
            result = extract(
                source, schema, base_url=server.base_url, model="m", retries=0, vision=False
            )
        if result.status != "ok":
            continue
        repaired = result.repairs > 0
        data = result.record()["data"]
        for path in result.grounding:
            known, expected = _truth_of(path, truth)
            if not known or expected is None:
                continue
            value = _value_at(data, path)
            kind = field_kind(path, expected)
            rows.append({
                "document": truth_path.stem, "path": path, "kind": kind_of(path, value),
                "features": features(path, result.grounding, result.checks, repaired=repaired),
                "correct": match_value(kind, expected, value).correct,
                "corrupted": path in corrupter.corrupted,
            })  # fmt: skip
    return rows


def _value_at(data: dict[str, Any], path: str) -> Any:
    item = _ITEM.match(path)
    if item:
        return data[item.group(1)][int(item.group(2))][item.group(3)]
    return data.get(path)


def fit(
    rows: list[dict[str, Any]], steps: int = 3000, rate: float = 0.5
) -> tuple[float, dict[str, float]]:
    """Logistic regression by gradient descent (a little L2, so rare features stay sane)."""
    bias, weights = 0.0, dict.fromkeys(FEATURES, 0.0)
    n = max(len(rows), 1)
    for _ in range(steps):
        grad_b, grad = 0.0, dict.fromkeys(FEATURES, 0.0)
        for row in rows:
            x = row["features"]
            z = bias + sum(weights[f] * x[f] for f in FEATURES)
            error = 1 / (1 + math.exp(-z)) - float(row["correct"])
            grad_b += error
            for f in FEATURES:
                grad[f] += error * x[f]
        bias -= rate * grad_b / n
        for f in FEATURES:
            weights[f] -= rate * (grad[f] / n + 0.001 * weights[f])
    return bias, weights


Model = dict[str, tuple[float, dict[str, float]]]


def fit_kinds(rows: list[dict[str, Any]]) -> Model:
    """One logistic model per kind of value (a kind with too few values keeps a neutral one)."""
    model: Model = {}
    for kind in KINDS:
        mine = [r for r in rows if r["kind"] == kind]
        model[kind] = fit(mine) if len(mine) >= 20 else (0.0, dict.fromkeys(FEATURES, 0.0))
    return model


def _score(row: dict[str, Any], model: Model) -> float:
    bias, weights = model[row["kind"]]
    z = bias + sum(weights[f] * row["features"][f] for f in FEATURES)
    return 1 / (1 + math.exp(-z))


def evaluate(rows: list[dict[str, Any]], model: Model) -> dict[str, Any]:
    scored = [(_score(row, model), row["correct"], row["corrupted"]) for row in rows]
    report = confidence_report([(c, ok) for c, ok, _ in scored])
    high = [ok for c, ok, _ in scored if c >= 0.9]
    corrupted = [c for c, _, bad in scored if bad]
    by_kind = {
        kind: sum(c < 0.5 for (c, _, bad), r in zip(scored, rows, strict=True)
                  if bad and r["kind"] == kind)
        for kind in KINDS
    }  # fmt: skip
    return {
        "values": len(scored),
        "ece": report.ece if report else None,
        "at_least_0.9": len(high),
        "accuracy_at_least_0.9": sum(high) / len(high) if high else None,
        "corrupted": len(corrupted),
        "corrupted_below_0.5": (
            sum(c < 0.5 for c in corrupted) / len(corrupted) if corrupted else None
        ),
        "corrupted_below_0.5_by_kind": {
            kind: f"{by_kind[kind]}/{sum(1 for r in rows if r['corrupted'] and r['kind'] == kind)}"
            for kind in KINDS
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", type=float, default=0.25)
    parser.add_argument("--set", choices=["invoices", "receipts", "both"], default="both")
    args = parser.parse_args()
    names = list(SETS) if args.set == "both" else [args.set]
    rows = [row for name in names if (EVAL / name).is_dir() for row in run_set(name, args.share)]

    def fold(row: dict[str, Any]) -> int:
        return int(hashlib.sha256(row["document"].encode()).hexdigest(), 16) % 2

    folds = [[r for r in rows if fold(r) == k] for k in (0, 1)]
    out_of_fold = [evaluate(folds[k], fit_kinds(folds[1 - k])) for k in (0, 1)]
    pooled = evaluate([*folds[0], *folds[1]], fit_kinds(rows))  # in-sample, for reference
    shipped = evaluate(rows, MODEL)
    model = fit_kinds(rows)
    print(f"{len(rows)} values ({sum(r['corrupted'] for r in rows)} corrupted) "
          f"from {len({r['document'] for r in rows})} documents")  # fmt: skip
    print(f"shipped weights, all values: {json.dumps(shipped)}")
    for k, result in enumerate(out_of_fold):
        print(f"fitted on fold {1 - k}, scored on fold {k}: {json.dumps(result)}")
    print(f"fitted on all, scored in sample: {json.dumps(pooled)}")
    print("MODEL = {")
    for kind, (bias, weights) in model.items():
        pairs = ", ".join(f'"{f}": {w:.2f}' for f, w in weights.items())
        print(f'    "{kind}": ({bias:.2f}, {{{pairs}}}),')
    print("}")
    payload = {"shipped": shipped, "out_of_fold": out_of_fold, "model": model, "rows": rows}
    path = write_result("calibrate", payload)
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
