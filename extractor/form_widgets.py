"""The widgets of one page as PDFium's form-fill environment reports them.

A widget is one box of a form field on a page (a radio group has one per option). This
module reads each widget's field name, kind, value, ticked state, options, flags and box,
and says why a reader cannot see it, if so. :mod:`extractor.forms` groups the widgets
into fields. All calls into PDFium happen under the caller's PDFium lock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pypdfium2.raw as pdfium_c

from extractor.form_labels import Box, PageMapper

__all__ = ["FieldKind", "Widget", "page_widgets", "pdfium_text"]

FieldKind = Literal["text", "checkbox", "radio", "combobox", "listbox", "signature"]

_KINDS: dict[int, FieldKind] = {
    pdfium_c.FPDF_FORMFIELD_TEXTFIELD: "text",
    pdfium_c.FPDF_FORMFIELD_CHECKBOX: "checkbox",
    pdfium_c.FPDF_FORMFIELD_RADIOBUTTON: "radio",
    pdfium_c.FPDF_FORMFIELD_COMBOBOX: "combobox",
    pdfium_c.FPDF_FORMFIELD_LISTBOX: "listbox",
    pdfium_c.FPDF_FORMFIELD_SIGNATURE: "signature",
}  # push buttons carry no value; type -1 is a widget that belongs to no field
_HIDDEN_FLAGS = pdfium_c.FPDF_ANNOT_FLAG_HIDDEN | pdfium_c.FPDF_ANNOT_FLAG_NOVIEW
_MAX_OPTIONS = 1000  # a longer choice list is cut (a hostile file can hold millions)
# Operators that show text or draw a nested form; an appearance without any shows no value.
_PAINTS_TEXT = re.compile(r"(?:^|[\s)\]>])(?:Tj|TJ|'|\"|Do)(?=\s|$)")


@dataclass(frozen=True)
class Widget:
    """One widget, with what its field says (every widget of a field repeats it)."""

    name: str
    kind: FieldKind
    box: Box
    flags: int  # the field's flags (FPDF_FORMFLAG_*)
    tooltip: str | None  # the field's alternate name (/TU)
    value: str
    export_value: str | None  # the state a ticked check box or radio button stands for
    checked: bool | None
    signed: bool | None
    options: tuple[str, ...]
    selected: tuple[str, ...]
    hidden: str | None


def page_widgets(formenv: Any, page: Any, mapper: PageMapper) -> Iterator[Widget]:
    """The widgets of form fields on an open page, in the page's annotation order.

    Args:
        formenv: the document's ``PdfFormEnv``.
        page: the open ``PdfPage`` (loaded after the form environment started).
        mapper: the page's user-space → page-box mapping.
    """
    width, height = page.get_size()
    for index in range(pdfium_c.FPDFPage_GetAnnotCount(page)):
        annot = pdfium_c.FPDFPage_GetAnnot(page, index)
        if not annot:
            continue
        try:
            if pdfium_c.FPDFAnnot_GetSubtype(annot) != pdfium_c.FPDF_ANNOT_WIDGET:
                continue
            kind = _KINDS.get(pdfium_c.FPDFAnnot_GetFormFieldType(formenv.raw, annot))
            if kind is not None:
                yield _widget(formenv.raw, annot, kind, mapper, (width, height))
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)


def _widget(
    form: Any, annot: Any, kind: FieldKind, mapper: PageMapper, size: tuple[float, float]
) -> Widget:
    rect = pdfium_c.FS_RECTF()
    pdfium_c.FPDFAnnot_GetRect(annot, rect)
    box = mapper.box(rect.left, rect.bottom, rect.right, rect.top)
    flags = pdfium_c.FPDFAnnot_GetFormFieldFlags(form, annot)
    # Form software ends the lines of a multi-line value with \r (PDF's own convention).
    value = pdfium_text(pdfium_c.FPDFAnnot_GetFormFieldValue, form, annot)
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    toggles = kind in ("checkbox", "radio")
    options, selected = _choices(form, annot) if kind in ("combobox", "listbox") else ((), ())
    tooltip = pdfium_text(pdfium_c.FPDFAnnot_GetFormFieldAlternateName, form, annot).strip()
    export = pdfium_text(pdfium_c.FPDFAnnot_GetFormFieldExportValue, form, annot)
    return Widget(
        name=pdfium_text(pdfium_c.FPDFAnnot_GetFormFieldName, form, annot),
        kind=kind,
        box=box,
        flags=flags,
        tooltip=tooltip or None,
        value=value,
        export_value=export if toggles else None,
        checked=bool(pdfium_c.FPDFAnnot_IsChecked(form, annot)) if toggles else None,
        # The signature dictionary is the field's /V; PDFium gives no text value for it.
        signed=bool(pdfium_c.FPDFAnnot_HasKey(annot, b"V")) if kind == "signature" else None,
        options=options,
        selected=selected,
        hidden=_hidden(annot, kind, box, flags, size) or _undrawn(annot, kind, value),
    )


def _choices(form: Any, annot: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    count = min(pdfium_c.FPDFAnnot_GetOptionCount(form, annot), _MAX_OPTIONS)
    labels = pdfium_c.FPDFAnnot_GetOptionLabel
    options = tuple(pdfium_text(labels, form, annot, i) for i in range(max(count, 0)))
    selected = tuple(
        o for i, o in enumerate(options) if pdfium_c.FPDFAnnot_IsOptionSelected(form, annot, i)
    )
    return options, selected


def _hidden(
    annot: Any, kind: FieldKind, box: Box, flags: int, size: tuple[float, float]
) -> str | None:
    if pdfium_c.FPDFAnnot_GetFlags(annot) & _HIDDEN_FLAGS:
        return "flagged hidden"
    if kind == "signature":
        # An invisible digital signature has a zero-size widget by design, and what is
        # sent for it is whether it is signed, never text the document chose.
        return None
    x0, top, x1, bottom = box
    if x1 - x0 < 1 or bottom - top < 1:
        return "zero size"
    if x1 <= 0 or x0 >= size[0] or bottom <= 0 or top >= size[1]:
        return "off the page"
    if kind == "text" and flags & pdfium_c.FPDF_FORMFLAG_TEXT_PASSWORD:
        return "password field"
    return None


def _undrawn(annot: Any, kind: FieldKind, value: str) -> str | None:
    """``no appearance`` when a text or choice widget with a value draws no text.

    With the form environment, PDFium draws a widget that has no appearance stream (or
    whose document sets NeedAppearances) from its value, but uses an existing stream as
    it is: an empty one shows nothing, whatever the value says.
    """
    if kind not in ("text", "combobox", "listbox") or not value.strip():
        return None
    mode = pdfium_c.FPDF_ANNOT_APPEARANCEMODE_NORMAL
    stream = pdfium_text(pdfium_c.FPDFAnnot_GetAP, annot, mode)
    return None if _PAINTS_TEXT.search(stream) else "no appearance"


def pdfium_text(function: Any, *args: Any) -> str:
    """A UTF-16 string from one of PDFium's two-call getters (size, then fill)."""
    n_bytes = function(*args, None, 0)
    if n_bytes <= 2:
        return ""
    buffer = (pdfium_c.FPDF_WCHAR * (n_bytes // 2))()
    function(*args, buffer, n_bytes)
    return bytes(buffer)[: n_bytes - 2].decode("utf-16-le", errors="replace")
