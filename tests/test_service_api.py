"""The service's API through a real uvicorn server on 127.0.0.1, with the scripted provider."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from extractor.cli import app as cli
from extractor.result import RECORD_KEYS
from extractor.service.config import ServiceConfig
from extractor.service.serving import ServiceThread
from extractor.settings import Settings
from extractor.testing import RecordedRequest, Reply, ScriptedServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
INVOICE = json.loads((FIXTURES / "expected" / "invoice.json").read_text())
RECEIPT = json.loads((FIXTURES / "expected" / "receipt.json").read_text())


class Provider:
    """A scripted provider that answers by schema, after ``delay`` seconds."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.answers = {"Invoice": INVOICE, "Receipt": RECEIPT}
        self.order: list[str] = []  # the schema of each chat request, in arrival order
        self._lock = threading.Lock()
        self.server = ScriptedServer(responder=self.respond)

    def respond(self, request: RecordedRequest) -> Reply:
        name = request.json["response_format"]["json_schema"]["name"]
        with self._lock:
            self.order.append(name)
        return Reply.chat(json.dumps(self.answers[name]), delay=self.delay)


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    scripted = Provider()
    yield scripted
    scripted.server.close()


@pytest.fixture(scope="module")
def service(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    settings = Settings().with_options(provider="openai-compatible", model="m", concurrency=2,
                                       base_url=provider.server.base_url, retries=0)  # fmt: skip
    config = ServiceConfig(data=tmp_path_factory.mktemp("data"), settings=settings)
    with ServiceThread(config) as running:
        yield running


@pytest.fixture
def client(service: ServiceThread, provider: Provider) -> Iterator[httpx.Client]:
    provider.delay = 0.0
    with httpx.Client(base_url=service.url, timeout=60) as http:
        yield http


def upload(*names: str, field: str = "files") -> list[tuple[str, tuple[str, bytes]]]:
    """Multipart file parts: ``"invoice.pdf"`` (a fixture) or ``"fixture.pdf=as.pdf"``."""
    parts = []
    for name in names:
        fixture, _, label = name.partition("=")
        parts.append((field, (label or fixture, (FIXTURES / fixture).read_bytes())))
    return parts


def wait_for(client: httpx.Client, job_id: str, statuses: tuple[str, ...] = ("done",)) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return dict(job)
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} is still {job['status']}")


def records_of(client: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/jobs/{job_id}/records")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    return [json.loads(line) for line in response.text.splitlines()]


def submit(client: httpx.Client, *names: str, schema: str = "invoice") -> str:
    response = client.post("/v1/jobs", files=upload(*names), data={"schema": schema})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


# -- the contract -------------------------------------------------------------------------


def test_health_openapi_and_docs_answer(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    spec = client.get("/openapi.json").json()
    job = "/v1/jobs/{job_id}"
    for path in ("/v1/extract", "/v1/jobs", job, f"{job}/records", f"{job}/truth",
                 f"{job}/records/{{sha256}}/corrections"):  # fmt: skip
        assert path in spec["paths"], path
    body = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert set(body["schema"]["properties"]) == {"files", "schema"}
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text


def test_schemas_are_the_shipped_names_with_json_schemas(client: httpx.Client) -> None:
    from schemas import SHIPPED

    schemas = client.get("/v1/schemas").json()["schemas"]
    assert set(schemas) == set(SHIPPED)
    assert "total_amount" in schemas["invoice"]["properties"]
    assert "line_items" in schemas["invoice"]["properties"]


def test_extract_answers_with_the_documents_record(client: httpx.Client) -> None:
    pdf = (FIXTURES / "invoice.pdf").read_bytes()
    response = client.post("/v1/extract", files={"file": ("march.pdf", pdf)},
                           data={"schema": "invoice"})  # fmt: skip
    assert response.status_code == 200
    record = response.json()
    assert list(record) == list(RECORD_KEYS)  # the fields of a JSONL record, in order
    assert record["status"] == "ok" and record["source"] == "march.pdf"
    assert record["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert record["data"]["total_amount"] == 1468.46
    assert record["grounding"]["total_amount"]["status"] in ("exact", "normalized")


def test_a_documents_own_problem_is_an_error_record(client: httpx.Client) -> None:
    response = client.post("/v1/extract", files={"file": ("broken.pdf", b"%PDF-1.7\n garbage")},
                           data={"schema": "invoice"})  # fmt: skip
    assert response.status_code == 200
    record = response.json()
    assert record["status"] == "error" and record["source"] == "broken.pdf"
    assert record["error"]["type"] == "corrupt_input"
    assert "/tmp" not in json.dumps(record) and "data" not in record["error"]["message"]


@pytest.mark.parametrize(
    ("files", "data", "status", "words"),
    [
        (None, {"schema": "invoice"}, 415, "multipart"),
        ({"other": ("a.txt", b"x")}, {"schema": "invoice"}, 400, "'file'"),
        ({"file": ("a.pdf", b"%PDF")}, {"schema": "nonsense"}, 400, "unknown schema"),
        ({"file": ("a.pdf", b"%PDF")}, {"schema": "schemas/invoice.py:Invoice"}, 400, "unknown"),
        ({"file": ("a.pdf", b"%PDF")}, {}, 400, "unknown schema"),
    ],
)
def test_bad_requests_get_a_json_error(
    client: httpx.Client, files: Any, data: dict[str, str], status: int, words: str
) -> None:
    if files is None:
        response = client.post("/v1/extract", data=data)
    else:
        response = client.post("/v1/extract", files=files, data=data)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["status"] == status and words in error["message"]


def test_a_job_gets_one_record_per_document(client: httpx.Client, service: ServiceThread) -> None:
    names = ("invoice.pdf=a.pdf", "scan.png=b.png", "invoice.pdf=a.png", "multipage.pdf=c.pdf")
    response = client.post("/v1/jobs", files=upload(*names), data={"schema": "invoice"})
    assert response.status_code == 202
    assert set(response.json()) == {"id", "total"} and response.json()["total"] == 4
    job_id = response.json()["id"]
    job = wait_for(client, job_id)
    assert {k: job[k] for k in ("id", "status", "total", "done", "ok", "failed")} == {
        "id": job_id, "status": "done", "total": 4, "done": 4, "ok": 4, "failed": 0}  # fmt: skip
    assert job["cost_usd"] == 0.0
    records = records_of(client, job_id)
    # Same bytes under two names are two documents; a repeated stem is numbered.
    assert [r["source"] for r in records] == ["a.pdf", "b.png", "a-2.png", "c.pdf"]
    assert [r["index"] for r in records] == [0, 1, 2, 3]
    assert records[0]["sha256"] == records[2]["sha256"]
    listed = client.get("/v1/jobs").json()["jobs"]
    assert job_id in [j["id"] for j in listed]
    stored = sorted(p.name for p in (service.config.data / "jobs" / job_id / "uploads").iterdir())
    assert stored == ["000000.pdf", "000001.png", "000002.png", "000003.pdf"]


def test_unknown_and_malformed_job_ids(client: httpx.Client) -> None:
    assert client.get(f"/v1/jobs/{'0' * 32}").status_code == 404
    assert client.get(f"/v1/jobs/{'0' * 32}/records").status_code == 404
    assert client.get("/v1/jobs/..%2F..%2Fservice.db").status_code in (404, 422)
    assert client.get("/v1/jobs/XYZ").status_code == 422


def test_cancel_stops_a_job(client: httpx.Client, provider: Provider) -> None:
    provider.delay = 0.5
    job_id = submit(client, *["invoice.pdf"] * 12)
    wait_for(client, job_id, ("running",))
    cancelled = client.delete(f"/v1/jobs/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    calls = provider.server.calls
    time.sleep(1.2)
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "cancelled" and job["done"] < 12
    assert provider.server.calls == calls  # nothing more was sent for it
    assert len(records_of(client, job_id)) == job["done"]


def test_a_small_job_is_not_starved_by_a_huge_one(client: httpx.Client, provider: Provider) -> None:
    """With two slots, a 2-document job submitted after a 30-document one gets its
    documents in turns, not after the 30."""
    provider.delay = 0.15
    provider.order.clear()
    huge = submit(client, *["invoice.pdf"] * 30)
    wait_for(client, huge, ("running",))
    small = submit(client, "receipt.jpg", "receipt.jpg=second.jpg", schema="receipt")
    small_job = wait_for(client, small)
    huge_job = client.get(f"/v1/jobs/{huge}").json()
    assert small_job["ok"] == 2
    assert huge_job["done"] < 10, huge_job  # first-come-first-served would be 30
    last_receipt = max(i for i, name in enumerate(provider.order) if name == "Receipt")
    assert last_receipt < 8, provider.order
    wait_for(client, huge)


def test_corrections_are_kept_beside_the_record_and_become_truth(
    client: httpx.Client, tmp_path: Path
) -> None:
    job_id = submit(client, "invoice.pdf=march.pdf", "scan.png=april.png")
    wait_for(client, job_id)
    records = records_of(client, job_id)
    sha = records[0]["sha256"]
    url = f"/v1/jobs/{job_id}/records/{sha}/corrections"
    assert client.get(url).status_code == 404
    bad = client.put(url, json={**records[0]["data"], "total_amount": "lots"})
    assert bad.status_code == 422
    assert bad.json()["error"]["errors"][0]["loc"] == ["total_amount"]
    assert client.put(url, content=b"total=1").status_code == 415
    corrected = {**records[0]["data"], "total_amount": 1500.0}
    saved = client.put(url, json=corrected)
    assert saved.status_code == 200 and saved.json()["data"]["total_amount"] == 1500.0
    assert client.get(url).json()["data"] == saved.json()["data"]
    # The model's record is unchanged.
    assert records_of(client, job_id)[0]["data"]["total_amount"] == 1468.46

    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/v1/jobs/{job_id}/truth").content))
    assert archive.namelist() == ["march.json"]  # only the reviewed document
    truth = tmp_path / "truth"
    archive.extractall(truth)
    results = tmp_path / "records.jsonl"
    results.write_text(client.get(f"/v1/jobs/{job_id}/records").text)
    report = tmp_path / "report.json"
    run = CliRunner().invoke(cli, ["eval", str(results), "--truth", str(truth), "--skip-missing",
                                   "--json", str(report)])  # fmt: skip
    assert run.exit_code == 0, run.output
    fields = json.loads(report.read_text())["fields"]
    assert fields["total_amount"]["f1"] == 0.0  # the model said 1468.46; the reviewer 1500
    assert fields["invoice_number"]["f1"] == 1.0


def test_job_records_stream_while_it_runs(client: httpx.Client, provider: Provider) -> None:
    provider.delay = 0.3
    job_id = submit(client, *["invoice.pdf"] * 6)
    deadline = time.monotonic() + 30
    while not (partial := records_of(client, job_id)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 1 <= len(partial) < 6
    wait_for(client, job_id)
    assert len(records_of(client, job_id)) == 6


def test_an_item_that_cancels_its_own_lane_finishes_what_it_does() -> None:
    """A document that fails its job (the key was refused) cancels its lane; it must still
    record the failure, while the lane's other items stop."""
    import asyncio

    from extractor.service.scheduler import FairScheduler

    finished: list[str] = []

    async def main() -> None:
        scheduler = FairScheduler(2)
        await scheduler.start()

        async def run(item: str) -> None:
            if item == "refused":
                scheduler.cancel("job")
                await asyncio.sleep(0.05)  # e.g. writing the job's status
                finished.append(item)
            else:
                await asyncio.sleep(5)
                finished.append(item)

        scheduler.add("job", ["slow", "refused", "never"], run)
        await asyncio.sleep(0.3)
        assert scheduler.queued == 0 and scheduler.running("job") == 0
        await scheduler.close()

    asyncio.run(main())
    assert finished == ["refused"]


def test_a_second_server_on_the_same_data_is_refused(service: ServiceThread) -> None:
    """Two servers on one --data would both resume its jobs and pay twice."""
    with pytest.raises(RuntimeError, match="another extractor serve is using"):
        ServiceThread(ServiceConfig(data=service.config.data, settings=Settings()))


def test_the_review_page_shows_failed_checks_and_warnings(
    client: httpx.Client, provider: Provider
) -> None:
    """An answer whose total breaks net + tax = total, even after the repairs, keeps its
    failed check in the record; the review page lists it beside the values."""
    provider.answers["Invoice"] = {**INVOICE, "total_amount": 1568.46}
    try:
        job_id = submit(client, "invoice.pdf")
        wait_for(client, job_id)
    finally:
        provider.answers["Invoice"] = INVOICE
    record = records_of(client, job_id)[0]
    failed = [c for c in record["checks"] if c["status"] == "failed"]
    assert failed and record["warnings"]
    page = client.get(f"/review/{job_id}/{record['sha256']}").text
    for check in failed:
        assert f"check failed: {check['name']}" in page
    assert '<li class="warning">' in page


def test_every_shipped_schema_becomes_an_editor() -> None:
    from extractor.schema import load_schema
    from extractor.service.review_form import fields_of, render_fields
    from schemas import SHIPPED

    for name in SHIPPED:
        schema = load_schema(name).model.model_json_schema()
        fields = fields_of(schema)
        html = "".join(render_fields(fields, None, {}, {}))
        assert fields and len(fields) == len(schema["properties"]), name
        for field in fields:
            marker = "data-list" if field.kind == "list" else "data-object" if (
                field.kind == "object") else "data-path"  # fmt: skip
            assert f'{marker}="{field.name}' in html, (name, field.name)
