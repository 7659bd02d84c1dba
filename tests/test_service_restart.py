"""``kill -9`` of ``extractor serve`` mid-job, then a restart on the same ``--data``: the job
carries on, with exactly one record per document, and only the documents in flight at the
kill are paid twice."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from extractor.testing import RecordedRequest, Reply, ScriptedServer

DOCUMENTS = 24
CONCURRENCY = 4
ANSWER = {"company": "ACME", "address": None, "date": "2024-01-01", "total": 12.5}


def _answer(_: RecordedRequest) -> Reply:
    return Reply.chat(json.dumps(ANSWER), delay=0.25)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(data: Path, port: int, base_url: str) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-c", "from extractor.cli import main; main()", "serve",
        "--port", str(port), "--data", str(data), "--provider", "openai-compatible",
        "--base-url", base_url, "--model", "m", "--concurrency", str(CONCURRENCY),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXTRACTOR_")}
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("the server did not come up")


def _committed(records: Path) -> int:
    with sqlite3.connect(records) as db:
        return int(db.execute("SELECT COUNT(*) FROM records").fetchone()[0])


def test_a_job_survives_kill_9_with_one_record_per_document(tmp_path: Path) -> None:
    data, port = tmp_path / "data", _free_port()
    url = f"http://127.0.0.1:{port}"
    files = [("files", (f"r{n:02}.txt", f"SHOP {n}\nTOTAL {n}.50\n".encode()))
             for n in range(DOCUMENTS)]  # fmt: skip
    with ScriptedServer(responder=_answer) as provider:
        server = _serve(data, port, provider.base_url)
        try:
            _wait_up(url, server)
            job = httpx.post(f"{url}/v1/jobs", files=files, data={"schema": "receipt"}).json()
            deadline = time.monotonic() + 60
            while httpx.get(f"{url}/v1/jobs/{job['id']}").json()["done"] < 6:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        finally:
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
        records = data / "jobs" / job["id"] / "records.db"
        committed, calls = _committed(records), provider.calls
        in_flight = calls - committed  # asked of the provider, not committed: paid again
        assert 6 <= committed < DOCUMENTS and 0 <= in_flight <= CONCURRENCY

        server = _serve(data, port, provider.base_url)
        try:
            _wait_up(url, server)
            deadline = time.monotonic() + 60
            while (status := httpx.get(f"{url}/v1/jobs/{job['id']}").json())["status"] != "done":
                assert time.monotonic() < deadline, status
                time.sleep(0.05)
            lines = httpx.get(f"{url}/v1/jobs/{job['id']}/records").text.splitlines()
        finally:
            server.send_signal(signal.SIGTERM)  # a clean stop this time (uvicorn shuts the
            _, errors = server.communicate(timeout=30)  # app down, then re-raises SIGTERM)
        assert server.returncode in (0, -signal.SIGTERM) and b"Traceback" not in errors
        assert status["total"] == status["done"] == status["ok"] == DOCUMENTS
        sources = [json.loads(line)["source"] for line in lines]
        assert sorted(sources) == [f"r{n:02}.txt" for n in range(DOCUMENTS)]  # one each
        assert _committed(records) == DOCUMENTS
        assert provider.calls <= DOCUMENTS + in_flight
        assert provider.calls >= DOCUMENTS  # every uncommitted document was asked again


def test_a_clean_stop_resumes_and_another_model_fails_the_job(tmp_path: Path) -> None:
    """Stopping the server (Ctrl-C, SIGTERM) leaves unfinished jobs to resume at the next
    start; a server started with another model does not finish them with that model."""
    from extractor.service.config import ServiceConfig
    from extractor.service.serving import ServiceThread
    from extractor.settings import Settings

    files = [("files", (f"r{n}.txt", f"SHOP {n}\nTOTAL {n}.50\n".encode())) for n in range(8)]
    with ScriptedServer(responder=_answer) as provider:

        def config(model: str) -> ServiceConfig:
            settings = Settings().with_options(
                provider="openai-compatible",
                model=model,
                base_url=provider.base_url,
                concurrency=2,
            )
            return ServiceConfig(data=tmp_path, settings=settings)

        with ServiceThread(config("m")) as service:
            job = httpx.post(f"{service.url}/v1/jobs", files=files,
                             data={"schema": "receipt"}).json()["id"]  # fmt: skip
            while httpx.get(f"{service.url}/v1/jobs/{job}").json()["done"] < 2:
                time.sleep(0.02)
        with ServiceThread(config("m")) as service:
            resumed = httpx.get(f"{service.url}/v1/jobs/{job}").json()
            assert resumed["status"] in ("queued", "running") and 2 <= resumed["done"] < 8
            while (status := httpx.get(f"{service.url}/v1/jobs/{job}").json())["done"] < 4:
                time.sleep(0.02)
        with ServiceThread(config("another-model")) as service:
            status = httpx.get(f"{service.url}/v1/jobs/{job}").json()
            assert status["status"] == "failed" and "model" in status["error"]
            calls = provider.calls
            time.sleep(0.5)
            assert provider.calls == calls  # nothing was sent under the other model
        with ServiceThread(config("m")) as service:  # a failed job stays failed
            assert httpx.get(f"{service.url}/v1/jobs/{job}").json()["status"] == "failed"
