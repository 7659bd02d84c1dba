"""Scoring against truth: every expected count below is worked out by hand."""

from __future__ import annotations

import copy
import datetime as dt
import doctest
import importlib
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import extractor.evaluate as evaluate
from extractor.cli.eval_cmd import compare_command, eval_command
from extractor.errors import ConfigError
from extractor.evaluate import (
    EvalReport,
    FieldKind,
    anls,
    compare,
    field_kind,
    load_records,
    load_truth,
    score,
)
from extractor.evaluate.align import align_items
from extractor.evaluate.matching import levenshtein, match_value
from extractor.evaluate.normalize import (
    normalize_currency,
    normalize_id,
    normalize_text,
    parse_amount,
    parse_date,
)

EVAL_INVOICES = Path(__file__).resolve().parents[2] / "shared" / "eval" / "invoices"


def rec(stem: str, data: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """A result record for document *stem*, shaped like the runner's output."""
    status = extra.pop("status", "ok")
    return {
        "source": f"/data/in/{stem}.pdf",
        "sha256": "0" * 64,
        "status": status,
        "data": data,
        "error": None,
        **extra,
    }


def counts(report: EvalReport, name: str | None = None) -> tuple[int, int, int]:
    stats = report.overall if name is None else report.fields[name]
    return stats.tp, stats.fp, stats.fn


# -- normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-15",
        "15.03.2024",
        "15/03/2024",
        "15-03-24",
        "March 15, 2024",
        "Mar. 15 2024",
        "15 March 2024",
        "15. März 2024",
        "2024-03-15T10:30:00+01:00",
        "2024-03-15 10:30",
        "15.03.2024 10:30",
        "2024/03/15",
        "Friday, March 15, 2024",
        "03/15/2024",  # month-first where day-first is impossible, as grounding prints it
        "15 de marzo de 2024",
        "15-Mar-24",
        "Date:15 Mar 2024",
    ],
)
def test_parse_date_accepts_common_forms(text: str) -> None:
    assert parse_date(text) == dt.date(2024, 3, 15)


@pytest.mark.parametrize("text", ["31.02.2024", "02/31/2024", "soon", "", "15.03.", "Friday 15"])
def test_parse_date_rejects_impossible_or_vague_dates(text: str) -> None:
    assert parse_date(text) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.234,56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("1 234,56", "1234.56"),
        ("€ 12,00", "12.00"),
        ("12.50 EUR", "12.50"),
        ("RM 9.00", "9.00"),
        ("-3,20", "-3.20"),
        ("3,20-", "-3.20"),
        ("(3.20)", "-3.20"),
        ("1.234.567", "1234567.00"),
        ("1,234", "1234.00"),
        ("0,500", "0.50"),
        ("3.3333", "3.33"),
        (4.1, "4.10"),
        (7, "7.00"),
        (0.005, "0.01"),
    ],
)
def test_parse_amount_reads_both_separator_conventions(value: object, expected: str) -> None:
    assert parse_amount(value) == Decimal(expected)


@pytest.mark.parametrize("value", ["abc", "", None, True, float("nan"), [1]])
def test_parse_amount_rejects_non_amounts(value: object) -> None:
    assert parse_amount(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("€", "EUR"),
        ("$", "USD"),
        ("£", "GBP"),
        ("¥", "JPY"),
        ("CHF", "CHF"),
        ("RM", "MYR"),
        ("eur", "EUR"),
        (" Euro ", "EUR"),
        ("₹", "INR"),
        ("zzz", "ZZZ"),
        ("12", None),
    ],
)
def test_normalize_currency(value: str, expected: str | None) -> None:
    assert normalize_currency(value) == expected


def test_text_and_id_normalisation() -> None:
    assert normalize_text("  Mineralwasser Medium \n12 x 1,0l  PET ") == (
        "mineralwasser medium 12 x 1,0l pet"
    )
    assert normalize_text("STRASSE") == normalize_text("straße")  # case-folded, not lowered
    assert normalize_id("DE89 3704 0044 0532 0130 00") == "de89370400440532013000"
    assert normalize_id("#BLR_WFLD2015") == normalize_id("blr_wfld2015")


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("kitten", "sitting", 3), ("", "abc", 3), ("abc", "abc", 0), ("flaw", "lawn", 2)],
)
def test_levenshtein(a: str, b: str, distance: int) -> None:
    assert levenshtein(a, b) == distance
    assert levenshtein(b, a) == distance


def reference_levenshtein(a: str, b: str) -> int:
    """The textbook table, to check the bit-parallel version against."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


def test_levenshtein_agrees_with_the_table_on_random_strings() -> None:
    rng = random.Random(20240315)
    for _ in range(400):
        alphabet = rng.choice(["ab", "abc ", "äöüß é", "abcdefghijklmnopqrstuvwxyz"])
        a = "".join(rng.choices(alphabet, k=rng.randint(0, 150)))  # past 64: multi-word ints
        b = "".join(rng.choices(alphabet, k=rng.randint(0, 150)))
        if rng.random() < 0.3:
            b = a[: rng.randint(0, len(a))] + b[:5]
        assert levenshtein(a, b) == reference_levenshtein(a, b)


@pytest.mark.parametrize(
    ("truth", "prediction", "expected"),
    [
        ("Lieferant GmbH", "Lieferant GmbH.", 1 - 1 / 15),
        ("kitten", "sitting", 1 - 3 / 7),  # 0.571: still above the 0.5 cut-off
        ("abcd", "abce", 0.75),
        ("ACME  Corp", "acme corp", 1.0),  # case and spacing are normalised away
        ("abc", "xyz", 0.0),
        ("abcdef", "abcxyz", 0.5),  # exactly at the cut-off: kept
        ("abcdefg", "abcwxyz", 0.0),  # 3/7 similar: below the cut-off
        ("", "", 1.0),
    ],
)
def test_anls_values(truth: str, prediction: str, expected: float) -> None:
    assert anls(truth, prediction) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("name", "truth", "kind"),
    [
        ("invoice_date", "2024-03-15", FieldKind.DATE),
        ("date", "2018-12-25", FieldKind.DATE),
        ("total", 9.0, FieldKind.NUMBER),
        ("line_items.quantity", 3.0, FieldKind.NUMBER),
        ("total_amount", "12,50", FieldKind.NUMBER),
        ("currency", "EUR", FieldKind.CURRENCY),
        ("iban", "DE89", FieldKind.ID),
        ("seller_vat_id", "DE1", FieldKind.ID),
        ("invoice_number", "471102", FieldKind.ID),
        ("invoice_number", 471102, FieldKind.ID),
        ("seller_name", "ACME", FieldKind.TEXT),
        ("address", "NO.53, JALAN", FieldKind.TEXT),
        ("line_items.description", "Pfand", FieldKind.TEXT),
        ("paid", True, FieldKind.EXACT),
    ],
)
def test_field_kind(name: str, truth: object, kind: FieldKind) -> None:
    assert field_kind(name, truth) is kind


def test_match_value_treats_numbers_and_strings_of_ids_alike() -> None:
    assert match_value(FieldKind.ID, "42183017", 42183017.0).correct
    assert not match_value(FieldKind.NUMBER, 12.0, {"value": 12}).correct


# -- scoring single fields ----------------------------------------------------------------


def one_field_report(name: str, truth: Any, predictions: list[Any], **kw: Any) -> EvalReport:
    """Score one field over len(predictions) documents that share the same truth."""
    truth_docs = {f"d{i}": {name: truth} for i in range(len(predictions))}
    records = [rec(f"d{i}", {name: p}) for i, p in enumerate(predictions)]
    return score(records, truth_docs, **kw)


def test_dates_match_in_any_format() -> None:
    report = one_field_report(
        "invoice_date",
        "2024-03-15",
        [
            "2024-03-15",
            "15.03.2024",
            "15/03/2024",
            "March 15, 2024",
            "2024-03-15T10:30:00",
            "03/15/2024",
            "2024-15-03",
        ],  # month-first is read where day-first is impossible; the last is no date at all
    )
    assert counts(report) == (6, 1, 1)
    assert report.fields["invoice_date"].kind == "date"
    assert report.overall.precision == report.overall.recall == report.overall.f1 == 6 / 7


def test_amounts_match_to_the_cent() -> None:
    report = one_field_report(
        "total_amount",
        1234.56,
        [1234.56, "1.234,56", "1,234.56", "€ 1.234,56", 1234.561, "1234.5", None],
    )
    # five right; 1234.50 is wrong (FP + FN); None is a miss (FN only)
    assert counts(report) == (5, 1, 2)
    assert report.overall.precision == 5 / 6
    assert report.overall.recall == 5 / 7
    assert report.overall.f1 == 10 / 13  # 2·5 / (2·5 + 1 + 2)


def test_currency_symbols_equal_codes() -> None:
    truth_docs = {
        "a": {"currency": "EUR"},
        "b": {"currency": "USD"},
        "c": {"currency": "GBP"},
        "d": {"currency": "JPY"},
        "e": {"currency": "MYR"},
        "f": {"currency": "CHF"},
        "g": {"currency": "EUR"},
    }
    predicted = {"a": "€", "b": "$", "c": "£", "d": "¥", "e": "RM", "f": "chf", "g": "USD"}
    report = score([rec(k, {"currency": v}) for k, v in predicted.items()], truth_docs)
    assert counts(report, "currency") == (6, 1, 1)


def test_identifiers_ignore_spaces_and_case() -> None:
    truth_docs = {
        "a": {
            "iban": "DE89 3704 0044 0532 0130 00",
            "seller_vat_id": "DE123456789",
            "invoice_number": "INV-001",
        },
        "b": {"invoice_number": "INV-001"},
    }
    records = [
        rec(
            "a",
            {
                "iban": "de89370400440532013000",
                "seller_vat_id": "DE 123 456 789",
                "invoice_number": "inv-001",
            },
        ),
        rec("b", {"invoice_number": "INV-002"}),
    ]
    report = score(records, truth_docs)
    assert counts(report) == (3, 1, 1)
    assert counts(report, "invoice_number") == (1, 1, 1)


def test_missing_predictions_unknown_and_known_empty_fields() -> None:
    truth_docs = {"a": {"invoice_number": "1", "total_amount": 10.0, "due_date": None}}
    records = [
        rec(
            "a",
            {
                "invoice_number": "1",
                "total_amount": None,
                "seller_name": "not in the truth file",
                "due_date": "2024-01-01",
            },
        )
    ]
    report = score(records, truth_docs)
    assert counts(report, "invoice_number") == (1, 0, 0)
    assert counts(report, "total_amount") == (0, 0, 1)  # null for a known value: a miss
    assert counts(report, "due_date") == (0, 1, 0)  # a value where the truth says none
    assert "seller_name" not in report.fields  # unknown: not scored
    assert counts(report) == (1, 1, 1)
    assert {m.field: m.outcome for m in report.mismatches} == {
        "total_amount": "fn",
        "due_date": "fp",
    }


def test_text_threshold_and_mean_anls() -> None:
    truth_docs = {
        "a": {"seller_name": "Lieferant GmbH"},
        "b": {"seller_name": "abcd"},
        "c": {"seller_name": "Kunden AG"},
    }
    records = [
        rec("a", {"seller_name": "Lieferant GmbH."}),
        rec("b", {"seller_name": "abce"}),
        rec("c", {"seller_name": ""}),
    ]
    report = score(records, truth_docs)
    stats = report.fields["seller_name"]
    assert (stats.tp, stats.fp, stats.fn, stats.n) == (1, 1, 2, 3)  # 0.93 ≥ 0.8; 0.75 < 0.8
    assert stats.mean_anls == pytest.approx((1 - 1 / 15 + 0.75 + 0.0) / 3, abs=1e-12)
    assert report.overall.mean_anls == stats.mean_anls
    looser = score(records, truth_docs, text_threshold=0.7)
    assert counts(looser, "seller_name") == (2, 0, 1)
    assert looser.text_threshold == 0.7


# -- lists and nesting --------------------------------------------------------------------


def item(description: str, quantity: float, unit_price: float, amount: float) -> dict[str, Any]:
    return {
        "description": description,
        "quantity": quantity,
        "unit_price": unit_price,
        "amount": amount,
    }


def test_line_items_are_aligned_then_scored_per_subfield() -> None:
    truth_docs = {
        "a": {
            "line_items": [
                item("Widget", 2, 5.0, 10.0),
                item("Gadget", 1, 3.5, 3.5),
                item("Service fee", 1, 20.0, 20.0),
            ]
        }
    }
    predicted = [
        {**item("GADGET", 1, 3.5, 3.5), "tax_rate": 19},  # truth #1; tax_rate is unknown
        item("Widget", 2, 5.0, 11.0),  # truth #0 with a wrong amount
        {**item("Shipping", 3, 4.95, 14.85), "tax_rate": 19},  # matches nothing: extra
    ]  # "Service fee" is not predicted: missing
    report = score([rec("a", {"line_items": predicted})], truth_docs)
    assert set(report.fields) == {
        f"line_items.{k}" for k in ("description", "quantity", "unit_price", "amount")
    }
    assert counts(report, "line_items.description") == (2, 1, 1)
    assert counts(report, "line_items.quantity") == (2, 1, 1)
    assert counts(report, "line_items.unit_price") == (2, 1, 1)
    assert counts(report, "line_items.amount") == (1, 2, 2)
    assert counts(report) == (7, 5, 5)
    wrong_amount = next(m for m in report.mismatches if m.outcome == "fp+fn")
    assert (wrong_amount.truth_path, wrong_amount.predicted_path) == (
        "line_items[0].amount",
        "line_items[1].amount",
    )
    assert (wrong_amount.expected, wrong_amount.predicted) == (10.0, 11.0)


def test_items_are_paired_by_description_before_numbers() -> None:
    # zf_XML-Rechnung_FX_XRECHNUNG_Einfach's items; the model read one description right
    # with wrong numbers, and invented a "Schweinesteak" that shares the unit price 5.50.
    truth_items = [item("Trennblätter A4", 20, 9.9, 198.0), item("Joghurt Banane", 50, 5.5, 275.0)]
    predicted = [item("Schweinesteak", 1, 5.5, 5.5), item("Joghurt Banane", 5, 55.0, 27.5)]
    assert align_items(truth_items, predicted, "line_items") == [(1, 1)]
    report = score([rec("a", {"line_items": predicted})], {"a": {"line_items": truth_items}})
    assert counts(report, "line_items.description") == (1, 1, 1)  # Joghurt right, steak extra
    assert counts(report, "line_items.unit_price") == (0, 2, 2)  # no credit for the 5.50
    # alone, the steak is still no Joghurt: a shared number does not make a pair
    assert align_items(truth_items, predicted[:1], "line_items") == []
    # numbers decide between equally named items
    twins = [item("joghurt banane", 1, 1.0, 1.0), item("Joghurt Banane", 50, 5.5, 99.0)]
    assert align_items(truth_items[1:], twins, "line_items") == [(0, 1)]
    # without descriptions, numbers pair the items
    bare = [{"quantity": 20, "amount": 198.0}, {"quantity": 50, "amount": 275.0}]
    assert align_items(truth_items, bare[::-1], "line_items") == [(0, 1), (1, 0)]


def test_no_predicted_items_are_all_missed_and_no_true_items_all_extra() -> None:
    truth_docs: dict[str, dict[str, Any]] = {
        "a": {"line_items": [item("Widget", 2, 5.0, 10.0)]},
        "b": {"line_items": []},
    }
    records = [
        rec("a", {"line_items": None}),
        rec("b", {"line_items": [{"description": "Pfand", "amount": None}]}),
    ]
    report = score(records, truth_docs)
    assert counts(report) == (0, 1, 4)
    assert counts(report, "line_items.description") == (0, 1, 1)


def test_duplicate_items_and_lists_of_scalars() -> None:
    widget = item("Widget", 1, 2.0, 2.0)
    truth_docs = {"a": {"line_items": [widget, widget], "tags": ["x", "y"]}}
    data = {"line_items": [dict(widget)], "tags": ["Y", "x", "z"]}
    report = score([rec("a", data)], truth_docs)
    assert counts(report, "line_items.amount") == (1, 0, 1)  # one of the two copies found
    assert counts(report, "tags") == (2, 1, 0)  # x and y found, z extra


def test_nested_objects_are_flattened_with_dots() -> None:
    truth_docs = {
        "a": {
            "seller": {"name": "ACME GmbH", "address": {"city": "Berlin", "street": "Hauptstr. 1"}}
        }
    }
    records = [
        rec("a", {"seller": {"name": "ACME GmbH", "address": {"city": "berlin", "zip": "10115"}}})
    ]
    report = score(records, truth_docs)
    assert sorted(report.fields) == ["seller.address.city", "seller.address.street", "seller.name"]
    assert counts(report) == (2, 0, 1)


# -- documents ----------------------------------------------------------------------------


def test_error_missing_unmatched_and_duplicate_records() -> None:
    truth_docs = {
        "a": {"invoice_number": "1"},
        "b": {"invoice_number": "2"},
        "c": {"invoice_number": "3"},
    }
    records = [
        rec("a", None, status="error", error={"type": "provider_timeout", "message": "slow"}),
        rec("a", {"invoice_number": "1"}),  # a resumed run's newer record wins
        rec("b", {"invoice_number": "2"}, status="error", error={"type": "x", "message": "y"}),
        rec("z", {"invoice_number": "9"}),  # no truth for it
        {"status": "ok", "data": {}},  # no source at all
    ]
    report = score(records, truth_docs)
    docs = report.documents
    assert (docs.truth, docs.scored, docs.ok, docs.missing, docs.errors) == (3, 3, 1, 1, 1)
    assert docs.unmatched_records == 2
    assert counts(report) == (1, 0, 2)  # the error record predicts nothing, even with data
    partial = score(records, truth_docs, skip_missing=True)
    assert (partial.documents.scored, partial.documents.missing) == (2, 1)
    assert counts(partial) == (1, 0, 1)


def test_nothing_to_score_is_perfect_not_zero() -> None:
    empty: dict[str, dict[str, Any]] = {"a": {}}
    report = score([], empty)
    assert (report.overall.precision, report.overall.recall, report.overall.f1) == (1, 1, 1)
    assert report.fields == {}


# -- confidence ---------------------------------------------------------------------------


def test_confidence_halves_and_bands() -> None:
    truth_docs = {
        "a": {
            "invoice_number": "7",
            "total_amount": 10.0,
            "currency": "EUR",
            "seller_name": "ACME",
            "due_date": "2024-01-31",
            "line_items": [item("Widget", 1, 2.0, 2.0)],
        }
    }
    data = {
        "invoice_number": "7",
        "total_amount": 10,
        "currency": "USD",
        "seller_name": "Acme",
        "due_date": None,
        "line_items": [item("Widget", 1, 2.0, 2.0)],
    }
    confidence = {
        "invoice_number": 0.95,
        "total_amount": 0.85,
        "line_items[0].amount": 0.75,
        "currency": 0.6,
        "seller_name": 0.3,
        "due_date": 0.99,
    }
    report = score([rec("a", data, confidence=confidence)], truth_docs)
    conf = report.confidence
    assert conf is not None
    # scored predictions with a confidence: .95 ✓ .85 ✓ .75 ✓ .6 ✗ .3 ✓ (due_date predicted
    # nothing, so its confidence has nothing to judge)
    assert conf.n == 5
    assert conf.top_half_accuracy == 1.0  # the top ceil(5/2) = 3
    assert conf.bottom_half_accuracy == 0.5
    assert [(b.low, b.high, b.n, b.accuracy) for b in conf.bands] == [
        (0.0, 0.5, 1, 1.0),
        (0.5, 0.7, 1, 0.0),
        (0.7, 0.8, 1, 1.0),
        (0.8, 0.9, 1, 1.0),
        (0.9, 1.0, 1, 1.0),
    ]


def test_confidence_absent_is_omitted() -> None:
    report = one_field_report("invoice_number", "1", ["1", "2"])
    assert report.confidence is None
    assert json.loads(report.to_json())["confidence"] is None


# -- the real evaluation set --------------------------------------------------------------


def _truth_values(value: object) -> int:
    if isinstance(value, dict):
        return sum(_truth_values(v) for v in value.values())
    if isinstance(value, list):
        return sum(_truth_values(v) for v in value)
    return int(value is not None)


@pytest.mark.eval_data
@pytest.mark.skipif(not EVAL_INVOICES.is_dir(), reason="needs ../shared/eval/invoices")
def test_real_truth_scored_against_itself() -> None:
    truth = load_truth(EVAL_INVOICES)
    values = sum(_truth_values(doc) for doc in truth.values())
    records: list[dict[str, Any]] = [
        {"source": str(EVAL_INVOICES / f"{stem}.pdf"), "status": "ok", "data": copy.deepcopy(doc)}
        for stem, doc in truth.items()
    ]
    report = score(records, truth)
    assert report.documents.scored == report.documents.ok == len(truth) == 73
    assert counts(report) == (values, 0, 0)
    assert report.overall.f1 == 1.0
    assert report.overall.mean_anls == 1.0
    assert report.mismatches == []

    # One wrong total: one FP and one FN, so F1 = 2(N-1) / (2(N-1) + 2) = (N-1)/N.
    victim = next(r for r in records if "total_amount" in r["data"])
    victim["data"]["total_amount"] += 1
    corrupted = score(records, truth)
    assert counts(corrupted) == (values - 1, 1, 1)
    assert corrupted.overall.f1 == pytest.approx((values - 1) / values, abs=1e-12)
    totals = sum("total_amount" in doc for doc in truth.values())
    assert counts(corrupted, "total_amount") == (totals - 1, 1, 1)
    assert corrupted.fields["total_amount"].f1 == pytest.approx((totals - 1) / totals, abs=1e-12)
    assert compare(report, corrupted).fields["total_amount"].verdict == "worse"


# -- files, reports, comparison -----------------------------------------------------------


def test_load_records_jsonl_array_and_errors(tmp_path: Path) -> None:
    records = [rec("a", {"x": 1}), rec("b", None, status="error")]
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8")
    array = tmp_path / "r.json"
    array.write_text(json.dumps(records), encoding="utf-8")
    assert load_records(jsonl) == records == load_records(array)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(records[0]) + '\n{"source": \n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.jsonl:2"):
        load_records(broken)


def test_load_records_reads_one_pretty_printed_record(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(rec("a", {"x": 1}), indent=2), encoding="utf-8")
    assert load_records(path) == [rec("a", {"x": 1})]


def test_load_truth_and_report_round_trip(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"invoice_number": "1"}', encoding="utf-8")
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    assert load_truth(tmp_path) == {"a": {"invoice_number": "1"}}
    with pytest.raises(ConfigError):
        load_truth(tmp_path / "nope")
    report = score([rec("a", {"invoice_number": "2"})], load_truth(tmp_path))
    assert EvalReport.from_json(report.to_json()) == report


def test_compare_reports_field_by_field() -> None:
    truth_docs = {"a": {"invoice_number": "1", "total_amount": 5.0, "currency": "EUR"}}
    old = score(
        [rec("a", {"invoice_number": "1", "total_amount": 4.0, "currency": "EUR"})], truth_docs
    )
    new = score(
        [rec("a", {"invoice_number": "2", "total_amount": "5,00", "currency": "€"})], truth_docs
    )
    comparison = compare(old, new)
    assert {k: d.verdict for k, d in comparison.fields.items()} == {
        "currency": "same",
        "invoice_number": "worse",
        "total_amount": "better",
    }
    assert comparison.fields["total_amount"].delta_f1 == 1.0
    assert comparison.overall.verdict == "same"  # 2 of 3 right either way
    assert (comparison.count("better"), comparison.count("worse")) == (1, 1)
    only = compare(old, score([], {"a": {"iban": "X"}}))
    assert only.fields["iban"].verdict == "only_b"
    assert only.fields["currency"].verdict == "only_a"


def test_public_api_is_sorted_and_complete() -> None:
    assert evaluate.__all__ == sorted(evaluate.__all__)
    for name in evaluate.__all__:
        assert hasattr(evaluate, name)


@pytest.mark.parametrize(
    "module",
    ["align", "confidence", "matching", "normalize", "records", "report", "scoring"],
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"extractor.evaluate.{module}"))
    assert result.failed == 0


# -- the CLI ------------------------------------------------------------------------------


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("eval")(eval_command)
    app.command("eval-compare")(compare_command)
    return app


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    truth = tmp_path / "truth"
    truth.mkdir()
    (truth / "a.json").write_text('{"invoice_number": "1", "total_amount": 5.0}', encoding="utf-8")
    (truth / "b.json").write_text('{"invoice_number": "2", "total_amount": 7.5}', encoding="utf-8")
    old = [rec("a", {"invoice_number": "1", "total_amount": 4.0}), rec("b", None, status="error")]
    new = [
        rec("a", {"invoice_number": "1", "total_amount": "5,00"}),
        rec("b", {"invoice_number": "2", "total_amount": "7.50"}),
    ]
    return {
        "truth": truth,
        "old": write_jsonl(tmp_path / "old.jsonl", old),
        "new": write_jsonl(tmp_path / "new.jsonl", new),
        "dir": tmp_path,
    }


def invoke(app: typer.Typer, *args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "160"})


def test_cli_eval_prints_table_and_writes_json(app: typer.Typer, files: dict[str, Path]) -> None:
    out = files["dir"] / "reports" / "old.json"
    result = invoke(app, "eval", files["old"], "--truth", files["truth"], "--json", out)
    assert result.exit_code == 0, result.output
    for text in ("invoice_number", "total_amount", "overall (micro)", "0.500", "1 errors"):
        assert text in result.output
    report = EvalReport.from_json(out.read_text(encoding="utf-8"))
    assert counts(report) == (1, 1, 3)
    assert report.documents.errors == 1


def test_cli_eval_fail_under_and_bad_input(app: typer.Typer, files: dict[str, Path]) -> None:
    gate = invoke(app, "eval", files["old"], "--truth", files["truth"], "--fail-under", "0.9")
    assert gate.exit_code == 1
    assert "below" in gate.output
    assert (
        invoke(app, "eval", files["new"], "-t", files["truth"], "--fail-under", "1").exit_code == 0
    )
    assert invoke(app, "eval", files["old"]).exit_code == 2  # --truth is required
    garbage = files["dir"] / "garbage.jsonl"
    garbage.write_text("not json\n", encoding="utf-8")
    bad = invoke(app, "eval", garbage, "--truth", files["truth"])
    assert bad.exit_code == 2
    assert "garbage.jsonl:1" in bad.output


def test_cli_compare_records_and_reports(app: typer.Typer, files: dict[str, Path]) -> None:
    saved = files["dir"] / "old-report.json"
    assert invoke(app, "eval", files["old"], "-t", files["truth"], "--json", saved).exit_code == 0
    out = files["dir"] / "cmp.json"
    result = invoke(
        app, "eval-compare", saved, files["new"], "--truth", files["truth"], "--json", out
    )
    assert result.exit_code == 0, result.output
    assert "better" in result.output
    assert "+0.333" in result.output  # invoice_number F1 from 2/3 to 1
    assert "+0.667" in result.output  # overall F1 from 1/3 to 1
    comparison = json.loads(out.read_text(encoding="utf-8"))
    assert comparison["fields"]["total_amount"]["verdict"] == "better"
    assert comparison["overall"]["delta_f1"] == pytest.approx(1 - 2 / 6, abs=1e-12)
    needs_truth = invoke(app, "eval-compare", saved, files["new"])
    assert needs_truth.exit_code == 2
    assert "--truth" in needs_truth.output
    broken = files["dir"] / "broken-report.json"
    broken.write_text('{"overall": 1, "fields": {}, "documents": {}}', encoding="utf-8")
    assert invoke(app, "eval-compare", broken, saved).exit_code == 2


def test_cli_help_has_examples(app: typer.Typer) -> None:
    for command in ("eval", "eval-compare"):
        result = invoke(app, command, "--help")
        assert result.exit_code == 0
        assert "Example" in result.output
        assert "--truth" in result.output
