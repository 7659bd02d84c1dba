"""The public scripted server, exercised over real HTTP with httpx."""

from __future__ import annotations

import doctest
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from extractor.testing import RecordedRequest, Reply, ScriptedServer

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


# One shared client: building an httpx.Client costs ~40 ms (SSL context), a request ~1 ms.
_HTTP = httpx.Client(timeout=5.0)


@pytest.fixture(scope="module", autouse=True)
def _close_http() -> Iterator[None]:
    yield
    _HTTP.close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def post(
    server: ScriptedServer, *, timeout: float = 5.0, headers: dict[str, str] | None = None
) -> httpx.Response:
    url = f"{server.base_url}/chat/completions"
    return _HTTP.post(url, json=CHAT, timeout=timeout, headers=headers)


def content(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["message"]["content"])


def test_base_url_is_loopback_v1(server: ScriptedServer) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.base_url.endswith("/v1")
    assert int(server.base_url.rsplit(":", 1)[1].split("/")[0]) > 0


def test_chat_body_has_openai_shape(server: ScriptedServer) -> None:
    server.script(Reply.chat('{"total": 1}', prompt_tokens=7, completion_tokens=3, id="c-1"))
    response = post(server)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    body = response.json()
    assert body["id"] == "c-1"
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "scripted-model"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": '{"total": 1}'},
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def test_chat_cost_and_extra_usage_only_when_given() -> None:
    body = Reply.chat("x", cost=0.25, extra_usage={"prompt_tokens_details": {}}).json
    assert body["usage"]["cost"] == 0.25
    assert body["usage"]["prompt_tokens_details"] == {}
    assert "cost" not in Reply.chat("x").json["usage"]
    assert Reply.chat("x").json["id"] != Reply.chat("x").json["id"]


def test_error_envelopes() -> None:
    err = Reply.error(429, "slow down", headers={"Retry-After": "1"}, code="rate_limit")
    assert err.status == 429
    assert err.headers == {"Retry-After": "1"}
    assert err.json == {
        "error": {"message": "slow down", "type": "invalid_request_error", "code": "rate_limit"}
    }
    in200 = Reply.error_in_200("upstream died")
    assert (in200.status, in200.json) == (200, {"error": {"message": "upstream died", "code": 502}})
    choice = Reply.choice_error("boom", code=503).json["choices"][0]
    assert choice["finish_reason"] == "error"
    assert choice["message"]["content"] is None
    assert choice["error"] == {"message": "boom", "code": 503}


def test_replies_are_served_in_fifo_order_and_script_appends(server: ScriptedServer) -> None:
    server.script(Reply.chat("one"), Reply.error(429, "slow down", headers={"Retry-After": "1"}))
    server.script(Reply.chat("three"))
    first, second, third = post(server), post(server), post(server)
    assert first.json()["choices"][0]["message"]["content"] == "one"
    assert second.status_code == 429
    assert second.headers["retry-after"] == "1"
    assert second.json()["error"]["message"] == "slow down"
    assert third.json()["choices"][0]["message"]["content"] == "three"
    assert server.calls == 3
    assert server.pending == 0


def test_constructor_replies_and_both_paths() -> None:
    with ScriptedServer([Reply.chat("a"), Reply.chat("b")]) as server:
        root = server.base_url.removesuffix("/v1")
        a = _HTTP.post(f"{root}/v1/chat/completions", json=CHAT)
        b = _HTTP.post(f"{root}/chat/completions", json=CHAT)
        assert [r.json()["choices"][0]["message"]["content"] for r in (a, b)] == ["a", "b"]
        assert server.calls == 2


def test_requests_are_recorded(server: ScriptedServer) -> None:
    server.script(Reply.chat("x"), Reply.chat("y"))
    before = time.monotonic()
    post(server, headers={"Authorization": "Bearer sk-test", "X-Title": "etl"})
    _HTTP.post(
        f"{server.base_url}/chat/completions",
        content=b"not json",
        headers={"Content-Type": "text/plain"},
    )
    first, second = server.requests
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path) == ("POST", "/v1/chat/completions")
    assert first.headers["authorization"] == "Bearer sk-test"
    assert first.headers["x-title"] == "etl"
    assert first.json == CHAT
    assert b'"messages"' in first.body
    assert before <= first.received_at <= second.received_at <= time.monotonic()
    assert (second.body, second.json) == (b"not json", None)
    server.requests.clear()  # a copy: the server's record is untouched
    assert len(server.requests) == 2


def test_delay_triggers_client_read_timeout(server: ScriptedServer) -> None:
    server.script(Reply.chat("late", delay=0.5), Reply.chat("on time"))
    with pytest.raises(httpx.ReadTimeout):
        post(server, timeout=0.1)
    assert content(post(server)) == "on time"


def test_drop_closes_without_response(server: ScriptedServer) -> None:
    server.script(Reply(drop=True), Reply.chat("after"))
    with pytest.raises(httpx.RemoteProtocolError):  # "disconnected without a response"
        post(server)
    assert content(post(server)) == "after"
    assert server.calls == 2


def test_truncate_sends_partial_body(server: ScriptedServer) -> None:
    server.script(Reply.chat("a long enough answer", truncate=20))
    with _HTTP.stream("POST", f"{server.base_url}/chat/completions", json=CHAT) as response:
        assert response.status_code == 200
        declared = int(response.headers["content-length"])
        assert declared > 20
        received = b""
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in response.iter_raw():
                received += chunk
    assert len(received) == 20


def test_truncate_is_a_transport_error_for_plain_post(server: ScriptedServer) -> None:
    server.script(Reply(body=b'{"choices": [', truncate=5))
    with pytest.raises(httpx.RemoteProtocolError):
        post(server)


def test_raw_body_wins_over_json(server: ScriptedServer) -> None:
    server.script(
        Reply(body=b'{"choices": [', json={"ignored": True}, headers={"Content-Type": "text/plain"})
    )
    response = post(server)
    assert response.content == b'{"choices": ['
    assert response.headers["content-type"] == "text/plain"


def test_exhausted_script_answers_500(server: ScriptedServer) -> None:
    response = post(server)
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "script_exhausted"
    assert "exhausted" in error["message"]
    assert server.calls == 1


def test_responder_used_after_script(server: ScriptedServer) -> None:
    server.script(Reply.chat("scripted"))
    server.responder = lambda req: Reply.chat(f"echo {req.json['messages'][0]['content']}")
    contents = [content(post(server)) for _ in range(3)]
    assert contents == ["scripted", "echo hi", "echo hi"]


def test_responder_failure_is_a_500_not_a_hang() -> None:
    def broken(req: RecordedRequest) -> Reply:
        raise RuntimeError("bug in test")

    with ScriptedServer(responder=broken) as server:
        response = post(server)
    assert response.status_code == 500
    assert "bug in test" in response.json()["error"]["message"]


def test_models_and_unknown_paths(server: ScriptedServer) -> None:
    models = _HTTP.get(f"{server.base_url}/models")
    assert models.status_code == 200
    assert [m["id"] for m in models.json()["data"]] == ["scripted-model"]
    missing = _HTTP.get(f"{server.base_url}/nope")
    assert missing.status_code == 404
    assert "message" in missing.json()["error"]
    assert server.calls == 0
    assert [r.path for r in server.requests] == ["/v1/models", "/v1/nope"]


def test_concurrent_requests_are_all_answered(server: ScriptedServer) -> None:
    # Every responder call waits until all 20 are in flight: a server that answered one
    # request at a time would break the barrier and answer 500.
    barrier = threading.Barrier(20, timeout=3)

    def together(req: RecordedRequest) -> Reply:
        barrier.wait()
        return Reply.chat("ok")

    server.responder = together
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        response = post(server)
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert statuses == [200] * 20
    assert server.calls == 20
    assert len(server.requests) == 20


def test_keep_alive_reuses_one_connection(server: ScriptedServer) -> None:
    server.responder = lambda req: Reply.chat("ok")
    peers: set[object] = set()
    with httpx.Client(base_url=server.base_url) as client:
        for _ in range(5):
            response = client.post("/chat/completions", json=CHAT)
            assert response.status_code == 200
            stream = response.extensions["network_stream"]
            peers.add(stream.get_extra_info("client_addr"))
        assert client.get("/models").status_code == 200
    assert server.calls == 5
    assert len(peers) == 1  # one local port: the connection was reused


def test_close_cuts_idle_keep_alive_connections_and_is_idempotent() -> None:
    server = ScriptedServer()
    url = f"{server.base_url}/models"
    assert _HTTP.get(url).status_code == 200  # leaves an idle kept-alive connection
    server.close()
    server.close()
    # Had its handler thread survived, the pooled connection would still be answered.
    with pytest.raises(httpx.ConnectError):
        _HTTP.get(url, timeout=1)


def test_chunked_request_body_is_read(server: ScriptedServer) -> None:
    server.script(Reply.chat("a"), Reply.chat("b"))
    chunks = iter([b'{"model": ', b'"m"}'])  # an iterator makes httpx send it chunked
    first = _HTTP.post(f"{server.base_url}/chat/completions", content=chunks)
    assert content(first) == "a"
    assert content(post(server)) == "b"  # the connection stayed in sync
    assert server.requests[0].headers["transfer-encoding"] == "chunked"
    assert server.requests[0].json == {"model": "m"}


def test_script_rejects_non_replies(server: ScriptedServer) -> None:
    with pytest.raises(TypeError):
        server.script("not a reply")  # type: ignore[arg-type]


def test_server_is_silent(capfd: pytest.CaptureFixture[str]) -> None:
    with ScriptedServer([Reply.chat("x", delay=0.15)]) as server:
        with pytest.raises(httpx.ReadTimeout):
            post(server, timeout=0.05)
        _HTTP.get(f"{server.base_url}/nope")  # would be an access-log line
        time.sleep(0.2)  # let the late reply hit the socket the client closed
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_the_package_keeps_its_public_names_and_examples() -> None:
    # extractor.testing became a package (server + pdf); the old import path must hold.
    import extractor.testing as package
    import extractor.testing.server as server_module

    assert (
        package.__all__
        == sorted(package.__all__)
        == [
            "RecordedRequest",
            "Reply",
            "ScriptedServer",
            "TruthModel",
        ]
    )
    assert package.ScriptedServer is server_module.ScriptedServer
    for module in (package, server_module):
        outcome = doctest.testmod(module)
        assert outcome.attempted > 0 and outcome.failed == 0
