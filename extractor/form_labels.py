"""Where form fields stand on the page, and the printed labels beside them.

A field's name in the PDF is often a machine name (``Text1``, ``topmostSubform[0].f1_01``);
what a reader goes by is the text printed beside its box. This module maps PDF user space
to the top-left-origin page boxes the rest of extractor uses, reads the page's visible
characters with their boxes, and finds for a widget:

- its **label**: the nearest phrase on the same line to its left, else the nearest line
  just above it;
- its **caption**: for check boxes and radio buttons, the phrase just to its right.

Text a reader cannot see (invisible render mode, white, microscopic) is never a label.
All calls into PDFium happen under the caller's PDFium lock.
"""

from __future__ import annotations

import ctypes
import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pypdfium2.raw as pdfium_c

__all__ = ["Box", "Char", "LabelFinder", "PageMapper", "page_chars", "reading_order"]

Box = tuple[float, float, float, float]  # x0, top, x1, bottom; top-left origin, PDF points
T = TypeVar("T")

_PRECISION = 100  # PDFium maps to integer device units; map at 100× for 0.01 pt
_UNIT = 1000.0  # length of the user-space vectors that fix the mapping
_WHITE = 248
_SLANT = 0.27  # tan 15°: steeper text is not read as a label (rotated pages, side notes)


class PageMapper:
    """PDF user space → top-left-origin page points, through PDFium's own mapping.

    Like ``extractor.pages._device_box`` (a MediaBox that does not start at 0 0 and a
    ``/Rotate``-d page land where the page is drawn), but fixed once per page as an affine
    map, since a page's characters are many.
    """

    def __init__(self, page: Any, width: float, height: float) -> None:
        size_x, size_y = round(width * _PRECISION), round(height * _PRECISION)

        def device(x: float, y: float) -> tuple[float, float]:
            dx, dy = pdfium_c.c_int(), pdfium_c.c_int()
            pdfium_c.FPDF_PageToDevice(page, 0, 0, size_x, size_y, 0, x, y, dx, dy)
            return dx.value / _PRECISION, dy.value / _PRECISION

        (ox, oy), (xx, xy), (yx, yy) = device(0, 0), device(_UNIT, 0), device(0, _UNIT)
        self._origin = (ox, oy)
        self._x_axis = ((xx - ox) / _UNIT, (xy - oy) / _UNIT)
        self._y_axis = ((yx - ox) / _UNIT, (yy - oy) / _UNIT)

    def point(self, x: float, y: float) -> tuple[float, float]:
        """One user-space point on the drawn page."""
        return (
            self._origin[0] + x * self._x_axis[0] + y * self._y_axis[0],
            self._origin[1] + x * self._x_axis[1] + y * self._y_axis[1],
        )

    def upright(self, angle: float) -> bool:
        """Whether text at ``angle`` (radians, user space) reads left to right as drawn."""
        dx, dy = math.cos(angle), math.sin(angle)
        x = dx * self._x_axis[0] + dy * self._y_axis[0]
        y = dx * self._x_axis[1] + dy * self._y_axis[1]
        return x > 0 and abs(y) <= _SLANT * x

    def box(self, left: float, bottom: float, right: float, top: float) -> Box:
        """A user-space rectangle as a page box, to 0.1 pt."""
        (ax, ay), (bx, by) = self.point(left, bottom), self.point(right, top)
        return (
            round(min(ax, bx), 1),
            round(min(ay, by), 1),
            round(max(ax, bx), 1),
            round(max(ay, by), 1),
        )


@dataclass(frozen=True)
class Char:
    """One character of the page's text with its loose box (font ascent to descent)."""

    text: str
    box: Box
    visible: bool = True

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def middle(self) -> float:
        return (self.box[1] + self.box[3]) / 2


def page_chars(textpage: Any, mapper: PageMapper) -> list[Char]:
    """The characters of an open ``PdfTextPage`` with their boxes and visibility.

    Characters that do not read left to right on the drawn page (a rotated page's
    text, vertical side notes) are left out: the label rules assume horizontal lines.
    """
    chars = []
    visibility: dict[int | None, bool] = {}
    rect = pdfium_c.FS_RECTF()
    for index in range(pdfium_c.FPDFText_CountChars(textpage)):
        code = pdfium_c.FPDFText_GetUnicode(textpage, index)
        if code in (0, 0x0A, 0x0D, 0xFFFE) or 0xD800 <= code < 0xE000 or code > 0x10FFFF:
            continue  # line breaks, broken and half surrogate codes
        if not pdfium_c.FPDFText_GetLooseCharBox(textpage, index, rect):
            continue
        if not mapper.upright(pdfium_c.FPDFText_GetCharAngle(textpage, index)):
            continue
        box = mapper.box(rect.left, rect.bottom, rect.right, rect.top)
        obj = pdfium_c.FPDFText_GetTextObject(textpage, index)
        key = ctypes.cast(obj, ctypes.c_void_p).value if obj else None
        if key not in visibility:
            visibility[key] = obj is None or not obj or _object_visible(obj)
        chars.append(Char(chr(code), box, visibility[key] and box[3] - box[1] >= 1.0))
    return chars


def _object_visible(obj: Any) -> bool:
    mode = pdfium_c.FPDFTextObj_GetTextRenderMode(obj)
    if mode in (pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE, pdfium_c.FPDF_TEXTRENDERMODE_CLIP):
        return False
    r, g, b, a = (pdfium_c.c_uint() for _ in range(4))
    has_fill = pdfium_c.FPDFPageObj_GetFillColor(obj, r, g, b, a)
    return not (has_fill and (a.value == 0 or min(r.value, g.value, b.value) >= _WHITE))


def reading_order(items: Iterable[T], key: Callable[[T], Box]) -> list[T]:
    """Items by their boxes: rows from top to bottom, each left to right.

    An item joins a row when its vertical middle lies within the row's first box.
    """
    rows: list[list[T]] = []
    for item in sorted(items, key=lambda i: (key(i)[1], key(i)[0])):
        box = key(item)
        middle = (box[1] + box[3]) / 2
        if rows and key(rows[-1][0])[1] <= middle <= key(rows[-1][0])[3]:
            rows[-1].append(item)
        else:
            rows.append([item])
    return [item for row in rows for item in sorted(row, key=lambda i: key(i)[0])]


class LabelFinder:
    """Finds the printed label of a widget among a page's visible characters.

    Args:
        chars: the page's characters (:func:`page_chars`).
        widgets: the boxes of all widgets on the page: text inside one is its value or
            its comb lines, never a label, and a label never reaches across one.
        page_width: the page's width (labels sit at most 40% of it away).
    """

    _ABOVE_PT = 16.0  # how far above a widget its label may stand
    _TALLEST_PT = 100.0  # characters taller than this are not looked at as labels

    def __init__(self, chars: Sequence[Char], widgets: Sequence[Box], page_width: float) -> None:
        # Characters sorted by their vertical middle: a line is a slice found by bisection,
        # which keeps a page of thousands of characters and hundreds of fields fast.
        self._widgets = list(widgets)
        self._chars = sorted(
            (c for c in chars if c.visible and c.height <= self._TALLEST_PT), key=lambda c: c.middle
        )
        self._middles = [c.middle for c in self._chars]
        inside = {
            i for w in self._widgets for i in self._band(w[1], w[3])
            if w[0] <= (self._chars[i].box[0] + self._chars[i].box[2]) / 2 <= w[2]
        }  # fmt: skip
        self._chars = [c for i, c in enumerate(self._chars) if i not in inside]
        self._middles = [c.middle for c in self._chars]
        self._reach = 0.4 * page_width
        self._captions: set[int] = set()  # indices of characters used as captions

    def caption(self, box: Box) -> str | None:
        """The phrase right of a check box or radio button, on its line."""
        line = [i for i in self._line(box) if self._chars[i].box[0] >= box[2] - 1]
        if not line:
            return None
        first = min(line, key=lambda i: self._chars[i].box[0])
        start = self._chars[first]
        if start.box[0] - box[2] > max(2 * start.height, 3 * (box[2] - box[0])):
            return None
        blockers = self._widgets_on(box)
        phrase = self._phrase(first, [i for i in line if not self._blocked(box[2], i, blockers)])
        self._captions.update(phrase)
        return self._text(phrase)

    def label(self, box: Box, *, skip_captions: bool = False) -> str | None:
        """The phrase left of the widget on its line, else the line just above it."""
        skip = self._captions if skip_captions else set()
        return self._left(box, skip) or self._above(box, skip)

    def _left(self, box: Box, skip: set[int]) -> str | None:
        blockers = self._widgets_on(box)
        line = [
            i for i in self._line(box)
            if i not in skip and self._chars[i].box[2] <= box[0] + 1
            and not self._blocked(box[0], i, blockers)
        ]  # fmt: skip
        if not line:
            return None
        nearest = max(
            line, key=lambda i: (self._chars[i].box[2], -abs(self._chars[i].box[1] - box[1]))
        )
        if box[0] - self._chars[nearest].box[2] > self._reach:
            return None
        same_row = set(self._row(nearest))
        return self._text(self._phrase(nearest, [i for i in line if i in same_row]))

    def _above(self, box: Box, skip: set[int]) -> str | None:
        top = box[1]
        over = [
            i for i in self._band(top - self._ABOVE_PT - self._TALLEST_PT / 2, top + 2)
            if i not in skip and top - self._ABOVE_PT <= self._chars[i].box[3] <= top + 2
            and box[0] - 4 <= (self._chars[i].box[0] + self._chars[i].box[2]) / 2 <= box[2]
        ]  # fmt: skip
        if not over:
            return None
        nearest = max(over, key=lambda i: (self._chars[i].box[3], -self._chars[i].box[0]))
        row = [i for i in self._row(nearest) if i not in skip]
        start = min(set(over) & set(row), key=lambda i: self._chars[i].box[0])
        return self._text(self._phrase(start, row))

    def _band(self, top: float, bottom: float) -> range:
        """Indices of the characters whose vertical middle lies in [top, bottom]."""
        return range(bisect_left(self._middles, top), bisect_right(self._middles, bottom))

    def _line(self, box: Box) -> range:
        """The characters on ``box``'s line: their middle within its height (±1 pt)."""
        return self._band(box[1] - 1, box[3] + 1)

    def _row(self, seed: int) -> list[int]:
        """The characters on the seed character's own line: each one's middle within the
        other's height, so small print tucked under a line stays out of it."""
        middle = self._chars[seed].middle
        return [
            i for i in self._line(self._chars[seed].box)
            if self._chars[i].box[1] - 1 <= middle <= self._chars[i].box[3] + 1
        ]  # fmt: skip

    def _widgets_on(self, box: Box) -> list[Box]:
        return [w for w in self._widgets if w[1] - 1 <= box[3] + 1 and w[3] + 1 >= box[1] - 1]

    def _phrase(self, seed: int, row: list[int]) -> list[int]:
        """The characters of ``row`` joined to ``seed`` by gaps narrower than a letter."""
        ordered = sorted(row, key=lambda i: self._chars[i].box[0])
        at = ordered.index(seed)
        lo = hi = at
        while lo > 0 and self._gap(ordered[lo - 1], ordered[lo]) <= self._chars[ordered[lo]].height:
            lo -= 1
        while (
            hi + 1 < len(ordered)
            and self._gap(ordered[hi], ordered[hi + 1]) <= self._chars[ordered[hi]].height
        ):
            hi += 1
        return ordered[lo : hi + 1]

    def _gap(self, left: int, right: int) -> float:
        return self._chars[right].box[0] - self._chars[left].box[2]

    def _text(self, indices: list[int]) -> str | None:
        out: list[str] = []
        previous: Char | None = None
        for i in indices:
            char = self._chars[i]
            if previous is not None and char.box[0] - previous.box[2] > 0.2 * char.height:
                out.append(" ")
            out.append(char.text)
            previous = char
        text = " ".join("".join(out).split())
        return text.strip(" :_.*…").strip() or None

    def _blocked(self, x: float, index: int, widgets: list[Box]) -> bool:
        """Whether another widget on the character's line stands between it and ``x``."""
        char = self._chars[index]
        lo, hi = sorted((x, (char.box[0] + char.box[2]) / 2))
        return any(
            w[1] - 1 <= char.middle <= w[3] + 1
            and lo < (w[0] + w[2]) / 2 < hi
            and not (w[0] <= x <= w[2])
            for w in widgets
        )
