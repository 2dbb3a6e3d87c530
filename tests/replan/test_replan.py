"""Re-planning on a rolling horizon: freezing, publishing, events, diffs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from scheduler.domain import Chunk, Plan
from scheduler.evaluate import evaluate
from scheduler.replan.core import (
    ReplanSettings,
    decide,
    plan_of,
    planning_problem,
    published,
    replan_once,
)
from scheduler.replan.diff import diff_plans
from scheduler.replan.events import EventError, batch_status, lab_status, positive_pool
from scheduler.replan.executors import SolveRequest
from scheduler.result import Result
from scheduler.solve import solve
from scheduler.spec_io import load_instance
from scheduler.store import models as m
from scheduler.store.db import transaction
from scheduler.store.world import seed
from tests.support.builders import batch as tiny_batch
from tests.support.builders import lab as tiny_lab
from tests.support.builders import problem as tiny_problem

T0 = datetime(2022, 1, 9, 8, 0)
FAST = ReplanSettings(time_limit=3.0, seed=1)


@pytest.fixture
def county_world(engine):
    problem = load_instance("fixtures/county")
    with transaction(engine) as s:
        seed(s, problem, now=T0)
    return problem


def test_first_replan_publishes_a_valid_plan(engine, county_world):
    with transaction(engine) as s:
        out = replan_once(s, T0 + timedelta(minutes=5), settings=FAST)
        assert out.published and out.reason == "first plan"
        problem, _ = planning_problem(s, T0 + timedelta(minutes=5))
        pub = published(s)
        assert pub is not None and pub.id == out.version_id
        assert evaluate(problem, plan_of(pub)).valid


class Returns:
    """An executor whose plan is ``make(request)``: a re-plan's outcome chosen by the test."""

    def __init__(self, make: Callable[[SolveRequest], Plan]) -> None:
        self.make = make

    def solve(self, request: SolveRequest) -> Result:
        plan = self.make(request)
        ev = evaluate(request.problem, plan)
        return Result("test", "feasible", plan, ev.score, None, None, ev)


def _greedy(request: SolveRequest) -> Plan:
    # deterministic: the same inputs give the same plan on any machine
    return solve(request.problem, solver="greedy").plan


def _published_without_one_batch(request: SolveRequest) -> Plan:
    """The published plan with one batch left unassigned: still valid, and strictly worse."""
    assert request.initial_plan is not None and request.initial_plan.chunks
    drop = min(c.batch_id for c in request.initial_plan.chunks)
    return Plan(tuple(c for c in request.initial_plan.chunks if c.batch_id != drop))


def test_unchanged_inputs_do_not_publish_a_worse_plan(engine, county_world):
    with transaction(engine) as s:
        first = replan_once(s, T0, settings=FAST, executor=Returns(_greedy))
        again = replan_once(s, T0, settings=FAST, executor=Returns(_published_without_one_batch))
        assert again.score is not None and first.score is not None
        assert again.score > first.score
        assert not again.published
        assert again.reason.startswith("worse than the published plan"), again.reason
        pub = published(s)
        assert pub is not None and pub.id == first.version_id
        stored = s.get(m.PlanVersion, again.version_id)
        assert stored is not None and not stored.published
        assert stored.figures["decision"] == again.reason


def test_unchanged_inputs_publish_an_equal_plan(engine, county_world):
    with transaction(engine) as s:
        first = replan_once(s, T0, settings=FAST, executor=Returns(_greedy))
        # the warm start itself, unchanged: equal counts as better
        again = replan_once(
            s, T0, settings=FAST, executor=Returns(lambda r: r.initial_plan or Plan(()))
        )
        assert again.score == first.score
        assert again.published and again.reason.startswith("better or equal"), again.reason
        pub = published(s)
        assert pub is not None and pub.id == again.version_id


def test_a_published_plan_that_no_longer_fits_is_replaced_even_by_a_worse_one(engine, county_world):
    """Nothing changed but the clock: a box half in the past no longer fits its plan."""
    with transaction(engine) as s:
        first = replan_once(s, T0, settings=FAST, executor=Returns(_greedy))
        pub = published(s)
        assert pub is not None and pub.id == first.version_id
        slots: dict[str, list[datetime]] = {}
        for c in plan_of(pub).chunks:
            slots.setdefault(c.batch_id, []).append(c.slot_start)
        # the greedy plan of the county fixture runs 9 boxes over several slots
        split = sorted((min(v), b) for b, v in slots.items() if len(set(v)) > 1)
        assert split, "the county's greedy plan runs no box over two slots"
        first_slot, bid = split[0]
        later = sorted(set(slots[bid]))[1]  # its second slot: the first is now past
        # the new plan leaves everything unassigned, far worse than any plan
        out = replan_once(s, later, settings=FAST, executor=Returns(lambda r: Plan(())))
        assert out.reason == "the published plan no longer fits", out.reason
        assert out.published
        pub = published(s)
        assert pub is not None and pub.id == out.version_id
        problem, _ = planning_problem(s, later)
        assert first_slot < later and bid in problem.batch_index


def test_decide_names_each_branch():
    """The publishing rule alone, on a hand-made problem (one lab, one box of 10 tubes)."""
    p = tiny_problem(labs=[tiny_lab("L1")], batches=[tiny_batch("B1")])
    slot = p.config.plan_start + timedelta(hours=1)  # the first slot the box reaches L1 in
    good = Plan((Chunk("B1", "L1", slot, 10),))
    half = Plan((Chunk("B1", "L1", slot, 5),))  # 5 of 10 tubes: breaks SPEC rule 2
    assert evaluate(p, good).valid and not evaluate(p, half).valid
    score = evaluate(p, good).score
    prev = m.PlanVersion(figures={"inputs": "same"})
    assert decide(p, good, score, "same", None) == (True, "first plan")
    assert decide(p, good, score + 1, "other", prev) == (True, "inputs changed")
    assert decide(p, half, score, "same", prev) == (True, "the published plan no longer fits")
    publish, why = decide(p, good, score, "same", prev)
    assert publish and why.startswith("better or equal")
    publish, why = decide(p, good, score + 1, "same", prev)
    assert not publish and why.startswith("worse than the published plan")
    # no published plan left in the horizon: an empty plan is valid, every batch unassigned
    publish, why = decide(p, None, score, "same", prev)
    assert publish and why.startswith("better or equal")


def test_frozen_batches_keep_their_lab(engine, county_world):
    now = T0 + timedelta(minutes=10)
    with transaction(engine) as s:
        replan_once(s, now, settings=FAST)
        before = plan_of(published(s)).lab_of()
        some = sorted(before)[:3]
        batch_status(s, some[0], "picked_up", now=now, lab_id=before[some[0]])
        # a lab goes down: everything not frozen may move, the box on the road may not
        lab_status(s, before[some[0]], now=now, outage_from=now, outage_to=now + timedelta(hours=3))
        out = replan_once(s, now + timedelta(minutes=1), settings=FAST)
        assert out.published
        after = plan_of(published(s)).lab_of()
        assert after[some[0]] == before[some[0]]


def test_received_boxes_become_backlog(engine, county_world):
    now = T0 + timedelta(minutes=10)
    with transaction(engine) as s:
        replan_once(s, now, settings=FAST)
        before = plan_of(published(s)).lab_of()
        bid = sorted(before)[0]
        batch_status(s, bid, "received", now=now, lab_id=before[bid])
        problem, _ = planning_problem(s, now)
        assert bid not in problem.batch_index
        lab = next(x for x in problem.labs if x.lab_id == before[bid])
        orig = next(x for x in county_world.labs if x.lab_id == before[bid])
        assert lab.backlog_tubes > orig.backlog_tubes


def test_positive_pool_creates_a_traceable_retest(engine, county_world):
    with transaction(engine) as s:
        pooled = s.scalar(select(m.Batch).where(m.Batch.priority == "routine"))
        assert pooled is not None
        r = positive_pool(s, pooled.batch_id, now=T0, recall_minutes=90)
        retest = s.get(m.Batch, r.batch_id)
        assert retest is not None
        assert retest.parent_batch_id == pooled.batch_id
        assert retest.priority == "urgent" and retest.isolation
        assert retest.collected_at == T0 + timedelta(minutes=90)
        assert retest.tubes == r.tubes > 1
        assert s.get(m.Setting, "replan_request") is not None


def test_events_refuse_nonsense(engine, county_world):
    with transaction(engine) as s:
        with pytest.raises(EventError, match="unknown lab"):
            lab_status(s, "NOPE", now=T0, capacity_per_hour=5)
        bid = s.scalar(select(m.Batch.batch_id))
        batch_status(s, bid, "received", now=T0)
        with pytest.raises(EventError, match="cannot go back"):
            batch_status(s, bid, "planned", now=T0)


def test_diff_names_moves_and_why(engine, county_world):
    now = T0 + timedelta(minutes=10)
    with transaction(engine) as s:
        a = replan_once(s, now, settings=FAST).version_id
        lab = s.scalar(select(m.Lab.lab_id).order_by(m.Lab.capacity_per_hour.desc()))
        lab_status(s, lab, now=now + timedelta(minutes=1), capacity_per_hour=0)
        b = replan_once(s, now + timedelta(minutes=2), settings=FAST).version_id
        moves = diff_plans(s, a, b)
        assert moves
        off = [mv for mv in moves if mv.from_lab == lab and mv.to_lab not in (lab, None)]
        assert off and all("capacity change" in mv.why for mv in off)


def test_failed_solve_keeps_the_published_plan(engine, county_world):
    class Broken:
        def solve(self, request):
            raise RuntimeError("solver crashed")

    with transaction(engine) as s:
        first = replan_once(s, T0, settings=FAST)
        out = replan_once(s, T0 + timedelta(minutes=5), settings=FAST, executor=Broken())
        assert not out.published and "solver crashed" in out.reason
        pub = published(s)
        assert pub is not None and pub.id == first.version_id
        failed = s.get(m.PlanVersion, out.version_id)
        assert failed is not None and failed.status == "failed" and "crashed" in failed.error


def test_upload_and_pin_request_a_replan(engine):
    from datetime import datetime as dt

    from scheduler.ingest.upload import IngestSettings, upload
    from scheduler.replan.events import pin_batch

    problem = load_instance("fixtures/demo")
    with transaction(engine) as s:
        seed(s, problem, now=T0, with_batches=False)
    with transaction(engine) as s:
        from pathlib import Path

        data = Path("fixtures/demo/uploads/411003.csv").read_bytes()
        upload(
            s,
            data,
            "411003.csv",
            "411003",
            user="x",
            now=dt(2022, 1, 9, 8, 0),
            settings=IngestSettings(max_future_hours=24),
        )
        req = s.get(m.Setting, "replan_request")
        assert req is not None and "upload 411003.csv" in req.value["reasons"][-1]
        bid = s.scalar(select(m.Batch.batch_id))
        pin_batch(s, bid, problem.labs[0].lab_id, now=dt(2022, 1, 9, 8, 5))
        assert s.get(m.Batch, bid).pinned_lab == problem.labs[0].lab_id
        problem2, _ = planning_problem(s, dt(2022, 1, 9, 8, 5))
        assert problem2.batches[problem2.batch_index[bid]].pinned_lab == problem.labs[0].lab_id


def test_writes_go_on_while_a_replan_solves(engine, db_url, county_world):
    """The solve holds no transaction: a status change commits while it runs."""
    from sqlalchemy import create_engine

    from scheduler.replan.core import replan
    from scheduler.replan.executors import InProcessExecutor
    from scheduler.store.db import make_engine

    with transaction(engine) as s:
        first = replan_once(s, T0, settings=FAST)
        batch = s.scalars(
            select(m.PlanRow.batch_id).where(m.PlanRow.plan_id == first.version_id)
        ).first()
    # another process with little patience: with SQLite a held write lock fails it in 1 s
    other = (
        create_engine(db_url, connect_args={"timeout": 1})
        if db_url.startswith("sqlite")
        else make_engine(db_url)
    )
    seen: dict[str, str] = {}

    class WritesMeanwhile:
        def solve(self, request):  # type: ignore[no-untyped-def]
            with transaction(other) as s2:
                batch_status(s2, batch, "picked_up", now=T0 + timedelta(minutes=6))
            with transaction(other) as s2:
                running = s2.get(m.PlanVersion, first.version_id + 1)
                seen["status"] = running.status if running else "missing"
            return InProcessExecutor().solve(request)

    try:
        out = replan(engine, T0 + timedelta(minutes=5), settings=FAST, executor=WritesMeanwhile())
    finally:
        other.dispose()
    assert seen["status"] == "running"
    assert out.score is not None
    with transaction(engine) as s:
        b = s.get(m.Batch, batch)
        assert b is not None and b.status == "picked_up"
