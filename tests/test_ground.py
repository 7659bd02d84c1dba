"""Grounding on real pages: the fixture PDFs' text layers, an OCR'd scan and hand-made PDFs.

Where a value should stand is worked out independently with PDFium's character boxes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from extractor import ocr
from extractor.ground import Grounding, field_confidence, ground, require_grounding_feedback
from extractor.load import load
from extractor.pages import Page, TextRun, read_pages
from extractor.settings import PageOptions
from extractor.testing.pdf import PdfWriter

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TEXT = PageOptions(mode="text", vision=False)
Box = tuple[float, float, float, float]


def truth(stem: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((FIXTURES / "expected" / f"{stem}.json").read_text())
    return data


def printed_boxes(pdf: Path | bytes, needle: str, page: int = 1) -> list[Box]:
    """Every place PDFium finds ``needle`` on a page, top-left origin, in reading order."""
    doc = pdfium.PdfDocument(pdf)
    try:
        pdf_page = doc[page - 1]
        height = pdf_page.get_size()[1]
        textpage = pdf_page.get_textpage()
        searcher = textpage.search(needle, match_case=True)
        boxes = []
        while hit := searcher.get_next():
            start, count = hit
            chars = [textpage.get_charbox(i) for i in range(start, start + count)]
            boxes.append((min(c[0] for c in chars), height - max(c[3] for c in chars),
                          max(c[2] for c in chars), height - min(c[1] for c in chars)))  # fmt: skip
        return sorted(boxes, key=lambda b: (b[1], b[0]))
    finally:
        doc.close()


def text_in(pdf: Path, box: Box, page: int = 1) -> str:
    """What PDFium reads inside ``box`` (top-left origin), for an independent check."""
    doc = pdfium.PdfDocument(pdf)
    try:
        pdf_page = doc[page - 1]
        height = pdf_page.get_size()[1]
        x0, top, x1, bottom = box
        return str(pdf_page.get_textpage().get_text_bounded(x0, height - bottom, x1, height - top))
    finally:
        doc.close()


def assert_near(box: Box | None, expected: Box, tolerance: float) -> None:
    assert box is not None
    assert all(abs(a - b) <= tolerance for a, b in zip(box, expected, strict=True)), (box, expected)


def assert_on_page(g: Grounding, page: Page) -> None:
    assert g.box is not None and g.page == page.number
    x0, top, x1, bottom = g.box
    assert 0 <= x0 < x1 <= page.width and 0 <= top < bottom <= page.height


@pytest.fixture(scope="module")
def invoice() -> list[Page]:
    return read_pages(load(FIXTURES / "invoice.pdf"), TEXT)


@pytest.fixture(scope="module")
def multipage() -> list[Page]:
    return read_pages(load(FIXTURES / "multipage.pdf"), TEXT)


# -- the born-digital invoice ---------------------------------------------------------------


def test_invoice_number_is_exact_where_the_pdf_prints_it(invoice: list[Page]) -> None:
    g = ground({"invoice_number": "RE-2024-0815"}, invoice)["invoice_number"]
    places = printed_boxes(FIXTURES / "invoice.pdf", "RE-2024-0815")
    assert (g.status, g.page, g.text) == ("exact", 1, "RE-2024-0815")
    assert_on_page(g, invoice[0])
    # printed three times (header, subject line, payment reference): the first one read wins
    assert g.occurrences == len(places) == 3
    assert_near(g.box, places[0], tolerance=1.5)
    assert "RE-2024-0815" in text_in(FIXTURES / "invoice.pdf", g.box or places[0])
    assert g.confidence == 0.95


def test_value_printed_twice_takes_the_first_visible_place(invoice: list[Page]) -> None:
    g = ground({"due_date": "2024-04-14"}, invoice)["due_date"]
    places = printed_boxes(FIXTURES / "invoice.pdf", "14.04.2024")
    assert len(places) == 2 and g.occurrences == 2
    assert (g.status, g.text) == ("normalized", "14.04.2024")
    assert_near(g.box, places[0], tolerance=1.5)  # "Fällig am", not the payment sentence


def test_german_amount_and_date_are_normalized(invoice: list[Page]) -> None:
    found = ground({"total_amount": 1468.46, "invoice_date": "2024-03-15"}, invoice)
    total, day = found["total_amount"], found["invoice_date"]
    assert (total.status, total.page, total.text) == ("normalized", 1, "1.468,46")
    assert_near(total.box, printed_boxes(FIXTURES / "invoice.pdf", "1.468,46")[0], tolerance=4)
    assert (day.status, day.text) == ("normalized", "15.03.2024")
    assert_near(day.box, printed_boxes(FIXTURES / "invoice.pdf", "15.03.2024")[0], tolerance=1.5)
    assert total.confidence == day.confidence == 0.85


def test_iban_without_spaces_matches_the_grouped_print(invoice: list[Page]) -> None:
    g = ground({"iban": "DE89370400440532013000"}, invoice)["iban"]
    printed = "DE89 3704 0044 0532 0130 00"
    assert (g.status, g.text) == ("normalized", printed)
    # cut out of the run "IBAN: DE89 …", so it starts after the label
    assert_near(g.box, printed_boxes(FIXTURES / "invoice.pdf", printed)[0], tolerance=4)


def test_value_inside_a_longer_run_gets_a_narrowed_box(invoice: list[Page]) -> None:
    g = ground({"seller_vat_id": "DE123456789"}, invoice)["seller_vat_id"]
    run = next(r for r in invoice[0].runs if "DE123456789" in r.text)
    assert run.text.startswith("USt-IdNr.: ")
    assert g.box is not None and g.box[0] > run.box[0] + 30
    assert_near(g.box, printed_boxes(FIXTURES / "invoice.pdf", "DE123456789")[0], tolerance=4)


def test_value_not_in_the_document(invoice: list[Page]) -> None:
    found = ground({"total_amount": 243.95, "po_number": "PO-99-XYZ"}, invoice)
    g = found["total_amount"]
    assert (g.status, g.page, g.text, g.box, g.occurrences) == ("not_found", None, None, None, 0)
    assert g.confidence == 0.1
    assert require_grounding_feedback(found) == [
        "`total_amount` 243.95 does not appear in the document",
        '`po_number` "PO-99-XYZ" does not appear in the document',
    ]


def test_numbers_are_not_found_inside_other_numbers(invoice: list[Page]) -> None:
    # 468 stands in "1.468,46", 500 in "2.500 Blatt", 15.03 in "15.03.2024", 0.46 nowhere
    found = ground({"a": 468, "b": 500, "c": 0.46, "d": "15.03"}, invoice)
    assert {g.status for g in found.values()} == {"not_found"}


def test_unit_prices_printed_with_four_decimals_are_found() -> None:
    # EN 16931 invoices print unit prices as "86,5500" (eval: zf_XML-Rechnung_…_Miete)
    row = TextRun("Miettage 86,5500 2 Tag(e) 173,10", (50, 100, 400, 110))
    page = Page(1, 600, 800, runs=(row,))
    found = ground({"unit_price": 86.55, "amount": 173.1, "not_there": 86.5}, [page])
    assert (found["unit_price"].status, found["unit_price"].text) == ("normalized", "86,5500")
    assert (found["amount"].status, found["amount"].text) == ("normalized", "173,10")
    assert found["not_there"].status == "not_found"  # 86,5 is not inside 86,5500


def test_line_item_value_is_placed_on_its_own_row(invoice: list[Page]) -> None:
    item = {"description": "Kopierpapier A4, 80 g, Karton 2.500 Blatt", "quantity": 12.0}
    found = ground({"line_items": [item]}, invoice)
    quantity = found["line_items[0].quantity"]
    # "12" also stands in "Speicherstraße 12" above; the row of the description wins
    assert (quantity.status, quantity.text, quantity.occurrences) == ("exact", "12", 4)
    description = found["line_items[0].description"].box
    assert description is not None and quantity.box is not None
    assert abs(quantity.box[1] - description[1]) < 3 and quantity.box[0] > 300


def test_every_truth_value_of_the_fixtures_is_grounded(
    invoice: list[Page], multipage: list[Page]
) -> None:
    form = read_pages(load(FIXTURES / "form.pdf"), TEXT)
    for stem, pages in (("invoice", invoice), ("multipage", multipage), ("form", form)):
        data = truth(stem)
        found = ground(data, pages)
        assert "signed" not in found  # booleans are not grounded
        assert found and all(g.status in ("exact", "normalized") for g in found.values()), stem
        for g in found.values():
            assert_on_page(g, pages[(g.page or 1) - 1])
    assert ground(truth("form"), form)["date_of_birth"].text == "23/09/1987"
    assert ground(truth("form"), form)["address.city"].status == "exact"


# -- several pages --------------------------------------------------------------------------


def test_multipage_line_items_and_totals_on_their_pages(multipage: list[Page]) -> None:
    found = ground(truth("multipage"), multipage)
    assert {found[f"line_items[{i}].description"].page for i in range(7)} == {1}
    assert {found[f"line_items[{i}].{k}"].page for i in range(7, 12)
            for k in ("description", "quantity", "unit_price", "amount")} == {2}  # fmt: skip
    assert found["line_items[8].amount"].text == "291.60"
    assert (found["total_amount"].page, found["total_amount"].text) == (3, "4,577.10")
    assert found["invoice_date"].text == "1 June 2024"
    assert found["iban"].text == "GB29 NWBK 6016 1331 9268 19"
    description = printed_boxes(FIXTURES / "multipage.pdf", "Turning inserts CNMG", page=2)[0]
    assert found["line_items[8].description"].box is not None
    assert abs(found["line_items[8].description"].box[1] - description[1]) < 1.5


def test_equal_sibling_values_get_distinct_places(multipage: list[Page]) -> None:
    found = ground(truth("multipage"), multipage)
    price, amount = found["line_items[11].unit_price"], found["line_items[11].amount"]
    places = printed_boxes(FIXTURES / "multipage.pdf", "1,245.00", page=2)
    assert price.occurrences == amount.occurrences == len(places) == 2
    assert price.text == amount.text == "1,245.00"
    assert price.box is not None and amount.box is not None
    assert price.box[0] < 460 < amount.box[0]  # the unit price column, then the amount column


# -- fuzzy ----------------------------------------------------------------------------------


def test_fuzzy_match_and_its_threshold(invoice: list[Page]) -> None:
    values = {"near": "Nordlicht Burobedarf GmbH", "far": "Nordwind Papierhandel AG"}
    found = ground(values, invoice)
    near = found["near"]
    assert (near.status, near.page, near.text) == ("fuzzy", 1, "Nordlicht Bürobedarf GmbH")
    assert near.similarity == pytest.approx(1 - 1 / 25)
    assert near.confidence == pytest.approx(0.6 * near.similarity, abs=1e-4)
    assert_on_page(near, invoice[0])
    assert found["far"].status == "not_found"


# -- a scan, read by OCR --------------------------------------------------------------------


@pytest.mark.skipif(not ocr.available(), reason="OCR engine not installed")
def test_scan_is_grounded_through_ocr_boxes() -> None:
    options = PageOptions(mode="text", vision=False, ocr=True)
    pages = read_pages(load(FIXTURES / "scan.png"), options)
    assert pages[0].text_source == "ocr"
    found = ground({"invoice_number": "RE-2024-0815", "total_amount": 1468.46}, pages)
    number = found["invoice_number"]
    assert (number.status, number.page, number.text) == ("exact", 1, "RE-2024-0815")
    assert_on_page(number, pages[0])
    assert found["total_amount"].text == "1.468,46"
    # the scan is invoice.pdf drawn at 150 dpi: the number stands at the same relative place
    printed = printed_boxes(FIXTURES / "invoice.pdf", "RE-2024-0815")[0]
    assert number.box is not None
    assert abs(number.box[0] / pages[0].width - printed[0] / 595.28) < 0.03
    assert abs(number.box[1] / pages[0].height - printed[1] / 841.89) < 0.03


RECEIPTS = Path(__file__).resolve().parents[2] / "shared" / "eval" / "receipts"


def ocr_line_page(*lines: str) -> list[Page]:
    """A scanned page as OCR gives it: one run per line, boxed."""
    runs = tuple(TextRun(line, (40.0, 60.0 + 30 * i, 420.0, 80.0 + 30 * i))
                 for i, line in enumerate(lines))  # fmt: skip
    return [Page(1, 600, 900, text="\n".join(lines), text_source="ocr", runs=runs)]


@pytest.mark.parametrize(
    ("printed", "text"),
    [
        ("Date:30-06-201822:16:06 Cashier 3", "30-06-2018"),
        ("30/06/2018 22:16", "30/06/2018"),
        ("Tarikh: 30-06-18", "30-06-18"),
        ("30/06/20185:57:07PM", "30/06/2018"),
        ("30 Jun 18 18:32:36", "30 Jun 18"),
        ("Date 30062018 No CS-20243", "30062018"),
    ],
)
def test_ocr_dates_glued_to_times_or_short_are_found(printed: str, text: str) -> None:
    found = ground({"date": "2018-06-30"}, ocr_line_page("TOTAL 9.00", printed))["date"]
    assert (found.status, found.text) == ("normalized", text)


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (12, "12.03.2024"),
        ("2018-06-30", "30-06-2018223"),  # no time follows: a longer number
        ("2020-06-30", "30-06-201822:16:06"),  # the year is 2018, not 20 followed by a time
        (2018, "30-06-201822:16:06"),
        ("2018-06-30", "INV30062018"),  # eight digits must stand alone
    ],
)
def test_numbers_and_dates_inside_longer_ones_stay_not_found(value: object, printed: str) -> None:
    assert ground({"v": value}, ocr_line_page(printed))["v"].status == "not_found"


@pytest.mark.skipif(not ocr.available(), reason="OCR engine not installed")
@pytest.mark.skipif(not RECEIPTS.is_dir(), reason="needs ../shared/eval/receipts")
def test_a_real_receipts_ocr_date_glued_to_its_time_is_found() -> None:
    pages = read_pages(load(RECEIPTS / "sroie_043.jpg"), PageOptions(mode="auto", vision=False))
    truth_date = json.loads((RECEIPTS / "sroie_043.json").read_text())["date"]
    found = ground({"date": truth_date}, pages)["date"]
    assert (found.status, found.text) == ("normalized", "10-03-2018")
    assert found.box is not None and "10-03-2018" in pages[0].text


def long_text(size: int, seed: int) -> str:
    rng = random.Random(seed)
    words = ("invoice", "total", "net", "tax", "due", "seller", "buyer", "city", "bank")
    lines, length = [], 0
    while length < size:
        lines.append(" ".join(f"{rng.choice(words)}{rng.randrange(1000)}" for _ in range(6)))
        length += len(lines[-1]) + 1
    return "\n".join(lines)


def test_a_very_long_value_is_located_or_not_found_as_a_short_one_is() -> None:
    text = long_text(120_000, seed=1)
    pages = ocr_line_page(*text.split("\n"))
    slipped = "".join("#" if i % 50 == 25 and c.isalnum() else c for i, c in enumerate(text))
    found = ground({"same": text, "slipped": slipped, "other": long_text(120_000, seed=2),
                    "longer": text + " " + text}, pages)  # fmt: skip
    assert found["same"].status == "normalized"  # its line breaks are spaces in the value
    assert found["slipped"].status == "fuzzy"
    assert 0.97 < found["slipped"].similarity < 0.99
    assert found["slipped"].text == text and found["slipped"].box == found["same"].box
    assert found["other"].status == "not_found"
    assert found["longer"].status == "not_found"


# -- hidden text ----------------------------------------------------------------------------


def tiny_pdf(content: bytes, mediabox: Box = (0, 0, 300, 420), rotate: int = 0) -> bytes:
    """A one-page PDF (A6 unless told) with Helvetica as /F1 and ``content`` as its content."""
    writer = PdfWriter()
    x0, y0, x1, y1 = mediabox
    writer.page(x1 - x0, y1 - y0, origin=(x0, y0), rotate=rotate).raw(content, fonts=["Helvetica"])
    return writer.to_bytes()


HIDDEN = tiny_pdf(
    b"BT /F1 12 Tf 30 380 Td (Invoice INV-42 from Acme Tooling Ltd) Tj ET\n"
    b"BT /F1 12 Tf 30 360 Td (Amount due: 120,00 EUR) Tj ET\n"
    b"BT /F1 12 Tf 3 Tr 30 300 Td (Total 999,99 EUR INV-42) Tj ET\n"  # render mode 3: invisible
    b"BT /F1 12 Tf 1 1 1 rg 30 280 Td (Reference SECRET-7781) Tj ET\n"  # white on white
)


def test_value_only_in_invisible_text_is_hidden_only() -> None:
    pages = read_pages(load(HIDDEN), TEXT)
    assert [r.visible for r in pages[0].runs] == [True, True, False, False]
    found = ground({"invoice_number": "INV-42", "total": 999.99, "reference": "SECRET-7781",
                    "amount_due": 120.0}, pages)  # fmt: skip
    total, reference = found["total"], found["reference"]
    assert (total.status, total.page, total.text) == ("hidden_only", 1, "999,99")
    assert_near(total.box, printed_boxes(HIDDEN, "999,99")[0], tolerance=4)
    assert (reference.status, reference.text) == ("hidden_only", "SECRET-7781")
    assert total.confidence == reference.confidence == 0.2
    # printed visibly and hidden: the visible place counts, and only visible places are counted
    number = found["invoice_number"]
    assert (number.status, number.occurrences) == ("exact", 1)
    assert_near(number.box, printed_boxes(HIDDEN, "INV-42")[0], tolerance=4)
    assert found["amount_due"].status == "normalized"
    assert require_grounding_feedback(found) == [
        "`total` 999.99 appears only in hidden text on page 1, which a reader cannot see; "
        "use what the page shows",
        '`reference` "SECRET-7781" appears only in hidden text on page 1, which a reader '
        "cannot see; use what the page shows",
    ]


# pages.py maps text-object bounds with ``height - top`` in PDF user space: it ignores the
# crop box's origin and the page's /Rotate, so such text gets wrong boxes and is flagged as
# off-page (hidden). Remove the xfail marks once pages.py maps through FPDF_PageToDevice.
# (With OCR on, the page would count as textless and OCR would hide the mistake.)
LAYER_ONLY = PageOptions(mode="text", vision=False, ocr=False)
VISIBLE_LINE = b"BT /F1 12 Tf %d %d Td (Invoice INV-42 from Acme Tooling Ltd) Tj ET"


def test_visible_text_on_a_page_whose_mediabox_is_offset() -> None:
    pdf = tiny_pdf(VISIBLE_LINE % (130, 480), mediabox=(100, 100, 400, 520))
    pages = read_pages(load(pdf), LAYER_ONLY)
    g = ground({"invoice_number": "INV-42"}, pages)["invoice_number"]
    assert g.status == "exact"
    assert_on_page(g, pages[0])


def test_visible_text_on_a_rotated_page() -> None:
    pages = read_pages(load(tiny_pdf(VISIBLE_LINE % (30, 380), rotate=90)), LAYER_ONLY)
    g = ground({"invoice_number": "INV-42"}, pages)["invoice_number"]
    assert g.status == "exact"
    assert_on_page(g, pages[0])


# -- plain text, currency, confidence, record form -------------------------------------------


def test_plain_text_page_and_currency_symbol(tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("Receipt 7781\nTOTAL: 12,50 €\nPaid by card\n", encoding="utf-8")
    pages = read_pages(load(note), TEXT)
    found = ground({"currency": "EUR", "total": 12.5, "memo": "paid by card"}, pages)
    assert (found["currency"].status, found["currency"].text) == ("normalized", "€")
    assert (found["total"].status, found["total"].text) == ("normalized", "12,50")
    assert (found["memo"].status, found["memo"].text) == ("normalized", "Paid by card")
    assert all(g.page == 1 and g.box is None for g in found.values())


def test_confidence_heuristic_and_repair_penalty(invoice: list[Page]) -> None:
    cases = {"exact": 0.95, "normalized": 0.85, "hidden_only": 0.2, "not_found": 0.1}
    for status, expected in cases.items():
        g = Grounding(1, status)  # type: ignore[arg-type]
        assert field_confidence(g, repaired=False) == expected
        assert field_confidence(g, repaired=True) == pytest.approx(expected - 0.1)
    fuzzy = Grounding("x", "fuzzy", similarity=0.9)
    assert field_confidence(fuzzy, repaired=False) == pytest.approx(0.54)
    repaired = ground({"invoice_number": "RE-2024-0815"}, invoice, repaired=True)
    assert repaired["invoice_number"].confidence == pytest.approx(0.85)


def test_as_dict_is_json_ready(invoice: list[Page]) -> None:
    found = ground({"iban": "DE89370400440532013000", "missing": "zzz-000"}, invoice)
    records = json.loads(json.dumps({k: g.as_dict() for k, g in found.items()}))
    assert set(records["iban"]) == {
        "status", "page", "text", "box", "occurrences", "similarity", "confidence"
    }  # fmt: skip
    assert len(records["iban"]["box"]) == 4 and records["missing"]["box"] is None


def test_docstring_example_runs() -> None:
    import doctest

    import extractor.ground

    result = doctest.testmod(extractor.ground)
    assert result.attempted >= 3 and result.failed == 0


def test_the_ascii_fast_path_folds_as_the_general_path_does() -> None:
    """Pages in ASCII skip per-character NFKC folding; the view must not change."""
    import random
    import string

    from extractor.ground import _fold_char, _view

    def general(text: str, compact: bool) -> tuple[str, tuple[int, ...]]:
        chars: list[str] = []
        index: list[int] = []
        spaced = True
        for i, ch in enumerate(text):
            for c in _fold_char(ch):
                if c == " " and (compact or spaced):
                    continue
                spaced = c == " "
                chars.append(c)
                index.append(i)
        return "".join(chars), tuple(index)

    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + " \n\t.,-"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        for compact in (False, True):
            view = _view(text, compact=compact)
            assert (view.text, view.index) == general(text, compact), (text, compact)
