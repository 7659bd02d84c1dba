"""Score extractor on the forms evaluation set: the scripted oracle, or the embedded model.

    .venv/bin/python bench/forms_eval.py oracle              # all 90 documents + corpus
    .venv/bin/python bench/forms_eval.py local --limit 2     # the first 2 of each layout

Writes the set with its scans (``fixtures/make_forms.py --scans``) into ``--out`` (default
``out/forms``), then runs ``extractor extract … --truth …`` once per variant (fillable,
flattened, scanned) and schema (``form`` for the membership and application layouts,
``key_values`` for the claims), plus the real fillable files of issue 14 from
``../shared/corpus/pdf-malformed`` with their truth (fillable only). Every run is a real
CLI process; its report is the ``.eval.json`` it writes beside the records.

- ``oracle``: the model is `extractor.testing.TruthModel` behind a `ScriptedServer` on
  127.0.0.1. It knows every document's truth but answers a value only when the request
  shows it (a yes/no answer always), so what it misses is what the pipeline did not send.
  It finds a request's document by the truth whose values the request shows most, and
  reads text only (``--mode text``), as the embedded model does: scans go through OCR.
- ``local``: ``--provider local``, the embedded model, offline (slow: run a subset).

Prints a markdown table per run and writes ``bench/results/forms_eval-MODE.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from _common import ROOT, write_result

from extractor.evaluate import load_truth
from extractor.ground import ground
from extractor.pages import Page
from extractor.testing import RecordedRequest, ScriptedServer, TruthModel

sys.path.insert(0, str(ROOT / "fixtures"))
import make_forms

CORPUS = ROOT.parent / "shared" / "corpus" / "pdf-malformed"
GROUPS = (("form", ("membership", "application")), ("key_values", ("claim",)))
EXTRACTOR = ROOT / ".venv" / "bin" / "extractor"


def picker(truths: Mapping[str, dict[str, Any]]) -> Callable[[RecordedRequest], dict[str, Any]]:
    """The truth of the document a request carries: the one whose text values it shows most."""

    def strings(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [s for v in node.values() for s in strings(v)]
        if isinstance(node, list):
            return [s for v in node for s in strings(v)]
        return [node] if isinstance(node, str) and len(node) >= 4 else []

    wanted = {stem: strings(truth) for stem, truth in truths.items()}

    def pick(request: RecordedRequest) -> dict[str, Any]:
        messages = (request.json or {}).get("messages", [])
        user = next((m["content"] for m in messages if m.get("role") == "user"), "")
        text = user if isinstance(user, str) else " ".join(p.get("text", "") for p in user)
        page = [Page(1, 0, 0, text=text, text_source="plain")]

        def shown(stem: str) -> int:
            found = ground({str(i): v for i, v in enumerate(wanted[stem])}, page)
            return sum(g.status != "not_found" for g in found.values())

        return truths[max(sorted(truths), key=shown)]

    return pick


def documents(folder: Path, layouts: tuple[str, ...], limit: int | None) -> list[Path]:
    found = []
    for layout in layouts:
        paths = sorted(folder.glob(f"{layout}_*.pdf"))
        found += paths[:limit] if limit else paths
    return found


def run(paths: list[Path], schema: str, truth: Path, output: Path, model: list[str]) -> dict:
    command = [str(EXTRACTOR), "extract", *map(str, paths), "-s",
               schema, "-o", str(output), "--truth", str(truth), "--fresh", *model]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    report = json.loads(output.with_name(output.name + ".eval.json").read_text())
    report["wall_s"] = round(time.monotonic() - started, 1)
    report["command"] = " ".join(command[1:])
    return report


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
    if "fillable" in args.variants and CORPUS.is_dir():
        runs.append(("corpus", "corpus", [CORPUS / name for name in make_forms.CORPUS]))
    results = {}
    try:
        for variant, truth_dir, paths in runs:
            schema = "key_values" if truth_dir == "corpus" else truth_dir
            if server is not None:
                server.responder = TruthModel(picker(load_truth(expected / truth_dir)))
            name = f"{variant} {schema}" if variant != "corpus" else "corpus key_values"
            tag = f"{args.mode}{args.tag}"
            output = args.out / "results" / f"{tag}-{variant}-{schema}.jsonl"
            results[name] = run(paths, schema, expected / truth_dir, output, model)
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
