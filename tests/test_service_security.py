"""The service's defences through a real server: tokens, limits, file names, provider keys,
one job's records behind its own id, escaping on the review page, and the bounded queue."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from extractor.cli import app as cli
from extractor.errors import ConfigError
from extractor.service.config import ServiceConfig
from extractor.service.serving import ServiceThread
from extractor.settings import Settings
from extractor.testing import RecordedRequest, Reply, ScriptedServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
INVOICE = json.loads((FIXTURES / "expected" / "invoice.json").read_text())
CANARY = "sk-canary-7d41c0ffee9b"
TOKEN = "tok-2b7e151628aed2a6abf71588"
XSS_NAME = "<script>window.__pwned = 1</script>Evil GmbH"
XSS_FILE = '<img src=x onerror="window.__pwned=2">.pdf'
LIMIT = 200_000  # bytes per upload


class Provider:
    def __init__(self) -> None:
        self.answer: dict[str, Any] = INVOICE
        self.delay = 0.0
        self.refuse = False
        self.server = ScriptedServer(responder=self.respond)

    def respond(self, request: RecordedRequest) -> Reply:
        if self.refuse:  # a provider that echoes the key it refuses, as some do
            return Reply.error(401, f"Incorrect API key provided: {CANARY}")
        return Reply.chat(json.dumps(self.answer), delay=self.delay)


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    scripted = Provider()
    yield scripted
    scripted.server.close()


def _settings(provider: Provider, **extra: Any) -> Settings:
    return Settings().with_options(provider="openai-compatible", model="m", retries=0,
                                   base_url=provider.server.base_url, api_key=CANARY,
                                   **extra)  # fmt: skip


@pytest.fixture(scope="module")
def service(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    config = ServiceConfig(data=tmp_path_factory.mktemp("data"), settings=_settings(provider),
                           tokens=("another-token", TOKEN), max_upload_bytes=LIMIT,
                           max_files_per_job=3, queue_limit=50)  # fmt: skip
    with ServiceThread(config) as running:
        yield running


@pytest.fixture
def client(service: ServiceThread, provider: Provider) -> Iterator[httpx.Client]:
    provider.answer, provider.delay, provider.refuse = INVOICE, 0.0, False
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=service.url, timeout=60, headers=headers) as http:
        yield http


@pytest.fixture
def anonymous(service: ServiceThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=60) as http:
        yield http


def submit(client: httpx.Client, *files: tuple[str, bytes]) -> str:
    parts = [("files", file) for file in files]
    response = client.post("/v1/jobs", files=parts, data={"schema": "invoice"})
    assert response.status_code == 202, response.text
    job_id = str(response.json()["id"])
    deadline = time.monotonic() + 60
    while client.get(f"/v1/jobs/{job_id}").json()["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return job_id


def invoice(name: str = "invoice.pdf") -> tuple[str, bytes]:
    return (name, (FIXTURES / "invoice.pdf").read_bytes())


# -- tokens -------------------------------------------------------------------------------


def test_a_non_loopback_host_without_tokens_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="EXTRACTOR_API_TOKENS"):
        ServiceConfig(data=tmp_path, host="0.0.0.0")
    ServiceConfig(data=tmp_path, host="0.0.0.0", tokens=("t",))  # with tokens it may
    for host in ("127.0.0.1", "127.8.9.10", "::1", "localhost"):
        ServiceConfig(data=tmp_path, host=host)
    run = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--data", str(tmp_path)])
    assert run.exit_code == 2 and "EXTRACTOR_API_TOKENS" in run.output


def test_every_v1_and_review_route_needs_a_token(
    service: ServiceThread, anonymous: httpx.Client
) -> None:
    values = {"job_id": "0" * 32, "sha256": "0" * 64, "number": "1"}
    checked = 0
    for path, methods in anonymous.get("/openapi.json").json()["paths"].items():
        if not path.startswith(("/v1", "/review")):
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
        for method in methods:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                response = anonymous.request(method, url, headers=headers)
                assert response.status_code == 401, (method, url, headers)
                assert response.headers["www-authenticate"] == "Bearer"
            checked += 1
    assert checked >= 12
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200
    assert anonymous.get("/docs").status_code == 200


def test_a_right_token_is_let_in(client: httpx.Client) -> None:
    assert client.get("/v1/jobs").status_code == 200
    other = client.get("/v1/jobs", headers={"Authorization": "Bearer another-token"})
    assert other.status_code == 200


def test_review_login_keeps_the_token_in_a_strict_cookie(
    client: httpx.Client, anonymous: httpx.Client
) -> None:
    job_id = submit(client, invoice())
    page = anonymous.get(f"/review/{job_id}")
    assert page.status_code == 401 and '<form method="post" action="/review/login">' in page.text
    wrong = anonymous.post("/review/login", data={"token": "nope", "next": f"/review/{job_id}"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    right = anonymous.post("/review/login", data={"token": TOKEN, "next": f"/review/{job_id}"})
    assert right.status_code == 303 and right.headers["location"] == f"/review/{job_id}"
    cookie = right.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert anonymous.get(f"/review/{job_id}").status_code == 200  # the client keeps the cookie
    away = anonymous.post("/review/login", data={"token": TOKEN, "next": "https://evil.test/"})
    assert away.headers["location"] == "/review/"  # never an open redirect


# -- limits and names ---------------------------------------------------------------------


def test_uploads_over_the_limits_get_413(client: httpx.Client, service: ServiceThread) -> None:
    big = ("big.pdf", b"%PDF-1.7\n" + b"0" * LIMIT)
    response = client.post("/v1/extract", files={"file": big}, data={"schema": "invoice"})
    assert response.status_code == 413 and "upload limit" in response.json()["error"]["message"]
    response = client.post("/v1/jobs", files=[("files", big)], data={"schema": "invoice"})
    assert response.status_code == 413
    four = [("files", invoice(f"{n}.pdf")) for n in range(4)]
    response = client.post("/v1/jobs", files=four, data={"schema": "invoice"})
    assert response.status_code == 413 and "more than 3" in response.json()["error"]["message"]
    staged = service.config.data / "tmp"
    assert not staged.exists() or not any(staged.rglob("*"))  # nothing left behind


def test_client_file_names_never_become_paths(client: httpx.Client, service: ServiceThread) -> None:
    names = ["../../escape.pdf", "/etc/passwd.pdf", "..\\..\\win.pdf"]
    job_id = submit(client, *[invoice(name) for name in names])
    data = service.config.data
    uploads = data / "jobs" / job_id / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == ["000000.pdf", "000001.pdf", "000002.pdf"]
    assert not list(data.parent.rglob("escape.pdf")) and not list(data.rglob("win.pdf"))
    records = [json.loads(x) for x in client.get(f"/v1/jobs/{job_id}/records").text.splitlines()]
    assert [r["source"] for r in records] == ["escape.pdf", "passwd.pdf", "win.pdf"]


# -- secrets and isolation ----------------------------------------------------------------


def test_the_provider_key_never_appears_in_a_response(
    client: httpx.Client, provider: Provider
) -> None:
    job_id = submit(client, invoice())
    assert provider.server.requests[-1].headers["authorization"] == f"Bearer {CANARY}"
    sha = json.loads(client.get(f"/v1/jobs/{job_id}/records").text.splitlines()[0])["sha256"]
    seen = [client.get(path) for path in (
        "/openapi.json", "/v1/schemas", "/v1/jobs", f"/v1/jobs/{job_id}",
        f"/v1/jobs/{job_id}/records", f"/review/{job_id}", f"/review/{job_id}/{sha}",
    )]  # fmt: skip
    seen.append(client.post("/v1/extract", files={"file": invoice()}, data={"schema": "invoice"}))
    broken = ("broken.pdf", b"%PDF-1.7 nothing")
    seen.append(client.post("/v1/extract", files={"file": broken}, data={"schema": "invoice"}))
    for response in seen:
        assert response.status_code == 200
        assert CANARY not in response.text and CANARY not in str(response.headers)


def test_a_refused_key_fails_the_job_and_is_never_quoted(
    provider: Provider, tmp_path: Path
) -> None:
    """The provider refuses the key and quotes it back: the service says so (502 for an
    extract, a failed job with the reason) without the key; the job keeps no record."""
    provider.answer, provider.delay, provider.refuse = INVOICE, 0.0, True
    config = ServiceConfig(data=tmp_path, settings=_settings(provider))
    with ServiceThread(config) as service, httpx.Client(base_url=service.url, timeout=60) as http:
        refused = http.post("/v1/extract", files={"file": invoice()}, data={"schema": "invoice"})
        assert refused.status_code == 502 and "refused" in refused.json()["error"]["message"]
        parts = [("files", invoice()), ("files", invoice("second.pdf"))]
        job = http.post("/v1/jobs", files=parts, data={"schema": "invoice"}).json()["id"]
        deadline = time.monotonic() + 30
        while (status := http.get(f"/v1/jobs/{job}").json())["status"] != "failed":
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
        assert "refused the key" in status["error"] and status["done"] == 0
        records = http.get(f"/v1/jobs/{job}/records")
        for response in (refused, http.get(f"/v1/jobs/{job}"), records, http.get("/v1/jobs")):
            assert CANARY not in response.text and CANARY not in str(response.headers)
        assert records.text == ""
    provider.refuse = False
    with ServiceThread(config) as service, httpx.Client(base_url=service.url, timeout=60) as http:
        again = http.get(f"/v1/jobs/{job}").json()  # the failure was recorded, not resumed
        assert again["status"] == "failed" and "refused the key" in again["error"]


def test_a_jobs_documents_are_not_reachable_through_another_job(client: httpx.Client) -> None:
    first = submit(client, invoice())
    second = submit(client, ("scan.png", (FIXTURES / "scan.png").read_bytes()))
    sha = json.loads(client.get(f"/v1/jobs/{first}/records").text.splitlines()[0])["sha256"]
    assert client.get(f"/review/{first}/{sha}").status_code == 200
    for url in (f"/review/{second}/{sha}", f"/review/{second}/{sha}/pages/1.png",
                f"/v1/jobs/{second}/records/{sha}/corrections"):  # fmt: skip
        assert client.get(url).status_code == 404, url
    put = client.put(f"/v1/jobs/{second}/records/{sha}/corrections", json=INVOICE)
    assert put.status_code == 404
    assert sha not in client.get(f"/v1/jobs/{second}/records").text
    assert client.get(f"/v1/jobs/{second}/truth").content.count(b".json") == 0


def test_the_review_pages_escape_document_text(client: httpx.Client, provider: Provider) -> None:
    provider.answer = {**INVOICE, "seller_name": XSS_NAME}
    job_id = submit(client, invoice(XSS_FILE))
    record = json.loads(client.get(f"/v1/jobs/{job_id}/records").text.splitlines()[0])
    assert record["data"]["seller_name"] == XSS_NAME  # it really went through
    pages = [client.get(f"/review/{job_id}"), client.get(f"/review/{job_id}/{record['sha256']}")]
    for page in pages:
        assert page.status_code == 200
        assert "<script>window" not in page.text and "<img src=x" not in page.text
        assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/static/review.js" defer>']
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "&lt;img src=x onerror=" in pages[0].text  # (httpx sends the quotes as %22)
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;Evil GmbH" in pages[1].text


# -- backpressure -------------------------------------------------------------------------


def test_a_full_queue_answers_503_with_retry_after(provider: Provider, tmp_path: Path) -> None:
    provider.answer, provider.delay, provider.refuse = INVOICE, 1.0, False
    config = ServiceConfig(data=tmp_path, settings=_settings(provider, concurrency=1),
                           max_files_per_job=3, queue_limit=3)  # fmt: skip
    with ServiceThread(config) as service, httpx.Client(base_url=service.url, timeout=60) as http:
        three = [("files", invoice(f"{n}.pdf")) for n in range(3)]
        first = http.post("/v1/jobs", files=three, data={"schema": "invoice"}).json()["id"]
        deadline = time.monotonic() + 30
        while http.get(f"/v1/jobs/{first}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # One document holds the only slot, two wait: room for one more.
        full = http.post("/v1/jobs", files=three[:2], data={"schema": "invoice"})
        assert full.status_code == 503 and int(full.headers["retry-after"]) >= 1
        assert "queue is full" in full.json()["error"]["message"]
        assert http.post("/v1/jobs", files=three[:1], data={"schema": "invoice"}).status_code == 202
        extract = http.post("/v1/extract", files={"file": invoice()}, data={"schema": "invoice"})
        assert extract.status_code == 503 and int(extract.headers["retry-after"]) >= 1
        assert http.delete(f"/v1/jobs/{first}").json()["status"] == "cancelled"
        ok = http.post("/v1/extract", files={"file": invoice()}, data={"schema": "invoice"})
        assert ok.status_code == 200 and ok.json()["status"] == "ok"
