"""The review routes: a job's documents, one document's page, its page images, login.

Corrections are saved through the API (``PUT /v1/jobs/{id}/records/{sha256}/corrections``)
by the page's script; this module only shows. A document is addressed by its job *and*
its sha256, and looked up among that job's documents only, so one job's documents are
never reachable through another job's id.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from extractor.schema import load_schema
from extractor.service.auth import COOKIE, check_token, require_token
from extractor.service.engine import Engine
from extractor.service.render import PageImage, RenderFailed, page_images
from extractor.service.review_html import (
    DocumentRow,
    document_page,
    job_page,
    jobs_page,
    login_page,
    lowest_confidence,
)
from extractor.service.routes_api import JOB_ID, SHA256, engine_of, find_job
from extractor.service.storage import DocumentRow as StoredDocument

__all__ = ["login_page", "review_router", "static_router"]

_log = logging.getLogger("extractor.service")
_STATIC = {"review.js": "text/javascript", "review.css": "text/css"}
_LOGIN_BYTES = 8192

review_router = APIRouter(prefix="/review", tags=["review"], include_in_schema=True)
_pages = APIRouter(dependencies=[Depends(require_token)])
static_router = APIRouter(include_in_schema=False)


@static_router.get("/static/{name}")
async def static(name: str) -> Response:
    """The review page's script and style sheet (code only, no data: no token needed)."""
    if name not in _STATIC:
        raise HTTPException(404, "no such file")
    text = resources.files("extractor.service").joinpath("static", name).read_bytes()
    return Response(text, media_type=_STATIC[name])


@review_router.get("/login", include_in_schema=False)
async def login_form(next: str = "/review/") -> HTMLResponse:
    """The login form (the review pages show it with 401 when no token came along)."""
    return HTMLResponse(login_page(next))


@review_router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    """Check a token typed into the login form and keep it in an HttpOnly cookie."""
    body = await request.body()
    if len(body) > _LOGIN_BYTES:
        raise HTTPException(413, "the form is too large")
    form = parse_qs(body.decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0]
    target = (form.get("next") or ["/review/"])[0]
    if not target.startswith("/review/") or target.startswith("/review//"):
        target = "/review/"  # never an open redirect to another site
    if not check_token(token, request.app.state.config.tokens):
        return HTMLResponse(login_page(target), status_code=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")  # fmt: skip
    return response


@_pages.get("/", response_class=HTMLResponse)
async def review_jobs(request: Request) -> HTMLResponse:
    """Every job, newest first."""
    jobs = sorted(engine_of(request).jobs.values(), key=lambda j: j.created_at, reverse=True)
    return HTMLResponse(jobs_page([job.view() for job in jobs]))


@_pages.get("/{job_id}", response_class=HTMLResponse)
async def review_job(request: Request, job_id: JOB_ID) -> HTMLResponse:
    """The job's documents, least confident first."""
    engine = engine_of(request)
    job = find_job(engine, job_id)
    reviewed = engine.db.corrections(job_id)
    rows = [_row(record, reviewed) for record in engine.records(job_id)]
    rows.sort(key=lambda r: (-1.0 if r.lowest is None else r.lowest, r.label))
    return HTMLResponse(job_page(job.view(), rows))


@_pages.get("/{job_id}/{sha256}", response_class=HTMLResponse)
async def review_document(request: Request, job_id: JOB_ID, sha256: SHA256) -> HTMLResponse:
    """One document: page images with every value's box, problems, and the editor."""
    engine = engine_of(request)
    job = find_job(engine, job_id)
    document = _document(engine, job_id, sha256)
    record = engine.record(job_id, sha256)
    if record is None:
        raise HTTPException(404, "this document has no record yet")
    problem = None
    try:
        pages = await _pages_of(engine, document)
    except RenderFailed as exc:
        _log.warning("review: cannot draw %s of job %s: %s", sha256, job_id, exc)
        pages, problem = [], "they could not be drawn"
    schema = load_schema(job.schema).model.model_json_schema()
    correction = engine.db.corrections(job_id).get(sha256)
    html = document_page(job_id, document.label, record, schema, pages, correction, problem)
    return HTMLResponse(html)


@_pages.get("/{job_id}/{sha256}/pages/{number}.png", response_class=FileResponse)
async def page_image(request: Request, job_id: JOB_ID, sha256: SHA256,
                     number: int = Path(ge=1)) -> FileResponse:  # fmt: skip
    """One drawn page of a document (PNG)."""
    engine = engine_of(request)
    find_job(engine, job_id)
    document = _document(engine, job_id, sha256)
    try:
        pages = await _pages_of(engine, document)
    except RenderFailed as exc:
        raise HTTPException(404, "the pages could not be drawn") from exc
    if number > len(pages):
        raise HTTPException(404, "no such page")
    return FileResponse(_cache(engine, document) / f"{number}.png", media_type="image/png")


review_router.include_router(_pages)


def _document(engine: Engine, job_id: str, sha256: str) -> StoredDocument:
    document = engine.db.document(job_id, sha256)
    if document is None:
        raise HTTPException(404, f"job {job_id} has no document {sha256}")
    return document


def _cache(engine: Engine, document: StoredDocument) -> Any:
    return engine.data / "cache" / "pages" / f"{document.sha256}-{engine.config.render_dpi}"


async def _pages_of(engine: Engine, document: StoredDocument) -> list[PageImage]:
    return await page_images(
        engine.upload_path(document), _cache(engine, document), dpi=engine.config.render_dpi,
        max_pages=engine.config.render_max_pages, password=engine.settings.reading.password,
    )  # fmt: skip


def _row(record: dict[str, Any], reviewed: dict[str, tuple[dict[str, Any], str]]) -> DocumentRow:
    sha256 = record.get("sha256")
    scores = [v for v in (record.get("confidence") or {}).values() if isinstance(v, int | float)]
    saved = reviewed.get(sha256) if isinstance(sha256, str) else None
    return DocumentRow(
        label=str(record.get("source")), sha256=sha256 if isinstance(sha256, str) else None,
        status=str(record.get("status")), lowest=lowest_confidence(record),
        low_values=sum(1 for v in scores if v < 0.6), reviewed_at=saved[1] if saved else None,
    )  # fmt: skip
