"""The worker: one per database, debounced re-plans, a simulated day, and SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scheduler.domain import BATCH_STATES
from scheduler.evaluate import evaluate
from scheduler.fixturegen import generate, write_fixture
from scheduler.ingest.upload import IngestSettings, upload
from scheduler.replan import events
from scheduler.replan.core import ReplanSettings, plan_of, planning_problem, published
from scheduler.replan.worker import WorkerSettings, acquire, release, tick
from scheduler.store import models as m
from scheduler.store.db import make_engine, transaction
from scheduler.store.world import seed

T0 = datetime(2022, 1, 9, 7, 0)


def test_one_worker_per_database(engine):
    assert acquire(engine, "a", T0, 60)
    assert not acquire(engine, "b", T0 + timedelta(seconds=30), 60)
    assert acquire(engine, "a", T0 + timedelta(seconds=30), 60)  # renewal
    assert acquire(engine, "b", T0 + timedelta(seconds=200), 60)  # a's lease ran out
    release(engine, "b")
    assert acquire(engine, "c", T0 + timedelta(seconds=201), 60)


def test_events_are_debounced(engine):
    from scheduler.spec_io import load_instance

    with transaction(engine) as s:
        seed(s, load_instance("fixtures/county"), now=T0)
    ws = WorkerSettings(
        interval_minutes=60, debounce_seconds=60, replan=ReplanSettings(time_limit=2.0)
    )
    assert tick(engine, T0, ws, "w").reason == "first plan"
    assert tick(engine, T0 + timedelta(minutes=1), ws, "w") is None  # nothing new
    with transaction(engine) as s:
        lab = s.scalar(select(m.Lab.lab_id))
        events.lab_status(s, lab, now=T0 + timedelta(minutes=2), capacity_per_hour=1)
    assert tick(engine, T0 + timedelta(minutes=2, seconds=30), ws, "w") is None  # debounce
    out = tick(engine, T0 + timedelta(minutes=3, seconds=5), ws, "w")
    assert out is not None and out.reason == "inputs changed"
    assert tick(engine, T0 + timedelta(minutes=70), ws, "w") is not None  # periodic


def test_worker_job_runs_on_its_clock(db_url, engine):
    """``natsched worker --clock``: the job plans for the worker's day, not the machine's."""
    from scheduler.clock import Clock
    from scheduler.replan.worker import settings_to_args, tick_job
    from scheduler.spec_io import load_instance

    with transaction(engine) as s:
        seed(s, load_instance("fixtures/county"), now=T0)
    clock = Clock.parse(T0.isoformat())
    ws = WorkerSettings(replan=ReplanSettings(time_limit=2.0))
    tick_job(db_url, settings_to_args(ws), clock.offset.total_seconds())
    with transaction(engine) as s:
        pub = published(s)
        assert pub is not None
        # the next slot after the worker's now (the machine's would be years later)
        assert T0 <= pub.plan_start <= T0 + timedelta(hours=2)


def test_worker_refuses_a_fixed_clock(capsys):
    from natsched.cli import main

    assert main(["worker", "--db", "sqlite://", "--clock", "fixed:2022-01-09T07:00"]) == 2
    assert "runs on" in capsys.readouterr().err


def _advance(session, now: datetime, seen: dict[str, tuple[str, datetime, datetime]]) -> int:
    """What the labs and couriers did by ``now``, following the plans as published.

    ``seen`` keeps each batch's lab and slots from the last published plan that
    held it: a box received by a lab leaves the plan (it is the lab's backlog)
    but is still worked on.
    """
    pub = published(session)
    if pub is not None:
        rows: dict[str, list[m.PlanRow]] = {}
        for r in pub.rows:
            rows.setdefault(r.batch_id, []).append(r)
        for bid, rs in rows.items():
            seen[bid] = (
                rs[0].lab_id,
                min(r.slot_start for r in rs),
                max(r.slot_start for r in rs),
            )
    run = {lab.lab_id: lab.run_minutes for lab in session.scalars(select(m.Lab))}
    slot = timedelta(hours=1)
    changed = 0
    order = BATCH_STATES
    for bid, (lab, first, last) in seen.items():
        b = session.get(m.Batch, bid)
        if b is None or b.status == "resulted":
            continue
        steps = [
            ("picked_up", b.ready_at),
            ("received", first),
            ("processing", first),
            ("resulted", last + slot + timedelta(minutes=run[lab])),
        ]
        target = None
        for state, at in steps:
            if now >= at:
                target = state
        if target and order.index(target) > order.index(b.status):
            events.batch_status(session, bid, target, now=now, user="sim", lab_id=lab)
            changed += 1
    return changed


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["city"])
def test_simulated_day(engine, tmp_path, preset, capsys):
    fx = generate(preset)
    folder = write_fixture(fx, tmp_path / preset)
    with transaction(engine) as s:
        seed(s, fx.problem, now=T0, with_batches=False)
    files = sorted((folder / "uploads").iterdir())
    ws = WorkerSettings(
        interval_minutes=60, debounce_seconds=60, replan=ReplanSettings(time_limit=2.0, seed=1)
    )
    loose = IngestSettings(max_future_hours=24)
    labs = sorted(lab.lab_id for lab in fx.problem.labs)
    down = labs[len(labs) // 2]
    moved: list[int] = []
    versions_seen = 0
    pinned_before: dict[str, str] = {}
    seen: dict[str, tuple[str, datetime, datetime]] = {}
    now = T0
    while now <= T0 + timedelta(hours=30):
        with transaction(engine) as s:
            hour = int((now - T0) / timedelta(hours=1))
            if now.minute == 0 and hour < len(files):
                f = files[hour]
                rep = upload(
                    s, f.read_bytes(), f.name, f.stem, user="county", now=now, settings=loose
                )
                assert rep.status == "stored", rep.errors[:3]
            if now == T0 + timedelta(hours=3):
                events.lab_status(
                    s, down, now=now, outage_from=now, outage_to=now + timedelta(hours=3)
                )
            if now in (T0 + timedelta(hours=4), T0 + timedelta(hours=8)):
                pooled = s.scalar(
                    select(m.Batch)
                    .where(m.Batch.priority == "routine", m.Batch.status != "resulted")
                    .order_by(m.Batch.batch_id)
                )
                if pooled is not None:
                    events.positive_pool(s, pooled.batch_id, now=now, recall_minutes=60)
            _advance(s, now, seen)
            # boxes on the road or in a lab are frozen: remember where they are
            for b in s.scalars(
                select(m.Batch).where(m.Batch.status.in_(("picked_up", "received")))
            ):
                if b.pinned_lab:
                    pinned_before.setdefault(b.batch_id, b.pinned_lab)
        # an event's re-plan comes after the debounce, at the next tick
        out = tick(engine, now + timedelta(seconds=61), ws, "sim-worker")
        if out is not None:
            versions_seen += 1
            moved.append(out.moved)
            with transaction(engine) as s:
                problem, _ = planning_problem(s, now + timedelta(seconds=61))
                pub = published(s)
                assert pub is not None
                if pub.id == out.version_id:
                    assert evaluate(problem, plan_of(pub)).valid
                lab_now = plan_of(pub).lab_of()
                for bid, lab in pinned_before.items():
                    if bid in lab_now:
                        assert lab_now[bid] == lab, f"frozen batch {bid} moved"
        now += timedelta(hours=1)
    with transaction(engine) as s:
        pub = published(s)
        assert pub is not None
        in_plan = plan_of(pub).lab_of()
        # not yet resulted and not held by a lab (received, processing): must be planned
        waiting = s.scalars(
            select(m.Batch.batch_id).where(m.Batch.status.in_(("planned", "picked_up")))
        ).all()
        missing = [b for b in waiting if b not in in_plan]
        assert not missing, f"{len(missing)} batches are neither tested nor planned"
        tested = s.scalar(
            select(func.count()).select_from(m.Batch).where(m.Batch.status == "resulted")
        )
        n_batches = s.scalar(select(func.count()).select_from(m.Batch))
    with capsys.disabled():
        print(
            f"\nsimulated day ({preset}): {versions_seen} plan versions, {n_batches} batches "
            f"({tested} tested by the end), "
            f"moved between consecutive plans: max {max(moved)}, mean {sum(moved) / len(moved):.1f}"
        )
    assert versions_seen >= 10
    assert max(moved) <= 0.1 * n_batches


def test_worker_survives_sigkill(db_url, tmp_path):
    """Kill -9 the worker mid-solve: the published plan is intact, and a new worker goes on."""
    from scheduler.domain import shifted
    from scheduler.spec_io import load_instance

    eng = make_engine(db_url)
    # the worker plans on the wall clock: move the demo day to today
    demo = load_instance("fixtures/demo")
    today = datetime.now().replace(minute=0, second=0, microsecond=0)
    with transaction(eng) as s:
        seed(s, shifted(demo, today - demo.config.plan_start), now=today)
    ws = WorkerSettings(replan=ReplanSettings(time_limit=2.0))
    first = tick(eng, datetime.now().replace(microsecond=0), ws, "test")
    assert first is not None and first.published
    release(eng, "test")
    with transaction(eng) as s:
        events.lab_status(
            s, s.scalar(select(m.Lab.lab_id)), now=datetime.now(), capacity_per_hour=3
        )
    env = {**os.environ, "NATSCHED_DATABASE_URL": db_url}
    # no move penalty: the neighbourhood search then uses the whole minute
    cmd = [sys.executable, "-m", "natsched", "worker", "--poll-seconds", "1"]
    cmd += ["--debounce-seconds", "0", "--time-limit", "60", "--lease-seconds", "5"]
    cmd += ["--move-penalty", "0"]
    log = (tmp_path / "worker.log").open("wb")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log, cwd=root)
    try:
        # wait until it holds the lease and is solving (the solve takes up to 60 s)
        deadline = time.time() + 60
        while time.time() < deadline:
            with transaction(eng) as s:
                lock = s.get(m.Lock, "replan-worker")
                if lock is not None and lock.owner.endswith(f":{proc.pid}"):
                    break
            time.sleep(0.2)
        else:
            pytest.fail("worker never took the lease: " + (tmp_path / "worker.log").read_text())
        # kill it only once its solve has begun: its version row says "running"
        while time.time() < deadline:
            with transaction(eng) as s:
                if s.scalar(select(m.PlanVersion.id).where(m.PlanVersion.status == "running")):
                    break
            time.sleep(0.2)
        else:
            pytest.fail(
                "the worker never started solving: " + (tmp_path / "worker.log").read_text()
            )
        time.sleep(1)  # in the middle of the solve (a minute long)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    log.close()
    with transaction(eng) as s:
        pub = published(s)
        assert pub is not None and pub.id == first.version_id
        # nothing half-written: only the dead solve's "running" row, with no plan rows
        others = s.scalars(select(m.PlanVersion).where(m.PlanVersion.id != first.version_id)).all()
        assert [v.status for v in others] == ["running"]
        assert not others[0].rows
        dead = [v.id for v in others]
    # restart the worker: once the dead one's lease runs out it re-plans
    cmd2 = [*cmd[:9], "2", *cmd[10:]]  # a short time limit this time
    assert cmd[8] == "--time-limit"
    proc2 = subprocess.Popen(
        cmd2, env=env, stdout=subprocess.DEVNULL, stderr=log2(tmp_path), cwd=root
    )
    try:
        deadline = time.time() + 90
        newer = None
        while time.time() < deadline and newer is None:
            time.sleep(0.5)
            with transaction(eng) as s:
                pub = published(s)
                if pub is not None and pub.id != first.version_id:
                    newer = pub.id
        assert newer is not None, (tmp_path / "worker2.log").read_text()[-3000:]
        with transaction(eng) as s:
            # the new worker marked the dead solve failed, with a reason
            for vid in dead:
                v = s.get(m.PlanVersion, vid)
                assert v is not None and v.status == "failed" and "interrupted" in v.error
    finally:
        proc2.terminate()
        proc2.wait(20)
    eng.dispose()


def log2(tmp_path: Path):
    return (tmp_path / "worker2.log").open("wb")
