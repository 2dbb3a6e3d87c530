"""Jobs: re-plan now, and the state of a job started by the API (re-plans, large uploads)."""

from __future__ import annotations

from flask import Response, current_app, url_for

from webui import db
from webui import models as wm
from webui.api import schemas as sc
from webui.api.access import ROLES
from webui.api.blueprint import answer, route
from webui.api.scope import not_found, who
from webui.jobs import job_dict, jobs_of
from webui.planner import replan_job


def job_started(job_id: str) -> Response:
    """202 with the job's id and poll URL, the URL also as Location."""
    url = url_for("api.get_job", job_id=job_id)
    return answer(sc.JobStarted(job_id=job_id, poll_url=url), 202, {"Location": url})


@route(
    "POST",
    "/replan",
    summary="Re-plan now: starts a job; poll its URL",
    description="Answers 202 at once with the job's id and poll URL (also as Location); "
    "the solve runs in the background.",
    roles=("ops",),
    responses={202: sc.JobStarted},
    tag="plans",
)
def replan(body: sc.ReplanIn) -> Response:
    p = who()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return job_started(
        jobs_of(app).submit("replan", p.username, replan_job(app, p.username, body.reason))
    )


@route(
    "GET",
    f"/jobs/<string(maxlength={sc.JOB_ID_MAX}):job_id>",
    summary="A job's state, progress and result (ops: any job; others: their own)",
    roles=ROLES,
    responses={200: sc.JobOut},
    tag="plans",
)
def get_job(path: sc.JobPath) -> Response:
    p = who()
    job = db.session().get(wm.Job, path.job_id)
    if job is None or (p.role != "ops" and job.user != p.username):
        raise not_found(f"job {path.job_id}")
    return answer(sc.JobOut.model_validate(job_dict(job)))
