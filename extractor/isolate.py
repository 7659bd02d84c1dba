"""Read untrusted documents in worker processes with a memory and a time limit.

PDFium is not thread-safe, a 600 KB PDF can inflate to gigabytes, and a parser bug can
segfault: none of that may take the run down. :class:`PagesWorkerPool` runs
:func:`extractor.reading.prepare` (load + pages) in a few long-lived worker processes:

- each worker caps its own address space with ``RLIMIT_AS`` (default 2 GiB) and writes
  no core dumps;
- the parent gives each document ``timeout_s`` (default 60 s), then kills the worker;
- a worker that dies, is killed or times out is replaced, and its document gets exactly
  one classified :class:`~extractor.errors.InputError`;
- a worker is recycled after ``max_jobs`` documents, to cap slow leaks.

Workers come from the ``forkserver`` (a fresh interpreter that preloads the readers, not
the model stack), so they never inherit the parent's threads, open files or a loaded
local model; the first starts in about half a second, a replacement in milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import resource
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from extractor.errors import (
    ConfigError,
    CorruptInput,
    ExtractorError,
    InputError,
    InputTooLarge,
    InternalError,
)
from extractor.settings import READ_TIMEOUT, WORKER_MEMORY, PageOptions

if TYPE_CHECKING:
    from extractor.load import Document, Source
    from extractor.pages import Page

__all__ = ["PagesWorkerPool", "PoolStats", "prepare_isolated", "read_each"]

Prepared = tuple["Document", list["Page"]]
_Job = tuple["Source", PageOptions]

_EXIT_NO_MEMORY = 75  # the worker could not even receive the document
_START_TIMEOUT_S = 120.0  # the first worker waits for the forkserver to import the readers
_PRELOAD = ["extractor.isolate", "extractor.reading"]
_MAIN_LOCK = threading.Lock()


@dataclass(frozen=True)
class PoolStats:
    """What a pool has done so far (``peak_worker_rss_bytes`` counts only workers that replied)."""

    documents: int = 0
    crashes: int = 0
    timeouts: int = 0
    workers_started: int = 0
    peak_worker_rss_bytes: int = 0


class PagesWorkerPool:
    """Worker processes that load documents and read their pages, one document each at a time.

    Args:
        workers: processes (and documents in flight) at once.
        memory_bytes: address-space limit of each worker; None for none.
        timeout_s: wall-clock seconds one document may take; None for no limit.
        max_jobs: documents a worker reads before it is replaced.

    Example:
        >>> async with PagesWorkerPool(2) as pool:  # doctest: +SKIP
        ...     document, pages = await pool.prepare("invoice.pdf", PageOptions(vision=False))
    """

    def __init__(
        self,
        workers: int = 2,
        *,
        memory_bytes: int | None = WORKER_MEMORY,
        timeout_s: float | None = READ_TIMEOUT,
        max_jobs: int = 200,
    ) -> None:
        if workers < 1 or max_jobs < 1:
            raise ConfigError("a pages worker pool needs workers >= 1 and max_jobs >= 1")
        if any(limit is not None and limit <= 0 for limit in (memory_bytes, timeout_s)):
            raise ConfigError("memory_bytes and timeout_s must be positive (or None for no limit)")
        self.memory_bytes = memory_bytes
        self.timeout_s = timeout_s
        self.max_jobs = max_jobs
        self._context = _context()
        self._lock = threading.Lock()
        self._closed = False
        self._stats = PoolStats()
        self._slots = [_Slot(self) for _ in range(workers)]
        self._free: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
        for slot in self._slots:
            self._free.put(slot)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="extractor-pages")

    @property
    def stats(self) -> PoolStats:
        return self._stats

    async def prepare(self, source: Source, options: PageOptions) -> Prepared:
        """Load ``source`` and read its pages in a worker; safe to await concurrently.

        Raises:
            ExtractorError: what ``prepare`` raised in the worker, unchanged.
            InputTooLarge: the worker ran out of memory or time.
            CorruptInput: the worker crashed on the document.
        """
        if self._closed:
            raise InternalError("the pages worker pool is closed")
        ticket = _Ticket()
        loop = asyncio.get_running_loop()
        job: _Job = (source, options)
        try:
            return await loop.run_in_executor(self._executor, self._run, job, ticket)
        except asyncio.CancelledError:
            self._cancel(ticket)  # nobody wants the answer: stop the worker reading it
            raise

    def prepare_blocking(self, source: Source, options: PageOptions) -> Prepared:
        """:meth:`prepare` for synchronous code; blocks while every worker is busy."""
        return self._run((source, options), _Ticket())

    def _run(self, job: _Job, ticket: _Ticket) -> Prepared:
        slot = self._free.get()
        try:
            with self._lock:
                if ticket.cancelled or self._closed:
                    raise InternalError("the pages worker pool was closed or the job cancelled")
                ticket.slot = slot
            return slot.run(job, ticket)
        finally:
            ticket.slot = None
            self._free.put(slot)

    def close(self) -> None:
        """Stop every worker (a document in flight gets an :class:`InternalError`)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for slot in self._slots:
            slot.kill()
        self._executor.shutdown(wait=True, cancel_futures=True)
        for slot in self._slots:
            slot.discard()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> PagesWorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> PagesWorkerPool:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _cancel(self, ticket: _Ticket) -> None:
        with self._lock:
            ticket.cancelled = True
            slot = ticket.slot
        if slot is not None:
            slot.kill()

    def _count(self, **increments: int) -> None:
        with self._lock:
            values = {k: getattr(self._stats, k) + v for k, v in increments.items()}
            self._stats = replace(self._stats, **values)

    def _saw_rss(self, rss: int) -> None:
        with self._lock:
            if rss > self._stats.peak_worker_rss_bytes:
                self._stats = replace(self._stats, peak_worker_rss_bytes=rss)


def prepare_isolated(
    source: Source,
    options: PageOptions,
    *,
    timeout_s: float | None = READ_TIMEOUT,
    memory_bytes: int | None = WORKER_MEMORY,
) -> Prepared:
    """One-off :meth:`PagesWorkerPool.prepare` in a fresh worker, blocking."""
    with PagesWorkerPool(1, memory_bytes=memory_bytes, timeout_s=timeout_s) as pool:
        return pool.prepare_blocking(source, options)


T = TypeVar("T")


def read_each(
    sources: Sequence[Source],
    options: PageOptions,
    use: Callable[[int, Prepared | ExtractorError], T],
    *,
    concurrency: int,
    timeout_s: float | None = READ_TIMEOUT,
    memory_bytes: int | None = WORKER_MEMORY,
) -> list[T]:
    """Read every source in worker processes (two at most, ``concurrency`` jobs queued)
    and hand each to ``use`` as soon as it is read, with its index: its document and
    pages, or the error reading raised. So the pages of all the documents are never held
    at once. Returns what ``use`` returned, in input order; blocking."""

    async def read_all() -> list[T]:
        pool = PagesWorkerPool(
            max(1, min(concurrency, 2)), memory_bytes=memory_bytes, timeout_s=timeout_s
        )
        limit = asyncio.Semaphore(concurrency)

        async def one(index: int, source: Source) -> T:
            async with limit:
                try:
                    read: Prepared | ExtractorError = await pool.prepare(source, options)
                except ExtractorError as exc:
                    read = exc
                return use(index, read)

        try:
            return list(await asyncio.gather(*(one(i, s) for i, s in enumerate(sources))))
        finally:
            await pool.aclose()

    return asyncio.run(read_all())


class _Ticket:
    """One job's handle, so that a cancelled caller can stop the worker reading it."""

    def __init__(self) -> None:
        self.cancelled = False
        self.slot: _Slot | None = None


class _Slot:
    """One worker position: the process (started lazily, replaced after trouble) and its pipe."""

    def __init__(self, pool: PagesWorkerPool) -> None:
        self.pool = pool
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None
        self.jobs = 0
        self._swap = threading.Lock()

    def run(self, job: _Job, ticket: _Ticket) -> Prepared:
        name = "<bytes>" if isinstance(job[0], bytes) else os.fspath(job[0])
        conn = self._send(job, name, ticket)
        if not conn.poll(self.pool.timeout_s):
            self.kill()
            self.discard()
            self.pool._count(documents=1, timeouts=1)
            raise InputTooLarge(
                f"{name}: took longer than {self.pool.timeout_s:g} s to read", path=name,
                limit=f"{self.pool.timeout_s:g} s",
            )  # fmt: skip
        try:
            status, payload, rss, retire = conn.recv()
        except (EOFError, OSError):
            raise self._died(name, ticket) from None
        except Exception as exc:  # a reply that does not unpickle
            self.discard()
            raise InternalError(f"{name}: unreadable reply from the pages worker ({exc})") from None
        self.jobs += 1
        self.pool._count(documents=1)
        self.pool._saw_rss(rss)
        if retire or self.jobs >= self.pool.max_jobs:
            self.discard()
        if status == "ok":
            return payload  # type: ignore[no-any-return]
        raise payload

    def _send(self, job: _Job, name: str, ticket: _Ticket) -> Connection:
        for _ in range(2):  # a worker may have died while idle: replace it once
            if ticket.cancelled:
                raise InternalError(f"{name}: the job was cancelled")
            conn = self._started()
            try:
                conn.send(job)
                return conn
            except (BrokenPipeError, ConnectionResetError, EOFError):
                code = self.discard()
                if code == _EXIT_NO_MEMORY:
                    self.pool._count(documents=1, crashes=1)
                    raise _no_memory(name, self.pool.memory_bytes) from None
        raise InternalError(f"{name}: the pages worker keeps dying before it reads the document")

    def _started(self) -> Connection:
        if self.process is not None and self.conn is not None and self.process.is_alive():
            return self.conn
        self.discard()
        if self.pool._closed:
            raise InternalError("the pages worker pool is closed")
        parent: Connection
        parent, child = self.pool._context.Pipe(duplex=True)
        process = self.pool._context.Process(
            target=_worker_main, args=(child, self.pool.memory_bytes),
            name="extractor-pages-worker", daemon=True,
        )  # fmt: skip
        with _neutral_main():
            process.start()
        child.close()
        with self._swap:
            self.process, self.jobs = process, 0
        self.pool._count(workers_started=1)
        try:  # the handshake: a worker that cannot start must not be blamed on a document
            ready = parent.poll(_START_TIMEOUT_S) and parent.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        with self._swap:
            self.conn = parent  # from here on, the slot holds a worker ready for a job
        if not ready:
            code = self.discard()
            raise InternalError(f"the pages worker did not start (exit code {code})")
        return parent

    def _died(self, name: str, ticket: _Ticket) -> ExtractorError:
        code = self.discard()
        if ticket.cancelled or self.pool._closed:
            return InternalError(f"{name}: the pages worker pool was closed or the job cancelled")
        self.pool._count(documents=1, crashes=1)
        return _death_error(name, code, self.pool.memory_bytes)

    def kill(self) -> None:
        process = self.process
        if process is not None:
            with contextlib.suppress(Exception):
                process.kill()

    def discard(self) -> int | None:
        """Forget the worker (asking it to exit if it is idle); its exit code, if it exited."""
        with self._swap:
            process, conn = self.process, self.conn
            self.process = self.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.send(None)
            conn.close()
        if process is None:
            return None
        process.join(5)
        if process.exitcode is None:
            process.kill()
            process.join(5)
        code = process.exitcode
        with contextlib.suppress(ValueError):
            process.close()
        return code


@contextlib.contextmanager
def _neutral_main() -> Iterator[None]:
    """Hide the caller's ``__main__`` while a worker starts.

    A worker needs nothing from it, but multiprocessing would re-import it in the worker:
    an unguarded script would run again there, and a script read from stdin or a notebook
    cell cannot be imported at all. An empty stand-in gives the worker nothing to import.
    """
    with _MAIN_LOCK:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main


def _context() -> Any:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)  # no effect once the server runs: harmless
    return context


def _death_error(name: str, code: int | None, memory_bytes: int | None) -> InputError:
    if code == _EXIT_NO_MEMORY:
        return _no_memory(name, memory_bytes)
    if code is None or code >= 0:
        return CorruptInput(f"{name}: the pages worker exited ({code}) while reading it", path=name)
    number = -code
    try:
        label = signal.Signals(number).name
    except ValueError:
        label = "unknown"
    if number == signal.SIGKILL:  # not us: the kernel's out-of-memory killer, most likely
        return InputTooLarge(
            f"{name}: the worker reading it was killed (SIGKILL), most likely out of memory",
            path=name, signal=number,
        )  # fmt: skip
    if number == signal.SIGABRT and memory_bytes is not None:
        # PDFium (and CPython's fatal MemoryError) abort() when an allocation fails.
        return _no_memory(name, memory_bytes, detail=" (the parser aborted when memory ran out)")
    message = f"{name}: parsing crashed (signal {number}, {label})"
    return CorruptInput(message, path=name, signal=number)


def _no_memory(name: str, memory_bytes: int | None, detail: str = "") -> InputTooLarge:
    limit = "the memory limit" if memory_bytes is None else _human(memory_bytes)
    return InputTooLarge(
        f"{name}: reading it needed more than {limit} of memory{detail}",
        path=name, limit=f"{limit} of memory",
    )  # fmt: skip


def _human(size: int) -> str:
    if size % (1 << 30) == 0:
        return f"{size >> 30} GiB"
    return f"{size / (1 << 20):.0f} MiB"


# -- the worker side --------------------------------------------------------------------


def _worker_main(conn: Connection, memory_bytes: int | None) -> None:
    """Serve jobs until told to stop; never raises for a document."""
    _harden(memory_bytes)
    _exit_with_parent(conn)
    from extractor.reading import prepare  # preloaded by the forkserver

    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        except MemoryError:
            os._exit(_EXIT_NO_MEMORY)
        if job is None:
            return
        source, options = job
        name = "<bytes>" if isinstance(source, bytes) else os.fspath(source)
        retire = False
        try:
            reply: tuple[str, Any] = ("ok", prepare(source, options))
        except ExtractorError as exc:
            reply = ("error", exc)
        except MemoryError:
            reply, retire = ("error", _no_memory(name, memory_bytes)), True
        except Exception as exc:
            reply, retire = ("error", _unexpected(exc, name)), True
        _reply(conn, reply, retire, name, memory_bytes)


def _reply(
    conn: Connection, reply: tuple[str, Any], retire: bool, name: str, memory_bytes: int | None
) -> None:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        conn.send((*reply, rss, retire))
    except MemoryError:  # pickling the pages failed: nothing was written yet
        error = _no_memory(name, memory_bytes, " (to send the pages back)")
        conn.send(("error", error, rss, True))
    except Exception as exc:  # an error whose context does not pickle
        conn.send(("error", InternalError(f"{name}: {type(exc).__name__}: {exc}"), rss, True))


def _unexpected(exc: Exception, name: str) -> ExtractorError:
    """An exception ``prepare`` did not classify: the parser's refusal, or our bug."""
    kind = type(exc)
    if _raised_in_parser(exc):  # e.g. pypdfium2's ValueError for a crop box off the page
        return CorruptInput(f"{name}: {kind.__name__}: {exc}", path=name)
    return InternalError(f"{name}: {kind.__name__} while reading pages: {exc}", path=name)


def _raised_in_parser(exc: BaseException) -> bool:
    modules = {type(exc).__module__}
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_next is None:
            modules.add(str(tb.tb_frame.f_globals.get("__name__", "")))
        tb = tb.tb_next
    return any(m.split(".")[0] in ("pypdfium2", "PIL") for m in modules)


def _exit_with_parent(conn: Connection) -> None:
    """Exit when the pool's process dies, even mid-document (no one would enforce the timeout).

    The worker's parent is the forkserver, which outlives a killed pool process while any
    worker runs, so PR_SET_PDEATHSIG alone does not help: watch our end of the pipe for the
    hang-up instead (without reading it: the main thread owns the data).
    """
    import select

    if not hasattr(select, "POLLRDHUP"):
        return
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLRDHUP)

    def watch() -> None:
        while True:
            if any(event & ~select.POLLIN for _, event in poller.poll()):
                os._exit(0)

    previous = threading.stack_size(256 << 10)  # address space is capped: a small stack
    try:
        threading.Thread(target=watch, name="extractor-pages-lifeline", daemon=True).start()
    finally:
        threading.stack_size(previous)


def _harden(memory_bytes: int | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the forkserver/parent
        # M_ARENA_MAX=1: each extra malloc arena reserves 64 MB of the capped address space
        # (OCR's peak drops from 1.8 GB to 1.3 GB), and these workers do not need them.
        libc.mallopt(-8, 1)
    # numpy's OpenBLAS reserves buffers per core at import; OCR needs none of them.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_bytes is not None:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
