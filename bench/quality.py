"""Quality figures beside the scores: the ceiling any model has, and how much grounding finds.

    .venv/bin/python bench/quality.py RESULTS.jsonl --truth DIR [--sources DIR]
                                      [--mode auto] [--vision]

- **Ceiling**: for every ground-truth value, is it present in what the model was sent?
  Each document is prepared exactly as the run prepared it (``prepare`` with ``--mode``;
  ``--vision`` off by default, as for the embedded text-only model, so pages without a
  text layer are OCR'd) and every truth scalar is located in the visible text of those
  pages with extractor's own grounding (``extractor.ground``): ``exact`` or
  ``normalized`` counts as present; ``fuzzy`` (≥ 0.8 similar, e.g. an OCR slip) is
  reported separately. A value that is not present cannot be extracted by any model
  reading the same input.
- **Grounded**: of the values a run extracted (non-null scalars of ``ok`` records), the
  share grounding located on the page (``exact``/``normalized``/``fuzzy``) and the share
  not found, per field (line-item fields as ``line_items[].amount``).

Prints markdown tables and writes ``bench/results/quality-NAME.json``.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from _common import write_result

from extractor.evaluate import load_records, load_truth
from extractor.ground import ground
from extractor.reading import prepare
from extractor.settings import PageOptions

PRESENT = ("exact", "normalized")


def field_of(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


def ceiling(
    source_dir: Path, truth: dict[str, dict[str, Any]], options: PageOptions
) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    sources = {p.stem: p for p in source_dir.iterdir() if p.suffix.lower() != ".json"}
    for stem, values in sorted(truth.items()):
        _, pages = prepare(sources[stem], options)
        for path, grounding in ground(values, pages).items():
            counts[field_of(path)][grounding.status] += 1
    return counts


def grounded(records: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        if record.get("status") != "ok":
            continue
        for path, grounding in (record.get("grounding") or {}).items():
            counts[field_of(path)][grounding["status"]] += 1
    return counts


def table(title: str, counts: dict[str, Counter[str]], columns: list[tuple[str, tuple]]) -> str:
    lines = [f"\n{title}\n", "| field | values | " + " | ".join(c for c, _ in columns) + " |",
             "|---|---|" + "---|" * len(columns)]  # fmt: skip
    total: Counter[str] = Counter()
    for field in sorted(counts):
        total.update(counts[field])
        lines.append(_row(field, counts[field], columns))
    lines.append(_row("**all**", total, columns))
    return "\n".join(lines)


def _row(name: str, counter: Counter[str], columns: list[tuple[str, tuple]]) -> str:
    n = sum(counter.values())
    cells = [f"{100 * sum(counter[s] for s in statuses) / n:.1f} %" if n else "–"
             for _, statuses in columns]  # fmt: skip
    return f"| {name} | {n} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--sources", type=Path, help="the documents (default: --truth)")
    parser.add_argument("--mode", default="auto")
    parser.add_argument("--vision", action="store_true")
    args = parser.parse_args()
    truth = load_truth(args.truth)
    options = PageOptions(mode=args.mode, vision=args.vision)
    top = ceiling(args.sources or args.truth, truth, options)
    found = grounded(load_records(args.results))
    absent = ("not_found", "hidden_only")
    sent_columns = [("present", PRESENT), ("only fuzzy", ("fuzzy",)), ("absent", absent)]
    print(table(f"Ceiling: truth values in what the model was sent ({args.truth})", top,
                sent_columns))  # fmt: skip
    found_columns = [("located", (*PRESENT, "fuzzy")), ("exact/normalized", PRESENT),
                     ("not found", ("not_found",)), ("hidden only", ("hidden_only",))]  # fmt: skip
    print(table(f"Grounding of the extracted values ({args.results})", found, found_columns))
    write_result(
        f"quality-{args.results.stem}",
        {"ceiling": {k: dict(v) for k, v in top.items()},
         "grounded": {k: dict(v) for k, v in found.items()}},
    )  # fmt: skip


if __name__ == "__main__":
    main()
