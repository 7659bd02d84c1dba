"""The printed/ and long/ fixtures are what fixtures/README.md says they are, read with PDFium.

- printed/web_*.pdf: printed by Chromium (Skia), one glyph per text object, punctuation
  boxes under 1 pt tall, and every truth value in PDFium's plain text as printed.
- printed/glyphs_*.pdf: the same properties from the shared writer, and in each hidden
  variant one injected line hidden in its own way.
- long/: 600 items over 40 pages and a table continued over a page break, every item in the
  PDF in truth order, the sums exact to the cent.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))

import make_printed  # noqa: E402
import print_html  # noqa: E402

PRINTED, LONG = FIXTURES / "printed", FIXTURES / "long"
WEB = sorted(print_html.DOCUMENTS)
HIDDEN = ["invisible", "white", "microscopic", "off_page"]
EVAL_FIELDS = {
    "invoice_number", "invoice_date", "due_date", "seller_name", "seller_vat_id", "buyer_name",
    "currency", "net_amount", "tax_amount", "total_amount", "iban", "line_items",
}  # fmt: skip


@contextmanager
def opened(path: Path) -> Iterator[Any]:
    doc = pdfium.PdfDocument(path)
    try:
        yield doc
    finally:
        doc.close()


def page_texts(path: Path) -> list[str]:
    with opened(path) as doc:
        return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]


def text_objects(path: Path) -> list[tuple[str, tuple[float, ...], int, tuple[int, ...]]]:
    """(text, bounds, render mode, fill RGB) of each text object of page 1."""
    out = []
    with opened(path) as doc:  # the objects die with the document: read them in here
        page = doc[0]
        textpage = page.get_textpage()
        for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_TEXT], textpage=textpage):
            r, g, b, a = (pdfium_c.c_uint() for _ in range(4))
            pdfium_c.FPDFPageObj_GetFillColor(obj.raw, r, g, b, a)
            mode = pdfium_c.FPDFTextObj_GetTextRenderMode(obj.raw)
            out.append((obj.extract(), obj.get_bounds(), mode, (r.value, g.value, b.value)))
    return out


def truth(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (path.parent / "expected" / f"{path.stem}.json").read_text(), parse_float=Decimal
    )
    return data


# -- glyph by glyph ---------------------------------------------------------------------------


@pytest.mark.parametrize("stem", [*WEB, "glyphs_invoice"])
def test_one_glyph_per_text_object_and_tiny_punctuation(stem: str) -> None:
    path = PRINTED / f"{stem}.pdf"
    objects = text_objects(path)
    glyphs = sum(not char.isspace() for char in "".join(page_texts(path)))
    texts = [text.strip() for text, *_ in objects]
    single = sum(len(text) == 1 for text in texts)
    # PDFium hands a space glyph's text to the glyph before it, so space objects read ""
    if stem == "web_usage_gbp":  # only its labels and the balance line are letter-spaced
        assert 100 < single < glyphs / 2
    else:
        assert single == glyphs and len(objects) == glyphs + texts.count("")
    tiny = {text.strip() for text, (_, bottom, _, top), *_ in objects if top - bottom < 1}
    assert tiny & {".", "-"}, tiny
    with opened(path) as doc:
        producer = doc.get_metadata_value("Producer")
    assert producer.startswith("Skia/PDF" if stem.startswith("web_") else "extractor fixtures/")


@pytest.mark.parametrize("stem", [*WEB, "glyphs_invoice"])
def test_pdfium_plain_text_holds_every_truth_value_as_printed(stem: str) -> None:
    printed = print_html.printed_values(stem) if stem in WEB else make_printed.printed_values()
    text = "\n".join(page_texts(PRINTED / f"{stem}.pdf"))
    values = truth(PRINTED / f"{stem}.pdf")
    items = values.pop("line_items")
    assert len(printed) == len(values) + 4 * len(items)  # one printed form per truth value
    assert {name: value for name, value in printed.items() if value not in text} == {}


@pytest.mark.parametrize("how", HIDDEN)
def test_each_hidden_variant_adds_one_line_a_reader_cannot_see(how: str) -> None:
    path = PRINTED / f"glyphs_hidden_{how}.pdf"
    plain = text_objects(PRINTED / "glyphs_invoice.pdf")
    objects = text_objects(path)
    assert objects[:-1] == plain
    text, (left, bottom, _, top), mode, fill = objects[-1]
    assert text == make_printed.INJECTION
    assert make_printed.INJECTION in page_texts(path)[0]  # it is in the text layer
    hidden = {
        "invisible": mode == pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE,
        "white": fill == (255, 255, 255),
        "microscopic": top - bottom < 1,
        "off_page": left > 595,
    }
    assert [kind for kind, holds in hidden.items() if holds] == [how]
    assert truth(path) == truth(PRINTED / "glyphs_invoice.pdf")


# -- long tables ------------------------------------------------------------------------------


def assert_exact_sums(data: dict[str, Any]) -> None:
    items = data["line_items"]
    for item in items:
        assert item["quantity"] * item["unit_price"] == item["amount"], item
    assert sum(item["amount"] for item in items) == data["net_amount"]
    assert data["net_amount"] + data["tax_amount"] == data["total_amount"]


def assert_items_in_order(texts: list[str], items: list[dict[str, Any]]) -> list[int]:
    """Every item's description and amount in the PDF, in truth order; the page of each."""
    pages, page, position = [], 0, 0
    for item in items:
        while (found := texts[page].find(item["description"], position)) < 0:
            page, position = page + 1, 0
        position = found + len(item["description"])
        assert f"{item['amount']:,.2f}" in texts[page][position : position + 80], item
        pages.append(page + 1)
    return pages


def test_the_600_item_invoice() -> None:
    path = LONG / "invoice_600_items.pdf"
    data, texts = truth(path), page_texts(path)
    assert len(texts) == 40 and len(data["line_items"]) == 600
    assert_exact_sums(data)
    pages = assert_items_in_order(texts, data["line_items"])
    assert [pages.count(n) for n in range(1, 41)] == [15] * 40
    assert all(f"Page {n} of 40" in text for n, text in enumerate(texts, 1))
    assert sum("Brought forward" in text for text in texts) == 39
    assert f"{data['total_amount']:,.2f}" in texts[39]
    assert len({item["description"] for item in data["line_items"]}) == 600


def test_the_invoice_whose_table_continues_on_page_two() -> None:
    path = LONG / "invoice_continued.pdf"
    data, texts = truth(path), page_texts(path)
    assert len(texts) == 2 and len(data["line_items"]) == 26
    assert_exact_sums(data)
    pages = [
        next(n for n, text in enumerate(texts, 1) if item["description"] in text)
        for item in data["line_items"]
    ]
    assert pages == [1] * 18 + [2] * 8
    carried = sum(item["amount"] for item in data["line_items"][:18])
    carried_de = f"{carried:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
    for text in texts:  # the header is repeated, the carried-forward sum shown on both pages
        assert "Pos." in text and "Bezeichnung" in text and "Einzelpreis" in text
        assert f"Übertrag {carried_de} €" in text
    with opened(path) as doc:
        page = doc[0]
        height = page.get_height()
        textpage = page.get_textpage()
        start, count = textpage.search(data["line_items"][17]["description"]).get_next()
        boxes = [textpage.get_charbox(i) for i in range(start, start + count)]
    assert height - min(box[1] for box in boxes) > 740  # the row ends near the bottom


# -- truth files ------------------------------------------------------------------------------


def iban_is_valid(iban: str) -> bool:
    return int("".join(str(int(c, 36)) for c in iban[4:] + iban[:4])) % 97 == 1


@pytest.mark.parametrize(
    "path", sorted([*PRINTED.glob("expected/*.json"), *LONG.glob("expected/*.json")]),
    ids=lambda p: p.stem,
)  # fmt: skip
def test_truth_files_have_the_eval_shape(path: Path) -> None:
    data = json.loads(path.read_text(), parse_float=Decimal)
    assert set(data) <= EVAL_FIELDS and {"invoice_number", "total_amount"} <= set(data)
    for key in ("invoice_date", "due_date"):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", data[key])
    assert data["currency"] in {"EUR", "USD", "GBP"}
    assert "iban" not in data or iban_is_valid(data["iban"])
    assert (path.parent.parent / f"{path.stem}.pdf").is_file()
    assert_exact_sums(data)
