"""What reading form fields costs per page, beside what a page costs already.

    .venv/bin/python bench/forms.py [--repeats 5] [--corpus DIR]

The corpus is every PDF under ``DIR`` (default ``../shared/corpus/pdf-malformed``) whose
form type is AcroForm and that has a page with widgets, opened in-process (these files
are known to finish quickly). Per page, process CPU milliseconds, median over repeats:

- ``text``: open, load the page, its text page and ``get_text_range``: the text part of
  ``extractor.pages`` in text mode (no text runs).
- ``text_fields``: the same, loading the page with :func:`extractor.forms.open_page` (the
  form environment) and reading its fields with :func:`read_page_fields`, labels included.
- ``render``: open, load, render at 150 dpi with ``may_draw_forms=True``, as pages.py does
  today (no form environment: only the stored appearances are drawn).
- ``render_forms``: the same with the form environment, so PDFium draws the field values.

Ratios are taken inside each repeat, then their median is reported.

``--dense N`` also times one built page holding N labelled text fields (four columns,
each label left of its field, a line of small print under every row): the label search
on a page far fuller than any in the corpus (a tax form has about 100–200 fields).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from _common import CORPUS, median, spread, write_result

from extractor.forms import form_type, has_widgets, open_page, read_page_fields

Variant = Callable[[Path], int]


def _pages(path: Path, forms: bool, work: Callable[[Any, Any, int], None]) -> int:
    pdf = pdfium.PdfDocument(path)
    try:
        for index in range(len(pdf)):
            page = open_page(pdf, index) if forms else pdf[index]
            try:
                work(pdf, page, index + 1)
            finally:
                page.close()
        return len(pdf)
    finally:
        pdf.close()


def _text(pdf: Any, page: Any, number: int) -> None:
    textpage = page.get_textpage()
    textpage.get_text_range()
    textpage.close()


def _text_fields(pdf: Any, page: Any, number: int) -> None:
    textpage = page.get_textpage()
    textpage.get_text_range()
    read_page_fields(pdf, page, number, textpage)
    textpage.close()


def _render(pdf: Any, page: Any, number: int) -> None:
    page.render(scale=150 / 72, may_draw_forms=True).to_pil()


VARIANTS: dict[str, Variant] = {
    "text": lambda p: _pages(p, False, _text),
    "text_fields": lambda p: _pages(p, True, _text_fields),
    "render": lambda p: _pages(p, False, _render),
    "render_forms": lambda p: _pages(p, True, _render),
}


def fillable(corpus: Path) -> list[Path]:
    """AcroForm PDFs of the corpus with widgets on a page, that PDFium opens."""
    found = []
    for path in sorted(corpus.rglob("*.pdf")):
        try:
            pdf = pdfium.PdfDocument(path)
        except pdfium.PdfiumError:
            continue
        try:
            if form_type(pdf) != "acroform":
                continue
            for index in range(len(pdf)):
                page = pdf[index]
                widgets = has_widgets(page)
                page.close()
                if widgets:
                    found.append(path)
                    break
        except pdfium.PdfiumError:
            continue
        finally:
            pdf.close()
    return found


def dense_page(count: int) -> bytes:
    """One A4 page with ``count`` filled text fields, each with its label on its left."""
    rows = (count + 3) // 4
    step = 780 / max(rows, 1)
    content, fields = [], []
    for i in range(count):
        x, y = 30 + 140 * (i % 4), 810 - step * (i // 4 + 1)
        content.append(b"BT /F1 7 Tf %g %g Td (Field number %d:) Tj ET" % (x, y, i))
        content.append(b"BT /F1 3 Tf %g %g Td (small print under row %d) Tj ET" % (x, y - 3, i))
        fields.append(
            b"<< /Type /Annot /Subtype /Widget /F 4 /FT /Tx /T (f%d) /V (value %d) "
            b"/Rect [%g %g %g %g] >>" % (i, i, x + 62, y - 1, x + 132, y + 7)
        )
    stream = b"\n".join(content)
    refs = b" ".join(b"%d 0 R" % (6 + i) for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [%s] /DA (/Helv 0 Tf 0 g) "
        b"/DR << /Font << /Helv 5 0 R >> >> >> >>" % refs,
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> /Annots [%s] >>" % refs,
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        *fields,
    ]
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def time_dense(count: int, repeats: int) -> dict[str, Any]:
    """CPU milliseconds to load the dense page with forms, and to read its fields."""
    data = dense_page(count)
    load, read, labelled = [], [], 0
    for _ in range(repeats):
        pdf = pdfium.PdfDocument(data)
        start = time.process_time()
        page = open_page(pdf, 0)
        loaded = time.process_time()
        fields = read_page_fields(pdf, page, 1)
        done = time.process_time()
        load.append((loaded - start) * 1000)
        read.append((done - loaded) * 1000)
        labelled = sum(1 for f in fields if f.label == f"Field number {f.name[1:]}")
        page.close()
        pdf.close()
    return {
        "fields": count,
        "labelled_right": labelled,
        "load_ms": spread(load),
        "read_ms": spread(read),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--dense", type=int, default=200)
    args = parser.parse_args()
    files = [p for p in fillable(args.corpus) if _opens_everywhere(p)]
    per_page: dict[str, list[float]] = {name: [] for name in VARIANTS}
    ratios: dict[str, list[float]] = {"text_fields/text": [], "render_forms/render": []}
    for repeat in range(args.repeats):
        names = list(VARIANTS)
        names = names[repeat % len(names) :] + names[: repeat % len(names)]
        this: dict[str, float] = {}
        for name in names:
            start, pages = time.process_time(), 0
            for path in files:
                pages += VARIANTS[name](path)
            this[name] = (time.process_time() - start) * 1000 / pages
            per_page[name].append(this[name])
        ratios["text_fields/text"].append(this["text_fields"] / this["text"])
        ratios["render_forms/render"].append(this["render_forms"] / this["render"])
    pages_total = sum(_page_count(p) for p in files)
    result = {
        "files": len(files),
        "pages": pages_total,
        "ms_per_page_cpu": {name: spread(values) for name, values in per_page.items()},
        "ratio_median": {name: median(values) for name, values in ratios.items()},
    }
    if args.dense:
        result["dense"] = time_dense(args.dense, args.repeats)
    print(f"{len(files)} fillable files, {pages_total} pages, {args.repeats} repeats")
    for name, values in per_page.items():
        print(f"  {name:13s} {median(values):7.2f} ms CPU per page (median)")
    for name, values in ratios.items():
        print(f"  {name:20s} ×{median(values):.2f}")
    if args.dense:
        dense = result["dense"]
        print(
            f"  dense page, {dense['fields']} fields: load with forms "
            f"{dense['load_ms']['median']:.1f} ms, read fields {dense['read_ms']['median']:.1f} ms "
            f"CPU; {dense['labelled_right']} labels right"
        )
    print(f"written to {write_result('forms', result)}")


def _opens_everywhere(path: Path) -> bool:
    """Every page loads and renders (a few corpus files fail one page: left out)."""
    try:
        for variant in VARIANTS.values():
            variant(path)
    except (pdfium.PdfiumError, ValueError):
        return False
    return True


def _page_count(path: Path) -> int:
    pdf = pdfium.PdfDocument(path)
    try:
        return int(pdfium_c.FPDF_GetPageCount(pdf))
    finally:
        pdf.close()


if __name__ == "__main__":
    main()
