"""Steering the model without forking: extra instructions and worked examples.

``instructions`` is text added to the system prompt after the field guide. Each example
is a document and its right answer; it is read like any document (with the job's page
options, so a model that sees gets the example's images) and sent before the document
as two earlier turns of the conversation: the example document, then its answer, written
as the model is asked to write (maps as key/value pairs). Both become part of the spec,
so both are part of the job fingerprint: a run with other instructions or examples is
another job.

A folder of examples (``--examples DIR``) holds pairs: ``invoice-a.pdf`` with
``invoice-a.json`` beside it.

Example:
    >>> from extractor.schema import load_schema
    >>> spec = steer(load_schema("receipt"), instructions="Totals include the tip.")
    >>> "Totals include the tip." in spec.fingerprint()
    True
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from extractor.errors import ConfigError, InputError
from extractor.load import Source
from extractor.prompt import document_content
from extractor.reading import prepare
from extractor.schema import Example, SchemaSpec
from extractor.settings import PageOptions

__all__ = ["ExampleInput", "examples_from_folder", "steer"]

ExampleInput = tuple[Source, Any] | Example
"""A document (path or bytes) and its right answer (a dict, a model instance, or JSON), or
an :class:`~extractor.schema.Example` already read (``spec.examples`` of a steered spec)."""


def steer(
    spec: SchemaSpec,
    *,
    instructions: str | None = None,
    examples: Iterable[ExampleInput] = (),
    options: PageOptions | None = None,
) -> SchemaSpec:
    """``spec`` with ``instructions`` and ``examples`` (read with ``options``; an
    :class:`~extractor.schema.Example` already read is taken as it is).

    Raises:
        ConfigError: an example cannot be read, or its answer does not fit the schema.
    """
    pairs = list(examples)
    if isinstance(examples, str | bytes) or any(not _is_pair(pair) for pair in pairs):
        raise ConfigError("examples are (document, answer) pairs: [(path_or_bytes, dict), …]")
    rendered = tuple(
        pair if isinstance(pair, Example)
        else _example(spec, number, pair[0], pair[1], options or PageOptions())
        for number, pair in enumerate(pairs, start=1)
    )  # fmt: skip
    text = instructions.strip() if instructions else None
    return replace(spec, instructions=text or spec.instructions,
                   examples=rendered or spec.examples)  # fmt: skip


def _is_pair(pair: Any) -> bool:
    return isinstance(pair, Example) or (isinstance(pair, tuple | list) and len(pair) == 2)


def _example(
    spec: SchemaSpec, number: int, document: Source, answer: Any, options: PageOptions
) -> Example:
    name = "<bytes>" if isinstance(document, bytes) else os.fspath(document)
    try:
        loaded, pages = prepare(document, options)
    except InputError as exc:
        raise ConfigError(f"example {number} ({name}) cannot be read: {exc}") from None
    header = f"An example document ({len(pages)} page(s)); its answer follows."
    content = document_content(pages, header)
    return Example(
        source=loaded.source,
        content=content if isinstance(content, str) else tuple(content),
        answer=_answer(spec, number, name, answer),
    )


def _answer(spec: SchemaSpec, number: int, name: str, answer: Any) -> dict[str, Any]:
    try:
        if isinstance(answer, str | bytes):
            value = spec.model.model_validate_json(answer)
        elif isinstance(answer, BaseModel):
            value = spec.model.model_validate(answer.model_dump())
        else:
            value = spec.model.model_validate(answer)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
            for e in exc.errors(include_url=False)[:5]
        )
        raise ConfigError(
            f"example {number} ({name}): its answer does not fit {spec.name}: {reasons}"
        ) from None
    dumped: dict[str, Any] = value.model_dump(mode="json")
    return dumped


def examples_from_folder(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The (document, answer) pairs of ``folder``: each document with the ``.json`` file
    of the same name beside it.

    Raises:
        ConfigError: the folder is missing or empty, a document has no answer file or an
            answer file no document, or an answer file is not JSON.
    """
    if not folder.is_dir():
        raise ConfigError(f"--examples {folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    answers = {p.stem: p for p in files if p.suffix.lower() == ".json"}
    documents = [p for p in files if p.suffix.lower() != ".json"]
    lonely = [p.name for p in documents if p.stem not in answers]
    lonely += [p.name for s, p in answers.items() if s not in {d.stem for d in documents}]
    if lonely:
        raise ConfigError(
            f"--examples {folder}: every document needs its answer beside it "
            f"(invoice-a.pdf with invoice-a.json); unpaired: {', '.join(lonely[:5])}"
        )
    if not documents:
        raise ConfigError(f"--examples {folder}: no examples in it")
    return [(document, _read_json(answers[document.stem])) for document in documents]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON answer: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: an answer is a JSON object")
    return value
