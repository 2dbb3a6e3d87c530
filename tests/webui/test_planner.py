"""The web process's re-planner: it solves in a child process, survives the child's death,
and beats the heartbeat; "re-plan now" goes the same way."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from flask import Flask
from sqlalchemy import select

from scheduler.replan import worker as w
from scheduler.replan.child import ChildDied, replan_in_child
from scheduler.replan.core import ReplanSettings
from scheduler.replan.events import lab_status
from scheduler.replan.worker import read_beats
from scheduler.store import models as m
from scheduler.store.db import transaction
from tests.support.waiting import wait_for
from tests.support.web import NOW
from webui import models as wm
from webui import planner
from webui.jobs import jobs_of


def engine_of(app: Flask) -> Any:
    return app.extensions["natsched.engine"]


def published(app: Flask) -> tuple[int, list[tuple[str, str, Any, int]]]:
    """The published version and its rows, to compare row for row."""
    with transaction(engine_of(app)) as s:
        v = s.scalar(
            select(m.PlanVersion)
            .where(m.PlanVersion.published.is_(True))
            .order_by(m.PlanVersion.id.desc())
        )
        assert v is not None
        rows = sorted((r.batch_id, r.lab_id, r.slot_start, r.tubes) for r in v.rows)
        return v.id, rows


def inputs_changed(app: Flask) -> None:
    """A lab's capacity changes: the next plan has something to answer."""
    with transaction(engine_of(app)) as s:
        lab = s.scalar(select(m.PlanRow.lab_id).limit(1))
        lab_status(s, lab, now=NOW, capacity_per_hour=1)


def test_a_replan_in_a_child_process_publishes(app):
    inputs_changed(app)
    first, _ = published(app)
    pids: list[int] = []
    out = replan_in_child(
        app.config["DATABASE_URL"], NOW, ReplanSettings(time_limit=2.0), on_start=pids.append
    )
    assert out.published and out.version_id != first
    assert published(app)[0] == out.version_id
    assert pids and pids[0] != os.getpid()
    with transaction(engine_of(app)) as s:
        assert s.get(m.PlanVersion, out.version_id).created_at == NOW  # the fixed clock


def test_a_killed_child_leaves_the_published_plan_and_the_next_tick_goes_on(app):
    inputs_changed(app)
    before = published(app)
    pids: list[int] = []
    box: dict[str, BaseException] = {}

    def solve() -> None:
        try:
            # no move penalty and a long limit: the solve runs until it is killed
            replan_in_child(
                app.config["DATABASE_URL"],
                NOW,
                ReplanSettings(time_limit=120.0, move_penalty=0.0),
                on_start=pids.append,
            )
        except BaseException as exc:
            box["error"] = exc

    th = threading.Thread(target=solve, daemon=True)
    th.start()

    def running() -> list[int]:
        with transaction(engine_of(app)) as s:
            return list(
                s.scalars(select(m.PlanVersion.id).where(m.PlanVersion.status == "running"))
            )

    dead = wait_for(running)
    os.kill(pids[0], signal.SIGKILL)
    th.join(60)
    assert isinstance(box.get("error"), ChildDied), box
    assert "SIGKILL" in str(box["error"])
    assert published(app) == before  # row for row
    # the in-process worker's next tick marks it failed and plans again
    app.config["REPLAN_DEBOUNCE_SECONDS"] = 0.0
    planner.tick_locked(app)
    with transaction(engine_of(app)) as s:
        v = s.get(m.PlanVersion, dead[0])
        assert v.status == "failed" and "interrupted" in v.error
        beats = read_beats(s)
    after = published(app)
    assert after[0] > before[0]
    (beat,) = beats.values()
    assert beat.state == "idle" and beat.failures == 0


def test_a_child_that_fails_is_an_error_in_the_heartbeat_not_a_crash(app, monkeypatch):
    def dies(*_a: Any, **_k: Any) -> Any:
        raise ChildDied("the re-plan process died (signal SIGSEGV)")

    monkeypatch.setattr(planner, "replan_in_child", dies)
    monkeypatch.setattr(w, "backoff", lambda _n: 0.0)
    app.config["REPLAN_DEBOUNCE_SECONDS"] = 0.0
    inputs_changed(app)
    before = published(app)
    planner.tick_locked(app)
    with transaction(engine_of(app)) as s:
        (beat,) = read_beats(s).values()
    assert beat.state == "error" and beat.failures == 1 and "SIGSEGV" in beat.error
    assert published(app) == before


def test_replan_now_solves_in_a_child_and_reports_progress(app, monkeypatch):
    children: list[int] = []
    real = planner.replan_in_child

    def spy(*args: Any, **kwargs: Any) -> Any:
        return real(*args, on_start=children.append, **kwargs)

    monkeypatch.setattr(planner, "replan_in_child", spy)
    inputs_changed(app)
    job_id = jobs_of(app).submit(
        "replan", "ops", planner.replan_job(app, "ops", "test"), run_inline=True
    )
    with transaction(engine_of(app)) as s:
        job = s.get(wm.Job, job_id)
        assert job.state == "done", job.message
        assert job.result["published"] and job.progress == 1.0
        (beat,) = read_beats(s).values()
    assert children and children[0] != os.getpid()
    assert published(app)[0] == job.result["plan_id"]
    assert beat.state == "idle"


def test_the_in_process_worker_starts_ticks_and_stops(app, monkeypatch):
    ticks = threading.Semaphore(0)
    monkeypatch.setattr(planner, "tick_locked", lambda _app: ticks.release())
    sup = planner.start_worker(app, poll_seconds=0.1)
    try:
        wait_for(lambda: ticks.acquire(timeout=0.1))
    finally:
        sup.shutdown(wait=True)
