"""Re-planning from the web process: the in-process worker and "re-plan now".

Both go through one lock per process and the database lease of
``scheduler.replan.worker``, so at most one plan is being made per database,
whichever process or thread asks.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask

from scheduler.replan.core import ReplanSettings, replan
from scheduler.replan.events import request_replan
from scheduler.replan.worker import WorkerSettings, acquire, owner_id, tick
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


def tick_locked(app: Flask) -> None:
    """One decision of the in-process worker (called by APScheduler)."""
    if not PLAN_LOCK.acquire(blocking=False):
        return  # a "re-plan now" is running; the next tick looks again
    try:
        tick(
            app.extensions["natsched.engine"],
            app.extensions["natsched.clock"].now(),
            worker_settings(app),
            owner_id(),
        )
    except Exception:
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
        ctx.progress(0.02, "waiting for the planner")
        with PLAN_LOCK:
            now = ctx.clock.now()
            if not acquire(engine, owner_id(), now, settings.lease_seconds):
                return {
                    "queued": True,
                    "message": "another worker plans; it will take this request",
                }
            done = threading.Event()
            ticker = threading.Thread(
                target=_tick_progress, args=(ctx, settings.replan.time_limit, done), daemon=True
            )
            ticker.start()
            try:
                out = replan(engine, now, settings=settings.replan)
            finally:
                done.set()
                # A tick mid-write would land after the job's final state.
                ticker.join()
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


def start_worker(app: Flask, poll_seconds: float = 10.0) -> Any:
    """Start the re-planning worker inside this process (``natsched serve``)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    sched = BackgroundScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
    )
    sched.add_job(tick_locked, "interval", seconds=poll_seconds, args=[app], id="replan-tick")
    sched.start()
    return sched
