"""The re-planning worker: APScheduler 3 with its job store in the database.

Exactly one worker plans per database. It holds a lease row in ``locks``
(taken and renewed with one atomic UPDATE, or an INSERT when there is none),
so a second worker, or one started by each web process, just waits. Jobs are
module-level functions that take the database URL, as APScheduler's job
store requires.

``tick(engine, now)`` is the whole decision, used by the jobs and by tests
with a fake clock: re-plan when a request (upload, lab status, batch event,
positive pool) is older than the debounce, or when the periodic interval has
passed since the last version.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from scheduler.clock import Clock
from scheduler.replan.core import ReplanOutcome, ReplanSettings, replan
from scheduler.replan.events import request_replan
from scheduler.store import models as m
from scheduler.store.db import make_engine, transaction

log = logging.getLogger(__name__)

LOCK = "replan-worker"


@dataclass(frozen=True)
class WorkerSettings:
    interval_minutes: float = 15.0
    debounce_seconds: float = 60.0
    lease_seconds: float = 120.0
    replan: ReplanSettings = field(default_factory=ReplanSettings)


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def acquire(engine: Engine, owner: str, now: datetime, lease_seconds: float) -> bool:
    """Take or renew the lease; False when another live worker holds it."""
    until = now + timedelta(seconds=lease_seconds)
    with engine.begin() as conn:
        got = conn.execute(
            update(m.Lock)
            .where(m.Lock.name == LOCK)
            .where((m.Lock.owner == owner) | (m.Lock.expires_at < now))
            .values(owner=owner, expires_at=until)
        ).rowcount
    if got:
        return True
    try:
        with engine.begin() as conn:
            conn.execute(insert(m.Lock).values(name=LOCK, owner=owner, expires_at=until))
        return True
    except IntegrityError:
        return False


def release(engine: Engine, owner: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(m.Lock)
            .where(m.Lock.name == LOCK, m.Lock.owner == owner)
            .values(expires_at=datetime(1970, 1, 1))
        )


def abandon_running(engine: Engine, now: datetime) -> list[int]:
    """Versions left "running" by a worker that died mid-solve are marked failed.

    Called with the lease held, so no other worker is solving; they never
    held plan rows (rows are written with the result, in one transaction).
    """
    with transaction(engine) as s:
        stale = s.scalars(select(m.PlanVersion).where(m.PlanVersion.status == "running")).all()
        for v in stale:
            v.status = "failed"
            v.error = f"interrupted: the worker stopped during the solve (found {now:%F %H:%M})"
        if stale:
            # what that solve was for is still to do
            request_replan(s, now, f"plan {stale[-1].id} was interrupted")
        return [v.id for v in stale]


def due(engine: Engine, now: datetime, settings: WorkerSettings) -> str | None:
    """Why a re-plan is due at ``now`` (None when it is not)."""
    with transaction(engine) as s:
        last = s.scalar(select(m.PlanVersion.created_at).order_by(m.PlanVersion.id.desc()))
        req = s.get(m.Setting, "replan_request")
        if s.get(m.Setting, "instance") is None:
            return None
        if last is None:
            return "no plan yet"
        if req is not None:
            at = datetime.fromisoformat(req.value["at"])
            if at >= last and now - at >= timedelta(seconds=settings.debounce_seconds):
                return "; ".join(req.value.get("reasons", [])[-3:]) or "requested"
        if now - last >= timedelta(minutes=settings.interval_minutes):
            return "periodic"
    return None


def tick(
    engine: Engine, now: datetime, settings: WorkerSettings, owner: str
) -> ReplanOutcome | None:
    """One scheduling decision: hold the lease, re-plan when due."""
    if not acquire(engine, owner, now, settings.lease_seconds):
        log.info("another worker holds the lease; waiting")
        return None
    abandoned = abandon_running(engine, now)
    if abandoned:
        log.warning("plan versions %s were left running by a stopped worker", abandoned)
    why = due(engine, now, settings)
    if why is None:
        return None
    log.info("re-planning at %s: %s", now.isoformat(), why)
    out = replan(engine, now, settings=settings.replan)
    log.info(
        "plan %d %s (%s)", out.version_id, "published" if out.published else "kept", out.reason
    )
    return out


# --- APScheduler jobs (module level, importable by reference) -----------------


def settings_to_args(settings: WorkerSettings) -> dict[str, float]:
    r = settings.replan
    return {
        "interval_minutes": settings.interval_minutes,
        "debounce_seconds": settings.debounce_seconds,
        "lease_seconds": settings.lease_seconds,
        "freeze_minutes": r.freeze_minutes,
        "time_limit": r.time_limit,
        "seed": r.seed,
        "move_penalty": r.move_penalty,
    }


def settings_from_args(a: dict[str, float]) -> WorkerSettings:
    return WorkerSettings(
        interval_minutes=a["interval_minutes"],
        debounce_seconds=a["debounce_seconds"],
        lease_seconds=a["lease_seconds"],
        replan=ReplanSettings(
            freeze_minutes=int(a["freeze_minutes"]),
            time_limit=a["time_limit"],
            seed=int(a["seed"]),
            move_penalty=a["move_penalty"],
        ),
    )


def tick_job(db_url: str, settings: dict[str, float], offset_seconds: float = 0.0) -> None:
    """The scheduled job: settings travel as plain arguments, not module state.

    ``offset_seconds``: how far the worker's clock runs ahead of the machine's
    (a demo or a load test replaying another day).
    """
    engine = make_engine(db_url)
    try:
        now = Clock(offset=timedelta(seconds=offset_seconds)).now()
        tick(engine, now, settings_from_args(settings), owner_id())
    finally:
        engine.dispose()


def run(
    db_url: str,
    settings: WorkerSettings,
    poll_seconds: float = 10.0,
    clock: Clock | None = None,
) -> None:
    """Run the worker until interrupted (``natsched worker``), on ``clock``'s time.

    A fixed clock is not supported: a worker's day runs on.
    """
    clock = clock or Clock()
    if clock.fixed is not None:
        raise ValueError("the worker's clock runs on; a fixed clock would never re-plan")
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler

    sched = BlockingScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=db_url, tablename="apscheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    sched.add_job(
        "scheduler.replan.worker:tick_job",
        "interval",
        seconds=poll_seconds,
        args=[db_url, settings_to_args(settings), clock.offset.total_seconds()],
        id="replan-tick",
        replace_existing=True,
        next_run_time=datetime.now(),
    )
    log.info("worker %s polling every %g s", owner_id(), poll_seconds)
    try:
        sched.start()
    finally:
        release(make_engine(db_url), owner_id())
