"""Solve a base and its scenarios side by side, and take the figures a drill reads.

Every solve goes through the re-planner's executor seam
(:class:`~scheduler.replan.executors.ParallelExecutor`) with ``workers=1``:
the repeatable mode, whose time limit is measured in work, so a scenario
gives the same figures whether it ran beside others or alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scheduler.domain import PRIORITIES, Problem
from scheduler.explain import ShortfallReport, capacity_shortfall
from scheduler.replan.executors import ParallelExecutor, SolveRequest
from scheduler.result import Result
from scheduler.scenarios.changes import Change, apply

#: busiest labs listed per scenario
BUSIEST = 3


@dataclass(frozen=True)
class Scenario:
    name: str
    changes: tuple[Change, ...] = ()

    def problem(self, base: Problem) -> Problem:
        return apply(base, self.changes)


@dataclass(frozen=True)
class Figures:
    """What a drill compares: the evaluator's figures of one solve."""

    score: float
    bound: float | None
    gap: float | None
    on_time: dict[str, float | None]  # priority -> % of its tubes on time
    late_tubes: int  # assigned, result after the deadline
    unassigned_tubes: int
    p95_tat_h: float | None  # over all assigned tubes
    busiest: list[tuple[str, float]]  # (lab, utilisation) highest first
    tubes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "bound": self.bound,
            "gap": self.gap,
            "on_time": self.on_time,
            "late_tubes": self.late_tubes,
            "unassigned_tubes": self.unassigned_tubes,
            "p95_tat_h": self.p95_tat_h,
            "busiest_labs": [{"lab_id": lab, "utilisation": u} for lab, u in self.busiest],
            "tubes": self.tubes,
        }


@dataclass(frozen=True)
class Outcome:
    scenario: Scenario
    problem: Problem
    result: Result
    figures: Figures
    shortfall: ShortfallReport = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.scenario.name,
            "changes": [c.text() for c in self.scenario.changes],
            "figures": self.figures.to_dict(),
            "shortfall": shortfall_rows(self.problem, self.shortfall),
        }


def p95_tat(problem: Problem, result: Result) -> float | None:
    """Tube-weighted nearest-rank 95th percentile of tat_h over assigned tubes (as evaluate's)."""
    pairs = sorted(
        (o.tat_h, b.tubes)
        for b in problem.batches
        if (o := result.evaluation.per_batch[b.batch_id]).lab_id is not None
    )
    n = sum(t for _, t in pairs)
    if n == 0:
        return None
    rank, seen = math.ceil(0.95 * n), 0
    for tat, tubes in pairs:
        seen += tubes
        if seen >= rank:
            return round(tat, 3)
    return round(pairs[-1][0], 3)  # pragma: no cover - rank <= n


def figures_of(problem: Problem, result: Result) -> Figures:
    ev = result.evaluation
    on_time: dict[str, float | None] = {}
    for p in PRIORITIES:
        k = ev.per_priority.get(p)
        rate = k.on_time_rate if k is not None else None
        on_time[p] = None if rate is None else round(100 * rate, 2)
    late = sum(
        b.tubes
        for b in problem.batches
        if (o := ev.per_batch[b.batch_id]).lab_id is not None and not o.on_time
    )
    busiest = sorted(ev.per_lab.items(), key=lambda kv: (-kv[1].utilisation, kv[0]))[:BUSIEST]
    return Figures(
        score=round(result.score, 2),
        bound=None if result.bound is None else round(result.bound, 2),
        gap=result.gap,
        on_time=on_time,
        late_tubes=late,
        unassigned_tubes=ev.unassigned_tubes,
        p95_tat_h=p95_tat(problem, result),
        busiest=[(lab, round(k.utilisation, 4)) for lab, k in busiest],
        tubes=ev.total_tubes,
    )


def shortfall_rows(problem: Problem, rep: ShortfallReport) -> list[dict[str, Any]]:
    """The shortfall by city, each with its extra tubes/hour hour by hour (non-zero hours)."""
    cfg = problem.config
    out: list[dict[str, Any]] = []
    for r in rep.rows:
        prof = rep.profile.get(r.city, [])
        out.append(
            {
                "city": r.city[:4],
                "city_name": r.city_name,
                "late_tubes": r.late_tubes,
                "unassigned_tubes": r.unassigned_tubes,
                "structural_tubes": r.structural_tubes,
                "peak_extra_per_hour": r.peak_extra_per_hour,
                "from": r.peak_from.isoformat() if r.peak_from else None,
                "to": r.peak_to.isoformat() if r.peak_to else None,
                "best_lab": r.best_lab,
                "per_hour": [
                    {"hour": cfg.slot_start(t).isoformat(), "extra_tubes_per_hour": x}
                    for t, x in enumerate(prof)
                    if x > 0
                ],
            }
        )
    return out


def request_for(problem: Problem, time_limit: float, seed: int) -> SolveRequest:
    # workers=1: the repeatable mode (see the module docstring)
    return SolveRequest(problem=problem, time_limit=time_limit, seed=seed, workers=1)


def outcome_of(scenario: Scenario, problem: Problem, result: Result) -> Outcome:
    return Outcome(
        scenario=scenario,
        problem=problem,
        result=result,
        figures=figures_of(problem, result),
        shortfall=capacity_shortfall(problem, result.plan),
    )


def run_scenarios(
    base: Problem,
    scenarios: Sequence[Scenario],
    *,
    time_limit: float = 30.0,
    seed: int = 0,
    jobs: int = 0,
    executor: ParallelExecutor | None = None,
) -> list[Outcome]:
    """Solve each scenario (the first is usually the base itself) and take its figures."""
    executor = executor or ParallelExecutor(jobs)
    problems = [s.problem(base) for s in scenarios]
    results = executor.solve_many([request_for(p, time_limit, seed) for p in problems])
    return [outcome_of(s, p, r) for s, p, r in zip(scenarios, problems, results, strict=True)]
