"""The re-planner never dies silently: job-store errors, failing ticks, a dying scheduler
loop, a lease that cannot be released; the heartbeat; settings that reach the job whole."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import fields, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.exc import OperationalError

from scheduler.clock import Clock
from scheduler.replan import worker as w
from scheduler.replan.core import ReplanSettings, published
from scheduler.replan.worker import (
    Heart,
    Replanner,
    Supervisor,
    WorkerSettings,
    acquire,
    read_beats,
    settings_from_args,
    settings_to_args,
)
from scheduler.spec_io import load_instance
from scheduler.store import models as m
from scheduler.store.db import make_engine, transaction
from scheduler.store.world import seed
from tests.support.waiting import wait_for

T0 = datetime(2022, 1, 9, 7, 0)
QUICK = WorkerSettings(replan=ReplanSettings(time_limit=2.0))


def locked() -> OperationalError:
    """What SQLAlchemy raises when SQLite's writer lock is not given in time."""
    return OperationalError(
        "UPDATE apscheduler_jobs", {}, sqlite3.OperationalError("database is locked")
    )


def seeded(engine) -> None:  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        seed(s, load_instance("fixtures/county"), now=T0)


def published_id(engine) -> int | None:  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        pub = published(s)
        return pub.id if pub is not None else None


# --- settings -------------------------------------------------------------------


def test_settings_reach_the_job_whole():
    """Every field of WorkerSettings and ReplanSettings, each off its default, round-trips."""
    ws = WorkerSettings(
        interval_minutes=7.5,
        debounce_seconds=3.0,
        lease_seconds=9.0,
        replan=ReplanSettings(
            freeze_minutes=11, time_limit=4.5, seed=3, move_penalty=7.5, workers=1
        ),
    )
    for obj in (ws, ws.replan):
        for f in fields(obj):
            if f.name != "replan":
                assert getattr(obj, f.name) != f.default, f"{f.name} is at its default"
    assert settings_from_args(settings_to_args(ws)) == ws


def test_worker_workers_1_reaches_every_replan(monkeypatch, tmp_path):
    """``natsched worker --workers 1``: the jobs' re-plans run on one core, as promised."""
    from natsched.cli import main

    seen: list[WorkerSettings] = []
    monkeypatch.setattr(w, "run", lambda _url, settings, **_kw: seen.append(settings))
    from scheduler.store.db import upgrade

    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    upgrade(url)  # the worker plans on a database that exists; it never makes one
    # --nice 0: the test's own process must not lose its priority for the rest of the run
    assert main(["worker", "--db", url, "--workers", "1", "--time-limit", "5", "--nice", "0"]) == 0
    (settings,) = seen
    carried = settings_from_args(settings_to_args(settings))
    assert carried.replan.workers == 1 and carried.replan.time_limit == 5.0
    assert carried == settings


# --- the job store, the ticks, the scheduler loop ---------------------------------


def test_job_store_errors_do_not_stop_the_worker(db_url, engine, monkeypatch, caplog):
    """The job store raises "database is locked" again and again (where APScheduler 3
    guards it and where it does not); the worker logs it, goes on and publishes."""
    seeded(engine)
    left = {"get_due_jobs": 3, "update_job": 3, "get_next_run_time": 3}

    def failing(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            if left[name] > 0:
                left[name] -= 1
                raise locked()
            return original(self, *args, **kwargs)

        return method

    # whichever store the worker uses
    for cls in (MemoryJobStore, SQLAlchemyJobStore):
        for name in left:
            monkeypatch.setattr(cls, name, failing(name, getattr(cls, name)))
    caplog.set_level(logging.INFO, logger="scheduler")
    stop = threading.Event()
    crashed: list[BaseException] = []

    def worker() -> None:
        try:
            w.run(db_url, QUICK, poll_seconds=0.2, clock=Clock.parse(T0.isoformat()), stop=stop)
        except BaseException as exc:
            crashed.append(exc)

    th = threading.Thread(target=worker, daemon=True)
    th.start()
    try:
        wait_for(
            lambda: published_id(engine) is not None or crashed,
            detail=lambda: caplog.text[-3000:],
        )
    finally:
        stop.set()
        th.join(60)
    assert not crashed, crashed
    assert not th.is_alive(), "the worker did not stop"
    assert published_id(engine) is not None
    assert left == {"get_due_jobs": 0, "update_job": 0, "get_next_run_time": 0}
    assert "database is locked" in caplog.text
    with transaction(engine) as s:
        beats = read_beats(s)
        lock = s.get(m.Lock, w.LOCK)
    (beat,) = beats.values()
    assert beat.state == "stopped" and beat.failures == 0
    assert lock is not None and lock.expires_at < T0  # released on the way out


def test_a_failing_tick_is_counted_in_the_heartbeat_and_the_next_one_recovers(
    engine, monkeypatch, caplog
):
    seeded(engine)
    real_due = w.due
    left = [2]

    def due(*args: Any) -> str | None:
        if left[0]:
            left[0] -= 1
            raise locked()
        return real_due(*args)

    monkeypatch.setattr(w, "due", due)
    monkeypatch.setattr(w, "backoff", lambda _n: 0.0)  # no waiting in a test
    r = Replanner(engine, QUICK, Clock(fixed=T0), "w1")

    def beat() -> w.Beat:
        with transaction(engine) as s:
            return read_beats(s)["w1"]

    assert r.tick() is None
    assert (beat().state, beat().failures) == ("error", 1)
    assert "database is locked" in beat().error
    assert r.tick() is None
    assert beat().failures == 2
    out = r.tick()
    assert out is not None and out.published
    assert (beat().state, beat().failures, beat().error) == ("idle", 0, "")
    assert caplog.text.count("Traceback") == 1  # the streak's first failure, in full


def test_backoff_doubles_to_a_cap():
    assert [w.backoff(n) for n in range(9)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]


def test_a_dead_scheduler_loop_is_started_again(monkeypatch, caplog):
    """APScheduler's loop raising (what an unguarded job store does) ends one scheduler;
    the supervisor logs it with its traceback and starts another."""
    real = BlockingScheduler._process_jobs
    left = [1]

    def process(self: Any) -> Any:
        if left[0]:
            left[0] -= 1
            raise locked()
        return real(self)

    monkeypatch.setattr(BlockingScheduler, "_process_jobs", process)
    calls = threading.Semaphore(0)
    sup = Supervisor(calls.release, poll_seconds=0.1).start()
    try:
        wait_for(lambda: calls.acquire(timeout=0.1))
    finally:
        sup.shutdown()
    assert left == [0]
    assert "the re-planning scheduler failed" in caplog.text
    assert "Traceback" in caplog.text and "database is locked" in caplog.text


def test_release_never_masks_the_error_that_ended_the_worker(db_url, monkeypatch, caplog):
    def boom(_self: Any) -> None:
        raise RuntimeError("the first error")

    def no_release(*_a: Any) -> None:
        raise locked()

    monkeypatch.setattr(Supervisor, "run", boom)
    monkeypatch.setattr(w, "release", no_release)
    with pytest.raises(RuntimeError, match="the first error"):
        w.run(db_url, QUICK, poll_seconds=1, clock=Clock.parse(T0.isoformat()))
    assert "could not release the lease" in caplog.text


# --- the heartbeat -------------------------------------------------------------------


class Ticking:
    """A clock one minute later at each reading (lease renewals then differ)."""

    def __init__(self, start: datetime) -> None:
        self.t = start
        self.fixed = None

    def now(self) -> datetime:
        self.t += timedelta(minutes=1)
        return self.t


def test_heartbeat_goes_on_during_a_solve_and_renews_the_lease(engine):
    clock = Ticking(T0)
    heart = Heart(engine, "solver", clock, interval=0.05)  # type: ignore[arg-type]
    assert acquire(engine, "solver", T0, 60)

    def lease() -> datetime:
        with transaction(engine) as s:
            lock = s.get(m.Lock, w.LOCK)
            assert lock is not None and lock.owner == "solver"
            return lock.expires_at

    def beat() -> w.Beat:
        with transaction(engine) as s:
            return read_beats(s)["solver"]

    with heart.solving(lease_seconds=60):
        first = beat()
        assert first.state == "solving" and first.since is not None
        wait_for(lambda: beat().wall > first.wall and lease() > T0 + timedelta(minutes=2))
        assert beat().state == "solving"
    assert heart.state == "idle"


def test_a_waiting_worker_beats_beside_the_lease_holder(engine):
    seeded(engine)
    holder = Replanner(engine, QUICK, Clock(fixed=T0), "holder")
    other = Replanner(engine, QUICK, Clock(fixed=T0), "other")
    assert holder.tick() is not None  # the first plan
    assert other.tick() is None
    with transaction(engine) as s:
        beats = read_beats(s)
    assert beats["holder"].state == "idle" and beats["other"].state == "waiting"
    assert beats["holder"].at == T0  # the worker's clock, beside the machine's
    assert abs(beats["other"].wall - datetime.now()) < timedelta(minutes=5)


def test_a_heartbeat_that_cannot_be_written_is_not_fatal(tmp_path, caplog):
    gone = make_engine(f"sqlite:///{tmp_path / 'missing' / 'x.sqlite'}")
    heart = Heart(gone, "w", Clock(fixed=T0))
    assert heart.beat("idle") is False
    assert heart.beat("idle") is False
    assert caplog.text.count("writing the worker heartbeat failed:") == 1
    gone.dispose()


def test_old_beats_are_dropped(engine):
    old = w.Beat("old", T0, datetime.now() - timedelta(hours=2), "idle")
    w.write_beat(engine, old)
    w.write_beat(engine, replace(old, owner="new", wall=datetime.now()))
    with transaction(engine) as s:
        assert set(read_beats(s)) == {"new"}
