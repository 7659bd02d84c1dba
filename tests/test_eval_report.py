"""What the evaluation report says beyond F1: exact-match free text, and calibration.

Every expected figure below is worked out by hand from records built for the purpose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from extractor.cli.eval_cmd import compare_command, eval_command
from extractor.evaluate import EvalReport, compare, score

BRANCH = "NO.53 JALAN SAGU 18, TAMAN DAYA"
OTHER_BRANCH = "NO.55 JALAN SAGU 18, TAMAN DAYA"  # one digit off: another shop


def rec(stem: str, data: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    return {"source": f"/in/{stem}.jpg", "status": "ok", "data": data, **extra}


def branch_records() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    truth = {"a": {"address": BRANCH, "total": 9.0}, "b": {"address": BRANCH, "total": 4.5}}
    records = [
        rec("a", {"address": OTHER_BRANCH, "total": 9}),
        rec("b", {"address": "  no.53 jalan sagu 18,  taman daya", "total": "4,50"}),
    ]
    return records, truth


def test_free_text_is_reported_by_anls_and_by_exact_match() -> None:
    records, truth = branch_records()
    report = score(records, truth)
    address = report.fields["address"]
    assert (address.tp, address.fp, address.fn, address.f1) == (2, 0, 0, 1.0)  # ANLS ≥ 0.8
    assert address.mean_anls == pytest.approx((1 - 1 / len(BRANCH) + 1) / 2)
    assert address.exact is not None
    assert (address.exact.tp, address.exact.fp, address.exact.fn) == (1, 1, 1)
    assert address.exact.f1 == 0.5
    assert report.fields["total"].exact is None  # not free text: the same counts as F1
    assert report.overall.f1 == 1.0
    assert report.overall.exact is not None
    assert (report.overall.exact.tp, report.overall.exact.fp, report.overall.exact.fn) == (3, 1, 1)
    assert report.overall.exact.f1 == 0.75


def test_report_json_keeps_its_keys_and_adds_exact(tmp_path: Path) -> None:
    records, truth = branch_records()
    report = score(records, truth)
    data = json.loads(report.to_json())
    old_keys = {"kind", "tp", "fp", "fn", "n", "precision", "recall", "f1", "mean_anls"}
    assert old_keys | {"exact"} == set(data["fields"]["address"])
    assert data["fields"]["address"]["exact"]["f1"] == 0.5
    assert data["fields"]["total"]["exact"] is None
    assert data["overall"]["exact"]["f1"] == 0.75
    assert EvalReport.from_json(report.to_json()) == report
    # a report written before these keys existed still loads
    for stats in (data["overall"], *data["fields"].values()):
        del stats["exact"]
    assert EvalReport.model_validate(data).fields["address"].f1 == 1.0


def test_compare_reports_the_exact_match_delta() -> None:
    records, truth = branch_records()
    before = score(records, truth)
    fixed = [rec("a", {"address": BRANCH, "total": 9}), records[1]]
    delta = compare(before, score(fixed, truth)).fields["address"]
    assert delta.delta_f1 == 0.0 and delta.delta_exact_f1 == 0.5
    assert delta.verdict == "same"  # judged on F1, as before


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("eval")(eval_command)
    app.command("eval-compare")(compare_command)
    return app


def write_case(tmp_path: Path, records: list[dict[str, Any]], truth: dict[str, Any]) -> Path:
    (tmp_path / "truth").mkdir()
    for stem, values in truth.items():
        (tmp_path / "truth" / f"{stem}.json").write_text(json.dumps(values), encoding="utf-8")
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return results


def row(output: str, name: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.strip("│ ").startswith(name))
    return [cell.strip() for cell in line.strip("│ ").split("│")]


def test_cli_table_shows_f1_and_exact_f1(app: typer.Typer, tmp_path: Path) -> None:
    records, truth = branch_records()
    results = write_case(tmp_path, records, truth)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["eval", str(results), "-t", str(tmp_path / "truth"), "--json", str(out)],
        env={"COLUMNS": "160"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "F1 exact" in result.output
    # field, kind, P, R, F1, F1 exact, ANLS, n
    assert row(result.output, "address")[2:] == ["1.000", "1.000", "1.000", "0.500", "0.984", "2"]
    assert row(result.output, "total")[5] == "—"
    assert row(result.output, "overall (micro)")[4:6] == ["1.000", "0.750"]
    assert json.loads(out.read_text())["overall"]["exact"]["f1"] == 0.75


# -- confidence: calibration and bands ----------------------------------------------------

# (confidence, right?) for ten predictions. By hand, over ten equal-width bins:
#   bin [.9, 1]: 0.95 ×4, 3 right  → accuracy .75, mean confidence .95, gap .20, weight .4
#   bin [.6, .7): 0.62, 0.68, both → accuracy 1,   mean confidence .65, gap .35, weight .2
#   bin [.3, .4): 0.35 ×4, 1 right → accuracy .25, mean confidence .35, gap .10, weight .4
#   ECE = .4 × .20 + .2 × .35 + .4 × .10 = 0.19
CASES = [(0.95, True)] * 3 + [(0.95, False), (0.62, True), (0.68, True)]
CASES += [(0.35, True)] + [(0.35, False)] * 3


def confidence_records() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    truth = {f"d{i}": {"invoice_number": f"INV-{i}"} for i in range(len(CASES))}
    records = [
        rec(f"d{i}", {"invoice_number": f"INV-{i}" if right else "INV-X"},
            confidence={"invoice_number": confidence})
        for i, (confidence, right) in enumerate(CASES)
    ]  # fmt: skip
    return records, truth


def test_expected_calibration_error_and_bands_from_known_records() -> None:
    records, truth = confidence_records()
    conf = score(records, truth).confidence
    assert conf is not None and conf.n == 10
    assert conf.ece == pytest.approx(0.19, abs=1e-12)
    assert conf.accuracy == 0.6 and conf.mean_confidence == pytest.approx((3.8 + 1.3 + 1.4) / 10)
    assert len(conf.calibration) == 10
    filled = {(b.low, b.high): (b.n, b.accuracy) for b in conf.calibration if b.n}
    assert filled == {(0.3, 0.4): (4, 0.25), (0.6, 0.7): (2, 1.0), (0.9, 1.0): (4, 0.75)}
    bands = {(b.low, b.high): (b.n, b.accuracy, b.mean_confidence) for b in conf.bands}
    assert bands[(0.0, 0.5)] == (4, 0.25, 0.35)
    assert bands[(0.5, 0.7)][:2] == (2, 1.0)
    assert bands[(0.5, 0.7)][2] == pytest.approx(0.65)
    assert bands[(0.7, 0.8)] == (0, None, None) and bands[(0.8, 0.9)] == (0, None, None)
    assert bands[(0.9, 1.0)] == (4, 0.75, 0.95)


def test_perfectly_calibrated_and_edge_confidences() -> None:
    # a bin of confidence .25 right a quarter of the time, and 1.0 always right: ECE 0
    truth = {f"d{i}": {"invoice_number": str(i)} for i in range(8)}
    cases = [(0.25, i == 0) for i in range(4)] + [(1.0, True)] * 4
    records = [
        rec(f"d{i}", {"invoice_number": str(i) if right else "?"}, confidence={"invoice_number": c})
        for i, (c, right) in enumerate(cases)
    ]
    conf = score(records, truth).confidence
    assert conf is not None and conf.ece == 0.0
    assert conf.calibration[-1].n == 4  # 1.0 falls in the closed last bin
    assert conf.calibration[2].n == 4  # 0.25 in [.2, .3)


def test_cli_prints_ece_and_bands_and_writes_them(app: typer.Typer, tmp_path: Path) -> None:
    records, truth = confidence_records()
    results = write_case(tmp_path, records, truth)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["eval", str(results), "-t", str(tmp_path / "truth"), "--json", str(out)],
        env={"COLUMNS": "160"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ECE (10 equal-width bins): 0.190" in result.output
    assert row(result.output, "[0.9, 1.0]") == ["[0.9, 1.0]", "4", "0.750", "0.950"]
    assert row(result.output, "[0.0, 0.5)") == ["[0.0, 0.5)", "4", "0.250", "0.350"]
    saved = json.loads(out.read_text())["confidence"]
    assert saved["ece"] == pytest.approx(0.19) and len(saved["calibration"]) == 10
    assert {"n", "top_half_accuracy", "bottom_half_accuracy", "bands"} <= saved.keys()
