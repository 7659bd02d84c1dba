"""Bearer tokens: every ``/v1`` and ``/review`` route asks for one when tokens are set.

A browser cannot add an ``Authorization`` header to a link, so the review pages also
accept the token from an HttpOnly, SameSite=Strict cookie that ``POST /review/login``
sets after checking it. SameSite=Strict keeps the cookie off every request another site
starts, so a page elsewhere cannot save corrections in a reviewer's name.

Tokens are compared with :func:`hmac.compare_digest` against every configured token (no
early exit), so the time an answer takes says nothing about how close a guess was.
"""

from __future__ import annotations

import hmac

from fastapi import Request

__all__ = ["COOKIE", "Unauthorized", "check_token", "require_token", "token_of"]

COOKIE = "extractor_token"


class Unauthorized(Exception):
    """No valid token came with the request (answered 401)."""

    def __init__(self, *, page: bool) -> None:
        super().__init__("a valid bearer token is required (Authorization: Bearer …)")
        self.page = page  # a review page: answer with the login form, not JSON


def check_token(given: str | None, tokens: tuple[str, ...]) -> bool:
    """Whether ``given`` is one of ``tokens``, compared in constant time."""
    if not given:
        return False
    candidate = given.encode()
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(candidate, token.encode())
    return matched


def token_of(request: Request) -> str | None:
    """The token a request carries: its bearer header, else (review pages) its cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE)


async def require_token(request: Request) -> None:
    """FastAPI dependency: pass when no tokens are configured or a valid one came along.

    Raises:
        Unauthorized: tokens are configured and the request has none of them.
    """
    tokens: tuple[str, ...] = request.app.state.config.tokens
    if tokens and not check_token(token_of(request), tokens):
        raise Unauthorized(page=request.url.path.startswith("/review"))
