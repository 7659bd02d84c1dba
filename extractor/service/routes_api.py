"""The JSON API: ``/healthz``, ``/v1/schemas``, ``/v1/extract`` and ``/v1/jobs``.

Paths and shapes are a contract other tools depend on (docs/service.md). Uploads are
parsed here, as they stream in (:mod:`extractor.service.uploads`), after the token and
the queue were checked: a caller without a token, or arriving when the queue is full,
is answered before a byte of the body is stored.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError

from extractor.export import json_safe
from extractor.schema import SchemaSpec, load_schema
from extractor.service.auth import require_token
from extractor.service.engine import Engine
from extractor.service.jobstate import JobState, stem_of
from extractor.service.uploads import Form, UploadRejected, receive_form

__all__ = ["JOB_ID", "SHA256", "engine_of", "find_job", "router", "shipped_schemas"]

JOB_ID = Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="A job id.")]
SHA256 = Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="A document's sha256.")]
_SLACK = 1 << 20  # multipart framing and form fields, beyond the files themselves

router = APIRouter()
v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_token)])


def _multipart(file_field: str, many: bool) -> dict[str, Any]:
    """The request body for the OpenAPI document (the handler parses it as it streams)."""
    binary = {"type": "string", "format": "binary"}
    files = {"type": "array", "items": binary} if many else binary
    schema = {
        "type": "object",
        "required": [file_field, "schema"],
        "properties": {
            file_field: files,
            "schema": {"type": "string", "description": "A shipped schema name: invoice, …"},
        },
    }
    return {"requestBody": {"required": True,
                            "content": {"multipart/form-data": {"schema": schema}}}}  # fmt: skip


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def shipped_schemas() -> dict[str, str]:
    from schemas import SHIPPED

    return dict(SHIPPED)


def find_job(engine: Engine, job_id: str) -> JobState:
    job = engine.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    return job


@router.get("/healthz", tags=["service"])
async def healthz() -> dict[str, str]:
    """Liveness: 200 ``{"status": "ok"}`` while the server runs (no token needed)."""
    return {"status": "ok"}


@v1.get("/schemas", tags=["extract"])
async def list_schemas() -> dict[str, Any]:
    """The shipped schema names, each with the JSON Schema of the data it extracts."""
    return {"schemas": {name: load_schema(name).model.model_json_schema()
                        for name in sorted(shipped_schemas())}}  # fmt: skip


@v1.post("/extract", tags=["extract"], openapi_extra=_multipart("file", many=False))
async def extract(request: Request) -> JSONResponse:
    """Extract one document now: 200 with its record (an error record when the document
    itself fails), 4xx for a bad request, 503 with ``Retry-After`` when the queue is full."""
    engine = engine_of(request)
    config = engine.config
    _check_length(request, config.max_upload_bytes + _SLACK)
    with engine.admit(1) as room:
        staging = engine.staging()
        try:
            form = await _receive(request, engine, staging, "file", 1)
            spec = _schema(form)
            record = await engine.extract_one(spec, form.files[0], room)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return JSONResponse(json_safe(record))


@v1.post("/jobs", status_code=202, tags=["jobs"], openapi_extra=_multipart("files", many=True))
async def submit_job(request: Request) -> JSONResponse:
    """Queue a job of many documents: 202 ``{"id", "total"}``. Its records are committed
    one by one and survive a restart."""
    engine = engine_of(request)
    config = engine.config
    _check_length(request, config.max_files_per_job * (config.max_upload_bytes + _SLACK))
    engine.check_room()
    staging = engine.staging()
    try:
        form = await _receive(request, engine, staging, "files", config.max_files_per_job)
        spec = _schema(form)
        with engine.admit(len(form.files)) as room:
            job = await engine.create_job(form.fields["schema"], spec, form.files, room)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    body = {"id": job.id, "total": job.total}
    return JSONResponse(body, status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


@v1.get("/jobs", tags=["jobs"])
async def list_jobs(request: Request) -> dict[str, Any]:
    """Every job, newest first."""
    jobs = sorted(engine_of(request).jobs.values(), key=lambda j: j.created_at, reverse=True)
    return {"jobs": [job.view() for job in jobs]}


@v1.get("/jobs/{job_id}", tags=["jobs"])
async def job_status(request: Request, job_id: JOB_ID) -> dict[str, Any]:
    """``{"id", "status", "total", "done", "ok", "failed", "cost_usd"}`` (and ``schema``,
    ``created_at``, and ``error`` when it failed)."""
    return find_job(engine_of(request), job_id).view()


@v1.delete("/jobs/{job_id}", tags=["jobs"])
async def cancel_job(request: Request, job_id: JOB_ID) -> dict[str, Any]:
    """Cancel a job: documents not yet done are dropped; committed records stay."""
    engine = engine_of(request)
    find_job(engine, job_id)
    job = await engine.cancel(job_id)
    assert job is not None
    return job.view()


@v1.get("/jobs/{job_id}/records", tags=["jobs"],
        responses={200: {"content": {"application/x-ndjson": {}}}})  # fmt: skip
async def job_records(request: Request, job_id: JOB_ID) -> StreamingResponse:
    """One JSON record per line for every document committed so far, by input order."""
    engine = engine_of(request)
    find_job(engine, job_id)

    def lines() -> Iterator[bytes]:
        for record in engine.records(job_id):
            yield orjson.dumps(record) + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@v1.put("/jobs/{job_id}/records/{sha256}/corrections", tags=["review"])
async def save_correction(request: Request, job_id: JOB_ID, sha256: SHA256) -> dict[str, Any]:
    """Save a reviewer's corrected data for one document, validated against the job's
    schema (422 with the errors otherwise). The model's record is kept as it was."""
    engine = engine_of(request)
    job = find_job(engine, job_id)
    if engine.db.document(job_id, sha256) is None:
        raise HTTPException(404, f"job {job_id} has no document {sha256}")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise HTTPException(415, "send the corrected data as application/json")
    try:
        body = orjson.loads(await request.body())
        data = _validated(load_schema(job.schema), body)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(400, f"not JSON: {exc}") from None
    saved_at = await engine.write(engine.db.add_correction, job_id, sha256, data)
    return {"job_id": job_id, "sha256": sha256, "saved_at": saved_at, "data": data}


@v1.get("/jobs/{job_id}/records/{sha256}/corrections", tags=["review"])
async def read_correction(request: Request, job_id: JOB_ID, sha256: SHA256) -> dict[str, Any]:
    """The latest saved correction of one document (404 when it has none)."""
    engine = engine_of(request)
    find_job(engine, job_id)
    saved = engine.db.corrections(job_id).get(sha256)
    if saved is None:
        raise HTTPException(404, "this document has no correction")
    return {"job_id": job_id, "sha256": sha256, "saved_at": saved[1], "data": saved[0]}


@v1.get("/jobs/{job_id}/truth", tags=["review"],
        responses={200: {"content": {"application/zip": {}}}})  # fmt: skip
async def truth(request: Request, job_id: JOB_ID) -> Response:
    """A zip of ``<stem>.json`` per reviewed document: the format ``extractor eval
    --truth`` reads (unzip it into a folder)."""
    engine = engine_of(request)
    find_job(engine, job_id)
    corrected = engine.db.corrections(job_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for document in engine.db.documents(job_id):
            if document.sha256 in corrected:
                text = json.dumps(corrected[document.sha256][0], indent=2, ensure_ascii=False)
                archive.writestr(f"{stem_of(document.label)}.json", text + "\n")
    disposition = f'attachment; filename="truth-{job_id}.zip"'
    return Response(buffer.getvalue(), media_type="application/zip",
                    headers={"Content-Disposition": disposition})  # fmt: skip


router.include_router(v1)


# -- helpers ------------------------------------------------------------------------------


def _check_length(request: Request, limit: int) -> None:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise UploadRejected(413, f"the request is over the limit of {limit:,} bytes")


async def _receive(request: Request, engine: Engine, staging: Any, field: str,
                   max_files: int) -> Form:  # fmt: skip
    form = await receive_form(request, staging, file_field=field, max_files=max_files,
                              max_bytes=engine.config.max_upload_bytes)  # fmt: skip
    if not form.files:
        raise UploadRejected(400, f"no file: send the document(s) in the {field!r} field")
    return form


def _schema(form: Form) -> SchemaSpec:
    name = form.fields.get("schema", "").strip()
    shipped = shipped_schemas()
    if name not in shipped:
        known = ", ".join(sorted(shipped))
        raise UploadRejected(400, f"unknown schema {name!r}; use one of {known}")
    return load_schema(name)


def _validated(spec: SchemaSpec, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise HTTPException(422, "the corrected data must be a JSON object")
    try:
        model = spec.model.model_validate(body)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise HTTPException(422, {"message": "the data does not fit the schema",
                                  "errors": errors}) from None  # fmt: skip
    dumped: dict[str, Any] = model.model_dump(mode="json")
    return dumped
