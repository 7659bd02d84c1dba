"""Pages stage: per page, the text layer (with run boxes), a rendered image on demand, OCR.

Which of these a page carries depends on the input mode (:class:`PageOptions`):

- ``text``: the text layer; OCR where a page has none.
- ``vision``: the page image only.
- ``hybrid``: the text layer (where there is one) and the page image.
- ``auto``: per page, the text layer where the page has real text; otherwise the image
  when the model can see, else OCR text.

PDFium is not thread-safe, even across documents, so every PDFium call here runs under
one process-wide lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from extractor import forms, images
from extractor.errors import CorruptInput, EmptyInput, EncryptedInput, InputTooLarge
from extractor.load import Document
from extractor.pdftext import Box, TextRun, read_layer
from extractor.settings import PageOptions

__all__ = [
    "Box",
    "Page",
    "TextRun",
    "parse_page_range",
    "read_pages",
]

_PDFIUM_LOCK = threading.RLock()


@dataclass(frozen=True)
class Page:
    """One page as the model may receive it.

    Attributes:
        number: 1-based page number in the source document.
        width, height: page size in its own units (PDF points, or pixels for images).
        text: the text the model is sent for this page ('' when it gets none).
        text_source: ``layer`` (PDF text), ``ocr``, ``plain`` (a text file) or ``none``.
        runs: text pieces with boxes, for grounding.
        image: the encoded page image, when the model is sent one.
        warnings: what the reader of the record should know about this page.
        fields: the page's form fields as filled in (fillable PDFs), hidden ones too
            (the prompt leaves them out), in reading order.
    """

    number: int
    width: float
    height: float
    text: str = ""
    text_source: Literal["layer", "ocr", "plain", "none"] = "none"
    runs: tuple[TextRun, ...] = ()
    image: images.EncodedImage | None = None
    warnings: tuple[str, ...] = ()
    fields: tuple[forms.FormField, ...] = ()


def parse_page_range(spec: str | None, count: int) -> list[int]:
    """1-based page numbers selected by ``spec`` (``"1-3,5,8-"``), within ``count`` pages.

    Example:
        >>> parse_page_range("1-2,4-", 5)
        [1, 2, 4, 5]
    """
    if not spec:
        return list(range(1, count + 1))
    chosen: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        start_text, dash, end_text = part.partition("-")
        try:
            start = int(start_text) if start_text else 1
            end = (int(end_text) if end_text else count) if dash else start
        except ValueError:
            raise ValueError(f"bad page range {spec!r}: use e.g. 1-3,5,8-") from None
        if start < 1 or end < start:
            raise ValueError(f"bad page range {part!r} in {spec!r}")
        chosen.update(range(start, min(end, count) + 1))
    return sorted(chosen)


def read_pages(document: Document, options: PageOptions) -> list[Page]:
    """Prepare the pages of ``document`` for the prompt.

    Raises:
        InputError: the document cannot be read, or is over a cap.
    """
    if document.media_type == "application/pdf":
        pages = _pdf_pages(document, options)
    elif document.media_type.startswith("image/"):
        pages = _image_pages(document, options)
    else:
        text = document.data.decode("utf-8", errors="replace")
        pages = [Page(1, 0, 0, text=text, text_source="plain")]
    if not pages:
        raise EmptyInput(f"{document.source}: no pages selected", path=document.source)
    return pages


# -- decisions shared by PDFs and images -----------------------------------------------


def _wants_image(options: PageOptions, has_text: bool) -> bool:
    if options.mode in ("vision", "hybrid"):
        return True
    return options.mode == "auto" and not has_text and options.vision


def _wants_layer_text(options: PageOptions, has_text: bool) -> bool:
    return has_text and options.mode != "vision"


def _wants_ocr(options: PageOptions, has_text: bool) -> bool:
    return (
        options.ocr
        and not has_text
        and (options.mode == "text" or (options.mode == "auto" and not options.vision))
    )


def _has_real_text(text: str, options: PageOptions) -> bool:
    return sum(ch.isalnum() for ch in text) >= options.min_text_chars


# -- PDFs -----------------------------------------------------------------------------


@contextmanager
def _open_pdf(document: Document, password: str | None) -> Iterator[Any]:
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(document.data, password=password)
        except pdfium.PdfiumError as exc:
            # PDFium can leave a previous document's password error behind when a load
            # fails without setting one, so only a file with an /Encrypt entry (always in
            # the plain-text trailer) is called encrypted.
            password_error = getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD
            if password_error and b"/Encrypt" in document.data:
                hint = "the password is wrong" if password else "pass --password"
                raise EncryptedInput(
                    f"{document.source} is encrypted ({hint})", path=document.source
                ) from None
            raise CorruptInput(
                f"{document.source}: PDFium cannot open it ({exc})", path=document.source
            ) from None
        try:
            yield pdf
        finally:
            pdf.close()


def _pdf_pages(document: Document, options: PageOptions) -> list[Page]:
    with _open_pdf(document, options.password) as pdf:
        count = len(pdf)
        if count == 0:
            raise EmptyInput(f"{document.source} has no pages", path=document.source)
        numbers = parse_page_range(options.pages, count)
        if len(numbers) > options.max_pages:
            raise InputTooLarge(
                f"{document.source} has {len(numbers)} pages, over the cap of {options.max_pages}",
                path=document.source,
            )
        pages = [_pdf_page(pdf, n, document, options) for n in numbers]
        return _with_form_warning(pages, forms.form_type(pdf))


def _pdf_page(pdf: Any, number: int, document: Document, options: PageOptions) -> Page:
    try:
        page = forms.open_page(pdf, number - 1)  # with its form fields, when it has any
    except pdfium.PdfiumError as exc:
        raise CorruptInput(
            f"{document.source}: page {number}: {exc}", path=document.source
        ) from None
    try:
        width, height = page.get_size()
        textpage = page.get_textpage()
        try:
            layer = read_layer(page, textpage, width, height)
        finally:
            textpage.close()
        layer_text, runs, hidden = layer.text, layer.runs, layer.hidden
        fields = forms.read_page_fields(pdf, page, number)
        has_text = _has_real_text(layer_text + _field_values(fields), options)
        result = Page(number, width, height, runs=runs, fields=fields)
        if hidden:
            sample = " ".join(run.text for run in hidden)[:80]
            result = replace(result, warnings=(
                f"page {number}: {len(hidden)} hidden text run(s) a reader cannot see "
                f"(invisible, white, tiny or off-page): {sample!r}",
            ))  # fmt: skip
        if forms.field_warnings(fields):  # hidden fields: left out of the prompt
            result = replace(result, warnings=(*result.warnings, *forms.field_warnings(fields)))
        if _wants_layer_text(options, has_text):
            result = replace(result, text=layer_text, text_source="layer")
        if _wants_image(options, has_text) or _wants_ocr(options, has_text):
            # OCR reads small print better from a larger bitmap; a sent image is capped.
            long_side = max(options.max_side, 2000) if _wants_ocr(options, has_text) else None
            bitmap = _render(page, width, height, options, document, long_side)
            if _wants_image(options, has_text):
                result = replace(result, image=images.encode(bitmap, options.max_side))
            if _wants_ocr(options, has_text):
                result = _with_ocr(result, bitmap, scale=bitmap.width / max(width, 1))
        return result
    finally:
        page.close()


def _field_values(fields: tuple[forms.FormField, ...]) -> str:
    """What the visible fields hold: typed values count as the page's text."""
    return " ".join(f.value for f in fields if f.value and not f.hidden)


def _with_form_warning(pages: list[Page], kind: forms.FormType) -> list[Page]:
    """An XFA form's fields cannot be read: say so on the first page."""
    warning = forms.xfa_warning(kind, sum(len(p.fields) for p in pages))
    if warning is None:
        return pages
    return [replace(pages[0], warnings=(*pages[0].warnings, warning)), *pages[1:]]


def _render(
    page: Any,
    width: float,
    height: float,
    options: PageOptions,
    document: Document,
    long_side: int | None = None,
) -> Any:
    """Render at ``options.dpi``, but never with a long side over ``long_side`` pixels
    (default ``options.max_side``): rendering straight to the size that is sent costs a
    fraction of rendering large and downscaling (see docs/benchmarks.md)."""
    scale = options.dpi / 72
    if width * height * scale * scale > options.max_pixels:
        raise InputTooLarge(
            f"{document.source}: a {width:.0f}×{height:.0f} pt page at {options.dpi} dpi is over "
            f"the {options.max_pixels:,}-pixel cap",
            path=document.source,
        )
    cap = long_side or options.max_side
    # PDFium rounds the bitmap size up; stay a hair under the cap so no resample follows.
    scale = min(scale, (cap - 0.5) / max(width, height, 1))
    try:
        return page.render(scale=scale, may_draw_forms=True).to_pil()
    except (pdfium.PdfiumError, ValueError) as exc:  # e.g. "Crop exceeds page dimensions"
        raise CorruptInput(
            f"{document.source}: PDFium cannot render this page ({exc})", path=document.source
        ) from None


# -- images -----------------------------------------------------------------------------


def _image_pages(document: Document, options: PageOptions) -> list[Page]:
    frames = images.open_frames(document, options.max_pixels)
    numbers = parse_page_range(options.pages, len(frames))
    if len(numbers) > options.max_pages:
        raise InputTooLarge(
            f"{document.source} has {len(numbers)} frames, over the cap of {options.max_pages}",
            path=document.source,
        )
    pages = []
    for number in numbers:
        frame = frames[number - 1]
        page = Page(number, frame.width, frame.height)
        if _wants_image(options, has_text=False):
            page = replace(page, image=images.encode(frame, options.max_side))
        if _wants_ocr(options, has_text=False):
            page = _with_ocr(page, frame, scale=1.0)
        pages.append(page)
    return pages


def _with_ocr(page: Page, image: Any, scale: float) -> Page:
    from extractor import ocr  # imported late: the OCR engine is an optional extra

    lines = ocr.read(image)
    runs = tuple(
        TextRun(line.text, tuple(v / scale for v in line.box))  # type: ignore[arg-type]
        for line in lines
    )
    text = ocr.to_text(lines)
    return replace(page, text=text, text_source="ocr" if text else "none", runs=runs)
