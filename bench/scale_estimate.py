"""``extractor estimate`` against what a run reports, on the evaluation sets.

    .venv/bin/python bench/scale_estimate.py [--receipts 20]

For each set, the estimate (:func:`extractor.estimate.estimate`, nothing sent) is compared
with a run against a ScriptedServer whose responder is a :class:`TruthModel` per document
(it answers the truth the request shows and reports usage the way it counts: the JSON of
the messages at four characters a token, the answer at four characters a token).

Besides the scripted usage, ``sent_tokens`` counts what was sent as a provider would:
the text of every request (repairs included) at four characters a token. The scripted
usage counts the JSON of the messages instead, where every non-ASCII character is a
six-character ``\\uXXXX`` escape and every line break two characters.

- invoices: all 73 born-digital PDFs (text layers), schema ``invoice``;
- receipts: the first ``--receipts`` scans, schema ``receipt``, ``--no-vision`` (OCR text:
  the scripted usage counts an image by its base64 length, which is no provider's rule).

Cost is priced at the default model's table price (mistralai/mistral-medium-3.1).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from _common import EVAL, write_result

from extractor import extract
from extractor.api import open_job_provider
from extractor.estimate import estimate, message_tokens
from extractor.providers.pricing import PRICES
from extractor.schema import load_schema
from extractor.settings import Settings
from extractor.testing import RecordedRequest, Reply, ScriptedServer, TruthModel

MODEL = "mistralai/mistral-medium-3.1"


def _one_set(sources: list[Path], schema: str, **options: Any) -> dict[str, Any]:
    spec = load_schema(schema)
    settings = Settings().with_options(base_url="http://127.0.0.1:9/v1", model=MODEL, **options)
    report = estimate(sources, spec, open_job_provider(settings), settings)
    actual = {"prompt_tokens": 0, "completion_tokens": 0, "requests": 0, "attempts": 0,
              "sent_tokens": 0}  # fmt: skip
    for source in sources:
        truth = json.loads(source.with_suffix(".json").read_text())
        model = TruthModel(truth)

        def answer(request: RecordedRequest, model: TruthModel = model) -> Reply:
            actual["sent_tokens"] += message_tokens(request.json["messages"])
            return model(request)

        with ScriptedServer(responder=answer) as server:
            result = extract(source, spec, settings=settings.with_options(base_url=server.base_url))
        actual["prompt_tokens"] += result.usage.prompt_tokens
        actual["completion_tokens"] += result.usage.completion_tokens
        actual["requests"] += result.requests
        actual["attempts"] += len(result.attempts)
    price_in, price_out = PRICES[MODEL]
    cost = (actual["prompt_tokens"] * price_in + actual["completion_tokens"] * price_out) / 1e6
    low, high = report.cost() or (0.0, 0.0)
    return {
        "documents": len(sources), "estimate": report.as_dict(), "actual": actual,
        "actual_cost_usd": cost,
        "input_ratio": report.total("input_tokens") / max(1, actual["prompt_tokens"]),
        "input_ratio_sent": report.total("input_tokens") / max(1, actual["sent_tokens"]),
        "input_ratio_sent_first": report.total("input_tokens") / max(1, actual["sent_tokens"])
        * actual["attempts"] / max(1, actual["requests"]),
        "output_ratio": report.total("output_tokens") / max(1, actual["completion_tokens"]),
        "cost_in_range": low <= cost <= high,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--receipts", type=int, default=20)
    args = parser.parse_args()
    invoices = sorted(EVAL.glob("invoices/*.pdf"))
    receipts = sorted(EVAL.glob("receipts/*.jpg"))[: args.receipts]
    result = {
        "model": MODEL,
        "invoices": _one_set(invoices, "invoice"),
        "receipts": _one_set(receipts, "receipt", vision=False),
    }
    path = write_result("scale_estimate", result)
    for name in ("invoices", "receipts"):
        one: dict[str, Any] = result[name]  # type: ignore[assignment]
        est, act = one["estimate"], one["actual"]
        print(
            f"{name}: input est {est['input_tokens']:,} vs scripted {act['prompt_tokens']:,} "
            f"({one['input_ratio']:.2f}x), sent {act['sent_tokens']:,} "
            f"({one['input_ratio_sent']:.2f}x); output est {est['output_tokens']:,} vs "
            f"{act['completion_tokens']:,} ({one['output_ratio']:.2f}x); cost "
            f"{est['cost_usd']['low']:.4f}-{est['cost_usd']['high']:.4f} vs "
            f"{one['actual_cost_usd']:.4f}"
        )
    print(f"-> {path}")


if __name__ == "__main__":
    main()
