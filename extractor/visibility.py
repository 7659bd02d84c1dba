"""Whether a reader can see a PDF text object: how it is painted, how large it is drawn, and
what it is drawn on.

Text a reader cannot see is how prompt injections hide in documents: render mode 3
(invisible) or 7 (clip only), paint with alpha 0, white paint on a white page, microscopic
size (judged by :mod:`extractor.pdftext` with :attr:`Style.size`) and text off the page.
White paint is common on purpose, though: table headers and banners print white on a dark
fill. So white text counts as seen where it stands on a dark filled shape
(:func:`dark_backdrops`), and as hidden everywhere else.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pypdfium2.raw as pdfium_c

__all__ = ["SEEN", "UNSEEN", "WHITE", "Style", "dark_backdrops", "on_backdrop", "text_style"]

Box = tuple[float, float, float, float]  # x0, top, x1, bottom; top-left origin, page units
SEEN, WHITE, UNSEEN = 0, 1, 2  # how a text object is painted, best first

_WHITE = 248  # each of R, G, B at least this: white paint
_DARK = 0.7  # a backdrop's brightness (0 black, 1 white) under which white text shows
_MAX_OBJECTS = 20_000  # page objects looked at for backdrops (hostile pages have millions)
_MAX_DEPTH = 8  # nested form XObjects followed
_HIDDEN_MODES = (pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE, pdfium_c.FPDF_TEXTRENDERMODE_CLIP)
_STROKE_MODES = (pdfium_c.FPDF_TEXTRENDERMODE_STROKE, pdfium_c.FPDF_TEXTRENDERMODE_STROKE_CLIP)
_BOTH_MODES = (
    pdfium_c.FPDF_TEXTRENDERMODE_FILL_STROKE,
    pdfium_c.FPDF_TEXTRENDERMODE_FILL_STROKE_CLIP,
)


@dataclass(frozen=True)
class Style:
    """What holds for every character of one text object.

    Attributes:
        paint: ``SEEN``, ``WHITE`` (seen only on a dark backdrop) or ``UNSEEN``.
        upright: its line of writing runs more across than up the page (user space).
        size: its loose character height across the line of writing, in points: PDFium's
            loose box spans the font's ascent to descent (Type 3 fonts included), the same
            for every glyph, so a period is as tall as the letters around it.
    """

    paint: int
    upright: bool
    size: float


def text_style(textpage: Any, index: int, address: int | None) -> Style:
    """The style of the text object at ``address`` that draws character ``index``."""
    matrix = pdfium_c.FS_MATRIX()
    upright = not pdfium_c.FPDFText_GetMatrix(textpage, index, matrix) or abs(matrix.a) >= abs(
        matrix.b
    )
    rect = pdfium_c.FS_RECTF()
    pdfium_c.FPDFText_GetLooseCharBox(textpage, index, rect)
    size = abs(rect.top - rect.bottom) if upright else abs(rect.right - rect.left)
    paint = _paint(ctypes.cast(address, pdfium_c.FPDF_PAGEOBJECT)) if address else SEEN
    return Style(paint, upright, size)


def _paint(obj: Any) -> int:
    mode = pdfium_c.FPDFTextObj_GetTextRenderMode(obj)
    if mode in _HIDDEN_MODES:
        return UNSEEN
    if mode in _STROKE_MODES:
        return _colour(obj, pdfium_c.FPDFPageObj_GetStrokeColor)
    fill = _colour(obj, pdfium_c.FPDFPageObj_GetFillColor)
    if mode in _BOTH_MODES:
        return min(fill, _colour(obj, pdfium_c.FPDFPageObj_GetStrokeColor))
    return fill


def _colour(obj: Any, getter: Any) -> int:
    r, g, b, a = (pdfium_c.c_uint() for _ in range(4))
    if not getter(obj, r, g, b, a):
        return SEEN  # no colour to judge: the default is black
    if a.value == 0:
        return UNSEEN
    return WHITE if min(r.value, g.value, b.value) >= _WHITE else SEEN


# -- backdrops ------------------------------------------------------------------------------


def dark_backdrops(page: Any, to_page: Callable[[float, float, float, float], Box]) -> list[Box]:
    """The boxes of the dark filled shapes of a page (forms followed), in page points.

    ``to_page(left, bottom, right, top)`` maps a user-space rectangle to a page box.
    """
    found: list[Box] = []
    budget = [_MAX_OBJECTS]
    count = pdfium_c.FPDFPage_CountObjects(page)
    objects = (pdfium_c.FPDFPage_GetObject(page, i) for i in range(max(count, 0)))
    _collect(objects, (1.0, 0.0, 0.0, 1.0, 0.0, 0.0), to_page, found, budget, _MAX_DEPTH)
    return found


_Matrix = tuple[float, float, float, float, float, float]


def _collect(
    objects: Any,
    matrix: _Matrix,
    to_page: Callable[[float, float, float, float], Box],
    found: list[Box],
    budget: list[int],
    depth: int,
) -> None:
    for obj in objects:
        budget[0] -= 1
        if budget[0] < 0:
            return
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        if kind == pdfium_c.FPDF_PAGEOBJ_FORM and depth > 0:
            inner = pdfium_c.FS_MATRIX()
            if pdfium_c.FPDFPageObj_GetMatrix(obj, inner):
                count = pdfium_c.FPDFFormObj_CountObjects(obj)
                children = (pdfium_c.FPDFFormObj_GetObject(obj, i) for i in range(max(count, 0)))
                form = (inner.a, inner.b, inner.c, inner.d, inner.e, inner.f)
                _collect(children, _compose(form, matrix), to_page, found, budget, depth - 1)
        elif kind == pdfium_c.FPDF_PAGEOBJ_PATH and _dark_fill(obj):
            bounds = [ctypes.c_float() for _ in range(4)]
            if pdfium_c.FPDFPageObj_GetBounds(obj, *bounds):
                left, bottom, right, top = (v.value for v in bounds)
                corners = [_apply(matrix, x, y) for x in (left, right) for y in (bottom, top)]
                xs, ys = [x for x, _ in corners], [y for _, y in corners]
                found.append(to_page(min(xs), min(ys), max(xs), max(ys)))


def _dark_fill(obj: Any) -> bool:
    fill_mode, stroke = ctypes.c_int(), ctypes.c_int()
    if not pdfium_c.FPDFPath_GetDrawMode(obj, fill_mode, stroke) or not fill_mode.value:
        return False
    r, g, b, a = (pdfium_c.c_uint() for _ in range(4))
    if not pdfium_c.FPDFPageObj_GetFillColor(obj, r, g, b, a) or a.value < 128:
        return False
    return bool((0.2126 * r.value + 0.7152 * g.value + 0.0722 * b.value) / 255 < _DARK)


def _compose(inner: _Matrix, outer: _Matrix) -> _Matrix:
    """``inner`` then ``outer`` (PDF row-vector convention)."""
    a, b, c, d, e, f = inner
    a2, b2, c2, d2, e2, f2 = outer
    return (a * a2 + b * c2, a * b2 + b * d2, c * a2 + d * c2, c * b2 + d * d2,
            e * a2 + f * c2 + e2, e * b2 + f * d2 + f2)  # fmt: skip


def _apply(matrix: _Matrix, x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = matrix
    return a * x + c * y + e, b * x + d * y + f


def on_backdrop(box: Box, backdrops: list[Box]) -> bool:
    """Whether the centre of ``box`` lies on one of ``backdrops``."""
    u, v = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return any(x0 <= u <= x1 and top <= v <= bottom for x0, top, x1, bottom in backdrops)
