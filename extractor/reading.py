"""Reading a document: load it, then prepare its pages. What a reading worker runs.

Kept apart from :mod:`extractor.pipeline` so that a worker process
(:mod:`extractor.isolate`) imports only the readers (pypdfium2, Pillow, OCR on demand),
not the model stack.
"""

from __future__ import annotations

import os

from extractor.load import Document, load
from extractor.pages import Page, read_pages
from extractor.settings import Settings

__all__ = ["Source", "prepare"]

Source = str | os.PathLike[str] | bytes


def prepare(source: Source, settings: Settings, *, vision: bool) -> tuple[Document, list[Page]]:
    """Load a source and read its pages (blocking; run it in a worker thread or process)."""
    document = load(source, max_bytes=settings.max_bytes)
    return document, read_pages(document, settings.page_options(vision=vision))
