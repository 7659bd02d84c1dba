"""The committed fixtures are what the scripts in fixtures/ make: regenerate, compare.

Bytes are compared exactly, except where they come from a codec whose build may differ
between machines while the content does not: PNG and JPEG files (Pillow's libpng, zlib and
libjpeg) are compared by their decoded pixels, and PDF streams that are JPEG or
flate-compressed (scan.pdf, long/) by their decoded content, object by object. On the
machine that made the fixtures every file is byte-identical, which
`test_regenerating_gives_the_committed_fixtures` reports in its failure message.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from extractor.testing.pdf import PdfWriter

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
GENERATED = (".pdf", ".png", ".jpg", ".json", ".html")


def files_under(root: Path) -> dict[str, Path]:
    return {
        path.relative_to(root).as_posix(): path
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in GENERATED and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fixtures")
    done = subprocess.run(
        [sys.executable, str(FIXTURES / "make_fixtures.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return out


# -- comparing what a codec build may encode differently --------------------------------------


def same_picture(a: bytes, b: bytes, *, lossy: bool) -> bool:
    """Same size and mode, and the same pixels (within 1 grey level on average if lossy)."""
    first, second = Image.open(io.BytesIO(a)), Image.open(io.BytesIO(b))
    if (first.size, first.mode) != (second.size, second.mode):
        return False
    difference = ImageChops.difference(first.convert("L"), second.convert("L"))
    if not lossy:
        return difference.getbbox() is None
    return ImageStat.Stat(difference).mean[0] <= 1.0


_OBJECT = re.compile(rb"(\d+) 0 obj\n")
_LENGTH = re.compile(rb"<< /Length (\d+)")


def pdf_objects(data: bytes) -> list[tuple[bytes, bytes | None]]:
    """(dictionary or body, stream data or None) of each object the shared writer wrote."""
    objects = []
    pos = data.index(b"\n1 0 obj\n") + 1
    while match := _OBJECT.match(data, pos):
        start = match.end()
        if length := _LENGTH.match(data, start):
            head_end = data.index(b">>\nstream\n", start) + 2
            begin = head_end + len(b"\nstream\n")
            stream = data[begin : begin + int(length[1])]
            objects.append((data[start:head_end], stream))
            pos = data.index(b"\nendstream\nendobj\n", begin + len(stream)) + 18
        else:
            end = data.index(b"\nendobj\n", start)
            objects.append((data[start:end], None))
            pos = end + len(b"\nendobj\n")
    return objects


def same_pdf(a: bytes, b: bytes) -> bool:
    """The same objects, with JPEG streams compared as pictures and flate streams inflated."""
    first, second = pdf_objects(a), pdf_objects(b)
    if len(first) != len(second):
        return False
    for (head_a, data_a), (head_b, data_b) in zip(first, second, strict=True):
        if _LENGTH.sub(b"", head_a) != _LENGTH.sub(b"", head_b) or (data_a is None) != (
            data_b is None
        ):
            return False
        if data_a is None or data_b is None or data_a == data_b:
            continue
        if b"/DCTDecode" in head_a and same_picture(data_a, data_b, lossy=True):
            continue
        if b"/FlateDecode" in head_a and zlib.decompress(data_a) == zlib.decompress(data_b):
            continue
        return False
    return True


def same_file(name: str, made: bytes, committed: bytes) -> bool:
    if made == committed:
        return True
    if name.endswith((".png", ".jpg")):
        return same_picture(made, committed, lossy=name.endswith(".jpg"))
    return name.endswith(".pdf") and same_pdf(made, committed)


# -- the fixtures ----------------------------------------------------------------------------


def printed_by_chromium(name: str) -> bool:
    """What print_html.py makes: printed/web_*.pdf, its HTML and its truth."""
    return re.fullmatch(r"printed/(html/|expected/)?web_\w+\.(pdf|html|json)", name) is not None


def test_regenerating_gives_the_committed_fixtures(regenerated: Path) -> None:
    made = files_under(regenerated)
    committed = {n: p for n, p in files_under(FIXTURES).items() if not printed_by_chromium(n)}
    assert sorted(made) == sorted(committed)  # nothing missing, nothing stale
    different = [n for n in made if made[n].read_bytes() != committed[n].read_bytes()]
    unequal = [
        name
        for name in different
        if not same_file(name, made[name].read_bytes(), committed[name].read_bytes())
    ]
    assert unequal == [], f"regenerated fixtures differ: {unequal} (bytes: {different})"


def test_the_browser_printed_sources_regenerate(tmp_path: Path) -> None:
    # The PDFs need Chromium (print_html.py); the HTML they were printed from and the truth
    # come from the script's data and must match what is committed.
    done = subprocess.run(
        [sys.executable, str(FIXTURES / "print_html.py"), "--sources-only", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    made = {f"printed/{n}": p for n, p in files_under(tmp_path).items()}
    committed = {n: p for n, p in files_under(FIXTURES).items() if printed_by_chromium(n)}
    assert sorted(made) == sorted(n for n in committed if not n.endswith(".pdf"))
    assert [n for n in made if made[n].read_bytes() != committed[n].read_bytes()] == []
    stems = {Path(n).stem for n in made}
    assert {Path(n).stem for n in committed if n.endswith(".pdf")} == stems and len(stems) >= 3


# -- the comparison itself -------------------------------------------------------------------


def test_png_and_jpeg_are_compared_by_their_pixels(regenerated: Path) -> None:
    scan = Image.open(regenerated / "scan.png")
    for save, lossy in (
        ({"format": "PNG", "compress_level": 1}, False),
        ({"format": "JPEG", "quality": 95, "optimize": False}, True),
    ):
        first, second = io.BytesIO(), io.BytesIO()
        scan.save(first, **{**save, "optimize": True} if lossy else save)
        scan.save(second, **save)
        name = "x.jpg" if lossy else "x.png"
        reference = first.getvalue() if lossy else (regenerated / "scan.png").read_bytes()
        assert second.getvalue() != reference and same_file(name, second.getvalue(), reference)
    speck = scan.copy()
    speck.putpixel((600, 900), 0 if scan.getpixel((600, 900)) else 255)
    changed = io.BytesIO()
    speck.save(changed, format="PNG")
    assert not same_file("x.png", changed.getvalue(), (regenerated / "scan.png").read_bytes())


def test_pdfs_are_compared_by_decoded_streams(regenerated: Path) -> None:
    scan = Image.open(regenerated / "scan.png")

    def pdf(total: str, *, level: int = 9, optimize: bool = True, title: str = "t") -> bytes:
        writer = PdfWriter(title=title)
        jpeg = io.BytesIO()
        scan.save(jpeg, format="JPEG", quality=45, optimize=optimize)
        image = writer.add_jpeg(jpeg.getvalue(), scan.width, scan.height)
        page = writer.page()
        page.image(image, 0, 0, page.width, page.height)
        page.text(56, 72, f"Gesamtbetrag {total} €")
        page.encoded_content(zlib.compress(page.content(), level))
        return writer.to_bytes()

    reference = pdf("1.468,46")
    assert [stream is not None for _, stream in pdf_objects(reference)].count(True) == 2
    for variant in (pdf("1.468,46", level=1), pdf("1.468,46", optimize=False)):
        assert variant != reference and same_file("x.pdf", variant, reference)
    for changed in (pdf("1.468,47"), pdf("1.468,46", title="u")):
        assert not same_file("x.pdf", changed, reference)
