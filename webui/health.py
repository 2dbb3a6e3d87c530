"""Is natsched well: the database, the re-planner's heartbeat, the published plan's age.

One reading, :func:`read_health`, serves ``GET /api/v1/health`` (anonymous,
for load balancers and monitoring) and the ops dashboard's heartbeat line
(``replanner_health()`` in templates). It is a few small reads by primary
key, never a snapshot of the world.

Times: a heartbeat is stored on the worker's clock *and* the machine's. How
long ago a worker beat is measured on the machine clocks, where every
process agrees; the worker's and the app's clocks may be offset differently
(a separate ``natsched worker --clock``) or fixed (tests), and would then
make a dead worker look fresh. The published plan's age is measured on the
app clock, the clock its ``created_at`` was taken on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from flask import Flask, current_app
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from scheduler.replan.worker import STATES, Beat, lease_holder, read_beats
from scheduler.store import models as m

Status = Literal["ok", "degraded", "down"]
WorkerState = Literal["idle", "waiting", "solving", "error", "stopped", "not_seen"]


@dataclass(frozen=True)
class WorkerHealth:
    #: seconds since the re-planner's last heartbeat (None: never seen)
    last_seen_s: float | None
    state: WorkerState
    stale: bool
    #: consecutive failed ticks, and the last one's error (ops pages only, never the API)
    failures: int = 0
    error: str = ""
    #: seconds the current solve has been running
    solving_s: float | None = None
    #: other workers beating (standing by for the lease)
    standby: int = 0


@dataclass(frozen=True)
class Health:
    database_ok: bool
    worker: WorkerHealth
    published_id: int | None = None
    plan_age_s: float | None = None

    @property
    def healthy(self) -> bool:
        """What ``/api/v1/health`` answers 200 for: the database answers, a worker beats."""
        return self.database_ok and not self.worker.stale

    @property
    def status(self) -> Status:
        if not self.database_ok:
            return "down"
        if self.worker.stale or self.worker.failures:
            return "degraded"
        return "ok"


UNKNOWN = WorkerHealth(last_seen_s=None, state="not_seen", stale=True)


def _age(now: datetime, then: datetime) -> float:
    # clocks of two machines may disagree by a little: never a negative age
    return max(0.0, (now - then).total_seconds())


def worker_health(
    beats: dict[str, Beat], holder: str | None, wall_now: datetime, stale_seconds: float
) -> WorkerHealth:
    """The re-planner's health from every worker's beat.

    The lease holder's beat speaks while it is fresh; otherwise the freshest
    running worker's, which takes the lease once the holder's runs out. A
    stopped worker is not re-planning, however recent its last word.
    """
    live = {o: b for o, b in beats.items() if b.state != "stopped"}
    if not beats:
        return UNKNOWN

    def fresh(b: Beat) -> bool:
        return _age(wall_now, b.wall) <= stale_seconds

    pick = live.get(holder) if holder is not None else None
    if pick is None or not fresh(pick):
        pool = live or beats
        pick = max(pool.values(), key=lambda b: b.wall)
    others = sum(1 for o, b in live.items() if o != pick.owner and fresh(b))
    solving = _age(wall_now, pick.since) if pick.state == "solving" and pick.since else None
    return WorkerHealth(
        last_seen_s=round(_age(wall_now, pick.wall), 1),
        # a state this version does not know (a newer worker) reads as trouble
        state=cast(WorkerState, pick.state if pick.state in STATES else "error"),
        stale=pick.state == "stopped" or not fresh(pick),
        failures=pick.failures,
        error=pick.error,
        solving_s=round(solving, 1) if solving is not None else None,
        standby=others,
    )


def read_health(
    engine: Engine,
    app_now: datetime,
    stale_seconds: float,
    wall_now: datetime | None = None,
) -> Health:
    """Read the health in one short read-only session; a database error is "down"."""
    wall_now = wall_now or datetime.now()
    try:
        with Session(engine) as s:
            beats = read_beats(s)
            holder = lease_holder(s)
            plan = s.execute(
                select(m.PlanVersion.id, m.PlanVersion.created_at)
                .where(m.PlanVersion.published.is_(True))
                .order_by(m.PlanVersion.id.desc())
                .limit(1)
            ).first()
    except SQLAlchemyError:  # unreachable, restarting, missing tables: all are "down"
        return Health(database_ok=False, worker=UNKNOWN)
    return Health(
        database_ok=True,
        worker=worker_health(beats, holder, wall_now, stale_seconds),
        published_id=plan[0] if plan else None,
        plan_age_s=round(_age(app_now, plan[1]), 1) if plan else None,
    )


def current_health() -> Health:
    """The running app's health (the API route and the dashboard)."""
    app = current_app
    return read_health(
        app.extensions["natsched.engine"],
        app.extensions["natsched.clock"].now(),
        float(app.config["HEALTH_WORKER_STALE_SECONDS"]),
    )


def init_app(app: Flask) -> None:
    # a global, not a context processor: only the pages that show it pay for the reads
    app.add_template_global(current_health, "replanner_health")
