"""Every benchmark in bench/ runs, at tiny sizes, so that none of them rots.

The benchmarks import extractor's internals, so a refactor can break one silently (it
happened: two called the old ``Settings(mode=…)``). Each script runs here as a user runs
it, in a subprocess, with arguments that make it take seconds, reading a tiny stand-in for
``../shared`` made from the fixtures and writing its results to a temporary folder
(``EXTRACTOR_EVAL``, ``EXTRACTOR_CORPUS``, ``EXTRACTOR_BENCH_RESULTS``, read by
bench/_common.py). No figure is checked: only that the script runs to the end.

A new script must get its smoke arguments here: the last test fails until it does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
FIXTURES = ROOT / "fixtures"
FILLABLE = (
    ROOT.parent / "shared/corpus/pdf-malformed/qpdf/examples_qtest_set-form-values_form-out.pdf"
)

# script → (its arguments, whether it needs the embedded model)
SMOKE: dict[str, tuple[str, bool]] = {
    "calibrate": ("--set both", False),
    "candidates": ("--set both", False),
    "client_cpu": ("--copies 1 --repeats 1", False),
    "faults": ("--copies 2 --rate 50 --latency 0.05 --concurrency 4 --repeats 1", False),
    "forms": ("--repeats 1 --dense 5", False),
    "forms_eval": ("oracle --limit 1 --variants fillable,scanned --out {results}/forms", False),
    "ground_dates": ("--truth {eval}/invoices", False),
    "ground_long": ("--sizes 2000 --repeat 1 --cases found,absent --label smoke", False),
    "local": ("--docs 1 --set receipts", True),
    "memory": ("--sizes 20 40 --repeats 1 --concurrency 4", False),
    "page_text": ("", False),
    "prep": ("--repeats 1", False),
    "quality": ("{results}/invoices.jsonl --truth {eval}/invoices", False),
    "ratelimit": ("--docs 20 --rate 50 --latency 0.05 --concurrency 8 --repeats 1", False),
    "rules_repair": ("--corrupt total", False),
    "rules_truth": ("", False),
    "scale": ("--docs 8 --latency 0.05 --concurrency 4 --repeats 1", False),
    "scale_estimate": ("--receipts 1", False),
    "service": ("--docs 6 --latency 0.05 --concurrency 2 --repeats 1 --requests 6 "
                "--clients 2 --rss-docs 20", False),
    "startup": ("--repeats 1", False),
    "sweep_malformed": ("", False),
    "sweep_run": ("", False),
    "throughput": ("--docs 16 --latency 0.05 --concurrency 8 --repeats 1", False),
}  # fmt: skip


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny ``shared/`` (two invoices, a receipt, three corpus PDFs) and a results folder."""
    root = tmp_path_factory.mktemp("bench")
    invoices, receipts, corpus = root / "eval/invoices", root / "eval/receipts", root / "corpus"
    for folder in (invoices, receipts, corpus, root / "results"):
        folder.mkdir(parents=True)
    for stem in ("invoice", "multipage"):
        shutil.copy(FIXTURES / f"{stem}.pdf", invoices)
        shutil.copy(FIXTURES / "expected" / f"{stem}.json", invoices)
    shutil.copy(FIXTURES / "receipt.jpg", receipts)
    shutil.copy(FIXTURES / "expected" / "receipt.json", receipts)
    for name in ("invoice.pdf", "form.pdf", "scan.pdf"):
        shutil.copy(FIXTURES / name, corpus)
    if FILLABLE.exists():  # `forms` measures fillable PDFs; none is generated yet
        shutil.copy(FILLABLE, corpus)
    # `quality` scores an existing run: a records file answered from the truth.
    records = [
        {"source": str(invoices / f"{stem}.pdf"), "status": "ok",
         "data": json.loads((invoices / f"{stem}.json").read_text())}
        for stem in ("invoice", "multipage")
    ]  # fmt: skip
    (root / "results" / "invoices.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return {"eval": root / "eval", "corpus": corpus, "results": root / "results"}


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(n, marks=[pytest.mark.local_model] if SMOKE[n][1] else [])
        for n in sorted(SMOKE)
    ],
)
def test_the_benchmark_runs(script: str, stand_ins: dict[str, Path]) -> None:
    arguments, local_model = SMOKE[script]
    if local_model:
        pytest.importorskip("llama_cpp")
    if script == "forms" and not FILLABLE.exists():
        pytest.skip(f"needs a fillable PDF: {FILLABLE}")
    env = dict(os.environ)
    env.update(
        EXTRACTOR_EVAL=str(stand_ins["eval"]),
        EXTRACTOR_CORPUS=str(stand_ins["corpus"]),
        EXTRACTOR_BENCH_RESULTS=str(stand_ins["results"]),
    )
    args = [a.format(**{k: str(v) for k, v in stand_ins.items()}) for a in arguments.split()]
    done = subprocess.run(
        [sys.executable, str(BENCH / f"{script}.py"), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def test_every_benchmark_has_smoke_arguments() -> None:
    scripts = {p.stem for p in BENCH.glob("*.py") if not p.stem.startswith("_")}
    assert scripts - set(SMOKE) == set(), "add the new script's tiny arguments to SMOKE"
