"""The ASGI application: routes, error bodies, security headers, and the engine's life.

Every error is JSON of one shape, ``{"error": {"status", "message"}}`` (plus ``errors``
for a correction that does not fit the schema), except on the review pages, where a
missing token gets the login form. Provider keys never reach a response: errors carry
the engine's messages, which never hold secrets (``extractor.errors``), and nothing
echoes settings.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from extractor.service.auth import Unauthorized
from extractor.service.config import ServiceConfig
from extractor.service.engine import Engine, ProviderRefused, QueueFull
from extractor.service.review import login_page, review_router, static_router
from extractor.service.routes_api import router
from extractor.service.uploads import UploadRejected

__all__ = ["create_app"]

_log = logging.getLogger("extractor.service")
_PAGE_HEADERS = {
    # The review pages load only their own script and style, and images from here.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def create_app(config: ServiceConfig) -> FastAPI:
    """The service for ``config``; its engine starts and stops with the ASGI lifespan.

    Example:
        >>> import uvicorn  # doctest: +SKIP
        >>> uvicorn.run(create_app(ServiceConfig(data=Path("data"))), port=8000)  # doctest: +SKIP
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = Engine(config)
        try:
            await engine.start()
        except Exception as exc:
            app.state.startup_error = exc  # for whoever started the server to report
            raise
        app.state.engine = engine
        try:
            yield
        finally:
            await engine.close()

    app = FastAPI(
        title="extractor",
        summary="Structured data from PDFs and images, with jobs that survive restarts and "
        "a review page for people.",
        version="1",
        lifespan=lifespan,
    )
    app.state.config = config
    app.include_router(router)
    app.include_router(review_router)
    app.include_router(static_router)
    _handle_errors(app)

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                      ) -> Response:  # fmt: skip
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        if request.url.path.startswith("/review"):
            for name, value in _PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
        return response

    return app


def _error(status: int, message: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"status": status}
    if isinstance(message, dict):
        body.update(message)
    else:
        body["message"] = str(message)
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _handle_errors(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error(exc.status_code, exc.detail, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return _error(422, {"message": "invalid request", "errors": errors})

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> Response:
        if exc.page:
            page = login_page(request.url.path)
            return HTMLResponse(page, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return _error(401, str(exc), {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(UploadRejected)
    async def rejected(request: Request, exc: UploadRejected) -> Response:
        return _error(exc.status, str(exc), {"Connection": "close"} if exc.status == 413 else None)

    @app.exception_handler(QueueFull)
    async def full(request: Request, exc: QueueFull) -> Response:
        return _error(503, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(ProviderRefused)
    async def refused(request: Request, exc: ProviderRefused) -> Response:
        return _error(502, f"the provider refused the server's key: {exc}")
