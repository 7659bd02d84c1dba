"""Turn the paths a user names into the documents of a job.

Files named directly are always taken (a wrong extension becomes an error record, not a
silent skip). Folders are walked recursively, in sorted order so runs are repeatable,
keeping files that match an include glob and no exclude glob. Hidden files and folders
are skipped.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

__all__ = ["DEFAULT_INCLUDE", "iter_sources"]

DEFAULT_INCLUDE = (
    "*.pdf", "*.png", "*.jpg", "*.jpeg", "*.webp", "*.tif", "*.tiff", "*.gif", "*.txt", "*.md",
)  # fmt: skip


def iter_sources(
    paths: Iterable[str | os.PathLike[str]],
    *,
    include: Sequence[str] = DEFAULT_INCLUDE,
    exclude: Sequence[str] = (),
) -> Iterator[Path]:
    """Yield every document under ``paths``, lazily (a folder of 100,000 files is fine).

    Example:
        >>> sorted(p.name for p in iter_sources(["fixtures"], include=["*.pdf"]))[:1]
        ['form.pdf']
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from _walk(path, include, exclude)
        else:
            yield path  # missing, special or odd files get their own error record


def _walk(root: Path, include: Sequence[str], exclude: Sequence[str]) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if _matches(name, relative, include) and not _matches(name, relative, exclude):
                yield path


def _matches(name: str, relative: str, patterns: Sequence[str]) -> bool:
    lowered = name.lower()
    return any(
        fnmatch.fnmatch(lowered, p.lower()) or fnmatch.fnmatch(relative, p) for p in patterns
    )
