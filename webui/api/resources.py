"""The API's operations: labs, sites, uploads, batches, plans, KPIs, re-planning and jobs.

Who sees what (the rule the OpenAPI document states too):

- ``ops`` may do everything;
- a ``county`` account sees its county's sites, uploads and batches, and the labs;
- a ``lab`` account sees its own lab and the batches planned at or pinned to it,
  and reports its status and its batches' progress.

An operation a role may not use at all answers 403. Naming a county or lab
that is not yours (in the path, the query or the body) answers 403 too. A
record of another county or lab (batch, upload, job) answers 404, as an
unknown id does: ids outside your part of the world are not told apart from
ids that do not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import current_app, request, url_for
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from scheduler.ingest.upload import upload
from scheduler.replan import events
from scheduler.replan.core import published
from scheduler.replan.diff import diff_plans
from scheduler.store import models as m
from webui import db
from webui import models as wm
from webui.accounts import Principal
from webui.api import schemas as sc
from webui.api.framework import (
    PUBLIC,
    ROLES,
    FileField,
    Reply,
    known_county,
    not_found,
    now,
    operation,
    who,
)
from webui.errors import ApiError
from webui.jobs import job_dict, jobs_of
from webui.overload import uploads_lane
from webui.planner import replan_job
from webui.settings import DEFAULTS, ingest_settings
from webui.upload_jobs import runs_as_job, submit_upload
from webui.views import planview

log = logging.getLogger(__name__)

ALL = ROLES
OPS = ("ops",)
#: how far from now an outage report may reach
OUTAGE_REACH = timedelta(days=366)
L = TypeVar("L", bound=sc.PageInfo)


def paged(
    listing: type[L],
    stmt: Select[Any, *tuple[Any, ...]],
    q: sc.Page,
    items: Callable[[list[Any]], list[Any]],
    **extra: Any,
) -> L:
    """Page ``q`` of what ``stmt`` selects, as ``listing``: ``page``, ``per_page``, ``total``
    (of all pages), ``items`` (``items`` of the page's rows) and the ``extra`` fields."""
    s = db.session()
    total = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = s.execute(stmt.limit(q.per_page).offset((q.page - 1) * q.per_page)).all()
    return listing.model_validate(
        {"page": q.page, "per_page": q.per_page, "total": int(total), "items": items(list(rows))}
        | extra
    )


def _forbidden(what: str) -> ApiError:
    return ApiError(403, f"{what} is not yours")


def _county_filter(p: Principal, asked: str | None) -> str | None:
    """The county a listing is limited to: a county account's own (asking for another: 403)."""
    if p.role == "county":
        if asked is not None and asked != p.county_code:
            raise _forbidden(f"county {asked}")
        return p.county_code
    return asked


# ---------------------------------------------------------------------------
# the document


@operation(
    "GET",
    "/openapi.json",
    summary="This API's OpenAPI 3.1 document",
    roles=(PUBLIC,),
    response=sc.OpenApiDoc,
    tag="meta",
)
def openapi_doc() -> sc.OpenApiDoc:
    from webui.api.openapi import document

    return sc.OpenApiDoc(document(current_app))


# ---------------------------------------------------------------------------
# labs


def _lab_out(lab: m.Lab) -> sc.LabOut:
    return sc.LabOut.model_validate(lab, from_attributes=True)


def _lab_detail(s: Session, lab: m.Lab) -> sc.LabDetail:
    outages = s.scalars(
        select(m.Outage)
        .where(m.Outage.lab_id == lab.lab_id, m.Outage.end > now())
        .order_by(m.Outage.start)
    ).all()
    changes = s.scalars(
        select(m.LabStatusChange)
        .where(m.LabStatusChange.lab_id == lab.lab_id)
        .order_by(m.LabStatusChange.at.desc(), m.LabStatusChange.id.desc())
        .limit(20)
    ).all()
    return sc.LabDetail(
        **_lab_out(lab).model_dump(),
        outages=[sc.OutageOut(start=o.start, end=o.end) for o in outages],
        status_changes=[
            sc.StatusChangeOut.model_validate(c, from_attributes=True) for c in changes
        ],
    )


def _visible_lab(lab_id: str) -> m.Lab:
    p = who()
    if p.role == "lab" and lab_id != p.lab_id:
        raise _forbidden(f"lab {lab_id}")
    lab = db.session().get(m.Lab, lab_id)
    if lab is None:
        raise not_found(f"lab {lab_id}")
    return lab


@operation(
    "GET",
    "/labs",
    summary="Labs (a lab account: its own)",
    roles=ALL,
    response=sc.LabList,
    tag="labs",
)
def list_labs() -> sc.LabList:
    p = who()
    stmt = select(m.Lab).order_by(m.Lab.lab_id)
    if p.role == "lab":
        stmt = stmt.where(m.Lab.lab_id == p.lab_id)
    return sc.LabList(items=[_lab_out(lab) for lab in db.session().scalars(stmt)])


@operation(
    "GET",
    "/labs/{lab_id}",
    summary="One lab with its outages and latest status reports",
    roles=ALL,
    response=sc.LabDetail,
    tag="labs",
)
def get_lab(lab_id: str) -> sc.LabDetail:
    return _lab_detail(db.session(), _visible_lab(lab_id))


@operation(
    "POST",
    "/labs/{lab_id}/status",
    summary="Report a capacity change, an outage, or back to normal; asks for a re-plan",
    roles=("ops", "lab"),
    response=sc.LabDetail,
    body=sc.LabStatusIn,
    errors=(409,),
    tag="labs",
)
def lab_status(lab_id: str, body: sc.LabStatusIn) -> sc.LabDetail:
    lab = _visible_lab(lab_id)
    p, at, s = who(), now(), db.session()
    change = body.root
    kwargs: dict[str, Any] = {"note": change.note}
    if isinstance(change, sc.CapacityChange):
        kwargs["capacity_per_hour"] = change.capacity_per_hour
    elif isinstance(change, sc.OutageReport):
        errors = [
            {"field": name, "message": "must be within a year of now", "type": "out_of_range"}
            for name, when in (("start", change.start), ("end", change.end))
            if abs(when - at) > OUTAGE_REACH
        ]
        if change.end <= change.start:
            errors.append({"field": "end", "message": "must be after start", "type": "order"})
        if errors:
            raise ApiError(422, "invalid body", errors)
        kwargs["outage_from"], kwargs["outage_to"] = change.start, change.end
    else:
        kwargs["back_to_normal"] = True
    try:
        events.lab_status(s, lab.lab_id, now=at, user=p.username, **kwargs)
    except events.EventError as exc:
        raise ApiError(409, str(exc)) from None
    s.commit()
    return _lab_detail(s, lab)


# ---------------------------------------------------------------------------
# sites


@operation(
    "GET",
    "/sites",
    summary="Sampling sites, by county (a county account: its own)",
    roles=("ops", "county"),
    response=sc.SiteList,
    query=sc.SiteQuery,
    tag="sites",
)
def list_sites(q: sc.SiteQuery) -> sc.SiteList:
    county = _county_filter(who(), q.county)
    stmt = select(m.Site).order_by(m.Site.site_id)
    if county is not None:
        stmt = stmt.where(m.Site.county_code == county)
    return paged(
        sc.SiteList,
        stmt,
        q,
        lambda rows: [sc.SiteOut.model_validate(r[0], from_attributes=True) for r in rows],
    )


# ---------------------------------------------------------------------------
# uploads


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


@operation(
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
    response=sc.UploadReportOut,
    also=(201,),
    also_bodies={202: sc.JobStarted},
    multipart=FileField(sc.UploadForm, description="the file, as the `file` field"),
    tag="uploads",
)
def post_upload(form: sc.UploadForm, file: Any) -> Reply:
    p = who()
    county = form.county or p.county_code
    if p.role == "county" and county != p.county_code:
        raise _forbidden(f"county {county}")
    if county is None:
        raise ApiError(
            422,
            "invalid upload form",
            [{"field": "county", "message": "say which county", "type": "missing"}],
        )
    if not known_county(county):
        raise ApiError(
            422,
            "invalid upload form",
            [{"field": "county", "message": f"unknown county {county}", "type": "unknown"}],
        )
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
        return _job_started(job_id)
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
        return Reply(out, status=201, headers={"Location": url})
    return Reply(out)


@operation(
    "GET",
    "/uploads",
    summary="Uploads received, newest first (a county account: its own)",
    roles=("ops", "county"),
    response=sc.UploadList,
    query=sc.UploadQuery,
    tag="uploads",
)
def list_uploads(q: sc.UploadQuery) -> sc.UploadList:
    county = _county_filter(who(), q.county)
    stmt = select(m.Upload).order_by(m.Upload.id.desc())
    if county is not None:
        stmt = stmt.where(m.Upload.county_code == county)
    return paged(
        sc.UploadList, stmt, q, lambda rows: [sc.UploadOut(**_upload_out(r[0])) for r in rows]
    )


@operation(
    "GET",
    "/uploads/{upload_id}",
    summary="One upload with its located errors",
    roles=("ops", "county"),
    response=sc.UploadDetail,
    tag="uploads",
)
def get_upload(upload_id: int) -> sc.UploadDetail:
    p = who()
    u = db.session().get(m.Upload, upload_id)
    if u is None or not p.can_county(u.county_code):
        raise not_found(f"upload {upload_id}")
    errors = [sc.CellErrorOut.model_validate(e) for e in (u.errors or [])]
    return sc.UploadDetail(**_upload_out(u), errors=errors)


# ---------------------------------------------------------------------------
# batches


def _published_id(s: Session) -> int | None:
    pub = published(s)
    return pub.id if pub is not None else None


def _batches(p: Principal, pub_id: int | None) -> Select[m.Batch, str]:
    """Batches (with their county) the caller may see."""
    stmt = select(m.Batch, m.Site.county_code).join(m.Site, m.Site.site_id == m.Batch.site_id)
    if p.role == "county":
        stmt = stmt.where(m.Site.county_code == p.county_code)
    elif p.role == "lab":
        stmt = stmt.where(_at_lab(p.lab_id or "", pub_id))
    return stmt


def _at_lab(lab_id: str, pub_id: int | None) -> Any:
    planned = select(m.PlanRow.batch_id).where(
        m.PlanRow.plan_id == (pub_id or -1), m.PlanRow.lab_id == lab_id
    )
    return or_(m.Batch.pinned_lab == lab_id, m.Batch.batch_id.in_(planned))


def _batch_fields(b: m.Batch, county: str, planned_lab: str | None) -> dict[str, Any]:
    return {
        "batch_id": b.batch_id,
        "site_id": b.site_id,
        "county_code": county,
        "collected_at": b.collected_at,
        "ready_at": b.ready_at,
        "deadline": b.deadline,
        "tubes": b.tubes,
        "people": b.people,
        "priority": b.priority,
        "isolation": b.isolation,
        "pinned_lab": b.pinned_lab,
        "status": b.status,
        "parent_batch_id": b.parent_batch_id,
        "planned_lab": planned_lab,
    }


def _visible_batch(batch_id: str) -> tuple[m.Batch, str, int | None]:
    p, s = who(), db.session()
    pub_id = _published_id(s)
    row = s.execute(_batches(p, pub_id).where(m.Batch.batch_id == batch_id)).first()
    if row is None:
        raise not_found(f"batch {batch_id}")
    return row[0], row[1], pub_id


def _batch_detail(batch_id: str) -> sc.BatchDetail:
    b, county, pub_id = _visible_batch(batch_id)
    s = db.session()
    rows = s.scalars(
        select(m.PlanRow)
        .where(m.PlanRow.plan_id == (pub_id or -1), m.PlanRow.batch_id == b.batch_id)
        .order_by(m.PlanRow.slot_start)
    ).all()
    retests = s.scalars(
        select(m.Batch.batch_id)
        .where(m.Batch.parent_batch_id == b.batch_id)
        .order_by(m.Batch.batch_id)
    ).all()
    return sc.BatchDetail(
        **_batch_fields(b, county, rows[0].lab_id if rows else None),
        plan_id=pub_id,
        slots=[sc.SlotOut(slot_start=r.slot_start, tubes=r.tubes) for r in rows],
        retests=list(retests),
    )


@operation(
    "GET",
    "/batches",
    summary="Batches (boxes of tubes), by lab, county, status and priority",
    description="A county account sees its county's batches; a lab account those planned at "
    "or pinned to its lab. `lab` means planned at (published plan) or pinned to that lab.",
    roles=ALL,
    response=sc.BatchList,
    query=sc.BatchQuery,
    tag="batches",
)
def list_batches(q: sc.BatchQuery) -> sc.BatchList:
    p, s = who(), db.session()
    county = _county_filter(p, q.county)
    if p.role == "lab" and q.lab is not None and q.lab != p.lab_id:
        raise _forbidden(f"lab {q.lab}")
    pub_id = _published_id(s)
    stmt = _batches(p, pub_id).order_by(m.Batch.batch_id)
    if county is not None:
        stmt = stmt.where(m.Site.county_code == county)
    if q.lab is not None:
        stmt = stmt.where(_at_lab(q.lab, pub_id))
    if q.status is not None:
        stmt = stmt.where(m.Batch.status == q.status)
    if q.priority is not None:
        stmt = stmt.where(m.Batch.priority == q.priority)
    return paged(sc.BatchList, stmt, q, lambda rows: _batch_items(s, rows, pub_id))


def _batch_items(s: Session, rows: list[Any], pub_id: int | None) -> list[sc.BatchOut]:
    """A page of (batch, county) rows, each with its lab in the published plan."""
    ids = [r[0].batch_id for r in rows]
    lab_of: dict[str, str] = {}
    if ids and pub_id is not None:
        lab_of = {
            r[0]: r[1]
            for r in s.execute(
                select(m.PlanRow.batch_id, m.PlanRow.lab_id).where(
                    m.PlanRow.plan_id == pub_id, m.PlanRow.batch_id.in_(ids)
                )
            )
        }
    return [sc.BatchOut(**_batch_fields(r[0], r[1], lab_of.get(r[0].batch_id))) for r in rows]


@operation(
    "GET",
    "/batches/{batch_id}",
    summary="One batch with its lab and slots in the published plan",
    roles=ALL,
    response=sc.BatchDetail,
    tag="batches",
)
def get_batch(batch_id: str) -> sc.BatchDetail:
    return _batch_detail(batch_id)


@operation(
    "POST",
    "/batches/{batch_id}/status",
    summary="A batch was picked up, received, is processing, or has its result",
    description="States only move forward (planned, picked_up, received, processing, "
    "resulted); going back is a 409. Asks for a re-plan.",
    roles=("ops", "lab"),
    response=sc.BatchDetail,
    body=sc.BatchStatusIn,
    errors=(409,),
    tag="batches",
)
def batch_status(batch_id: str, body: sc.BatchStatusIn) -> sc.BatchDetail:
    b, _, _ = _visible_batch(batch_id)
    p, s = who(), db.session()
    if body.lab_id is not None:
        if p.role == "lab" and body.lab_id != p.lab_id:
            raise _forbidden(f"lab {body.lab_id}")
        if s.get(m.Lab, body.lab_id) is None:
            raise ApiError(
                422,
                "invalid body",
                [{"field": "lab_id", "message": "unknown lab", "type": "unknown"}],
            )
    try:
        events.batch_status(
            s, b.batch_id, body.status, now=now(), user=p.username, lab_id=body.lab_id
        )
    except events.EventError as exc:
        raise ApiError(409, str(exc)) from None
    s.commit()
    return _batch_detail(b.batch_id)


@operation(
    "POST",
    "/batches/{batch_id}/positive-pool",
    summary="Pooled tubes tested positive: make the urgent single-tube retest batch",
    roles=("ops", "lab"),
    response=sc.RetestOut,
    status=201,
    body=sc.PositivePoolIn,
    errors=(409,),
    tag="batches",
)
def positive_pool(batch_id: str, body: sc.PositivePoolIn) -> Reply:
    b, _, _ = _visible_batch(batch_id)
    p, s = who(), db.session()
    if body.positive_tubes > b.tubes:
        raise ApiError(
            422,
            "invalid body",
            [
                {
                    "field": "positive_tubes",
                    "message": f"the batch has {b.tubes} tubes",
                    "type": "out_of_range",
                }
            ],
        )
    try:
        retest = events.positive_pool(
            s,
            b.batch_id,
            now=now(),
            user=p.username,
            recall_minutes=body.recall_minutes,
            positive_tubes=body.positive_tubes,
        )
    except events.EventError as exc:
        raise ApiError(409, str(exc)) from None
    s.commit()
    out = sc.RetestOut(batch_id=retest.batch_id, parent_batch_id=b.batch_id, tubes=retest.tubes)
    return Reply(out, headers={"Location": url_for("api.get_batch", batch_id=retest.batch_id)})


# ---------------------------------------------------------------------------
# plans


def _plan_out(v: m.PlanVersion) -> dict[str, Any]:
    return {
        "id": v.id,
        "created_at": v.created_at,
        "plan_start": v.plan_start,
        "solver": v.solver,
        "status": v.status,
        "score": v.score,
        "bound": v.bound,
        "gap": v.gap,
        "published": v.published,
        "error": v.error,
    }


def _kpi(d: dict[str, Any]) -> sc.PriorityKpiOut:
    tubes = int(d.get("tubes", 0))
    on_time = int(d.get("tubes_on_time", 0))
    return sc.PriorityKpiOut(
        tubes=tubes,
        tubes_on_time=on_time,
        on_time_rate=on_time / tubes if tubes else None,
        assigned_tubes=int(d.get("assigned_tubes", 0)),
        unassigned_tubes=int(d.get("unassigned_tubes", 0)),
        batches=int(d.get("batches", 0)),
        mean_tat_h=d.get("mean_tat_h"),
        p95_tat_h=d.get("p95_tat_h"),
        cost=float(d.get("cost", 0.0)),
    )


def _plan(plan_id: int) -> m.PlanVersion:
    v = db.session().get(m.PlanVersion, plan_id)
    if v is None:
        raise not_found(f"plan version {plan_id}")
    return v


@operation(
    "GET",
    "/plans",
    summary="Plan versions, newest first",
    roles=OPS,
    response=sc.PlanList,
    query=sc.PlanQuery,
    tag="plans",
)
def list_plans(q: sc.PlanQuery) -> sc.PlanList:
    stmt = select(m.PlanVersion).order_by(m.PlanVersion.id.desc())
    if q.published is not None:
        stmt = stmt.where(m.PlanVersion.published.is_(q.published))
    return paged(sc.PlanList, stmt, q, lambda rows: [sc.PlanOut(**_plan_out(r[0])) for r in rows])


@operation(
    "GET",
    "/plans/{plan_id}",
    summary="One plan version with its KPIs (as evaluated when it was made)",
    roles=OPS,
    response=sc.PlanDetail,
    tag="plans",
)
def get_plan(plan_id: int) -> sc.PlanDetail:
    v = _plan(plan_id)
    s = db.session()
    n_rows, n_batches = s.execute(
        select(func.count(m.PlanRow.id), func.count(func.distinct(m.PlanRow.batch_id))).where(
            m.PlanRow.plan_id == v.id
        )
    ).one()
    figures = v.figures or {}
    per = figures.get("per_priority") or {}
    moved = figures.get("moved")
    decision = figures.get("decision")
    return sc.PlanDetail(
        **_plan_out(v),
        rows=int(n_rows),
        batches=int(n_batches),
        moved=int(moved) if isinstance(moved, int) else None,
        decision=str(decision) if decision is not None else None,
        per_priority={k: _kpi(d) for k, d in per.items() if isinstance(d, dict)},
    )


@operation(
    "GET",
    "/plans/{plan_id}/rows",
    summary="A plan version's rows (batch, lab, slot, tubes), paged",
    roles=OPS,
    response=sc.RowList,
    query=sc.RowQuery,
    tag="plans",
)
def plan_rows(plan_id: int, q: sc.RowQuery) -> sc.RowList:
    v = _plan(plan_id)
    stmt = (
        select(m.PlanRow)
        .where(m.PlanRow.plan_id == v.id)
        .order_by(m.PlanRow.lab_id, m.PlanRow.slot_start, m.PlanRow.batch_id, m.PlanRow.id)
    )
    if q.lab is not None:
        stmt = stmt.where(m.PlanRow.lab_id == q.lab)
    if q.batch is not None:
        stmt = stmt.where(m.PlanRow.batch_id == q.batch)
    return paged(
        sc.RowList,
        stmt,
        q,
        lambda rows: [sc.RowOut.model_validate(r[0], from_attributes=True) for r in rows],
        plan_id=v.id,
    )


@operation(
    "GET",
    "/plans/{plan_id}/diff/{other_id}",
    summary="What changed from one plan version to another, batch by batch, and why",
    roles=OPS,
    response=sc.DiffOut,
    tag="plans",
)
def plan_diff(plan_id: int, other_id: int) -> sc.DiffOut:
    a, b = _plan(plan_id), _plan(other_id)
    moves = diff_plans(db.session(), a.id, b.id)
    return sc.DiffOut(
        from_plan=a.id,
        to_plan=b.id,
        total=len(moves),
        moves=[sc.MoveOut.model_validate(mv, from_attributes=True) for mv in moves],
    )


@operation(
    "GET",
    "/kpis",
    summary="KPIs of the published plan: per-priority on-time rates, score, bound, gap",
    description="The evaluator's figures (scheduler.evaluate) of the published plan on the "
    "problem it was made for (from its start slot, finished batches out, boxes at labs as "
    "their backlog), computed once when it was published; bound and gap are the solver's.",
    roles=OPS,
    response=sc.KpisOut,
    errors=(404,),
    tag="plans",
)
def kpis() -> sc.KpisOut:
    s = db.session()
    version = planview.current(s)
    doc = planview.summary(s, version.id) if version is not None else None
    if version is None or doc is None:
        raise not_found("published plan yet")
    k = doc["kpis"]
    made = s.get(m.PlanSummary, version.id)
    return sc.KpisOut(
        plan_id=version.id,
        created_at=version.created_at,
        evaluated_at=made.made_at if made is not None else version.created_at,
        plan_start=datetime.fromisoformat(doc["plan_start"]),
        score=k["score"],
        # every plan is checked by the evaluator before it is stored
        valid=True,
        n_violations=0,
        solver_score=version.score,
        bound=version.bound,
        gap=version.gap,
        total_tubes=k["total_tubes"],
        assigned_tubes=k["assigned_tubes"],
        unassigned_tubes=k["unassigned_tubes"],
        per_priority={p: _kpi(v) for p, v in k["per_priority"].items()},
    )


# ---------------------------------------------------------------------------
# re-planning and jobs


@operation(
    "POST",
    "/replan",
    summary="Re-plan now: starts a job; poll its URL",
    description="Answers 202 at once with the job's id and poll URL (also as Location); "
    "the solve runs in the background.",
    roles=OPS,
    response=sc.JobStarted,
    status=202,
    body=sc.ReplanIn,
    body_required=False,
    tag="plans",
)
def replan(body: sc.ReplanIn) -> Reply:
    p = who()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return _job_started(
        jobs_of(app).submit("replan", p.username, replan_job(app, p.username, body.reason))
    )


def _job_started(job_id: str) -> Reply:
    """202 with the job's id and poll URL, the URL also as Location."""
    url = url_for("api.get_job", job_id=job_id)
    return Reply(sc.JobStarted(job_id=job_id, poll_url=url), status=202, headers={"Location": url})


@operation(
    "GET",
    "/jobs/{job_id}",
    summary="A job's state, progress and result (ops: any job; others: their own)",
    roles=ALL,
    response=sc.JobOut,
    tag="plans",
)
def get_job(job_id: str) -> sc.JobOut:
    p = who()
    job = db.session().get(wm.Job, job_id)
    if job is None or (p.role != "ops" and job.user != p.username):
        raise not_found(f"job {job_id}")
    return sc.JobOut.model_validate(job_dict(job))
