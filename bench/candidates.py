"""How often is the right value among the candidates a small model is restricted to?

    .venv/bin/python bench/candidates.py [--set invoices|receipts|both]

For every eval document, the text the embedded model is sent (text layer, or OCR for the
scanned receipts; cached under bench/results/pages-<set>/ by bench/ground_dates.py's
reader) gives the candidates of :mod:`extractor.candidates`; for every truth value of a
field the grammar restricts (dates, amounts, IBAN, VAT id, currency, invoice number,
line-item numbers), it counts whether the value is among that field's candidates. A value
that is not cannot be answered right under the restriction, so this is the restriction's
cost; what it buys is that nothing outside the page can be answered.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

from _common import EVAL, RESULTS, write_result
from ground_dates import read_once

from extractor.candidates import find_candidates, restrict
from extractor.schema import load_schema

SETS = {"invoices": "invoice", "receipts": "receipt"}


def _choices(prop: dict[str, Any]) -> list[Any] | None:
    for variant in prop.get("anyOf", [prop]):
        if "enum" in variant:
            return list(variant["enum"])
    return [] if prop.get("type") == "null" else None


def _check(field: str, value: Any, prop: dict[str, Any], tally: Counter[tuple[str, str]]) -> None:
    choices = _choices(prop)
    if choices is None or value is None:
        return  # a free field, or nothing to find
    if field in ("iban", "seller_vat_id"):  # truth files print some ids in groups
        value, choices = _compact(value), [_compact(c) for c in choices]
    tally[(field, "among" if value in choices else "missing")] += 1


def _compact(value: Any) -> Any:
    return "".join(value.split()).upper() if isinstance(value, str) else value


def measure(name: str) -> dict[str, dict[str, int]]:
    folder = EVAL / name
    spec = load_schema(SETS[name])
    tally: Counter[tuple[str, str]] = Counter()
    for truth_path in sorted(folder.glob("*.json")):
        source = next(p for p in folder.glob(truth_path.stem + ".*") if p.suffix != ".json")
        pages = read_once(source, RESULTS / f"pages-{name}")
        restricted = restrict(
            spec.grammar_schema, find_candidates("\n".join(p.text for p in pages))
        )
        truth = json.loads(truth_path.read_text())
        props = restricted["properties"]
        for field, value in truth.items():
            if field == "line_items":
                item_props = restricted["$defs"]["LineItem"]["properties"]
                for item in value:
                    for key, item_value in item.items():
                        _check(f"line_items[].{key}", item_value, item_props[key], tally)
            elif field in props:
                _check(field, value, props[field], tally)
    fields = sorted({field for field, _ in tally})
    return {f: {"among": tally[(f, "among")], "missing": tally[(f, "missing")]} for f in fields}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=["invoices", "receipts", "both"], default="both")
    args = parser.parse_args()
    names = list(SETS) if args.set == "both" else [args.set]
    result = {}
    for name in names:
        if not (EVAL / name).is_dir():
            continue
        result[name] = counts = measure(name)
        print(f"\n{name}: truth values among the candidates of their field")
        print("| field | among | missing | share |\n|---|---:|---:|---:|")
        for field, c in counts.items():
            total = c["among"] + c["missing"]
            print(f"| {field} | {c['among']} | {c['missing']} | {100 * c['among'] / total:.1f} % |")
        among = sum(c["among"] for c in counts.values())
        total = among + sum(c["missing"] for c in counts.values())
        print(f"| **all restricted fields** | {among} | {total - among} | "
              f"{100 * among / max(total, 1):.1f} % |")  # fmt: skip
    print(f"written: {write_result('candidates', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
