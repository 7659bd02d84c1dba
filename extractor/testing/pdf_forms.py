"""Fillable forms for `extractor.testing.pdf`: AcroForm fields with their widgets.

`AcroForm` adds fields to a `PdfWriter` document the way form software writes them: each
field is a widget annotation on its page with its value (``/V``), flags and an appearance
stream that draws the value, listed in the catalog's ``/AcroForm``. Kinds:

- text fields (one line or several), with an appearance that draws the value, an empty
  appearance (the value is there but nothing shows it: ``appearance="empty"``) or none
  at all (the viewer draws the value: ``appearance="none"``);
- check boxes and radio groups, with on and off appearances and ``/AS``;
- list boxes (one or several selected: ``/Opt``, ``/V`` and ``/I``) and combo boxes;
- signature fields, signed (a ``/V`` signature dictionary) or not;
- the flags a field can carry: hidden (the widget's ``/F``), read-only and required.

With ``flatten=True`` nothing interactive is written: each field's appearance is printed
into the page content instead, as flattening tools do, so the values are plain page text.
A ticked box or radio button shows an ``X``; a list box draws every option and shades the
selected ones.

Boxes are ``(x, y, w, h)`` in points with ``(x, y)`` the top-left corner, like the rest
of the writer. Text uses the base-14 fonts (WinAnsiEncoding).

Example:
    >>> from extractor.testing.pdf import LETTER, PdfWriter
    >>> pdf = PdfWriter()
    >>> page = pdf.page(*LETTER)
    >>> form = AcroForm(pdf)
    >>> _ = page.text(72, 100, "Full name:")
    >>> form.text(page, "name", (140, 88, 200, 16), "A. Person")
    >>> form.checkbox(page, "agree", (72, 120, 10, 10), checked=True)
    >>> data = pdf.to_bytes()
    >>> b"/AcroForm" in data and b"/V (A. Person)" in data
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from extractor.testing._canvas import Font, PdfPage, Text, num, text_width
from extractor.testing.pdf import PdfWriter

__all__ = ["AcroForm", "Appearance", "FieldBox", "FieldOptions"]

FieldBox = tuple[float, float, float, float]
"""``(x, y, w, h)``: the widget's top-left corner, width and height, in points."""
Appearance = Literal["drawn", "empty", "none"]
_Draw = Callable[[PdfPage, float, float], None]  # draws a widget's look at (x, y) on a page

# Field flags (/Ff, PDF 1.7 tables 221, 226, 228, 230)
_READ_ONLY, _REQUIRED = 1 << 0, 1 << 1
_MULTILINE, _PASSWORD = 1 << 12, 1 << 13
_NO_TOGGLE_TO_OFF, _RADIO = 1 << 14, 1 << 15
_COMBO, _EDIT, _MULTI_SELECT = 1 << 17, 1 << 18, 1 << 21
# Annotation flags (/F, table 165)
_HIDDEN, _PRINT = 1 << 1, 1 << 2

_PAD = 2.0  # inner margin of a text appearance
_SELECTED_FILL = (0.6, 0.75, 0.95)  # the shade of a selected list box row
_MARK_FONT: Font = "Helvetica-Bold"
_BODY_FONT: Font = "Helvetica"


@dataclass(frozen=True)
class FieldOptions:
    """What any field may carry besides its value.

    Attributes:
        tooltip: the field's alternate name (``/TU``), shown by viewers on hover.
        hidden: the widget is flagged hidden (``/F`` 2): no viewer shows or prints it.
        read_only, required: the field flags of the same names.
    """

    tooltip: str | None = None
    hidden: bool = False
    read_only: bool = False
    required: bool = False

    def field_flags(self) -> int:
        return (_READ_ONLY if self.read_only else 0) | (_REQUIRED if self.required else 0)


_PLAIN = FieldOptions()


class _Scratch:
    """The writer as a page drawing an appearance stream sees it: fonts, no objects."""

    def __init__(self, writer: PdfWriter) -> None:
        self._writer = writer
        self.images = writer.images

    def reserve(self) -> int:
        return 0  # an appearance is not a page: it needs no object of its own

    def font(self, font: Font) -> str:
        return self._writer.font(font)


class AcroForm:
    """The interactive form of one `PdfWriter` document.

    Args:
        writer: the document; its catalog gets the ``/AcroForm`` entry.
        flatten: print every field's appearance into the page content instead of adding
            fields (no ``/AcroForm``, no widgets).
    """

    def __init__(self, writer: PdfWriter, *, flatten: bool = False) -> None:
        if writer._passwords is not None:  # raw objects are never encrypted
            raise ValueError("form fields cannot be written into an encrypted document")
        self.writer = writer
        self.flatten = flatten
        self.fields: list[int] = []
        self._number = 0 if flatten else writer.reserve()
        self._fonts: set[Font] = set()
        if not flatten:
            writer.catalog_entries = b"/AcroForm %d 0 R" % self._number
            self._update()

    # -- the kinds of field ---------------------------------------------------------------

    def text(
        self,
        page: PdfPage,
        name: str,
        box: FieldBox,
        value: str | None,
        *,
        font: Font = "Helvetica",
        size: float = 10,
        multiline: bool = False,
        password: bool = False,
        appearance: Appearance = "drawn",
        options: FieldOptions = _PLAIN,
    ) -> None:
        """A text field holding ``value`` (None: left empty).

        Args:
            multiline: the value's lines are drawn one under another.
            password: the password flag: viewers show dots, the appearance draws nothing.
            appearance: ``drawn`` (the value), ``empty`` (a stream that shows nothing,
                whatever ``/V`` says) or ``none`` (no ``/AP``: the viewer draws ``/V``;
                use it for values that WinAnsiEncoding cannot write, which ``drawn``
                refuses).
        """
        lines = [] if value is None or password else value.split("\n")

        def draw(p: PdfPage, x: float, y: float) -> None:
            if appearance != "empty":
                _text_lines(p, x, y, box, lines, font, size)

        flags = options.field_flags() | (_MULTILINE if multiline else 0)
        flags |= _PASSWORD if password else 0
        entries = f"/FT /Tx /Ff {flags} /DA {_da(self.writer, font, size)}"
        if value is not None:
            entries += f" /V {_string(value)}"
        self._fonts.add(font)
        self._add(page, name, box, entries, options, draw, with_appearance=appearance != "none")

    def checkbox(
        self,
        page: PdfPage,
        name: str,
        box: FieldBox,
        *,
        checked: bool,
        export: str = "Yes",
        options: FieldOptions = _PLAIN,
    ) -> None:
        """A check box; ticked, its value is ``export`` (``/Yes`` by default), else ``/Off``."""
        state = _name(export) if checked else "/Off"
        entries = f"/FT /Btn /Ff {options.field_flags()} /V {state} /AS {state}"
        if self.flatten:
            self._flat(page, box, options, _cross(box) if checked else None)
            return
        on, off = self._appearance(box, _cross(box)), self._appearance(box, None)
        entries += f" /AP << /N << {_name(export)} {on} 0 R /Off {off} 0 R >> >>"
        self._field(page, name, box, entries, options)

    def radio(
        self,
        page: PdfPage,
        name: str,
        buttons: Sequence[tuple[FieldBox, str]],
        value: str | None,
        *,
        options: FieldOptions = _PLAIN,
    ) -> None:
        """A radio group: one button per ``(box, export value)``; ``value`` is the chosen one."""
        if value is not None and value not in [export for _, export in buttons]:
            raise ValueError(f"{value!r} is none of the radio group's buttons")
        if self.flatten:
            for box, export in buttons:
                self._flat(page, box, options, _cross(box) if export == value else None)
            return
        state = "/Off" if value is None else _name(value)
        flags = options.field_flags() | _RADIO | _NO_TOGGLE_TO_OFF
        parent = self.writer.reserve()
        kids = []
        for box, export in buttons:
            on = self._appearance(box, _cross(box))
            off = self._appearance(box, None)
            shown = _name(export) if export == value else "/Off"
            kids.append(
                self._widget(
                    page,
                    box,
                    f"/Parent {parent} 0 R /AS {shown} "
                    f"/AP << /N << {_name(export)} {on} 0 R /Off {off} 0 R >> >>",
                    options,
                )
            )
        refs = " ".join(f"{k} 0 R" for k in kids)
        body = f"<< /FT /Btn /Ff {flags} /T {_string(name)} /V {state} /Kids [{refs}]"
        body += _tooltip(options) + " >>"
        self.writer.set_object(parent, body.encode("latin-1"))
        self._register(parent)

    def listbox(
        self,
        page: PdfPage,
        name: str,
        box: FieldBox,
        choices: Sequence[str],
        selected: Sequence[str] = (),
        *,
        multi: bool = False,
        size: float = 10,
        options: FieldOptions = _PLAIN,
    ) -> None:
        """A list box showing ``choices``, one row each; ``selected`` are shaded.

        ``/V`` holds the selection (an array when several are), ``/I`` their indices.
        """
        indices = _indices(choices, selected, several=multi)
        row = size * 1.2

        def draw(p: PdfPage, x: float, y: float) -> None:
            for i, choice in enumerate(choices):
                top = y + _PAD + i * row
                if top + row > y + box[3]:
                    break  # rows below the box are out of sight, as in a viewer
                if i in indices:
                    p.rect(x, top, box[2], row, width=0, stroke=None, fill=_SELECTED_FILL)
                p.text(x + _PAD, top + size, choice, "Helvetica", size)

        flags = options.field_flags() | (_MULTI_SELECT if multi else 0)
        entries = f"/FT /Ch /Ff {flags} /Opt [{' '.join(_string(c) for c in choices)}]"
        entries += _selection(choices, indices) + f" /DA {_da(self.writer, 'Helvetica', size)}"
        self._fonts.add("Helvetica")
        self._add(page, name, box, entries, options, draw)

    def combobox(
        self,
        page: PdfPage,
        name: str,
        box: FieldBox,
        choices: Sequence[str],
        value: str | None,
        *,
        editable: bool = False,
        size: float = 10,
        options: FieldOptions = _PLAIN,
    ) -> None:
        """A drop-down list; ``value`` is one of ``choices`` (or, ``editable``, any text)."""
        if value is not None and value not in choices and not editable:
            raise ValueError(f"{value!r} is none of the choices; pass editable=True for that")
        chosen = [value] if value is not None and value in choices else []
        indices = _indices(choices, chosen, several=False)

        def draw(p: PdfPage, x: float, y: float) -> None:
            if value is not None:
                _text_lines(p, x, y, box, [value], "Helvetica", size)

        flags = options.field_flags() | _COMBO | (_EDIT if editable else 0)
        entries = f"/FT /Ch /Ff {flags} /Opt [{' '.join(_string(c) for c in choices)}]"
        entries += f" /V {_string(value)}" if value is not None else ""
        entries += f" /I [{indices[0]}]" if indices else ""
        entries += f" /DA {_da(self.writer, 'Helvetica', size)}"
        self._fonts.add("Helvetica")
        self._add(page, name, box, entries, options, draw)

    def signature(
        self,
        page: PdfPage,
        name: str,
        box: FieldBox,
        signer: str | None,
        *,
        options: FieldOptions = _PLAIN,
    ) -> None:
        """A signature field, signed by ``signer`` (its appearance writes the name) or empty.

        The signature dictionary is a placeholder: it names the signer but its
        ``/Contents`` hold no real PKCS#7 data, so no viewer will validate it.
        """
        entries = "/FT /Sig"
        if signer is not None:
            value = self.writer.add_object(
                (
                    "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /adbe.pkcs7.detached "
                    f"/Name {_string(signer)} /ByteRange [0 0 0 0] /Contents <00> >>"
                ).encode("latin-1")
            )
            entries += f" /V {value} 0 R"

        def draw(p: PdfPage, x: float, y: float) -> None:
            if signer is not None:
                _text_lines(p, x, y, box, [signer], "Times-Italic", min(16.0, box[3] - 4))

        self._add(page, name, box, entries, options, draw)

    # -- writing ---------------------------------------------------------------------------

    def _add(
        self,
        page: PdfPage,
        name: str,
        box: FieldBox,
        entries: str,
        options: FieldOptions,
        draw: _Draw,
        *,
        with_appearance: bool = True,
    ) -> None:
        if self.flatten:
            self._flat(page, box, options, draw)
            return
        if with_appearance:
            entries += f" /AP << /N {self._appearance(box, draw)} 0 R >>"
        self._field(page, name, box, entries, options)

    def _field(
        self, page: PdfPage, name: str, box: FieldBox, entries: str, options: FieldOptions
    ) -> None:
        """One field that is its own (single) widget."""
        entries = f"{entries} /T {_string(name)}{_tooltip(options)}"
        self._register(self._widget(page, box, entries, options))

    def _widget(self, page: PdfPage, box: FieldBox, entries: str, options: FieldOptions) -> int:
        x, y, w, h = box
        left, bottom = page.origin[0] + x, page.origin[1] + page.height - y - h
        rect = f"[{num(left)} {num(bottom)} {num(left + w)} {num(bottom + h)}]"
        flags = _HIDDEN if options.hidden else _PRINT
        body = (
            f"<< /Type /Annot /Subtype /Widget /P {page.number} 0 R /Rect {rect} /F {flags} "
            f"{entries} >>"
        )
        number = self.writer.add_object(body.encode("latin-1"))
        page.annots.append(number)
        return number

    def _register(self, number: int) -> None:
        self.fields.append(number)
        self._update()

    def _update(self) -> None:
        """(Re)write the /AcroForm dictionary: the fields so far and their fonts."""
        fonts = sorted(self._fonts | {_BODY_FONT})
        resources = " ".join(f"/{self.writer.font(f)} {self.writer.font_object(f)} 0 R"
                             for f in fonts)  # fmt: skip
        refs = " ".join(f"{n} 0 R" for n in self.fields)
        body = (
            f"<< /Fields [{refs}] /DA {_da(self.writer, 'Helvetica', 0)} "
            f"/DR << /Font << {resources} >> >> >>"
        )
        self.writer.set_object(self._number, body.encode("latin-1"))

    def _appearance(self, box: FieldBox, draw: _Draw | None) -> int:
        """A form XObject of the widget's size drawing what ``draw`` draws (None: nothing)."""
        scratch = PdfPage(_Scratch(self.writer), box[2], box[3], (0.0, 0.0), 0, b"")
        if draw is not None:
            draw(scratch, 0.0, 0.0)
        used = sorted({op.font for op in scratch.ops if isinstance(op, Text)})
        fonts = " ".join(f"/{self.writer.font(f)} {self.writer.font_object(f)} 0 R" for f in used)
        resources = f"/Resources << /Font << {fonts} >> >>" if used else "/Resources << >>"
        dictionary = (
            f"/Type /XObject /Subtype /Form /BBox [0 0 {num(box[2])} {num(box[3])}] {resources}"
        )
        return self.writer.add_stream(
            scratch.content(), dictionary.encode("latin-1"), compress=self.writer.compress
        )

    def _flat(
        self, page: PdfPage, box: FieldBox, options: FieldOptions, draw: _Draw | None
    ) -> None:
        if draw is not None and not options.hidden:  # a hidden widget prints nothing
            draw(page, box[0], box[1])


def _cross(box: FieldBox) -> _Draw:
    """A ticked box's look: a bold ``X`` filling the box (a text glyph, as in most forms)."""
    size = 0.9 * min(box[2], box[3])

    def draw(page: PdfPage, x: float, y: float) -> None:
        baseline = y + (box[3] + 0.72 * size) / 2
        page.text(x + box[2] / 2, baseline, "X", _MARK_FONT, size, align="center")

    return draw


def _text_lines(
    page: PdfPage,
    x: float,
    y: float,
    box: FieldBox,
    lines: Sequence[str],
    font: Font,
    size: float,
) -> None:
    """Lines of text from the top of the box (one line: centred vertically), cut at its width."""
    if not lines:
        return
    if len(lines) == 1:
        baselines = [y + (box[3] + size * 0.7) / 2]
    else:
        baselines = [y + _PAD + size * (1 + 1.15 * i) for i in range(len(lines))]
    for line, baseline in zip(lines, baselines, strict=True):
        if baseline > y + box[3]:
            break
        page.text(x + _PAD, baseline, _fit(line, font, size, box[2] - 2 * _PAD), font, size)


def _fit(text: str, font: Font, size: float, width: float) -> str:
    while text and text_width(text, font, size) > width:
        text = text[:-1]
    return text


def _indices(choices: Sequence[str], chosen: Sequence[str], *, several: bool) -> list[int]:
    unknown = [c for c in chosen if c not in choices]
    if unknown:
        raise ValueError(f"{unknown!r} are none of the choices")
    if len(chosen) > 1 and not several:
        raise ValueError("several options selected in a single-selection list")
    return sorted(choices.index(c) for c in chosen)


def _selection(choices: Sequence[str], indices: list[int]) -> str:
    if not indices:
        return ""
    if len(indices) == 1:
        return f" /V {_string(choices[indices[0]])} /I [{indices[0]}]"
    values = " ".join(_string(choices[i]) for i in indices)
    return f" /V [{values}] /I [{' '.join(map(str, indices))}]"


def _tooltip(options: FieldOptions) -> str:
    return f" /TU {_string(options.tooltip)}" if options.tooltip else ""


def _da(writer: PdfWriter, font: Font, size: float) -> str:
    return _string(f"/{writer.font(font)} {num(size)} Tf 0 g")


def _string(text: str) -> str:
    """A PDF text string: a literal for printable ASCII (line breaks as ``\\r``, as form
    software writes them), else UTF-16BE with its byte-order mark."""
    if all(" " <= ch <= "~" or ch == "\n" for ch in text):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return "(" + escaped.replace("\n", "\\r") + ")"
    return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"


def _name(text: str) -> str:
    """A PDF name: characters outside ``!``–``~`` and delimiters as ``#xx``."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if 0x21 <= byte <= 0x7E and char not in "#()<>[]{}/%":
            out.append(char)
        else:
            out.append(f"#{byte:02X}")
    return "/" + "".join(out)
