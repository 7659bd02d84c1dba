"""Text quality of the pages stage: is the text we send as good as PDFium's plain text?

    .venv/bin/python bench/page_text.py [--eval DIR]

1. ``fixtures/printed/``: browser-printed and glyph-by-glyph invoices (one text object per
   glyph) and the four hidden-text variants. For each document, how many truth values (as
   the document prints them, from the fixture scripts) are in PDFium's plain text
   (``get_text_range``) and how many in the text extractor sends; whether the hidden
   injection is flagged and whether it is sent.
2. ``../shared/eval/invoices`` and ``receipts``: per page, whether the words we send are
   PDFium's words (the text split on whitespace, U+FFFE taken as ``-``), and how many
   pages carry a hidden-text warning.

Uses only ``extractor.pages.read_pages``, so it measures any revision of the code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
from _common import EVAL, ROOT, machine, write_result

from extractor.load import load
from extractor.pages import Page, PageOptions, read_pages

FIXTURES = ROOT / "fixtures"
sys.path.insert(0, str(FIXTURES))

import make_printed  # noqa: E402
import print_html  # noqa: E402

TEXT = PageOptions(mode="text", ocr=False, vision=False)


def plain_pages(path: Path) -> list[str]:
    doc = pdfium.PdfDocument(path)
    try:
        return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()


def printed() -> Iterator[tuple[str, dict[str, str]]]:
    for stem in sorted(print_html.DOCUMENTS):
        yield stem, print_html.printed_values(stem)
    yield "glyphs_invoice", make_printed.printed_values()
    for how in ("invisible", "white", "microscopic", "off_page"):
        yield f"glyphs_hidden_{how}", make_printed.printed_values()


def fixture_rows() -> list[dict[str, Any]]:
    rows = []
    for stem, values in printed():
        path = FIXTURES / "printed" / f"{stem}.pdf"
        plain = "\n".join(plain_pages(path))
        pages = read_pages(load(path), TEXT)
        sent = "\n".join(page.text for page in pages)
        rows.append({
            "document": stem,
            "values": len(values),
            "in_plain_text": sum(v in plain for v in values.values()),
            "in_sent_text": sum(v in sent for v in values.values()),
            "missing": sorted(n for n, v in values.items() if v in plain and v not in sent),
            "warnings": sum(len(page.warnings) for page in pages),
            "injection_sent": make_printed.INJECTION in sent,
            "first_line": sent.splitlines()[0] if sent else "",
        })  # fmt: skip
    return rows


def words(text: str) -> list[str]:
    return text.replace("\ufffe", "-").split()


def eval_rows(folder: Path) -> dict[str, Any]:
    pages = same = 0
    differing: list[str] = []
    warned: list[str] = []
    for path in sorted(folder.glob("*/*.pdf")):
        read: list[Page] = read_pages(load(path), TEXT)
        for page, plain in zip(read, plain_pages(path), strict=True):
            if page.text_source != "layer":
                continue
            pages += 1
            if page.warnings:
                warned.append(f"{path.name}:{page.number}")
            if words(page.text) == words(plain):
                same += 1
            else:
                differing.append(f"{path.name}:{page.number}")
    return {"pages": pages, "words_as_pdfium": same, "with_warning": len(warned),
            "warned": warned, "differing": differing}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=EVAL)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    rows = fixture_rows()
    print(f"\n{'document':28s} values  plain  sent  warnings  injection sent")
    for row in rows:
        counts = f"{row['values']:6d} {row['in_plain_text']:6d} {row['in_sent_text']:5d}"
        print(f"{row['document']:28s} {counts} {row['warnings']:9d}  {row['injection_sent']}")
    total = {
        key: sum(row[key] for row in rows) for key in ("values", "in_plain_text", "in_sent_text")
    }
    print(
        f"{'all':28s} {total['values']:6d} {total['in_plain_text']:6d} {total['in_sent_text']:5d}"
    )
    payload: dict[str, Any] = {"fixtures": rows, "fixtures_total": total}
    if args.eval.is_dir():
        payload["eval"] = eval_rows(args.eval)
        found = payload["eval"]
        print(
            f"\neval pages with a text layer: {found['pages']}; words as PDFium's: "
            f"{found['words_as_pdfium']}; with a hidden-text warning: {found['with_warning']}"
        )
    print(f"written: {write_result('page_text', payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
