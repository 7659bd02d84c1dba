"""The README's Python examples run as written.

They run in order, in one namespace, from the repository root, against a scripted
OpenAI-compatible server named by ``EXTRACTOR_BASE_URL`` (as a user would point the
examples at their own server) that answers each request with the fixture's expected
record for the schema asked for.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from extractor.testing import RecordedRequest, Reply, ScriptedServer

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = {
    "Invoice": json.loads((ROOT / "fixtures" / "expected" / "invoice.json").read_text()),
    "Receipt": json.loads((ROOT / "fixtures" / "expected" / "receipt.json").read_text()),
}
MULTIPAGE = json.loads((ROOT / "fixtures" / "expected" / "multipage.json").read_text())


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def answer(request: RecordedRequest) -> Reply:
    """The fixture's expected record: the multi-page invoice's for its pages, else the
    one of the schema asked for."""
    name = request.json["response_format"]["json_schema"]["name"]
    shown = json.dumps(request.json["messages"][1]["content"])
    if name == "Invoice" and MULTIPAGE["invoice_number"] in shown:
        return Reply.chat(json.dumps(MULTIPAGE))
    return Reply.chat(json.dumps(EXPECTED[name]))


def test_the_readme_has_python_examples() -> None:
    assert len(python_blocks()) >= 2


def test_the_python_examples_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    namespace: dict[str, object] = {"__name__": "readme"}
    with ScriptedServer(responder=answer) as server:
        monkeypatch.setenv("EXTRACTOR_BASE_URL", server.base_url)
        monkeypatch.setenv("EXTRACTOR_MODEL", "m")
        for block in python_blocks():
            exec(compile(block, "README.md", "exec"), namespace)
        calls = server.calls
    lines = capsys.readouterr().out.splitlines()
    total = EXPECTED["Invoice"]["total_amount"]
    assert lines[0].startswith(f"{total} ")  # total, cost, attempts
    assert "'status': 'normalized', 'page': 1, 'text': '1.468,46'" in lines[1]  # as printed
    assert sorted(line.split()[0] for line in lines[2:5]) == ["0", "1", "2"]
    assert all(line.endswith(" ok") for line in lines[2:5])
    # extract, extract_many; the steered extract, a stored run and its free rerun; the
    # ScriptedServer block starts its own server.
    assert calls == 1 + 3 + 1 + 3 + 0
