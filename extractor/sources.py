"""Turn the paths a user names into the documents of a job.

Files named directly are always taken (a wrong extension becomes an error record, not a
silent skip). Folders are walked recursively, in sorted order so runs are repeatable,
keeping files that match an include glob and no exclude glob. Hidden files and folders
are skipped. Text files (``*.txt``, ``*.md``) are taken from folders only when an
include glob asks for them: a folder of scans often holds a README or notes.

A :class:`Skipped` given to :func:`iter_sources` counts what the walk left out that a
user may not expect: files with an extension extractor does not read, and text files.

The library's sources are checked here too (:func:`as_source`, :func:`checked_sources`):
a path, bytes (a bytearray too) or a binary file object; anything else is a
:class:`~extractor.errors.ConfigError` before a document is read.
"""

from __future__ import annotations

import fnmatch
import io
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor.errors import ConfigError
from extractor.load import Source

__all__ = [
    "DEFAULT_INCLUDE",
    "TEXT_INCLUDE",
    "Skipped",
    "as_source",
    "checked_sources",
    "iter_sources",
]

DEFAULT_INCLUDE = ("*.pdf", "*.png", "*.jpg", "*.jpeg", "*.webp", "*.tif", "*.tiff", "*.gif")
TEXT_INCLUDE = ("*.txt", "*.md")
_TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown"})
_READ_SUFFIXES = frozenset(p[1:] for p in DEFAULT_INCLUDE) | _TEXT_SUFFIXES
_NAMES_KEPT = 10


@dataclass
class Skipped:
    """What folder walks left out without being told to.

    Attributes:
        unread: files with an extension extractor does not read, by extension.
        text: text files left out because no include glob asked for them.
        examples: the first few of either, as paths.
    """

    unread: Counter[str] = field(default_factory=Counter)
    text: int = 0
    examples: list[Path] = field(default_factory=list)

    def add(self, path: Path) -> None:
        suffix = path.suffix.lower()
        if suffix in _TEXT_SUFFIXES:
            self.text += 1
        elif suffix not in _READ_SUFFIXES:
            self.unread[suffix or "(no extension)"] += 1
        else:
            return  # a readable file the include globs left out: the user's choice
        if len(self.examples) < _NAMES_KEPT:
            self.examples.append(path)


def iter_sources(
    paths: Iterable[str | os.PathLike[str]],
    *,
    include: Sequence[str] = DEFAULT_INCLUDE,
    exclude: Sequence[str] = (),
    skipped: Skipped | None = None,
) -> Iterator[Path]:
    """Yield every document under ``paths``, lazily (a folder of 100,000 files is fine).

    Files a folder walk leaves out that no exclude glob names are counted in
    ``skipped`` (when given) if their extension is not one extractor reads, or if they
    are text files.

    Example:
        >>> sorted(p.name for p in iter_sources(["fixtures"], include=["*.pdf"]))[:1]
        ['form.pdf']
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from _walk(path, include, exclude, skipped)
        else:
            yield path  # missing, special or odd files get their own error record


def _walk(
    root: Path, include: Sequence[str], exclude: Sequence[str], skipped: Skipped | None
) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if _matches(name, relative, exclude):
                continue
            if _matches(name, relative, include):
                yield path
            elif skipped is not None:
                skipped.add(path)


def _matches(name: str, relative: str, patterns: Sequence[str]) -> bool:
    lowered = name.lower()
    return any(
        fnmatch.fnmatch(lowered, p.lower()) or fnmatch.fnmatch(relative, p) for p in patterns
    )


# -- the library's sources ---------------------------------------------------------------


def as_source(value: Any, position: int | None = None) -> Source:
    """``value`` as a source: a path or bytes; a bytearray as bytes, a binary file object
    read into bytes.

    Raises:
        ConfigError: anything else (None, a text-mode file, a number …).
    """
    _check_source(value, position)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str | bytes | os.PathLike):
        return value
    data = value.read()
    if not isinstance(data, bytes):
        raise ConfigError(
            f"{_where(position)}the file object {getattr(value, 'name', '')!r} is open in "
            "text mode; open it with 'rb'"
        )
    return data


def _check_source(value: Any, position: int | None) -> None:
    if isinstance(value, str | bytes | bytearray | memoryview | os.PathLike):
        if isinstance(value, str) and not value:
            raise ConfigError(f"{_where(position)}an empty string is not a path")
        return
    if isinstance(value, io.TextIOBase):
        raise ConfigError(
            f"{_where(position)}the file object {getattr(value, 'name', '')!r} is open in "
            "text mode; open it with 'rb'"
        )
    if callable(getattr(value, "read", None)):
        return
    raise ConfigError(
        f"{_where(position)}a source is a path, bytes or a binary file object, "
        f"not {type(value).__name__}"
    )


def _where(position: int | None) -> str:
    return "" if position is None else f"source {position}: "


def checked_sources(sources: Iterable[Any]) -> Iterator[Source]:
    """The sources, checked: their kinds now for a collection, each as its turn comes
    for any other iterable; a file object is read when its turn comes."""
    single = isinstance(sources, str | bytes | bytearray | memoryview | os.PathLike)
    if single or callable(getattr(sources, "read", None)):
        raise ConfigError(
            "extract_many() takes an iterable of sources (paths or bytes), not one source; "
            "for one document use extract()"
        )
    if not isinstance(sources, Iterable):
        raise ConfigError(f"extract_many() takes an iterable of sources, not {sources!r}")
    if isinstance(sources, Sequence):
        for position, value in enumerate(sources):
            _check_source(value, position)
    return (as_source(value, position) for position, value in enumerate(sources))
