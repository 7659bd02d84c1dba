"""Form fields: the values people type, tick and choose in fillable (AcroForm) PDFs.

A filled-in value lives in the form field, not in the page's text layer, so the text a
page sends never shows it. PDFium reads the fields through its form-fill environment:

1. :func:`open_page` loads a page, starting that environment first when the page holds
   form widgets (:func:`enable_forms` starts it at once; either way it must run before
   a page is loaded for that page's fields to be drawn and read).
2. :func:`read_page_fields` reads the open page's fields, with the printed labels beside
   them, in reading order.
3. :func:`render_fields` writes them as the "Form fields" section of the prompt;
   :func:`field_warnings` names the fields a reader cannot see (left out of it), and
   :func:`xfa_warning` says when an XFA form cannot be read at all.

PDFium is not thread-safe: the caller holds the process-wide PDFium lock around all of
this (:func:`read_form` takes it itself). Starting the environment makes PDFium walk the
whole field tree on the next page load, and a hostile tree whose fields share their kids
(qpdf's 2.5 KB ``shared-unnamed-field.pdf``: 2 kids at each of 30 levels) keeps it busy
for hours. :func:`open_page` never starts it for a document whose pages show no widget
(as in that file), but only a time limit (the reading workers of
:mod:`extractor.isolate`) bounds the rest.

Boxes are ``(x0, top, x1, bottom)`` in PDF points with the origin at the top left of the
page as it is drawn, like the text runs of :mod:`extractor.pages`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from extractor.form_labels import Box, LabelFinder, PageMapper, page_chars, reading_order
from extractor.form_widgets import FieldKind, Widget, page_widgets

__all__ = [
    "FieldKind",
    "Form",
    "FormField",
    "FormType",
    "FormWidget",
    "enable_forms",
    "field_warnings",
    "form_type",
    "has_widgets",
    "located_values",
    "open_page",
    "read_form",
    "read_page_fields",
    "render_fields",
    "xfa_warning",
]

FormType = Literal["none", "acroform", "xfa", "xfa_foreground"]

_FORM_TYPES: dict[int, FormType] = {
    pdfium_c.FORMTYPE_ACRO_FORM: "acroform",
    pdfium_c.FORMTYPE_XFA_FULL: "xfa",
    pdfium_c.FORMTYPE_XFA_FOREGROUND: "xfa_foreground",
}
_READABLE = ("acroform", "xfa_foreground")  # form types with AcroForm fields to read
_TOGGLES = ("checkbox", "radio")
_SHOWN_OPTIONS = 12  # options listed in the prompt beside a choice field's value


@dataclass(frozen=True)
class FormWidget:
    """One widget of a field: the box on the page. A radio group has one per option.

    Attributes:
        box: the widget's rectangle.
        label: printed text beside it (a check box's or radio button's caption).
        export_value: the value a ticked check box or radio button stands for.
        checked: whether it is ticked (check boxes and radio buttons only).
        hidden: why a reader cannot see it (``flagged hidden``, ``zero size``,
            ``off the page``, ``password field``), or None.
    """

    box: Box
    label: str | None = None
    export_value: str | None = None
    checked: bool | None = None
    hidden: str | None = None


@dataclass(frozen=True)
class FormField:
    """One form field on one page, as filled in.

    Attributes:
        name: the field's full name (``parent.child``), as the PDF names it.
        kind: text, checkbox, radio, combobox, listbox or signature.
        page: 1-based page number.
        box: the widget that shows the value (a radio group's ticked button, otherwise
            the first visible widget); what a value from this field is grounded on.
        label: the printed label beside the field, else its tooltip (``/TU``), else None.
        value: the value as a string: the typed text; a ticked check box's export
            value; the chosen radio option (its caption, else its export value); the
            selected options of a list joined with ", ". None when empty or unticked.
        checked: check boxes: whether ticked. None for other kinds.
        signed: signatures: whether the field holds a signature. None for other kinds.
        options: the options of a choice field or radio group, in order.
        selected: the chosen options (one for a radio group or a combo box).
        read_only, required, multi_select: the field's flags.
        hidden: why a reader cannot see the field (see :class:`FormWidget`), or None.
        widgets: all of the field's widgets on this page.
    """

    name: str
    kind: FieldKind
    page: int
    box: Box
    label: str | None = None
    value: str | None = None
    checked: bool | None = None
    signed: bool | None = None
    options: tuple[str, ...] = ()
    selected: tuple[str, ...] = ()
    read_only: bool = False
    required: bool = False
    multi_select: bool = False
    hidden: str | None = None
    widgets: tuple[FormWidget, ...] = field(default=(), repr=False)

    @property
    def title(self) -> str:
        """What the field is called for a reader: its label, else its short name."""
        return self.label or _short_name(self.name)


@dataclass(frozen=True)
class Form:
    """The form of a document: its type, its fields page by page, and what to warn about."""

    form_type: FormType
    fields: tuple[FormField, ...]
    warnings: tuple[str, ...] = ()


def form_type(pdf: Any) -> FormType:
    """The kind of form an open ``pdfium.PdfDocument`` holds (``none`` when it has none)."""
    return _FORM_TYPES.get(pdfium_c.FPDF_GetFormType(pdf), "none")


def enable_forms(pdf: Any) -> FormType:
    """Start PDFium's form-fill environment for an open ``pdfium.PdfDocument``.

    Call it before loading any page: only pages loaded afterwards have their fields
    drawn by ``page.render(may_draw_forms=True)`` and read by :func:`read_page_fields`.
    A full XFA form is left alone: this PDFium build cannot run XFA, and such a
    document has no AcroForm fields to read (see :func:`xfa_warning`).

    Returns:
        The document's form type.
    """
    kind = form_type(pdf)
    if kind in _READABLE and pdf.formenv is None:
        # pypdfium2 logs a warning for XFA documents when PDFium lacks XFA support;
        # the library never prints, and the caller reports XFA through xfa_warning().
        log = logging.getLogger("pypdfium2._helpers.document")
        was_disabled, log.disabled = log.disabled, True
        try:
            pdf.init_forms()
        finally:
            log.disabled = was_disabled
    return kind


def read_page_fields(
    pdf: Any, page: Any, number: int, textpage: Any = None
) -> tuple[FormField, ...]:
    """The form fields of one open page, in reading order.

    Args:
        pdf: the open ``pdfium.PdfDocument``.
        page: the open ``pdfium.PdfPage``, loaded after the form environment started
            (:func:`enable_forms` or :func:`open_page`).
        number: the page's 1-based number (it goes into each field).
        textpage: the page's open ``PdfTextPage`` when the caller has one (for the
            printed labels); otherwise one is opened and closed here.

    Returns:
        The fields, or ``()`` when the document has no form environment.
    """
    formenv = pdf.formenv
    if formenv is None or not formenv.raw:
        return ()
    width, _ = page.get_size()
    mapper = PageMapper(page, *page.get_size())
    widgets = list(page_widgets(formenv, page, mapper))
    if not widgets:
        return ()
    own_textpage = textpage is None
    textpage = page.get_textpage() if own_textpage else textpage
    try:
        chars = page_chars(textpage, mapper)
    finally:
        if own_textpage:
            textpage.close()
    finder = LabelFinder(chars, [w.box for w in widgets], width)
    # Captions first, so that a radio group's label is never another button's caption.
    captions = [finder.caption(w.box) if w.kind in _TOGGLES else None for w in widgets]
    groups: dict[tuple[str, str], list[tuple[Widget, str | None]]] = {}
    for widget, caption in zip(widgets, captions, strict=True):
        groups.setdefault((widget.name, widget.kind), []).append((widget, caption))
    fields = [_field(group, finder, number) for group in groups.values()]
    return tuple(reading_order(fields, key=lambda f: f.box))


def read_form(
    source: str | os.PathLike[str] | bytes,
    *,
    password: str | None = None,
    pages: Sequence[int] | None = None,
) -> Form:
    """Read the form of a PDF file or bytes (a convenience for tests and scripts).

    Holds the process-wide PDFium lock of :mod:`extractor.pages` while it reads.
    No time limit applies here (see the module docstring).

    Args:
        source: a path or the PDF's bytes.
        password: for encrypted PDFs.
        pages: 1-based page numbers to read; None for all.
    """
    from extractor.pages import _PDFIUM_LOCK  # late: pages imports this module

    data = source if isinstance(source, bytes) else os.fspath(source)
    fields: list[FormField] = []
    with _PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(data, password=password)
        try:
            kind = form_type(pdf)
            for number in pages or range(1, len(pdf) + 1):
                page = open_page(pdf, number - 1)
                try:
                    fields.extend(read_page_fields(pdf, page, number))
                finally:
                    page.close()
        finally:
            pdf.close()
    warning = xfa_warning(kind, len(fields))
    return Form(kind, tuple(fields), (*([warning] if warning else []), *field_warnings(fields)))


def open_page(pdf: Any, index: int) -> Any:
    """Load page ``index`` (0-based), starting the form environment first if it has fields.

    The lazy alternative to calling :func:`enable_forms` right after opening: the
    environment starts only when a page with widgets is met (that page is then loaded
    again, so that its fields are drawn). A document whose pages hold no widgets never
    starts it, so a hostile field tree that no page shows costs nothing.
    """
    page = pdf[index]
    if pdf.formenv is None and form_type(pdf) in _READABLE and has_widgets(page):
        page.close()
        enable_forms(pdf)
        page = pdf[index]
    return page


def has_widgets(page: Any) -> bool:
    """Whether an open page holds form widgets (works without the form environment)."""
    for index in range(pdfium_c.FPDFPage_GetAnnotCount(page)):
        annot = pdfium_c.FPDFPage_GetAnnot(page, index)
        if annot:
            subtype = pdfium_c.FPDFAnnot_GetSubtype(annot)
            pdfium_c.FPDFPage_CloseAnnot(annot)
            if subtype == pdfium_c.FPDF_ANNOT_WIDGET:
                return True
    return False


def xfa_warning(kind: FormType, field_count: int) -> str | None:
    """A warning for an XFA form whose fields cannot be read, else None.

    Args:
        kind: the document's form type.
        field_count: how many AcroForm fields were read from the whole document.
    """
    if kind == "xfa" or (kind == "xfa_foreground" and field_count == 0):
        return (
            "the document is an XFA form: its fields and their values cannot be read, and "
            "its pages may show only a placeholder message"
        )
    return None


def field_warnings(fields: Sequence[FormField]) -> tuple[str, ...]:
    """One warning per page with filled-in form fields a reader cannot see (left out of
    the prompt); a hidden field that holds nothing says nothing."""
    warnings = []
    filled = [f for f in fields if f.hidden and (f.value or f.checked or f.signed)]
    for number in sorted({f.page for f in filled}):
        hidden = [f for f in filled if f.page == number]
        sample = "; ".join(f"{_short_name(f.name)} ({f.hidden})" for f in hidden)[:120]
        warnings.append(
            f"page {number}: {len(hidden)} hidden form field(s) a reader cannot see: {sample}"
        )
    return tuple(warnings)


def render_fields(fields: Sequence[FormField]) -> str:
    """The "Form fields" section of the prompt: one line per visible field, as filled in.

    Example:
        >>> box = (0.0, 0.0, 10.0, 10.0)
        >>> print(render_fields([
        ...     FormField("name", "text", 1, box, label="Full name", value="A. Person"),
        ...     FormField("agree", "checkbox", 1, box, label="I agree", checked=True),
        ... ]))
        Form fields (as filled in):
        - Full name: A. Person
        - I agree: checked
    """
    lines = [_field_line(f) for f in fields if not f.hidden]
    if not lines:
        return ""
    return "\n".join(["Form fields (as filled in):", *lines])


# -- from widgets to fields -------------------------------------------------------------


def _field(group: list[tuple[Widget, str | None]], finder: LabelFinder, number: int) -> FormField:
    """One field from its widgets on a page (with their captions)."""
    first = group[0][0]
    widgets = tuple(
        FormWidget(w.box, caption, w.export_value, w.checked, w.hidden) for w, caption in group
    )
    visible = [w for w in widgets if not w.hidden]
    shown = visible or list(widgets)
    ticked = [w for w in shown if w.checked]
    if len(ticked) > 1 and any(w.export_value == first.value for w in ticked):
        # Widgets whose own appearance state says "on" while the field's value names
        # one of them (seen in qpdf's test files): the field's value decides.
        ticked = [w for w in ticked if w.export_value == first.value]
    toggles = first.kind in _TOGGLES
    base = FormField(
        name=first.name,
        kind=first.kind,
        page=number,
        box=(ticked or shown)[0].box,
        label=finder.label(shown[0].box, skip_captions=toggles) or first.tooltip,
        read_only=bool(first.flags & pdfium_c.FPDF_FORMFLAG_READONLY),
        required=bool(first.flags & pdfium_c.FPDF_FORMFLAG_REQUIRED),
        multi_select=first.kind == "listbox"
        and bool(first.flags & pdfium_c.FPDF_FORMFLAG_CHOICE_MULTI_SELECT),
        hidden=None if visible else widgets[0].hidden,
        widgets=widgets,
    )
    if first.kind == "checkbox" and len(widgets) == 1:
        # A lone check box is best named by its own caption.
        value = ticked[0].export_value if ticked else None
        label = widgets[0].label or base.label
        return replace(base, label=label, checked=bool(ticked), value=value)
    if toggles:  # a radio group, or check boxes sharing one name (kids with export values)
        chosen = tuple(_option(w) for w in ticked)
        checked = bool(ticked) if first.kind == "checkbox" else None
        options = tuple(_option(w) for w in widgets)
        return replace(
            base, options=options, selected=chosen, value=", ".join(chosen) or None, checked=checked
        )
    if first.kind == "signature":
        return replace(base, signed=any(w.signed for w, _ in group))
    if first.kind in ("combobox", "listbox"):
        # An editable combo box may hold typed text that is none of its options.
        selected = first.selected or ((first.value,) if first.value else ())
        value = ", ".join(selected) or None
        return replace(base, options=first.options, selected=selected, value=value)
    return replace(base, value=first.value or None)


def _option(widget: FormWidget) -> str:
    return widget.label or widget.export_value or "?"


def located_values(field: FormField) -> tuple[tuple[str | bool, Box], ...]:
    """What a field says, each with the box it stands in: what an answer is grounded on.

    - text, combo box: the value, in the field's box;
    - list box: each selected option (and all of them joined), in the field's box;
    - check box: ``True``/``False`` for its tick, and its export value and its caption
      when ticked;
    - radio group: the chosen option's caption and export value, in the ticked button's
      box (a ``Literal`` answer matches either);
    - signature: ``True``/``False`` for signed.

    Hidden fields are included: the caller decides what a hidden value is worth.
    """
    box = field.box
    if field.kind == "signature":
        return ((bool(field.signed), box),)
    if field.kind == "checkbox" and not field.options:
        # Ticked, a box says its export value and its caption ("Training" in a row of
        # interests): a Literal answer naming the caption stands on the box.
        said = [field.value, field.widgets[0].label if field.widgets else None]
        shown = [(v, box) for v in dict.fromkeys(said) if v and field.checked]
        return ((bool(field.checked), box), *shown)
    if field.kind in _TOGGLES:
        ticked = [w for w in field.widgets if w.checked and _option(w) in field.selected]
        found: list[tuple[str | bool, Box]] = []
        for widget in ticked:
            found.extend(
                (v, widget.box) for v in dict.fromkeys((widget.label, widget.export_value)) if v
            )
        return tuple(found)
    values = [*field.selected, field.value] if field.kind == "listbox" else [field.value]
    return tuple((v, box) for v in dict.fromkeys(values) if v)


# -- the prompt section -----------------------------------------------------------------


def _field_line(f: FormField) -> str:
    title = f.title
    short = _short_name(f.name)
    if f.label and _squash(short) not in _squash(f.label):
        title += f" [{short}]"  # the field's own name helps map it to the schema
    return f"- {title}: {_value_text(f)}"


def _value_text(f: FormField) -> str:
    if f.kind == "checkbox" and not f.options:
        return "checked" if f.checked else "unchecked"
    if f.kind == "signature":
        return "signed" if f.signed else "not signed"
    if f.kind in ("radio", "checkbox", "combobox", "listbox"):
        value = f.value if f.value is not None else "(none chosen)"
        if f.options and (f.kind != "combobox" or len(f.options) > 1):
            shown = " | ".join(f.options[:_SHOWN_OPTIONS])
            more = len(f.options) - _SHOWN_OPTIONS
            value += f" (options: {shown}{f' | … {more} more' if more > 0 else ''})"
        return value
    if not f.value:
        return "(empty)"
    lines = [line.strip() for line in f.value.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return " / ".join(line for line in lines if line)


def _short_name(name: str) -> str:
    """The last part of a full field name, without XFA's ``[0]`` indices."""
    last = name.rsplit(".", 1)[-1]
    while last.endswith("]") and "[" in last:
        last = last[: last.rindex("[")]
    return last or name


def _squash(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())
