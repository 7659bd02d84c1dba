"""``extractor serve`` against the scripted provider: throughput vs the CLI, latency, memory.

    .venv/bin/python bench/service.py [--docs 200] [--latency 0.5] [--concurrency 8]
                                      [--repeats 3] [--requests 200] [--clients 8]
                                      [--rss-docs 1000] [--parts throughput,latency,rss]

The provider is a ScriptedServer in a child process (a real provider is on another
machine; in this process it would take the GIL from what is measured), answering a valid
receipt or invoice after ``--latency`` seconds (0 for the latency and memory parts).

- **throughput**: ``--docs`` small text receipts through ``extractor extract`` and through
  ``extractor serve`` (one job), same options, same provider. Reported: documents/min over
  the provider-side span (first request in to last answer out: what both spend working,
  without the CLI's process start or the service's upload), and end to end (CLI: the whole
  command; service: from ``POST /v1/jobs`` to the job's ``done``).
- **latency**: ``--requests`` ``POST /v1/extract`` of the one-page ``fixtures/invoice.pdf``
  from ``--clients`` threads at once; p50/p95 of the client-side time.
- **rss**: jobs of 100 copies of the invoice until ``--rss-docs`` are done; the server
  process's RSS after the first 100 and after all (the reading workers are separate
  processes, reported apart).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from _common import ROOT, spread, status_kib, write_result

from extractor.testing import RecordedRequest, Reply, ScriptedServer

FIXTURES = ROOT / "fixtures"
EXTRACTOR = str(ROOT / ".venv" / "bin" / "extractor")
RECEIPT = {"company": "ACME Stores", "address": "1 Main Street", "date": "2024-01-31",
           "total": 12.5}  # fmt: skip
INVOICE = json.loads((FIXTURES / "expected" / "invoice.json").read_text())


def _serve(conn: Connection, latency: float) -> None:
    """In a child process: a ScriptedServer until told to stop; then its arrival times."""
    answers = {"Receipt": json.dumps(RECEIPT), "Invoice": json.dumps(INVOICE)}

    def respond(request: RecordedRequest) -> Reply:
        name = request.json["response_format"]["json_schema"]["name"]
        return Reply.chat(answers[name], delay=latency)

    with ScriptedServer(responder=respond) as server:
        conn.send(server.base_url)
        conn.recv()
        conn.send([r.received_at for r in server.requests if r.path.endswith("/completions")])


@contextmanager
def provider(latency: float) -> Iterator[tuple[str, dict[str, Any]]]:
    """The scripted provider's base URL; after the block, ``info["arrivals"]``."""
    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.get_context("fork").Process(target=_serve, args=(theirs, latency))
    child.start()
    info: dict[str, Any] = {}
    try:
        yield ours.recv(), info
    finally:
        ours.send("stop")
        info["arrivals"] = ours.recv()
        child.join()


def _options(base_url: str, concurrency: int) -> list[str]:
    return ["--provider", "openai-compatible", "--base-url", base_url, "--model", "m",
            "--concurrency", str(concurrency)]  # fmt: skip


@contextmanager
def server(base_url: str, concurrency: int, data: Path) -> Iterator[tuple[str, int]]:
    """``extractor serve`` on a free port: its URL and pid."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXTRACTOR_")}
    command = [EXTRACTOR, "serve", "--port", str(port), "--data", str(data),
               *_options(base_url, concurrency)]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, whichever of its threads started it (the reading
    workers come from a forkserver that a worker thread starts)."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found.extend(children)
            stack.extend(children)
    return found


def _wait_done(client: httpx.Client, job: str) -> None:
    while client.get(f"/v1/jobs/{job}").json()["status"] not in ("done", "failed"):
        time.sleep(0.02)


def _span(arrivals: list[float], latency: float) -> float:
    return max(arrivals) + latency - min(arrivals)


def throughput(docs: int, latency: float, concurrency: int, repeats: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-service-"))
    names = []
    for number in range(docs):
        path = folder / "docs" / f"receipt-{number:05d}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"ACME Stores\n1 Main Street\n31/01/2024\nreceipt {number}\nTOTAL 12.50\n")
        names.append(path)
    runs: dict[str, list[dict[str, float]]] = {"cli": [], "service": []}
    for repeat in range(repeats):
        with provider(latency) as (base_url, info):
            started = time.perf_counter()
            out = folder / f"out-{repeat}.jsonl"
            subprocess.run([EXTRACTOR, "extract", str(folder / "docs"), "-s", "receipt", "-q",
                            "-o", str(out), "--include", "*.txt",
                            *_options(base_url, concurrency)], check=True,
                           env={k: v for k, v in os.environ.items()
                                if not k.startswith("EXTRACTOR_")})  # fmt: skip
            wall = time.perf_counter() - started
        runs["cli"].append({"span_s": _span(info["arrivals"], latency), "wall_s": wall})
        data = folder / f"data-{repeat}"
        with provider(latency) as (base_url, info), server(base_url, concurrency, data) as (url, _):
            files = [("files", (p.name, p.read_bytes())) for p in names]
            with httpx.Client(base_url=url, timeout=300) as client:
                started = time.perf_counter()
                job = client.post("/v1/jobs", files=files, data={"schema": "receipt"})
                _wait_done(client, job.json()["id"])
                wall = time.perf_counter() - started
        runs["service"].append({"span_s": _span(info["arrivals"], latency), "wall_s": wall})
    result: dict[str, Any] = {"docs": docs, "latency_s": latency, "concurrency": concurrency,
                              "ideal_s": -(-docs // concurrency) * latency}  # fmt: skip
    for name, measured in runs.items():
        spans = [r["span_s"] for r in measured]
        walls = [r["wall_s"] for r in measured]
        result[name] = {
            "span_s": spread(spans), "wall_s": spread(walls),
            "docs_per_min_span": round(60 * docs / statistics.median(spans), 1),
            "docs_per_min_wall": round(60 * docs / statistics.median(walls), 1),
        }  # fmt: skip
    result["service_vs_cli_span"] = round(
        result["service"]["docs_per_min_span"] / result["cli"]["docs_per_min_span"], 3
    )
    result["service_vs_cli_wall"] = round(
        result["service"]["docs_per_min_wall"] / result["cli"]["docs_per_min_wall"], 3
    )
    return result


def latency(requests: int, clients: int, concurrency: int) -> dict[str, Any]:
    pdf = (FIXTURES / "invoice.pdf").read_bytes()
    times: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    todo = iter(range(requests))
    with (
        provider(0.0) as (base_url, _),
        tempfile.TemporaryDirectory() as data,
        server(base_url, concurrency, Path(data)) as (url, _),
    ):

        def client() -> None:
            with httpx.Client(base_url=url, timeout=120) as http:
                while True:
                    with lock:
                        if next(todo, None) is None:
                            return
                    started = time.perf_counter()
                    response = http.post("/v1/extract", files={"file": ("invoice.pdf", pdf)},
                                         data={"schema": "invoice"})  # fmt: skip
                    elapsed = time.perf_counter() - started
                    with lock:
                        times.append(elapsed)
                        statuses.append(response.status_code)

        httpx.post(
            f"{url}/v1/extract",
            files={"file": ("warm.pdf", pdf)},
            data={"schema": "invoice"},
            timeout=120,
        )  # starts the reading workers
        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    ordered = sorted(times)
    return {
        "requests": requests, "clients": clients, "concurrency": concurrency,
        "status_codes": {str(code): statuses.count(code) for code in sorted(set(statuses))},
        "p50_s": round(ordered[len(ordered) // 2], 3),
        "p95_s": round(ordered[int(len(ordered) * 0.95) - 1], 3),
        "max_s": round(ordered[-1], 3), "requests_per_s": round(requests / wall, 1),
    }  # fmt: skip


def rss(total: int, concurrency: int) -> dict[str, Any]:
    pdf = (FIXTURES / "invoice.pdf").read_bytes()
    samples: dict[str, Any] = {}
    with (
        provider(0.0) as (base_url, _),
        tempfile.TemporaryDirectory() as data,
        server(base_url, concurrency, Path(data)) as (url, pid),
        httpx.Client(base_url=url, timeout=300) as client,
    ):
        samples["idle_kib"] = status_kib(pid, "VmRSS")
        done, batch = 0, min(100, total)
        started = time.perf_counter()
        while done < total:
            files = [("files", (f"invoice-{done + n}.pdf", pdf)) for n in range(batch)]
            job = client.post("/v1/jobs", files=files, data={"schema": "invoice"}).json()
            _wait_done(client, job["id"])
            done += batch
            if done in (batch, total):
                workers = [status_kib(p, "VmRSS") or 0 for p in _descendants(pid)]
                samples[f"after_{done}"] = {
                    "server_rss_kib": status_kib(pid, "VmRSS"),
                    "server_peak_kib": status_kib(pid, "VmHWM"),
                    "workers_rss_kib": sum(workers), "workers": len(workers),
                }  # fmt: skip
        samples["docs_per_min"] = round(60 * total / (time.perf_counter() - started), 1)
    first, last = (
        samples[f"after_{batch}"]["server_rss_kib"],
        samples[f"after_{total}"]["server_rss_kib"],
    )
    samples["growth_kib"] = last - first
    samples["ratio"] = round(last / first, 3)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rss-docs", type=int, default=1000)
    parser.add_argument("--parts", default="throughput,latency,rss")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    result: dict[str, Any] = {}
    if "throughput" in parts:
        result["throughput"] = throughput(args.docs, args.latency, args.concurrency, args.repeats)
        print(json.dumps(result["throughput"], indent=2), flush=True)
    if "latency" in parts:
        result["latency"] = latency(args.requests, args.clients, args.concurrency)
        print(json.dumps(result["latency"], indent=2), flush=True)
    if "rss" in parts:
        result["rss"] = rss(args.rss_docs, args.concurrency)
        print(json.dumps(result["rss"], indent=2), flush=True)
    print(write_result("service", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
