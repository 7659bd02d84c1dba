"""A scripted OpenAI-compatible HTTP server for tests: ours and our users'.

It is a real server on 127.0.0.1, so everything between extractor and the wire (httpx,
timeouts, retries, keep-alive, status handling) runs as in production. Each chat-completion
request takes the next scripted `Reply`; every request is recorded.

Example:
    >>> import httpx
    >>> from extractor.testing import Reply, ScriptedServer
    >>> with ScriptedServer() as server:
    ...     server.script(Reply.chat('{"total": 1}'))
    ...     r = httpx.post(f"{server.base_url}/chat/completions", json={"model": "m"})
    ...     r.json()["choices"][0]["message"]["content"], server.calls
    ('{"total": 1}', 1)
"""

from __future__ import annotations

import json as _json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any, cast

__all__ = ["RecordedRequest", "Reply", "ScriptedServer"]

_CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
_MODEL_PATHS = frozenset({"/v1/models", "/models"})
_MODEL = "scripted-model"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it.

    Attributes:
        method: HTTP method, e.g. ``"POST"``.
        path: Request target including any query string.
        headers: Header names lower-cased; a repeated header keeps its last value.
        body: Raw request body.
        json: The body parsed as JSON, or None when it is not JSON.
        received_at: ``time.monotonic()`` when the body had been read.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    received_at: float


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request.

    Attributes:
        status: HTTP status code.
        json: Body to serialise as JSON.
        body: Raw body; wins over ``json``.
        headers: Extra response headers (Content-Length is always computed).
        delay: Seconds to wait before answering, to exercise client timeouts.
        drop: Close the connection without sending any response (after ``delay``).
        truncate: Send the full Content-Length but only this many body bytes, then close.
    """

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    truncate: int | None = None

    @classmethod
    def chat(
        cls,
        content: str | None,
        *,
        model: str = _MODEL,
        prompt_tokens: int = 10,
        completion_tokens: int = 5,
        cost: float | None = None,
        finish_reason: str = "stop",
        id: str | None = None,
        extra_usage: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        truncate: int | None = None,
    ) -> Reply:
        """A successful ``chat.completion``.

        ``cost`` goes into ``usage`` only when given, the way OpenRouter reports the charge;
        ``extra_usage`` is merged into ``usage``. ``headers``, ``delay`` and ``truncate`` set
        the `Reply` fields of the same names.
        """
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if cost is not None:
            usage["cost"] = cost
        usage.update(extra_usage or {})
        message = {"role": "assistant", "content": content}
        body = {
            "id": id or f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": usage,
        }
        return cls(json=body, headers=dict(headers or {}), delay=delay, truncate=truncate)

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A non-2xx answer carrying OpenAI's ``{"error": {...}}`` envelope."""
        envelope = {"error": {"message": message, "type": type, "code": code}}
        return cls(status=status, json=envelope, headers=dict(headers or {}))

    @classmethod
    def error_in_200(cls, message: str, *, code: int = 502) -> Reply:
        """OpenRouter's habit: an error envelope sent with HTTP 200."""
        return cls(json={"error": {"message": message, "code": code}})

    @classmethod
    def choice_error(cls, message: str, *, code: int = 502) -> Reply:
        """OpenRouter's mid-generation failure: HTTP 200, ``finish_reason: "error"``."""
        body = cls.chat(None, finish_reason="error").json
        body["choices"][0]["error"] = {"message": message, "code": code}
        return cls(json=body)


Responder = Callable[[RecordedRequest], Reply]


def _encode(reply: Reply) -> bytes:
    if reply.body is not None:
        return reply.body
    return b"" if reply.json is None else _json.dumps(reply.json).encode()


def _server_error(message: str, code: str) -> Reply:
    return Reply.error(500, f"ScriptedServer: {message}", type="server_error", code=code)


def _parse_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return _json.loads(body)
    except ValueError:  # UnicodeDecodeError included
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # 20 simultaneous connects overflow the default backlog of 5, and a dropped SYN
    # costs the client a full second before it retries.
    request_queue_size = 128

    def __init__(self, owner: ScriptedServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall for
        # seconds in sandboxes without DNS; the name is never used here.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or hang up make writes fail; that is the test working,
        # and the default handler would print a traceback to stderr.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def _owner(self) -> ScriptedServer:
        return cast(_Server, self.server).owner

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; with Nagle on, the client's delayed ACK
        # would add 40 ms to every reply on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._owner._track(self.connection, add=True)

    def finish(self) -> None:
        self._owner._track(self.connection, add=False)
        with suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a test double must stay silent

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _route(self) -> None:
        body = self._read_body()
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            json=_parse_json(body),
            received_at=time.monotonic(),
        )
        path = self.path.split("?", 1)[0].rstrip("/")
        if self.command == "POST" and path in _CHAT_PATHS:
            reply = self._owner._next_reply(request)
        elif self.command == "GET" and path in _MODEL_PATHS:
            self._owner._record(request)
            model = {"id": _MODEL, "object": "model", "created": 0, "owned_by": "extractor"}
            reply = Reply(json={"object": "list", "data": [model]})
        else:
            self._owner._record(request)
            missing = Reply.error(404, f"no route for {self.command} {path}", code="not_found")
            reply = self._owner.batches.route(request, path) or missing
        self._send(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _route

    def _send(self, reply: Reply) -> None:
        # Waiting on the close event lets close() cut short a long delay.
        if (reply.delay > 0 and self._owner._closing.wait(reply.delay)) or reply.drop:
            self.close_connection = True
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        body = _encode(reply)
        self.send_response(reply.status)
        names = {name.lower() for name in reply.headers}
        if body and "content-type" not in names:
            self.send_header("Content-Type", "application/json")
        for name, value in reply.headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if reply.truncate is not None and reply.truncate < len(body):
            self.wfile.write(body[: reply.truncate])
            self.close_connection = True
        else:
            self.wfile.write(body)


class ScriptedServer:
    """A real OpenAI-compatible server on 127.0.0.1 that answers from a script.

    Each ``POST /v1/chat/completions`` (or ``/chat/completions``) pops the next scripted
    `Reply`; when the script is empty it asks ``responder``, and without one it answers
    HTTP 500 so a test fails instead of hanging. ``GET /v1/models`` lists
    ``scripted-model``. The files and batch endpoints of ``batch_protocol`` are served
    too (:class:`~extractor.testing.batches.BatchService`: a batch's requests are answered
    from the same script and responder when the test calls ``server.batches.complete()``);
    other paths get a 404 envelope. The server starts on construction.

    Args:
        replies: Initial script, answered in order.
        responder: Called with the request when the script is empty.
        batch_protocol: ``"openai"`` (``/v1/batches``) or ``"mistral"``
            (``/v1/batch/jobs``).
    """

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        responder: Responder | None = None,
        *,
        batch_protocol: str = "openai",
    ) -> None:
        from extractor.testing.batches import BatchService

        self.responder = responder
        self.batches = BatchService(self, batch_protocol)
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._calls = 0
        self._connections: set[socket.socket] = set()
        self._closing = threading.Event()
        self.script(*replies)
        self._server = _Server(self)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}/v1"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"ScriptedServer:{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()

    def script(self, *replies: Reply) -> None:
        """Append replies to the script; chat requests consume them in order."""
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"script() takes Reply objects, got {type(reply).__name__}")
        with self._lock:
            self._queue.extend(replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def calls(self) -> int:
        """How many chat-completion requests have arrived."""
        with self._lock:
            return self._calls

    @property
    def pending(self) -> int:
        """How many scripted replies have not been used yet."""
        with self._lock:
            return len(self._queue)

    def close(self) -> None:
        """Stop serving and cut open connections; safe to call twice."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        # Idle keep-alive connections would otherwise keep their threads blocked in read.
        for conn in connections:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join()

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if not add:
                self._connections.discard(conn)
                return
            self._connections.add(conn)
            if self._closing.is_set():  # accepted while close() ran: it missed this one
                with suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def _next_reply(self, request: RecordedRequest, *, live: bool = True) -> Reply:
        """The next scripted reply (or the responder's); ``live=False`` answers a request
        of a batch, which is not counted in :attr:`calls`."""
        with self._lock:
            if live:
                self._requests.append(request)
                self._calls += 1
            number = self._calls
            scripted = self._queue.popleft() if self._queue else None
        if scripted is not None:
            return scripted
        responder = self.responder
        if responder is None:
            return _server_error(
                f"script exhausted at chat request #{number}; add replies "
                "with script() or set a responder",
                "script_exhausted",
            )
        try:
            reply = responder(request)
        except Exception as exc:  # the test's bug: report it to the client, never print it
            return _server_error(f"responder raised {exc!r}", "responder_error")
        if not isinstance(reply, Reply):
            return _server_error(f"responder returned {type(reply).__name__}", "responder_error")
        return reply
