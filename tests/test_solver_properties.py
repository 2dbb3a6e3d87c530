"""Properties every solver result must have, on random instances.

The evaluator (which shares no code with the solvers) is the judge: every plan
is valid, bound <= optimiser <= greedy, and the reported score is the
evaluator's.
"""

from __future__ import annotations

import pytest
from builders import random_problem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.evaluate import evaluate
from scheduler.network import Network
from scheduler.solve import solve
from scheduler.solvers.bound import (
    build_arcs,
    exact_bound,
    flow_prices,
    lagrangian_bound,
    lagrangian_value,
    pooled_bound,
    restricted_bound,
    solve_flow,
)
from scheduler.solvers.greedy import greedy

SLOTS = st.sampled_from([15, 30, 60, 60, 120, 180])

instances = st.builds(
    random_problem,
    seed=st.integers(0, 10**6),
    n_batches=st.integers(0, 25),
    n_labs=st.integers(1, 4),
    n_sites=st.integers(1, 5),
    horizon_hours=st.sampled_from([6, 12, 24, 36]),
    slot_minutes=SLOTS,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances)
def test_greedy_valid_and_above_bound(p):
    net = Network.build(p)
    s = greedy(net)
    ev = evaluate(p, s.to_plan(net))
    assert ev.valid, ev.violations[:3]
    assert ev.score == pytest.approx(s.cost(net), rel=1e-9, abs=1e-6)
    bound = exact_bound(net).value
    assert bound <= ev.score + 1e-6


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances)
def test_optimiser_valid_between_bound_and_greedy(p):
    res = solve(p, solver="opt", time_limit=2.0, seed=1)
    assert res.evaluation.valid
    net = Network.build(p)
    g = greedy(net).cost(net)
    assert res.score <= g + 1e-6
    assert res.bound is not None and res.bound <= res.score + 1e-6
    # the pinned lab is respected
    lab_of = res.plan.lab_of()
    for b in p.batches:
        if b.pinned_lab is not None and b.batch_id in lab_of:
            assert lab_of[b.batch_id] == b.pinned_lab


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances)
def test_lagrangian_bound_is_below_exact(p):
    net = Network.build(p)
    exact = exact_bound(net).value
    lagr = lagrangian_bound(net, iterations=15).value
    # the flow value is already lowered by its worst-case cost rounding (< 1e-3 here)
    assert lagr <= exact * (1 + 1e-7) + 1e-3


def test_same_seed_same_plan():
    p = random_problem(7, n_batches=60, n_labs=5)
    a = solve(p, time_limit=5.0, seed=3)
    b = solve(p, time_limit=5.0, seed=3)
    assert a.plan == b.plan
    assert a.score == b.score


def test_warm_start_never_worse():
    p = random_problem(11, n_batches=60, n_labs=5)
    first = solve(p, time_limit=5.0, seed=0)
    again = solve(p, time_limit=5.0, seed=5, initial_plan=first.plan)
    assert again.score <= first.score + 1e-6


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances)
def test_flow_prices_reproduce_the_flow_optimum(p):
    # Strong duality: the Lagrangian at the recovered prices equals the flow optimum.
    net = Network.build(p)
    f = net.finish_slots()
    res = solve_flow(net, build_arcs(net, f), keep_flow=True)
    value, _ = lagrangian_value(net, flow_prices(net, res), f)
    assert value == pytest.approx(res.value, rel=1e-6, abs=1e-3)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances)
def test_restricted_bound_is_valid(p):
    net = Network.build(p)
    exact = exact_bound(net).value
    res = restricted_bound(net, net.finish_slots())
    assert res.value <= exact * (1 + 1e-7) + 1e-3
    if res.method.startswith("exact"):
        assert res.value == pytest.approx(exact, rel=1e-6, abs=1e-3)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances)
def test_pooled_bound_is_below_exact(p):
    net = Network.build(p)
    assert pooled_bound(net, net.finish_slots()).value <= exact_bound(net).value + 1e-3
