"""One re-plan on a rolling horizon, and the rule that decides what is published.

``planning_problem`` turns the store at time ``now`` into a SPEC problem:

- the plan starts at the current slot;
- tested batches (``resulted``) drop out;
- boxes received or being processed are work the lab already holds: they
  leave the batch list and become the lab's backlog, so they keep their lab
  and take its earliest capacity, as the SPEC's backlog does;
- boxes picked up (on the road) keep their lab (pinned);
- a box due for pickup within the freeze window keeps its published lab;
- a coordinator's pin (``pinned_lab``) is kept.

``replan`` (and ``replan_once`` inside one transaction) solves it through
an executor, warm-started from the
published plan, stores the new version with its figures and publishes it
unless it is worse on the SPEC score over the same batches while nothing in
the inputs changed. A failed solve is stored with its error and leaves the
published plan in place.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from scheduler.domain import AT_LAB_STATES, PICKED_UP, PLANNED, Chunk, Plan, Problem
from scheduler.evaluate import evaluate
from scheduler.replan import views
from scheduler.replan.diff import changed, moved, placement
from scheduler.replan.executors import Executor, InProcessExecutor, SolveRequest
from scheduler.result import Result
from scheduler.spec_io import config_to_json
from scheduler.store import models as m
from scheduler.store.db import transaction
from scheduler.store.world import snapshot

log = logging.getLogger(__name__)

DEFAULT_FREEZE_MINUTES = 60


@dataclass(frozen=True)
class ReplanSettings:
    freeze_minutes: int = DEFAULT_FREEZE_MINUTES
    time_limit: float = 30.0
    seed: int = 0
    #: score a batch's move to another lab must gain (weight-hours), against churn
    move_penalty: float = 100.0
    #: cores per solve (0: all); 1 makes a re-plan of the same data repeatable
    workers: int = 0


def current_slot(problem: Problem, now: datetime) -> datetime:
    """The start of the slot (on the instance's grid) that contains ``now``."""
    cfg = problem.config
    step = timedelta(minutes=cfg.slot_minutes)
    k = (now - cfg.plan_start) // step
    return cfg.plan_start + k * step


def published(session: Session) -> m.PlanVersion | None:
    return session.scalar(
        select(m.PlanVersion)
        .where(m.PlanVersion.published.is_(True))
        .order_by(m.PlanVersion.id.desc())
    )


def plan_of(version: m.PlanVersion) -> Plan:
    return Plan(tuple(Chunk(r.batch_id, r.lab_id, r.slot_start, r.tubes) for r in version.rows))


def planning_problem(
    session: Session, now: datetime, freeze_minutes: int = DEFAULT_FREEZE_MINUTES
) -> tuple[Problem, Plan | None]:
    """The problem to solve at ``now`` and the published plan restricted to it."""
    problem, warm, _ = _planning(session, now, freeze_minutes)
    return problem, warm


def _planning(
    session: Session, now: datetime, freeze_minutes: int
) -> tuple[Problem, Plan | None, str]:
    base = snapshot(session)
    start = max(base.config.plan_start, current_slot(base, now))
    pub = published(session)
    pub_plan = plan_of(pub) if pub is not None else None
    pub_lab = pub_plan.lab_of() if pub_plan is not None else {}
    status = {r[0]: r[1] for r in session.execute(select(m.Batch.batch_id, m.Batch.status))}
    # what the world is, before the pins this function derives from the plan
    digest = inputs_digest(base, status)
    backlog: dict[str, int] = {}
    batches = []
    freeze_until = now + timedelta(minutes=freeze_minutes)
    for b in base.batches:
        st = status.get(b.batch_id, PLANNED)
        lab = b.pinned_lab or pub_lab.get(b.batch_id)
        if st in AT_LAB_STATES:
            if lab is not None:
                backlog[lab] = backlog.get(lab, 0) + b.tubes
            continue
        on_road = st == PICKED_UP
        due_soon = b.ready_at <= freeze_until
        if lab is not None and (on_road or (b.pinned_lab is None and due_soon)):
            b = replace(b, pinned_lab=lab)
        batches.append(b)
    labs = tuple(
        replace(lab, backlog_tubes=lab.backlog_tubes + backlog.get(lab.lab_id, 0))
        for lab in base.labs
    )
    problem = replace(
        base,
        config=replace(base.config, plan_start=start),
        labs=labs,
        batches=tuple(batches),
    )
    warm = None
    if pub_plan is not None:
        keep = {b.batch_id for b in problem.batches}
        warm = Plan(
            tuple(c for c in pub_plan.chunks if c.batch_id in keep and c.slot_start >= start)
        )
    return problem, warm, digest


def demand_by_county(problem: Problem) -> dict[str, int]:
    """Tubes to plan per county: kept with each version so a worse plan can say where more came."""
    county = {s.site_id: s.county_code for s in problem.sites}
    out: dict[str, int] = {}
    for b in problem.batches:
        c = county.get(b.site_id, "")
        out[c] = out.get(c, 0) + b.tubes
    return out


#: a published plan whose score is this many times the last one's says why on the dashboard
WORSE_RATIO = 1.25


def worse_note(
    session: Session, now: datetime, version: m.PlanVersion, previous: m.PlanVersion | None
) -> dict[str, object] | None:
    """Why ``version`` scores far worse than ``previous``, from the inputs that changed.

    The counties whose tubes to plan grew most and the labs that reported a
    change since ``previous`` was made; stored with the version when it is
    published, so the dashboard never recomputes it.
    """
    if previous is None or not previous.score or version.score is None:
        return None
    ratio = version.score / previous.score
    if ratio < WORSE_RATIO:
        return None
    before: dict[str, int] = previous.figures.get("demand") or {}
    after: dict[str, int] = version.figures.get("demand") or {}
    grew = sorted(
        ((c, n - before.get(c, 0)) for c, n in after.items() if n > before.get(c, 0)),
        key=lambda cn: (-cn[1], cn[0]),
    )
    labs: dict[str, str] = {}
    for lab_id, kind in session.execute(
        select(m.LabStatusChange.lab_id, m.LabStatusChange.kind)
        .where(m.LabStatusChange.at > previous.created_at, m.LabStatusChange.at <= now)
        .order_by(m.LabStatusChange.at)
    ):
        labs[lab_id] = kind  # the last report of each lab is what the new plan saw
    return {
        "ratio": round(ratio, 2),
        "previous": previous.id,
        "more_tubes": [[c, n] for c, n in grew[:3]] if before else [],
        "labs": sorted([lab, kind] for lab, kind in labs.items())[:5],
    }


def inputs_digest(problem: Problem, status: dict[str, str]) -> str:
    """A fingerprint of everything the plan depends on (except the clock)."""
    doc = {
        "status": sorted(status.items()),
        "config": {**config_to_json(problem.config), "plan_start": None},
        "labs": [repr(x) for x in problem.labs],
        "batches": [repr(x) for x in problem.batches],
        "outages": [repr(x) for x in problem.outages],
        "travel": [repr(x) for x in problem.travel_overrides],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ReplanOutcome:
    version_id: int
    published: bool
    reason: str
    score: float | None
    moved: int  # batches whose lab changed against the plan published before


def replan_once(
    session: Session,
    now: datetime,
    *,
    settings: ReplanSettings | None = None,
    executor: Executor | None = None,
) -> ReplanOutcome:
    """One re-plan inside the caller's transaction (tests, scripts)."""
    settings = settings or ReplanSettings()
    started = _start(session, now, settings)
    res, error = _solve(started, settings, executor)
    return _finish(session, now, started, res, error, _views(started, res))


def replan(
    engine: Engine,
    now: datetime,
    *,
    settings: ReplanSettings | None = None,
    executor: Executor | None = None,
) -> ReplanOutcome:
    """One re-plan in three short transactions, with the solve outside any of them.

    The worker and the web app use this: a solve takes seconds to minutes,
    and holding a transaction that long would block every upload and status
    change (SQLite has one writer). The version row is visible as "running"
    while it solves. What changes meanwhile asks for the next re-plan.
    """
    settings = settings or ReplanSettings()
    with transaction(engine) as s:
        started = _start(s, now, settings)
    res, error = _solve(started, settings, executor)
    # the pages' views are built before the write transaction, which only stores them
    derived = _views(started, res)
    with transaction(engine) as s:
        return _finish(s, now, started, res, error, derived)


@dataclass(frozen=True)
class _Started:
    version_id: int
    problem: Problem
    warm: Plan | None
    digest: str


def _start(session: Session, now: datetime, settings: ReplanSettings) -> _Started:
    problem, warm, digest = _planning(session, now, settings.freeze_minutes)
    version = m.PlanVersion(
        created_at=now,
        plan_start=problem.config.plan_start,
        solver="opt",
        status="running",
        figures={
            "inputs": digest,
            "batches": len(problem.batches),
            "demand": demand_by_county(problem),
        },
        published=False,
    )
    session.add(version)
    session.flush()
    return _Started(version.id, problem, warm, digest)


def _solve(
    started: _Started, settings: ReplanSettings, executor: Executor | None
) -> tuple[Result | None, str]:
    executor = executor or InProcessExecutor()
    try:
        res = executor.solve(
            SolveRequest(
                started.problem,
                settings.time_limit,
                settings.seed,
                started.warm,
                settings.move_penalty,
                settings.workers,
            )
        )
    except Exception as exc:  # a failed solve must never take the published plan down
        log.exception("re-plan failed")
        return None, f"{type(exc).__name__}: {exc}"
    return res, ""


def _views(started: _Started, res: Result | None) -> views.PlanViews | None:
    if res is None:
        return None
    try:
        return views.build(started.problem, res.plan, res.evaluation)
    except Exception:  # the plan still publishes; the pages make its views on first read
        log.exception("could not build the views of the new plan")
        return None


def _finish(
    session: Session,
    now: datetime,
    started: _Started,
    res: Result | None,
    error: str,
    derived: views.PlanViews | None,
) -> ReplanOutcome:
    version = session.get(m.PlanVersion, started.version_id)
    if version is None:  # pragma: no cover - the row was made by _start
        raise LookupError(f"plan version {started.version_id} vanished")
    if res is None:
        version.status = "failed"
        version.error = error
        session.flush()
        return ReplanOutcome(version.id, False, f"solve failed: {error}", None, 0)
    previous = published(session)
    version.status = res.status
    version.score, version.bound, version.gap = res.score, res.bound, res.gap
    version.figures = {
        **version.figures,
        "timings": res.timings,
        "bound_method": res.bound_method,
        "per_priority": res.evaluation.to_dict()["per_priority"],
    }
    # one bulk INSERT: the write transaction (SQLite's one writer) stays short
    if res.plan.chunks:
        session.execute(
            insert(m.PlanRow),
            [
                {
                    "plan_id": version.id,
                    "batch_id": c.batch_id,
                    "lab_id": c.lab_id,
                    "slot_start": c.slot_start,
                    "tubes": c.tubes,
                }
                for c in res.plan.chunks
            ],
        )
    publish, reason = decide(started.problem, started.warm, res.score, started.digest, previous)
    n_moved = 0
    figures: dict[str, object] = {"decision": reason}
    if previous is not None:
        # the diff page's definitions, so the list's counts are the diff's
        before, after = placement(previous.rows), placement(res.plan.chunks)
        n_moved = moved(before, after)
        figures["changed"] = len(changed(before, after))
        figures["changed_from"] = previous.id
    figures["moved"] = n_moved
    version.figures = {**version.figures, **figures}
    if publish:
        note = worse_note(session, now, version, previous)
        if note is not None:
            version.figures = {**version.figures, "worse": note}
        if previous is not None:
            previous.published = False
        version.published = True
        if derived is not None:
            views.store(session, version.id, derived, now)
    session.add(
        m.AuditLog(
            at=now,
            user="worker",
            action="replan",
            target=f"plan {version.id}",
            detail={"published": publish, "reason": reason, "score": res.score},
        )
    )
    session.flush()
    return ReplanOutcome(version.id, publish, reason, res.score, n_moved)


def decide(
    problem: Problem,
    warm: Plan | None,
    new_score: float,
    digest: str,
    previous: m.PlanVersion | None,
) -> tuple[bool, str]:
    """Publish unless the new plan is worse over the same batches and nothing changed."""
    if previous is None:
        return True, "first plan"
    if previous.figures.get("inputs") != digest:
        return True, "inputs changed"
    old = evaluate(problem, warm or Plan(()))
    if not old.valid:
        return True, "the published plan no longer fits"
    if new_score <= old.score + 1e-6:
        return True, f"better or equal ({new_score:,.1f} <= {old.score:,.1f})"
    return False, f"worse than the published plan ({new_score:,.1f} > {old.score:,.1f})"
