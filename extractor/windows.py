"""Long documents: the header in one request, the long lists page window by page window.

A 40-page invoice with 600 line items fits one request's context, but not one answer:
600 items are ~20,000 answer tokens, and the answer is cut at ``max_tokens`` (silently
truncated JSON, or an error). So when the lists of a document would not fit one answer,
the schema is split:

- the **header** (every field but the lists of objects) is asked once, over all pages;
- each **list** (line items) is asked page window by page window, each window small
  enough for its items to fit one answer, and the windows' items are joined in page
  order. A table that continues over a page break stays one list; an item that both
  sides of a window boundary return is kept once.

The joined answer is validated against the user's model and checked against its rules
(the sum of the lines against the net) like any other.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, create_model

from extractor.pages import Page
from extractor.prompt import estimate_tokens
from extractor.schema import SchemaSpec

__all__ = [
    "ANSWER_TOKENS_PER_TEXT_TOKEN",
    "amounts_in",
    "answer_estimate",
    "drop_repeats",
    "header_spec",
    "join_lists",
    "list_fields",
    "list_spec",
    "page_windows",
    "rows_beyond",
]

# An item table's JSON answer is longer than its printed rows: every value gets its key.
ANSWER_TOKENS_PER_TEXT_TOKEN = 2.5
# A page seen only as an image: its rows are unknown. Deciding *whether* to split, such a
# page counts for little (a cut answer still makes the split happen); sizing the windows
# once split, it counts as a table page.
IMAGE_PAGE_ANSWER_TOKENS = 800
_ROW = re.compile(r"\d[\d.,' ]*[.,]\d{2}(?!\d)")  # an amount with cents
_SPECS: dict[tuple[type[BaseModel], str], SchemaSpec] = {}


def list_fields(model: type[BaseModel]) -> list[str]:
    """The top-level fields that hold a list of objects (line items …)."""
    names = []
    for name, info in model.model_fields.items():
        for kind in _list_item_types(info.annotation):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                names.append(name)
                break
    return names


def _list_item_types(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (list, tuple, Sequence):
        return list(typing.get_args(annotation))
    return [t for arg in typing.get_args(annotation) for t in _list_item_types(arg)]


def header_spec(spec: SchemaSpec) -> SchemaSpec:
    """``spec`` without its lists of objects."""
    return _derived(spec, "header", exclude=set(list_fields(spec.model)))


def list_spec(spec: SchemaSpec) -> SchemaSpec:
    """Only the lists of objects of ``spec``."""
    keep = set(list_fields(spec.model))
    return _derived(spec, "lists", exclude=set(spec.model.model_fields) - keep)


def _derived(spec: SchemaSpec, part: str, *, exclude: set[str]) -> SchemaSpec:
    key = (spec.model, part)
    if key not in _SPECS:
        fields: dict[str, Any] = {
            name: (info.annotation, info)
            for name, info in spec.model.model_fields.items()
            if name not in exclude
        }
        model = create_model(spec.model.__name__, __doc__=spec.model.__doc__, **fields)
        _SPECS[key] = SchemaSpec.from_model(model)
    # The user's instructions and examples steer every part (prompt.py trims the answers).
    return replace(_SPECS[key], instructions=spec.instructions, examples=spec.examples)


def answer_estimate(pages: Sequence[Page], *, image_page: int = 0) -> int:
    """Roughly how many answer tokens the lists of ``pages`` take, counting a page that
    has no text but an image as ``image_page`` tokens."""
    total = 0.0
    for page in pages:
        if page.text:
            total += len(page.text) // 4 * ANSWER_TOKENS_PER_TEXT_TOKEN
        elif page.image is not None:
            total += image_page
    return int(total)


def page_windows(
    pages: Sequence[Page], *, answer_budget: int, prompt_budget: int, max_images: int
) -> list[list[Page]]:
    """Consecutive pages grouped so that each group's lists fit ``answer_budget`` tokens,
    its prompt ``prompt_budget`` and its images ``max_images``; a page is never split."""
    windows: list[list[Page]] = [[]]
    answer = prompt = images = 0
    for page in pages:
        page_answer = answer_estimate([page], image_page=IMAGE_PAGE_ANSWER_TOKENS)
        page_prompt = estimate_tokens(page)
        page_images = int(page.image is not None)
        full = (
            answer + page_answer > answer_budget
            or prompt + page_prompt > prompt_budget
            or images + page_images > max(max_images, 0)
        )
        if windows[-1] and full:
            windows.append([])
            answer = prompt = images = 0
        windows[-1].append(page)
        answer, prompt, images = answer + page_answer, prompt + page_prompt, images + page_images
    return windows


def join_lists(parts: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    """Join the windows' lists in order. An item equal to the last one kept (a row that
    both sides of a window boundary returned) is kept once."""
    joined: dict[str, list[Any]] = {name: [] for name in names}
    for part in parts:
        for name in names:
            items = part.get(name) or []
            if joined[name] and items and items[0] == joined[name][-1]:
                items = items[1:]
            joined[name].extend(items)
    return joined


def drop_repeats(value: BaseModel, names: Sequence[str], text: str) -> tuple[BaseModel, list[str]]:
    """``value`` with each run of equal items, one after another in a list, trimmed to as
    many as ``text`` prints the item (at least one); and a warning for each list trimmed.

    A model caught in a loop repeats an item until its answer's limit (the embedded model
    gave the same line item 8 times or more in a row on 31 of 73 eval invoices); an
    invoice that really bills the same row twice prints it twice. How often an item is
    printed is how often its longest text (its description, whitespace and case aside)
    stands in ``text``; an item with no text is left as it is.
    """
    printed = " ".join(text.split()).casefold()
    warnings: list[str] = []
    trimmed: dict[str, list[Any]] = {}
    if not printed:  # pages seen only as images: nothing to count by
        return value, warnings
    for name in names:
        items = getattr(value, name, None)
        if not isinstance(items, list) or len(items) < 2:
            continue
        kept: list[Any] = []
        for item in items:
            run = 1 + _run_before(kept, item)
            if run > 1 and run > _times_printed(item, printed):
                continue
            kept.append(item)
        if len(kept) < len(items):
            trimmed[name] = kept
            warnings.append(
                f"{name}: {len(items) - len(kept)} repeated item(s) dropped: the same item "
                "again and again, more often than the pages print it (a model caught in a loop)"
            )
    return (value.model_copy(update=trimmed) if trimmed else value), warnings


def _run_before(kept: list[Any], item: Any) -> int:
    """How many items equal to ``item`` end ``kept``."""
    count = 0
    while count < len(kept) and kept[-1 - count] == item:
        count += 1
    return count


def _times_printed(item: Any, printed: str) -> int:
    texts = [v for v in (item.model_dump() if isinstance(item, BaseModel) else {}).values()
             if isinstance(v, str) and v.strip()]  # fmt: skip
    if not texts:
        return len(printed) + 1  # nothing to count by: never trimmed
    return max(1, printed.count(" ".join(max(texts, key=len).split()).casefold()))


def amounts_in(line: str) -> int:
    """How many amounts with cents ``line`` prints."""
    return len(_ROW.findall(line))


def rows_beyond(pages: Sequence[Page], last_page: int, *, min_amounts: int = 2) -> int:
    """Lines that look like item rows (words and at least ``min_amounts`` amounts with
    cents: a unit price and a line total) on the pages after ``last_page``. A list that
    ends before such rows may have been cut short; totals lines print one amount."""
    rows = 0
    for page in pages:
        if page.number <= last_page:
            continue
        for line in page.text.splitlines():
            if amounts_in(line) >= min_amounts and sum(ch.isalpha() for ch in line) >= 3:
                rows += 1
    return rows
