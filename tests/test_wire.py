"""The exact request bodies extractor sends, per provider, seen by a real HTTP server.

Every test runs the whole library (load → pages → schema → prompt → provider) against
``ScriptedServer`` on 127.0.0.1 and inspects what arrived on the wire.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from PIL import Image
from pydantic import BaseModel, Field

from extractor import RetryPolicy, extract, load_schema
from extractor.testing import RecordedRequest, Reply, ScriptedServer
from schemas.invoice import Invoice
from schemas.receipt import Receipt

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KEY = "sk-test-wire-0123456789abcdef"
FAST = RetryPolicy(retries=0, backoff=0.01, timeout=5.0)
INVOICE_ANSWER = (FIXTURES / "expected" / "invoice.json").read_text(encoding="utf-8")
RECEIPT_ANSWER = (FIXTURES / "expected" / "receipt.json").read_text(encoding="utf-8")
# Keywords strict mode rejects; they must reach the model as description text instead.
MOVED = {
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength",
    "maxLength", "pattern", "format", "minItems", "maxItems", "uniqueItems",
}  # fmt: skip
ALL_SAMPLING = {
    "temperature": 0.3,
    "top_p": 0.9,
    "seed": 7,
    "stop": ["END", "###"],
    "max_tokens": 1000,
    "frequency_penalty": 0.1,
    "presence_penalty": 0.2,
}


def run(
    server: ScriptedServer, source: Any, schema: Any, provider: str = "openrouter", **options: Any
) -> Any:
    options.setdefault("api_key", KEY)
    return extract(
        source, schema, provider=provider, base_url=server.base_url, retry=FAST, **options
    )


def only_request(server: ScriptedServer) -> RecordedRequest:
    assert server.calls == 1
    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    return request


def image_parts(request: RecordedRequest) -> list[str]:
    content = request.json["messages"][1]["content"]
    if isinstance(content, str):
        return []
    return [part["image_url"]["url"] for part in content if part["type"] == "image_url"]


def text_of(request: RecordedRequest) -> str:
    content = request.json["messages"][1]["content"]
    if isinstance(content, str):
        return content
    return "\n".join(part["text"] for part in content if part["type"] == "text")


def decode_jpeg(url: str) -> Image.Image:
    prefix = "data:image/jpeg;base64,"
    assert url.startswith(prefix)
    data = base64.b64decode(url[len(prefix) :], validate=True)
    assert data[:3] == b"\xff\xd8\xff"
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return image


# -- the strict schema in response_format ----------------------------------------------


class Address(BaseModel):
    street: str
    postal_code: str = Field(pattern=r"^\d{5}$", description="Five digits.")


class Item(BaseModel):
    name: str = Field(min_length=1)
    quantity: int = Field(default=1, ge=1, le=999)
    price: float | None = Field(default=None, gt=0)


class Order(BaseModel):
    """An order."""

    order_id: str = Field(max_length=20, description="The order number.")
    order_date: dt.date | None = None
    total: float = Field(ge=0)
    billing: Address
    shipping: Address | None = None
    items: list[Item] = Field(default_factory=list, max_length=50)
    note: str | None = None


def schema_nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every subschema: the node, its properties, items, anyOf variants and $defs."""
    if not isinstance(node, dict):
        return
    yield node
    for child in node.get("properties", {}).values():
        yield from schema_nodes(child)
    for key in ("items", "additionalProperties"):
        yield from schema_nodes(node.get(key))
    for key in ("anyOf", "oneOf", "allOf"):
        for child in node.get(key, []):
            yield from schema_nodes(child)
    for child in node.get("$defs", {}).values():
        yield from schema_nodes(child)


def test_response_format_is_a_strict_json_schema(server: ScriptedServer) -> None:
    server.script(Reply.chat(json.dumps({
        "order_id": "A-1", "order_date": "2024-03-15", "total": 12.5,
        "billing": {"street": "Main St 1", "postal_code": "12345"}, "shipping": None,
        "items": [{"name": "pen", "quantity": 2, "price": None}], "note": None,
    })))  # fmt: skip
    result = run(server, FIXTURES / "invoice.pdf", Order)
    response_format = only_request(server).json["response_format"]

    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Order"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert schema == load_schema(Order).json_schema

    objects = [n for n in schema_nodes(schema) if n.get("type") == "object" or "properties" in n]
    assert len(objects) == 3  # Order, Address, Item
    for node in objects:
        assert node["additionalProperties"] is False
        assert node["required"] == list(node["properties"])
    for node in schema_nodes(schema):
        assert not MOVED & set(node), node
        assert "default" not in node and "title" not in node, node

    assert set(schema["$defs"]) == {"Address", "Item"}
    props = schema["properties"]
    assert props["billing"] == {"$ref": "#/$defs/Address"}
    assert {"$ref": "#/$defs/Address"} in props["shipping"]["anyOf"]
    assert props["items"]["items"] == {"$ref": "#/$defs/Item"}
    for optional in ("order_date", "shipping", "note"):
        assert {"type": "null"} in props[optional]["anyOf"], optional
    for required in ("order_id", "total", "billing", "items"):
        assert "anyOf" not in props[required] or {"type": "null"} not in props[required]["anyOf"]
    # The constraints reach the model as text.
    assert props["order_id"]["description"] == "The order number. (maxLength: 20)"
    assert props["total"]["description"] == "(minimum: 0)"
    assert "maxItems: 50" in props["items"]["description"]
    assert {"type": "string", "description": '(format: "date")'} in props["order_date"]["anyOf"]
    item = schema["$defs"]["Item"]["properties"]
    assert "minimum: 1" in item["quantity"]["description"]
    assert "maximum: 999" in item["quantity"]["description"]
    assert {"type": "number", "description": "(exclusiveMinimum: 0)"} in item["price"]["anyOf"]
    assert "pattern" in schema["$defs"]["Address"]["properties"]["postal_code"]["description"]

    # A strict-mode answer (every key present, null where absent) validates with the model.
    assert result.status == "ok", result.error
    assert isinstance(result.data, Order)
    assert result.data.order_date == dt.date(2024, 3, 15)
    assert result.data.items[0].quantity == 2


# -- bodies per provider ---------------------------------------------------------------

FIXED_KEYS = {"model", "messages", "response_format"}


def test_openrouter_body(server: ScriptedServer) -> None:
    server.script(Reply.chat(INVOICE_ANSWER, model="mistralai/mistral-medium-3.1"))
    result = run(server, FIXTURES / "invoice.pdf", Invoice, **ALL_SAMPLING)
    request = only_request(server)
    body = request.json
    assert set(body) == FIXED_KEYS | {
        "temperature", "top_p", "seed", "stop", "max_tokens", "frequency_penalty",
        "presence_penalty", "provider", "usage",
    }  # fmt: skip
    assert body["model"] == "mistralai/mistral-medium-3.1"  # the profile's default
    assert body["provider"] == {"require_parameters": True}
    assert body["usage"] == {"include": True}
    assert {k: body[k] for k in ALL_SAMPLING} == ALL_SAMPLING
    assert body["response_format"]["json_schema"]["strict"] is True
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert KEY.encode() not in request.body
    assert result.status == "ok", result.error
    assert KEY not in result.model_dump_json()


def test_openrouter_default_sampling(server: ScriptedServer) -> None:
    server.script(Reply.chat(INVOICE_ANSWER))
    run(server, FIXTURES / "invoice.pdf", Invoice)
    body = only_request(server).json
    assert set(body) == FIXED_KEYS | {"temperature", "max_tokens", "provider", "usage"}
    assert body["temperature"] == 0.0
    assert body["max_tokens"] == 4096


def test_messages_carry_the_text_layer(server: ScriptedServer) -> None:
    server.script(Reply.chat(INVOICE_ANSWER))
    run(server, FIXTURES / "invoice.pdf", Invoice, model="some/model")
    body = only_request(server).json
    assert body["model"] == "some/model"
    system, user = body["messages"]
    assert system["role"] == "system" and "invoice_number" in system["content"]
    assert user["role"] == "user"
    assert isinstance(user["content"], str)  # text only: a plain string
    assert user["content"].startswith("The document (page 1 of 1).")
    assert "invoice.pdf" not in json.dumps(body), "the file name is never sent"
    assert "RE-2024-0815" in user["content"]
    assert "DE89 3704 0044 0532 0130 00" in user["content"]


def test_mistral_body_has_only_fields_mistral_accepts(server: ScriptedServer) -> None:
    server.script(Reply.chat(INVOICE_ANSWER, model="mistral-medium-2508"))
    result = run(server, FIXTURES / "invoice.pdf", Invoice, provider="mistral", **ALL_SAMPLING)
    request = only_request(server)
    body = request.json
    assert set(body) == FIXED_KEYS | {
        "temperature", "top_p", "random_seed", "stop", "max_tokens", "frequency_penalty",
        "presence_penalty",
    }  # fmt: skip
    for rejected in ("seed", "provider", "usage", "stream_options", "max_completion_tokens"):
        assert rejected not in body
    assert body["random_seed"] == 7
    assert body["max_tokens"] == 1000
    assert body["stop"] == ["END", "###"]
    assert body["model"] == "mistral-medium-latest"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert KEY.encode() not in request.body
    assert result.status == "ok", result.error
    assert result.provider == "mistral"


def test_openai_body_uses_max_completion_tokens(server: ScriptedServer) -> None:
    server.script(Reply.chat(INVOICE_ANSWER))
    run(server, FIXTURES / "invoice.pdf", Invoice, provider="openai", **ALL_SAMPLING)
    request = only_request(server)
    body = request.json
    assert set(body) == FIXED_KEYS | {
        "temperature", "top_p", "seed", "stop", "max_completion_tokens", "frequency_penalty",
        "presence_penalty",
    }  # fmt: skip
    assert body["max_completion_tokens"] == 1000
    assert body["seed"] == 7
    assert body["model"] == "gpt-4.1-mini"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert KEY.encode() not in request.body


def test_openai_compatible_body_is_plain_and_keyless(server: ScriptedServer) -> None:
    server.script(Reply.chat(INVOICE_ANSWER))
    result = run(
        server, FIXTURES / "invoice.pdf", Invoice, provider="openai-compatible",
        api_key=None, model="llama-3.1-8b", seed=3, max_tokens=512,
    )  # fmt: skip
    request = only_request(server)
    body = request.json
    assert set(body) == FIXED_KEYS | {"temperature", "seed", "max_tokens"}
    assert (body["model"], body["seed"], body["max_tokens"]) == ("llama-3.1-8b", 3, 512)
    assert "authorization" not in request.headers
    assert result.status == "ok", result.error


def test_key_from_the_environment_goes_in_the_header_only(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-from-env-42")
    server.script(Reply.chat(INVOICE_ANSWER))
    run(server, FIXTURES / "invoice.pdf", Invoice, api_key=None)
    request = only_request(server)
    assert request.headers["authorization"] == "Bearer sk-from-env-42"
    assert b"sk-from-env-42" not in request.body


def test_a_single_stop_string_stays_one_sequence(server: ScriptedServer) -> None:
    server.script(Reply.chat(INVOICE_ANSWER))
    run(server, FIXTURES / "invoice.pdf", Invoice, stop="END")
    assert only_request(server).json["stop"] == ["END"]


# -- images ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "schema", "answer"),
    [("scan.png", Invoice, INVOICE_ANSWER), ("receipt.jpg", Receipt, RECEIPT_ANSWER)],
)
def test_image_inputs_go_as_jpeg_data_urls(
    server: ScriptedServer, name: str, schema: type[BaseModel], answer: str
) -> None:
    server.script(Reply.chat(answer))
    result = run(server, FIXTURES / name, schema)
    request = only_request(server)
    content = request.json["messages"][1]["content"]
    assert [part["type"] for part in content] == ["text", "text", "image_url"]
    assert content[1]["text"] == "--- page 1 (image) ---"
    (url,) = image_parts(request)
    image = decode_jpeg(url)
    source = Image.open(FIXTURES / name)
    assert max(image.size) <= 1540
    assert abs(image.width / image.height - source.width / source.height) < 0.01
    assert result.status == "ok", result.error
    assert result.data == schema.model_validate_json(answer)


def test_vision_mode_sends_the_page_image_instead_of_text(server: ScriptedServer) -> None:
    server.script(Reply.chat(INVOICE_ANSWER))
    run(server, FIXTURES / "invoice.pdf", Invoice, mode="vision", dpi=72, max_side=800)
    request = only_request(server)
    (url,) = image_parts(request)
    assert max(decode_jpeg(url).size) <= 800
    assert "RE-2024-0815" not in text_of(request)


def test_hybrid_mode_sends_text_and_image(server: ScriptedServer) -> None:
    server.script(Reply.chat(INVOICE_ANSWER))
    run(server, FIXTURES / "invoice.pdf", Invoice, mode="hybrid", dpi=72, max_side=800)
    request = only_request(server)
    assert len(image_parts(request)) == 1
    assert "RE-2024-0815" in text_of(request)


@pytest.fixture(scope="module")
def twelve_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """multipage.pdf four times over: a real 12-page PDF."""
    source = pdfium.PdfDocument(FIXTURES / "multipage.pdf")
    target = pdfium.PdfDocument.new()
    for _ in range(4):
        target.import_pages(source)
    path = tmp_path_factory.mktemp("pdf") / "twelve.pdf"
    target.save(path)
    target.close()
    source.close()
    return path


def partial_answer(request: RecordedRequest) -> Reply:
    """One line item per page image received; header fields from the first and last page."""
    pages = [int(n) for n in re.findall(r"--- page (\d+) \(image\) ---", text_of(request))]
    assert len(pages) == len(image_parts(request))
    answer = {
        "invoice_number": "INV-12" if 1 in pages else None,
        "total_amount": 120.0 if 12 in pages else None,
        "line_items": [{"description": f"page {n}", "amount": float(n)} for n in pages],
    }
    return Reply.chat(json.dumps(answer), prompt_tokens=1000 + len(pages), completion_tokens=50)


@pytest.mark.parametrize(
    ("provider", "groups"),
    [("openrouter", [8, 4]), ("mistral", [8, 4]), ("openai", [12])],
)
def test_a_long_document_in_vision_mode_is_split_and_merged(
    server: ScriptedServer, twelve_pages: Path, provider: str, groups: list[int]
) -> None:
    server.responder = partial_answer
    result = run(server, twelve_pages, Invoice, provider=provider, mode="vision", dpi=40)

    assert server.calls == len(groups)
    assert [len(image_parts(r)) for r in server.requests] == groups
    for request in server.requests:
        for url in image_parts(request):
            decode_jpeg(url)
    assert result.status == "ok", result.error
    assert result.pages == 12
    assert result.requests == len(groups)
    assert [item.description for item in result.data.line_items] == [
        f"page {n}" for n in range(1, 13)
    ]
    assert result.data.invoice_number == "INV-12"
    assert result.data.total_amount == 120.0
    assert len(result.attempts) == len(groups)
    assert result.usage.prompt_tokens == sum(1000 + n for n in groups)
    if len(groups) > 1:
        first = text_of(server.requests[0])
        assert "(pages 1–8 of 12). Other pages are sent separately" in first
        assert "(pages 9–12 of 12)" in text_of(server.requests[1])
        assert any("2 page groups" in warning for warning in result.warnings)
    else:
        assert not result.warnings
