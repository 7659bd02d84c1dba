"""Form fields on their way to the model: pages carry them, the prompt sends them in every
mode, images show them, and grounding finds answers in them (issue 14, items 1-2)."""

from __future__ import annotations

import base64
import io
import json
import pickle
from pathlib import Path

import pytest
from PIL import Image

from extractor import extract
from extractor.forms import render_fields
from extractor.ground import ground
from extractor.load import load
from extractor.pages import Page, read_pages
from extractor.prompt import build_messages, estimate_tokens, page_text
from extractor.schema import load_schema
from extractor.settings import Mode, PageOptions
from extractor.testing import Reply, ScriptedServer
from extractor.testing.pdf import LETTER, PdfWriter
from extractor.testing.pdf_forms import AcroForm, FieldBox, FieldOptions
from schemas import Invoice

ROOT = Path(__file__).resolve().parents[1]
MEMBERSHIP = ROOT / "fixtures" / "forms" / "fillable" / "membership_03.pdf"
CORPUS = ROOT.parent / "shared" / "corpus" / "pdf-malformed"
TYPED: FieldBox = (200, 88, 200, 18)


def pages_of(data: bytes | Path, **options: object) -> list[Page]:
    return read_pages(load(data), PageOptions(**options))  # type: ignore[arg-type]


def user_text(pages: list[Page]) -> str:
    user = build_messages(load_schema("form"), pages, total_pages=len(pages))[1]["content"]
    return user if isinstance(user, str) else "\n".join(p.get("text", "") for p in user)


def typed_form(*, printed: str = "Full name:") -> bytes:
    """A page with a text field whose value only the viewer draws (no appearance)."""
    pdf = PdfWriter()
    page = pdf.page(*LETTER)
    if printed:
        page.text(72, 100, printed)
    AcroForm(pdf).text(page, "name", TYPED, "Drawn by the viewer", appearance="none")
    return pdf.to_bytes()


@pytest.mark.parametrize(
    ("mode", "vision"), [("auto", False), ("auto", True), ("text", True), ("vision", True),
                         ("hybrid", True)]
)  # fmt: skip
def test_every_mode_sends_the_form_fields_after_the_page(mode: Mode, vision: bool) -> None:
    pages = pages_of(MEMBERSHIP, mode=mode, vision=vision)
    (page,) = pages
    sent = user_text(pages)
    section = render_fields(page.fields)
    assert section.startswith("Form fields (as filled in):\n- Full name [applicant_name]: ")
    assert section in sent
    if mode == "vision":
        assert "--- page 1 (image) ---\nForm fields (as filled in):" in sent
        assert page.image is not None and not page.text
    else:
        assert sent.index("Riverside Athletics Club") < sent.index("Form fields")


def test_the_section_counts_in_the_token_estimate() -> None:
    (page,) = pages_of(MEMBERSHIP, mode="text")
    bare = Page(page.number, page.width, page.height, text=page.text, text_source="layer")
    assert page_text(page) == page.text.strip() + "\n\n" + render_fields(page.fields)
    added = estimate_tokens(page) - estimate_tokens(bare)
    assert added == pytest.approx(len(render_fields(page.fields)) / 4, abs=2)


def test_pages_are_rendered_with_the_values_drawn() -> None:
    (page,) = pages_of(typed_form(), mode="vision", dpi=72, max_side=612)
    assert page.image is not None
    image = Image.open(io.BytesIO(base64.b64decode(page.image.data_url().split(",", 1)[1])))
    x, y, w, h = (round(v * image.width / 612) for v in TYPED)
    inked = sum(1 for v in image.convert("L").crop((x, y, x + w, y + h)).tobytes() if v < 128)
    assert inked > 30  # PDFium drew /V: the form environment was on when it rendered


def test_field_values_count_as_the_pages_text() -> None:
    # "Full name:" alone is under the 16 letters a page needs to count as text.
    (with_fields,) = pages_of(typed_form(), mode="auto", vision=False, ocr=False)
    assert (with_fields.text_source, with_fields.text) == ("layer", "Full name:")
    pdf = PdfWriter()
    pdf.page(*LETTER).text(72, 100, "Full name:")
    (without,) = pages_of(pdf.to_bytes(), mode="auto", vision=False, ocr=False)
    assert without.text_source == "none"


def test_pages_with_fields_pickle_for_the_reading_workers() -> None:
    pages = pages_of(MEMBERSHIP, mode="hybrid")
    assert pages[0].fields and pickle.loads(pickle.dumps(pages)) == pages


@pytest.mark.skipif(not CORPUS.is_dir(), reason="needs ../shared/corpus")
def test_an_xfa_form_says_so_on_its_first_page() -> None:
    pages = pages_of(CORPUS / "pdfium" / "testing_resources_simple_xfa.pdf", mode="text")
    assert any("XFA form" in w for w in pages[0].warnings)


# -- grounding on fields ------------------------------------------------------------------------


def ticks(*boxes: tuple[str, str, bool, FieldOptions]) -> list[Page]:
    """A page of captioned check boxes (name, caption, ticked, options)."""
    pdf = PdfWriter()
    page = pdf.page(*LETTER)
    form = AcroForm(pdf)
    page.text(72, 60, "Preferences")
    for i, (name, caption, ticked, options) in enumerate(boxes):
        y = 100 + 30 * i
        form.checkbox(page, name, (72, y - 9, 10, 10), checked=ticked, options=options)
        page.text(88, y, caption)
    return pages_of(pdf.to_bytes(), mode="text")


PLAIN = FieldOptions()


def test_a_yes_no_answer_stands_on_the_box_its_name_or_caption_matches() -> None:
    pages = ticks(("cb1", "Send me the newsletter", True, PLAIN),
                  ("cb2", "Photos of me may be published", False, PLAIN))  # fmt: skip
    boxes = {f.name: f.box for f in pages[0].fields}
    found = ground({"newsletter": True, "photo_consent": False, "vegetarian": True}, pages)
    assert (found["newsletter"].status, found["newsletter"].box) == ("form_field", boxes["cb1"])
    assert found["newsletter"].text == "checked" and found["newsletter"].confidence == 0.95
    assert (found["photo_consent"].box, found["photo_consent"].text) == (boxes["cb2"], "unchecked")
    assert "vegetarian" not in found  # no box names it: a boolean is not grounded by guess
    # A box that says the opposite is not where the answer stands.
    assert "newsletter" not in ground({"newsletter": False}, pages)


def test_the_only_box_of_a_form_grounds_a_yes_no_answer_whatever_its_name() -> None:
    pages = ticks(("cb1", "I agree", True, PLAIN))
    assert ground({"accepted": True}, pages)["accepted"].status == "form_field"


def test_a_hidden_box_grounds_as_hidden() -> None:
    pages = ticks(("newsletter", "Newsletter", True, FieldOptions(hidden=True)),
                  ("other", "Other", False, PLAIN))  # fmt: skip
    assert ground({"newsletter": True}, pages)["newsletter"].status == "hidden_only"


def test_a_choice_stands_on_the_ticked_button_not_on_the_printed_captions() -> None:
    (page,) = pages_of(MEMBERSHIP, mode="text")
    radio = next(f for f in page.fields if f.name == "membership")
    assert "Individual Family Student" in page.text.replace("X ", "")  # every caption printed
    found = ground({"membership_type": radio.value}, [page])["membership_type"]
    assert (found.status, found.box) == ("form_field", radio.box)
    assert found.box == next(w.box for w in radio.widgets if w.checked)
    # A caption the group did not choose is only printed text.
    other = next(o for o in radio.options if o != radio.value)
    assert ground({"membership_type": other}, [page])["membership_type"].status == "exact"


def test_a_date_in_a_field_is_found_in_its_printed_form() -> None:
    (page,) = pages_of(MEMBERSHIP, mode="text")
    dob = next(f for f in page.fields if f.name == "dob")
    day, month, year = (dob.value or "").split("/")
    found = ground({"date_of_birth": f"{year}-{month}-{day}"}, [page])["date_of_birth"]
    assert (found.status, found.text, found.box) == ("form_field", dob.value, dob.box)


def test_a_misprinted_iban_typed_into_a_field_is_not_sent_back() -> None:
    # An as_printed rule (a checksum) that fails on a value the form holds as answered:
    # the person typed it wrong, and asking the model again cannot help.
    misprinted = "DE12500105170648489891"  # one digit off: mod 97 fails
    pdf = PdfWriter()
    page = pdf.page(*LETTER)
    for number, line in enumerate(["ACME GmbH, Hauptstr. 1, 20457 Hamburg",
                                   "Invoice RE-77  Date 15.03.2024",
                                   "Net 100,00 EUR  VAT 19,00 EUR  Total 119,00 EUR"]):  # fmt: skip
        page.text(56, 80 + 20 * number, line)
    page.text(56, 160, "IBAN:")
    AcroForm(pdf).text(page, "iban", (100, 148, 220, 16), misprinted)
    answer = json.dumps({
        "invoice_number": "RE-77", "invoice_date": "2024-03-15", "seller_name": "ACME GmbH",
        "currency": "EUR", "net_amount": 100.0, "tax_amount": 19.0, "total_amount": 119.0,
        "iban": misprinted,
    })  # fmt: skip
    with ScriptedServer([Reply.chat(answer) for _ in range(3)]) as server:
        result = extract(pdf.to_bytes(), Invoice, base_url=server.base_url, model="m", retries=0)
        calls = server.calls
    assert result.status == "ok", result.error
    assert result.grounding["iban"]["status"] == "form_field"
    assert calls == 1, "the form holds this IBAN: asking again cannot help"
    assert {c["name"]: c["status"] for c in result.checks}["iban_is_valid"] == "failed"


def test_among_fields_holding_the_same_value_the_one_labelled_for_the_key_wins() -> None:
    # No tax: the subtotal and the total hold the same amount. The total_amount stands in
    # the field labelled "Total", although "Subtotal" comes first on the page.
    pdf = PdfWriter()
    page = pdf.page(*LETTER)
    form = AcroForm(pdf)
    for y, label, name in ((100, "Subtotal", "sub"), (130, "Total", "total")):
        page.text(72, y, label)
        form.text(page, name, (200, y - 12, 120, 16), "119.00")
    pages = pages_of(pdf.to_bytes(), mode="text")
    boxes = {f.name: f.box for f in pages[0].fields}
    found = ground({"total_amount": 119.0}, pages)["total_amount"]
    assert (found.status, found.box) == ("form_field", boxes["total"])
