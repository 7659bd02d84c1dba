"""Output safety: what a run may write, checked before the first model call.

An export replaces its destination (atomically: write beside it, rename over it). So a
run refuses, before anything is paid for:

- a destination that is not a regular file: a device (``-o /dev/null`` as root would
  replace the device node), a FIFO, a socket, a folder;
- a symbolic link (the rename would replace the link, not write where it points);
- one of the run's own input documents;
- an existing file that no run of this output wrote: only a file recorded in the run's
  store (``OUT.db``) as an export is replaced;
- a folder it cannot write in (a missing folder is created, as ``out/`` is on a first run).

The store itself (``OUT.db``) must be a regular file too, if it exists.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from extractor.errors import ConfigError

__all__ = ["check_output", "store_path_for", "written_by_extractor"]


def store_path_for(output: Path) -> Path:
    """The store beside an output file: ``out/results.jsonl`` → ``out/results.jsonl.db``."""
    return output.with_name(output.name + ".db")


def check_output(output: Path, *, inputs: Iterable[Path] = (), also: Iterable[Path] = ()) -> None:
    """Refuse an output a run must not write (see the module's docstring).

    ``also`` names further files the run will write beside the output (a report), which
    are checked the same way.

    Raises:
        ConfigError: with one line saying what is wrong and what to do.
    """
    output = Path(output)
    _check_folder(output.parent)
    store = store_path_for(output)
    _check_kind(store, "its record store")
    for path in (output, *also):
        _check_kind(path, "the output")
        _check_not_an_input(path, inputs)
        if path.exists() and not written_by_extractor(path, store):
            raise ConfigError(
                f"{path} exists and was not written by an extractor run of this output; "
                "move it away or choose another output (-o)",
                path=str(path),
            )


def written_by_extractor(path: Path, store: Path) -> bool:
    """Whether a run of ``store`` recorded ``path`` as one of its exports. A store made
    before exports were recorded vouches for every file beside it."""
    if not store.is_file():
        return False
    uri = f"file:{quote(str(store.resolve()))}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=5.0)
    except sqlite3.Error:
        return False
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "exports" not in tables:
            return "meta" in tables and "records" in tables
        row = db.execute("SELECT 1 FROM exports WHERE name = ?", (path.name,)).fetchone()
        return row is not None
    except sqlite3.Error:
        return False
    finally:
        db.close()


def _check_folder(folder: Path) -> None:
    folder = folder if str(folder) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{folder} is not a folder; the output cannot go there",
                          path=str(folder)) from None  # fmt: skip
    except OSError as exc:
        raise ConfigError(f"cannot create the folder {folder}: {exc.strerror}",
                          path=str(folder)) from None  # fmt: skip
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write in {folder} (permission denied)", path=str(folder))


def _check_kind(path: Path, what: str) -> None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"cannot use {path} as {what}: {exc.strerror}", path=str(path)) from None
    if stat.S_ISLNK(info.st_mode):
        raise ConfigError(
            f"{path} is a symbolic link; give the path of a real file (extractor replaces "
            "its outputs, and would replace the link, not write where it points)",
            path=str(path),
        )
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{path} is a folder; name a file in it, e.g. {path / 'results.jsonl'}",
                          path=str(path))  # fmt: skip
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(
            f"{path} is not a regular file (a device, FIFO or socket); {what} must be a "
            "new file or one an extractor run wrote",
            path=str(path),
        )


def _check_not_an_input(path: Path, inputs: Iterable[Path]) -> None:
    if not path.exists():
        return
    for source in inputs:
        try:
            same = Path(source).is_file() and os.path.samefile(path, source)
        except OSError:
            same = False
        if same:
            raise ConfigError(f"{path} is one of the input documents; write the output "
                              "elsewhere", path=str(path))  # fmt: skip
