"""Test doubles and builders for extractor's own tests and for its users' tests.

- `ScriptedServer` (with `Reply` and `RecordedRequest`): a real OpenAI-compatible HTTP
  server on 127.0.0.1 that answers from a script.
- `TruthModel`: a responder for it that plays a model knowing the document's truth but
  answering only what each request shows, cut at its ``max_tokens``.
- `extractor.testing.pdf`: a small PDF writer for test documents (base-14 fonts, text at
  positions, glyph-by-glyph text, hidden text, lines, JPEG images, raw objects).

Example:
    >>> from extractor.testing import Reply, ScriptedServer
    >>> from extractor.testing.pdf import PdfWriter
"""

from __future__ import annotations

from extractor.testing.oracle import TruthModel
from extractor.testing.server import RecordedRequest, Reply, ScriptedServer

__all__ = ["RecordedRequest", "Reply", "ScriptedServer", "TruthModel"]
