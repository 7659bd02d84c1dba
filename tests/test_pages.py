"""The pages stage on real PDFs: what is rendered, at which size, and text that breaks decoders."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from extractor import pages as pages_module
from extractor.load import load
from extractor.pages import PageOptions, read_pages

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EVAL_INVOICES = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "invoices"

# Factur-X samples whose text objects hold half a surrogate pair (an emoji split in two).
HALF_SURROGATES = [
    "zf_ZUGFeRDv2_correct_FNFE-factur-x-examples_Avoir_FR_type381_BASIC.pdf",
    "zf_ZUGFeRDv2_correct_FNFE-factur-x-examples_Facture_DOM_BASICWL.pdf",
    "zf_ZUGFeRDv2_correct_FNFE-factur-x-examples_Facture_FR_BASICWL.pdf",
    "zf_ZUGFeRDv2_correct_FNFE-factur-x-examples_Facture_FR_MINIMUM.pdf",
    "zf_ZUGFeRDv2_correct_FNFE-factur-x-examples_Facture_UE_BASICWL.pdf",
]


@pytest.fixture
def rendered_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Record the size of every bitmap PDFium renders (observes ``_render``'s output)."""
    sizes: list[tuple[int, int]] = []
    real = pages_module._render

    def spy(*args: object, **kwargs: object) -> Image.Image:
        bitmap = real(*args, **kwargs)  # type: ignore[arg-type]
        sizes.append(bitmap.size)
        return bitmap

    monkeypatch.setattr(pages_module, "_render", spy)
    return sizes


def test_a_sent_page_is_rendered_straight_at_the_sent_size(
    rendered_sizes: list[tuple[int, int]],
) -> None:
    # A4 at 150 dpi would be 1240×1754; what is sent is capped at 1540 on the long side,
    # and rendering any larger only to downscale costs ~4× the time (docs/benchmarks.md).
    [page] = read_pages(load(FIXTURES / "invoice.pdf"), PageOptions(mode="vision"))
    assert page.image is not None
    assert max(page.image.width, page.image.height) == 1540
    assert rendered_sizes == [(page.image.width, page.image.height)]


def test_a_small_cap_and_a_low_dpi_are_both_honoured(
    rendered_sizes: list[tuple[int, int]],
) -> None:
    [page] = read_pages(load(FIXTURES / "invoice.pdf"), PageOptions(mode="vision", max_side=800))
    assert page.image is not None and max(page.image.width, page.image.height) == 800
    [page] = read_pages(load(FIXTURES / "invoice.pdf"), PageOptions(mode="vision", dpi=72))
    assert page.image is not None and (page.image.width, page.image.height) == (596, 842)  # ceil
    assert rendered_sizes == [(566, 800), (596, 842)]


def test_ocr_reads_a_larger_bitmap_than_is_sent(rendered_sizes: list[tuple[int, int]]) -> None:
    pytest.importorskip("rapidocr")
    [page] = read_pages(
        load(FIXTURES / "scan.pdf"), PageOptions(mode="text", vision=False, dpi=300)
    )
    assert page.text_source == "ocr" and page.image is None
    assert max(rendered_sizes[0]) == 2000  # small print needs the pixels; nothing is sent


@pytest.mark.eval_data
@pytest.mark.skipif(not EVAL_INVOICES.is_dir(), reason="needs ../shared/eval/invoices")
@pytest.mark.parametrize("name", HALF_SURROGATES)
def test_half_a_surrogate_pair_does_not_cost_the_document(name: str) -> None:
    [first, *_] = read_pages(load(EVAL_INVOICES / name), PageOptions(mode="text"))
    assert first.text_source == "layer" and len(first.text) > 200
    texts = [run.text for run in first.runs]
    assert any("\ufffd" in text for text in texts)  # the broken half, replaced
    assert all(text.encode("utf-8") for text in texts)  # no lone surrogate left
