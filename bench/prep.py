"""Preparation cost per page: extractor's ``prepare`` against hand-written pypdfium2 code.

    .venv/bin/python bench/prep.py [--repeats 5] [--corpus DIR] [--profile]

Every repeat runs each variant once over every page of every PDF in the corpus (default
``../shared/eval/invoices``), in an order rotated per repeat so drift on a noisy machine
spreads over all variants. Figures are per-page milliseconds of process CPU time (the
primary figure: on a shared machine other tenants inflate wall time, not our CPU time;
every variant is single-threaded) and of wall time, median over the repeats;
each ratio is computed inside one repeat (both variants timed minutes apart at most) and
the median of those ratios is reported. Files that ``prepare`` fails on are reported and
left out of every variant, so all variants see the same pages.

Variants (all single-threaded, same pages, rendered at the same size as extractor):

- ``raw_render``: ``PdfDocument(path)``, per page ``page.render(scale).to_pil()`` at the
  scale extractor renders at (150 dpi, capped at a long side of 1540 px): the issue-2
  baseline. Does no text and no encoding.
- ``direct``: open, ``get_text_range``, render at the same scale, JPEG q85: vision mode
  without the text layer's boxes and hidden-text checks (the issue-9 baseline).
- ``direct_layer``: the hand-written equivalent of extractor's vision mode with the text
  layer it reads: open, per page the text layer written out plainly here
  (:func:`hand_layer`: the page text, the text object of each character, one box per
  word of one object, render mode, colour and loose size per object, one page
  transform, runs split at gaps, the visible text), render, JPEG q85.
- ``extractor_vision``: ``prepare(path, PageOptions(mode="vision", ocr=False))``:
  load (read, sniff, sha256) + text layer + render + JPEG.
- ``raw_text``: open, per page ``get_textpage().get_text_range()``.
- ``raw_layer``: open, per page :func:`hand_layer`.
- ``extractor_text``: ``prepare(path, PageOptions(mode="text", ocr=False))`` (OCR off:
  one page of the corpus has no text layer and raw text does no OCR either).

After the repeats, ``breakdown`` times each step of vision mode on its own (load, open,
text page, text layer, render, JPEG encode).
``--profile`` adds one cProfile pass of ``extractor_vision`` and prints where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import ctypes
import io
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from _common import EVAL, machine, median, spread, write_result
from PIL import Image

from extractor import images
from extractor.load import load
from extractor.pdftext import read_layer
from extractor.reading import prepare
from extractor.settings import PageOptions

CORPUS = EVAL / "invoices"
DPI = 150
MAX_SIDE = 1540
JPEG_QUALITY = 85  # extractor.images._JPEG_QUALITY


def render_scale(width: float, height: float) -> float:
    """The scale extractor.pages._render picks (kept in step with it by check_sizes)."""
    return min(DPI / 72, (MAX_SIDE - 0.5) / max(width, height, 1))


def sent_size(bitmap_size: tuple[int, int]) -> tuple[int, int]:
    width, height = bitmap_size
    if max(width, height) <= MAX_SIDE:
        return width, height
    ratio = MAX_SIDE / max(width, height)
    return max(1, round(width * ratio)), max(1, round(height * ratio))


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=False)
    return buffer.getvalue()


# -- variants: each takes the file list and returns the number of pages it handled --------


def raw_render(files: list[Path]) -> int:
    count = 0
    for path in files:
        pdf = pdfium.PdfDocument(path)
        try:
            for index in range(len(pdf)):
                page = pdf[index]
                width, height = page.get_size()
                page.render(scale=render_scale(width, height)).to_pil()
                page.close()
                count += 1
        finally:
            pdf.close()
    return count


def direct(files: list[Path]) -> int:
    count = 0
    for path in files:
        pdf = pdfium.PdfDocument(path)
        try:
            for index in range(len(pdf)):
                page = pdf[index]
                width, height = page.get_size()
                textpage = page.get_textpage()
                textpage.get_text_range()
                textpage.close()
                image = page.render(scale=render_scale(width, height)).to_pil()
                size = sent_size(image.size)
                if size != image.size:
                    image = image.resize(size, Image.Resampling.LANCZOS)
                jpeg(image)
                page.close()
                count += 1
        finally:
            pdf.close()
    return count


def _extractor(files: list[Path], mode: str) -> int:
    options = PageOptions(mode=mode, ocr=False)  # type: ignore[arg-type]
    return sum(len(prepare(path, options)[1]) for path in files)


def extractor_vision(files: list[Path]) -> int:
    return _extractor(files, "vision")


def extractor_text(files: list[Path]) -> int:
    return _extractor(files, "text")


def raw_text(files: list[Path]) -> int:
    count = 0
    for path in files:
        pdf = pdfium.PdfDocument(path)
        try:
            for index in range(len(pdf)):
                page = pdf[index]
                textpage = page.get_textpage()
                textpage.get_text_range()
                textpage.close()
                page.close()
                count += 1
        finally:
            pdf.close()
    return count


# -- the text layer written out by hand -------------------------------------------------------

# FPDFText_GetTextObject giving the object's address as an int (a dict key), as extractor
# calls it: both sides use the same PDFium calls per character.
_GET_OBJECT = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)(
    ctypes.cast(pdfium_c.FPDFText_GetTextObject, ctypes.c_void_p).value
)


def _object_style(textpage: Any, index: int, address: int | None) -> tuple[bool, float]:
    """(render mode and fill colour visible, loose height) of a character's text object."""
    rect, matrix = pdfium_c.FS_RECTF(), pdfium_c.FS_MATRIX()
    pdfium_c.FPDFText_GetLooseCharBox(textpage, index, rect)
    pdfium_c.FPDFText_GetMatrix(textpage, index, matrix)  # extractor asks for text direction
    if not address:
        return True, rect.top - rect.bottom
    obj = ctypes.cast(address, pdfium_c.FPDF_PAGEOBJECT)
    mode = pdfium_c.FPDFTextObj_GetTextRenderMode(obj)
    r, g, b, a = (ctypes.c_uint() for _ in range(4))
    coloured = pdfium_c.FPDFPageObj_GetFillColor(obj, r, g, b, a)
    white = coloured and (a.value == 0 or min(r.value, g.value, b.value) >= 248)
    return mode not in (3, 7) and not white, rect.top - rect.bottom


def hand_layer(page: Any, textpage: Any) -> tuple[str, list[tuple[str, tuple[float, ...], bool]]]:
    """The page text a reader sees and its runs (text, top-left box, visible): the work of
    ``extractor.pdftext.read_layer``, written as one would by hand for upright pages.

    Same PDFium calls: the page text at once, the text object of every character, one
    rectangle per word of one text object (a glyph's own box for a word of one glyph),
    render mode, fill colour and loose size once per object, one page transform.
    """
    width, height = page.get_size()
    bbox = pdfium_c.FS_RECTF()
    pdfium_c.FPDF_GetPageBoundingBox(page, bbox)  # the page transform, once (no /Rotate here)
    raw = textpage.raw
    count = pdfium_c.FPDFText_CountChars(raw)
    text = textpage.get_text_range()
    if len(text) != count:
        text = "".join(chr(pdfium_c.FPDFText_GetUnicode(raw, i)) for i in range(count))
    address = ctypes.cast(raw, ctypes.c_void_p)
    objects = [_GET_OBJECT(address, i) for i in range(count)]
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    pointers = [ctypes.pointer(v) for v in (left, right, bottom, top)]
    styles: dict[int | None, tuple[bool, float]] = {}
    words: list[_Word] = []
    i = 0
    while i < count:
        if text[i].isspace():
            words.append((text[i], None, True, 0.0))
            i += 1
            continue
        end = i + 1
        while end < count and objects[end] == objects[i] and not text[end].isspace():
            end += 1
        if objects[i] not in styles:
            styles[objects[i]] = _object_style(raw, i, objects[i])
        painted, size = styles[objects[i]]
        if end - i == 1:
            pdfium_c.FPDFText_GetCharBox(raw, i, *pointers)
        elif pdfium_c.FPDFText_CountRects(raw, i, end - i) == 1:
            pdfium_c.FPDFText_GetRect(raw, 0, left, top, right, bottom)
        x0, x1, y0, y1 = left.value, right.value, bottom.value, top.value
        box = (x0 - bbox.left, bbox.top - y1, x1 - bbox.left, bbox.top - y0)
        size = max(size, y1 - y0)
        on_page = box[2] >= 0 and box[0] <= width and box[3] >= 0 and box[1] <= height
        words.append((text[i:end], box, painted and on_page and size >= 1.0, size))
        i = end
    shown = "".join(word for word, box, visible, _ in words if visible or box is None)
    return shown.replace("\r\n", "\n"), _hand_runs(words)


_Word = tuple[str, tuple[float, float, float, float] | None, bool, float]


def _hand_runs(words: list[_Word]) -> list[tuple[str, tuple[float, ...], bool]]:
    runs: list[tuple[str, tuple[float, ...], bool]] = []
    current: list[_Word] = []
    for word, box, visible, size in words:
        if box is None:
            if word in "\r\n":
                if current:
                    runs.append(_hand_run(current))
                current = []
            elif current:
                current.append((word, box, visible, size))
            continue
        if current:
            last = next(w for w in reversed(current) if w[1] is not None)
            assert last[1] is not None
            gap = max(box[0] - last[1][2], last[1][0] - box[2], box[1] - last[1][3])
            if visible != last[2] or gap > 0.8 * max(size, last[3], 1.0):
                runs.append(_hand_run(current))
                current = []
        current.append((word, box, visible, size))
    if current:
        runs.append(_hand_run(current))
    return runs


def _hand_run(chars: list[_Word]) -> tuple[str, tuple[float, ...], bool]:
    boxes = [box for _, box, _, _ in chars if box is not None]
    text = "".join(ch for ch, _, _, _ in chars).strip()
    union = tuple(f(v) for f, v in zip((min, min, max, max), zip(*boxes, strict=True), strict=True))
    return text, union, chars[0][2]


def direct_layer(files: list[Path]) -> int:
    count = 0
    for path in files:
        pdf = pdfium.PdfDocument(path)
        try:
            for index in range(len(pdf)):
                page = pdf[index]
                width, height = page.get_size()
                textpage = page.get_textpage()
                hand_layer(page, textpage)
                textpage.close()
                image = page.render(scale=render_scale(width, height)).to_pil()
                size = sent_size(image.size)
                if size != image.size:
                    image = image.resize(size, Image.Resampling.LANCZOS)
                jpeg(image)
                page.close()
                count += 1
        finally:
            pdf.close()
    return count


def raw_layer(files: list[Path]) -> int:
    count = 0
    for path in files:
        pdf = pdfium.PdfDocument(path)
        try:
            for index in range(len(pdf)):
                page = pdf[index]
                textpage = page.get_textpage()
                hand_layer(page, textpage)
                textpage.close()
                page.close()
                count += 1
        finally:
            pdf.close()
    return count


VARIANTS: dict[str, Callable[[list[Path]], int]] = {
    "raw_render": raw_render,
    "direct": direct,
    "direct_layer": direct_layer,
    "extractor_vision": extractor_vision,
    "raw_text": raw_text,
    "raw_layer": raw_layer,
    "extractor_text": extractor_text,
}

RATIOS = {
    "extractor_vision / raw_render": ("extractor_vision", "raw_render"),
    "extractor_vision / direct": ("extractor_vision", "direct"),
    "extractor_vision / direct_layer": ("extractor_vision", "direct_layer"),
    "direct / raw_render": ("direct", "raw_render"),
    "direct_layer / direct": ("direct_layer", "direct"),
    "extractor_text / raw_text": ("extractor_text", "raw_text"),
    "extractor_text / raw_layer": ("extractor_text", "raw_layer"),
}


def readable(files: list[Path]) -> tuple[list[Path], dict[str, str]]:
    """The files ``prepare`` can read, and why it fails on the rest (a finding in itself)."""
    good, failed = [], {}
    for path in files:
        try:
            prepare(path, PageOptions(mode="text", ocr=False))
        except Exception as exc:  # reported, and the file left out of every variant
            failed[path.name] = f"{type(exc).__name__}: {exc}"[:200]
        else:
            good.append(path)
    return good, failed


def check_sizes(files: list[Path]) -> dict[str, Any]:
    """The baselines must produce the images extractor sends: same sizes, page for page."""
    options = PageOptions(mode="vision", ocr=False)
    sizes = []
    for path in files:
        _, prepared = prepare(path, options)
        pdf = pdfium.PdfDocument(path)
        for page_info in prepared:
            page = pdf[page_info.number - 1]
            width, height = page.get_size()
            bitmap = page.render(scale=render_scale(width, height)).to_pil()
            assert page_info.image is not None
            sizes.append(
                (
                    (page_info.image.width, page_info.image.height),
                    sent_size(bitmap.size),
                    bitmap.size,
                )
            )
            page.close()
        pdf.close()
    mismatched = [s for s in sizes if s[0] != s[1]]
    rendered = sorted({s[2] for s in sizes})
    sent = sorted({s[0] for s in sizes})
    return {
        "pages": len(sizes),
        "mismatched": len(mismatched),
        "rendered_sizes": rendered,
        "sent_sizes": sent,
    }


def breakdown(files: list[Path], repeats: int) -> dict[str, float]:
    """Per-page ms of each step of vision mode, timed one by one (median over repeats).

    Uses extractor's own steps (``load``, ``pdftext.read_layer``, ``images.encode``) so the
    attribution matches what ``prepare`` does; no profiler overhead.
    """
    steps = ("load", "open", "text_page", "text_layer", "render", "jpeg_encode")
    per_repeat: dict[str, list[float]] = {step: [] for step in steps}
    for _ in range(repeats):
        spent = dict.fromkeys(steps, 0.0)
        count = 0
        for path in files:
            t = time.process_time()
            document = load(path)
            spent["load"] += time.process_time() - t
            t = time.process_time()
            pdf = pdfium.PdfDocument(document.data)
            spent["open"] += time.process_time() - t
            for index in range(len(pdf)):
                page = pdf[index]
                width, height = page.get_size()
                t = time.process_time()
                textpage = page.get_textpage()
                spent["text_page"] += time.process_time() - t
                t = time.process_time()
                read_layer(page, textpage, width, height)
                spent["text_layer"] += time.process_time() - t
                textpage.close()
                scale = render_scale(width, height)
                t = time.process_time()
                bitmap = page.render(scale=scale, may_draw_forms=True).to_pil()
                spent["render"] += time.process_time() - t
                t = time.process_time()
                images.encode(bitmap, MAX_SIDE)  # nothing to resize: the JPEG encode alone
                spent["jpeg_encode"] += time.process_time() - t
                page.close()
                count += 1
            pdf.close()
        for step in steps:
            per_repeat[step].append(spent[step] / count * 1000)
    return {step: round(median(values), 2) for step, values in per_repeat.items()}


def profile(files: list[Path]) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    extractor_vision(files)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime")
    stats.print_stats(18)
    return out.getvalue()


def report(
    per_page: dict[str, list[float]], ratios: dict[str, list[float]], clock: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Print and return the medians (with min and max) of one clock's figures."""
    summary = {n: {k: round(v, 2) for k, v in spread(vs).items()} for n, vs in per_page.items()}
    ratio_summary = {
        label: {k: round(v, 3) for k, v in spread(values).items()}
        for label, values in ratios.items()
    }
    print(f"\nper-page ms, {clock} time (median [min–max] over repeats):")
    for name, s in summary.items():
        print(f"  {name:24s} {s['median']:8.2f}  [{s['min']:.2f}–{s['max']:.2f}]")
    print(f"\nratios, {clock} time (each within one repeat; median [min–max]):")
    for label, s in ratio_summary.items():
        print(
            f"  {label:44s} {s['median']:.3f}  [{s['min']:.3f}–{s['max']:.3f}]  "
            f"overhead {100 * (s['median'] - 1):+.1f}%"
        )
    return summary, ratio_summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    files = sorted(args.corpus.glob("*.pdf"))
    print(f"machine: {machine()}")
    files, failed = readable(files)
    for name, reason in failed.items():
        print(f"left out (extractor's prepare fails, raw pypdfium2 does not): {name}: {reason}")
    sizes = check_sizes(files)
    print(
        f"corpus: {len(files)} PDFs, {sizes['pages']} pages; rendered sizes "
        f"{sizes['rendered_sizes']}; sent sizes {sizes['sent_sizes']}; "
        f"size mismatches vs baseline: {sizes['mismatched']}"
    )
    for fn in VARIANTS.values():  # warm caches, imports and the page cache once
        fn(files[:3])
    names = list(VARIANTS)
    clocks = {"cpu": time.process_time, "wall": time.perf_counter}
    per_page = {c: {name: [] for name in names} for c in clocks}
    ratios = {c: {label: [] for label in RATIOS} for c in clocks}
    for repeat in range(args.repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        spent: dict[str, dict[str, float]] = {c: {} for c in clocks}
        for name in order:
            cpu, wall = time.process_time(), time.perf_counter()
            count = VARIANTS[name](files)
            spent["cpu"][name] = time.process_time() - cpu
            spent["wall"][name] = time.perf_counter() - wall
            for c in clocks:
                per_page[c][name].append(spent[c][name] / count * 1000)
        for c in clocks:
            for label, (a, b) in RATIOS.items():
                ratios[c][label].append(spent[c][a] / spent[c][b])
        line = "  ".join(f"{n}={per_page['cpu'][n][-1]:.1f}" for n in names)
        print(f"repeat {repeat + 1}/{args.repeats} CPU ms/page: {line}", flush=True)
    payload: dict[str, Any] = {
        "corpus": str(args.corpus),
        "files": len(files),
        "left_out": failed,
        "pages": sizes["pages"],
        "repeats": args.repeats,
        "sizes": sizes,
        "raw": {"per_page_ms": per_page, "ratios": ratios},
    }
    for c in clocks:
        payload[f"per_page_ms_{c}"], payload[f"ratios_{c}"] = report(per_page[c], ratios[c], c)
    steps = breakdown(files, args.repeats)
    print("\nvision mode step by step, per-page CPU ms (median of repeats, timed separately):")
    for step, value in steps.items():
        print(f"  {step:16s} {value:8.2f}")
    payload["breakdown_ms"] = steps
    if args.profile:
        text = profile(files)
        print("\ncProfile of one extractor_vision pass (by own time):\n" + text)
        payload["profile"] = text
    print(f"written: {write_result('prep', payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
