"""Pages as lists of drawing operations, and the content streams they become.

Part of `extractor.testing.pdf`, which re-exports the public names.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from extractor.testing._afm import FIRST_CODE, WIDTHS

__all__ = [
    "A4",
    "FONTS",
    "LETTER",
    "MICROSCOPIC_SIZE",
    "Align",
    "Color",
    "Font",
    "Hiding",
    "Image",
    "Line",
    "Op",
    "Owner",
    "PdfPage",
    "Raw",
    "Rect",
    "Text",
    "encode",
    "num",
    "pdf_string",
    "text_width",
]

A4 = (595.28, 841.89)
LETTER = (612.0, 792.0)

Font = Literal[
    "Helvetica",
    "Helvetica-Bold",
    "Helvetica-Oblique",
    "Helvetica-BoldOblique",
    "Times-Roman",
    "Times-Bold",
    "Times-Italic",
    "Times-BoldItalic",
    "Courier",
    "Courier-Bold",
    "Courier-Oblique",
    "Courier-BoldOblique",
]
FONTS: tuple[Font, ...] = get_args(Font)
Align = Literal["left", "right", "center"]
Color = float | tuple[float, float, float]
"""A gray level (0 black, 1 white) or an RGB triple of 0-1 values."""
Hiding = Literal["invisible", "white", "microscopic", "off_page"]
MICROSCOPIC_SIZE = 0.5
"""The font size `PdfPage.hidden_text` uses for microscopic text: its glyphs are well
under 1 pt tall."""


class Owner(Protocol):
    """What a page needs from its document: object numbers, fonts and images."""

    images: dict[str, int]

    def reserve(self) -> int: ...

    def font(self, font: Font) -> str: ...


def text_width(
    text: str, font: Font = "Helvetica", size: float = 10, *, tracking: float = 0.0
) -> float:
    """The advance width of ``text`` in points.

    Args:
        text: Characters of Windows code page 1252.
        font: A base-14 font name.
        size: Font size in points.
        tracking: Extra space after every glyph, in points (like CSS ``letter-spacing``).

    Raises:
        ValueError: A character WinAnsiEncoding cannot write.
    """
    table = WIDTHS[font]
    units = sum(table[code - FIRST_CODE] for code in encode(text))
    return units * size / 1000 + tracking * len(text)


@dataclass(frozen=True)
class Text:
    """A run of text whose baseline starts at ``x`` (or ends there, or centres on it)."""

    x: float
    y: float
    text: str
    font: Font
    size: float
    color: Color = 0.0
    align: Align = "left"
    render_mode: int = 0
    per_glyph: bool = False
    tracking: float = 0.0

    @property
    def width(self) -> float:
        """Advance width in points."""
        return text_width(self.text, self.font, self.size, tracking=self.tracking)

    @property
    def left(self) -> float:
        """Where the first glyph starts, after alignment."""
        shift = {"left": 0.0, "right": self.width, "center": self.width / 2}[self.align]
        return self.x - shift


@dataclass(frozen=True)
class Line:
    """A straight stroke from (x1, y1) to (x2, y2)."""

    x1: float
    y1: float
    x2: float
    y2: float
    width: float = 0.5
    color: Color = 0.0


@dataclass(frozen=True)
class Rect:
    """A rectangle whose top-left corner is (x, y); ``stroke`` / ``fill`` None skip that."""

    x: float
    y: float
    w: float
    h: float
    width: float = 0.5
    stroke: Color | None = 0.0
    fill: Color | None = None


@dataclass(frozen=True)
class Image:
    """An image added with `PdfWriter.add_jpeg`, drawn into the box (x, y, w, h)."""

    name: str
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Raw:
    """Content-stream operators written as given (PDF user space, origin bottom-left)."""

    content: bytes
    fonts: tuple[Font, ...] = ()


Op = Text | Line | Rect | Image | Raw


class PdfPage:
    """One page: a list of drawing operations (`ops`), turned into a content stream.

    Made by `PdfWriter.page`. The methods return the operation they added, so layout code
    can ask a `Text` for its width.
    """

    def __init__(
        self,
        writer: Owner,
        width: float,
        height: float,
        origin: tuple[float, float],
        rotate: int,
        extra: bytes,
    ) -> None:
        self.width, self.height, self.origin = width, height, origin
        self.rotate, self.extra = rotate, extra
        self.ops: list[Op] = []
        self.number = writer.reserve()
        self.contents = writer.reserve()
        self.encoded: tuple[bytes, bytes] | None = None
        self.annots: list[int] = []  # annotation objects (form widgets), as /Annots
        self._writer = writer

    def text(
        self,
        x: float,
        y: float,
        text: str,
        font: Font = "Helvetica",
        size: float = 10,
        *,
        color: Color = 0.0,
        align: Align = "left",
        render_mode: int = 0,
        per_glyph: bool = False,
        tracking: float = 0.0,
    ) -> Text:
        """Write ``text`` with its baseline at ``y``.

        Args:
            render_mode: The PDF ``Tr`` mode; 3 draws nothing.
            per_glyph: Write every glyph (spaces too) as its own ``BT ... ET`` text object
                with its own ``Tm``, as browsers and reporting tools do.
            tracking: Extra space after every glyph, in points.
        """
        encode(text)  # fail here, not when the document is written
        self._writer.font(font)
        op = Text(x, y, text, font, size, color, align, render_mode, per_glyph, tracking)
        self.ops.append(op)
        return op

    def hidden_text(
        self, x: float, y: float, text: str, how: Hiding, font: Font = "Helvetica", size: float = 10
    ) -> Text:
        """Text a reader cannot see, placed as `text` would place it.

        ``how``: ``"invisible"`` (render mode 3), ``"white"`` (white fill),
        ``"microscopic"`` (`MICROSCOPIC_SIZE` points) or ``"off_page"`` (moved right of
        the page's edge).
        """
        if how == "invisible":
            return self.text(x, y, text, font, size, render_mode=3)
        if how == "white":
            return self.text(x, y, text, font, size, color=(1.0, 1.0, 1.0))
        if how == "microscopic":
            return self.text(x, y, text, font, MICROSCOPIC_SIZE)
        if how == "off_page":
            return self.text(self.width + 50 + x, y, text, font, size)
        raise ValueError(f"unknown kind of hidden text: {how!r}")

    def line(
        self, x1: float, y1: float, x2: float, y2: float, width: float = 0.5, color: Color = 0.0
    ) -> Line:
        """Stroke a line."""
        op = Line(x1, y1, x2, y2, width, color)
        self.ops.append(op)
        return op

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        width: float = 0.5,
        stroke: Color | None = 0.0,
        fill: Color | None = None,
    ) -> Rect:
        """Stroke and/or fill a rectangle."""
        op = Rect(x, y, w, h, width, stroke, fill)
        self.ops.append(op)
        return op

    def image(self, name: str, x: float, y: float, w: float, h: float) -> Image:
        """Draw an image added with `PdfWriter.add_jpeg` or `PdfWriter.add_image`."""
        if name not in self._writer.images:
            raise ValueError(f"no image named {name!r}; add it to the writer first")
        op = Image(name, x, y, w, h)
        self.ops.append(op)
        return op

    def raw(self, content: bytes, *, fonts: Sequence[Font] = ()) -> Raw:
        """Append content-stream operators as they are (escape hatch).

        ``fonts``: base-14 fonts the operators use, added to the page's resources under
        the names `PdfWriter.font` gives (the first font of a document is ``/F1``).
        """
        op = Raw(content, tuple(fonts))
        for font in op.fonts:
            self._writer.font(font)
        self.ops.append(op)
        return op

    def encoded_content(self, data: bytes, filters: bytes = b"/FlateDecode") -> None:
        """Use ``data``, already encoded with ``filters``, as the whole content stream."""
        self.encoded = (data, b"/Filter " + filters)

    def content(self) -> bytes:
        """The page's content stream, unencoded."""
        return b"".join(self._op_bytes(op) + b"\n" for op in self.ops)

    def _y(self, y: float) -> float:
        return self.origin[1] + self.height - y

    def _op_bytes(self, op: Op) -> bytes:
        x0 = self.origin[0]
        if isinstance(op, Text):
            return b"\n".join(self._text_bytes(op))
        if isinstance(op, Line):
            return (
                f"{num(op.width)} w {_color(op.color, stroke=True)} {num(x0 + op.x1)} "
                f"{num(self._y(op.y1))} m {num(x0 + op.x2)} {num(self._y(op.y2))} l S"
            ).encode()
        if isinstance(op, Rect):
            parts = [f"{num(op.width)} w"]
            parts += [] if op.fill is None else [_color(op.fill)]
            parts += [] if op.stroke is None else [_color(op.stroke, stroke=True)]
            parts.append(f"{num(x0 + op.x)} {num(self._y(op.y + op.h))} {num(op.w)} {num(op.h)} re")
            parts.append(
                {(True, True): "B", (True, False): "f", (False, True): "S", (False, False): "n"}[
                    (op.fill is not None, op.stroke is not None)
                ]
            )
            return " ".join(parts).encode()
        if isinstance(op, Image):
            return (
                f"q {num(op.w)} 0 0 {num(op.h)} {num(x0 + op.x)} "
                f"{num(self._y(op.y + op.h))} cm /{op.name} Do Q"
            ).encode()
        return op.content

    def _text_bytes(self, op: Text) -> Iterator[bytes]:
        font = f"/{self._writer.font(op.font)} {num(op.size)} Tf {_color(op.color)}"
        x, y = self.origin[0] + op.left, num(self._y(op.y))
        mode = f" {op.render_mode} Tr" if op.render_mode else ""
        if op.per_glyph:
            for char in op.text:
                glyph = pdf_string(char).decode("latin-1")
                yield _scoped(f"BT {font}{mode} 1 0 0 1 {num(x)} {y} Tm {glyph} Tj ET", mode)
                x += text_width(char, op.font, op.size, tracking=op.tracking)
            return
        state = mode + (f" {num(op.tracking)} Tc" if op.tracking else "")
        string = pdf_string(op.text).decode("latin-1")
        yield _scoped(f"BT {font}{state} {num(x)} {y} Td {string} Tj ET", state)


def encode(text: str) -> bytes:
    try:
        data = text.encode("cp1252")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise ValueError(f"{bad!r} in {text!r} is not in WinAnsiEncoding") from None
    if any(code < FIRST_CODE or code == 127 for code in data):
        raise ValueError(f"{text!r} holds a control character")
    return data


def pdf_string(text: str) -> bytes:
    out = bytearray(b"(")
    for code in encode(text):
        if code in b"()\\":
            out += b"\\" + bytes([code])
        elif code > 0x7E:
            out += b"\\%03o" % code
        else:
            out.append(code)
    return bytes(out + b")")


def _scoped(text_object: str, state: str) -> bytes:
    # Tr and Tc outlive ET: keep them from leaking into the next text object.
    return (f"q {text_object} Q" if state else text_object).encode()


def num(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _color(color: Color, *, stroke: bool = False) -> str:
    if isinstance(color, tuple):
        return " ".join(num(c) for c in color) + (" RG" if stroke else " rg")
    return num(color) + (" G" if stroke else " g")
