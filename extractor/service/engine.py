"""The service's engine: one provider, one reading pool, one fair scheduler, many jobs.

A job's documents run through :func:`extractor.pipeline.process` exactly as a folder run
does (read in isolated worker processes, the same provider, the same settings), and each
record is committed to the job's :class:`~extractor.store.RecordStore` the moment it is
done. After a restart, :meth:`Engine.start` queues again only the documents without a
committed record: the ones that were in flight at a ``kill -9`` are the only ones paid
twice.

Every write (records, job status) goes through one writer thread, in order: an SQLite
commit with ``synchronous=FULL`` costs an fsync that must not stall the event loop, and a
store is closed only after the commits queued before it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeVar

from extractor.api import choose_provider, open_job_provider
from extractor.errors import AuthError, ConfigError
from extractor.isolate import PagesWorkerPool
from extractor.jobs import fingerprint_for
from extractor.pipeline import process
from extractor.providers import Provider
from extractor.result import Result
from extractor.schema import SchemaSpec, load_schema
from extractor.service.config import ServiceConfig
from extractor.service.jobstate import JobState, relabel, unique_labels
from extractor.service.scheduler import FairScheduler
from extractor.service.storage import DocumentRow, JobRow, ServiceDB, now_iso
from extractor.service.uploads import Upload, make_durable
from extractor.store import RecordStore

__all__ = ["Engine", "ProviderRefused", "QueueFull", "Reservation"]

T = TypeVar("T")
_CHANGED = ("the server's provider, model or reading options changed since this job was "
            "submitted; submit it again")  # fmt: skip


class QueueFull(Exception):
    """More work than the queue limit allows; come back after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("the queue is full; retry later")
        self.retry_after = retry_after


class Reservation:
    """Queue room held for documents not yet queued (see :meth:`Engine.admit`)."""

    def __init__(self, engine: Engine, count: int) -> None:
        self._engine, self.count = engine, count

    def consume(self) -> None:
        """The documents are queued (or abandoned): the room is no longer held for them."""
        self._engine._reserved -= self.count
        self.count = 0


class ProviderRefused(Exception):
    """The provider refused the server's key (401/402/403): no document can succeed."""


class Engine:
    """Jobs and single extractions over one provider. Call :meth:`start` on the event loop."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.settings = config.settings
        self.data = config.data
        self.db: ServiceDB  # opened by start(), once --data is ours
        self.jobs: dict[str, JobState] = {}
        self.provider: Provider | None = None
        self.pool: PagesWorkerPool | None = None
        self.scheduler = FairScheduler(1)
        self._stores: dict[str, RecordStore] = {}  # open for jobs still running
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="extractor-writer")
        self._reserved = 0
        self._lock: IO[bytes] | None = None

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the provider and the reading pool, and resume unfinished jobs.

        Raises:
            ConfigError: another server is using the same ``--data``.
        """
        self._lock_data()
        self.db = ServiceDB(self.data / "service.db")
        shutil.rmtree(self.data / "tmp", ignore_errors=True)  # uploads never acknowledged
        self.provider = open_job_provider(self.settings, choose_provider(self.settings))
        cap = self.provider.max_concurrency or self.settings.concurrency
        concurrency = min(self.settings.concurrency, cap)
        self.pool = PagesWorkerPool(
            min(concurrency, max(2, os.cpu_count() or 2)),
            memory_bytes=self.settings.worker_memory, timeout_s=self.settings.read_timeout,
        )  # fmt: skip
        self.scheduler = FairScheduler(concurrency)
        await self.scheduler.start()
        for row in self.db.jobs():
            await self._load(row)
        self._remove_orphans()

    async def close(self) -> None:
        """Stop every document in flight (unfinished jobs resume at the next start)."""
        await self.scheduler.close()
        for job_id in list(self._stores):
            await self.write(self._stores.pop(job_id).close)
        if self.pool is not None:
            await self.pool.aclose()
        if self.provider is not None:
            await self.provider.aclose()
        self._writer.shutdown(wait=True)
        self.db.close()
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock

    # -- admission ------------------------------------------------------------------------

    def check_room(self, count: int = 1) -> None:
        """Raise :class:`QueueFull` unless ``count`` more documents fit in the queue now."""
        if self.scheduler.queued + self._reserved + count > self.config.queue_limit:
            raise QueueFull(self.scheduler.retry_after())

    @contextmanager
    def admit(self, count: int) -> Iterator[Reservation]:
        """Hold queue room for ``count`` documents while a request stores them; the room
        becomes theirs when they are queued, and is given back if the request fails.

        Raises:
            QueueFull: the queue cannot take them now.
        """
        self.check_room(count)
        reservation = Reservation(self, count)
        self._reserved += count
        try:
            yield reservation
        finally:
            reservation.consume()

    def staging(self) -> Path:
        """A new folder for an upload being received (removed at the next start if left)."""
        return self.data / "tmp" / uuid.uuid4().hex

    # -- jobs -----------------------------------------------------------------------------

    async def create_job(
        self, schema: str, spec: SchemaSpec, uploads: list[Upload], room: Reservation
    ) -> JobState:
        """Store a job's files and rows durably, then queue its documents in ``room``."""
        job_id = uuid.uuid4().hex
        folder = self._job_dir(job_id) / "uploads"
        folder.mkdir(parents=True)
        documents = []
        for index, (upload, label) in enumerate(
            zip(uploads, unique_labels([u.label for u in uploads]), strict=True)
        ):
            stored = f"{index:06d}{upload.suffix}"
            os.replace(upload.path, folder / stored)
            documents.append(DocumentRow(job_id, index, label, stored, upload.sha256, upload.size))
        assert self.provider is not None
        fingerprint = fingerprint_for(spec, self.provider, self.settings)
        row = JobRow(job_id, schema, fingerprint, "queued", len(documents), now_iso(),
                     None, None, None)  # fmt: skip
        await self.write(make_durable, [folder / d.stored for d in documents])
        await self.write(self.db.add_job, row, documents)
        job = JobState(job_id, schema, spec, fingerprint, "queued", len(documents),
                       row.created_at, pending={d.index for d in documents})  # fmt: skip
        self._stores[job_id] = await self.write(RecordStore.open, self._records(job_id),
                                                 fingerprint)  # fmt: skip
        self.jobs[job_id] = job
        room.consume()
        self.scheduler.add(job_id, documents, partial(self._run_document, job))
        return job

    async def cancel(self, job_id: str) -> JobState | None:
        """Cancel a job: queued documents are dropped, running ones stopped uncommitted."""
        job = self.jobs.get(job_id)
        if job is None or job.finished:
            return job
        self.scheduler.cancel(job_id)
        await self._finish(job, "cancelled")
        return job

    @contextmanager
    def store(self, job_id: str) -> Iterator[RecordStore]:
        """The job's record store, for reading (its own connection: safe while it runs)."""
        job = self.jobs[job_id]
        store = RecordStore.open(self._records(job_id), job.fingerprint)
        try:
            yield store
        finally:
            store.close()

    def records(self, job_id: str) -> Iterator[dict[str, Any]]:
        """Every committed record of a job, by input index."""
        with self.store(job_id) as store:
            yield from store.records()

    def record(self, job_id: str, sha256: str) -> dict[str, Any] | None:
        """The committed record of the job's (first) document with this content, if any."""
        with self.store(job_id) as store:
            return next((r for r in store.records() if r.get("sha256") == sha256), None)

    def upload_path(self, document: DocumentRow) -> Path:
        return self._job_dir(document.job_id) / "uploads" / document.stored

    # -- one document, now ----------------------------------------------------------------

    async def extract_one(
        self, spec: SchemaSpec, upload: Upload, room: Reservation
    ) -> dict[str, Any]:
        """Extract one uploaded document through the scheduler (its own lane, queued in
        ``room``) and return its record.

        Raises:
            ProviderRefused: the provider refused the key.
        """
        assert self.provider is not None
        answer: asyncio.Future[Result[Any]] = asyncio.get_running_loop().create_future()

        async def run(_: object) -> None:
            try:
                result = await process(upload.path, spec, self._provider(), self.settings,
                                       pool=self.pool)  # fmt: skip
                if not answer.done():
                    answer.set_result(result)
            finally:
                if not answer.done():
                    answer.cancel()

        lane = f"extract:{uuid.uuid4().hex}"
        room.consume()
        self.scheduler.add(lane, [None], run)
        try:
            result = await answer
        finally:
            self.scheduler.cancel(lane)  # the client went away: stop its document
        if result.error is not None and result.error.type == AuthError.code:
            raise ProviderRefused(result.error.message)
        return dict(relabel(result.record(), str(upload.path), upload.label))

    # -- internals ------------------------------------------------------------------------

    async def _run_document(self, job: JobState, document: DocumentRow) -> None:
        if job.status == "queued":
            job.status = "running"
        path = self.upload_path(document)
        result = await process(path, self._spec(job), self._provider(), self.settings,
                               index=document.index, pool=self.pool)  # fmt: skip
        if job.finished:
            return  # cancelled (or failed) while this document ran
        if result.error is not None and result.error.type == AuthError.code:
            job.error = f"the provider refused the key: {result.error.message}"
            self.scheduler.cancel(job.id)
            await self._finish(job, "failed")
            return
        record = relabel(result.record(), str(path), document.label)
        await self.write(self._stores[job.id].commit, record)
        job.count(record)
        if not job.pending and not job.finished:
            await self._finish(job, "done")

    async def _finish(self, job: JobState, status: str) -> None:
        job.status = status
        await self.write(self.db.set_status, job.id, status, error=job.error,
                          totals=job.totals())  # fmt: skip
        store = self._stores.pop(job.id, None)
        if store is not None:
            await self.write(store.close)  # after the commits queued before it

    async def _load(self, row: JobRow) -> None:
        """Take a job from the index: a finished one as it was, an unfinished one resumed."""
        spec = None if row.status in ("done", "failed", "cancelled") else load_schema(row.schema)
        job = JobState(row.id, row.schema, spec, row.fingerprint, row.status, row.total,
                       row.created_at, error=row.error)  # fmt: skip
        self.jobs[row.id] = job
        if job.finished:
            for name, value in (row.totals or {}).items():
                setattr(job, name, value)
            return
        assert spec is not None and self.provider is not None
        documents = self.db.documents(row.id)
        job.pending = {d.index for d in documents}
        store = await self.write(RecordStore.open, self._records(row.id), row.fingerprint)
        self._stores[row.id] = store
        for record in store.records():
            job.count(record)
        if fingerprint_for(spec, self.provider, self.settings) != row.fingerprint:
            job.error = _CHANGED
            await self._finish(job, "failed")
            return
        job.status = "running" if job.done else "queued"
        todo = [d for d in documents if d.index in job.pending]
        if not todo:
            await self._finish(job, "done")
            return
        self.scheduler.add(row.id, todo, partial(self._run_document, job))

    def _lock_data(self) -> None:
        """Hold an exclusive lock on ``--data`` while serving: two servers would both
        resume the same jobs and pay for every document twice."""
        self.data.mkdir(parents=True, exist_ok=True)
        lock = open(self.data / "serve.lock", "ab")  # noqa: SIM115 (held until close())
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise ConfigError(f"another extractor serve is using {self.data}") from None
        self._lock = lock

    def _remove_orphans(self) -> None:
        """Remove the files of jobs whose rows were never committed (killed mid-submit:
        the client got no 202, so nobody knows their id)."""
        folder = self.data / "jobs"
        for path in folder.iterdir() if folder.is_dir() else ():
            if path.name not in self.jobs:
                shutil.rmtree(path, ignore_errors=True)

    def _spec(self, job: JobState) -> SchemaSpec:
        if job.spec is None:
            job.spec = load_schema(job.schema)
        return job.spec

    def _provider(self) -> Provider:
        assert self.provider is not None, "the engine has not started"
        return self.provider

    def _job_dir(self, job_id: str) -> Path:
        return self.data / "jobs" / job_id

    def _records(self, job_id: str) -> Path:
        return self._job_dir(job_id) / "records.db"

    async def write(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``function`` on the writer thread, after every write queued before it."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, partial(function, *args, **kwargs))
