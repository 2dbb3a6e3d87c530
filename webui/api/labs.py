"""Labs: the list, one lab, and its status reports (capacity, outage, back to normal)."""

from __future__ import annotations

from typing import Any

from flask import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.replan import events
from scheduler.store import models as m
from webui import db
from webui.api import schemas as sc
from webui.api.access import ROLES
from webui.api.blueprint import answer, route
from webui.api.refusals import refused_events
from webui.api.scope import forbidden, not_found, who
from webui.clock import now


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
        raise forbidden(f"lab {lab_id}")
    lab = db.session().get(m.Lab, lab_id)
    if lab is None:
        raise not_found(f"lab {lab_id}")
    return lab


@route(
    "GET",
    "/labs",
    summary="Labs (a lab account: its own)",
    roles=ROLES,
    responses={200: sc.LabList},
    tag="labs",
)
def list_labs() -> Response:
    p = who()
    stmt = select(m.Lab).order_by(m.Lab.lab_id)
    if p.role == "lab":
        stmt = stmt.where(m.Lab.lab_id == p.lab_id)
    return answer(sc.LabList(items=[_lab_out(lab) for lab in db.session().scalars(stmt)]))


@route(
    "GET",
    f"/labs/<string(maxlength={sc.LAB_ID_MAX}):lab_id>",
    summary="One lab with its outages and latest status reports",
    roles=ROLES,
    responses={200: sc.LabDetail},
    tag="labs",
)
def get_lab(path: sc.LabPath) -> Response:
    return answer(_lab_detail(db.session(), _visible_lab(path.lab_id)))


#: the service's names of a status report's inputs -> the names the API has always
#: given them in its refusals (a capacity by its path in the body, an outage's ends bare)
BODY_FIELDS = {
    "capacity_per_hour": "capacity.capacity_per_hour",
    "outage_from": "start",
    "outage_to": "end",
}


@route(
    "POST",
    f"/labs/<string(maxlength={sc.LAB_ID_MAX}):lab_id>/status",
    summary="Report a capacity change, an outage, or back to normal; asks for a re-plan",
    roles=("ops", "lab"),
    responses={200: sc.LabDetail},
    errors=(409,),
    tag="labs",
)
def lab_status(path: sc.LabPath, body: sc.LabStatusIn) -> Response:
    lab = _visible_lab(path.lab_id)
    p, at, s = who(), now(), db.session()
    change = body.root
    kwargs: dict[str, Any] = {"note": change.note}
    if isinstance(change, sc.CapacityChange):
        kwargs["capacity_per_hour"] = change.capacity_per_hour
    elif isinstance(change, sc.OutageReport):
        kwargs["outage_from"], kwargs["outage_to"] = change.start, change.end
    else:
        kwargs["back_to_normal"] = True
    with refused_events(BODY_FIELDS):
        events.lab_status(s, lab.lab_id, now=at, user=p.username, **kwargs)
    s.commit()
    return answer(_lab_detail(s, lab))
