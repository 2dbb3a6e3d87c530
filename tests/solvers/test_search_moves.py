"""The local search's machinery: compiled pricing, ruin and recreate, the flow's start.

The compiled pricing must agree bit for bit with the plain fill it replaces,
and its early stop may only cut moves that could not have won; ruin and
recreate may never raise the cost or leave the cached state out of step with
the plan it stands for.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.network import Network
from scheduler.solve import solve
from scheduler.solvers.bounds import EXACT_CHAIN_METHOD, exact_bound
from scheduler.solvers.flow import chain_flow
from scheduler.solvers.greedy import greedy
from scheduler.solvers.labqueue import PRUNED, CostModel
from scheduler.solvers.localsearch import LocalSearch
from scheduler.solvers.perturb import RuinRecreate
from scheduler.solvers.speed import NOMINAL
from scheduler.solvers.starts import flow_candidates, majority_start
from scheduler.solvers.state import State
from scheduler.solvers.stop import MaxIterations, MaxRuntime
from scheduler.solvers.strategy import OptParams
from tests.support.builders import random_problem

CANDIDATE_LABS = OptParams().candidate_labs

FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def state_of(seed: int, n_batches: int = 40, n_labs: int = 3) -> tuple[Network, State]:
    p = random_problem(seed, n_batches=n_batches, n_labs=n_labs, n_sites=4, horizon_hours=24)
    net = Network.build(p)
    return net, State.from_schedule(net, CostModel(net), greedy(net))


def consistent(net: Network, s: State) -> None:
    """The cached costs equal the plan's, queue by queue."""
    assert s.total == pytest.approx(s.to_schedule().cost(net), rel=1e-9, abs=1e-6)
    for lab, q in enumerate(s.queues):
        c, fin = s.queue_cost(lab, q, record=[])
        assert s.lab_cost[lab] == pytest.approx(c, rel=1e-12, abs=1e-9)
        assert fin == s.finishes(lab)


@FEW
@given(st.integers(0, 10**6), st.randoms(use_true_random=False))
def test_compiled_pricing_equals_the_plain_fill(seed, rnd):
    net, s = state_of(seed)
    for _ in range(60):
        lab = rnd.randrange(net.n_labs)
        q = s.queues[lab]
        kind = rnd.choice(["insert", "remove", "reorder"])
        if kind == "insert":
            outside = [b for b in range(net.n_batches) if s.lab_of[b] != lab]
            if not outside:
                continue
            b, p = rnd.choice(outside), rnd.randint(0, len(q))
            order, args = [*q[:p], b, *q[p:]], {"insert_batch": b, "insert_at": p}
            prefix = p
        elif not q:
            continue
        elif kind == "remove":
            i = rnd.randrange(len(q))
            order, args, prefix = q[:i] + q[i + 1 :], {"remove_at": i}, i
        else:
            i, j = rnd.randrange(len(q)), rnd.randrange(len(q))
            order = q[:i] + q[i + 1 :]
            order.insert(j, q[i])
            args, prefix = {"remove_at": i, "insert_batch": q[i], "insert_at": j}, min(i, j)
        plain, fin = s.queue_cost(lab, order, same_prefix=prefix, record=[])
        compiled, last = s.price(lab, **args)
        assert compiled == plain  # same sums in the same order
        if "insert_at" in args:
            assert last == fin[args["insert_at"]]
        if kind == "insert":
            # the early stop only cuts moves that cost more than the limit
            limit = plain + rnd.uniform(-plain - 1, plain + 1)
            cut, cut_last = s.price(lab, **args, limit=limit)
            if cut_last == PRUNED:
                assert plain > limit - 1e-6 * max(1.0, abs(limit))
                assert cut <= plain + 1e-6 * max(1.0, abs(plain))
            else:
                assert cut == plain


@pytest.mark.parametrize("seed", range(5))
def test_local_search_keeps_its_cache_in_step_and_never_raises_the_cost(seed):
    net, s = state_of(seed, n_batches=60, n_labs=4)
    before = s.total
    cands = flow_candidates(net, net.finish_slots(), None, CANDIDATE_LABS)
    LocalSearch(s, cands, net.finish_slots(), seed=seed).run(MaxRuntime(10))
    assert s.total <= before + 1e-9
    consistent(net, s)
    assert s.to_schedule().is_feasible(net)


@pytest.mark.parametrize("seed", range(5))
def test_ruin_and_recreate_never_raises_the_cost_and_repeats(seed):
    def run() -> tuple[float, list[list[int]], int]:
        net, s = state_of(seed, n_batches=60, n_labs=4)
        cands = flow_candidates(net, net.finish_slots(), None, CANDIDATE_LABS)
        ls = LocalSearch(s, cands, net.finish_slots(), seed=seed)
        ls.run(MaxRuntime(10))
        settled = s.total
        rr = RuinRecreate(ls, seed=seed)
        costs = []
        rr.run(MaxRuntime(30), on_improve=costs.append, max_rounds=40)
        assert rr.rounds == 40
        assert s.total <= settled + 1e-9
        assert costs == sorted(costs, reverse=True)
        consistent(net, s)
        assert s.to_schedule().is_feasible(net)
        return s.total, [list(q) for q in s.queues], rr.kept

    assert run() == run()  # same seed, same rounds: same plan


def test_ruin_and_recreate_puts_back_what_it_could_not_improve():
    net, s = state_of(3, n_batches=50, n_labs=3)
    cands = flow_candidates(net, net.finish_slots(), None, CANDIDATE_LABS)
    ls = LocalSearch(s, cands, net.finish_slots(), seed=0)
    ls.run(MaxRuntime(10))
    rr = RuinRecreate(ls, seed=1)
    for _ in range(30):
        queues, total = [list(q) for q in s.queues], s.total
        if not rr.step(MaxIterations(10**6)):
            assert s.queues == queues
            assert s.total == pytest.approx(total, rel=1e-12, abs=1e-9)
        consistent(net, s)


@pytest.mark.parametrize("seed", range(4))
def test_majority_start_puts_each_batch_where_the_flow_sends_most(seed):
    p = random_problem(seed, n_batches=30, n_labs=4, n_sites=5, horizon_hours=24)
    net = Network.build(p)
    finish = net.finish_slots()
    cf = chain_flow(net, finish, potentials=False)
    s = majority_start(net, CostModel(net), cf)
    consistent(net, s)
    sent = np.zeros((net.n_batches, net.n_labs))
    np.add.at(sent, (cf.arcs.batch, cf.arcs.lab), cf.tubes)
    for b in range(net.n_batches):
        if sent[b].sum() == 0:
            assert s.lab_of[b] < 0
        else:
            assert sent[b, s.lab_of[b]] == sent[b].max()


@pytest.mark.parametrize("seed", range(3))
def test_the_exact_flow_from_the_other_core_guides_large_instances(seed):
    # The path of large, not overloaded instances on a small one: the exact
    # flow comes from a forked process, both as the bound and as the majority
    # start of a second search.
    # no flow over the nearest labs fits
    params = OptParams(large_network_arcs=-1, overload_late_share=math.inf, guide_share=0.0)
    p = random_problem(seed, n_batches=40, n_labs=4, n_sites=5, horizon_hours=24)
    net = Network.build(p)
    res = solve(p, time_limit=10, seed=0, params=params)
    assert res.evaluation.valid
    assert res.score <= greedy(net).cost(net) + 1e-6
    # the main process's own flow is exact too on an instance this small
    assert res.bound_method in (EXACT_CHAIN_METHOD, exact_bound(net).method)
    assert res.bound == pytest.approx(exact_bound(net).value, rel=1e-6, abs=1e-2)
    assert res.bound <= res.score + 1e-6
    assert "guided_search" in res.timings


@pytest.mark.parametrize("seed", range(3))
def test_a_flow_over_the_nearest_labs_guides_while_the_exact_one_bounds(seed):
    # The path of large, not overloaded instances when a flow over each batch's
    # best labs fits: it guides the search in the main process, and the forked
    # exact flow only bounds (it is not sent back whole, nor searched from).
    params = OptParams(large_network_arcs=-1, overload_late_share=math.inf, guide_lab_choices=(2,))
    p = random_problem(seed, n_batches=40, n_labs=4, n_sites=5, horizon_hours=24)
    net = Network.build(p)
    res = solve(p, time_limit=10, seed=0, params=params)
    assert res.evaluation.valid
    assert res.score <= greedy(net).cost(net) + 1e-6
    # the guiding flow's optimum is no bound; the exact flow's is
    assert res.bound_method == EXACT_CHAIN_METHOD
    assert res.bound == pytest.approx(exact_bound(net).value, rel=1e-6, abs=1e-2)
    assert "guided_search" not in res.timings


@pytest.mark.parametrize("seed", range(4))
def test_the_guiding_flow_takes_the_best_labs_that_fit_and_claims_no_bound(seed):
    from scheduler.solvers.flow import Flow, candidate_labs
    from scheduler.solvers.guide import guide_flow, guide_labs

    p = random_problem(seed, n_batches=30, n_labs=6, n_sites=5, horizon_hours=24)
    net = Network.build(p)
    finish = net.finish_slots()
    speed = 130_000.0
    pairs = guide_labs(net, finish, 3600.0, arcs_per_second=speed)
    usable = net.allowed & (finish < net.n_slots)
    assert pairs is not None and (pairs == usable).all()  # 64 labs: every usable pair
    assert guide_labs(net, finish, 0.0, arcs_per_second=speed) is None
    # over every usable pair the guiding flow is the exact flow, yet it is a
    # Flow, which has no bound value to report
    res = guide_flow(net, finish, pairs)
    assert isinstance(res, Flow) and not hasattr(res, "value")
    assert res.optimum == pytest.approx(chain_flow(net, finish, potentials=False).optimum)
    # fewer labs per batch: each batch keeps its best-case ones
    two = guide_labs(net, finish, 3600.0, arcs_per_second=speed, choices=(2,))
    assert two is not None
    best = candidate_labs(net, finish, 2)
    for b in range(net.n_batches):
        assert sorted(np.nonzero(two[b])[0].tolist()) == sorted(best[b])


def test_background_flow_can_be_polled_without_blocking():
    from scheduler.solvers.background import BackgroundBound

    p = random_problem(1, n_batches=20, n_labs=3, n_sites=4, horizon_hours=24)
    net = Network.build(p)
    bg = BackgroundBound(net, net.finish_slots(), decompose=True)
    assert bg.started
    rng = random.Random(0)
    for _ in range(10_000):
        if bg.ready():
            break
        rng.random()
    got = bg.result(timeout=30)
    assert got is not None and bg.flow is not None and got.exact
    assert got.value == pytest.approx(exact_bound(net).value, rel=1e-6, abs=1e-2)
    assert bg.ready() is False  # stopped: nothing more will come


def test_no_exact_flow_is_forked_when_it_cannot_return_in_time():
    large = OptParams(large_network_arcs=-1, overload_late_share=math.inf)
    p = random_problem(2, n_batches=30, n_labs=4, n_sites=5, horizon_hours=24)
    # at these speeds the exact flow returns in time: it is forked and waited for
    res = solve(p, time_limit=5, seed=0, params=replace(large, speeds=NOMINAL))
    assert "bound_wait" in res.timings
    # forecast: years
    slow = replace(NOMINAL, chain_arcs=1e-3)
    res = solve(p, time_limit=5, seed=0, params=replace(large, speeds=slow))
    assert res.evaluation.valid
    assert "bound_wait" not in res.timings and "guided_search" not in res.timings
