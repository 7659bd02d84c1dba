"""A scripted model that knows the truth but answers only what the request shows.

`TruthModel` is a responder for `ScriptedServer`: it answers every chat request with the
document's truth, limited the way a real model is limited:

- it answers only the properties the request's ``response_format`` schema asks for;
- a value goes into the answer only when the request's text shows it (the pages sent,
  not pages sent in another request): a list item when its description is printed there,
  any other value when grounding finds it printed there;
- the answer is cut at the request's ``max_tokens`` (about four characters a token), with
  ``finish_reason: "length"``, as a real model's is.

So a pipeline that sends too little, or asks for too much in one answer, loses values
against it exactly as it would against a real model.

Example:
    >>> from extractor.testing import ScriptedServer
    >>> truth = {"total": 12.5, "items": [{"description": "Tea", "amount": 12.5}]}
    >>> with ScriptedServer(responder=TruthModel(truth)) as server:  # doctest: +SKIP
    ...     result = extract(b"Tea 12.50\\nTotal 12.50", MySchema, base_url=server.base_url)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from extractor.testing.server import RecordedRequest, Reply

__all__ = ["TruthModel"]

CHARS_PER_TOKEN = 4


class TruthModel:
    """Answers from ``truth`` what each request shows.

    Args:
        truth: the document's values, as a truth file holds them; or a callable that
            picks the truth from the request (for a server shared by many documents).
        corrupt: optional ``(path, value) -> value`` applied to each answered value
            (``"total"``, ``"items[3].amount"``), to play a model that is sometimes wrong.
    """

    def __init__(
        self,
        truth: Mapping[str, Any] | Callable[[RecordedRequest], Mapping[str, Any]],
        *,
        corrupt: Callable[[str, Any], Any] | None = None,
    ) -> None:
        self.truth = truth
        self.corrupt = corrupt
        self.cut = 0  # answers that hit max_tokens

    def __call__(self, request: RecordedRequest) -> Reply:
        body = request.json or {}
        truth = self.truth(request) if callable(self.truth) else self.truth
        text = _document_text(body.get("messages", []))
        wanted = _requested(body)
        answer = {name: self._value(name, truth.get(name), text) for name in wanted}
        content = json.dumps(answer, ensure_ascii=False)
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        prompt_tokens = math.ceil(len(json.dumps(body.get("messages", []))) / CHARS_PER_TOKEN)
        tokens = math.ceil(len(content) / CHARS_PER_TOKEN)
        if limit is not None and tokens > limit:
            self.cut += 1
            return Reply.chat(
                content[: limit * CHARS_PER_TOKEN], finish_reason="length",
                prompt_tokens=prompt_tokens, completion_tokens=limit,
            )  # fmt: skip
        return Reply.chat(content, prompt_tokens=prompt_tokens, completion_tokens=tokens)

    def _value(self, path: str, value: Any, text: str, *, check: bool = True) -> Any:
        """``value`` as far as ``text`` shows it (a shown list item is shown whole)."""
        if isinstance(value, list):
            items = [item for item in value if _item_shown(item, text)]
            return [
                self._value(f"{path}[{i}]", item, text, check=False) for i, item in enumerate(items)
            ]
        if isinstance(value, dict):
            return {k: self._value(f"{path}.{k}", v, text, check=check) for k, v in value.items()}
        if value is None or (check and not _shown(value, text)):
            return None
        return self.corrupt(path, value) if self.corrupt is not None else value


def _document_text(messages: list[dict[str, Any]]) -> str:
    """The text of the first user turn: the pages this request carries."""
    for message in messages:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return "\n".join(p.get("text", "") for p in content or [] if p.get("type") == "text")
    return ""


def _requested(body: dict[str, Any]) -> list[str]:
    schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema", {})
    return list(schema.get("properties", {}))


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()


def _item_shown(item: Any, text: str) -> bool:
    if isinstance(item, dict):
        label = item.get("description") or next(
            (v for v in item.values() if isinstance(v, str)), None
        )
        return label is None or _squash(str(label)) in _squash(text)
    return _shown(item, text)


def _shown(value: Any, text: str) -> bool:
    if isinstance(value, bool):
        return True  # a ticked box or a yes/no is not a printed string to look for
    from extractor.ground import ground
    from extractor.pages import Page

    found = ground({"value": value}, [Page(1, 0, 0, text=text, text_source="plain")])
    return found["value"].status in ("exact", "normalized", "fuzzy")
