"""The forms evaluation set (fixtures/forms): its shape, its truth, and that every truth
value reaches the model. tests/test_fixtures.py checks that it regenerates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extractor.ground import ground
from extractor.load import load
from extractor.pages import Page, read_pages
from extractor.prompt import build_messages
from extractor.schema import load_schema
from extractor.settings import PageOptions
from schemas import KeyValues, RegistrationForm

FORMS = Path(__file__).resolve().parents[1] / "fixtures" / "forms"
TRUTH = sorted((FORMS / "expected").glob("*/*.json"))
SET = [t for t in TRUTH if t.parent.name != "corpus"]


def sent(path: Path, schema: str) -> str:
    """The text of the request the pipeline builds for a document (text mode)."""
    pages = read_pages(load(path), PageOptions(mode="text"))
    user = build_messages(load_schema(schema), pages, total_pages=len(pages))[1]["content"]
    assert isinstance(user, str)
    return user


def strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in strings(v, f"{path}.{k}".lstrip("."))]
    if isinstance(node, list):
        return [s for i, v in enumerate(node) for s in strings(v, f"{path}[{i}]")]
    return [(path, node)] if isinstance(node, str) else []


def missing(text: str, truth: dict[str, Any]) -> list[tuple[str, str]]:
    """Truth strings that the text does not show (as TruthModel looks for them)."""
    page = [Page(1, 0, 0, text=text, text_source="plain")]
    values = strings(truth)
    found = ground({str(i): v for i, (_, v) in enumerate(values)}, page)
    return [values[int(k)] for k, g in found.items() if g.status == "not_found"]


def test_three_layouts_of_ten_instances_with_truth_for_their_schema() -> None:
    stems = {t.stem.rsplit("_", 1)[0] for t in SET}
    assert stems == {"membership", "application", "claim"}
    assert len(SET) == 30 and len(TRUTH) == 33
    for truth in SET:
        for variant in ("fillable", "flattened"):
            assert (FORMS / variant / f"{truth.stem}.pdf").is_file()
        model = RegistrationForm if truth.parent.name == "form" else KeyValues
        model.model_validate_json(truth.read_text())  # the truth is a valid answer
    varied = {json.loads(t.read_text())["full_name"] for t in SET if t.parent.name == "form"}
    assert len(varied) >= 15  # filled in by different people


@pytest.mark.parametrize("truth", SET, ids=lambda t: t.stem)
def test_every_truth_value_is_in_what_a_fillable_form_sends(truth: Path) -> None:
    schema = truth.parent.name
    assert missing(sent(FORMS / "fillable" / f"{truth.stem}.pdf", schema),
                   json.loads(truth.read_text())) == []  # fmt: skip


@pytest.mark.parametrize("truth", SET, ids=lambda t: t.stem)
def test_every_printed_truth_value_is_in_what_a_flattened_form_sends(truth: Path) -> None:
    schema = truth.parent.name
    lost = missing(sent(FORMS / "flattened" / f"{truth.stem}.pdf", schema),
                   json.loads(truth.read_text()))  # fmt: skip
    # A check box of a claim is an X or an empty box on paper: "checked" is never printed.
    assert {v for _, v in lost} <= {"checked", "unchecked"}
    assert "Form fields" not in sent(FORMS / "flattened" / f"{truth.stem}.pdf", schema)
