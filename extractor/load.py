"""Load stage: what is this input? Bytes, media type from magic bytes, sha256, size.

Hostile input stops here where it can be told cheaply: directories, FIFOs and other
special files (opening a FIFO would block forever), empty files, files over the size cap,
bytes we do not know how to read, and images cut short (a PNG without its end chunk
still decodes, so it would be sent: half a page to the model).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from extractor.errors import CorruptInput, EmptyInput, InputError, InputTooLarge, UnsupportedInput

__all__ = ["SUPPORTED_MEDIA_TYPES", "Document", "Source", "load", "sniff_media_type"]

Source = str | os.PathLike[str] | bytes
"""What a document can be given as: a path, or its bytes."""

SUPPORTED_MEDIA_TYPES = (
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/tiff",
    "image/gif",
    "text/plain",
    "text/markdown",
)
_TEXT_SUFFIXES = {".txt": "text/plain", ".text": "text/plain", ".md": "text/markdown",
                  ".markdown": "text/markdown"}  # fmt: skip


@dataclass(frozen=True, repr=False)
class Document:
    """One input, read into memory and identified.

    Attributes:
        source: how the caller named it (a path, or ``<bytes>``).
        data: the raw bytes.
        media_type: from the magic bytes, not the file name.
        sha256: hex digest of ``data``; the document's identity for resume.
    """

    source: str
    data: bytes
    media_type: str
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"Document({self.source!r}, {self.media_type}, {self.size} bytes)"


def sniff_media_type(data: bytes, name: str = "") -> str | None:
    """Media type from the first bytes; the file name only decides between text flavours."""
    head = data[:1024]
    if b"%PDF-" in head:  # PDF allows junk before the header
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if _looks_like_text(head):
        return _TEXT_SUFFIXES.get(Path(name).suffix.lower(), "text/plain")
    return None


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the 1024-byte boundary is still text.
        if exc.start < len(head) - 4:
            return False
    return True


def load(source: Source, *, max_bytes: int | None = None) -> Document:
    """Read and identify one input.

    Args:
        source: a path, or the document's bytes.
        max_bytes: refuse files larger than this.

    Raises:
        InputError: (or a subclass) when the input cannot be used.

    Example:
        >>> load(b"%PDF-1.7 ...").media_type
        'application/pdf'
    """
    if isinstance(source, bytes):
        return _identify("<bytes>", source, max_bytes)
    path = Path(source)
    data = _read_regular_file(path, max_bytes)
    return _identify(str(path), data, max_bytes)


def _read_regular_file(path: Path, max_bytes: int | None) -> bytes:
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise InputError(f"no such file: {path}", path=str(path)) from exc
    except OSError as exc:
        raise InputError(f"cannot stat {path}: {exc.strerror}", path=str(path)) from exc
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path} is a directory", path=str(path))
    if not stat.S_ISREG(info.st_mode):
        raise UnsupportedInput(f"{path} is not a regular file", path=str(path))
    if max_bytes is not None and info.st_size > max_bytes:
        raise InputTooLarge(
            f"{path} is {info.st_size:,} bytes, over the {max_bytes:,}-byte cap", path=str(path)
        )
    try:
        # O_NONBLOCK: if the file was swapped for a FIFO since stat(), open() must not hang.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            return handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", path=str(path)) from exc


def _identify(source: str, data: bytes, max_bytes: int | None) -> Document:
    if not data:
        raise EmptyInput(f"{source} is empty (0 bytes)", path=source)
    if max_bytes is not None and len(data) > max_bytes:
        raise InputTooLarge(f"{source} is over the {max_bytes:,}-byte cap", path=source)
    media_type = sniff_media_type(data, source)
    if media_type is None:
        raise UnsupportedInput(
            f"{source}: not a PDF, image (PNG, JPEG, WebP, TIFF, GIF) or text file", path=source
        )
    _check_complete(source, data, media_type)
    return Document(source, data, media_type, hashlib.sha256(data).hexdigest())


def _check_complete(source: str, data: bytes, media_type: str) -> None:
    """Refuse an image whose own structure says it was cut short.

    (A JPEG without its end marker, or a PNG cut inside its image data, fails to decode
    later; these two decode, or would be half read, without a word.)
    """
    if media_type == "image/png" and data.rfind(b"IEND") < 0:
        raise CorruptInput(f"{source}: truncated PNG (it has no IEND chunk)", path=source)
    if media_type == "image/webp" and int.from_bytes(data[4:8], "little") + 8 > len(data):
        raise CorruptInput(f"{source}: truncated WebP (shorter than its header says)", path=source)
