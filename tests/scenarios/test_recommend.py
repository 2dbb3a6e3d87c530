"""The fewest mobile labs: an instance whose answer is known by construction."""

from __future__ import annotations

from scheduler.domain import Plan, Problem
from scheduler.result import Result
from scheduler.scenarios.changes import Screening, apply
from scheduler.scenarios.recommend import MobileSpec, recommend
from scheduler.solve import solve
from tests.support.builders import at
from tests.support.whatif import SITES, world

SCREENING = Screening("4101", 100, at(0), at(1), 1, 6.0)


def _solve(p: Problem, start: Plan | None = None) -> Result:
    return solve(p, time_limit=2, seed=0, workers=1, initial_plan=start)


def test_four_labs_and_three_cannot() -> None:
    base = world()
    scenario = apply(base, [SCREENING])
    assert sum(b.tubes for b in scenario.batches) - SITES == 100
    base_r, scen_r = _solve(base), _solve(scenario)
    rec = recommend(base, base_r, scenario, scen_r, MobileSpec(240), solve=_solve, max_labs=8)
    assert rec.lower_bound == 4
    assert rec.count == 4
    assert rec.fewer_cannot is True
    assert rec.verified_late_tubes == 0
    assert rec.other_later_tubes == 0
    assert rec.placements == [("410101", 4)]
    assert rec.verification is not None and rec.verification.evaluation.valid
    d = rec.to_dict()
    assert d["count"] == 4 and d["fewer_cannot"] is True
    assert d["placements"][0]["city"] == "4101" and d["placements"][0]["count"] == 4
    assert "4 more 0.24 k/day mobile labs" in rec.sentence()
    assert "3 cannot do it" in rec.sentence()


def test_a_lower_max_is_reported_as_not_enough() -> None:
    base = world()
    scenario = apply(base, [SCREENING])
    base_r, scen_r = _solve(base), _solve(scenario)
    rec = recommend(base, base_r, scenario, scen_r, MobileSpec(240), solve=_solve, max_labs=3)
    assert rec.count is None and rec.lower_bound is None
    assert "even 3 more" in rec.sentence() and "cannot do it" in rec.sentence()


def test_a_later_start_needs_more_labs() -> None:
    # from 11:00 only the slots 11 and 12 are left: 20 tubes a lab, so 5 labs
    base = world()
    scenario = apply(base, [SCREENING])
    base_r, scen_r = _solve(base), _solve(scenario)
    rec = recommend(
        base, base_r, scenario, scen_r, MobileSpec(240, start=at(3)), solve=_solve, max_labs=8
    )
    assert (rec.count, rec.lower_bound, rec.fewer_cannot) == (5, 5, True)
