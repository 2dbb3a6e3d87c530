"""How much capacity a scenario needs: the fewest mobile labs, where, verified and proven.

Given a scenario and a mobile lab size, find the smallest k and a placement
of k labs among candidate locations (the counties of the cities where the
tubes to bring in time are collected, each lab at the centroid of its
county's sites) such that

* every *target* tube is on time: the screening's tubes (within its due
  rule), or, without a screening, every tube late in the scenario's plan
  that some capacity could still save;
* no other tube ends later than in the base, measured against its
  deadline: a batch on time in the base stays on time. (Holding each batch
  to its exact base result time was tried and is not a usable rule: the
  optimiser reorders batches whose cost barely changes, and on the city
  drill 1,351 tubes came out later than in the base's plan at every k tried;
  so a batch late in the base is not held, and the proof below uses exactly
  this rule.) With
  a screening the yardstick is the base's plan (the screening must not push
  the day's other tubes later); without one it is the scenario's own plan,
  since the base may be out of reach there (a lab down) and added labs must
  only help.

The answer is found in three steps:

1. **Lower bound.** The max-flow relaxation of :mod:`scheduler.scenarios.relax`
   with a pool of k labs' capacity shared by all candidates is solved for
   growing k (binary search: it only grows with k). The smallest k it
   allows, ``k_lb``, is a proof that ``k_lb - 1`` labs cannot do it, placed
   anywhere among the candidates: every plan of a placement is a flow of
   the relaxation. Required tubes no lab could finish in time at all
   (travel, run time or the deadline bind) are reported as structural and
   left out, since no capacity saves them.
2. **Placement.** The pool flow at k says how much each candidate would
   take; k labs are spread in proportion (largest remainders), checked with
   the same flow with each candidate capped at its own labs, and repaired by
   moving single labs while that carries more tubes.
3. **Verification.** The scenario with those labs added is solved by the
   optimiser, on time first (see :func:`verify`). Its plan is valid by the
   evaluator, and the answer stands when
   it has no target tube late and no other tube later than in the base. If
   it fails (the relaxation splits tubes and the optimiser trades lateness
   against turnaround), k + 1 is tried, up to ``--max`` and a few solves;
   the proof then covers only ``k_lb - 1``, and the report says that
   minimality is not proven.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from scheduler.domain import Plan, Problem
from scheduler.network import Network
from scheduler.result import Result
from scheduler.scenarios.changes import (
    AddMobileLab,
    _spread,
    add_mobile_labs,
    in_area,
    median_run_minutes,
)
from scheduler.scenarios.relax import Relaxation, slot_windows

#: verification solves tried at most (each costs a full time limit)
MAX_VERIFICATIONS = 3
#: the verification solve's weight of a late hour (the SPEC's default is 10)
VERIFY_LATE_FACTOR = 1000.0
#: single-lab moves tried at most when repairing a placement
MAX_REPAIR_FLOWS = 60

#: solves a problem, warm-started from a plan when one is given
SolveFn = Callable[[Problem, Plan | None], Result]


@dataclass(frozen=True)
class MobileSpec:
    """The lab to add: ``per_day`` tubes a day, from ``start``, cleared for isolation or not."""

    per_day: int
    start: datetime | None = None
    isolation: bool = False

    def at(self, area: str) -> AddMobileLab:
        return AddMobileLab(area, self.per_day, self.start, self.isolation)


@dataclass
class Recommendation:
    count: int | None  # None: no count up to max_labs was verified
    placements: list[tuple[str, int]]  # (county code, labs)
    verified_late_tubes: int | None
    other_later_tubes: int | None  # tubes on time in the base and late (or unassigned) here
    fewer_cannot: bool
    lower_bound: int | None  # smallest k the relaxation allows (None: none up to max)
    max_labs: int
    target_tubes: int
    structural_tubes: int
    candidates: list[str]
    spec: MobileSpec
    verification: Result | None = None
    verified_problem: Problem | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)

    def by_city(self) -> list[tuple[str, int, list[tuple[str, int]]]]:
        out: dict[str, list[tuple[str, int]]] = {}
        for county, n in self.placements:
            out.setdefault(county[:4], []).append((county, n))
        return [(city, sum(n for _, n in rows), rows) for city, rows in out.items()]

    def sentence(self) -> str:
        size = f"{self.spec.per_day / 1000:g} k/day mobile labs"
        when = f" from {self.spec.start:%H:%M}" if self.spec.start is not None else ""
        structural = (
            f" ({self.structural_tubes:,} tubes cannot be on time whatever the capacity)"
            if self.structural_tubes
            else ""
        )
        if self.count is None:
            if self.lower_bound is None:
                return (
                    f"even {self.max_labs} more {size}{when} cannot do it (proved by the "
                    f"flow relaxation){structural}"
                )
            return (
                f"no placement of up to {self.max_labs} {size}{when} was verified; "
                f"{self.lower_bound - 1} cannot do it (proved), more were not proven enough"
                f"{structural}"
            )
        if self.count == 0:
            return (
                f"no more labs are needed: the labs as they are bring the tubes in time{structural}"
            )
        parts = []
        for city, n, rows in self.by_city():
            where = ", ".join(f"{k} in {self.names.get(c, c)}" for c, k in rows)
            parts.append(f"{self.names.get(city, city)} needs {n} more {size}{when}: {where}")
        fewer = self.count - 1
        tail = (
            f"; {fewer} cannot do it"
            if self.fewer_cannot
            else f"; {self.lower_bound - 1 if self.lower_bound else 0} cannot do it (proved), "
            f"{fewer} not proven"
        )
        return "; ".join(parts) + tail + structural

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "placements": [
                {
                    "city": city,
                    "count": n,
                    "counties": [
                        {"county": c, "name": self.names.get(c, c), "count": k} for c, k in rows
                    ],
                }
                for city, n, rows in self.by_city()
            ],
            "verified_late_tubes": self.verified_late_tubes,
            "fewer_cannot": self.fewer_cannot,
            "other_later_tubes": self.other_later_tubes,
            "lower_bound": self.lower_bound,
            "max": self.max_labs,
            "target_tubes": self.target_tubes,
            "structural_tubes": self.structural_tubes,
            "candidates": self.candidates,
            "lab": {
                "per_day": self.spec.per_day,
                "from": self.spec.start.isoformat() if self.spec.start else None,
                "isolation": self.spec.isolation,
            },
            "attempts": self.attempts,
            "sentence": self.sentence(),
        }


def area_names(codes: Sequence[str]) -> dict[str, str]:
    """Readable names of city and county codes (the generator's geography, else the code)."""
    from scheduler.geography import CITY_BY_CODE, county_name

    out: dict[str, str] = {}
    for code in codes:
        city = CITY_BY_CODE.get(code[:4])
        if city is None:
            out[code] = code
        elif len(code) == 4:
            out[code] = city.name
        else:
            out[code] = county_name(city, int(code[4:])).replace(" (synthetic)", "") + f" ({code})"
    return out


def latest_results(
    scenario: Problem,
    targets: set[str],
    base: Problem,
    base_result: Result,
) -> tuple[np.ndarray, np.ndarray]:
    """Per scenario batch: required?, and the latest result (s from plan_start) it may have."""
    start = scenario.config.plan_start
    req = np.zeros(len(scenario.batches), dtype=bool)
    latest = np.zeros(len(scenario.batches))
    per_base = base_result.evaluation.per_batch
    for i, b in enumerate(scenario.batches):
        deadline = (scenario.deadline_of(b) - start).total_seconds()
        if b.batch_id in targets:
            req[i], latest[i] = True, deadline
            continue
        out = per_base.get(b.batch_id) if b.batch_id in base.batch_index else None
        if out is None or out.result_at is None or not out.on_time:
            continue  # new, unassigned or late in the base: its lateness is not held
        # on time in the base: on time here (by the scenario's deadline)
        req[i] = True
        latest[i] = deadline
    return req, latest


def savable_late(scenario: Problem, result: Result, candidates_problem: Problem) -> set[str]:
    """Batches late or unassigned in ``result`` that an added lab could finish in time.

    ``candidates_problem`` is ``scenario`` with one candidate lab appended per
    location: a batch counts when one of them has an open slot in its window.
    """
    net = Network.build(candidates_problem)
    _, _, ok = slot_windows(net, net.deadline_s)
    ok = ok[:, len(scenario.labs) :]
    per = result.evaluation.per_batch
    out: set[str] = set()
    for i, b in enumerate(scenario.batches):
        o = per[b.batch_id]
        if (o.lab_id is None or not o.on_time) and ok[i].any():
            out.add(b.batch_id)
    return out


def recommend(
    base: Problem,
    base_result: Result,
    scenario: Problem,
    scenario_result: Result,
    spec: MobileSpec,
    *,
    solve: SolveFn,
    max_labs: int = 50,
    run_minutes: int | None = None,
) -> Recommendation:
    """The fewest labs of ``spec`` for ``scenario``, verified with ``solve`` (module doc)."""
    run = median_run_minutes(base) if run_minutes is None else run_minutes
    new_ids = {b.batch_id for b in scenario.batches} - set(base.batch_index)
    # the cities whose tubes are to be brought in time hold the candidates
    probe = scenario
    targets = set(new_ids)
    site_county = {s.site_id: s.county_code for s in scenario.sites}
    counties_all = sorted({s.county_code for s in scenario.sites})
    if not targets:
        late_ids = {
            b.batch_id
            for b in scenario.batches
            if not scenario_result.evaluation.per_batch[b.batch_id].on_time
        }
        cities = {site_county[b.site_id][:4] for b in scenario.batches if b.batch_id in late_ids}
    else:
        cities = {site_county[b.site_id][:4] for b in scenario.batches if b.batch_id in targets}
    candidates = [c for c in counties_all if any(in_area(c, city) for city in cities)]
    probe = add_mobile_labs(scenario, [(spec.at(c), 1) for c in candidates], run)
    if not new_ids:
        targets = savable_late(scenario, scenario_result, probe)
    names = area_names([*candidates, *sorted(cities)])
    rec = Recommendation(
        count=None,
        placements=[],
        verified_late_tubes=None,
        other_later_tubes=None,
        fewer_cannot=False,
        lower_bound=None,
        max_labs=max_labs,
        target_tubes=sum(b.tubes for b in scenario.batches if b.batch_id in targets),
        structural_tubes=0,
        candidates=candidates,
        spec=spec,
        names=names,
    )
    net = Network.build(probe)
    n_old = len(scenario.labs)
    # the others' yardstick: the base for a screening (it must not push the day's tubes
    # later); without one, the scenario as it is (the base may be out of reach there,
    # e.g. with a lab down, and added labs must only help)
    ref, ref_result = (base, base_result) if new_ids else (scenario, scenario_result)
    req, latest = latest_results(scenario, targets, ref, ref_result)
    rel = Relaxation(net, list(range(n_old, n_old + len(candidates))), req, latest)
    target_mask = np.array([b.batch_id in targets for b in scenario.batches], dtype=bool)
    rec.structural_tubes = int(net.tubes[rel.structural & target_mask].sum())
    structural_ids = {scenario.batches[i].batch_id for i in np.nonzero(rel.structural)[0]}
    need = rel.demand_tubes
    near = [
        float(
            sum(
                b.tubes
                for b in scenario.batches
                if b.batch_id in targets and site_county[b.site_id] == c
            )
        )
        for c in candidates
    ]

    # 1. the lower bound: the smallest k whose pool flow carries every required tube
    if (not candidates and rel.pool_flow(0) < need) or rel.pool_flow(max_labs) < need:
        rec.attempts.append({"k": max_labs, "relaxation": "infeasible"})
        return rec
    if rel.pool_flow(0) >= need:
        k_lb = 0
    else:
        lo, hi = 0, max_labs  # pool(lo) < need <= pool(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if rel.pool_flow(mid) >= need:
                hi = mid
            else:
                lo = mid
        k_lb = hi
    rec.lower_bound = k_lb

    # 2-3. place and verify k = k_lb, k_lb + 1, ...
    solves = 0
    for k in range(k_lb, max_labs + 1):
        if solves >= MAX_VERIFICATIONS:
            break
        counts = _place(rel, k, need, near)
        if counts is None:
            rec.attempts.append({"k": k, "placement": "not found by the flow"})
            continue
        placements = [(c, n) for c, n in zip(candidates, counts, strict=True) if n > 0]
        if k == 0:
            problem, result = scenario, scenario_result
        else:
            problem = add_mobile_labs(scenario, [(spec.at(c), n) for c, n in placements], run)
            result = verify(problem, solve, ref_result.plan)
            solves += 1
        late, later = _check(problem, result, targets, structural_ids, ref, ref_result)
        rec.attempts.append(
            {
                "k": k,
                "placements": dict(placements),
                "late_target_tubes": late,
                "other_later_tubes": later,
            }
        )
        if late == 0 and later == 0:
            rec.count, rec.placements = k, placements
            rec.verified_late_tubes, rec.other_later_tubes = late, later
            rec.verification, rec.verified_problem = result, problem
            rec.fewer_cannot = k == k_lb
            return rec
        rec.verified_late_tubes, rec.other_later_tubes = late, later
        rec.verification, rec.verified_problem, rec.placements = result, problem, placements
    return rec


def _place(rel: Relaxation, k: int, need: int, near: Sequence[float]) -> list[int] | None:
    """k labs over the candidates whose capped flow carries ``need`` tubes (None: not found).

    First in proportion to ``near`` (the target tubes collected in each
    candidate county: labs near the swabs), else in proportion to what the
    pool flow sent each candidate, then repaired one move at a time.
    """
    n_c = len(rel.candidates)
    if k == 0:
        return [0] * n_c if rel.pool_flow(0) >= need else None
    counts = _spread(k, list(near))
    best = rel.placement_flow(counts)
    flows = 1
    if best < need:
        rel.pool_flow(k)
        by_flow = _spread(k, [float(u) for u in rel.candidate_use()])
        got = rel.placement_flow(by_flow)
        flows += 1
        if got > best:
            best, counts = got, by_flow
    while best < need and flows < MAX_REPAIR_FLOWS:
        # move one lab from a donor to a recipient, the best single move first
        move = None
        for i in range(n_c):
            if counts[i] == 0:
                continue
            for j in range(n_c):
                if i == j or flows >= MAX_REPAIR_FLOWS:
                    continue
                trial = list(counts)
                trial[i] -= 1
                trial[j] += 1
                got = rel.placement_flow(trial)
                flows += 1
                if got > best:
                    best, move = got, trial
        if move is None:
            break
        counts = move
    return counts if best >= need else None


def _check(
    problem: Problem,
    result: Result,
    targets: set[str],
    structural: set[str],
    base: Problem,
    base_result: Result,
) -> tuple[int, int]:
    """(target tubes late or unassigned, other tubes on time in the base and not now)."""
    per = result.evaluation.per_batch
    per_base = base_result.evaluation.per_batch
    late = later = 0
    for b in problem.batches:
        if b.batch_id in structural:
            continue
        o = per.get(b.batch_id)
        if o is None:
            continue  # an added lab's batch cannot exist; guard anyway
        if b.batch_id in targets:
            late += 0 if (o.lab_id is not None and o.on_time) else b.tubes
            continue
        ob = per_base.get(b.batch_id)
        if ob is None or ob.result_at is None or not ob.on_time:
            continue
        if o.result_at is None or not o.on_time:
            later += b.tubes
    return late, later


def with_late_factor(problem: Problem, factor: float) -> Problem:
    """``problem`` scored with a heavier lateness weight (a verification asks on time first)."""
    return replace(problem, config=replace(problem.config, late_factor=factor))


def verify(problem: Problem, solve: SolveFn, start: Plan | None = None) -> Result:
    """The verification solve: on time first, then scored by ``problem``'s own rules.

    The question is whether a plan exists with the targets on time, not the
    cheapest plan: at the SPEC's late factor the optimiser may let an urgent
    tube be a little late to return many routine ones sooner (on the city
    drill, 84 tubes at every k). So the solve weighs each late hour
    ``VERIFY_LATE_FACTOR`` times, and starts from the yardstick's plan
    (``start``: the other tubes where they were on time, the new ones placed
    by the warm start's repair), so the search's time goes to the tubes that
    changed. Validity does not depend on the weights,
    and the plan is then evaluated under the scenario's own score (its bound,
    which was for the other weights, is dropped).
    """
    from scheduler.evaluate import evaluate

    heavy = max(problem.config.late_factor, VERIFY_LATE_FACTOR)
    result = solve(with_late_factor(problem, heavy), start)
    ev = evaluate(problem, result.plan)
    # every bound the result carries was for the other weights
    dropped: dict[str, Any] = {k: None for k in ("bound", "bound_strong") if hasattr(result, k)}
    return replace(result, evaluation=ev, score=ev.score, status="feasible", **dropped)


__all__ = ["MobileSpec", "Recommendation", "recommend"]
