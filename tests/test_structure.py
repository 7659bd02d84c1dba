"""The rooms the rest is built on: the public API, settings as a leaf, typed errors and
results, provider capabilities and plugins, and the CLI's option handling."""

from __future__ import annotations

import asyncio
import json
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter
from typer.testing import CliRunner

import extractor
from extractor import ConfigError, Failed, Ok, Result, Settings, extract, extract_many
from extractor.cli import app
from extractor.errors import InputTooLarge, OutputTruncated, ProviderHTTPError
from extractor.providers import registry
from extractor.result import Usage
from extractor.testing import RecordedRequest, Reply, ScriptedServer
from schemas import Receipt

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
RECEIPT = {"company": "ACME", "address": None, "date": None, "total": 9.5}


def test_the_public_api_is_sorted_and_every_name_resolves() -> None:
    assert extractor.__all__ == sorted(extractor.__all__)
    for name in extractor.__all__:
        assert getattr(extractor, name) is not None, name


def _imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(done.stdout.split())


def test_reading_workers_and_settings_do_not_import_the_model_stack() -> None:
    heavy = {"httpx", "instructor", "openai", "extractor.providers", "extractor.api"}
    assert not heavy & _imported_after("import extractor.settings")
    assert not heavy & _imported_after("import extractor.isolate, extractor.reading")


def test_cli_help_does_not_import_the_model_stack() -> None:
    loaded = _imported_after("import extractor.cli")
    heavy = {"httpx", "instructor", "openai", "pypdfium2", "extractor.api", "fastapi",
             "extractor.evaluate.report", "rich.table"}  # fmt: skip
    assert not heavy & loaded


def test_flat_options_land_in_their_nested_settings() -> None:
    settings = Settings().with_options(dpi=200, mode="text", temperature=0.3, retries=1)
    assert (settings.reading.dpi, settings.mode, settings.sampling.temperature) == (
        200, "text", 0.3,
    )  # fmt: skip
    assert settings.retry.retries == 1
    assert settings.with_options(vision=False).vision is False  # the job's, not reading's
    with pytest.raises(ConfigError, match="unknown option"):
        Settings().with_options(dpii=3)
    with pytest.raises(ConfigError, match="mode must be one of"):
        Settings().with_options(mode="ocr")


def test_errors_keep_their_typed_context_across_pickling() -> None:
    error = ProviderHTTPError("boom", status=503, retry_after=2.5, retryable=True)
    again = pickle.loads(pickle.dumps(error.after_retries(3)))
    assert (again.status, again.retry_after, again.retryable, again.transport_retries) == (
        503, 2.5, True, 3,
    )  # fmt: skip
    assert error.transport_retries == 0, "the original is not changed"
    large = pickle.loads(pickle.dumps(InputTooLarge("big", path="a.pdf", limit="2 GiB")))
    assert (large.path, large.limit, large.code) == ("a.pdf", "2 GiB", "input_too_large")
    cut = OutputTruncated("cut", last_output='{"a": ')
    assert cut.last_output == '{"a": ' and cut.reasons == ()


def test_a_result_is_ok_or_failed_by_status_and_reads_back_from_its_record(
    server: ScriptedServer,
) -> None:
    server.script(Reply.chat(json.dumps(RECEIPT)), Reply.error(400, "bad request"))
    options: dict[str, Any] = {"base_url": server.base_url, "model": "m", "retries": 0}
    good = extract(FIXTURES / "receipt.jpg", Receipt, mode="text", ocr=False, **options)
    bad = extract(FIXTURES / "receipt.jpg", Receipt, mode="text", ocr=False, **options)
    assert isinstance(good, Ok) and good.data.total == 9.5 and good.ok
    assert isinstance(bad, Failed) and bad.data is None and not bad.ok
    assert bad.error.type == "provider_http_error"
    adapter = TypeAdapter(Result[Receipt])
    for result in (good, bad):
        record = result.record()
        assert list(record)[:6] == ["index", "source", "sha256", "status", "data", "error"]
        assert "cost_usd" not in record["usage"]
        again = adapter.validate_python(record)
        assert again.status == result.status and again.record() == record
        assert isinstance(again, Ok) == isinstance(result, Ok)
        assert pickle.loads(pickle.dumps(again)) == again


def test_usage_adds_tokens_and_knows_when_nobody_knows_the_cost() -> None:
    total = Usage(prompt_tokens=1, completion_tokens=2) + Usage(prompt_tokens=3)
    assert (total.total_tokens, total.cost_usd) == (6, None)
    assert (total + Usage(cost_usd=0.5)).cost_usd == 0.5


def test_extract_many_refuses_a_lone_source_before_running() -> None:
    with pytest.raises(ConfigError, match="not one source"):
        extract_many("fixtures/invoice.pdf", "invoice")
    with pytest.raises(ConfigError, match="not one source"):
        extract_many(b"%PDF-1.7", "invoice")


def test_extract_works_inside_a_running_event_loop(server: ScriptedServer) -> None:
    server.script(Reply.chat(json.dumps(RECEIPT)))

    async def notebook_cell() -> Any:
        return extract(
            FIXTURES / "receipt.jpg", "receipt", base_url=server.base_url, model="m",
            mode="text", ocr=False,
        )  # fmt: skip

    result = asyncio.run(notebook_cell())
    assert result.status == "ok" and result.data.company == "ACME"


# -- provider capabilities --------------------------------------------------------------


def _images_in(request: RecordedRequest) -> int:
    content = request.json["messages"][1]["content"]
    if isinstance(content, str):
        return 0
    return sum(part["type"] == "image_url" for part in content)


def test_a_text_only_server_is_sent_ocr_text_not_images(server: ScriptedServer) -> None:
    server.script(Reply.chat(json.dumps(RECEIPT)), Reply.chat(json.dumps(RECEIPT)))
    options: dict[str, Any] = {"base_url": server.base_url, "model": "m"}
    extract(FIXTURES / "receipt.jpg", "receipt", **options)
    extract(FIXTURES / "receipt.jpg", "receipt", vision=False, **options)
    sees, blind = server.requests
    assert _images_in(sees) == 1
    assert _images_in(blind) == 0
    assert "OCR text" in blind.json["messages"][1]["content"]


def test_cli_no_vision_reaches_the_base_url_provider(
    server: ScriptedServer, tmp_path: Path
) -> None:
    server.script(Reply.chat(json.dumps(RECEIPT)))
    result = CliRunner().invoke(app, [
        "extract", str(FIXTURES / "receipt.jpg"), "-s", "receipt", "-o", str(tmp_path / "r.jsonl"),
        "--base-url", server.base_url, "--model", "m", "--no-vision",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _images_in(server.requests[0]) == 0


def test_the_provider_caps_the_answer_length_it_is_asked_for(server: ScriptedServer) -> None:
    from extractor.providers.openai_compat import OpenAICompatible, Profile

    capped = Profile("capped", server.base_url, None, "m", max_output_tokens=300)
    provider = OpenAICompatible(capped, model="m", base_url=server.base_url, api_key=None)
    server.script(Reply.chat(json.dumps(RECEIPT)))
    extract(FIXTURES / "receipt.jpg", "receipt", provider=provider, max_tokens=4096)
    assert server.requests[0].json["max_tokens"] == 300


# -- a provider plugin, found through a real entry point -----------------------------------

PLUGIN = """
from extractor.providers.openai_compat import OpenAICompatible, Profile
from extractor.providers.registry import ProviderInfo


def _open(config):
    profile = Profile("acme", config.base_url, "ACME_KEY", "acme-1",
                      extra_headers={"X-Acme": "yes"})
    return OpenAICompatible(profile, model=config.model or "acme-1",
                            base_url=config.base_url, api_key=config.api_key)


PROVIDER = ProviderInfo("acme", _open, key_env="ACME_KEY", default_model="acme-1",
                        description="ACME's hosted models")
"""


@pytest.fixture
def acme_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    (tmp_path / "acme_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "acme_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[extractor.providers]\nacme = acme_plugin:PROVIDER\nbroken = acme_plugin:MISSING\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.registered.cache_clear()
    registry._BROKEN.clear()
    yield
    registry.registered.cache_clear()
    registry._BROKEN.clear()


def test_a_plugin_provider_is_chosen_by_name_and_used(
    acme_plugin: None, server: ScriptedServer
) -> None:
    assert "acme" in registry.provider_names()
    server.script(Reply.chat(json.dumps(RECEIPT)))
    result = extract(
        FIXTURES / "receipt.jpg", "receipt", provider="acme", base_url=server.base_url,
        api_key="k-acme", mode="text", ocr=False,
    )  # fmt: skip
    assert result.status == "ok" and result.provider == "acme"
    request = server.requests[0]
    assert request.json["model"] == "acme-1"
    assert request.headers["x-acme"] == "yes"
    assert request.headers["authorization"] == "Bearer k-acme"


def test_a_broken_plugin_is_reported_and_spares_the_others(acme_plugin: None) -> None:
    assert "broken" not in registry.provider_names()
    assert "MISSING" in registry.broken_plugins()["broken"]
    with pytest.raises(ConfigError, match="provider plugin 'broken'"):
        registry.choose("broken")
    assert registry.choose("local").name == "local"


# -- the CLI in logs and on Ctrl-C ----------------------------------------------------------


def test_a_run_in_a_log_prints_plain_progress_lines(server: ScriptedServer, tmp_path: Path) -> None:
    server.responder = lambda _: Reply.chat(json.dumps(RECEIPT))
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(3):
        (docs / f"r{n}.txt").write_text(f"Receipt {n}: ACME, total 9.50\n")
    out = tmp_path / "out.jsonl"
    args = ["extract", str(docs), "-s", "receipt", "-o", str(out), "--include", "*.txt",
            "--base-url", server.base_url, "--model", "m"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "extracting 3 document(s)" in result.output
    assert "extracting: 3/3 · ok 3 · failed 0" in result.output
    again = CliRunner().invoke(app, args)
    assert "extracting 0 document(s) (3 already done)" in again.output


_WITH_CTRL_C = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv = sys.argv[1:]; runpy.run_module('extractor.cli', run_name='__main__')"
)


def test_ctrl_c_says_what_was_committed_and_the_rerun_resumes(tmp_path: Path) -> None:
    import signal
    import time

    with ScriptedServer(responder=lambda _: Reply.chat(json.dumps(RECEIPT), delay=0.3)) as slow:
        docs = tmp_path / "docs"
        docs.mkdir()
        for n in range(40):
            (docs / f"r{n:02}.txt").write_text(f"Receipt {n}: ACME, total 9.50\n")
        out = tmp_path / "out.jsonl"
        command = [sys.executable, "-m", "extractor.cli", "extract", str(docs), "-s", "receipt",
                   "-o", str(out), "--include", "*.txt", "--base-url", slow.base_url,
                   "--model", "m", "--concurrency", "2"]  # fmt: skip
        # As from a terminal: a shell that started these tests in the background made
        # Ctrl-C ignored for its children, and Python keeps an inherited "ignore".
        at_a_terminal = [sys.executable, "-c", _WITH_CTRL_C, *command[2:]]
        run = subprocess.Popen(at_a_terminal, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        deadline = time.monotonic() + 60
        while slow.calls < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=60)
        assert run.returncode == 130, stderr
        assert "Interrupted:" in stderr and "run the same command again to resume" in stderr
        committed = int(stderr.split("Interrupted: ")[1].split(" record")[0])
        assert committed >= 2
        calls_before = slow.calls
        rerun = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        assert f"({committed} already done)" in rerun.stderr
        assert len(out.read_text().splitlines()) == 40
        assert slow.calls - calls_before == 40 - committed
