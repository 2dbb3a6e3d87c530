"""A county's file stored by a background job: the county page and the API hand a
commit of a file over ``UPLOAD_JOB_BYTES`` to it rather than storing it in the request.

The job's result is the upload report the synchronous answer would carry (with the
county). A file its checks refuse ends the job ``failed``: every located error is in
the job's result and, file by file, row by row, in its message; nothing is stored.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from scheduler.ingest.upload import UploadReport, upload
from webui.jobs import JobContext, JobFailed, jobs_of
from webui.settings import ingest_settings


def runs_as_job(app: Flask, size: int) -> bool:
    """Whether a commit of ``size`` bytes is stored by a background job."""
    return size > int(app.config["UPLOAD_JOB_BYTES"])


def refusal(report: UploadReport) -> str:
    """A refused file's located errors as one message."""
    n = len(report.errors)
    head = f"{report.filename} was refused ({n} error{'' if n == 1 else 's'}); nothing was stored"
    return "; ".join([head, *(f"{report.filename}: {e}" for e in report.errors)])


def submit_upload(
    app: Flask,
    data: bytes,
    filename: str,
    county: str,
    *,
    user: str,
    accept_valid_rows: bool,
) -> str:
    """Start the job that checks and stores ``data`` as ``county``'s upload; its id.

    The checks are the app's settings as they are now, when the job is submitted."""
    settings = ingest_settings(app)

    def run(ctx: JobContext) -> dict[str, Any]:
        ctx.progress(0.1, "checking and storing")
        with ctx.sessions() as s, s.begin():
            report = upload(
                s,
                data,
                filename,
                county,
                user=user,
                now=ctx.clock.now(),
                mode="commit",
                accept_valid_rows=accept_valid_rows,
                settings=settings,
            )
            result = {"county_code": county, **report.to_dict()}
            if report.status == "rejected":
                # raised inside the transaction: whatever was written is rolled back
                raise JobFailed(refusal(report), result)
        return result

    return jobs_of(app).submit("upload", user, run)
