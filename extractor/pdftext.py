"""The text layer of a PDF page, read from PDFium's text page.

PDFium's text page already does the hard part: it orders the characters of a page, joins
glyphs drawn as separate text objects into words (browsers and reporting tools often draw
every glyph on its own), and marks the spaces and line breaks it infers. This module walks
that character stream once, in pieces (a word of one text object, a space, a line break),
and keeps for each piece its box and whether a reader can see it. From that one stream:

- the page text: PDFium's plain text, or, when the page holds text a reader cannot see,
  the same stream without those pieces (never a re-join of runs with spaces);
- the runs: the pieces of one line grouped until a column-sized gap, a line break or a
  change between visible and hidden, each with the union of its boxes (for grounding);
- the hidden runs, for the warning.

What a reader cannot see (how prompt injections hide in documents; see
:mod:`extractor.visibility`): invisible or clipping render mode, fully transparent paint,
white paint (unless on a dark filled shape), pieces wholly off the page, and microscopic
text (under 1 pt tall across the line of writing, judged per text object on PDFium's
loose box, so a period is as tall as the letters around it).

Boxes are in top-left-origin page points, mapped by one affine transform per page from the
page's bounding box (crop box within media box) and ``/Rotate``: the mapping that
``FPDF_PageToDevice`` applies, without a call per point.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from typing import Any

import pypdfium2.raw as pdfium_c

from extractor.visibility import SEEN, WHITE, Style, dark_backdrops, on_backdrop, text_style

__all__ = ["Box", "Layer", "PageTransform", "TextRun", "read_layer"]

Box = tuple[float, float, float, float]  # x0, top, x1, bottom; top-left origin, page units


@dataclass(frozen=True)
class TextRun:
    """A piece of text with its box: characters of one line of a PDF page, or an OCR line.

    ``visible`` is False for text a reader cannot see (invisible render mode, white,
    microscopic or off-page): such text is how prompt injection hides in documents.
    """

    text: str
    box: Box
    visible: bool = True


@dataclass(frozen=True)
class Layer:
    """What one page's text layer gives: the text to send, its runs, and the hidden runs.

    ``text`` holds only what a reader can see; ``full_text`` is PDFium's plain text with
    everything, hidden characters included (the two are equal when nothing is hidden).
    """

    text: str
    full_text: str
    runs: tuple[TextRun, ...]

    @property
    def hidden(self) -> tuple[TextRun, ...]:
        """The runs a reader cannot see."""
        return tuple(run for run in self.runs if not run.visible)


@dataclass(frozen=True)
class PageTransform:
    """PDF user space → top-left-origin page points: ``u = a·x + c·y + e``, ``v = b·x + d·y + f``.

    PDFium draws the page's bounding box (the crop box within the media box) turned by
    ``/Rotate`` (clockwise, in quarter turns) into a ``width × height`` area; this is that
    mapping with the y axis pointing down.
    """

    a: float
    b: float
    c: float
    d: float
    e: float
    f: float

    @classmethod
    def of(cls, page: Any) -> PageTransform:
        """The transform of a PDFium page (``FPDF_PAGE`` or pypdfium2 ``PdfPage``)."""
        rect = pdfium_c.FS_RECTF()
        pdfium_c.FPDF_GetPageBoundingBox(page, rect)
        left, bottom, right, top = rect.left, rect.bottom, rect.right, rect.top
        turns = pdfium_c.FPDFPage_GetRotation(page) % 4
        if turns == 1:  # u = y - bottom, v = x - left
            return cls(0.0, 1.0, 1.0, 0.0, -bottom, -left)
        if turns == 2:  # u = right - x, v = y - bottom
            return cls(-1.0, 0.0, 0.0, 1.0, right, -bottom)
        if turns == 3:  # u = top - y, v = right - x
            return cls(0.0, -1.0, -1.0, 0.0, top, right)
        return cls(1.0, 0.0, 0.0, -1.0, -left, top)  # u = x - left, v = top - y

    def point(self, x: float, y: float) -> tuple[float, float]:
        """One point of user space in page points."""
        return self.a * x + self.c * y + self.e, self.b * x + self.d * y + self.f

    def box(self, left: float, bottom: float, right: float, top: float) -> Box:
        """A user-space rectangle as a top-left-origin box (quarter turns keep it a box)."""
        u0, v0 = self.point(left, bottom)
        u1, v1 = self.point(right, top)
        return (min(u0, u1), min(v0, v1), max(u0, u1), max(v0, v1))


# -- reading the character stream ---------------------------------------------------------

# What a piece of the stream is; GAP: a space with hidden pieces on both sides
SPACE, SHOWN, HIDDEN, BREAK, GAP = 0, 1, 2, 3, 4
_MICROSCOPIC = 1.0  # points across the line of writing
_RUN_GAP = 0.8  # a gap wider than this many character heights starts a new run
# What PDFium's text may hold that a reader does not see as such: control characters, its
# marks for a hyphen that ends a line inside a word (0x02 per character, U+FFFE in the
# page text), and lone surrogates (a broken font's half of a pair).
_ODD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\ud800-\udfff]")


@dataclass
class _Stream:
    """A page's text in PDFium's order, in pieces: a word of one text object (or one
    character of it, where its characters differ), a space, or a line break."""

    text: list[str]
    kind: list[int]  # SPACE, SHOWN, HIDDEN or BREAK
    box: list[Box | None]  # top-left-origin points; None for spaces and line breaks
    size: list[float]  # height across the line of writing, in points (0 where no box)


def _object_getter() -> Any:
    """``FPDFText_GetTextObject`` returning the object's address as an int.

    The address keys a cache of per-object facts; turning pypdfium2's pointer object into
    an int costs three times the call itself, once per character.
    """
    address = ctypes.cast(pdfium_c.FPDFText_GetTextObject, ctypes.c_void_p).value
    assert address is not None
    return ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)(address)


_GET_OBJECT = _object_getter()


def _characters(textpage: Any, count: int) -> list[str]:
    """The page's characters, one string per character index ('' where nothing shows).

    PDFium's page text has one UTF-16 unit per character unless a character lies outside
    the BMP or is left out (control characters); only then is it read per character.
    """
    buffer = (ctypes.c_ushort * (count + 1))()
    units = pdfium_c.FPDFText_GetText(textpage, 0, count, buffer) - 1
    text = ctypes.string_at(buffer, 2 * max(units, 0)).decode("utf-16-le", "surrogatepass")
    if len(text) != count:
        codes = [pdfium_c.FPDFText_GetUnicode(textpage, i) for i in range(count)]
        text = "".join(chr(c) if c <= 0x10FFFF else "\ufffd" for c in codes)
    chars = list(text)
    for odd in _ODD.finditer(text):
        i = odd.start()
        if text[i] in "\x02\ufffe":
            chars[i] = "-" if pdfium_c.FPDFText_IsHyphen(textpage, i) else ""
        else:
            chars[i] = "\ufffd" if "\ud800" <= text[i] <= "\udfff" else ""
    return chars


class _Reader:
    """Turns one page's characters into pieces, asking PDFium for as few boxes as it can:
    one rectangle per word of one text object, unless its characters must be judged one
    by one (a word that crosses the page's edge or spans lines)."""

    def __init__(self, page: Any, textpage: Any, width: float, height: float):
        self.page, self.transform = page, PageTransform.of(page)
        self.raw = textpage.raw
        self.count = pdfium_c.FPDFText_CountChars(self.raw)
        self.width, self.height = width, height
        self.values = (ctypes.c_double * 4)()
        self.pointers = [
            ctypes.pointer(ctypes.c_double.from_buffer(self.values, 8 * k)) for k in range(4)
        ]
        self.styles: dict[int | None, Style] = {}
        self.stream = _Stream([], [], [], [])
        self.white: list[int] = []  # pieces hidden only for being white

    def read(self) -> _Stream:
        if self.count <= 0:
            return self.stream
        chars = _characters(self.raw, self.count)
        address = ctypes.cast(self.raw, ctypes.c_void_p)
        objects = [_GET_OBJECT(address, i) for i in range(self.count)]
        i = 0
        while i < self.count:
            char = chars[i]
            if not char or char.isspace():
                if char:
                    self._append(char, BREAK if char in "\r\n" else SPACE, None, 0.0)
                i += 1
                continue
            end, key = i + 1, objects[i]
            while end < self.count and objects[end] == key and not chars[end].isspace():
                end += 1  # a removed character ('') does not end the word
            self._word(chars, i, end, key)
            i = end
        if self.white:
            backdrops = dark_backdrops(self.page, self.transform.box)
            for piece in self.white:
                box = self.stream.box[piece]
                if box is not None and on_backdrop(box, backdrops):
                    self.stream.kind[piece] = SHOWN
        return self.stream

    def _word(self, chars: list[str], start: int, end: int, key: int | None) -> None:
        style = self.styles.get(key)
        if style is None:
            style = self.styles[key] = text_style(self.raw, start, key)
        box, height = self._box(start, end, style.upright)
        if end - start > 1 and (box is None or (style.paint != SEEN or self._on_edge(box))):
            # spans lines, has glyphs without a box, or crosses the page's edge: judge
            # each character on its own
            for i in range(start, end):
                if chars[i]:
                    self._word(chars, i, i + 1, key)
            return
        assert box is not None
        x0, top, x1, bottom = box
        # The object's loose size, unless its glyphs are taller (PDFium's loose box falls
        # back to the glyph's own box when it has no font size to go by)
        size = max(style.size, height)
        off_page = x1 < 0 or x0 > self.width or bottom < 0 or top > self.height
        kind = HIDDEN if style.paint != SEEN or off_page or size < _MICROSCOPIC else SHOWN
        if style.paint == WHITE and not off_page and size >= _MICROSCOPIC:
            self.white.append(len(self.stream.kind))
        self._append("".join(chars[start:end]), kind, box, size)

    def _append(self, text: str, kind: int, box: Box | None, size: float) -> None:
        stream = self.stream
        stream.text.append(text)
        stream.kind.append(kind)
        stream.box.append(box)
        stream.size.append(size)

    def _on_edge(self, box: Box) -> bool:
        x0, top, x1, bottom = box
        across = x0 < 0 <= x1 or x0 <= self.width < x1
        return across or top < 0 <= bottom or top <= self.height < bottom

    def _box(self, start: int, end: int, upright: bool) -> tuple[Box | None, float]:
        """The box of characters ``start:end`` and their height across the line of
        writing, or None when PDFium has no one rectangle for them."""
        raw, values = self.raw, self.values
        left, right, bottom, top = self.pointers
        if end - start == 1:
            pdfium_c.FPDFText_GetCharBox(raw, start, left, right, bottom, top)
        elif pdfium_c.FPDFText_CountRects(raw, start, end - start) == 1:
            pdfium_c.FPDFText_GetRect(raw, 0, left, top, right, bottom)
            if values[1] <= values[0] or values[3] <= values[2]:
                return None, 0.0  # PDFium leaves glyphs with empty boxes out of rectangles
        else:
            return None, 0.0
        x0, x1, y0, y1 = values
        return self.transform.box(x0, y0, x1, y1), (y1 - y0) if upright else (x1 - x0)


# -- text and runs from the stream ----------------------------------------------------------


def read_layer(page: Any, textpage: Any, width: float, height: float) -> Layer:
    """Read the text layer of one page (a pypdfium2 ``PdfPage`` and its ``PdfTextPage``).

    ``width`` and ``height`` are the page's size as drawn (``page.get_size()``).
    """
    stream = _Reader(page, textpage, width, height).read()
    full = "".join(stream.text).replace("\r\n", "\n").replace("\r", "\n")
    text = full
    if HIDDEN in stream.kind:
        _mark_gaps(stream.kind)
        text = _visible_text(stream)
    return Layer(text, full, _runs(stream))


def _mark_gaps(kinds: list[int]) -> None:
    """Spaces with no visible piece on either side in their line become GAPs: a reader
    sees no space where hidden words stood ("Total" + hidden words + ": 12" reads
    "Total: 12")."""
    before = BREAK  # the kind of the last piece that is not a space, in this line
    pending: list[int] = []
    for i, kind in enumerate([*kinds, BREAK]):
        if kind == SPACE:
            pending.append(i)
            continue
        if before != SHOWN and kind != SHOWN:
            for k in pending:
                kinds[k] = GAP
        before, pending = kind, []


def _visible_text(stream: _Stream) -> str:
    """The page text without its hidden characters. A line that held any has its spacing
    tidied (one space between words), or is dropped when nothing visible is left."""
    lines: list[str] = []
    line: list[str] = []
    hid = False
    previous = ""
    for text, kind in zip(stream.text, stream.kind, strict=True):
        if kind == BREAK:
            if not (text == "\n" and previous == "\r"):
                _close_line(lines, line, hid)
                line, hid = [], False
        elif kind in (HIDDEN, GAP):
            hid = True
        else:
            line.append(text)
        previous = text
    _close_line(lines, line, hid)
    return "\n".join(lines)


def _close_line(lines: list[str], line: list[str], hid: bool) -> None:
    text = "".join(line)
    if not hid:
        lines.append(text)
    elif text.strip():
        lines.append(" ".join(text.split()))


def _runs(stream: _Stream) -> tuple[TextRun, ...]:
    """Group the stream into runs: per visibility, characters of one line up to a gap.

    A gap is wider than ``_RUN_GAP`` character heights between neighbouring boxes, on
    either axis (so it holds for text set in any direction). One run is open per
    visibility, so hidden characters interleaved with visible ones (an injection glued
    into a word) leave the visible run whole and form runs of their own.
    """
    kinds, boxes, sizes = stream.kind, stream.box, stream.size
    runs: list[list[int]] = []  # character indices, spaces included
    open_: dict[int, list[int]] = {}  # kind → the indices of its open run
    spaces: list[int] = []  # the spaces of the line so far
    for i, kind in enumerate(kinds):
        if kind == BREAK:
            open_.clear()
            spaces = []
        elif kind in (SPACE, GAP):
            spaces.append(i)
        else:
            run = open_.get(kind)
            if run is not None:
                last, box = boxes[run[-1]], boxes[i]
                assert last is not None and box is not None
                gap = max(box[0] - last[2], last[0] - box[2], box[1] - last[3], last[1] - box[3])
                if gap <= _RUN_GAP * max(sizes[run[-1]], sizes[i], _MICROSCOPIC):
                    gaps = _since(spaces, run[-1])
                    run.extend(k for k in gaps if kind == HIDDEN or kinds[k] == SPACE)
                    run.append(i)
                    continue
            open_[kind] = run = [i]
            runs.append(run)
    return tuple(_run(stream, run) for run in runs)


def _since(spaces: list[int], index: int) -> list[int]:
    """The spaces after character ``index`` (``spaces`` is in stream order)."""
    start = len(spaces)
    while start and spaces[start - 1] > index:
        start -= 1
    return spaces[start:]


def _run(stream: _Stream, indices: list[int]) -> TextRun:
    boxes = [box for box in map(stream.box.__getitem__, indices) if box is not None]
    x0s, tops, x1s, bottoms = zip(*boxes, strict=True)
    text = "".join(map(stream.text.__getitem__, indices))
    return TextRun(
        text, (min(x0s), min(tops), max(x1s), max(bottoms)), stream.kind[indices[0]] == SHOWN
    )
