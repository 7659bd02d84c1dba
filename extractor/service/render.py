"""Page images for the review page, drawn in a child process and cached under ``--data``.

The review page shows each page with every value's box over it, so the image must be in
the same frame as the boxes: for a PDF, the page as PDFium lays it out, with its size in
points (boxes are in points, top-left origin); for an image, its frames after the EXIF
rotation the readers apply, with their size in pixels.

A reviewer's click must not put the server at the mercy of a hostile PDF (PDFium is not
thread-safe, and a small file can inflate to gigabytes), so drawing runs in a child
process (``python -m extractor.service.render``) with an address-space limit and a
deadline. Pages are drawn once per document content (sha256) and resolution; later
views read the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PageImage", "RenderFailed", "page_images"]

_MEMORY_BYTES = 2 << 30
_TIMEOUT_S = 60.0
_MAX_PIXELS = 40_000_000  # per drawn page; larger pages are drawn at a lower resolution
_LOCKS: dict[Path, asyncio.Lock] = {}


class RenderFailed(Exception):
    """The document's pages could not be drawn (the reason is the child's last line)."""


@dataclass(frozen=True)
class PageImage:
    """One drawn page: ``number`` (1-based), and its size in the units of its boxes."""

    number: int
    width: float
    height: float


async def page_images(
    source: Path, cache: Path, *, dpi: int, max_pages: int, password: str | None = None
) -> list[PageImage]:
    """The drawn pages of ``source`` (``<cache>/<n>.png`` each), drawing them first if needed.

    Raises:
        RenderFailed: the child failed, ran out of memory or time.
    """
    lock = _LOCKS.setdefault(cache, asyncio.Lock())
    async with lock:
        if not (cache / "pages.json").exists():
            await _draw(source, cache, dpi=dpi, max_pages=max_pages, password=password)
    listed = json.loads((cache / "pages.json").read_text())
    return [PageImage(**page) for page in listed]


async def _draw(source: Path, cache: Path, *, dpi: int, max_pages: int,
                password: str | None) -> None:  # fmt: skip
    partial = cache.with_name(f"{cache.name}.{uuid.uuid4().hex}.partial")
    env = {key: value for key, value in os.environ.items() if key != "EXTRACTOR_PDF_PASSWORD"}
    if password:
        env["EXTRACTOR_PDF_PASSWORD"] = password  # not on the command line, where ps shows it
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "extractor.service.render", str(source), str(partial), str(dpi),
        str(max_pages), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        _, errors = await asyncio.wait_for(child.communicate(), _TIMEOUT_S)
    except TimeoutError:
        child.kill()
        await child.wait()
        shutil.rmtree(partial, ignore_errors=True)
        raise RenderFailed(f"drawing the pages took over {_TIMEOUT_S:g} s") from None
    if child.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        lines = errors.decode("utf-8", "replace").strip().splitlines()
        raise RenderFailed(lines[-1] if lines else f"the drawing process died ({child.returncode})")
    cache.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError, OSError):
        os.replace(partial, cache)
    shutil.rmtree(partial, ignore_errors=True)


# -- the child ----------------------------------------------------------------------------


def _draw_pdf(path: Path, out: Path, dpi: int, max_pages: int) -> list[dict[str, Any]]:
    import pypdfium2 as pdfium

    pages = []
    pdf = pdfium.PdfDocument(str(path), password=os.environ.get("EXTRACTOR_PDF_PASSWORD"))
    try:
        for index in range(min(len(pdf), max_pages)):
            page = pdf[index]
            width, height = page.get_size()
            scale = min(dpi / 72, (_MAX_PIXELS / max(1.0, width * height)) ** 0.5)
            page.render(scale=scale).to_pil().save(out / f"{index + 1}.png")
            pages.append({"number": index + 1, "width": width, "height": height})
            page.close()
    finally:
        pdf.close()
    return pages


def _draw_image(path: Path, out: Path, max_pages: int) -> list[dict[str, Any]]:
    from extractor.images import open_frames
    from extractor.load import load

    document = load(path)
    if not document.media_type.startswith("image/"):
        return []  # a text file has no page to show
    pages = []
    for index, frame in enumerate(open_frames(document, _MAX_PIXELS)[:max_pages]):
        frame.save(out / f"{index + 1}.png")
        pages.append({"number": index + 1, "width": frame.width, "height": frame.height})
    return pages


def main(argv: list[str]) -> int:
    """``python -m extractor.service.render SOURCE OUT DPI MAX_PAGES``: draw into OUT/."""
    source, out, dpi, max_pages = Path(argv[0]), Path(argv[1]), int(argv[2]), int(argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_BYTES, _MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    out.mkdir(parents=True)
    with source.open("rb") as file:
        is_pdf = b"%PDF" in file.read(1024)
    try:
        pages = _draw_pdf(source, out, dpi, max_pages) if is_pdf else _draw_image(
            source, out, max_pages)  # fmt: skip
    except MemoryError:
        print("the page is too large to draw within the memory limit", file=sys.stderr)
        return 1
    except Exception as exc:  # reported to the parent as the reason
        print(f"cannot draw the pages: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    (out / "pages.json").write_text(json.dumps(pages))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
