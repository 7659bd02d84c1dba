"""Does grounding stay linear in the length of the value and of the page?

    .venv/bin/python bench/ground_long.py [--sizes 62500,125000,250000,500000,1000000,2000000]
                                          [--repeat 3] [--cases found,…] [--label NAME]

For each size N (characters) a page of N characters of varied text (one run per line,
as a text layer gives it) is grounded against four values of about N characters:

- ``found``: the page's text itself, so the exact search succeeds;
- ``slip``: the same with a typo every 50 characters, so only fuzzy matching can find it;
- ``absent``: text of the same length that is not on the page;
- ``half``: the value is N characters, the page only N/2 (the value cannot fit);
- ``small-page``: the value is N characters of page text, the page a usual 4,000.

Prints the median seconds per case and size, and the ratio to the previous size (2.0
means linear when sizes double). Writes ``bench/results/ground-long[-LABEL].json``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from _common import median, write_result

from extractor.ground import ground
from extractor.pages import Page, TextRun

WORDS = ("invoice", "total", "amount", "net", "tax", "rate", "due", "date", "seller", "buyer",
         "address", "street", "city", "payment", "terms", "bank", "transfer", "quantity",
         "unit", "price", "description", "delivery")  # fmt: skip


def text_of(size: int, seed: int) -> str:
    """Varied words, about 60 characters a line, ``size`` characters in all."""
    rng = random.Random(seed)
    parts: list[str] = []
    length = 0
    while length < size:
        line = " ".join(f"{rng.choice(WORDS)}{rng.randrange(1000)}" for _ in range(6))
        parts.append(line)
        length += len(line) + 1
    return "\n".join(parts)[:size]


def page_of(text: str) -> list[Page]:
    lines = text.split("\n")
    runs = tuple(
        TextRun(line, (20.0, 10.0 * i, 580.0, 10.0 * i + 8)) for i, line in enumerate(lines)
    )
    return [Page(1, 600, 10.0 * len(lines) + 10, runs=runs)]


def with_slips(text: str) -> str:
    chars = list(text)
    for i in range(25, len(chars), 50):
        if chars[i].isalnum():
            chars[i] = "#"
    return "".join(chars)


def timed(call: Callable[[], str], repeat: int) -> tuple[float, str]:
    times, status = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        status = call()
        times.append(time.perf_counter() - started)
    return median(times), status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="62500,125000,250000,500000,1000000,2000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default="found,slip,absent,half,small-page")
    parser.add_argument("--label", default="", help="suffix of the result file's name")
    args = parser.parse_args()
    rows: dict[str, dict[int, dict[str, float | str]]] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        text = text_of(size, seed=1)
        cases = {
            "found": (text, page_of(text)),
            "slip": (with_slips(text), page_of(text)),
            "absent": (text_of(size, seed=2), page_of(text)),
            "half": (text, page_of(text[: size // 2])),
            "small-page": (text, page_of(text_of(4000, seed=3))),
        }
        for name in args.cases.split(","):
            value, pages = cases[name]
            seconds, status = timed(lambda v=value, p=pages: ground({"v": v}, p)["v"].status,
                                    args.repeat)  # fmt: skip
            rows.setdefault(name, {})[size] = {"seconds": seconds, "status": status}
            print(f"{name:7} {size:>9,} chars  {seconds:8.3f} s  {status}", flush=True)
    print("\n| case | " + " | ".join(f"{s:,}" for s in next(iter(rows.values()))) + " |")
    for name, by_size in rows.items():
        cells, previous = [], None
        for entry in by_size.values():
            seconds = float(entry["seconds"])
            ratio = f" (×{seconds / previous:.1f})" if previous else ""
            cells.append(f"{seconds:.3f} s{ratio}")
            previous = seconds
        print(f"| {name} ({entry['status']}) | " + " | ".join(cells) + " |")
    name = "ground-long" + (f"-{args.label}" if args.label else "")
    write_result(name, {"repeat": args.repeat, "rows": rows})


if __name__ == "__main__":
    main()
