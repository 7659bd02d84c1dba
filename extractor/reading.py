"""Reading a document: load it, then prepare its pages. What a reading worker runs.

Kept apart from :mod:`extractor.pipeline` so that a worker process
(:mod:`extractor.isolate`) imports only the readers (pypdfium2, Pillow, OCR on demand),
not the model stack: it is told nothing but :class:`~extractor.settings.PageOptions`.
"""

from __future__ import annotations

from extractor.load import Document, Source, load
from extractor.pages import Page, read_pages
from extractor.settings import PageOptions

__all__ = ["prepare"]


def prepare(source: Source, options: PageOptions) -> tuple[Document, list[Page]]:
    """Load a source and read its pages (blocking; run it in a worker thread or process)."""
    document = load(source, max_bytes=options.max_bytes)
    return document, read_pages(document, options)
