"""The library entry points: one document, or many at once; sync and async.

Nothing here prints. Progress reaches the caller through ``on_result``, called once per
document as it finishes.

A source is a path, bytes (or a bytearray), or a binary file object (read when its turn
comes); anything else is a :class:`~extractor.errors.ConfigError` before anything runs.
``instructions`` and ``examples`` steer the model (:mod:`extractor.examples`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from extractor.budget import Budget
from extractor.examples import ExampleInput, steer
from extractor.isolate import PagesWorkerPool
from extractor.load import Source
from extractor.pipeline import page_options, process
from extractor.providers import Choice, Provider, choose, open_provider
from extractor.result import Result
from extractor.schema import SchemaSpec, load_schema
from extractor.settings import Settings
from extractor.sources import as_source, checked_sources

__all__ = [
    "aextract",
    "aextract_many",
    "choose_provider",
    "extract",
    "extract_many",
    "iterate_in_thread",
    "open_job_provider",
    "run_indexed",
]

M = TypeVar("M", bound=BaseModel)
OnResult = Callable[[Result[Any]], None]
Indexed = tuple[int, Source]


def choose_provider(settings: Settings) -> Choice:
    """Which provider ``settings`` choose, and why (see :func:`extractor.providers.choose`)."""
    return choose(settings.provider, model=settings.model, base_url=settings.base_url)


def open_job_provider(settings: Settings, choice: Choice | None = None) -> Provider:
    """Open the provider ``settings`` choose (or ``choice``, when it was already made)."""
    return open_provider(choice or choose_provider(settings), settings)


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
    instructions: str | None = ...,
    examples: Iterable[ExampleInput] = ...,
    **options: Any,
) -> Result[M]: ...
@overload
async def aextract(
    source: Source,
    schema: str | SchemaSpec,
    *,
    settings: Settings | None = ...,
    provider: Provider | str | None = ...,
    instructions: str | None = ...,
    examples: Iterable[ExampleInput] = ...,
    **options: Any,
) -> Result[Any]: ...
async def aextract(
    source: Source,
    schema: type[BaseModel] | str | SchemaSpec,
    *,
    settings: Settings | None = None,
    provider: Provider | str | None = None,
    instructions: str | None = None,
    examples: Iterable[ExampleInput] = (),
    **options: Any,
) -> Result[Any]:
    """Async twin of :func:`extract`."""
    source = as_source(source)
    provider = _provider_option(provider, options)
    settings = (settings or Settings()).with_options(**options)
    spec = load_schema(schema)
    owned = provider is None
    provider = provider or open_job_provider(settings)
    try:
        if instructions or examples:
            spec = await asyncio.to_thread(
                steer, spec, instructions=instructions, examples=examples,
                options=page_options(settings, provider),
            )  # fmt: skip
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
    instructions: str | None = ...,
    examples: Iterable[ExampleInput] = ...,
    **options: Any,
) -> Result[M]: ...
@overload
def extract(
    source: Source,
    schema: str | SchemaSpec,
    *,
    settings: Settings | None = ...,
    provider: Provider | str | None = ...,
    instructions: str | None = ...,
    examples: Iterable[ExampleInput] = ...,
    **options: Any,
) -> Result[Any]: ...
def extract(
    source: Source,
    schema: type[BaseModel] | str | SchemaSpec,
    *,
    settings: Settings | None = None,
    provider: Provider | str | None = None,
    instructions: str | None = None,
    examples: Iterable[ExampleInput] = (),
    **options: Any,
) -> Result[Any]:
    """Extract ``schema`` from one document.

    Args:
        source: a path, the document's bytes, or a binary file object.
        schema: a pydantic model class, or a spec (``invoice``, ``file.py:Class`` …).
        settings: a :class:`Settings`; ``options`` override its fields
            (``model="…"``, ``mode="text"``, ``temperature=0.2`` …).
        provider: an already open provider, or a provider name (``"openrouter"`` …) that
            sets ``Settings.provider``; None chooses from settings/environment.
        instructions: extra guidance for the model, added to the system prompt.
        examples: ``(document, answer)`` pairs sent before the document as worked
            examples (``answer``: a dict, a model instance or JSON text).

    Returns:
        The document's :class:`Result`: ``status`` ``ok`` with ``data``, or ``error``.
        Only configuration mistakes raise; the document's own problems are in the result.

    Example:
        >>> from extractor import extract
        >>> result = extract("fixtures/invoice.pdf", "invoice")  # doctest: +SKIP
        >>> result.data.total_amount  # doctest: +SKIP
        1485.12
    """

    source = as_source(source)  # before the loop: a mistake raises here, as itself

    async def run() -> Result[Any]:
        try:
            return await aextract(
                source, schema, settings=settings, provider=provider,
                instructions=instructions, examples=examples, **options,
            )  # fmt: skip
        finally:
            await _end_of_loop(provider)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run())
    # Called from inside a running event loop (a notebook cell, an async web handler):
    # asyncio.run() refuses to nest, so the call gets a loop of its own in a helper thread.
    with ThreadPoolExecutor(1, thread_name_prefix="extractor-extract") as helper:
        return helper.submit(asyncio.run, run()).result()


async def _end_of_loop(provider: Provider | str | None) -> None:
    """A sync call runs on an event loop of its own, and pooled connections die with it:
    close what a caller's provider opened on it (the provider stays usable; the next
    call opens new connections on its own loop)."""
    if provider is not None and not isinstance(provider, str):
        await provider.aclose()


def aextract_many(
    sources: Iterable[Source],
    schema: type[BaseModel] | str | SchemaSpec,
    *,
    settings: Settings | None = None,
    provider: Provider | str | None = None,
    on_result: OnResult | None = None,
    instructions: str | None = None,
    examples: Iterable[ExampleInput] = (),
    **options: Any,
) -> AsyncGenerator[Result[Any], None]:
    """Extract from many documents, ``settings.concurrency`` at a time (fewer when the
    provider sets ``max_concurrency``: the embedded model runs one call at a time).

    Yields results as they finish; ``result.index`` is the source's position. Mistakes
    in the arguments raise :class:`~extractor.errors.ConfigError` here, before anything runs.

    Example:
        >>> async for r in aextract_many(paths, "invoice", concurrency=8):  # doctest: +SKIP
        ...     print(r.index, r.status)
    """
    provider = _provider_option(provider, options)
    settings = (settings or Settings()).with_options(**options)
    spec = load_schema(schema)
    pairs = enumerate(checked_sources(sources))
    if not (instructions or examples):
        return run_indexed(pairs, spec, settings, provider, on_result=on_result)
    owned = provider is None
    provider = provider or open_job_provider(settings)
    spec = steer(spec, instructions=instructions, examples=examples,
                 options=page_options(settings, provider))  # fmt: skip
    return run_indexed(pairs, spec, settings, provider, on_result=on_result, close=owned)


async def run_indexed(
    sources: Iterable[Indexed],
    spec: SchemaSpec,
    settings: Settings,
    provider: Provider | None = None,
    *,
    on_result: OnResult | None = None,
    budget: Budget | None = None,
    close: bool = False,
) -> AsyncGenerator[Result[Any], None]:
    """:func:`aextract_many` over ``(index, source)`` pairs: each result carries its pair's
    index, so a caller that skips some inputs (a resumed job) needs no renumbering.
    Opens (and closes) the job's provider when none is given; closes the given one too
    with ``close``.

    With ``settings.max_cost`` (or a ``budget`` carrying what earlier runs spent), no new
    document starts once the committed cost plus the in-flight estimate would pass the
    cap; the documents in flight finish and are yielded, then
    :class:`~extractor.budget.BudgetExceeded` is raised."""
    budget = budget or _budget_of(settings)
    owned = provider is None or close
    provider = provider or open_job_provider(settings)
    concurrency = min(settings.concurrency, provider.max_concurrency or settings.concurrency)
    # A document holds one of `concurrency` slots from before it is read until the caller
    # has taken its result and asked for the next one. So a consumer slower than the model
    # holds the producers back (finished results never pile up: at 10,000 documents they
    # once held ~35 MiB), and a run killed at any moment has paid for at most
    # `concurrency` results that its caller had not yet taken (and committed).
    done: asyncio.Queue[Result[Any]] = asyncio.Queue()  # ≤ concurrency: each holds a slot
    limit = asyncio.Semaphore(concurrency)
    pool = _pages_pool(settings, concurrency)
    changed = asyncio.Event()  # a document finished: the budget may allow another
    not_started = 0

    async def one(index: int, source: Source) -> None:
        try:  # the slot was taken by feed(); the loop below gives it back
            result = await process(source, spec, provider, settings, index=index, pool=pool)
            if budget is not None:
                budget.done(result.cost_usd)
                changed.set()
            if on_result is not None:
                on_result(result)
        except BaseException:
            limit.release()
            raise
        done.put_nowait(result)

    async def feed() -> int:
        nonlocal not_started
        count = 0
        pairs = iter(sources)
        async with asyncio.TaskGroup() as group:
            for index, source in pairs:
                await limit.acquire()  # no task per file of a huge folder up front
                if budget is not None and not await _budget_allows(budget, changed):
                    limit.release()
                    not_started = 1 + sum(1 for _ in pairs)
                    break
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
                failure = feeder.exception()
                if failure is not None:
                    raise _unwrapped(failure)
        if budget is not None and budget.stopped:
            raise budget.exceeded(not_started)
    finally:
        feeder.cancel()
        await asyncio.wait({feeder})  # its tasks are cancelled before the workers go
        if pool is not None:
            await pool.aclose()
        if owned:
            await provider.aclose()


def _budget_of(settings: Settings) -> Budget | None:
    return None if settings.max_cost is None else Budget(settings.max_cost)


async def _budget_allows(budget: Budget, changed: asyncio.Event) -> bool:
    """Wait until ``budget`` lets one more document start (True), or stops the run."""
    while not budget.may_start():
        if budget.stopped:
            return False
        changed.clear()
        await changed.wait()  # a document in flight finishes and says what it cost
    budget.started()
    return True


def _unwrapped(failure: BaseException) -> BaseException:
    """A source found wrong while feeding (a ConfigError from a lazy iterable) as itself,
    not inside the ExceptionGroup the task group wraps it in."""
    while isinstance(failure, BaseExceptionGroup) and len(failure.exceptions) == 1:
        failure = failure.exceptions[0]
    return failure


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
    instructions: str | None = None,
    examples: Iterable[ExampleInput] = (),
    store: str | os.PathLike[str] | None = None,
    fresh: bool = False,
    retry_failed: bool = False,
    **options: Any,
) -> Iterator[Result[Any]]:
    """Sync twin of :func:`aextract_many`: an iterator of results as they finish.

    The work runs on an event loop in a background thread; stopping the iteration early
    cancels what is still in flight. Mistakes in the arguments raise
    :class:`~extractor.errors.ConfigError` here, before anything runs.

    With ``store`` (a SQLite file, as the CLI's ``OUT.db``), every result is committed to
    it as it finishes, and a later call with the same job gives back the committed
    results without calling the model (``retry_failed`` redoes errors; ``fresh`` starts
    over), so an ETL job rerun after a failure does not pay twice.

    Example:
        >>> from extractor import extract_many
        >>> for r in extract_many(["a.pdf", "b.pdf"], "invoice", concurrency=8):  # doctest: +SKIP
        ...     print(r.index, r.status)
        >>> done = list(extract_many(paths, "invoice", store="run.db"))  # doctest: +SKIP
    """
    opened = _provider_option(provider, options)
    settings = (settings or Settings()).with_options(**options)
    spec = load_schema(schema)
    checked = checked_sources(sources)
    if store is not None or instructions or examples:
        opened = opened or open_job_provider(settings)  # closed by iterate_in_thread
    if instructions or examples:
        assert opened is not None
        spec = steer(spec, instructions=instructions, examples=examples,
                     options=page_options(settings, opened))  # fmt: skip
    if store is not None:
        from extractor.jobs import resume_many

        assert opened is not None
        return resume_many(checked, spec, settings, opened, store=Path(store), fresh=fresh,
                           retry_failed=retry_failed, on_result=on_result)  # fmt: skip
    pairs = enumerate(checked)
    return iterate_in_thread(
        lambda: run_indexed(pairs, spec, settings, opened, on_result=on_result), opened
    )


def iterate_in_thread(
    start: Callable[[], AsyncGenerator[Result[Any], None]], provider: Provider | None = None
) -> Generator[Result[Any], None, None]:
    """Run the async generator ``start()`` makes on an event loop in a background thread
    and hand its results to this thread one at a time.

    One result at a time crosses over, and its document's slot is held until the caller
    asks for the next one (see :func:`run_indexed`).
    """
    results: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    taken = threading.Semaphore(0)
    stop = threading.Event()

    def hand_over(result: Result[Any]) -> None:
        results.put(("result", result))
        while not taken.acquire(timeout=0.1):
            if stop.is_set():
                return

    async def pump() -> None:
        agen = start()
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
