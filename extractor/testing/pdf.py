"""A small PDF writer for test documents: pages, base-14 text, shapes, JPEGs, raw objects.

Coordinates are in points with the origin at the page's top-left corner and y growing
downwards (the way the rest of extractor reports boxes); text is placed by its baseline.
The output is deterministic: no dates, no random ids, so a document built twice gives the
same bytes. Only the standard library is needed; `PdfWriter.add_image` also takes a Pillow
image.

Text uses the base-14 fonts with WinAnsiEncoding (Windows code page 1252), measured with
Adobe's AFM widths (`text_width`), so right-aligned columns line up. Besides plain text a
page can hold what real-world and hostile PDFs hold:

- text written glyph by glyph, each glyph its own text object with its own ``Tm``, as
  browsers and reporting tools write it (``per_glyph=True``);
- text a reader cannot see (`PdfPage.hidden_text`): invisible render mode, white,
  microscopic or off the page, the way prompt injections hide;
- raw content operators, raw objects and pre-encoded streams, and RC4 encryption, for
  broken or hostile files; `assemble` writes any list of objects with a correct xref.

Example:
    >>> from extractor.testing.pdf import PdfWriter, text_width
    >>> pdf = PdfWriter(title="Invoice 7")
    >>> page = pdf.page()  # A4
    >>> _ = page.text(56, 72, "Invoice 7", "Helvetica-Bold", 18)
    >>> _ = page.text(539, 100, "Total: 1,119.95 EUR", align="right", per_glyph=True)
    >>> data = pdf.to_bytes()
    >>> data[:8], data == pdf.to_bytes(), round(text_width("1,119.95", "Helvetica", 10), 2)
    (b'%PDF-1.4', True, 38.92)
"""

from __future__ import annotations

import hashlib
import io
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from extractor.testing._afm import FIRST_CODE, WIDTHS
from extractor.testing._canvas import (
    A4,
    FONTS,
    LETTER,
    MICROSCOPIC_SIZE,
    Align,
    Color,
    Font,
    Hiding,
    Image,
    Line,
    Op,
    PdfPage,
    Raw,
    Rect,
    Text,
    num,
    pdf_string,
    text_width,
)
from extractor.testing._pdfio import Rc4, assemble, deflate_repeated, stream_object

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

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
    "PdfPage",
    "PdfWriter",
    "Raw",
    "Rect",
    "Text",
    "assemble",
    "deflate_repeated",
    "stream_object",
    "text_width",
]


@dataclass
class _Stream:
    dictionary: bytes
    data: bytes
    compress: bool


class PdfWriter:
    """Builds a PDF object by object; `to_bytes` writes it with a correct xref table.

    Args:
        title: ``/Title`` in the document information dictionary.
        producer: ``/Producer`` there; no dates are ever written.
        compress: Flate-compress the page content streams.
        user_password: Encrypt with the standard security handler, revision 2 (40-bit
            RC4, algorithms 3.1-3.5 of the PDF 1.7 reference); opening then needs this
            password. Streams made by the writer are encrypted, objects added as raw
            bytes are not.
        owner_password: The owner password, when encrypting.
    """

    def __init__(
        self,
        *,
        title: str | None = None,
        producer: str = "extractor.testing.pdf",
        compress: bool = False,
        user_password: bytes | None = None,
        owner_password: bytes = b"owner",
    ) -> None:
        self._objects: list[bytes | _Stream | None] = []
        self.pages: list[PdfPage] = []
        self.images: dict[str, int] = {}
        self._fonts: dict[Font, tuple[str, int]] = {}
        self.compress = compress
        self.catalog = self.reserve()
        self.page_tree = self.reserve()
        self._info = {"Title": title, "Producer": producer}
        self._info_number = self.reserve()
        self._passwords = None if user_password is None else (user_password, owner_password)
        self.catalog_entries = b""
        """More catalog entries as raw bytes (``extractor.testing.pdf_forms`` adds
        ``/AcroForm``)."""

    def reserve(self) -> int:
        """A new object number, to be filled with `set_object`."""
        self._objects.append(None)
        return len(self._objects)

    def set_object(self, number: int, body: bytes) -> int:
        """Set a reserved object's body (the bytes between ``obj`` and ``endobj``)."""
        self._objects[number - 1] = body
        return number

    def add_object(self, body: bytes) -> int:
        """Add a raw object (written as given, never encrypted); returns its number."""
        return self.set_object(self.reserve(), body)

    def add_stream(self, data: bytes, dictionary: bytes = b"", *, compress: bool = False) -> int:
        """Add a stream object; ``/Length`` (and ``/Filter`` when compressed) are added."""
        number = self.reserve()
        self._objects[number - 1] = _Stream(dictionary, data, compress)
        return number

    def font(self, font: Font) -> str:
        """The resource name of a base-14 font, adding the font on first use."""
        if font not in WIDTHS:
            raise ValueError(f"{font!r} is not one of the base-14 fonts with widths: {FONTS}")
        if font not in self._fonts:
            # The widths are written out so that every viewer lays text out as measured
            # here: PDFium's stand-in fonts differ on a few glyphs (€, @, «, »).
            widths = " ".join(str(w) for w in WIDTHS[font])
            body = (
                f"<< /Type /Font /Subtype /Type1 /BaseFont /{font} /Encoding /WinAnsiEncoding "
                f"/FirstChar {FIRST_CODE} /LastChar 255 /Widths [{widths}] >>"
            ).encode()
            self._fonts[font] = (f"F{len(self._fonts) + 1}", self.add_object(body))
        return self._fonts[font][0]

    def font_object(self, font: Font) -> int:
        """The object number of a base-14 font, adding the font on first use."""
        self.font(font)
        return self._fonts[font][1]

    def add_jpeg(self, data: bytes, width: int, height: int, *, components: int = 1) -> str:
        """Add JPEG bytes as an image (``/DCTDecode``); returns its name for `PdfPage.image`.

        ``components``: 1 for grayscale, 3 for RGB.
        """
        space = {1: "/DeviceGray", 3: "/DeviceRGB"}[components]
        name = f"Im{len(self.images)}"
        self.images[name] = self.add_stream(
            data,
            (
                f"/Type /XObject /Subtype /Image /Width {width} /Height {height} "
                f"/ColorSpace {space} /BitsPerComponent 8 /Filter /DCTDecode"
            ).encode(),
        )
        return name

    def add_image(self, image: PILImage, *, quality: int = 85) -> str:
        """Add a Pillow image, saved as a JPEG (grayscale stays grayscale)."""
        gray = image.mode == "L"
        buffer = io.BytesIO()
        (image if gray else image.convert("RGB")).save(buffer, format="JPEG", quality=quality)
        return self.add_jpeg(
            buffer.getvalue(), image.width, image.height, components=1 if gray else 3
        )

    def page(
        self,
        width: float = A4[0],
        height: float = A4[1],
        *,
        origin: tuple[float, float] = (0.0, 0.0),
        rotate: int = 0,
        extra: bytes = b"",
    ) -> PdfPage:
        """Add a page of ``width`` × ``height`` points.

        Args:
            origin: The lower-left corner of the ``/MediaBox`` in PDF user space.
            rotate: ``/Rotate`` (a multiple of 90).
            extra: More page-dictionary entries as raw bytes, e.g. ``b"/CropBox [...]"``.
        """
        page = PdfPage(self, width, height, origin, rotate, extra)
        self.pages.append(page)
        return page

    def save(self, path: str | Path) -> Path:
        """Write the document to ``path``."""
        target = Path(path)
        target.write_bytes(self.to_bytes())
        return target

    def to_bytes(self) -> bytes:
        """The whole document."""
        self._finish()
        crypt = Rc4(*self._passwords, self._fingerprint()) if self._passwords else None
        bodies = [self._body(number, crypt) for number in range(1, len(self._objects) + 1)]
        trailer = f"/Info {self._info_number} 0 R".encode()
        if crypt is not None:
            bodies.append(crypt.dictionary())
            trailer += b" /Encrypt %d 0 R /ID [<%s> <%s>]" % (
                len(bodies),
                crypt.doc_id.hex().encode(),
                crypt.doc_id.hex().encode(),
            )
        return assemble(bodies, root=self.catalog, trailer=trailer)

    def _finish(self) -> None:
        kids = " ".join(f"{page.number} 0 R" for page in self.pages)
        catalog = f"<< /Type /Catalog /Pages {self.page_tree} 0 R".encode()
        extra = b" " + self.catalog_entries if self.catalog_entries else b""
        self.set_object(self.catalog, catalog + extra + b" >>")
        self.set_object(
            self.page_tree, (f"<< /Type /Pages /Kids [{kids}] /Count {len(self.pages)} >>").encode()
        )
        for page in self.pages:
            self._finish_page(page)
        info = " ".join(
            f"/{key} {pdf_string(value).decode('latin-1')}"
            for key, value in self._info.items()
            if value
        )
        self.set_object(self._info_number, f"<< {info} >>".encode("latin-1"))

    def _finish_page(self, page: PdfPage) -> None:
        used = [op.font for op in page.ops if isinstance(op, Text)]
        used += [font for op in page.ops if isinstance(op, Raw) for font in op.fonts]
        fonts = {self._fonts[font] for font in used}
        images = sorted({op.name for op in page.ops if isinstance(op, Image)})
        resources = "<<"
        if fonts:
            resources += " /Font << " + " ".join(f"/{n} {o} 0 R" for n, o in sorted(fonts)) + " >>"
        if images:
            refs = " ".join(f"/{name} {self.images[name]} 0 R" for name in images)
            resources += f" /XObject << {refs} >>"
        resources += " >>"
        x0, y0 = page.origin
        box = f"[{num(x0)} {num(y0)} {num(x0 + page.width)} {num(y0 + page.height)}]"
        rotate = f" /Rotate {page.rotate}" if page.rotate else ""
        head = (
            f"<< /Type /Page /Parent {self.page_tree} 0 R /MediaBox {box}{rotate} "
            f"/Resources {resources} /Contents {page.contents} 0 R"
        ).encode()
        extra = b" " + page.extra if page.extra else b""
        if page.annots:
            extra += b" /Annots [" + b" ".join(b"%d 0 R" % n for n in page.annots) + b"]"
        self.set_object(page.number, head + extra + b" >>")
        if page.encoded is not None:
            self._objects[page.contents - 1] = _Stream(page.encoded[1], page.encoded[0], False)
        else:
            self._objects[page.contents - 1] = _Stream(b"", page.content(), self.compress)

    def _fingerprint(self) -> bytes:
        digest = hashlib.md5(usedforsecurity=False)
        for body in self._objects:
            digest.update(body.data if isinstance(body, _Stream) else body or b"")
        return digest.digest()

    def _body(self, number: int, crypt: Rc4 | None) -> bytes:
        body = self._objects[number - 1]
        if body is None:
            raise ValueError(f"object {number} was reserved but never set")
        if not isinstance(body, _Stream):
            if crypt is not None and number == self._info_number:
                return crypt.info(number, self._info)
            return body
        data, dictionary = body.data, body.dictionary
        if body.compress:
            data, dictionary = zlib.compress(data, 9), dictionary + b" /Filter /FlateDecode"
        if crypt is not None:
            data = crypt.encrypt(number, data)
        return stream_object(data, dictionary.strip())
