"""The optimiser: flow guidance, rounding, then local search.

1. The greedy baseline is the first incumbent.
2. The min-cost flow of the bound says where tubes want to go; each batch is
   rounded to the lab that carries most of its tubes and each lab's queue is
   keeps the flow's slots (``round_flow``).
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
from scheduler.schedule import UNASSIGNED, Schedule
from scheduler.solvers.background import BackgroundBound
from scheduler.solvers.bounds import (
    EXACT_ARC_LIMIT,
    GROUP_SPLITS,
    RESTRICTED_ARC_BUDGET,
    Bound,
    budget_arcs,
    grouped_bound,
    lab_groups,
    lower_bound,
)
from scheduler.solvers.flow import Flow, candidate_labs, count_arcs, solve_flow
from scheduler.solvers.greedy import complete, greedy, place
from scheduler.solvers.guide import guide_flow, guide_labs
from scheduler.solvers.labqueue import CostModel
from scheduler.solvers.lns import LNS
from scheduler.solvers.localsearch import LocalSearch
from scheduler.solvers.perturb import RuinRecreate
from scheduler.solvers.state import State
from scheduler.solvers.stop import (
    MaxIterations,
    MaxRuntime,
    MultipleCriteria,
    StoppingCriterion,
    TargetGap,
    WorkClock,
)
from scheduler.solvers.strong_bound import StrongBound, StrongBoundJob, timed_strong_bound

log = logging.getLogger(__name__)

#: labs per batch in local search
CANDIDATE_LABS = 12
#: stop searching once the plan is this close to the bound (relative)
DEFAULT_GAP_TARGET = 1e-4
#: share of greedy's tubes that are late above which an instance counts as overloaded
OVERLOAD_LATE_SHARE = 0.1
#: chain-flow arcs OR-Tools solves per second here (province: 8.1 M in 30 s)
CHAIN_ARCS_PER_SECOND = 250_000
#: restricted-flow arcs solved and priced per second here (province: 6 M in 11 s)
RESTRICTED_ARCS_PER_SECOND = 550_000
#: batches above which only the starts that usually win are built
MANY_BATCHES = 15_000
#: share of the time left that column generation may start new rounds in
BOUND_SHARE = 0.3
#: share of the time left for the guiding flow over the nearest labs
GUIDE_SHARE = 0.45
#: arcs per second of a restricted chain flow here (province: 2.0-2.9 M arcs in 14-22 s;
#: slower per arc than the full network's, whose spare arcs make it easier)
GUIDE_ARCS_PER_SECOND = 130_000
# Forecasts of this machine's speed, on the slow side, for the work clock
# of a single-core run (measured on county, city, province and surge):
#: greedy, per batch and per batch x lab cell (province: 4.2 s, surge: 3.3 s)
GREEDY_SECONDS_PER_BATCH = 8e-5
GREEDY_CELLS_PER_SECOND = 10_000_000
#: building the network, per batch x lab cell (province: 21.6 M in 2.6 s)
NETWORK_CELLS_PER_SECOND = 8_000_000
#: flow arcs solved and priced per second (province: 5.2 M in 16.5 s)
FLOW_ARCS_PER_SECOND = 300_000
#: labqueue's work units per second of local search (6.2-11e8 measured)
WORK_PER_SECOND = 7.5e8
#: share of a single-core run's limit kept for the strong bound after the search
STRONG_SHARE = 0.05
#: at most this many seconds of it
STRONG_MAX_SECONDS = 3.0
#: the strong bound's process stops this long before the search, to be collected in time
STRONG_MARGIN = 0.3
#: seconds the strong bound's process is waited for when the search ended early
STRONG_WAIT = 1.0


@dataclass
class OptOutcome:
    schedule: Schedule
    bound: Bound | None
    timings: dict[str, float] = field(default_factory=dict)
    trace: list[dict[str, float]] = field(default_factory=list)
    stopped_by_limit: bool = False
    proven_optimal: bool = False
    #: a seeded run gives this plan again (one worker, stopped by its work budget)
    repeatable: bool = False
    #: the strong bound (whole batches at their last slot), when there was time for it
    strong: StrongBound | None = None


def greedy_seconds(net: Network) -> float:
    """Forecast seconds of one greedy construction (a deterministic charge)."""
    cells = net.n_batches * net.n_labs
    return net.n_batches * GREEDY_SECONDS_PER_BATCH + cells / GREEDY_CELLS_PER_SECOND


def setup_seconds(net: Network) -> float:
    """Forecast seconds of building ``net`` and its greedy plan."""
    return net.n_batches * net.n_labs / NETWORK_CELLS_PER_SECOND + greedy_seconds(net)


def flow_seconds(res: Bound) -> float:
    """Forecast seconds of the flows behind ``res``."""
    return res.rounds * res.arcs / FLOW_ARCS_PER_SECOND


def late_share(net: Network, sched: Schedule) -> float:
    """Share of the tubes whose result comes after their deadline (unassigned: late)."""
    total = int(net.tubes.sum())
    if total == 0:
        return 0.0
    last = sched.last_slot()
    on = sched.lab >= 0
    result = np.full(net.n_batches, float(net.unassigned_result_s))
    result[on] = net.result_s(sched.lab[on], last[on])
    return float(net.tubes[result > net.deadline_s].sum()) / total


def _whole_batches(net: Network, res: Flow) -> tuple[np.ndarray, np.ndarray]:
    """Batches the flow sends whole to one lab, and the mask of their arcs."""
    a, fl = res.arcs, res.tubes
    used = fl > 0
    n_b, n_l = net.n_batches, net.n_labs
    n_labs = np.zeros(n_b, dtype=np.int64)
    pairs = np.unique(a.batch[used] * n_l + a.lab[used])
    np.add.at(n_labs, pairs // n_l, 1)
    sent = np.bincount(a.batch[used], weights=fl[used], minlength=n_b)
    whole = (n_labs == 1) & (sent == net.tubes)
    return whole, used & whole[a.batch]


def round_flow(net: Network, res: Flow, rounds: int = 3) -> Schedule:
    """Iterative rounding of the bound's flow into a plan.

    Batches the flow sends whole to one lab keep exactly the flow's chunks
    (they already respect capacity). The rest are re-solved as a flow on the
    capacity left, a few rounds, and whatever is still split is placed by the
    greedy rule at its earliest result.
    """
    lab_of = np.full(net.n_batches, UNASSIGNED, dtype=np.int64)
    chunks: list[tuple[int, int, int]] = []
    remaining = net.cap_left.copy()
    current, sub = res, net
    active = np.arange(net.n_batches)
    for r in range(rounds):
        whole, keep = _whole_batches(sub, current)
        a, fl = current.arcs, current.tubes
        gb = active[a.batch[keep]]
        lab_of[gb] = a.lab[keep]
        np.subtract.at(remaining, (a.lab[keep], a.slot[keep]), fl[keep])
        chunks.extend(zip(gb.tolist(), a.slot[keep].tolist(), fl[keep].tolist(), strict=True))
        active = active[~whole]
        if active.size == 0 or r == rounds - 1 or whole.sum() == 0:
            break
        sub = net.restricted_to(active, remaining)
        current = solve_flow(sub, budget_arcs(sub)[0])
    rest = active[np.lexsort((net.deadline_s[active], -net.weight[active]))]
    for b in rest.tolist():
        place(net, remaining, b, lab_of, chunks)
    return Schedule.from_lists(lab_of, chunks)


def flow_candidates(
    net: Network, finish: IntArray, flow_res: Flow | None, k: int
) -> list[list[int]]:
    """Per batch: labs the flow used (most tubes first), then the best-case labs."""
    best = candidate_labs(net, finish, k)
    if flow_res is None:
        return best
    a, fl = flow_res.arcs, flow_res.tubes
    used = fl > 0
    by_pair: dict[tuple[int, int], int] = {}
    for b, lab, x in zip(
        a.batch[used].tolist(), a.lab[used].tolist(), fl[used].tolist(), strict=True
    ):
        by_pair[b, lab] = by_pair.get((b, lab), 0) + x
    flow_labs: list[list[tuple[int, int]]] = [[] for _ in range(net.n_batches)]
    for (b, lab), x in by_pair.items():
        flow_labs[b].append((-x, lab))
    out = []
    for b in range(net.n_batches):
        labs = [lab for _, lab in sorted(flow_labs[b])]
        labs += [lab for lab in best[b] if lab not in labs]
        out.append(labs[: max(k, len(flow_labs[b]))])
    return out


def flow_last_slot(net: Network, flow_res: Flow | None) -> IntArray:
    """Latest slot in which the flow processes a tube of each batch (-1: none)."""
    last = np.full(net.n_batches, -1, dtype=np.int64)
    if flow_res is None:
        return last
    a, fl = flow_res.arcs, flow_res.tubes
    used = fl > 0
    np.maximum.at(last, a.batch[used], a.slot[used])
    return last


def chain_flow_seconds(net: Network, finish: IntArray) -> float:
    """A rough forecast of the exact chain flow's time (this project's machine).

    Its arcs are about one per usable (batch, lab) pair plus the slots
    between arrival and earliest finish; the province's 8.1 M took 30 s.
    """
    usable = net.allowed & (finish < net.n_slots)
    waits = np.where(usable, finish - net.arrival_slot, 0).sum()
    return float(usable.sum() + waits) / CHAIN_ARCS_PER_SECOND


def majority_start(net: Network, cm: CostModel, flow_res: Flow) -> State:
    """Each batch whole at the lab that takes most of its tubes in the flow.

    Queues follow the flow's last slot per batch at that lab, heavier batches
    first on ties. Labs overfill where the flow split batches, so this start
    costs more than a rounded one; local search from it, though, keeps the
    flow's province-wide division of work and ends well below the rounded
    flow's or greedy's local optimum (province preset: 36.98 M against 37.01 M).
    """
    a, fl = flow_res.arcs, flow_res.tubes
    queues: list[list[int]] = [[] for _ in range(net.n_labs)]
    if a.size == 0:
        return State(net, cm, queues)
    used = fl > 0
    n_l = net.n_labs
    pair, inv = np.unique(a.batch[used] * n_l + a.lab[used], return_inverse=True)
    tubes = np.bincount(inv, weights=fl[used])
    last = np.full(pair.size, -1, dtype=np.int64)
    np.maximum.at(last, inv, a.slot[used])
    pb, pl = pair // n_l, pair % n_l
    by_batch = np.lexsort((-tubes, pb))
    top = by_batch[np.r_[True, pb[by_batch][1:] != pb[by_batch][:-1]]]
    top = top[np.lexsort((-net.weight[pb[top]], last[top]))]
    for b, lab in zip(pb[top].tolist(), pl[top].tolist(), strict=True):
        queues[lab].append(b)
    return State(net, cm, queues)


def optimise(
    net: Network,
    *,
    stop: StoppingCriterion | None = None,
    time_limit: float = 60.0,
    seed: int = 0,
    initial: Schedule | None = None,
    on_progress: Callable[[dict[str, float]], None] | None = None,
    max_iterations: int | None = None,
    workers: int = 0,
    gap_target: float = DEFAULT_GAP_TARGET,
    move_penalty: float = 0.0,
    bound_in_background: bool = True,
    baseline: Schedule | None = None,
    wall_limit: float | None = None,
) -> OptOutcome:
    """Improve on greedy until ``time_limit`` seconds or ``max_iterations`` LNS steps.

    ``workers``: cores to use (0: all). With one, nothing runs beside the
    search and ``time_limit`` is measured in work (:class:`WorkClock`), so a
    seed gives the same plan on every run; ``wall_limit`` (default
    ``time_limit``) then still stops a run on a slower machine.
    ``baseline``: greedy's schedule when the caller has it already.
    """
    cm = CostModel(net)
    deterministic = workers == 1
    wall = time_limit if wall_limit is None else wall_limit
    started = time.perf_counter()
    # nothing runs beside a single-core search, so the strong bound runs after
    # it, in time taken from it by a fixed rule (the plan stays repeatable)
    strong_reserve = min(STRONG_SHARE * time_limit, STRONG_MAX_SECONDS) if deterministic else 0.0
    time_limit = max(0.0, time_limit - strong_reserve)
    wall = max(0.0, wall - strong_reserve)
    clock: MaxRuntime = (
        WorkClock(time_limit, lambda: cm.work, WORK_PER_SECOND, wall_seconds=wall)
        if deterministic
        else MaxRuntime(min(time_limit, wall))
    )

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
    finish = net.finish_slots()
    if baseline is None:
        clock.charge("construct", greedy_seconds(net))
    base = greedy(net) if baseline is None else baseline
    incumbent = State.from_schedule(net, cm, base)
    stable = initial is not None and move_penalty > 0
    if initial is not None and initial.is_feasible(net):
        warm = State.from_schedule(net, cm, complete(net, initial))
        # for stability the search starts from the warm start, even if greedy is cheaper
        if stable or warm.total < incumbent.total:
            incumbent = warm
    timings["construct"] = time.perf_counter() - t0
    report(incumbent.total)

    bound_res: Bound | None = None
    t0 = time.perf_counter()
    # Large networks (province, surge): the exact bound's flow, on chains, takes
    # half a minute, so it runs in a process on the other core. Overload (many
    # late tubes): restricted flows are far from the optimum there and do not
    # guide well, so the search starts from weight-first greedy orders and the
    # lab-pooled bound. Otherwise, when it fits the time, the same flow over
    # each batch's nearest labs guides the search (guide_flow) and the exact
    # one only bounds; when it does not, one round of the restricted flow
    # guides until the exact flow comes back to guide from its majority rounding.
    spec_arcs = count_arcs(net, finish)
    large_network = spec_arcs > EXACT_ARC_LIMIT
    overloaded = large_network and late_share(net, base) > OVERLOAD_LATE_SHARE
    # each extra greedy start costs seconds on a large instance
    large = net.n_batches > MANY_BATCHES
    background: BackgroundBound | None = None
    guide_pairs = None
    # a flow that cannot return in time would only hold memory (7.8 GB at
    # 100,000 batches) and the other core
    if (
        large_network
        and bound_in_background
        and not deterministic
        and chain_flow_seconds(net, finish) < time_limit
    ):
        if not overloaded and not stable:
            # the exact flow takes most of the minute; one over each batch's
            # nearest labs is often as good a guide, in half the time
            guide_pairs = guide_labs(
                net, finish, GUIDE_SHARE * clock.remaining, arcs_per_second=GUIDE_ARCS_PER_SECOND
            )
        background = BackgroundBound(
            net, finish, decompose=not overloaded and not stable and guide_pairs is None
        )
        if not background.started:
            background, guide_pairs = None, None
    guide_from_background = (
        background is not None and not overloaded and not stable and guide_pairs is None
    )
    # slack: how long a batch could still wait at its best lab and be on time
    best_result = np.where(
        net.allowed & (finish < net.n_slots),
        net.result_s(np.arange(net.n_labs)[None, :], finish),
        np.inf,
    ).min(axis=1, initial=np.inf)
    slack = net.deadline_s - best_result
    # a short limit on a large network: the restricted flow (which OR-Tools
    # cannot stop) would take the whole limit, so bound with the pooled labs
    round_seconds = min(spec_arcs, RESTRICTED_ARC_BUDGET) / RESTRICTED_ARCS_PER_SECOND
    quick = large_network and not overloaded and round_seconds > 0.5 * clock.remaining
    max_rounds = 8
    if background is not None:
        max_rounds = 1  # the exact bound is on its way: one round guides until it comes
    elif deterministic:
        # rounds by forecast, not by the clock, so that every run does as many
        # (a network with no usable arc forecasts no time: one round)
        max_rounds = int(np.clip(BOUND_SHARE * clock.remaining // max(round_seconds, 1e-3), 1, 8))
    guide: Flow | None = None
    try:
        if guide_pairs is not None:
            # the exact bound is on its way; a cheap valid one in case it fails
            bound_res = grouped_bound(net, finish, lab_groups(net, 0))
            guide = guide_flow(net, finish, guide_pairs)
        elif overloaded or quick:
            bound_res = grouped_bound(net, finish, lab_groups(net, GROUP_SPLITS))
        else:
            bound_res = lower_bound(
                net,
                finish=finish,
                keep_flow=True,
                time_limit=None if deterministic else BOUND_SHARE * clock.remaining,
                upper=incumbent.total,
                guide_first=large,
                max_rounds=max_rounds,
            )
    except MemoryError:  # pragma: no cover - depends on the machine
        log.warning("guidance flow ran out of memory; searching without it")
    if bound_res is not None and guide is None:
        clock.charge("flow", flow_seconds(bound_res))
    timings["flow"] = time.perf_counter() - t0
    # the strong bound starts from the prices of the SPEC flow solved here
    # (or of the guiding flow, when the exact one is on the other core)
    price_source: Bound | Flow | None = guide
    if bound_res is not None and (bound_res.prices is not None or bound_res.flow is not None):
        price_source = bound_res
    strong_job: StrongBoundJob | None = None

    def start_strong() -> None:
        # on the core the search leaves idle: now, or once the exact flow is back
        nonlocal strong_job
        seconds = clock.remaining - STRONG_MARGIN
        if strong_job is None and not deterministic and seconds > STRONG_MARGIN:
            strong_job = StrongBoundJob(net, finish, price_source, incumbent.total, seconds)

    if background is None:
        start_strong()
    else:
        criterion = MultipleCriteria([criterion, _WhenReady(background, start_strong)])
    if overloaded and not stable:
        t0 = time.perf_counter()
        # weight first, then deadline, then earliest possible result (np.lexsort
        # sorts by its last key first); least slack did about as well, and each
        # greedy costs seconds of search
        order = np.lexsort((best_result, net.deadline_s, -net.weight))
        clock.charge("round", greedy_seconds(net))
        st = State.from_schedule(net, cm, greedy(net, order))
        if st.total < incumbent.total:
            incumbent = st
        timings["round"] = time.perf_counter() - t0
    elif guide is None and bound_res is not None and not stable:
        t0 = time.perf_counter()
        # several constructions; the cheapest one is searched. Orders by the
        # flow's last slots help even when the flow itself is far off.
        last = flow_last_slot(net, bound_res.flow)
        starts = [] if quick else [greedy(net, np.lexsort((slack, -net.weight)))]  # least slack
        if not large:
            # on large instances these rarely win and each costs seconds of search
            starts += [
                greedy(net, np.lexsort((net.deadline_s, -net.weight))),  # deadline
                greedy(net, np.lexsort((net.deadline_s, last, -net.weight))),  # flow order
                greedy(net, np.lexsort((-net.weight, last))),  # flow order, then weight
            ]
        if bound_res.flow is not None and bound_res.flow.optimum < incumbent.total:
            # a second round re-solves a large flow for little gain there
            rounds = 2 if clock.remaining > 0.3 * time_limit and not large else 1
            starts.append(round_flow(net, bound_res.flow, rounds=rounds))
            # a second round re-solves the split batches only: a fraction of the arcs
            clock.charge("round", (rounds - 1) * bound_res.arcs / (4 * FLOW_ARCS_PER_SECOND))
        clock.charge("round", len(starts) * greedy_seconds(net))
        for sched in starts:
            st = State.from_schedule(net, cm, sched)
            if st.total < incumbent.total:
                incumbent = st
        timings["round"] = time.perf_counter() - t0
    if bound_res is not None:
        report(incumbent.total, bound_res.value)

    if bound_res is not None and gap_target > 0:
        gap_stop = TargetGap(bound_res.value, gap_target)
        criterion = MultipleCriteria([criterion, gap_stop])
        lns_stop = MultipleCriteria([lns_stop, gap_stop])

    t0 = time.perf_counter()
    # from the guiding flow's majority rounding (see majority_start): above
    # greedy at first, far below greedy's local optimum at the end
    start = incumbent if guide is None else majority_start(net, cm, guide)
    cands = flow_candidates(
        net, finish, guide or (bound_res.flow if bound_res else None), CANDIDATE_LABS
    )
    home = initial.lab if stable and initial is not None else None
    ls = LocalSearch(start, cands, finish, seed=seed, move_penalty=move_penalty, home=home)
    ls_limits: list[StoppingCriterion] = [criterion]
    if guide_from_background and max_iterations is None:
        assert background is not None
        # the exact flow guides better than this one: switch as soon as it is here
        ls_limits.append(lambda _: background.ready())
    ls.run(
        MultipleCriteria(ls_limits),
        on_improve=lambda c: report(c) if c < incumbent.total else None,
    )
    if start.total < incumbent.total:
        incumbent = start
    timings["search"] = time.perf_counter() - t0

    if guide_from_background:
        assert background is not None
        t0 = time.perf_counter()
        better = background.result(timeout=clock.remaining)
        timings["bound_wait"] = time.perf_counter() - t0
        start_strong()
        exact_flow = background.flow
        if better is not None and (bound_res is None or better.value > bound_res.value):
            bound_res = better
            report(incumbent.total, better.value)
        if exact_flow is not None and not clock(incumbent.total):
            t0 = time.perf_counter()
            guided = majority_start(net, cm, exact_flow)
            guided_cands = flow_candidates(net, finish, exact_flow, CANDIDATE_LABS)
            stops: list[StoppingCriterion] = [clock]
            if bound_res is not None and gap_target > 0:
                stops.append(TargetGap(bound_res.value, gap_target))
            LocalSearch(guided, guided_cands, finish, seed=seed).run(
                MultipleCriteria(stops),
                on_improve=lambda c: report(c) if c < incumbent.total else None,
            )
            if guided.total < incumbent.total:
                incumbent, cands = guided, guided_cands
            else:
                # the flow came early: settle the first search too
                ls.run(criterion, on_improve=lambda c: report(c))
            timings["guided_search"] = time.perf_counter() - t0

    # the time left: CP-SAT proves small instances optimal as one neighbourhood;
    # elsewhere its neighbourhoods of a few labs rarely beat local search's
    # optimum (measured on city and province), so ruin and recreate gets it
    t0 = time.perf_counter()
    lns = LNS(incumbent, seed=seed, workers=workers)
    if stable:
        pass  # both would move batches for any gain, whatever the move penalty
    elif lns.whole_instance_fits():
        lns.run(clock, lns_stop, on_improve=lambda c: report(c))
        timings["lns"] = time.perf_counter() - t0
    else:
        rr = RuinRecreate(LocalSearch(incumbent, cands, finish, seed=seed), seed=seed)
        rr.run(criterion, on_improve=lambda c: report(c), max_rounds=max_iterations)
        timings["ruin_recreate"] = time.perf_counter() - t0
    if background is not None and not guide_from_background:
        t0 = time.perf_counter()
        better = background.result(timeout=clock.remaining)
        if better is not None and bound_res is not None and better.value > bound_res.value:
            bound_res = better
            report(incumbent.total, better.value)
        timings["bound_wait"] = time.perf_counter() - t0
    repeatable = False
    if isinstance(clock, WorkClock):
        log.info(
            "work clock: %.1f of %.1f s (forecast %s; search %.1f s)",
            clock.elapsed,
            clock.seconds,
            ", ".join(f"{k} {v:.1f}" for k, v in clock.charges.items()),
            cm.work / WORK_PER_SECOND,
        )
        if clock.wall_stopped or clock.wall.expired:
            log.warning(
                "the wall clock stopped the search before its work budget, so this "
                "run may not repeat exactly: this machine is slower than the budget "
                "assumes, or busy"
            )
        else:
            repeatable = True
    # after the search's clock is read: the strong bound's time is not the search's
    stopped_by_limit = clock.expired and not lns.proven_optimal
    t0 = time.perf_counter()
    wall_left = wall + strong_reserve - (t0 - started)
    strong = _strong(net, finish, strong_job, price_source, incumbent.total, wall_left)
    if strong is not None:
        timings["strong_bound"] = time.perf_counter() - t0
    return OptOutcome(
        schedule=incumbent.to_schedule(),
        bound=bound_res,
        timings=timings,
        trace=trace,
        stopped_by_limit=stopped_by_limit,
        proven_optimal=lns.proven_optimal,
        repeatable=repeatable,
        strong=strong,
    )


class _WhenReady:
    """A stopping rule that never stops: it starts ``then`` once ``background`` is done."""

    def __init__(self, background: BackgroundBound, then: Callable[[], None]) -> None:
        self.background = background
        self.then = then
        self.fired = False

    def __call__(self, best_cost: float) -> bool:
        if not self.fired and self.background.ready():
            self.fired = True
            self.then()
        return False


def _strong(
    net: Network,
    finish: IntArray,
    job: StrongBoundJob | None,
    source: Bound | Flow | None,
    upper: float,
    wall_left: float,
) -> StrongBound | None:
    """The strong bound's process's result, or the bound computed here in the time left.

    The process was due to stop before the search did, so a late one costs
    little; a search that ended early (a proof of optimality) waits for it
    briefly. Without a result, and with time left, it is computed here.
    """
    t0 = time.perf_counter()
    got = job.result(timeout=min(STRONG_WAIT, max(0.05, wall_left))) if job is not None else None
    left = min(STRONG_MAX_SECONDS, wall_left - (time.perf_counter() - t0))
    if got is not None or left <= 0.05:
        return got
    return timed_strong_bound(net, source, left, upper=upper, finish=finish)
