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


def random_problem(
    seed: int,
    *,
    n_batches: int = 30,
    n_labs: int = 4,
    n_sites: int = 6,
    horizon_hours: int = 24,
    slot_minutes: int = 60,
) -> Problem:
    """A random instance exercising every SPEC feature (seeded, deterministic)."""
    import random

    from scheduler.domain import Outage, TravelOverride

    r = random.Random(seed)
    grid = max(slot_minutes, 60) if slot_minutes > 60 else slot_minutes
    start = T0.replace(hour=(r.randrange(0, 24 * 60, grid) // 60) % 24, minute=0)
    if grid < 60:
        start = start.replace(minute=r.randrange(0, 60, grid))
    labs = [
        lab(
            f"L{i}",
            kind=r.choice(["cdc", "hospital", "designated_hospital", "third_party", "mobile"]),
            lat=34.75 + r.uniform(-0.7, 0.7),
            lon=113.6 + r.uniform(-0.7, 0.7),
            capacity_per_hour=r.choice([0, 5, 20, 40, 80, 150]),
            run_minutes=r.choice([0, 90, 120, 240]),
            open_hour=r.choice([0, 0, 8, 20]),
            close_hour=r.choice([24, 24, 18, 6]),
            isolation_ok=r.random() < 0.5,
            backlog_tubes=r.choice([0, 0, 30, 400]),
        )
        for i in range(n_labs)
    ]
    sites = [
        site(f"S{i}", lat=34.75 + r.uniform(-0.9, 0.9), lon=113.6 + r.uniform(-0.9, 0.9))
        for i in range(n_sites)
    ]
    batches = []
    for i in range(n_batches):
        c = r.uniform(-6, horizon_hours * 0.7)
        deadline = at(c + r.uniform(2, 30)) if r.random() < 0.1 else None
        pinned = f"L{r.randrange(n_labs)}" if r.random() < 0.08 else None
        batches.append(
            batch(
                f"B{i}",
                site_id=f"S{r.randrange(n_sites)}",
                collected_at=at(c),
                ready_at=at(c + r.uniform(0, 2)),
                tubes=r.randint(1, 120),
                priority=r.choice(["urgent", "high", "routine", "routine"]),
                isolation=r.random() < 0.15,
                deadline=deadline,
                pinned_lab=pinned,
            )
        )
    overrides = tuple(
        TravelOverride(f"S{r.randrange(n_sites)}", f"L{r.randrange(n_labs)}", r.choice([5, 300]))
        for _ in range(r.randrange(3))
    )
    overrides = tuple({(o.site_id, o.lab_id): o for o in overrides}.values())
    outages = tuple(
        Outage(f"L{r.randrange(n_labs)}", at(h), at(h + r.uniform(0.5, 6)))
        for h in (r.uniform(0, horizon_hours) for _ in range(r.randrange(3)))
    )
    cfg = Config(plan_start=start, horizon_hours=horizon_hours, slot_minutes=slot_minutes)
    # shift the batches so that they sit around the chosen plan start
    shift = start - T0
    from dataclasses import replace

    batches = [
        replace(
            b,
            collected_at=b.collected_at + shift,
            ready_at=b.ready_at + shift,
            deadline=None if b.deadline is None else b.deadline + shift,
        )
        for b in batches
    ]
    outages = tuple(replace(o, start=o.start + shift, end=o.end + shift) for o in outages)
    return Problem(cfg, tuple(labs), tuple(sites), tuple(batches), overrides, outages)
