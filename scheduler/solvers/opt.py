"""The optimiser: flow guidance, rounding, then local search.

1. The greedy baseline is the first incumbent.
2. The min-cost flow of the bound says where tubes want to go; each batch is
   rounded to the lab that carries most of its tubes and each lab's queue is
   ordered by the slots the flow used (``construct_from_flow``).
3. Local search (relocate, reorder) improves the better of the two.
The search is anytime: it stops on the criterion and returns its incumbent,
which is never worse than greedy's or a valid warm start's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from scheduler.network import IntArray, Network
from scheduler.schedule import Schedule
from scheduler.solvers.bound import (
    EXACT_ARC_LIMIT,
    BoundResult,
    build_arcs,
    count_arcs,
    solve_flow,
)
from scheduler.solvers.greedy import greedy
from scheduler.solvers.labqueue import CostModel
from scheduler.solvers.lns import LNS
from scheduler.solvers.localsearch import LocalSearch, candidate_labs
from scheduler.solvers.state import State
from scheduler.solvers.stop import MaxIterations, MaxRuntime, MultipleCriteria, StoppingCriterion

log = logging.getLogger(__name__)

#: labs per batch in the restricted guidance flow and in local search
CANDIDATE_LABS = 8


@dataclass
class OptOutcome:
    schedule: Schedule
    bound: BoundResult | None
    timings: dict[str, float] = field(default_factory=dict)
    trace: list[dict[str, float]] = field(default_factory=list)
    stopped_by_limit: bool = False
    proven_optimal: bool = False


def construct_from_flow(net: Network, cm: CostModel, flow_res: BoundResult) -> State:
    """Round a flow: each batch to its majority lab, queues in flow-slot order."""
    arcs = flow_res.arcs_data
    flow = flow_res.flow
    assert arcs is not None and flow is not None
    used = flow > 0
    b, lab, slot, f = arcs.batch[used], arcs.lab[used], arcs.slot[used], flow[used]
    n_b, n_l = net.n_batches, net.n_labs
    flat = np.zeros(n_b * n_l, dtype=np.int64)
    np.add.at(flat, b * n_l + lab, f)
    per_pair = flat.reshape(n_b, n_l)
    has = per_pair.sum(axis=1) > 0
    chosen = np.where(has, per_pair.argmax(axis=1), -1)
    last = np.full(n_b, -1, dtype=np.int64)
    on_chosen = lab == chosen[b]
    np.maximum.at(last, b[on_chosen], slot[on_chosen])
    queues: list[list[int]] = [[] for _ in range(n_l)]
    idx = np.nonzero(has)[0]
    order = idx[np.lexsort((net.deadline_s[idx], -net.weight[idx], last[idx]))]
    for x in order.tolist():
        queues[int(chosen[x])].append(x)
    return State(net, cm, queues)


def guidance_flow(net: Network, finish: IntArray) -> BoundResult:
    """The bound's flow, exact when small enough, else over the candidate labs only."""
    if count_arcs(net, finish) <= EXACT_ARC_LIMIT:
        return solve_flow(net, build_arcs(net, finish), keep_flow=True)
    cands = candidate_labs(net, finish, CANDIDATE_LABS)
    mask = np.zeros((net.n_batches, net.n_labs), dtype=bool)
    for b, labs in enumerate(cands):
        mask[b, labs] = True
    res = solve_flow(net, build_arcs(net, finish, mask), keep_flow=True)
    # over a subset of arcs the flow optimum is no bound of the full problem
    return BoundResult(
        value=res.value,
        method="restricted flow (guidance only)",
        arcs=res.arcs,
        seconds=res.seconds,
        flow=res.flow,
        arcs_data=res.arcs_data,
        unassigned_tubes=res.unassigned_tubes,
    )


def optimise(
    net: Network,
    *,
    stop: StoppingCriterion | None = None,
    time_limit: float = 60.0,
    seed: int = 0,
    initial: Schedule | None = None,
    on_progress: Callable[[dict[str, float]], None] | None = None,
    max_iterations: int | None = None,
    workers: int = 1,
) -> OptOutcome:
    """Improve on greedy until ``time_limit`` seconds or ``max_iterations`` LNS steps."""
    clock = MaxRuntime(time_limit)
    criterion: StoppingCriterion = stop if stop is not None else clock
    lns_stop: StoppingCriterion = (
        MultipleCriteria([criterion, MaxIterations(max_iterations)])
        if max_iterations is not None
        else criterion
    )
    timings: dict[str, float] = {}
    trace: list[dict[str, float]] = []

    def report(score: float, bound: float | None = None) -> None:
        entry = {"elapsed": time.perf_counter() - clock.start, "score": score}
        if bound is not None:
            entry["bound"] = bound
        trace.append(entry)
        if on_progress is not None:
            on_progress(entry)

    t0 = time.perf_counter()
    cm = CostModel(net)
    finish = net.finish_slots()
    base = greedy(net)
    incumbent = State.from_schedule(net, cm, base)
    if initial is not None and initial.is_feasible(net):
        warm = State.from_schedule(net, cm, initial)
        if warm.total < incumbent.total:
            incumbent = warm
    timings["construct"] = time.perf_counter() - t0
    report(incumbent.total)

    bound_res: BoundResult | None = None
    t0 = time.perf_counter()
    try:
        bound_res = guidance_flow(net, finish)
    except MemoryError:  # pragma: no cover - depends on the machine
        log.warning("guidance flow ran out of memory; searching without it")
    timings["flow"] = time.perf_counter() - t0
    if bound_res is not None:
        t0 = time.perf_counter()
        rounded = construct_from_flow(net, cm, bound_res)
        if rounded.total < incumbent.total:
            incumbent = rounded
        timings["round"] = time.perf_counter() - t0
        exact = bound_res.method.startswith("exact")
        report(incumbent.total, bound_res.value if exact else None)

    t0 = time.perf_counter()
    cands = candidate_labs(net, finish, CANDIDATE_LABS)
    ls = LocalSearch(incumbent, cands, finish, seed=seed)
    ls.run(criterion, on_improve=lambda c: report(c))
    timings["search"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    lns = LNS(incumbent, cands, seed=seed, workers=workers)
    lns.run(clock, lns_stop, on_improve=lambda c: report(c))
    timings["lns"] = time.perf_counter() - t0
    return OptOutcome(
        schedule=incumbent.to_schedule(),
        bound=bound_res,
        timings=timings,
        trace=trace,
        stopped_by_limit=clock.remaining <= 0 and not lns.proven_optimal,
        proven_optimal=lns.proven_optimal,
    )
