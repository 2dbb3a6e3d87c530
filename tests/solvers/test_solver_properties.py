"""Properties every solver result must have, on random instances.

The evaluator (which shares no code with the solvers) is the judge: every plan
is valid, bound <= optimiser <= greedy, and the reported score is the
evaluator's.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.evaluate import evaluate
from scheduler.network import Network
from scheduler.solve import solve
from scheduler.solvers.bounds import (
    exact_bound,
    grouped_bound,
    lab_groups,
    lagrangian_bound,
    lagrangian_value,
    pooled_bound,
    restricted_bound,
)
from scheduler.solvers.cpsat import solve_exact
from scheduler.solvers.flow import build_arcs, chain_flow, flow_prices, solve_flow
from scheduler.solvers.greedy import greedy
from scheduler.solvers.strategy import OptParams
from tests.support.builders import random_problem

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
    # one worker: the time limit is measured in work at the nominal speeds (all
    # cores: on the clock). The wall clock is only a backstop; far beyond the
    # limit here, so that no machine is too slow or busy for the property.
    params = OptParams(wall_backstop_factor=1000.0)
    a = solve(p, time_limit=5.0, seed=3, workers=1, params=params)
    b = solve(p, time_limit=5.0, seed=3, workers=1, params=params)
    assert a.repeatable and b.repeatable
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
    res = solve_flow(net, build_arcs(net, f))
    value, _ = lagrangian_value(net, flow_prices(net, res), f)
    assert value == pytest.approx(res.optimum, rel=1e-6, abs=1e-3)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances)
def test_restricted_bound_is_valid(p):
    net = Network.build(p)
    exact = exact_bound(net).value
    res = restricted_bound(net, net.finish_slots())
    assert res.value <= exact * (1 + 1e-7) + 1e-3
    if res.method.startswith("exact"):
        assert res.value == pytest.approx(exact, rel=1e-6, abs=1e-3)
    # which round's flow is kept for guidance does not change the bound
    first = restricted_bound(net, net.finish_slots(), keep_flow=True, guide_first=True)
    assert first.value == res.value


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances)
def test_pooled_bound_is_below_exact(p):
    net = Network.build(p)
    assert pooled_bound(net, net.finish_slots()).value <= exact_bound(net).value + 1e-3


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances)
def test_chain_flow_is_the_spec_flow(p):
    # Same optimum as the slot-by-slot SPEC flow; its decomposition is a valid
    # split flow of that cost, and its prices reproduce the optimum.
    net = Network.build(p)
    f = net.finish_slots()
    exact = exact_bound(net).value
    cf = chain_flow(net, f)
    # both are lowered by their worst-case cost rounding (a chain path has more arcs)
    assert cf.optimum <= exact + 1e-3
    assert cf.optimum == pytest.approx(exact, rel=1e-5, abs=1e-2)
    sent = np.bincount(cf.arcs.batch, weights=cf.tubes, minlength=net.n_batches)
    assert np.array_equal(sent + cf.unassigned, net.tubes)
    used = np.zeros_like(net.cap_left)
    np.add.at(used, (cf.arcs.lab, cf.arcs.slot), cf.tubes)
    assert (used <= net.cap_left).all()
    assert (cf.arcs.slot >= net.arrival_slot[cf.arcs.batch, cf.arcs.lab]).all()
    assert net.allowed[cf.arcs.batch, cf.arcs.lab].all()
    u = net.cost_per_tube(np.arange(net.n_batches), net.unassigned_result_s)
    cost = float((cf.tubes * cf.arcs.cost).sum() + (cf.unassigned * u).sum())
    assert cost == pytest.approx(exact, rel=1e-5, abs=1e-2)
    assert cf.prices is not None
    value, _ = lagrangian_value(net, cf.prices, f)
    assert value == pytest.approx(exact, rel=1e-5, abs=1e-2)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances, st.integers(0, 3))
def test_grouped_bound_is_below_exact(p, splits):
    net = Network.build(p)
    f = net.finish_slots()
    exact = exact_bound(net).value
    assert grouped_bound(net, f, lab_groups(net, splits)).value <= exact * (1 + 1e-7) + 1e-3
    # any partition of the labs is valid, also one that mixes run times and isolation
    for groups in (np.zeros(net.n_labs, dtype=np.int64), np.arange(net.n_labs) % 2):
        assert grouped_bound(net, f, groups).value <= exact * (1 + 1e-7) + 1e-3
    # one lab per group is the SPEC flow itself
    assert grouped_bound(net, f, np.arange(net.n_labs)).value == pytest.approx(
        exact, rel=1e-5, abs=1e-2
    )


@pytest.mark.parametrize("seed", range(8))
def test_grouped_bound_is_below_the_exact_optimum(seed):
    # against the true optimum of the SPEC score (CP-SAT on the whole instance)
    p = random_problem(seed, n_batches=8, n_labs=3, n_sites=3, horizon_hours=12)
    net = Network.build(p)
    opt = solve_exact(net, time_limit=60)
    assert opt is not None and opt.optimal
    f = net.finish_slots()
    for splits in range(3):
        b = grouped_bound(net, f, lab_groups(net, splits)).value
        # CP-SAT costs are rounded to 1/1000 per batch
        assert b <= opt.objective + 8 * 0.001 + 1e-6
        b = grouped_bound(net, f, np.arange(net.n_labs) % (splits + 1)).value
        # CP-SAT costs are rounded to 1/1000 per batch
        assert b <= opt.objective + 8 * 0.001 + 1e-6
    assert chain_flow(net, f).optimum <= opt.objective + 8 * 0.001 + 1e-6
