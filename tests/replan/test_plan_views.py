"""The published plan's stored views: made once at publish, equal to the evaluator, kept few."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from scheduler.evaluate import evaluate
from scheduler.replan import views
from scheduler.replan.core import ReplanSettings, plan_of, planning_problem, published, replan_once
from scheduler.replan.events import batch_status
from scheduler.spec_io import load_instance
from scheduler.store import models as m
from scheduler.store.db import transaction
from scheduler.store.world import seed

T0 = datetime(2022, 1, 9, 8, 0)
FAST = ReplanSettings(time_limit=2.0, seed=1)


def _seeded(engine) -> None:  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        seed(s, load_instance("fixtures/county"), now=T0)


def _outcomes(s, plan_id: int) -> dict[str, m.PlanOutcome]:  # type: ignore[no-untyped-def]
    rows = s.scalars(select(m.PlanOutcome).where(m.PlanOutcome.plan_id == plan_id))
    return {r.batch_id: r for r in rows}


def test_publishing_stores_the_evaluators_outcomes(engine):
    _seeded(engine)
    with transaction(engine) as s:
        out = replan_once(s, T0, settings=FAST)
        assert out.published
        problem, _ = planning_problem(s, T0)
        pub = published(s)
        assert pub is not None
        plan = plan_of(pub)
        ev = evaluate(problem, plan)
        stored = _outcomes(s, pub.id)
        assert set(stored) == {b.batch_id for b in problem.batches}
        for bid, oc in ev.per_batch.items():
            row = stored[bid]
            assert (row.lab_id, row.result_at, row.on_time) == (oc.lab_id, oc.result_at, oc.on_time)
            assert abs(row.late_h - oc.late_h) < 1e-9
            if oc.lab_id is not None:
                chunks = sorted((c.slot_start, c.tubes) for c in plan.chunks if c.batch_id == bid)
                assert [(datetime.fromisoformat(a), k) for a, k in row.slots] == chunks
                assert row.first_slot == chunks[0][0]
        # each lab's load is the plan's tubes at that lab, slot by slot
        for load in s.scalars(select(m.PlanLabLoad).where(m.PlanLabLoad.plan_id == pub.id)):
            assert sum(load.load) == sum(c.tubes for c in plan.chunks if c.lab_id == load.lab_id)
            assert all(
                0 <= left <= cap for left, cap in zip(load.capacity, load.nominal, strict=True)
            )
        doc = s.get(m.PlanSummary, pub.id)
        assert doc is not None
        assert doc.figures["kpis"]["score"] == ev.score


def test_a_status_change_touches_no_view(engine):
    _seeded(engine)
    with transaction(engine) as s:
        replan_once(s, T0, settings=FAST)
        pub = published(s)
        assert pub is not None
        made = s.get(m.PlanSummary, pub.id)
        assert made is not None
        before = {bid: (r.lab_id, r.result_at) for bid, r in _outcomes(s, pub.id).items()}
        some = next(bid for bid, (lab, _) in before.items() if lab is not None)
        batch_status(s, some, "received", now=T0 + timedelta(minutes=5), lab_id=before[some][0])
        s.flush()
        assert s.scalar(select(func.count()).select_from(m.PlanSummary)) == 1
        after = {bid: (r.lab_id, r.result_at) for bid, r in _outcomes(s, pub.id).items()}
        assert after == before


def test_only_the_newest_versions_keep_their_views(engine):
    _seeded(engine)
    ids = []
    with transaction(engine) as s:
        for k in range(views.KEEP_VERSIONS + 2):
            # a pin changes the inputs, so every re-plan publishes
            b = s.scalars(select(m.Batch).order_by(m.Batch.batch_id).offset(k)).first()
            assert b is not None
            b.pinned_lab = s.scalars(select(m.Lab.lab_id).order_by(m.Lab.lab_id)).first()
            out = replan_once(s, T0 + timedelta(minutes=k), settings=FAST)
            assert out.published
            ids.append(out.version_id)
        kept = set(s.scalars(select(m.PlanSummary.plan_id)))
        assert kept == set(ids[-views.KEEP_VERSIONS :])
        outcome_plans = set(s.scalars(select(m.PlanOutcome.plan_id).distinct()))
        assert outcome_plans == kept


def test_a_version_without_views_gets_them_once(engine):
    _seeded(engine)
    with transaction(engine) as s:
        replan_once(s, T0, settings=FAST)
        pub = published(s)
        assert pub is not None
        original = {bid: (r.lab_id, r.result_at) for bid, r in _outcomes(s, pub.id).items()}
        # as a database upgraded with a published plan from before the views
        for model in (m.PlanOutcome, m.PlanLabLoad, m.PlanSummary):
            s.execute(delete(model))
    with transaction(engine) as s:
        pub = published(s)
        assert pub is not None
        views.ensure(s, pub, T0)
    with transaction(engine) as s:
        rebuilt = {bid: (r.lab_id, r.result_at) for bid, r in _outcomes(s, pub.id).items()}
        assert rebuilt == original
        made = s.get(m.PlanSummary, pub.id)
        assert made is not None
        views.ensure(s, pub, T0 + timedelta(hours=1))
        assert s.get(m.PlanSummary, pub.id).made_at == made.made_at
