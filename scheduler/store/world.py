"""The store and the SPEC files describe the same world.

``seed`` writes a :class:`~scheduler.domain.Problem` into the database;
``snapshot`` reads it back as one, so ``export_instance`` writes a SPEC
folder that ``spec_io.load_instance`` turns into an equal problem.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from scheduler import domain
from scheduler.spec_io import config_from_json, config_to_json, write_instance
from scheduler.store import models as m


def city_code(county_code: str) -> str:
    return county_code[:4] + "00"


def _ensure_counties(session: Session, codes: set[str]) -> None:
    from scheduler.explain import city_name

    have = set(session.scalars(select(m.County.code)))
    cities = set(session.scalars(select(m.City.code)))
    for code in sorted(codes - have):
        cc = city_code(code)
        if cc not in cities:
            session.add(m.City(code=cc, name=city_name(cc)))
            cities.add(cc)
        session.add(m.County(code=code, city_code=cc, name=""))
    session.flush()


def seed(
    session: Session,
    problem: domain.Problem,
    *,
    now: datetime,
    user: str = "",
    with_batches: bool = True,
) -> None:
    """Replace the world in the store by ``problem`` (labs, sites, settings, batches)."""
    for model in (
        m.PlanRow,
        m.PlanVersion,
        m.Batch,
        m.SampleCount,
        m.TravelOverride,
        m.Outage,
        m.LabStatusChange,
        m.Site,
        m.Lab,
    ):
        session.execute(delete(model))
    session.merge(m.Setting(key="instance", value=config_to_json(problem.config)))
    _ensure_counties(session, {s.county_code for s in problem.sites})
    session.add_all(m.Lab(**{f: getattr(lab, f) for f in LAB_FIELDS}) for lab in problem.labs)
    session.add_all(
        m.Site(site_id=s.site_id, county_code=s.county_code, name=s.name, lat=s.lat, lon=s.lon)
        for s in problem.sites
    )
    session.flush()
    session.add_all(m.Outage(lab_id=o.lab_id, start=o.start, end=o.end) for o in problem.outages)
    session.add_all(
        m.TravelOverride(site_id=t.site_id, lab_id=t.lab_id, minutes=t.minutes)
        for t in problem.travel_overrides
    )
    if with_batches:
        session.add_all(batch_row(b) for b in problem.batches)
    session.add(
        m.AuditLog(
            at=now,
            user=user,
            action="seed",
            target="world",
            detail={
                "labs": len(problem.labs),
                "sites": len(problem.sites),
                "batches": len(problem.batches) if with_batches else 0,
            },
        )
    )
    session.flush()


LAB_FIELDS = (
    "lab_id",
    "name",
    "kind",
    "county_code",
    "lat",
    "lon",
    "capacity_per_hour",
    "run_minutes",
    "open_hour",
    "close_hour",
    "isolation_ok",
    "backlog_tubes",
)


def batch_row(b: domain.Batch, count_id: int | None = None) -> m.Batch:
    return m.Batch(
        batch_id=b.batch_id,
        site_id=b.site_id,
        count_id=count_id,
        collected_at=b.collected_at,
        ready_at=b.ready_at,
        tubes=b.tubes,
        people=b.people,
        priority=b.priority,
        isolation=b.isolation,
        deadline=b.deadline,
        pinned_lab=b.pinned_lab,
        status=domain.PLANNED,
    )


def snapshot(session: Session, *, plan_start: datetime | None = None) -> domain.Problem:
    """The stored world as a problem; open batches only, sorted by id.

    ``plan_start`` replaces the stored one (rolling horizon); it must be on
    the slot grid.
    """
    setting = session.get(m.Setting, "instance")
    if setting is None:
        raise LookupError("the database holds no instance settings: run `natsched db seed` first")
    config = config_from_json(setting.value)
    if plan_start is not None:
        from dataclasses import replace

        config = replace(config, plan_start=plan_start)
    labs = tuple(
        domain.Lab(**{f: getattr(r, f) for f in LAB_FIELDS})
        for r in session.scalars(select(m.Lab).order_by(m.Lab.lab_id))
    )
    sites = tuple(
        domain.Site(r.site_id, r.county_code, r.name, r.lat, r.lon)
        for r in session.scalars(select(m.Site).order_by(m.Site.site_id))
    )
    batches = tuple(
        domain.Batch(
            batch_id=r.batch_id,
            site_id=r.site_id,
            collected_at=r.collected_at,
            ready_at=r.ready_at,
            tubes=r.tubes,
            priority=r.priority,
            isolation=r.isolation,
            people=r.people,
            deadline=r.deadline,
            pinned_lab=r.pinned_lab,
        )
        for r in session.scalars(
            select(m.Batch).where(m.Batch.status.in_(domain.OPEN_STATES)).order_by(m.Batch.batch_id)
        )
    )
    outages = tuple(
        domain.Outage(r.lab_id, r.start, r.end)
        for r in session.scalars(select(m.Outage).order_by(m.Outage.lab_id, m.Outage.start))
    )
    travel = tuple(
        domain.TravelOverride(r.site_id, r.lab_id, r.minutes)
        for r in session.scalars(
            select(m.TravelOverride).order_by(m.TravelOverride.site_id, m.TravelOverride.lab_id)
        )
    )
    return domain.Problem(config, labs, sites, batches, travel, outages)


def export_instance(session: Session, folder: str | Path) -> Path:
    return write_instance(snapshot(session), folder)
