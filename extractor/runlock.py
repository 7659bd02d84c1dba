"""One run per output: an exclusive lock beside the run's store (``OUT.db.lock``).

Two runs writing one output would each pay for every document and overwrite each
other's exports. The first run holds an ``flock`` on ``OUT.db.lock`` (the kernel drops it
when the process dies, however it dies) and writes who it is into the file, so a second
run is refused at once with a message naming the first: its process id, host and start
time.

On platforms without ``fcntl`` (Windows) the lock is not taken.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys
from pathlib import Path
from types import TracebackType

import orjson

from extractor.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunLock", "lock_path_for"]

_ATTEMPTS = 5  # a holder may unlink the file as we open it: try again with the new one


def lock_path_for(store: Path) -> Path:
    """``out/r.jsonl.db`` → ``out/r.jsonl.db.lock``."""
    return store.with_name(store.name + ".lock")


class RunLock:
    """Held while a run writes ``store`` and its exports; a context manager.

    Raises:
        ConfigError: (on entering) another process holds the lock.

    Example:
        >>> import tempfile
        >>> store = Path(tempfile.mkdtemp()) / "r.jsonl.db"
        >>> with RunLock(store):
        ...     lock_path_for(store).exists()
        True
    """

    def __init__(self, store: Path, *, mode: int = 0o666) -> None:
        self.store = Path(store)
        self.path = lock_path_for(self.store)
        self.mode = mode
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def acquire(self) -> None:
        if fcntl is None or self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(_ATTEMPTS):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, self.mode)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise ConfigError(
                    f"another run is writing {self.store.name} ({holder}); wait for it to "
                    f"finish, or stop it (a killed run leaves no lock behind)",
                    path=str(self.store),
                ) from None
            if _same_file(fd, self.path):
                self._fd = fd
                _write_holder(fd)
                return
            os.close(fd)  # the holder removed it while we waited: lock the new one
        raise ConfigError(f"cannot take the lock {self.path}", path=str(self.path))

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still held: no one locks a ghost
        finally:
            os.close(self._fd)
            self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _write_holder(fd: int) -> None:
    started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": started,
              "command": " ".join(os.path.basename(a) for a in sys.argv[:3])}  # fmt: skip
    os.ftruncate(fd, 0)
    os.pwrite(fd, orjson.dumps(holder), 0)


def _holder(fd: int) -> str:
    try:
        holder = orjson.loads(os.pread(fd, 4096, 0))
        return f"process {holder['pid']} on {holder['host']}, started {holder['started']}" + (
            f" by {holder['command']!r}" if holder.get("command") else ""
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
