"""Batches (boxes of tubes): the list, one batch with its slots, its progress, positive pools."""

from __future__ import annotations

from typing import Any

from flask import Response, url_for
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from scheduler.domain import BATCH_STATES
from scheduler.replan import events
from scheduler.replan.core import published
from scheduler.store import models as m
from scheduler.store import rules
from webui import db
from webui.accounts import Principal
from webui.api import schemas as sc
from webui.api.access import ROLES
from webui.api.blueprint import answer, route
from webui.api.refusals import refused_events
from webui.api.scope import county_filter, forbidden, not_found, paged, who
from webui.clock import now
from webui.errors import ApiError

BATCH = f"/batches/<string(maxlength={sc.BATCH_ID_MAX}):batch_id>"


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


@route(
    "GET",
    "/batches",
    summary="Batches (boxes of tubes), by lab, county, status and priority",
    description="A county account sees its county's batches; a lab account those planned at "
    "or pinned to its lab. `lab` means planned at (published plan) or pinned to that lab.",
    roles=ROLES,
    responses={200: sc.BatchList},
    tag="batches",
)
def list_batches(query: sc.BatchQuery) -> Response:
    p, s = who(), db.session()
    county = county_filter(p, query.county)
    if p.role == "lab" and query.lab is not None and query.lab != p.lab_id:
        raise forbidden(f"lab {query.lab}")
    pub_id = _published_id(s)
    stmt = _batches(p, pub_id).order_by(m.Batch.batch_id)
    if county is not None:
        stmt = stmt.where(m.Site.county_code == county)
    if query.lab is not None:
        stmt = stmt.where(_at_lab(query.lab, pub_id))
    if query.status is not None:
        stmt = stmt.where(m.Batch.status == query.status)
    if query.priority is not None:
        stmt = stmt.where(m.Batch.priority == query.priority)
    return answer(paged(sc.BatchList, stmt, query, lambda rows: _batch_items(s, rows, pub_id)))


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


@route(
    "GET",
    BATCH,
    summary="One batch with its lab and slots in the published plan",
    roles=ROLES,
    responses={200: sc.BatchDetail},
    tag="batches",
)
def get_batch(path: sc.BatchPath) -> Response:
    return answer(_batch_detail(path.batch_id))


@route(
    "POST",
    f"{BATCH}/status",
    summary="A batch was picked up, received, is processing, or has its result",
    description=f"States only move forward ({', '.join(BATCH_STATES)}); going back is a 409. "
    "Asks for a re-plan.",
    roles=("ops", "lab"),
    responses={200: sc.BatchDetail},
    errors=(409,),
    tag="batches",
)
def batch_status(path: sc.BatchPath, body: sc.BatchStatusIn) -> Response:
    b, _, _ = _visible_batch(path.batch_id)
    p, s = who(), db.session()
    if body.lab_id is not None:
        if p.role == "lab" and body.lab_id != p.lab_id:
            raise forbidden(f"lab {body.lab_id}")
        if s.get(m.Lab, body.lab_id) is None:
            raise ApiError(
                422,
                "invalid body",
                [{"field": "lab_id", "message": "unknown lab", "type": "unknown"}],
            )
    with refused_events():
        events.batch_status(
            s, b.batch_id, body.status, now=now(), user=p.username, lab_id=body.lab_id
        )
    s.commit()
    return answer(_batch_detail(b.batch_id))


@route(
    "POST",
    f"{BATCH}/status/undo",
    summary="Undo a batch's last status change, within minutes of it",
    description=f"The state and pinned lab it replaced come back, audited as an undo, and a "
    f"re-plan is asked for. Only the last change, within {rules.UNDO_WINDOW_MINUTES} minutes and "
    "before any later change to the batch; otherwise a 409 naming the rule "
    "(`batch_status.undo_expired`, `batch_status.undo_superseded`, "
    "`batch_status.nothing_to_undo`).",
    roles=("ops", "lab"),
    responses={200: sc.BatchDetail},
    errors=(409,),
    tag="batches",
)
def undo_batch_status(path: sc.BatchPath, body: sc.BatchUndoIn) -> Response:
    b, _, _ = _visible_batch(path.batch_id)
    p, s = who(), db.session()
    with refused_events():
        events.undo_batch_status(s, b.batch_id, now=now(), user=p.username, note=body.note)
    s.commit()
    return answer(_batch_detail(b.batch_id))


@route(
    "POST",
    f"{BATCH}/positive-pool",
    summary="Pooled tubes tested positive: make the urgent single-tube retest batch",
    roles=("ops", "lab"),
    responses={201: sc.RetestOut},
    errors=(409,),
    tag="batches",
)
def positive_pool(path: sc.BatchPath, body: sc.PositivePoolIn) -> Response:
    b, _, _ = _visible_batch(path.batch_id)
    p, s = who(), db.session()
    with refused_events():
        retest = events.positive_pool(
            s,
            b.batch_id,
            now=now(),
            user=p.username,
            recall_minutes=body.recall_minutes,
            positive_tubes=body.positive_tubes,
        )
    s.commit()
    out = sc.RetestOut(batch_id=retest.batch_id, parent_batch_id=b.batch_id, tubes=retest.tubes)
    return answer(out, 201, {"Location": url_for("api.get_batch", batch_id=retest.batch_id)})
