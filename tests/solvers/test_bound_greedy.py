"""Bound and greedy on instances worked out by hand.

Every instance: plan_start 08:00, hourly slots, one site next to the lab
(travel = 20 handling minutes), so a box ready at 08:00 arrives 08:20 and its
first usable slot is 09:00-10:00 (slot 1). With run 120 min, a batch whose
last slot is slot k has its result at 10:00 + k h.
"""

from __future__ import annotations

import pytest

from scheduler.network import Network
from scheduler.solvers.bounds import exact_bound
from scheduler.solvers.greedy import greedy
from tests.support.builders import at, batch, lab, problem


def bound_and_greedy(p) -> tuple[float, float]:
    net = Network.build(p)
    s = greedy(net)
    assert s.is_feasible(net)
    return exact_bound(net).value, s.cost(net)


def test_single_batch():
    # 10 tubes in slot 1 -> result 12:00, collected 07:00: tat 5 h, weight 1 -> 50
    b, g = bound_and_greedy(problem())
    assert g == pytest.approx(50.0)
    assert b == pytest.approx(50.0, rel=1e-4)
    assert b <= g


def test_urgent_goes_first():
    # Capacity 10/h. Urgent first: 10*10*5 + 1*10*6 = 560; the other order costs 650.
    p = problem(batches=[batch("B1", priority="urgent"), batch("B2")])
    b, g = bound_and_greedy(p)
    assert g == pytest.approx(560.0)
    assert b == pytest.approx(560.0, rel=1e-4)


def test_bound_splits_tubes_plan_cannot():
    # Capacity 20/h, two routine batches of 15. A plan finishes one in slot 1 and
    # the other in slot 2: 15*5 + 15*6 = 165. The bound sends 20 tubes to slot 1
    # and 10 to slot 2: 20*5 + 10*6 = 160.
    p = problem(
        labs=[lab(capacity_per_hour=20)],
        batches=[batch("B1", tubes=15), batch("B2", tubes=15)],
    )
    b, g = bound_and_greedy(p)
    assert g == pytest.approx(165.0)
    assert b == pytest.approx(160.0, rel=1e-4)


def test_batch_too_big_for_horizon_is_unassigned():
    # 10/h over a 4 h horizon leaves 30 tubes after arrival: a 40-tube box never
    # fits. Unassigned result = 08:00 + 4 h + 24 h = 12:00 next day; collected
    # 07:00 -> tat 29 h, deadline 07:00 next day -> 5 h late:
    # 40 * (29 + 10 * 5) = 3160, both for the plan and the bound.
    p = problem(batches=[batch(tubes=40)], horizon_hours=4)
    b, g = bound_and_greedy(p)
    assert g == pytest.approx(3160.0)
    assert b == pytest.approx(3160.0, rel=1e-4)


def test_greedy_picks_earliest_result_not_nearest():
    # L1 next door runs 6 h; L2 about 40 km away runs 1 h.
    # L1: slot 1 -> result 10:00 + 6 h = 16:00 (tat 9 h).
    # L2: 20 + ceil(40.x*1.3/50*60) minutes -> arrives before 10:00, slot 2 ->
    # result 11:00 + 1 h = 12:00 (tat 5 h). Greedy takes L2: 10 * 5 = 50.
    p = problem(
        labs=[lab("L1", run_minutes=360), lab("L2", lat=34.75 + 0.36, run_minutes=60)],
        batches=[batch()],
    )
    net = Network.build(p)
    s = greedy(net)
    assert int(s.lab[0]) == 1
    assert s.cost(net) == pytest.approx(50.0)


def test_deadline_lateness_counts():
    # Urgent 10 tubes collected at 06:00 -> due 12:00. Only slot 3 is open
    # (lab opens 11:00, closes 12:00): result 12:00 + 2 h = 14:00, tat 8 h, 2 h late.
    # 10 * 10 * (8 + 10 * 2) = 2800.
    p = problem(
        labs=[lab(open_hour=11, close_hour=12)],
        batches=[batch(priority="urgent", collected_at=at(-2))],
    )
    b, g = bound_and_greedy(p)
    assert g == pytest.approx(2800.0)
    assert b == pytest.approx(2800.0, rel=1e-4)
