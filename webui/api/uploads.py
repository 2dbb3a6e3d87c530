"""County offices' sample-count files: send one (checked, stored, or a job for a large one),
list them, read one with its located errors."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request, url_for
from sqlalchemy import select

from scheduler.ingest.upload import upload
from scheduler.store import models as m
from webui import db
from webui.api import schemas as sc
from webui.api.blueprint import answer, route
from webui.api.jobs import job_started
from webui.api.scope import county_filter, forbidden, known_county, not_found, paged, who
from webui.clock import now
from webui.errors import ApiError
from webui.overload import uploads_lane
from webui.settings import DEFAULTS, ingest_settings
from webui.upload_jobs import runs_as_job, submit_upload


def _upload_out(u: m.Upload) -> dict[str, Any]:
    return {
        "id": u.id,
        "county_code": u.county_code,
        "user": u.user,
        "received_at": u.received_at,
        "filename": u.filename,
        "checksum": u.checksum,
        "size_bytes": u.size_bytes,
        "mode": u.mode,
        "outcome": u.outcome,
        "rows_total": u.rows_total,
        "rows_stored": u.rows_stored,
        "n_errors": len(u.errors or []),
    }


def _invalid_county(message: str, kind: str) -> ApiError:
    return ApiError(
        422, "invalid upload form", [{"field": "county", "message": message, "type": kind}]
    )


@route(
    "POST",
    "/uploads",
    summary="Send a county's sample-count file (CSV or XLSX): check it, or check and store it",
    description=(
        "A dry run answers 200 with the report and every located error. A commit answers "
        "201 when rows were stored (all, or with accept_valid_rows the good ones), 200 for "
        "a file already stored, and 422 with the located errors in `details` when the file "
        "was refused (nothing is stored then). A file that cannot be read at all (not CSV "
        "or XLSX, empty, header missing) is refused in either mode.\n\n"
        "A commit of a file larger than the server's UPLOAD_JOB_BYTES "
        f"({DEFAULTS['UPLOAD_JOB_BYTES'] / 2**20:g} MiB by default) "
        "answers 202 at once with a job to poll (`poll_url`, also as Location); the job's "
        "result is the report above. A refused file ends the job `failed`, its located "
        "errors in the job's message and result; nothing is stored then."
    ),
    roles=("ops", "county"),
    responses={200: sc.UploadReportOut, 201: sc.UploadReportOut, 202: sc.JobStarted},
    tag="uploads",
)
def post_upload(form: sc.UploadForm) -> Response:
    p = who()
    county = form.county or p.county_code
    if p.role == "county" and county != p.county_code:
        raise forbidden(f"county {county}")
    if county is None:
        raise _invalid_county("say which county", "missing")
    if not known_county(county):
        raise _invalid_county(f"unknown county {county}", "unknown")
    file = form.file
    data = file.read()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if form.mode == "commit" and runs_as_job(app, len(data)):
        job_id = submit_upload(
            app,
            data,
            file.filename or "upload",
            county,
            user=p.username,
            accept_valid_rows=form.accept_valid_rows,
        )
        return job_started(job_id)
    s = db.session()
    with uploads_lane(app).enter(request.environ):
        report = upload(
            s,
            data,
            file.filename or "upload",
            county,
            user=p.username,
            now=now(),
            mode=form.mode,
            accept_valid_rows=form.accept_valid_rows,
            settings=ingest_settings(app),
        )
    if report.status == "rejected":
        s.rollback()
        raise ApiError(
            422,
            "the file was refused; nothing was stored",
            [e.__dict__ for e in report.errors],
        )
    s.commit()
    out = sc.UploadReportOut(county_code=county, **report.to_dict())
    if report.status in ("stored", "partial") and report.upload_id is not None:
        url = url_for("api.get_upload", upload_id=report.upload_id)
        return answer(out, 201, {"Location": url})
    return answer(out)


@route(
    "GET",
    "/uploads",
    summary="Uploads received, newest first (a county account: its own)",
    roles=("ops", "county"),
    responses={200: sc.UploadList},
    tag="uploads",
)
def list_uploads(query: sc.UploadQuery) -> Response:
    county = county_filter(who(), query.county)
    stmt = select(m.Upload).order_by(m.Upload.id.desc())
    if county is not None:
        stmt = stmt.where(m.Upload.county_code == county)
    return answer(
        paged(
            sc.UploadList,
            stmt,
            query,
            lambda rows: [sc.UploadOut(**_upload_out(r[0])) for r in rows],
        )
    )


@route(
    "GET",
    f"/uploads/<int(max={sc.MAX_INT_ID}):upload_id>",
    summary="One upload with its located errors",
    roles=("ops", "county"),
    responses={200: sc.UploadDetail},
    tag="uploads",
)
def get_upload(path: sc.UploadPath) -> Response:
    p = who()
    u = db.session().get(m.Upload, path.upload_id)
    if u is None or not p.can_county(u.county_code):
        raise not_found(f"upload {path.upload_id}")
    errors = [sc.CellErrorOut.model_validate(e) for e in (u.errors or [])]
    return answer(sc.UploadDetail(**_upload_out(u), errors=errors))
