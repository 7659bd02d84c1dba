"""How many of the true dates does grounding locate in the text the model is sent?

    .venv/bin/python bench/ground_dates.py [--truth ../shared/eval/receipts] [--show N]

Each document is read once as the embedded text-only model receives it (``--mode auto``
without vision: a scan goes through OCR, a PDF gives its text layer), and its text runs
are cached in ``bench/results/pages-<set>/`` so later runs only ground. For every truth
value that is an ISO date (``date``, ``invoice_date``, ``due_date``) the script reports
the share grounding finds there (``exact`` or ``normalized``), ``fuzzy``, and not found;
``--show N`` prints the lines with digits of N documents whose date is not found.

Writes ``bench/results/ground-dates-<set>.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from pathlib import Path

from _common import EVAL, RESULTS, write_result

from extractor.evaluate import load_truth
from extractor.ground import ground
from extractor.load import load
from extractor.pages import Page, TextRun, read_pages
from extractor.settings import PageOptions

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def read_once(source: Path, cache: Path) -> list[Page]:
    """The pages as the text-only model gets them, read once and then from the cache."""
    cached = cache / f"{source.stem}.json"
    if cached.exists():
        return [
            Page(p["number"], p["width"], p["height"], text=p["text"], text_source="ocr",
                 runs=tuple(TextRun(r[0], tuple(r[1]), r[2]) for r in p["runs"]))  # type: ignore[arg-type]
            for p in json.loads(cached.read_text())
        ]  # fmt: skip
    pages = read_pages(load(source), PageOptions(mode="auto", vision=False))
    cache.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps([
        {"number": p.number, "width": p.width, "height": p.height, "text": p.text,
         "runs": [[r.text, list(r.box), r.visible] for r in p.runs]}
        for p in pages
    ], ensure_ascii=False))  # fmt: skip
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--truth", type=Path, default=EVAL / "receipts")
    parser.add_argument("--show", type=int, default=0)
    args = parser.parse_args()
    name = args.truth.resolve().name
    sources = {p.stem: p for p in args.truth.iterdir() if p.suffix.lower() != ".json"}
    statuses: Counter[str] = Counter()
    missed: list[str] = []
    started = time.perf_counter()
    for stem, values in sorted(load_truth(args.truth).items()):
        dates = {k: v for k, v in values.items() if isinstance(v, str) and ISO_DATE.fullmatch(v)}
        if not dates:
            continue
        pages = read_once(sources[stem], RESULTS / f"pages-{name}")
        for key, grounding in ground(dates, pages).items():
            statuses[grounding.status] += 1
            if grounding.status in ("exact", "normalized"):
                continue
            missed.append(f"{stem}.{key}")
            if len(missed) <= args.show:
                lines = [r.text for p in pages for r in p.runs if re.search(r"\d\W?\d", r.text)]
                print(f"{stem} {key} {dates[key]} {grounding.status}: {lines}")
    n = sum(statuses.values())
    located = statuses["exact"] + statuses["normalized"]
    print(f"{n} truth dates: {located} located exactly or normalised ({100 * located / n:.1f} %), "
          f"{statuses['fuzzy']} fuzzy, {statuses['not_found']} not found "
          f"({time.perf_counter() - started:.1f} s)")  # fmt: skip
    write_result(f"ground-dates-{name}", {"dates": n, "statuses": dict(statuses), "missed": missed})


if __name__ == "__main__":
    main()
