"""The review pages as HTML: a job's documents, one document's pages and values, login.

Everything taken from a document or a record (file names, values, matched text, warnings,
error messages) goes through :func:`html.escape` here and nowhere else; the pages carry no
inline script or style (the Content-Security-Policy forbids both), and the script in
``static/review.js`` positions the boxes and saves corrections without ever writing HTML.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from typing import Any

from extractor.service.render import PageImage
from extractor.service.review_form import band, fields_of, render_fields

__all__ = [
    "DocumentRow",
    "document_page",
    "job_page",
    "jobs_page",
    "login_page",
    "lowest_confidence",
]


@dataclass(frozen=True)
class DocumentRow:
    """One line of a job's review list."""

    label: str
    sha256: str | None
    status: str
    lowest: float | None
    low_values: int
    reviewed_at: str | None


def lowest_confidence(record: dict[str, Any]) -> float | None:
    """The record's least confident value (0 for an error record; None with no values)."""
    if record.get("status") != "ok":
        return 0.0
    scores = [float(v) for v in (record.get("confidence") or {}).values()
              if isinstance(v, int | float)]  # fmt: skip
    return min(scores) if scores else None


def _page(title: str, body: Iterable[str], attrs: str = "") -> str:
    return "\n".join([
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        '<link rel="stylesheet" href="/static/review.css">',
        '<script src="/static/review.js" defer></script></head>',
        f"<body {attrs}>", *body, "</body></html>",
    ])  # fmt: skip


def login_page(next_path: str) -> str:
    """The form a reviewer types a token into (shown with 401 on the review pages)."""
    target = next_path if next_path.startswith("/review/") else "/review/"
    return _page("Sign in · extractor review", [
        "<main class=\"login\"><h1>Sign in</h1>",
        "<p>This server needs an API token (one of <code>EXTRACTOR_API_TOKENS</code>).</p>",
        '<form method="post" action="/review/login">',
        f'<input type="hidden" name="next" value="{escape(target)}">',
        '<label>Token <input type="password" name="token" autocomplete="off" required></label>',
        '<button type="submit">Sign in</button></form></main>',
    ])  # fmt: skip


def jobs_page(jobs: list[dict[str, Any]]) -> str:
    """Every job, newest first, each linking to its review list."""
    body = ['<header><h1>Jobs</h1></header><main><table class="documents"><thead><tr>'
            "<th>Job</th><th>Schema</th><th>Status</th><th>Done</th><th>Created</th></tr>"
            "</thead><tbody>"]  # fmt: skip
    for job in jobs:
        job_id = escape(job["id"])
        body.append(f'<tr><td><a href="/review/{job_id}">{job_id}</a></td>'
                    f'<td>{escape(job["schema"])}</td><td>{escape(job["status"])}</td>'
                    f'<td>{job["done"]} of {job["total"]}</td>'
                    f'<td>{escape(job["created_at"])}</td></tr>')  # fmt: skip
    body.append("</tbody></table></main>")
    return _page("Review · jobs", body)


def job_page(job: dict[str, Any], rows: list[DocumentRow]) -> str:
    """A job's documents, least confident first, each linking to its review page."""
    job_id = escape(job["id"])
    body = [
        f"<header><h1>Job {job_id}</h1>",
        f'<p class="summary">{escape(job["schema"])} · {escape(job["status"])} · '
        f'{job["done"]} of {job["total"]} done · {job["ok"]} ok · {job["failed"]} failed · '
        f'<a href="/v1/jobs/{job_id}/truth">truth (zip)</a> · '
        f'<a href="/v1/jobs/{job_id}/records">records (NDJSON)</a></p></header>',
        '<main><table class="documents"><thead><tr><th>Document</th><th>Status</th>'
        "<th>Lowest confidence</th><th>Values under 0.6</th><th>Reviewed</th></tr></thead><tbody>",
    ]  # fmt: skip
    for row in rows:
        name = escape(row.label)
        link = f'<a href="/review/{job_id}/{row.sha256}">{name}</a>' if row.sha256 else name
        lowest = "–" if row.lowest is None else f"{row.lowest:.2f}"
        body.append(
            f'<tr class="{band(row.lowest)}"><td>{link}</td><td>{escape(row.status)}</td>'
            f"<td>{lowest}</td><td>{row.low_values}</td>"
            f"<td>{escape(row.reviewed_at or '')}</td></tr>"
        )
    body.append("</tbody></table></main>")
    return _page(f"Review · job {job['id']}", body)


def document_page(
    job_id: str,
    label: str,
    record: dict[str, Any],
    schema: dict[str, Any],
    pages: list[PageImage],
    correction: tuple[dict[str, Any], str] | None,
    render_problem: str | None,
) -> str:
    """One document: its pages with every value's box, its problems, and the editor."""
    sha256 = str(record["sha256"])
    base = f"/review/{job_id}/{sha256}"
    grounding = record.get("grounding") or {}
    confidence = record.get("confidence") or {}
    data = correction[0] if correction else record.get("data")
    attrs = (f'data-save-url="/v1/jobs/{escape(job_id)}/records/{escape(sha256)}/corrections"'
             f' data-job-url="/review/{escape(job_id)}"')  # fmt: skip
    body = [
        f'<header><p><a href="/review/{escape(job_id)}">← all documents</a></p>',
        f"<h1>{escape(label)}</h1>",
        f'<p class="summary">{escape(str(record.get("status")))} · '
        f'{escape(str(record.get("model") or ""))} · {record.get("pages") or 0} page(s)</p>',
        "</header>", '<main class="review"><section class="pages">',
    ]  # fmt: skip
    if render_problem:
        body.append(f'<p class="problem">The pages cannot be shown: {escape(render_problem)}</p>')
    for page in pages:
        body.extend(_page_figure(base, page, grounding, confidence))
    body.append('</section><section class="values">')
    body.extend(_problems(record))
    if correction:
        body.append(f'<p class="note">Showing the correction saved {escape(correction[1])}; '
                    "the model's record is kept unchanged.</p>")  # fmt: skip
    body.append('<form id="corrections" autocomplete="off">')
    body.extend(render_fields(fields_of(schema), data, grounding, confidence))
    body.append('<p class="actions"><button type="submit">Save corrections</button> '
                '<output id="save-status" aria-live="polite"></output></p></form>'
                '<ul id="save-errors" class="problems"></ul></section></main>')  # fmt: skip
    return _page(f"Review · {label}", body, attrs)


def _page_figure(base: str, page: PageImage, grounding: dict[str, Any],
                 confidence: dict[str, Any]) -> list[str]:  # fmt: skip
    html = [
        f'<figure class="page" data-page="{page.number}" data-width="{page.width:g}" '
        f'data-height="{page.height:g}">',
        f'<div class="sheet"><img src="{base}/pages/{page.number}.png" alt="Page {page.number}">',
    ]  # fmt: skip
    for path, where in grounding.items():
        if not isinstance(where, dict) or where.get("page") != page.number:
            continue
        box = where.get("box")
        if not isinstance(box, list) or len(box) != 4:
            continue
        score = confidence.get(path)
        number = float(score) if isinstance(score, int | float) else None
        coords = ",".join(f"{float(v):g}" for v in box)
        tip = f"{path}: {where.get('text', '')}"
        html.append(f'<div class="box {band(number)}" data-path="{escape(path)}" '
                    f'data-box="{coords}" title="{escape(tip)}"></div>')  # fmt: skip
    html.append(f"</div><figcaption>Page {page.number}</figcaption></figure>")
    return html


def _problems(record: dict[str, Any]) -> list[str]:
    items = []
    error = record.get("error")
    if isinstance(error, dict):
        items.append(f"<li class=\"error\"><b>{escape(str(error.get('type')))}</b>: "
                     f"{escape(str(error.get('message')))}</li>")  # fmt: skip
    for name, detail in _failed_checks(record.get("checks")):
        items.append(f'<li class="check"><b>check failed: {escape(name)}</b> {escape(detail)}</li>')
    for warning in record.get("warnings") or []:
        items.append(f'<li class="warning">{escape(str(warning))}</li>')
    if not items:
        return []
    return ['<h2>Problems</h2><ul class="problems">', *items, "</ul>"]


def _failed_checks(checks: Any) -> list[tuple[str, str]]:
    """``(name, detail)`` of each failed business-rule check, whatever the record's layout
    (a list of ``{"name", "status", "detail"}``, or a mapping of name → result)."""
    if isinstance(checks, dict):
        checks = [{"name": k, **(v if isinstance(v, dict) else {"status": v})}
                  for k, v in checks.items()]  # fmt: skip
    failed = []
    for check in checks if isinstance(checks, list) else []:
        if not isinstance(check, dict):
            continue
        status = check.get("status", "passed" if check.get("passed", True) else "failed")
        if str(status) == "failed":
            failed.append((str(check.get("name") or check.get("rule") or "rule"),
                           str(check.get("detail") or check.get("message") or "")))  # fmt: skip
    return failed
