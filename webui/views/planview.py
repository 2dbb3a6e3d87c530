"""The published plan as the pages show it: rows, per-batch outcomes, cached per version.

Outcomes (result time, lateness) come from the SPEC evaluator on the stored
world at the plan's start, so every page shows the evaluator's figures, not
a second derivation. Boxes that arrived after the plan was made are listed
as not planned yet until the next re-plan.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.domain import Chunk, Plan, Problem
from scheduler.evaluate import BatchOutcome, Evaluation, evaluate, travel_minutes
from scheduler.replan.core import plan_of, published
from scheduler.store import models as m
from scheduler.store.world import snapshot


@dataclass(frozen=True)
class VersionInfo:
    """The plan version's own figures, copied out of the session that read them."""

    id: int
    created_at: datetime
    plan_start: datetime
    status: str
    score: float | None
    bound: float | None
    gap: float | None
    figures: dict[str, Any]

    @classmethod
    def of(cls, v: m.PlanVersion) -> VersionInfo:
        return cls(
            v.id, v.created_at, v.plan_start, v.status, v.score, v.bound, v.gap, dict(v.figures)
        )


@dataclass
class PlanView:
    version: VersionInfo
    problem: Problem
    plan: Plan
    ev: Evaluation
    rows: dict[str, list[Chunk]] = field(default_factory=dict)

    def outcome(self, batch_id: str) -> BatchOutcome | None:
        return self.ev.per_batch.get(batch_id)

    def lab_of(self, batch_id: str) -> str | None:
        chunks = self.rows.get(batch_id)
        return chunks[0].lab_id if chunks else None

    def arrival(self, batch_id: str) -> datetime | None:
        lab = self.lab_of(batch_id)
        idx = self.problem.batch_index.get(batch_id)
        if lab is None or idx is None:
            return None
        b = self.problem.batches[idx]
        return b.ready_at + timedelta(minutes=travel_minutes(self.problem, b.site_id, lab))


_LOCK = threading.Lock()


def _key(session: Session, version: m.PlanVersion) -> tuple[int, int]:
    # the world changes with every event (each writes an audit row) and upload
    events = session.scalar(select(func.max(m.AuditLog.id))) or 0
    return version.id, events


def plan_view(session: Session) -> PlanView | None:
    """The published plan with its outcomes, or None when nothing is published."""
    version = published(session)
    if version is None:
        return None
    cache: dict[tuple[int, int], PlanView] = current_app.extensions.setdefault(
        "natsched.planviews", {}
    )
    key = _key(session, version)
    with _LOCK:
        hit = cache.get(key)
    if hit is not None:
        return hit
    base = snapshot(session)
    full = plan_of(version)
    planned = {c.batch_id for c in full.chunks}
    held = set(
        session.scalars(
            select(m.Batch.batch_id).where(m.Batch.status.in_(("received", "processing")))
        )
    )
    # boxes a lab already holds are its backlog, as in the re-planner, not unplanned boxes
    problem = replace(
        base,
        config=replace(base.config, plan_start=version.plan_start),
        batches=tuple(b for b in base.batches if b.batch_id in planned or b.batch_id not in held),
    )
    known = set(problem.batch_index)
    plan = Plan(tuple(c for c in full.chunks if c.batch_id in known))
    ev = evaluate(problem, plan)
    rows: dict[str, list[Chunk]] = defaultdict(list)
    for c in plan.chunks:
        rows[c.batch_id].append(c)
    view = PlanView(VersionInfo.of(version), problem, plan, ev, dict(rows))
    with _LOCK:
        cache.clear()  # one world at a time: the newest
        cache[key] = view
    return view
