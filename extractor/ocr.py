"""OCR for pages with no text layer, with rapidocr (PP-OCR ONNX models inside its wheel).

The engine loads once per process (about a second) and is reused. It is an optional
extra: without it, pages that need OCR raise :class:`~extractor.errors.ConfigError`
with the install hint.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from extractor.errors import ConfigError

__all__ = ["OcrLine", "available", "read", "to_text"]

_ENGINE: Any = None
_LOCK = threading.Lock()


@dataclass(frozen=True)
class OcrLine:
    """One recognised line: its text, box (x0, top, x1, bottom, in image pixels), score."""

    text: str
    box: tuple[float, float, float, float]
    score: float
    row: int = 0


def available() -> bool:
    """Whether the OCR engine is installed."""
    import importlib.util

    return importlib.util.find_spec("rapidocr") is not None


def _engine() -> Any:
    global _ENGINE
    if _ENGINE is None:
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:
            raise ConfigError(
                "this page has no text layer and needs OCR, which is not installed: "
                "pip install 'extractor[local]' (or pass --no-ocr / use a vision model)"
            ) from exc
        _ENGINE = RapidOCR(params={"Global.log_level": "critical"})
    return _ENGINE


def read(image: Any) -> list[OcrLine]:
    """Recognise the text lines of a PIL image, top to bottom, left to right."""
    import numpy as np

    pixels = np.asarray(image.convert("RGB"))
    with _LOCK:  # one engine, one inference at a time; onnxruntime uses both cores anyway
        output = _engine()(pixels)
    if output.txts is None or output.boxes is None:
        return []
    lines = []
    for text, quad, score in zip(output.txts, output.boxes, output.scores, strict=False):
        xs = [float(p[0]) for p in quad]
        ys = [float(p[1]) for p in quad]
        lines.append(OcrLine(str(text), (min(xs), min(ys), max(xs), max(ys)), float(score)))
    return _reading_order(lines)


def _reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """Sort lines into rows (boxes whose vertical centres are within half a line height)."""
    lines = sorted(lines, key=lambda line: (line.box[1] + line.box[3]) / 2)
    rows: list[list[OcrLine]] = []
    for line in lines:
        centre = (line.box[1] + line.box[3]) / 2
        if rows:
            last = rows[-1][0]
            height = last.box[3] - last.box[1]
            if abs(centre - (last.box[1] + last.box[3]) / 2) < height / 2:
                rows[-1].append(line)
                continue
        rows.append([line])
    return [
        OcrLine(line.text, line.box, line.score, index)
        for index, row in enumerate(rows)
        for line in sorted(row, key=lambda item: item.box[0])
    ]


def to_text(lines: list[OcrLine]) -> str:
    """Lines of one row joined by spaces, rows by newlines: ``TOTAL 35.60`` stays together."""
    rows: dict[int, list[str]] = {}
    for line in lines:
        rows.setdefault(line.row, []).append(line.text)
    return "\n".join(" ".join(texts) for _, texts in sorted(rows.items()))
