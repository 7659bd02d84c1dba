"""The library entry points: one document, or many at once; sync and async.

Nothing here prints. Progress reaches the caller through ``on_result``, called once per
document as it finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from extractor.isolate import PagesWorkerPool
from extractor.pipeline import process
from extractor.providers import Provider, choose, open_provider
from extractor.reading import Source
from extractor.result import Result
from extractor.schema import SchemaSpec, load_schema
from extractor.settings import Settings

__all__ = ["aextract", "aextract_many", "extract", "extract_many", "open_job_provider"]

M = TypeVar("M", bound=BaseModel)
OnResult = Callable[[Result[Any]], None]


def open_job_provider(settings: Settings) -> Provider:
    """The provider ``settings`` choose (see :func:`extractor.providers.choose`)."""
    choice = choose(settings.provider, model=settings.model, base_url=settings.base_url)
    return open_provider(
        choice, api_key=settings.api_key, retry=settings.retry, local_n_ctx=settings.local_n_ctx
    )


def _provider_option(provider: Provider | str | None, options: dict[str, Any]) -> Provider | None:
    # ``provider`` is both a Settings field (a name) and an open Provider: a name passed as a
    # keyword belongs to the settings, not in place of the provider object.
    if isinstance(provider, str):
        options["provider"] = provider
        return None
    return provider


@overload
async def aextract(
    source: Source,
    schema: type[M],
    *,
    settings: Settings | None = ...,
    provider: Provider | str | None = ...,
    **options: Any,
) -> Result[M]: ...
@overload
async def aextract(
    source: Source,
    schema: str | SchemaSpec,
    *,
    settings: Settings | None = ...,
    provider: Provider | str | None = ...,
    **options: Any,
) -> Result[Any]: ...
async def aextract(
    source: Source,
    schema: type[BaseModel] | str | SchemaSpec,
    *,
    settings: Settings | None = None,
    provider: Provider | str | None = None,
    **options: Any,
) -> Result[Any]:
    """Async twin of :func:`extract`."""
    provider = _provider_option(provider, options)
    settings = (settings or Settings()).with_options(**options)
    spec = load_schema(schema)
    owned = provider is None
    provider = provider or open_job_provider(settings)
    try:
        return await process(source, spec, provider, settings)
    finally:
        if owned:
            await provider.aclose()


@overload
def extract(
    source: Source,
    schema: type[M],
    *,
    settings: Settings | None = ...,
    provider: Provider | str | None = ...,
    **options: Any,
) -> Result[M]: ...
@overload
def extract(
    source: Source,
    schema: str | SchemaSpec,
    *,
    settings: Settings | None = ...,
    provider: Provider | str | None = ...,
    **options: Any,
) -> Result[Any]: ...
def extract(
    source: Source,
    schema: type[BaseModel] | str | SchemaSpec,
    *,
    settings: Settings | None = None,
    provider: Provider | str | None = None,
    **options: Any,
) -> Result[Any]:
    """Extract ``schema`` from one document.

    Args:
        source: a path, or the document's bytes.
        schema: a pydantic model class, or a spec (``invoice``, ``file.py:Class`` …).
        settings: a :class:`Settings`; ``options`` override its fields
            (``model="…"``, ``mode="text"``, ``temperature=0.2`` …).
        provider: an already open provider, or a provider name (``"openrouter"`` …) that
            sets ``Settings.provider``; None chooses from settings/environment.

    Returns:
        The document's :class:`Result`: ``status`` ``ok`` with ``data``, or ``error``.
        Only configuration mistakes raise; the document's own problems are in the result.

    Example:
        >>> from extractor import extract
        >>> result = extract("fixtures/invoice.pdf", "invoice")  # doctest: +SKIP
        >>> result.data.total_amount  # doctest: +SKIP
        1485.12
    """

    async def run() -> Result[Any]:
        try:
            return await aextract(source, schema, settings=settings, provider=provider, **options)
        finally:
            await _end_of_loop(provider)

    return asyncio.run(run())


async def _end_of_loop(provider: Provider | str | None) -> None:
    """A sync call runs on an event loop of its own, and pooled connections die with it:
    close what a caller's provider opened on it (the provider stays usable; the next
    call opens new connections on its own loop)."""
    if provider is not None and not isinstance(provider, str):
        await provider.aclose()


async def aextract_many(
    sources: Iterable[Source],
    schema: type[BaseModel] | str | SchemaSpec,
    *,
    settings: Settings | None = None,
    provider: Provider | str | None = None,
    on_result: OnResult | None = None,
    **options: Any,
) -> AsyncGenerator[Result[Any], None]:
    """Extract from many documents, ``settings.concurrency`` at a time (fewer when the
    provider sets ``max_concurrency``: the embedded model runs one call at a time).

    Yields results as they finish; ``result.index`` is the source's position.
    """
    provider = _provider_option(provider, options)
    settings = (settings or Settings()).with_options(**options)
    spec = load_schema(schema)
    owned = provider is None
    provider = provider or open_job_provider(settings)
    assert provider is not None
    concurrency = min(settings.concurrency, getattr(provider, "max_concurrency", None) or 1 << 30)
    # A document holds one of `concurrency` slots from before it is read until the caller
    # has taken its result and asked for the next one. So a consumer slower than the model
    # holds the producers back (finished results never pile up: at 10,000 documents they
    # once held ~35 MiB), and a run killed at any moment has paid for at most
    # `concurrency` results that its caller had not yet taken (and committed).
    done: asyncio.Queue[Result[Any]] = asyncio.Queue()  # ≤ concurrency: each holds a slot
    limit = asyncio.Semaphore(concurrency)
    pool = _pages_pool(settings, concurrency)

    async def one(index: int, source: Source) -> None:
        try:  # the slot was taken by feed(); the loop below gives it back
            result = await process(source, spec, provider, settings, index=index, pool=pool)
            if on_result is not None:
                on_result(result)
        except BaseException:
            limit.release()
            raise
        done.put_nowait(result)

    async def feed() -> int:
        count = 0
        async with asyncio.TaskGroup() as group:
            for index, source in enumerate(sources):
                await limit.acquire()  # no task per file of a huge folder up front
                group.create_task(one(index, source))
                count += 1
        return count

    feeder = asyncio.create_task(feed())
    yielded = 0
    try:
        while not (feeder.done() and yielded == feeder.result() and done.empty()):
            getter = asyncio.ensure_future(done.get())
            await asyncio.wait({getter, feeder}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yielded += 1
                yield getter.result()
                limit.release()  # the caller has taken it and asks for the next
            else:
                getter.cancel()
                if feeder.exception() is not None:
                    raise feeder.exception()  # type: ignore[misc]
    finally:
        feeder.cancel()
        await asyncio.wait({feeder})  # its tasks are cancelled before the workers go
        if pool is not None:
            await pool.aclose()
        if owned:
            await provider.aclose()


def _pages_pool(settings: Settings, concurrency: int) -> PagesWorkerPool | None:
    """Worker processes for reading documents: as many as there are cores (reading is
    CPU work; more would only hold memory), never more than documents in flight."""
    if not settings.isolate:
        return None
    workers = min(concurrency, max(2, os.cpu_count() or 2))
    return PagesWorkerPool(
        workers, memory_bytes=settings.worker_memory, timeout_s=settings.read_timeout
    )


def extract_many(
    sources: Iterable[Source],
    schema: type[BaseModel] | str | SchemaSpec,
    *,
    settings: Settings | None = None,
    provider: Provider | str | None = None,
    on_result: OnResult | None = None,
    **options: Any,
) -> Iterator[Result[Any]]:
    """Sync twin of :func:`aextract_many`: an iterator of results as they finish.

    The work runs on an event loop in a background thread; stopping the iteration early
    cancels what is still in flight.

    Example:
        >>> from extractor import extract_many
        >>> for r in extract_many(["a.pdf", "b.pdf"], "invoice", concurrency=8):  # doctest: +SKIP
        ...     print(r.index, r.status)
    """
    # One result at a time crosses to the caller's thread, and its document's slot is held
    # until the caller asks for the next one (see aextract_many).
    results: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    taken = threading.Semaphore(0)
    stop = threading.Event()

    def hand_over(result: Result[Any]) -> None:
        results.put(("result", result))
        while not taken.acquire(timeout=0.1):
            if stop.is_set():
                return

    async def pump() -> None:
        agen = aextract_many(
            sources, schema, settings=settings, provider=provider, on_result=on_result, **options
        )
        try:
            async for result in agen:
                if stop.is_set():
                    break
                await asyncio.to_thread(hand_over, result)
        finally:
            await agen.aclose()
            await _end_of_loop(provider)

    def runner() -> None:
        try:
            asyncio.run(pump())
            results.put(("done", None))
        except BaseException as exc:  # handed to the consuming thread
            results.put(("error", exc))

    thread = threading.Thread(target=runner, name="extractor-loop", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = results.get()
            if kind == "result":
                yield item
                taken.release()
            elif kind == "error":
                raise item
            else:
                return
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                results.get(timeout=0.05)
