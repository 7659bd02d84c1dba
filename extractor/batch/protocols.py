"""Clients for the providers' batch APIs: upload a JSONL file, create a batch, poll it,
cancel it, download its output and error files.

- OpenAI (Files + Batches): lines ``{"custom_id", "method": "POST", "url", "body"}``;
  ``POST /files`` (``purpose=batch``), ``POST /batches`` (``input_file_id``,
  ``endpoint``, ``completion_window: "24h"``), ``GET /batches/{id}``,
  ``POST /batches/{id}/cancel``, ``GET /files/{id}/content``.
- Mistral (Files + Batch jobs): lines ``{"custom_id", "body"}``; ``POST /files``
  (``purpose=batch``), ``POST /batch/jobs`` (``input_files``, ``endpoint``, ``model``),
  ``GET /batch/jobs/{id}``, ``POST /batch/jobs/{id}/cancel``, ``GET /files/{id}/content``.

Both answer with output lines ``{"custom_id", "response": {"status_code", "body"}}``;
the ``body`` of a 200 line is the chat completion the live endpoint would have sent.
OpenRouter's batch API takes inline requests rather than a file and refuses base64
images, which is how extractor sends page images, so it is not spoken here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from extractor.errors import AuthError, ConfigError, ProviderError, ProviderHTTPError

__all__ = [
    "BATCH_PROVIDERS",
    "BatchClient",
    "BatchInfo",
    "MistralBatches",
    "OpenAIBatches",
    "client_for",
]

ENDPOINT = "/v1/chat/completions"
_TRIES = 4


@dataclass(frozen=True)
class BatchInfo:
    """A batch as the provider describes it.

    Attributes:
        id: the provider's batch id.
        status: as the provider says it (``in_progress``, ``SUCCESS`` …).
        finished: it will not change any more.
        collectable: finished with answers to collect (completed, or expired or cancelled
            part-way: the answers it has are kept, the rest go live).
        output_file, error_file: ids of the files holding the answers.
        total, done, failed: request counts.
    """

    id: str
    status: str
    finished: bool
    collectable: bool
    output_file: str | None
    error_file: str | None
    total: int
    done: int
    failed: int


class BatchClient:
    """One provider's batch protocol over HTTP (``base_url`` ends in ``/v1``)."""

    name = "batch"
    jobs_path = ""
    _finished: frozenset[str] = frozenset()
    _collectable: frozenset[str] = frozenset()

    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self._client = httpx.Client(timeout=timeout)

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}({self.base_url!r})"

    def close(self) -> None:
        self._client.close()

    def line(self, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """One line of the input file."""
        raise NotImplementedError

    def create(self, file_id: str, model: str, metadata: dict[str, str]) -> BatchInfo:
        raise NotImplementedError

    def parse(self, raw: dict[str, Any]) -> BatchInfo:
        raise NotImplementedError

    def upload(self, content: bytes, filename: str = "batch.jsonl") -> str:
        """Upload a JSONL input file; returns its id."""
        files = {"file": (filename, content, "application/jsonl")}
        answer = self._send("POST", "/files", files=files, data={"purpose": "batch"})
        return str(answer["id"])

    def retrieve(self, batch_id: str) -> BatchInfo:
        return self.parse(self._send("GET", f"{self.jobs_path}/{batch_id}"))

    def cancel(self, batch_id: str) -> BatchInfo:
        return self.parse(self._send("POST", f"{self.jobs_path}/{batch_id}/cancel"))

    def download(self, file_id: str) -> bytes:
        return self._request("GET", f"/files/{file_id}/content").content

    def answers(self, info: BatchInfo) -> dict[str, dict[str, Any]]:
        """custom_id → ``{"status_code", "body"}`` from the output and error files."""
        found: dict[str, dict[str, Any]] = {}
        for file_id in (info.output_file, info.error_file):
            if not file_id:
                continue
            for raw in self.download(file_id).splitlines():
                if raw.strip():
                    line = orjson.loads(raw)
                    found[str(line.get("custom_id"))] = line.get("response") or {}
        return found

    # -- HTTP -----------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = orjson.loads(self._request(method, path, **kwargs).content)
        if not isinstance(answer, dict):
            raise ProviderHTTPError(f"{self.name}: {method} {path} answered no JSON object")
        return answer

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        for attempt in range(_TRIES):
            try:
                response = self._client.request(
                    method, self.base_url + path, headers=headers, **kwargs
                )
            except httpx.TransportError as exc:
                if attempt == _TRIES - 1:
                    raise ProviderError(f"{self.name}: {method} {path} failed ({exc!r})") from None
            else:
                if response.status_code < 400:
                    return response
                if response.status_code < 500 and response.status_code != 429:
                    raise self._error(method, path, response)
                if attempt == _TRIES - 1:
                    raise self._error(method, path, response)
            time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, method: str, path: str, response: httpx.Response) -> ProviderError:
        text = response.text[:300]
        if self._key:
            text = text.replace(self._key, "[redacted]")
        message = f"{self.name}: {method} {path}: HTTP {response.status_code}: {text}"
        if response.status_code in (401, 402, 403):
            return AuthError(message, status=response.status_code)
        return ProviderHTTPError(message, status=response.status_code, retryable=False)


class OpenAIBatches(BatchClient):
    name = "openai"
    jobs_path = "/batches"
    _finished = frozenset({"completed", "failed", "expired", "cancelled"})
    _collectable = frozenset({"completed", "expired", "cancelled"})

    def line(self, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}

    def create(self, file_id: str, model: str, metadata: dict[str, str]) -> BatchInfo:
        body = {"input_file_id": file_id, "endpoint": ENDPOINT, "completion_window": "24h",
                "metadata": metadata}  # fmt: skip
        return self.parse(self._send("POST", self.jobs_path, json=body))

    def parse(self, raw: dict[str, Any]) -> BatchInfo:
        counts = raw.get("request_counts") or {}
        status = str(raw.get("status"))
        return BatchInfo(
            str(raw["id"]), status, status in self._finished, status in self._collectable,
            raw.get("output_file_id"), raw.get("error_file_id"), int(counts.get("total") or 0),
            int(counts.get("completed") or 0), int(counts.get("failed") or 0),
        )  # fmt: skip


class MistralBatches(BatchClient):
    name = "mistral"
    jobs_path = "/batch/jobs"
    _finished = frozenset({"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"})
    _collectable = frozenset({"SUCCESS", "TIMEOUT_EXCEEDED", "CANCELLED"})

    def line(self, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"custom_id": custom_id, "body": body}

    def create(self, file_id: str, model: str, metadata: dict[str, str]) -> BatchInfo:
        body = {"input_files": [file_id], "endpoint": ENDPOINT, "model": model,
                "metadata": metadata}  # fmt: skip
        return self.parse(self._send("POST", self.jobs_path, json=body))

    def parse(self, raw: dict[str, Any]) -> BatchInfo:
        status = str(raw.get("status"))
        return BatchInfo(
            str(raw["id"]), status, status in self._finished, status in self._collectable,
            raw.get("output_file"), raw.get("error_file"), int(raw.get("total_requests") or 0),
            int(raw.get("succeeded_requests") or 0), int(raw.get("failed_requests") or 0),
        )  # fmt: skip


BATCH_PROVIDERS: dict[str, type[BatchClient]] = {
    "openai": OpenAIBatches,
    "mistral": MistralBatches,
}


def client_for(provider: Any) -> BatchClient:
    """The batch client of an open HTTP provider (its base URL and key)."""
    kind = BATCH_PROVIDERS.get(getattr(provider, "name", ""))
    if kind is None:
        raise ConfigError(
            f"batch jobs need --provider mistral or openai (their batch APIs), not "
            f"{getattr(provider, 'name', provider)!r}; OpenRouter's batch API refuses the "
            "base64 page images extractor sends. Point --base-url elsewhere if needed"
        )
    return kind(provider.base_url, provider._api_key, timeout=provider.retry.timeout)
