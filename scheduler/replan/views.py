"""What the pages and the API show of a published plan, computed once when it is published.

A lab's schedule, a county's boxes and the province dashboard all show the
evaluator's outcomes of the published plan: arrival, slots, expected result,
due time, lateness, load against capacity, per-priority KPIs, the turnaround
histogram, the heatmap, the capacity shortfall and the map. Computing those
takes the whole province (a snapshot and an evaluation), so it is done here,
once per published version, on the very problem the plan was solved for, and
stored beside the version:

- ``plan_outcomes``: one row per batch, indexed by (plan, lab, first slot) and
  (plan, county), so a lab's page reads that lab's rows and a county's page
  its own;
- ``plan_lab_loads``: each lab's planned tubes and capacity, slot by slot;
- ``plan_summaries``: the province figures as one JSON document.

A box's live status is not copied: it stays in ``batches``, so a status
change updates that one row and nothing here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.domain import AT_LAB_STATES, Plan, Problem
from scheduler.evaluate import Evaluation, evaluate
from scheduler.explain import capacity_shortfall, explain_batch
from scheduler.network import Network, slot_capacity_matrix, travel_minutes_matrix
from scheduler.schedule import Schedule
from scheduler.store import models as m
from scheduler.store.world import snapshot

log = logging.getLogger(__name__)

#: views of this many newest published versions are kept (a page that read the
#: published id just before a new one came still finds its rows)
KEEP_VERSIONS = 3
HEATMAP_LABS = 60
HEATMAP_SLOTS = 48
TAT_BINS = (0, 2, 4, 6, 8, 12, 16, 24, 36, 48)
MAP_WIDTH, MAP_HEIGHT = 640, 480
#: late boxes explained at publish, most late first: each costs a pass over every lab
#: (about 0.2 s on the province's 864), so at most this many and for at most these seconds
EXPLAIN_MAX = 100
EXPLAIN_SECONDS = 5.0


@dataclass(frozen=True)
class PlanViews:
    """The rows and the figures of one plan, ready to store."""

    outcomes: list[dict[str, Any]]
    lab_loads: list[dict[str, Any]]
    figures: dict[str, Any]


def build(problem: Problem, plan: Plan, ev: Evaluation) -> PlanViews:
    """Every derived view of ``plan`` on ``problem`` (``ev`` is its evaluation)."""
    cfg = problem.config
    travel = travel_minutes_matrix(problem)
    chunks: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for c in plan.chunks:
        chunks[c.batch_id].append((c.slot_start, c.tubes))
    county_of_site = {s.site_id: s.county_code for s in problem.sites}
    outcomes = []
    for b in problem.batches:
        oc = ev.per_batch[b.batch_id]
        slots = sorted(chunks.get(b.batch_id, ())) if oc.lab_id is not None else []
        arrival = None
        if oc.lab_id is not None:
            minutes = travel[problem.site_index[b.site_id], problem.lab_index[oc.lab_id]]
            arrival = b.ready_at + timedelta(minutes=int(minutes))
        outcomes.append(
            {
                "batch_id": b.batch_id,
                "lab_id": oc.lab_id,
                "county_code": county_of_site[b.site_id],
                "first_slot": slots[0][0] if slots else None,
                "slots": [[at.isoformat(), k] for at, k in slots],
                "arrival_at": arrival,
                "result_at": oc.result_at,
                "due_at": problem.deadline_of(b),
                "tat_h": oc.tat_h,
                "late_h": oc.late_h,
                "on_time": oc.on_time,
                "site_id": b.site_id,
                "priority": b.priority,
                "why": [],
            }
        )
    _explain_late(problem, plan, ev, outcomes)
    cap, left = slot_capacity_matrix(problem)
    load = np.zeros_like(left)
    for c in plan.chunks:
        t = cfg.slot_index(c.slot_start)
        if t is not None:
            load[problem.lab_index[c.lab_id], t] += c.tubes
    starts = [cfg.slot_start(t) for t in range(cfg.n_slots)]
    lab_loads = [
        {
            "lab_id": lab.lab_id,
            "load": load[i].tolist(),
            "nominal": cap[i].tolist(),
            "capacity": left[i].tolist(),
        }
        for i, lab in enumerate(problem.labs)
    ]
    return PlanViews(outcomes, lab_loads, _figures(problem, plan, ev, load, left, starts))


def _explain_late(
    problem: Problem, plan: Plan, ev: Evaluation, outcomes: list[dict[str, Any]]
) -> None:
    """Fill ``why`` of the late outcomes: ``scheduler.explain``'s binding facts.

    Made here, once per published plan, because a page cannot rebuild the
    problem the plan was solved for; one network and schedule serve every box.
    Only the most late boxes are explained (``EXPLAIN_MAX``, ``EXPLAIN_SECONDS``):
    the drill-down says so of the others, which ``natsched explain`` still answers.
    """
    late = sorted((o for o in outcomes if not o["on_time"]), key=lambda o: -o["late_h"])
    if not late:
        return
    net = Network.build(problem)
    sched = Schedule.from_plan(net, plan)
    until = time.monotonic() + EXPLAIN_SECONDS
    for o in late[:EXPLAIN_MAX]:
        o["why"] = explain_batch(problem, plan, o["batch_id"], net=net, ev=ev, sched=sched).binding
        if time.monotonic() > until:  # the worker's publish waits for this
            break


def _figures(
    problem: Problem,
    plan: Plan,
    ev: Evaluation,
    load: np.ndarray,
    left: np.ndarray,
    starts: list[datetime],
) -> dict[str, Any]:
    """The province dashboard's figures and the API's KPIs, as JSON."""
    counts = [0] * len(TAT_BINS)
    for b in problem.batches:
        oc = ev.per_batch[b.batch_id]
        if oc.lab_id is None:
            continue
        i = max(k for k, lo in enumerate(TAT_BINS) if oc.tat_h >= lo)
        counts[i] += b.tubes
    labels = [
        f"{lo}-{TAT_BINS[i + 1]}" if i + 1 < len(TAT_BINS) else f">{lo}"
        for i, lo in enumerate(TAT_BINS)
    ]
    n = min(len(starts), HEATMAP_SLOTS)
    busiest = sorted(range(len(problem.labs)), key=lambda i: (-int(load[i].sum()), i))
    heat_rows = []
    for i in sorted(busiest[:HEATMAP_LABS], key=lambda i: problem.labs[i].lab_id):
        heat_rows.append(
            [
                problem.labs[i].lab_id,
                [float(load[i, t] / left[i, t]) if left[i, t] else -1.0 for t in range(n)],
            ]
        )
    # the map: sites by their worst outcome (0 on time, 1 late, 2 unassigned), labs by capacity
    worst: dict[str, int] = {}
    for b in problem.batches:
        oc = ev.per_batch[b.batch_id]
        state = 2 if oc.lab_id is None else (1 if oc.late_h > 0 else 0)
        worst[b.site_id] = max(worst.get(b.site_id, 0), state)
    points: list[dict[str, Any]] = [
        {
            "kind": "site",
            "id": s.site_id,
            "lat": s.lat,
            "lon": s.lon,
            "state": worst.get(s.site_id, -1),
        }
        for s in problem.sites
    ] + [
        {
            "kind": "lab",
            "id": lab.lab_id,
            "lat": lab.lat,
            "lon": lab.lon,
            "cap": lab.capacity_per_hour,
            "iso": lab.isolation_ok,
        }
        for lab in problem.labs
    ]
    project(points, MAP_WIDTH, MAP_HEIGHT)
    per_priority = {
        k: v.to_dict() | {"tubes_on_time": v.tubes_on_time} for k, v in ev.per_priority.items()
    }
    return {
        "plan_start": problem.config.plan_start.isoformat(),
        "slot_minutes": problem.config.slot_minutes,
        "kpis": {
            "score": ev.score,
            "total_tubes": ev.total_tubes,
            "assigned_tubes": ev.assigned_tubes,
            "unassigned_tubes": ev.unassigned_tubes,
            "per_priority": per_priority,
        },
        "tat_hist": [[label, c] for label, c in zip(labels, counts, strict=True)],
        "heat_hours": [s.strftime("%d %H") for s in starts[:n]],
        "heat_rows": heat_rows,
        "shortfall": capacity_shortfall(problem, plan).to_dict(),
        "sites": [p for p in points if p["kind"] == "site"],
        "labs": [p for p in points if p["kind"] == "lab"],
    }


def project(points: list[dict[str, Any]], width: int, height: int, pad: int = 12) -> None:
    """Add ``x``/``y`` to points with ``lat``/``lon`` (equirectangular, fit to the box)."""
    if not points:
        return
    lats = [p["lat"] for p in points]
    lons = [p["lon"] for p in points]
    la0, la1 = min(lats), max(lats)
    lo0, lo1 = min(lons), max(lons)
    sx = (width - 2 * pad) / max(lo1 - lo0, 1e-6)
    sy = (height - 2 * pad) / max(la1 - la0, 1e-6)
    s = min(sx, sy)
    for p in points:
        p["x"] = round(pad + (p["lon"] - lo0) * s, 1)
        p["y"] = round(height - pad - (p["lat"] - la0) * s, 1)


def store(session: Session, plan_id: int, views: PlanViews, now: datetime) -> None:
    """Write ``views`` for ``plan_id`` and drop those of versions older than the kept ones."""
    # Core inserts of plain rows: the ORM's per-row work would hold SQLite's writer longer
    tables: list[tuple[Table, list[dict[str, Any]]]] = [
        (cast(Table, m.PlanOutcome.__table__), views.outcomes),
        (cast(Table, m.PlanLabLoad.__table__), views.lab_loads),
    ]
    for table, rows in tables:
        if rows:
            session.execute(insert(table), [{"plan_id": plan_id, **r} for r in rows])
    session.add(m.PlanSummary(plan_id=plan_id, made_at=now, figures=views.figures))
    session.flush()
    old = list(
        session.scalars(
            select(m.PlanSummary.plan_id)
            .order_by(m.PlanSummary.plan_id.desc())
            .offset(KEEP_VERSIONS)
        )
    )
    if old:
        for model in (m.PlanOutcome, m.PlanLabLoad, m.PlanSummary):
            session.execute(delete(model).where(model.plan_id.in_(old)))


#: (database, version) whose views are known to be stored: they stay while it is new
_KNOWN: set[tuple[str, int]] = set()


def has_views(session: Session, plan_id: int) -> bool:
    key = (str(session.get_bind().engine.url), plan_id)
    if key in _KNOWN:
        return True
    # the key alone: the summary itself is a province's figures, parsed only where shown
    found = (
        session.scalar(select(m.PlanSummary.plan_id).where(m.PlanSummary.plan_id == plan_id))
        is not None
    )
    if found:
        _KNOWN.add(key)
    return found


_BACKFILL = threading.Lock()


def ensure(session: Session, version: m.PlanVersion, now: datetime) -> None:
    """Make the views of a published version stored before views existed (once).

    Versions published by this code carry their views from the start; this
    covers a database upgraded with published plans in it. The problem is
    rebuilt as the plan saw it: the stored world at its start, boxes the labs
    already held left out unless the plan placed them.
    """
    if has_views(session, version.id):
        return
    with _BACKFILL:
        session.expire_all()
        if has_views(session, version.id):
            return
        # core imports this module; its reader of a version's rows is the one to use
        from scheduler.replan.core import plan_of

        base = snapshot(session)
        full = plan_of(version)
        planned = {c.batch_id for c in full.chunks}
        held = set(
            session.scalars(select(m.Batch.batch_id).where(m.Batch.status.in_(AT_LAB_STATES)))
        )
        problem = replace(
            base,
            config=replace(base.config, plan_start=version.plan_start),
            batches=tuple(
                b for b in base.batches if b.batch_id in planned or b.batch_id not in held
            ),
        )
        known = set(problem.batch_index)
        plan = Plan(tuple(c for c in full.chunks if c.batch_id in known))
        views = build(problem, plan, evaluate(problem, plan))
        try:
            store(session, version.id, views, now)
            session.commit()
        except IntegrityError:
            # another process made them meanwhile: theirs serve as well
            session.rollback()
        log.info("made the stored views of plan %d", version.id)
