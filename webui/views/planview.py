"""The published plan as the pages read it: each page its own rows of the stored views.

``scheduler.replan.views`` computes, once per published version, every
batch's outcome (the SPEC evaluator's, on the problem the plan was made
for), each lab's load against capacity per slot and the province figures.
The pages here only read: a lab's schedule the rows of that lab, a county's
page the rows of its boxes, the dashboard one summary document (parsed once
per version and kept in memory, as a version never changes). Boxes that
arrived after the plan was made are listed as not planned yet until the next
re-plan; a box's status is always read live from ``batches``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.evaluate import is_open
from scheduler.replan import views
from scheduler.replan.core import published
from scheduler.store import models as m
from webui.clock import now as _now


@dataclass(frozen=True)
class VersionInfo:
    """The plan version's own figures, copied out of the session that read them."""

    id: int
    created_at: datetime
    plan_start: datetime
    status: str
    score: float | None
    bound: float | None
    gap: float | None
    figures: dict[str, Any]

    @classmethod
    def of(cls, v: m.PlanVersion) -> VersionInfo:
        return cls(
            v.id, v.created_at, v.plan_start, v.status, v.score, v.bound, v.gap, dict(v.figures)
        )


@dataclass(frozen=True)
class Outcome:
    """One batch of the published plan: where, when, and whether on time."""

    batch_id: str
    lab_id: str | None
    slots: list[tuple[datetime, int]]
    arrival_at: datetime | None
    result_at: datetime | None
    due_at: datetime
    late_h: float
    on_time: bool

    @classmethod
    def of(cls, r: Any) -> Outcome:
        """From a ``PlanOutcome`` or a row of :data:`COLUMNS`."""
        return cls(
            r.batch_id,
            r.lab_id,
            [(datetime.fromisoformat(at), int(k)) for at, k in r.slots],
            r.arrival_at,
            r.result_at,
            r.due_at,
            r.late_h,
            r.on_time,
        )


#: what a page reads of an outcome: plain rows, no ORM objects to build per box
COLUMNS = (
    m.PlanOutcome.batch_id,
    m.PlanOutcome.lab_id,
    m.PlanOutcome.slots,
    m.PlanOutcome.arrival_at,
    m.PlanOutcome.result_at,
    m.PlanOutcome.due_at,
    m.PlanOutcome.late_h,
    m.PlanOutcome.on_time,
)


def current(session: Session) -> VersionInfo | None:
    """The published version (None when nothing is published), its views made if missing."""
    version = published(session)
    if version is None:
        return None
    views.ensure(session, version, _now())
    return VersionInfo.of(version)


def at_lab(
    session: Session, plan_id: int, lab_id: str, start: datetime, end: datetime
) -> dict[str, Outcome]:
    """The plan's batches at ``lab_id`` whose first slot is in [start, end)."""
    rows = session.execute(
        select(*COLUMNS).where(
            m.PlanOutcome.plan_id == plan_id,
            m.PlanOutcome.lab_id == lab_id,
            m.PlanOutcome.first_slot >= start,
            m.PlanOutcome.first_slot < end,
        )
    )
    return {r.batch_id: Outcome.of(r) for r in rows}


def of_batches(session: Session, plan_id: int, batch_ids: Iterable[str]) -> dict[str, Outcome]:
    ids = list(batch_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(*COLUMNS).where(m.PlanOutcome.plan_id == plan_id, m.PlanOutcome.batch_id.in_(ids))
    )
    return {r.batch_id: Outcome.of(r) for r in rows}


def of_batch(session: Session, plan_id: int, batch_id: str) -> Outcome | None:
    r = session.get(m.PlanOutcome, (plan_id, batch_id))
    return Outcome.of(r) if r is not None else None


def lab_load(
    session: Session, plan_id: int, lab: m.Lab, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Per slot in [start, end): planned tubes, and the capacity the lab has now.

    The capacity follows what the lab reported since the plan was made (its
    capacity, hours and outages: the lab's own rows), less what its backlog
    took when the plan was made, so a chart shows "planned beyond capacity"
    as soon as an outage is reported, before the re-plan moves the tubes.
    """
    doc = summary(session, plan_id)
    row = session.get(m.PlanLabLoad, (plan_id, lab.lab_id))
    if row is None or doc is None:
        return []
    first = datetime.fromisoformat(doc["plan_start"])
    minutes = int(doc["slot_minutes"])
    step = timedelta(minutes=minutes)
    outages = session.scalars(
        select(m.Outage).where(
            m.Outage.lab_id == lab.lab_id, m.Outage.start < end, m.Outage.end > start
        )
    ).all()
    nominal = lab.capacity_per_hour * minutes // 60
    out = []
    for t, (load, then, left) in enumerate(zip(row.load, row.nominal, row.capacity, strict=True)):
        at = first + t * step
        if not start <= at < end:
            continue
        down = any(o.start < at + step and at < o.end for o in outages)
        cap = 0 if down or not is_open(lab.open_hour, lab.close_hour, at.hour) else nominal
        out.append({"at": at, "load": load, "cap": max(0, cap - (then - left))})
    return out


_LOCK = threading.Lock()
#: parsed summaries of the newest versions (a version's summary never changes)
_KEEP = 2


def summary(session: Session, plan_id: int) -> dict[str, Any] | None:
    """The province figures stored with ``plan_id`` (parsed once per process)."""
    cache: OrderedDict[int, dict[str, Any]] = current_app.extensions.setdefault(
        "natsched.summaries", OrderedDict()
    )
    with _LOCK:
        hit = cache.get(plan_id)
    if hit is not None:
        return hit
    row = session.get(m.PlanSummary, plan_id)
    if row is None:
        return None
    doc = dict(row.figures)
    with _LOCK:
        cache[plan_id] = doc
        while len(cache) > _KEEP:
            cache.popitem(last=False)
    return doc


@dataclass(frozen=True)
class LateBox:
    """One late box of the published plan as the drill-down lists it."""

    batch_id: str
    site_id: str
    county_code: str
    lab_id: str | None
    due_at: datetime
    result_at: datetime | None
    late_h: float
    why: list[str]


def late_boxes(
    session: Session, plan_id: int, priority: str, *, page: int, per_page: int, most_late: bool
) -> tuple[list[LateBox], int]:
    """A page of the plan's late boxes of ``priority`` by lateness, and how many there are.

    Read by the (plan, priority, on time, lateness) index: the late rows of
    one priority, never the province's plan.
    """
    late = (
        m.PlanOutcome.plan_id == plan_id,
        m.PlanOutcome.priority == priority,
        m.PlanOutcome.on_time.is_(False),
    )
    total = session.scalar(select(func.count()).select_from(m.PlanOutcome).where(*late)) or 0
    order = m.PlanOutcome.late_h.desc() if most_late else m.PlanOutcome.late_h.asc()
    rows = session.execute(
        select(
            m.PlanOutcome.batch_id,
            m.PlanOutcome.site_id,
            m.PlanOutcome.county_code,
            m.PlanOutcome.lab_id,
            m.PlanOutcome.due_at,
            m.PlanOutcome.result_at,
            m.PlanOutcome.late_h,
            m.PlanOutcome.why,
        )
        .where(*late)
        .order_by(order, m.PlanOutcome.batch_id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return [LateBox(*r) for r in rows], total
