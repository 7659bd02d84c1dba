"""Score extractor on the forms evaluation set: the scripted oracle, or the embedded model.

    .venv/bin/python bench/forms_eval.py oracle              # all 90 documents + corpus
    .venv/bin/python bench/forms_eval.py local --limit 2     # the first 2 of each layout

Writes the set with its scans (``fixtures/make_forms.py --scans``) into ``--out`` (default
``out/forms``), then runs ``extractor extract`` on each document of each variant (fillable,
flattened, scanned) and schema (``form`` for the membership and application layouts,
``key_values`` for the claims), plus the real fillable files of issue 14 from
``../shared/corpus/pdf-malformed`` with their truth (fillable only). Every run is a real
CLI process, one per document; ``extractor eval`` then scores each run's records.

- ``oracle``: the model is `extractor.testing.TruthModel` behind a `ScriptedServer` on
  127.0.0.1. It knows the document's truth but answers a value only when the request
  shows it (a yes/no answer always), so what it misses is what the pipeline did not
  send. TruthModel answers a list item whole once its first text is shown; here a
  key_values item's value is also looked for (:func:`shown_only`), so a form's values
  are not answered from its printed labels. It reads text only (``--mode text``), as
  the embedded model does: scans go through OCR.
- ``local``: ``--provider local``, the embedded model, offline (slow: run a subset).

Prints a markdown table per run and writes ``bench/results/forms_eval-MODE.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import CORPUS, ROOT, write_result

from extractor.evaluate import load_truth
from extractor.ground import ground
from extractor.pages import Page
from extractor.testing import RecordedRequest, Reply, ScriptedServer, TruthModel

sys.path.insert(0, str(ROOT / "fixtures"))
import make_forms

GROUPS = (("form", ("membership", "application")), ("key_values", ("claim",)))
EXTRACTOR = Path(sys.executable).parent / "extractor"  # the CLI of this interpreter


def shown_only(truth: dict[str, Any]) -> Callable[[RecordedRequest], Reply]:
    """TruthModel, but a list item's ``value`` only where the request shows it."""

    def respond(request: RecordedRequest) -> Reply:
        messages = (request.json or {}).get("messages", [])
        user = next((m["content"] for m in messages if m.get("role") == "user"), "")
        text = user if isinstance(user, str) else " ".join(p.get("text", "") for p in user)
        page = [Page(1, 0, 0, text=text, text_source="plain")]
        items = truth.get("fields")
        if not isinstance(items, list):
            return TruthModel(truth)(request)
        values = {str(i): item["value"] for i, item in enumerate(items) if item["value"]}
        found = ground(values, page)
        seen = [{**item, "value": item["value"] if found.get(str(i)) and
                 found[str(i)].status != "not_found" else None}
                for i, item in enumerate(items)]  # fmt: skip
        return TruthModel({**truth, "fields": seen})(request)

    return respond


def documents(folder: Path, layouts: tuple[str, ...], limit: int | None) -> list[Path]:
    found = []
    for layout in layouts:
        paths = sorted(folder.glob(f"{layout}_*.pdf"))
        found += paths[:limit] if limit else paths
    return found


def run(paths: list[Path], schema: str, truth: Path, output: Path, model: list[str],
        server: ScriptedServer | None) -> dict[str, Any]:  # fmt: skip
    """One ``extractor extract`` per document (the oracle is told that document's truth),
    then ``extractor eval`` over their records."""
    truths = load_truth(truth)
    output.parent.mkdir(parents=True, exist_ok=True)
    records = []
    started = time.monotonic()
    for path in paths:
        if server is not None:
            server.responder = shown_only(truths[path.stem])
        one = output.with_name(f"{output.stem}-{path.stem}.jsonl")
        _cli(["extract", str(path), "-s", schema, "-o", str(one), "--fresh", *model], ok=(0, 1))
        records.append(one.read_text())
    wall = time.monotonic() - started
    output.write_text("".join(records))
    report_path = output.with_name(output.name + ".eval.json")
    _cli(["eval", str(output), "--truth", str(truth), "--skip-missing", "--json",
          str(report_path)], ok=(0,))  # fmt: skip
    report: dict[str, Any] = json.loads(report_path.read_text())
    report["wall_s"] = round(wall, 1)
    report["command"] = f"extractor extract DOCUMENT -s {schema} {' '.join(model)}"
    return report


def _cli(args: list[str], ok: tuple[int, ...]) -> None:
    done = subprocess.run([str(EXTRACTOR), *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode not in ok:
        raise SystemExit(f"extractor {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def table(name: str, report: dict[str, Any]) -> str:
    docs = report["documents"]
    lines = [
        f"\n{name}: {docs['scored']} documents, {docs['ok']} ok, {docs['errors']} errors, "
        f"{report['wall_s']} s",
        "",
        "| field | n | P | R | F1 |",
        "|---|---|---|---|---|",
    ]
    rows = [*sorted(report["fields"].items()), ("**overall**", report["overall"])]
    for field, s in rows:
        lines.append(
            f"| {field} | {s['n']} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("mode", choices=("oracle", "local"))
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "forms")
    parser.add_argument("--limit", type=int, help="documents per layout (default: all)")
    parser.add_argument("--variants", default=",".join(make_forms.VARIANTS))
    parser.add_argument(
        "--extractor",
        type=Path,
        default=EXTRACTOR,
        help="the CLI to run (another checkout's, to compare)",
    )
    parser.add_argument("--tag", default="", help="added to the results' names")  # fmt: skip
    args = parser.parse_args()
    globals()["EXTRACTOR"] = args.extractor
    make_forms.write_set(args.out, scans=True)
    expected = args.out / "expected"
    server = ScriptedServer() if args.mode == "oracle" else None
    # The oracle reads text only, as the embedded model does: scans go through OCR.
    model = (["--base-url", server.base_url, "--model", "oracle", "--mode", "text"] if server
             else ["--provider", "local"])  # fmt: skip
    runs = [(variant, schema, documents(args.out / variant, layouts, args.limit))
            for variant in args.variants.split(",") for schema, layouts in GROUPS]  # fmt: skip
    corpus = [CORPUS / name for name in make_forms.CORPUS if (CORPUS / name).exists()]
    if "fillable" in args.variants and corpus:
        runs.append(("corpus", "corpus", corpus))
    results = {}
    try:
        for variant, truth_dir, paths in runs:
            schema = "key_values" if truth_dir == "corpus" else truth_dir
            name = f"{variant} {schema}" if variant != "corpus" else "corpus key_values"
            tag = f"{args.mode}{args.tag}"
            output = args.out / "results" / f"{tag}-{variant}-{schema}.jsonl"
            results[name] = run(paths, schema, expected / truth_dir, output, model, server)
    finally:
        if server is not None:
            server.close()
    for name, report in results.items():
        print(table(name, report))
    summary = {name: {k: r[k] for k in ("command", "wall_s", "documents", "overall", "fields")}
               for name, r in results.items()}  # fmt: skip
    print("\nwrote", write_result(f"forms_eval-{args.mode}{args.tag}", {"runs": summary}))


if __name__ == "__main__":
    main()
