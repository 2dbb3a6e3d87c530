"""The strong bound (whole batches at their last slot) is a valid bound, and stronger.

Valid: never above the exact optimum (CP-SAT on tiny instances) nor above a
plan's score, at any prices >= 0. Stronger: from the SPEC flow's optimal
prices never below the SPEC bound, and well above it where big boxes fill
hours of small labs. No test here depends on time.
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.domain import Problem
from scheduler.network import Network
from scheduler.solve import solve
from scheduler.solvers.bounds import exact_bound, lagrangian_value
from scheduler.solvers.cpsat import solve_exact
from scheduler.solvers.flow import flow_prices
from scheduler.solvers.greedy import greedy
from scheduler.solvers.strong_bound import (
    StrongBoundJob,
    StrongRelaxation,
    start_prices,
    strong_bound,
)
from tests.support.builders import batch, problem, random_problem

#: CP-SAT rounds each batch's cost to this much at most
CPSAT_ROUNDING = 0.001


def big_boxes(seed: int, *, n_batches: int = 24, n_labs: int = 4) -> Problem:
    """Boxes of ~200 tubes at labs of ~40 tubes/h: one box fills hours of a lab.

    A random instance (every SPEC feature) with its labs open around the
    clock at 30-50 tubes/h and its boxes grown to 150-250 tubes.
    """
    p = random_problem(seed, n_batches=n_batches, n_labs=n_labs, n_sites=4, horizon_hours=36)
    r = random.Random(seed)
    labs = tuple(
        replace(
            x, capacity_per_hour=r.choice([30, 40, 50]), open_hour=0, close_hour=24, backlog_tubes=0
        )
        for x in p.labs
    )
    boxes = tuple(replace(b, tubes=r.randint(150, 250)) for b in p.batches)
    return replace(p, labs=labs, batches=boxes)


def proven_optimum(p: Problem) -> tuple[Network, float]:
    """The network of ``p`` and its optimal score, proven by CP-SAT on the whole instance."""
    net = Network.build(p)
    opt = solve_exact(net, time_limit=60)
    assert opt is not None and opt.optimal
    # CP-SAT rounds each batch's cost to 1/1000
    return net, opt.objective + net.n_batches * CPSAT_ROUNDING + 1e-6


def brute_force_value(net: Network, lam: np.ndarray) -> float:
    """``L(lam)`` by enumerating every (batch, lab, last slot), straight from its definition."""
    f = net.finish_slots()
    total = 0.0
    for b in range(net.n_batches):
        n = int(net.tubes[b])
        best = float(net.unassigned_cost(b))
        for lb in range(net.n_labs):
            if not net.allowed[b, lb] or f[b, lb] >= net.n_slots:
                continue
            for last in range(int(f[b, lb]), net.n_slots):
                window = range(int(net.arrival_slot[b, lb]), last + 1)
                slots = sorted((lam[lb, s], s) for s in window if net.cap_left[lb, s] > 0)
                need, fill = n, 0.0
                for price, s in slots:
                    take = min(need, int(net.cap_left[lb, s]))
                    fill += take * price
                    need -= take
                assert need == 0
                cost = n * float(net.cost_per_tube(b, net.result_s(lb, last)))
                best = min(best, cost + fill)
        total += best
    return total - float((lam * net.cap_left).sum())


def random_prices(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    scale = float(rng.choice([0.1, 1.0, 10.0, 100.0]))
    return rng.exponential(scale, size=shape) * (rng.random(shape) < 0.6)


@pytest.mark.parametrize("seed", range(6))
def test_kernel_matches_the_definition(seed):
    # the compiled pricing (pruned, incremental windows) against plain enumeration
    p = random_problem(seed, n_batches=10, n_labs=3, n_sites=3, horizon_hours=12)
    net = Network.build(p)
    rel = StrongRelaxation(net)
    rng = np.random.default_rng(seed)
    for lam in (np.zeros(net.cap_left.shape), random_prices(rng, net.cap_left.shape)):
        exact = brute_force_value(net, lam)
        # the value is kept a hair (1e-9 of the sums behind it) on the safe side
        scale = abs(exact) + float((lam * net.cap_left).sum())
        assert exact - 1e-8 * scale - 1e-6 <= rel.solve(lam).value <= exact


@pytest.mark.parametrize("seed", range(8))
def test_never_above_the_exact_optimum(seed):
    # (a) tiny instances CP-SAT proves optimal; the strong bound from the SPEC
    # prices, improved by the ascent, stays below that optimum
    net, optimum = proven_optimum(
        random_problem(seed, n_batches=8, n_labs=3, n_sites=3, horizon_hours=12)
    )
    spec = exact_bound(net, keep_flow=True)
    assert strong_bound(net, start_prices(net, spec), max_iterations=400).value <= optimum
    # and at random prices too
    rel = StrongRelaxation(net)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        assert rel.solve(random_prices(rng, net.cap_left.shape)).value <= optimum


@pytest.mark.parametrize("seed", range(4))
def test_big_boxes_never_above_the_exact_optimum(seed):
    # where the bound is strongest it is still below the optimum (small enough for CP-SAT)
    net, optimum = proven_optimum(big_boxes(seed, n_batches=5, n_labs=2))
    spec = exact_bound(net, keep_flow=True)
    sb = strong_bound(net, start_prices(net, spec), max_iterations=400)
    assert spec.value * (1 - 1e-8) - 1e-6 <= sb.value <= optimum


instances = st.builds(
    random_problem,
    st.integers(0, 10_000),
    n_batches=st.integers(1, 14),
    n_labs=st.integers(1, 4),
    n_sites=st.integers(1, 4),
    horizon_hours=st.sampled_from([8, 12, 24]),
    slot_minutes=st.sampled_from([30, 60, 120]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances, st.integers(0, 2**31 - 1))
def test_at_or_above_the_spec_bound_from_its_prices(p, seed):
    # (b) at the SPEC flow's optimal prices the SPEC Lagrangian is the SPEC
    # bound, and the strong one is at least the SPEC one at any prices
    net = Network.build(p)
    f = net.finish_slots()
    spec = exact_bound(net, keep_flow=True)
    assert spec.flow is not None
    pi = flow_prices(net, spec.flow)
    rel = StrongRelaxation(net)
    tol = 1e-8 * max(1.0, spec.value) + 1e-6
    assert rel.solve(pi).value >= spec.value - tol
    assert strong_bound(net, pi, max_iterations=50).value >= spec.value - tol
    lam = random_prices(np.random.default_rng(seed), net.cap_left.shape)
    weak, _ = lagrangian_value(net, lam, f)
    # the strong value is kept 1e-9 of the sums behind it on the safe side
    scale = abs(weak) + float((lam * net.cap_left).sum())
    assert rel.solve(lam).value >= weak - 1e-8 * scale - 1e-6


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances, st.integers(0, 2**31 - 1))
def test_valid_at_random_prices(p, seed):
    # (c) any prices >= 0 give a value below every plan's score (here: the
    # optimiser's and greedy's plans); negative ones are read as zero
    net = Network.build(p)
    rel = StrongRelaxation(net)
    res = solve(p, time_limit=5, seed=0, max_iterations=20, workers=1)
    base = greedy(net).cost(net)
    rng = np.random.default_rng(seed)
    for _ in range(4):
        lam = random_prices(rng, net.cap_left.shape)
        value = rel.solve(lam).value
        assert value <= res.score + 1e-6 * max(1.0, res.score)
        assert value <= base + 1e-6 * max(1.0, base)
    assert rel.solve(-random_prices(rng, net.cap_left.shape)).value == pytest.approx(
        rel.solve(np.zeros(net.cap_left.shape)).value
    )


@pytest.mark.parametrize("seed", range(6))
def test_big_boxes_on_small_labs_are_bounded_better(seed):
    # (d) the SPEC flow lets a box's tubes finish at its earliest finish while
    # other boxes use those hours; whole batches cannot, so the bound rises
    # (here 0.9-7 % after 150 evaluations; the LP converges on half of them)
    p = big_boxes(seed)
    net = Network.build(p)
    spec = exact_bound(net, keep_flow=True)
    sb = strong_bound(net, start_prices(net, spec), max_iterations=150)
    assert sb.value >= spec.value * 1.005
    assert sb.value <= greedy(net).cost(net) * (1 + 1e-9)


def test_solve_reports_it_beside_the_spec_bound():
    p = big_boxes(1)
    res = solve(p, time_limit=10, seed=0, max_iterations=20, workers=1)
    spec = exact_bound(Network.build(p)).value
    assert res.bound == pytest.approx(spec, rel=1e-9)  # the SPEC bound, unchanged
    assert res.bound_strong is not None and res.gap_strong is not None
    assert res.bound_strong_method
    assert res.bound - 1e-6 <= res.bound_strong <= res.score * (1 + 1e-9)
    assert res.gap is not None and res.gap_strong <= res.gap
    d = res.to_dict()
    assert d["bound_strong"] == res.bound_strong and d["gap_strong"] == res.gap_strong
    assert d["bound"] == res.bound


def test_two_boxes_by_hand():
    # One lab, 10 tubes/h, two routine boxes of 30 whose first usable slot is
    # slot 1 (result of slot k at 10:00 + k h, collected 07:00). The SPEC flow
    # charges the tubes of slots 1-3 at the earliest finish (slot 3, tat 7 h)
    # and the 30 after them at 8, 9 and 10 h: 480. A plan finishes one box in
    # slot 3 and the other in slot 6: 30 * 7 + 30 * 10 = 510, the optimum.
    # Whole boxes cannot share the early hours, and the pattern LP proves 510.
    p = problem(batches=[batch("B1", tubes=30), batch("B2", tubes=30)])
    net = Network.build(p)
    spec = exact_bound(net, keep_flow=True)
    assert spec.value == pytest.approx(480.0, rel=1e-6)
    sb = strong_bound(net, start_prices(net, spec), max_iterations=500)
    assert sb.value == pytest.approx(510.0, rel=1e-6)
    assert sb.converged


@pytest.mark.parametrize("max_pairs", [1, 10, 10_000])
def test_fewer_labs_per_batch_stay_valid(max_pairs):
    # pairs cut down to each batch's cheapest labs (large networks): a left-out
    # lab bounds its batch by its unpriced floor, so L stays at most the full L
    p = random_problem(5, n_batches=14, n_labs=24, n_sites=4, horizon_hours=12)
    net = Network.build(p)
    full = StrongRelaxation(net)
    cut = StrongRelaxation(net, max_pairs=max_pairs)
    # 8 labs per batch at least: a few batches here have more
    assert (cut.pairs.size < full.pairs.size) == (max_pairs < full.pairs.size)
    rng = np.random.default_rng(max_pairs)
    for lam in (np.zeros(net.cap_left.shape), random_prices(rng, net.cap_left.shape)):
        assert cut.solve(lam).value <= full.solve(lam).value + 1e-9


def test_the_process_beside_the_search_sends_its_bound():
    # the forked job returns the same kind of value as the bound computed here
    # (it stops on its own once the pattern LP converges on this small instance)
    p = problem(batches=[batch("B1", tubes=30), batch("B2", tubes=30)])
    net = Network.build(p)
    spec = exact_bound(net, keep_flow=True)
    job = StrongBoundJob(net, net.finish_slots(), spec, upper=510.0, seconds=30.0)
    assert job.started
    got = job.result(timeout=30.0)
    assert got is not None
    assert got.value == pytest.approx(510.0, rel=1e-6)  # see test_two_boxes_by_hand
    assert got.prices.shape == net.cap_left.shape
