"""The optimiser against exact answers, and its promises to re-planning."""

from __future__ import annotations

import numpy as np
import pytest

from scheduler.domain import Chunk, Plan
from scheduler.network import Network
from scheduler.solve import solve
from scheduler.solvers.bounds import EXACT_CHAIN_METHOD, exact_bound
from scheduler.solvers.cpsat import solve_exact
from scheduler.solvers.greedy import greedy
from scheduler.solvers.opt import optimise
from scheduler.solvers.strategy import OptParams
from tests.support.builders import at, batch, lab, problem, random_problem


@pytest.mark.parametrize("seed", range(6))
def test_tiny_instances_match_exact_cpsat(seed):
    # Small enough that CP-SAT proves optimality on the whole instance; the
    # optimiser must find the same score (CP-SAT costs are rounded to 1/1000).
    p = random_problem(seed, n_batches=8, n_labs=2, n_sites=3, horizon_hours=12)
    exact = solve_exact(Network.build(p), time_limit=60)
    assert exact is not None and exact.optimal
    res = solve(p, time_limit=30, seed=0)
    assert res.evaluation.valid
    assert res.score == pytest.approx(exact.objective, abs=8 * 0.001 + 1e-6)
    assert res.status == "optimal"


def test_priority_beats_fifo_by_hand():
    # One lab, 10 tubes/h, two boxes arriving together: the urgent one first.
    # Urgent first: 10*10*5 + 1*10*6 = 560 (the other order costs 650).
    p = problem(batches=[batch("B1"), batch("B2", priority="urgent")])
    res = solve(p, time_limit=5)
    assert res.score == pytest.approx(560.0)
    assert res.status == "optimal"


def test_frozen_chunks_stay_and_capacity_is_respected():
    # B1 is being processed in slot 2 (10:00): it must stay there, and B2 must
    # use the capacity left around it.
    p = problem(batches=[batch("B1"), batch("B2")])
    # the whole slot 10:00 is taken by B1
    frozen = Plan((Chunk("B1", "L1", at(2), 10),))
    res = solve(p, time_limit=5, frozen=frozen)
    rows = res.plan.by_batch()
    assert [(c.slot_start, c.tubes) for c in rows["B1"]] == [(at(2), 10)]
    # B2 takes slot 1 (09:00), before the frozen chunk
    assert [(c.slot_start, c.tubes) for c in rows["B2"]] == [(at(1), 10)]
    assert res.evaluation.valid


def test_frozen_chunks_over_capacity_are_refused():
    p = problem(batches=[batch("B1", tubes=20)])
    with pytest.raises(ValueError, match="exceed the capacity of lab L1"):
        solve(p, frozen=Plan((Chunk("B1", "L1", at(2), 20),)))


def test_pinned_lab_is_kept_even_when_worse():
    # L2 is the faster lab, but B1 is pinned (already dispatched) to L1.
    p = problem(
        labs=[lab("L1", run_minutes=300), lab("L2", run_minutes=60)],
        batches=[batch("B1", pinned_lab="L1")],
    )
    res = solve(p, time_limit=5)
    assert res.plan.lab_of()["B1"] == "L1"


def test_repeatable_with_iterations():
    p = random_problem(21, n_batches=200, n_labs=8, n_sites=10, horizon_hours=24)
    a = solve(p, time_limit=60, seed=4, max_iterations=3, workers=1)
    b = solve(p, time_limit=60, seed=4, max_iterations=3, workers=1)
    assert a.plan == b.plan


def test_one_worker_repeats_a_run_stopped_by_its_time_limit():
    # The search is cut by the limit, not finished: with one worker the limit
    # is measured in work, so the cut falls at the same point on every run.
    # (The wall clock is generous here only so that a busy CI machine cannot
    # stop the run first; that case is reported as not repeatable.)
    net = Network.build(random_problem(5, n_batches=600, n_labs=10, n_sites=20))
    runs = [optimise(net, time_limit=1.5, wall_limit=300, seed=2, workers=1) for _ in range(2)]
    for run in runs:
        assert run.stopped_by_limit and run.repeatable and not run.proven_optimal
    a, b = (run.schedule for run in runs)
    assert a.cost(net) < greedy(net).cost(net)
    assert np.array_equal(a.lab, b.lab)
    assert np.array_equal(a.chunk_batch, b.chunk_batch)
    assert np.array_equal(a.chunk_slot, b.chunk_slot)
    assert np.array_equal(a.chunk_tubes, b.chunk_tubes)
    # a larger budget gets further, so the budget really was what stopped it
    longer = optimise(net, time_limit=6, wall_limit=300, seed=2, workers=1)
    assert longer.schedule.cost(net) < a.cost(net)


def test_one_worker_runs_at_the_nominal_speeds_never_this_machines(monkeypatch):
    # a repeatable run's budget and path come from the nominal figures, so
    # whatever this machine measures cannot change its plan
    import scheduler.solve

    def no_probe():
        raise AssertionError("a repeatable run consulted this machine's speed")

    monkeypatch.setattr(scheduler.solve, "calibrated", no_probe)
    p = random_problem(5, n_batches=100, n_labs=6, n_sites=10)
    res = solve(p, time_limit=2, seed=1, workers=1, params=OptParams(wall_backstop_factor=1000))
    assert res.repeatable and res.evaluation.valid
    with pytest.raises(AssertionError, match="consulted"):
        solve(p, time_limit=2, seed=1, workers=0)


def test_one_worker_says_when_the_wall_clock_cut_the_run():
    net = Network.build(random_problem(5, n_batches=600, n_labs=10, n_sites=20))
    run = optimise(net, time_limit=30, wall_limit=0.5, seed=2, workers=1)
    assert run.stopped_by_limit and not run.repeatable


def test_repaired_warm_start_keeps_what_still_fits():
    # the warm start put both boxes in L1; L1 then loses slot 09:00: only the
    # box there is re-placed, the other keeps its lab and slot
    from scheduler.domain import Outage
    from scheduler.schedule import Schedule

    p = problem(batches=[batch("B1"), batch("B2")])
    first = solve(p, time_limit=5)
    rows = first.plan.by_batch()
    hit = next(b for b, cs in rows.items() if any(c.slot_start == at(1) for c in cs))
    other = "B2" if hit == "B1" else "B1"
    p2 = problem(batches=list(p.batches))
    p2 = type(p2)(p2.config, p2.labs, p2.sites, p2.batches, (), (Outage("L1", at(1), at(2)),))
    net = Network.build(p2)
    rep = Schedule.from_plan(net, first.plan).repaired(net)
    assert rep.is_feasible(net)
    kept = rep.to_plan(net).by_batch()
    assert hit not in kept and kept[other] == rows[other]


def test_move_penalty_keeps_labs_for_small_gains():
    # two labs equally good; the warm start uses L2 for B1; without a penalty
    # nothing forces it to stay, with one it stays unless moving gains more
    p = problem(labs=[lab("L1"), lab("L2")], batches=[batch("B1")])
    warm = Plan((Chunk("B1", "L2", at(1), 10),))
    res = solve(p, time_limit=5, initial_plan=warm, move_penalty=1000)
    assert res.plan.lab_of()["B1"] == "L2"


@pytest.mark.parametrize("seed", range(3))
def test_overload_path_is_valid_and_its_bounds_hold(seed):
    # The path for overloaded large instances on a tiny one: weight-first
    # starts, the lab-pooled bound, and better bounds from a forked process.
    params = OptParams(large_network_arcs=-1, overload_late_share=-1.0)
    p = random_problem(seed, n_batches=8, n_labs=3, n_sites=3, horizon_hours=12)
    net = Network.build(p)
    exact = solve_exact(net, time_limit=60)
    assert exact is not None and exact.optimal
    res = solve(p, time_limit=5, seed=0, params=params)
    assert res.evaluation.valid
    assert res.score <= greedy(net).cost(net) + 1e-6
    assert res.bound is not None
    # CP-SAT costs are rounded to 1/1000 per batch
    assert res.bound <= exact.objective + 8 * 0.001 + 1e-6
    # the forked process had the time to finish: its last bound is the exact flow
    assert res.bound_method == EXACT_CHAIN_METHOD
    assert res.bound == pytest.approx(exact_bound(net).value, rel=1e-5, abs=1e-2)


def test_background_bound_returns_none_when_it_cannot_start(monkeypatch):
    import multiprocessing

    from scheduler.solvers import background

    def no_fork(method):
        raise ValueError("no fork here")

    monkeypatch.setattr(multiprocessing, "get_context", no_fork)
    p = random_problem(1, n_batches=8, n_labs=3, n_sites=3, horizon_hours=12)
    net = Network.build(p)
    bg = background.BackgroundBound(net, net.finish_slots())
    assert not bg.started
    assert bg.result(timeout=1.0) is None


def test_work_clock_counts_work_and_charges_not_the_wall():
    from scheduler.solvers.stop import WorkClock

    work = [0.0]
    clock = WorkClock(10.0, lambda: work[0], per_second=100.0, wall_seconds=300.0)
    assert clock.remaining == 10.0 and not clock(0.0)
    clock.charge("flow", 4.0)
    work[0] = 500.0  # 5 s of work
    assert clock.remaining == pytest.approx(1.0)
    assert not clock(0.0)
    work[0] = 600.0
    assert clock(0.0) and clock.expired and not clock.wall_stopped
    late = WorkClock(10.0, lambda: 0.0, per_second=1.0, wall_seconds=0.0)
    assert late(0.0) and late.wall_stopped and late.expired
