"""A surge sweep: the base at growing demand, where each city breaks, and what a lab is worth.

Every factor is one solve (repeatable mode, the same seed), run in parallel
on the re-planner's executor, so a serial and a parallel sweep give the same
figures. A city *breaks* at the first factor at which any of its tubes is
late or unassigned.

A lab's *marginal value* is how many weighted tube-hours (score units) one
more tube/hour of its capacity saves. It is read from the SPEC bound's flow:
the slot prices of the optimal flow (its duals, recovered from residual
potentials by :func:`~scheduler.solvers.flow.flow_prices`) summed over the
slots where one more tube/hour adds capacity. That is the slope of the
bound at the current capacity; for the labs listed first it is checked by
solving the bound again with the lab's capacity raised by 1 tube/hour, and
both are reported (a flow's value is convex in a capacity, so the re-solve
saves at most what the prices say).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from scheduler.domain import Problem
from scheduler.network import Network, slot_capacity_matrix
from scheduler.replan.executors import ParallelExecutor
from scheduler.scenarios.changes import scale_demand
from scheduler.scenarios.run import Figures, figures_of, request_for

#: labs whose price-based value is checked by a re-solve of the bound
CHECKED_LABS = 3


@dataclass(frozen=True)
class SweepPoint:
    factor: float
    figures: Figures
    late_by_city: dict[str, int]  # late + unassigned tubes
    on_time_by_city: dict[str, float]  # % of the city's tubes on time

    def to_dict(self) -> dict[str, Any]:
        return {
            "factor": self.factor,
            "figures": self.figures.to_dict(),
            "late_by_city": self.late_by_city,
            "on_time_by_city": self.on_time_by_city,
        }


@dataclass(frozen=True)
class LabValue:
    lab_id: str
    value: float  # weighted tube-hours saved per extra tube/hour, from the prices
    checked: float | None  # the same from a re-solve with +1 tube/hour (None: not checked)

    def to_dict(self) -> dict[str, Any]:
        return {"lab_id": self.lab_id, "value": self.value, "checked": self.checked}


def factors_between(lo: float, hi: float, step: float) -> list[float]:
    """``lo, lo + step, ..., hi`` without float drift (``hi`` included when on the grid)."""
    if step <= 0 or hi < lo:
        raise ValueError("a sweep needs step > 0 and an end not before its start")
    n = int(np.floor((hi - lo) / step + 1e-9))
    return [round(lo + i * step, 10) for i in range(n + 1)]


def sweep(
    problem: Problem,
    factors: Sequence[float],
    *,
    time_limit: float,
    seed: int = 0,
    jobs: int = 0,
    executor: ParallelExecutor | None = None,
) -> list[SweepPoint]:
    """``problem`` solved at each demand factor (tubes and people scaled as ``demand city``)."""
    executor = executor or ParallelExecutor(jobs)
    problems = [scale_demand(problem, f) for f in factors]
    results = executor.solve_many([request_for(p, time_limit, seed) for p in problems])
    out: list[SweepPoint] = []
    for f, p, r in zip(factors, problems, results, strict=True):
        city_of_site = {s.site_id: s.county_code[:4] for s in p.sites}
        tubes: dict[str, int] = {}
        on_time: dict[str, int] = {}
        for b in p.batches:
            city = city_of_site[b.site_id]
            o = r.evaluation.per_batch[b.batch_id]
            tubes[city] = tubes.get(city, 0) + b.tubes
            on_time[city] = on_time.get(city, 0) + (b.tubes if o.on_time else 0)
        out.append(
            SweepPoint(
                factor=f,
                figures=figures_of(p, r),
                late_by_city={c: tubes[c] - on_time[c] for c in sorted(tubes)},
                on_time_by_city={c: round(100 * on_time[c] / tubes[c], 2) for c in sorted(tubes)},
            )
        )
    return out


def break_points(points: Sequence[SweepPoint]) -> dict[str, float | None]:
    """Per city, the first factor with a late or unassigned tube (None: never in the sweep)."""
    cities = sorted({c for p in points for c in p.late_by_city})
    return {
        c: next((p.factor for p in points if p.late_by_city.get(c, 0) > 0), None) for c in cities
    }


def _bound(problem: Problem) -> float:
    from scheduler.solvers.bounds import lower_bound

    return lower_bound(Network.build(problem)).value


def marginal_values(problem: Problem, *, checked: int = CHECKED_LABS) -> list[LabValue]:
    """Every lab's marginal value (highest first); the first ``checked`` re-solved."""
    from scheduler.solvers.bounds import lower_bound, slot_prices

    net = Network.build(problem)
    res = lower_bound(net, keep_flow=True)
    prices = slot_prices(net, res)
    assert prices is not None  # a kept flow always has them
    values: list[tuple[float, int, Problem]] = []
    for li, lab in enumerate(problem.labs):
        more = _with_capacity(problem, li, lab.capacity_per_hour + 1)
        _, left = slot_capacity_matrix(more)
        delta = left[li] - net.cap_left[li]
        values.append((float(np.dot(prices[li], delta)), li, more))
    values.sort(key=lambda v: (-v[0], problem.labs[v[1]].lab_id))
    out: list[LabValue] = []
    for rank, (value, li, more) in enumerate(values):
        check = None
        if rank < checked:
            check = round(res.value - _bound(more), 3)
        out.append(LabValue(problem.labs[li].lab_id, round(value, 3), check))
    return out


def _with_capacity(problem: Problem, lab: int, per_hour: int) -> Problem:
    labs = list(problem.labs)
    labs[lab] = replace(labs[lab], capacity_per_hour=per_hour)
    return replace(problem, labs=tuple(labs))


def chart(points: Sequence[SweepPoint], width: int = 40) -> str:
    """Late tubes and on-time % against demand, one bar row per factor (all cities)."""
    if not points:
        return ""
    worst = max(p.figures.late_tubes + p.figures.unassigned_tubes for p in points) or 1
    lines = [f"{'demand':>7} {'late+unassigned':>16} {'on time':>8}  late tubes"]
    for p in points:
        late = p.figures.late_tubes + p.figures.unassigned_tubes
        tubes = p.figures.tubes or 1
        pct = 100 * (1 - late / tubes)
        bar = "#" * round(width * late / worst)
        lines.append(f"{p.factor:>6.2f}x {late:>16,} {pct:>7.2f}%  {bar}")
    return "\n".join(lines)
