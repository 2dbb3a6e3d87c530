"""Small hand-made problems for tests (no files involved)."""

from __future__ import annotations

from datetime import datetime, timedelta

from scheduler.domain import Batch, Config, Lab, Problem, Site

T0 = datetime(2022, 1, 9, 8, 0)


def at(hours: float) -> datetime:
    """A time ``hours`` after 08:00 on the test day."""
    return T0 + timedelta(hours=hours)


def lab(lab_id: str = "L1", **kw: object) -> Lab:
    base: dict[str, object] = dict(
        lab_id=lab_id,
        name=f"Lab {lab_id}",
        kind="cdc",
        county_code="410102",
        lat=34.75,
        lon=113.63,
        capacity_per_hour=10,
        run_minutes=120,
        open_hour=0,
        close_hour=24,
        isolation_ok=True,
        backlog_tubes=0,
    )
    base.update(kw)
    return Lab(**base)  # type: ignore[arg-type]


def site(site_id: str = "S1", **kw: object) -> Site:
    base: dict[str, object] = dict(
        site_id=site_id, county_code="410102", name=f"Site {site_id}", lat=34.75, lon=113.63
    )
    base.update(kw)
    return Site(**base)  # type: ignore[arg-type]


def batch(batch_id: str = "B1", **kw: object) -> Batch:
    base: dict[str, object] = dict(
        batch_id=batch_id,
        site_id="S1",
        collected_at=at(-1),
        ready_at=at(0),
        tubes=10,
        priority="routine",
        isolation=False,
    )
    base.update(kw)
    return Batch(**base)  # type: ignore[arg-type]


def problem(
    labs: list[Lab] | None = None,
    sites: list[Site] | None = None,
    batches: list[Batch] | None = None,
    **config: object,
) -> Problem:
    cfg: dict[str, object] = dict(plan_start=T0, horizon_hours=24, slot_minutes=60)
    cfg.update(config)
    return Problem(
        config=Config(**cfg),  # type: ignore[arg-type]
        labs=tuple(labs if labs is not None else [lab()]),
        sites=tuple(sites if sites is not None else [site()]),
        batches=tuple(batches if batches is not None else [batch()]),
    )
