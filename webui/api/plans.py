"""Plan versions: the list, one version with its KPIs, its rows, a diff, the published KPIs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response
from sqlalchemy import func, select

from scheduler.replan.diff import diff_plans
from scheduler.store import models as m
from webui import db
from webui.api import schemas as sc
from webui.api.blueprint import answer, route
from webui.api.scope import not_found, paged
from webui.views import planview

OPS = ("ops",)
PLAN = f"/plans/<int(max={sc.MAX_INT_ID}):plan_id>"


def _plan_out(v: m.PlanVersion) -> dict[str, Any]:
    return {
        "id": v.id,
        "created_at": v.created_at,
        "plan_start": v.plan_start,
        "solver": v.solver,
        "status": v.status,
        "score": v.score,
        "bound": v.bound,
        "gap": v.gap,
        "published": v.published,
        "error": v.error,
    }


def _kpi(d: dict[str, Any]) -> sc.PriorityKpiOut:
    tubes = int(d.get("tubes", 0))
    on_time = int(d.get("tubes_on_time", 0))
    return sc.PriorityKpiOut(
        tubes=tubes,
        tubes_on_time=on_time,
        on_time_rate=on_time / tubes if tubes else None,
        assigned_tubes=int(d.get("assigned_tubes", 0)),
        unassigned_tubes=int(d.get("unassigned_tubes", 0)),
        batches=int(d.get("batches", 0)),
        mean_tat_h=d.get("mean_tat_h"),
        p95_tat_h=d.get("p95_tat_h"),
        cost=float(d.get("cost", 0.0)),
    )


def _plan(plan_id: int) -> m.PlanVersion:
    v = db.session().get(m.PlanVersion, plan_id)
    if v is None:
        raise not_found(f"plan version {plan_id}")
    return v


@route(
    "GET",
    "/plans",
    summary="Plan versions, newest first",
    roles=OPS,
    responses={200: sc.PlanList},
    tag="plans",
)
def list_plans(query: sc.PlanQuery) -> Response:
    stmt = select(m.PlanVersion).order_by(m.PlanVersion.id.desc())
    if query.published is not None:
        stmt = stmt.where(m.PlanVersion.published.is_(query.published))
    return answer(
        paged(sc.PlanList, stmt, query, lambda rows: [sc.PlanOut(**_plan_out(r[0])) for r in rows])
    )


@route(
    "GET",
    PLAN,
    summary="One plan version with its KPIs (as evaluated when it was made)",
    roles=OPS,
    responses={200: sc.PlanDetail},
    tag="plans",
)
def get_plan(path: sc.PlanPath) -> Response:
    v = _plan(path.plan_id)
    s = db.session()
    n_rows, n_batches = s.execute(
        select(func.count(m.PlanRow.id), func.count(func.distinct(m.PlanRow.batch_id))).where(
            m.PlanRow.plan_id == v.id
        )
    ).one()
    figures = v.figures or {}
    per = figures.get("per_priority") or {}
    moved = figures.get("moved")
    decision = figures.get("decision")
    return answer(
        sc.PlanDetail(
            **_plan_out(v),
            rows=int(n_rows),
            batches=int(n_batches),
            moved=int(moved) if isinstance(moved, int) else None,
            decision=str(decision) if decision is not None else None,
            per_priority={k: _kpi(d) for k, d in per.items() if isinstance(d, dict)},
        )
    )


@route(
    "GET",
    f"{PLAN}/rows",
    summary="A plan version's rows (batch, lab, slot, tubes), paged",
    roles=OPS,
    responses={200: sc.RowList},
    tag="plans",
)
def plan_rows(path: sc.PlanPath, query: sc.RowQuery) -> Response:
    v = _plan(path.plan_id)
    stmt = (
        select(m.PlanRow)
        .where(m.PlanRow.plan_id == v.id)
        .order_by(m.PlanRow.lab_id, m.PlanRow.slot_start, m.PlanRow.batch_id, m.PlanRow.id)
    )
    if query.lab is not None:
        stmt = stmt.where(m.PlanRow.lab_id == query.lab)
    if query.batch is not None:
        stmt = stmt.where(m.PlanRow.batch_id == query.batch)
    return answer(
        paged(
            sc.RowList,
            stmt,
            query,
            lambda rows: [sc.RowOut.model_validate(r[0], from_attributes=True) for r in rows],
            plan_id=v.id,
        )
    )


@route(
    "GET",
    f"{PLAN}/diff/<int(max={sc.MAX_INT_ID}):other_id>",
    summary="What changed from one plan version to another, batch by batch, and why",
    roles=OPS,
    responses={200: sc.DiffOut},
    tag="plans",
)
def plan_diff(path: sc.PlanPairPath) -> Response:
    a, b = _plan(path.plan_id), _plan(path.other_id)
    moves = diff_plans(db.session(), a.id, b.id)
    return answer(
        sc.DiffOut(
            from_plan=a.id,
            to_plan=b.id,
            total=len(moves),
            moves=[sc.MoveOut.model_validate(mv, from_attributes=True) for mv in moves],
        )
    )


@route(
    "GET",
    "/kpis",
    summary="KPIs of the published plan: per-priority on-time rates, score, bound, gap",
    description="The evaluator's figures (scheduler.evaluate) of the published plan on the "
    "problem it was made for (from its start slot, finished batches out, boxes at labs as "
    "their backlog), computed once when it was published; bound and gap are the solver's.",
    roles=OPS,
    responses={200: sc.KpisOut},
    errors=(404,),
    tag="plans",
)
def kpis() -> Response:
    s = db.session()
    version = planview.current(s)
    doc = planview.summary(s, version.id) if version is not None else None
    if version is None or doc is None:
        raise not_found("published plan yet")
    k = doc["kpis"]
    made = s.get(m.PlanSummary, version.id)
    return answer(
        sc.KpisOut(
            plan_id=version.id,
            created_at=version.created_at,
            evaluated_at=made.made_at if made is not None else version.created_at,
            plan_start=datetime.fromisoformat(doc["plan_start"]),
            score=k["score"],
            # every plan is checked by the evaluator before it is stored
            valid=True,
            n_violations=0,
            solver_score=version.score,
            bound=version.bound,
            gap=version.gap,
            total_tubes=k["total_tubes"],
            assigned_tubes=k["assigned_tubes"],
            unassigned_tubes=k["unassigned_tubes"],
            per_priority={p: _kpi(v) for p, v in k["per_priority"].items()},
        )
    )
