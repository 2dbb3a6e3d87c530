"""Re-planning from the web process: the in-process worker and "re-plan now".

Both go through one lock per process and the database lease of
``scheduler.replan.worker``, so at most one plan is being made per database,
whichever process or thread asks. Both solve in a child process
(:func:`scheduler.replan.child.replan_in_child`): a solve in a thread of
this process would hold the interpreter lock the request threads need, and
pages would stall for as long as it runs. Both beat the worker heartbeat the
health endpoint and the ops dashboard read.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import Engine

from scheduler.replan.child import replan_in_child
from scheduler.replan.core import ReplanOutcome, ReplanSettings
from scheduler.replan.events import request_replan
from scheduler.replan.worker import (
    Heart,
    Replanner,
    RunReplan,
    Supervisor,
    WorkerSettings,
    acquire,
    owner_id,
)
from scheduler.store import models as m
from scheduler.store.db import transaction
from webui.jobs import JobContext

log = logging.getLogger(__name__)
PLAN_LOCK = threading.Lock()


def worker_settings(app: Flask) -> WorkerSettings:
    c = app.config
    return WorkerSettings(
        interval_minutes=float(c["REPLAN_INTERVAL_MINUTES"]),
        debounce_seconds=float(c["REPLAN_DEBOUNCE_SECONDS"]),
        lease_seconds=float(c["REPLAN_LEASE_SECONDS"]),
        replan=ReplanSettings(
            freeze_minutes=int(c["REPLAN_FREEZE_MINUTES"]),
            time_limit=float(c["REPLAN_TIME_LIMIT"]),
            seed=int(c["REPLAN_SEED"]),
            move_penalty=float(c["REPLAN_MOVE_PENALTY"]),
            workers=int(c["REPLAN_WORKERS"]),
        ),
    )


def child_runner(app: Flask) -> RunReplan:
    """How this app makes a plan: in a child process, on the app's database."""
    url = str(app.config["DATABASE_URL"])

    def run(_engine: Engine, now: datetime, settings: WorkerSettings) -> ReplanOutcome:
        return replan_in_child(url, now, settings.replan)

    return run


def replanner(app: Flask) -> Replanner:
    """The app's worker (one per app: its failure streak and heartbeat outlive a tick)."""
    r: Replanner | None = app.extensions.get("natsched.replanner")
    if r is None:
        engine = app.extensions["natsched.engine"]
        clock = app.extensions["natsched.clock"]
        owner = owner_id()
        r = Replanner(
            engine,
            worker_settings(app),
            clock,
            owner,
            run=child_runner(app),
            heart=Heart(engine, owner, clock),
        )
        app.extensions["natsched.replanner"] = r
    return r


def tick_locked(app: Flask) -> None:
    """One decision of the in-process worker (called by the scheduler); never raises."""
    if not PLAN_LOCK.acquire(blocking=False):
        return  # a "re-plan now" is running and beating; the next tick looks again
    try:
        replanner(app).tick(worker_settings(app))
    except Exception:  # Replanner.tick guards itself; nothing may reach the scheduler
        log.exception("re-planning tick failed; the published plan is unchanged")
    finally:
        PLAN_LOCK.release()


def replan_job(app: Flask, user: str, reason: str) -> Any:
    """A job function: make a plan now (or, if another process plans, ask it to)."""

    def run(ctx: JobContext) -> dict[str, Any]:
        engine = app.extensions["natsched.engine"]
        settings = worker_settings(app)
        now = ctx.clock.now()
        with transaction(engine) as s:
            request_replan(s, now, f"{reason} (by {user})")
            # who asked for a plan, and why, is part of the day's record
            s.add(
                m.AuditLog(
                    at=now, user=user, action="replan now", target="plan", detail={"reason": reason}
                )
            )
        ctx.progress(0.02, "waiting for the planner")
        with PLAN_LOCK:
            now = ctx.clock.now()
            if not acquire(engine, owner_id(), now, settings.lease_seconds):
                return {
                    "queued": True,
                    "message": "another worker plans; it will take this request",
                }
            heart = replanner(app).heart
            done = threading.Event()
            ticker = threading.Thread(
                target=_tick_progress, args=(ctx, settings.replan.time_limit, done), daemon=True
            )
            ticker.start()
            try:
                with heart.solving(settings.lease_seconds):
                    out = child_runner(app)(engine, now, settings)
            finally:
                done.set()
                # A tick mid-write would land after the job's final state.
                ticker.join()
                heart.beat()
        return {
            "plan_id": out.version_id,
            "published": out.published,
            "reason": out.reason,
            "score": out.score,
            "moved": out.moved,
        }

    return run


def _tick_progress(ctx: JobContext, limit: float, done: threading.Event) -> None:
    start = time.monotonic()
    while not done.wait(1.0):
        used = time.monotonic() - start
        ctx.progress(min(0.95, 0.05 + 0.9 * used / max(limit, 1.0)), f"solving: {used:.0f} s")


def start_worker(app: Flask, poll_seconds: float = 10.0) -> Supervisor:
    """Start the re-planning worker inside this process (``natsched serve``).

    Its ticks run on a supervised scheduler in a thread of their own; the
    returned :class:`Supervisor` stops it (``shutdown``).
    """
    return Supervisor(lambda: tick_locked(app), poll_seconds).start()
