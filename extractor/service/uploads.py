"""Receive a multipart upload straight into files the server names, within limits.

The body is parsed as it streams in (``python-multipart``), each file written to
``<staging>/<n>`` while its sha256 is computed, so a large upload never sits in memory
and a file over ``max_bytes``, or one file too many, is refused with 413 the moment it
shows, not after the rest has been received. The client's file name is kept only as a
*label* (cleaned of path parts and control characters) for records and the review page.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

__all__ = [
    "Form",
    "Upload",
    "UploadRejected",
    "clean_label",
    "make_durable",
    "receive_form",
    "stored_suffix",
]

_MAX_FIELDS = 16
_MAX_FIELD_BYTES = 64 * 1024
_LABEL_CHARS = 200
_SUFFIXES = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp",
                       ".gif", ".txt", ".text", ".md"})  # fmt: skip


class UploadRejected(Exception):
    """The upload breaks a limit or is not a usable form (``status`` 400, 413 or 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Upload:
    """One received file: where the server put it, and what the client called it."""

    path: Path
    label: str
    size: int
    sha256: str

    @property
    def suffix(self) -> str:
        """A server-chosen suffix for storing it (see :func:`stored_suffix`)."""
        return stored_suffix(self.label)


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[Upload] = field(default_factory=list)


def stored_suffix(label: str) -> str:
    """The suffix a stored file gets: the label's when it is a known one, else ``.bin``
    (readers sniff content; only text files are told apart by their suffix)."""
    suffix = Path(label).suffix.lower()
    return suffix if suffix in _SUFFIXES else ".bin"


def clean_label(name: str, number: int) -> str:
    """The last path part of a client's file name, printable, at most 200 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    if base in ("", ".", ".."):
        return f"document-{number}"
    return base[-_LABEL_CHARS:]


class _Receiver:
    """python-multipart callbacks that write file parts to disk and keep small fields."""

    def __init__(self, staging: Path, file_field: str, max_files: int, max_bytes: int) -> None:
        self.staging, self.file_field = staging, file_field
        self.max_files, self.max_bytes = max_files, max_bytes
        self.form = Form()
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._field: str | None = None
        self._value = bytearray()
        self._file: IO[bytes] | None = None
        self._label = ""
        self._unnamed = False
        self._size = 0
        self._hash: Any = None

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value_part, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done, "on_part_data": self._data,
            "on_part_end": self._end,
        }  # fmt: skip

    def _begin(self) -> None:
        self._disposition, self._field, self._value = b"", None, bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_part(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise UploadRejected(400, "a form part has no name")
        self._field = options[b"name"].decode("utf-8", "replace")
        if b"filename" not in options:
            if len(self.form.fields) >= _MAX_FIELDS:
                raise UploadRejected(413, f"more than {_MAX_FIELDS} form fields")
            return
        if self._field != self.file_field:
            raise UploadRejected(400, f"files go in the {self.file_field!r} field")
        if len(self.form.files) >= self.max_files:
            raise UploadRejected(413, f"more than {self.max_files} file(s) in one request")
        number = len(self.form.files) + 1
        self._unnamed = not options[b"filename"]
        self._label = clean_label(options[b"filename"].decode("utf-8", "replace"), number)
        name = f"{number}{stored_suffix(self._label)}"
        self._file = open(self.staging / name, "wb")  # noqa: SIM115 (closed in _end)
        self._size, self._hash = 0, hashlib.sha256()

    def _data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file is None:
            if len(self._value) + len(chunk) > _MAX_FIELD_BYTES:
                raise UploadRejected(413, f"form field {self._field!r} is over 64 KiB")
            self._value += chunk
            return
        self._size += len(chunk)
        if self._size > self.max_bytes:
            raise UploadRejected(
                413, f"{self._label}: over the upload limit of {self.max_bytes:,} bytes"
            )
        self._hash.update(chunk)
        self._file.write(chunk)

    def _end(self) -> None:
        if self._file is None:
            if self._field is not None:
                self.form.fields[self._field] = self._value.decode("utf-8", "replace")
            return
        self._file.close()
        path = Path(self._file.name)
        self._file = None
        if self._size == 0 and self._unnamed:
            path.unlink()  # a browser's empty file input: no file was chosen
            return
        self.form.files.append(Upload(path, self._label, self._size, self._hash.hexdigest()))

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def receive_form(
    request: Request, staging: Path, *, file_field: str, max_files: int, max_bytes: int
) -> Form:
    """Parse ``request``'s multipart body, writing its files into ``staging``.

    Raises:
        UploadRejected: not multipart (415), malformed (400), or over a limit (413).
            Files already written stay in ``staging`` for the caller to remove.
    """
    content_type, params = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise UploadRejected(415, "send multipart/form-data")
    staging.mkdir(parents=True, exist_ok=True)
    receiver = _Receiver(staging, file_field, max_files, max_bytes)
    parser = MultipartParser(params[b"boundary"], receiver.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise UploadRejected(400, f"malformed multipart body: {exc}") from None
    finally:
        receiver.abort()
    return receiver.form


def make_durable(paths: list[Path]) -> None:
    """fsync ``paths`` and their folders, so a job's files outlive a power cut as its
    rows do (``synchronous=FULL``)."""
    folders = {path.parent for path in paths}
    for path in [*paths, *folders]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
