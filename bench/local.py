"""The embedded model: documents per minute, and generated tokens/s against llama-cpp-python.

    .venv/bin/python bench/local.py [--docs 12] [--set invoices|receipts|both]

For each eval set (``../shared/eval/invoices``: text layer, schema ``invoice``;
``../shared/eval/receipts``: OCR, schema ``receipt``) it takes the first ``--docs``
documents in sorted order and, one document at a time:

1. **extractor**: ``extract(path, schema)`` with the default (embedded) provider, the
   way a user calls it. The provider is wrapped (in this script only) to record the exact
   messages and sampling of every model call and the seconds spent inside the call.
2. **direct**: the same messages sent to a second ``llama_cpp.Llama`` loaded by this script
   with the same file and context settings, through ``create_chat_completion`` with the
   same ``response_format`` schema, temperature and ``max_tokens`` — what a hand-written
   script would do.

2 always follows 1 (it replays 1's prompts, repairs included). Each engine keeps its own
KV cache, and both see the same sequence of prompts, so prefix reuse is the same for
both. Reported:

- **docs/min**: documents ÷ the wall time of the ``extract`` calls (reading, OCR, every
  model call and repair, validation, grounding);
- **generated tokens/s** per call: completion tokens ÷ seconds, for extractor's provider
  call and for the direct call on the same prompt; and their ratio per call (median).
  With temperature 0 both generate the same tokens, so the ratio compares like with like;
- **document-level tokens/s**: all completion tokens of a document ÷ the wall time of its
  ``extract`` call, against the direct calls' tokens ÷ their time: what the pipeline
  around the model costs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from _common import EVAL, machine, write_result

from extractor import Settings, aextract
from extractor.providers.base import Completion, Sampling
from extractor.providers.local import LocalProvider, _text_only, grammar_schema
from extractor.schema import SchemaSpec, load_schema

SETS = {"invoices": ("invoice", "*.pdf"), "receipts": ("receipt", "*.jpg")}


class RecordingProvider(LocalProvider):
    """The shipped provider, recording each call's messages, sampling and seconds."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []

    async def complete(
        self, messages: list[dict[str, Any]], schema: SchemaSpec, sampling: Sampling
    ) -> Completion:
        started = time.perf_counter()
        call: dict[str, Any] = {"messages": messages, "sampling": sampling}
        try:
            completion = await super().complete(messages, schema, sampling)
        except Exception as exc:  # truncated output still generated its tokens
            completion = getattr(exc, "completion", None)
            raise
        finally:
            call["seconds"] = time.perf_counter() - started
            call["tokens"] = completion.usage.completion_tokens if completion else 0
            self.calls.append(call)
        return completion


def direct_call(llama: Any, call: dict[str, Any], spec: SchemaSpec) -> tuple[int, float]:
    sampling: Sampling = call["sampling"]
    started = time.perf_counter()
    raw = llama.create_chat_completion(
        messages=_text_only(call["messages"]),
        response_format={"type": "json_object", "schema": grammar_schema(spec.grammar_schema)},
        temperature=sampling.temperature if sampling.temperature is not None else 0.0,
        max_tokens=sampling.max_tokens,
    )
    return raw["usage"]["completion_tokens"], time.perf_counter() - started


def run_set(name: str, docs: int, provider: RecordingProvider, llama: Any) -> dict[str, Any]:
    schema_name, pattern = SETS[name]
    spec = load_schema(schema_name)
    paths = sorted((EVAL / name).glob(pattern))[:docs]
    settings = Settings(isolate=False)  # one document at a time, as the CLI does with local
    rows = []
    for path in paths:
        before = len(provider.calls)
        started = time.perf_counter()
        result = asyncio.run(aextract(path, spec, settings=settings, provider=provider))
        wall = time.perf_counter() - started
        calls = provider.calls[before:]
        direct = [direct_call(llama, call, spec) for call in calls]
        rows.append({
            "document": path.name,
            "status": result.status,
            "wall_s": wall,
            "calls": [
                {"tokens": c["tokens"], "seconds": c["seconds"],
                 "direct_tokens": d[0], "direct_seconds": d[1]}
                for c, d in zip(calls, direct, strict=True)
            ],
        })  # fmt: skip
        row = rows[-1]
        print(
            f"{name} {path.name}: {result.status}, {wall:.1f} s, calls "
            + ", ".join(
                f"{c['tokens']} tok {c['seconds']:.1f}s / direct {c['direct_tokens']} tok "
                f"{c['direct_seconds']:.1f}s"
                for c in row["calls"]
            ),
            flush=True,
        )
    return summarise(rows)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    calls = [c for row in rows for c in row["calls"]]
    same = [c for c in calls if c["tokens"] == c["direct_tokens"] and c["tokens"] > 0]
    ratios = [
        (c["tokens"] / c["seconds"]) / (c["direct_tokens"] / c["direct_seconds"]) for c in same
    ]
    wall = sum(row["wall_s"] for row in rows)
    doc_ratios = []
    for row in rows:
        tokens = sum(c["tokens"] for c in row["calls"])
        direct_tokens = sum(c["direct_tokens"] for c in row["calls"])
        direct_seconds = sum(c["direct_seconds"] for c in row["calls"])
        if tokens and direct_tokens == tokens:
            doc_ratios.append((tokens / row["wall_s"]) / (direct_tokens / direct_seconds))
    return {
        "documents": len(rows),
        "ok": sum(row["status"] == "ok" for row in rows),
        "docs_per_min": 60 * len(rows) / wall,
        "median_doc_s": statistics.median(row["wall_s"] for row in rows),
        "model_calls": len(calls),
        "calls_with_identical_tokens": len(same),
        "extractor_tok_s": statistics.median(c["tokens"] / c["seconds"] for c in same)
        if same
        else None,
        "direct_tok_s": statistics.median(c["direct_tokens"] / c["direct_seconds"] for c in same)
        if same
        else None,
        "call_ratio_median": statistics.median(ratios) if ratios else None,
        "call_ratio_min_max": [min(ratios), max(ratios)] if ratios else None,
        "document_ratio_median": statistics.median(doc_ratios) if doc_ratios else None,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=12)
    parser.add_argument("--set", choices=["invoices", "receipts", "both"], default="both")
    args = parser.parse_args()
    from llama_cpp import Llama

    provider = RecordingProvider()
    llama = Llama(
        model_path=str(provider.path), n_ctx=provider.n_ctx, n_batch=provider.n_ctx,
        verbose=False,
    )  # fmt: skip
    names = ["invoices", "receipts"] if args.set == "both" else [args.set]
    print(machine())
    results = {name: run_set(name, args.docs, provider, llama) for name in names}
    for name, summary in results.items():
        print(
            f"{name}: {summary['docs_per_min']:.2f} docs/min "
            f"(median {summary['median_doc_s']:.1f} s/doc, {summary['ok']}/{summary['documents']}"
            f" ok); generated tok/s extractor {summary['extractor_tok_s']} vs direct "
            f"{summary['direct_tok_s']}, per-call ratio {summary['call_ratio_median']} "
            f"{summary['call_ratio_min_max']}; per-document ratio "
            f"{summary['document_ratio_median']}"
        )
    write_result("local", {"docs": args.docs, "sets": results})


if __name__ == "__main__":
    main()
