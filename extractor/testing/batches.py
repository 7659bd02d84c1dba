"""The files and batch endpoints of OpenAI's and Mistral's APIs, for `ScriptedServer`.

Shapes follow the providers' published API references:

- Files (both): ``POST /v1/files`` (multipart: ``file``, ``purpose=batch``) returns a file
  object; ``GET /v1/files/{id}`` the object; ``GET /v1/files/{id}/content`` the bytes.
- OpenAI: input lines ``{"custom_id", "method": "POST", "url", "body"}``; ``POST
  /v1/batches`` with ``input_file_id``, ``endpoint``, ``completion_window: "24h"``;
  ``GET /v1/batches/{id}``; ``POST /v1/batches/{id}/cancel``. Statuses ``validating``,
  ``in_progress``, ``finalizing``, ``completed``, ``failed``, ``expired``, ``cancelling``,
  ``cancelled``; ``output_file_id``, ``error_file_id``, ``request_counts``.
- Mistral: input lines ``{"custom_id", "body"}``; ``POST /v1/batch/jobs`` with
  ``input_files``, ``endpoint``, ``model``; ``GET /v1/batch/jobs/{id}``; ``POST
  /v1/batch/jobs/{id}/cancel``. Statuses ``QUEUED``, ``RUNNING``, ``SUCCESS``, ``FAILED``,
  ``TIMEOUT_EXCEEDED``, ``CANCELLATION_REQUESTED``, ``CANCELLED``; ``output_file``,
  ``error_file`` and request counts.
- Output lines (both): ``{"id", "custom_id", "response": {"status_code", "body"}, "error"}``;
  answers with a non-2xx status go to the error file.

A batch stays queued until the test calls :meth:`BatchService.complete`, which answers
every line with the server's script and responder (so a batch answers as the live model
does) without counting them in ``server.calls``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from typing import TYPE_CHECKING, Any

from extractor.testing.server import RecordedRequest, Reply

if TYPE_CHECKING:
    from extractor.testing.server import ScriptedServer

__all__ = ["BatchService"]

_PROTOCOLS = ("openai", "mistral")
_OPENAI_LINE = {"custom_id", "method", "url", "body"}
_MISTRAL_LINE = {"custom_id", "body"}


@dataclass
class _File:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int = field(default_factory=lambda: int(time.time()))


@dataclass
class _Job:
    id: str
    input_file: str
    endpoint: str
    model: str | None
    metadata: dict[str, Any] | None
    status: str
    created_at: int = field(default_factory=lambda: int(time.time()))
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    output_file: str | None = None
    error_file: str | None = None
    completed_at: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


class BatchService:
    """Files and batch jobs in one provider's protocol, held in memory.

    Attributes:
        protocol: ``openai`` or ``mistral``.
        answered: batch requests answered so far (not counted in ``server.calls``).
    """

    def __init__(self, server: ScriptedServer, protocol: str) -> None:
        if protocol not in _PROTOCOLS:
            raise ValueError(f"batch_protocol must be one of {_PROTOCOLS}, not {protocol!r}")
        self.protocol = protocol
        self.answered = 0
        self._server = server
        self._files: dict[str, _File] = {}
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()

    # -- what a test does -----------------------------------------------------------------

    @property
    def jobs(self) -> list[str]:
        """The ids of the batches created so far, oldest first."""
        with self._lock:
            return list(self._jobs)

    def file_content(self, file_id: str) -> bytes:
        """What was uploaded (or written) as ``file_id``."""
        with self._lock:
            return self._files[file_id].content

    def complete(self, batch_id: str | None = None) -> None:
        """Answer every request of the batch (default: every queued one) and finish it."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if batch_id in (None, j.id)]
        for job in jobs:
            if job.status in (self._queued, self._running):
                self._run(job)

    def fail(self, batch_id: str | None = None) -> None:
        """Fail the batch (default: every queued one) with no answers, as a provider does
        when its input is refused or its workers give up."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if batch_id in (None, j.id)]
            for job in jobs:
                if job.status in (self._queued, self._running):
                    job.errors.append({"code": "server_error", "message": "batch failed"})
                    job.status = "failed" if self.protocol == "openai" else "FAILED"

    # -- routing --------------------------------------------------------------------------

    def route(self, request: RecordedRequest, path: str) -> Reply | None:
        """The reply to a files or batches request, or None when ``path`` is neither."""
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["v1", "files"]:
            return self._files_route(request, parts[2:])
        prefix = ["v1", "batches"] if self.protocol == "openai" else ["v1", "batch", "jobs"]
        if parts[: len(prefix)] == prefix:
            return self._jobs_route(request, parts[len(prefix) :])
        return None

    def _files_route(self, request: RecordedRequest, rest: list[str]) -> Reply | None:
        if request.method == "POST" and not rest:
            return self._upload(request)
        with self._lock:
            found = self._files.get(rest[0]) if rest else None
        if found is None:
            return Reply.error(404, "No such file", code="not_found")
        if request.method == "GET" and rest[1:] == ["content"]:
            return Reply(body=found.content, headers={"Content-Type": "application/octet-stream"})
        if request.method == "GET" and len(rest) == 1:
            return Reply(json=self._file_object(found))
        return None

    def _jobs_route(self, request: RecordedRequest, rest: list[str]) -> Reply | None:
        if request.method == "POST" and not rest:
            return self._create(request.json or {})
        with self._lock:
            job = self._jobs.get(rest[0]) if rest else None
        if job is None:
            return Reply.error(404, "No such batch", code="not_found")
        if request.method == "POST" and rest[1:] == ["cancel"]:
            self._cancel(job)
            return Reply(json=self._job_object(job))
        if request.method == "GET" and len(rest) == 1:
            if job.status == "cancelling":  # OpenAI: cancelling, then cancelled
                job.status = "cancelled"
            return Reply(json=self._job_object(job))
        return None

    # -- files ----------------------------------------------------------------------------

    def _upload(self, request: RecordedRequest) -> Reply:
        kind = request.headers.get("content-type", "")
        message = BytesParser(policy=email_policy).parsebytes(
            f"Content-Type: {kind}\r\n\r\n".encode() + request.body
        )
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts() if message.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            fields[str(name)] = (part.get_filename(), data)
        if "file" not in fields:
            return Reply.error(400, "a multipart field 'file' is required")
        purpose = fields.get("purpose", (None, b""))[1].decode()
        if purpose != "batch":
            return Reply.error(400, f"purpose must be 'batch' here, not {purpose!r}")
        prefix = "file-" if self.protocol == "openai" else ""
        item = _File(prefix + str(uuid.uuid4()), fields["file"][0] or "upload.jsonl", purpose,
                     fields["file"][1])  # fmt: skip
        with self._lock:
            self._files[item.id] = item
        return Reply(json=self._file_object(item))

    def _file_object(self, item: _File) -> dict[str, Any]:
        common = {
            "id": item.id, "object": "file", "bytes": len(item.content),
            "created_at": item.created_at, "filename": item.filename, "purpose": item.purpose,
        }  # fmt: skip
        if self.protocol == "openai":
            return {**common, "status": "processed", "expires_at": None, "status_details": None}
        lines = item.content.count(b"\n")
        return {**common, "sample_type": "batch_request", "num_lines": lines,
                "mimetype": "application/jsonl", "source": "upload"}  # fmt: skip

    # -- jobs -----------------------------------------------------------------------------

    @property
    def _queued(self) -> str:
        return "validating" if self.protocol == "openai" else "QUEUED"

    @property
    def _running(self) -> str:
        return "in_progress" if self.protocol == "openai" else "RUNNING"

    def _create(self, body: dict[str, Any]) -> Reply:
        if self.protocol == "openai":
            missing = {"input_file_id", "endpoint", "completion_window"} - set(body)
            files = [body.get("input_file_id")]
            if body.get("completion_window") not in (None, "24h"):
                return Reply.error(400, "completion_window must be '24h'")
        else:
            missing = {"input_files", "endpoint"} - set(body)
            files = list(body.get("input_files") or [])
        if missing:
            return Reply.error(400 if self.protocol == "openai" else 422,
                               f"missing field(s): {', '.join(sorted(missing))}")  # fmt: skip
        with self._lock:
            known = [f for f in files if f in self._files]
        if len(known) != 1:
            return Reply.error(400, "exactly one uploaded input file is expected")
        prefix = "batch_" if self.protocol == "openai" else ""
        job = _Job(prefix + uuid.uuid4().hex, known[0], str(body["endpoint"]), body.get("model"),
                   body.get("metadata"), self._queued)  # fmt: skip
        with self._lock:
            job.total = self._files[job.input_file].content.count(b"\n")
            self._jobs[job.id] = job
        return Reply(json=self._job_object(job))

    def _cancel(self, job: _Job) -> None:
        if job.status in (self._queued, self._running):
            job.status = "cancelling" if self.protocol == "openai" else "CANCELLED"

    def _run(self, job: _Job) -> None:
        lines = self.file_content(job.input_file).decode().splitlines()
        outputs: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        for number, text in enumerate(lines, 1):
            line = json.loads(text)
            problem = self._line_problem(line, job)
            if problem is not None:
                job.errors.append({"code": "invalid_request", "message": problem, "line": number})
                continue
            answer = self._answer(line, job)
            (outputs if 200 <= answer["response"]["status_code"] < 300 else failures).append(answer)
        if job.errors:
            job.status = "failed" if self.protocol == "openai" else "FAILED"
            return
        job.output_file = self._write(f"batch_{job.id}_output.jsonl", outputs)
        job.error_file = self._write(f"batch_{job.id}_error.jsonl", failures) if failures else None
        job.succeeded, job.failed = len(outputs), len(failures)
        job.status = "completed" if self.protocol == "openai" else "SUCCESS"
        job.completed_at = int(time.time())

    def _line_problem(self, line: dict[str, Any], job: _Job) -> str | None:
        expected = _OPENAI_LINE if self.protocol == "openai" else _MISTRAL_LINE
        if set(line) != expected:
            return f"a line must have exactly the keys {sorted(expected)}, not {sorted(line)}"
        if self.protocol == "openai" and (line["method"] != "POST" or line["url"] != job.endpoint):
            return "method must be POST and url the batch's endpoint"
        return None

    def _answer(self, line: dict[str, Any], job: _Job) -> dict[str, Any]:
        body = line["body"]
        if job.model is not None and "model" not in body:
            body = {**body, "model": job.model}
        raw = json.dumps(body).encode()
        request = RecordedRequest("POST", job.endpoint, {"content-type": "application/json"},
                                  raw, body, time.monotonic())  # fmt: skip
        reply = self._server._next_reply(request, live=False)
        with self._lock:
            self.answered += 1
        response: dict[str, Any] = {"status_code": reply.status, "body": reply.json}
        if self.protocol == "openai":
            response["request_id"] = uuid.uuid4().hex
        return {"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": line["custom_id"],
                "response": response, "error": None}  # fmt: skip

    def _write(self, name: str, lines: list[dict[str, Any]]) -> str:
        content = "".join(json.dumps(line) + "\n" for line in lines).encode()
        prefix = "file-" if self.protocol == "openai" else ""
        item = _File(prefix + str(uuid.uuid4()), name, "batch", content)
        with self._lock:
            self._files[item.id] = item
        return item.id

    def _job_object(self, job: _Job) -> dict[str, Any]:
        if self.protocol == "openai":
            return _openai_batch(job)
        return _mistral_job(job)


def _openai_batch(job: _Job) -> dict[str, Any]:
    done = job.status == "completed"
    errors = {"object": "list", "data": job.errors} if job.errors else None
    return {
        "id": job.id, "object": "batch", "endpoint": job.endpoint, "errors": errors,
        "input_file_id": job.input_file, "completion_window": "24h", "status": job.status,
        "output_file_id": job.output_file, "error_file_id": job.error_file,
        "created_at": job.created_at, "in_progress_at": None,
        "expires_at": job.created_at + 86_400, "finalizing_at": None,
        "completed_at": job.completed_at if done else None, "failed_at": None,
        "expired_at": None, "cancelling_at": None, "cancelled_at": None,
        "request_counts": {"total": job.total, "completed": job.succeeded,
                           "failed": job.failed},
        "metadata": job.metadata,
    }  # fmt: skip


def _mistral_job(job: _Job) -> dict[str, Any]:
    errors = [{"message": e["message"], "count": 1} for e in job.errors]
    return {
        "id": job.id, "object": "batch", "input_files": [job.input_file],
        "metadata": job.metadata, "endpoint": job.endpoint, "model": job.model,
        "agent_id": None, "output_file": job.output_file, "error_file": job.error_file,
        "errors": errors, "outputs": None, "status": job.status,
        "created_at": job.created_at, "total_requests": job.total,
        "completed_requests": job.succeeded + job.failed,
        "succeeded_requests": job.succeeded, "failed_requests": job.failed,
        "started_at": job.created_at if job.completed_at else None,
        "completed_at": job.completed_at,
    }  # fmt: skip
