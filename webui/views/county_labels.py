"""Box labels for a county office to print: one per box, its id as a QR code.

A label carries what the people who carry and receive a box need: the box
id (as text and as a QR code encoding exactly the ``batch_id``, which the
lab's scan field reads), the destination lab, when the box is picked up and
when its result is due. The boxes are the county's own on the published
plan, read by the plan and the county (``ix_plan_outcomes_county``), never
the province's whole table. The QR code is drawn here as inline SVG, so the
sheet prints with nothing fetched from elsewhere.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import segno
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.domain import PLANNED
from scheduler.store import models as m


@dataclass(frozen=True)
class BoxLabel:
    """What one printed label shows."""

    batch_id: str
    site: str
    tubes: int
    priority: str
    isolation: bool
    lab_id: str
    lab_name: str
    pickup_at: datetime
    due_at: datetime
    qr: Markup


def qr_svg(text: str) -> Markup:
    """``text`` as a QR code in SVG markup, sized by its container (CSS) rather than in pixels."""
    # at least level M, so a smudged or creased label still scans
    code = segno.make_qr(text, error="m")
    out = io.BytesIO()
    code.save(out, kind="svg", xmldecl=False, svgns=True, nl=False, omitsize=True)
    # safe to mark: segno's markup holds only the drawn modules, never the text itself
    return Markup(out.getvalue().decode("ascii"))


def labels(session: Session, plan_id: int, county: str, day: date | None) -> list[BoxLabel]:
    """The county's boxes on plan ``plan_id`` not yet picked up, ready on ``day`` when given.

    A box the plan sends nowhere (no lab can take it yet) has no label: its
    destination is not known.
    """
    q = (
        select(
            m.Batch.batch_id,
            m.Batch.site_id,
            m.Batch.tubes,
            m.Batch.priority,
            m.Batch.isolation,
            m.Batch.ready_at,
            m.PlanOutcome.lab_id,
            m.PlanOutcome.due_at,
            m.Lab.name,
            m.Site.name.label("site_name"),
        )
        .join(m.Batch, m.Batch.batch_id == m.PlanOutcome.batch_id)
        .join(m.Lab, m.Lab.lab_id == m.PlanOutcome.lab_id)
        .join(m.Site, m.Site.site_id == m.Batch.site_id)
        .where(
            m.PlanOutcome.plan_id == plan_id,
            m.PlanOutcome.county_code == county,
            m.Batch.status == PLANNED,
        )
        .order_by(m.Batch.ready_at, m.Batch.batch_id)
    )
    if day is not None:
        start = datetime.combine(day, datetime.min.time())
        q = q.where(m.Batch.ready_at >= start, m.Batch.ready_at < start + timedelta(days=1))
    return [
        BoxLabel(
            batch_id=r.batch_id,
            site=r.site_name or r.site_id,
            tubes=r.tubes,
            priority=r.priority,
            isolation=r.isolation,
            lab_id=r.lab_id,
            lab_name=r.name or r.lab_id,
            pickup_at=r.ready_at,
            due_at=r.due_at,
            qr=qr_svg(r.batch_id),
        )
        for r in session.execute(q)
    ]


def parse_day(text: str | None) -> date | None:
    """The ``?day=YYYY-MM-DD`` filter; anything else means every day."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
