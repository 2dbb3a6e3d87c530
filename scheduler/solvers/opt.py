"""The optimiser: phases run in order under one clock, as the strategy says.

1. **construct**: greedy's plan, or a valid warm start, is the incumbent.
2. **bound**: the SPEC flow (or a labs-pooled bound, or the guiding flow
   over each batch's nearest labs); the exact flow may run on the other core.
3. **starts**: constructions from greedy orders and the rounded flow.
4. **search**: local search from the best start (or the guiding flow's
   majority rounding).
5. **bound wait** and **guided search**: when the exact flow from the other
   core is to guide, a second search from its majority rounding.
6. **finish**: CP-SAT on small instances, ruin and recreate elsewhere.
7. **strong bound**: collected from its process, or computed in the time kept.

:func:`~scheduler.solvers.strategy.choose_strategy` decides from the
instance's facts what each phase does. The search is anytime: every phase
keeps a plan only when it is cheaper, so the result is never worse than its
start (:func:`starting_point`: greedy's or a valid warm start's).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from scheduler.network import IntArray, Network
from scheduler.schedule import Schedule
from scheduler.solvers.background import BackgroundBound
from scheduler.solvers.bounds import (
    GROUP_SPLITS,
    RESTRICTED_ARC_BUDGET,
    Bound,
    grouped_bound,
    lab_groups,
    lower_bound,
)
from scheduler.solvers.flow import Flow, count_arcs
from scheduler.solvers.greedy import complete, greedy
from scheduler.solvers.guide import GuideOptions, guide_flow, guide_options
from scheduler.solvers.labqueue import CostModel
from scheduler.solvers.lns import LNS, fits_one_model
from scheduler.solvers.localsearch import LocalSearch
from scheduler.solvers.perturb import RuinRecreate
from scheduler.solvers.speed import NOMINAL, Speeds
from scheduler.solvers.starts import flow_candidates, majority_start, round_flow, start_orders
from scheduler.solvers.state import State
from scheduler.solvers.stop import (
    MaxIterations,
    MaxRuntime,
    MultipleCriteria,
    StoppingCriterion,
    TargetGap,
    WorkClock,
)
from scheduler.solvers.strategy import (
    Background,
    Bounding,
    Facts,
    Finish,
    OptParams,
    Start,
    Strategy,
    choose_strategy,
)
from scheduler.solvers.strong_bound import StrongBound, StrongBoundJob, timed_strong_bound

log = logging.getLogger(__name__)


@dataclass
class OptOutcome:
    schedule: Schedule
    bound: Bound | None
    strategy: Strategy
    timings: dict[str, float] = field(default_factory=dict)
    trace: list[dict[str, float]] = field(default_factory=list)
    stopped_by_limit: bool = False
    proven_optimal: bool = False
    #: a seeded run gives this plan again (one worker, stopped by its work budget)
    repeatable: bool = False
    #: the strong bound (whole batches at their last slot), when there was time for it
    strong: StrongBound | None = None


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


def starting_point(
    net: Network, base: Schedule, initial: Schedule | None, *, stable: bool
) -> Schedule:
    """Where the search starts, and what no plan returned is worse than.

    Greedy's plan ``base``, or the valid warm start ``initial`` (completed
    greedily) when it is cheaper; with ``stable`` (a move penalty) the warm
    start whatever it costs, since jumping to greedy's plan would move
    everything.
    """
    if initial is None or not initial.is_feasible(net):
        return base
    warm = complete(net, initial)
    if stable or warm.cost(net) < base.cost(net):
        return warm
    return base


def never_worse(net: Network, plan: Schedule, start: Schedule) -> Schedule:
    """``plan``, unless its :func:`starting_point` ``start`` is cheaper."""
    return start if start.cost(net) < plan.cost(net) else plan


@dataclass
class Run:
    """What the phases share: the instance, the strategy, the clock and the incumbent."""

    net: Network
    cm: CostModel
    finish: IntArray
    params: OptParams
    speeds: Speeds
    strategy: Strategy
    clock: MaxRuntime
    #: the search's stopping rule: the clock, and the gap once a bound is known
    criterion: StoppingCriterion
    #: ruin and recreate's and CP-SAT's: ``criterion`` and ``max_iterations``
    lns_stop: StoppingCriterion
    incumbent: State
    time_limit: float
    seed: int
    workers: int
    max_iterations: int | None
    move_penalty: float
    home: IntArray | None
    guides: GuideOptions | None
    on_progress: Callable[[dict[str, float]], None] | None
    bound: Bound | None = None
    guide: Flow | None = None
    background: BackgroundBound | None = None
    strong_job: StrongBoundJob | None = None
    price_source: Bound | Flow | None = None
    cands: list[list[int]] = field(default_factory=list)
    search: LocalSearch | None = None
    proven_optimal: bool = False
    trace: list[dict[str, float]] = field(default_factory=list)

    def report(self, score: float, bound: float | None = None) -> None:
        entry = {"elapsed": time.perf_counter() - self.clock.start, "score": score}
        if bound is not None:
            entry["bound"] = bound
        self.trace.append(entry)
        if self.on_progress is not None:
            self.on_progress(entry)

    def report_better(self, score: float) -> None:
        if score < self.incumbent.total:
            self.report(score)

    def offer(self, state: State) -> None:
        """Keep ``state`` as the incumbent when it is cheaper."""
        if state.total < self.incumbent.total:
            self.incumbent = state

    def start_strong(self) -> None:
        """Start the strong bound on the idle core (now, or once the exact flow is back)."""
        seconds = self.clock.remaining - self.params.strong_margin
        if (
            self.strong_job is None
            and self.strategy.strong_beside
            and seconds > self.params.strong_margin
        ):
            self.strong_job = StrongBoundJob(
                self.net, self.finish, self.price_source, self.incumbent.total, seconds
            )

    def take_better_bound(self, better: Bound | None) -> None:
        if better is not None and (self.bound is None or better.value > self.bound.value):
            self.bound = better
            self.report(self.incumbent.total, better.value)

    def add_gap_target(self) -> None:
        if self.bound is not None and self.params.gap_target > 0:
            gap_stop = TargetGap(self.bound.value, self.params.gap_target)
            self.criterion = MultipleCriteria([self.criterion, gap_stop])
            self.lns_stop = MultipleCriteria([self.lns_stop, gap_stop])


def bound_phase(run: Run) -> bool:
    """The bound, the flow that guides, and the strong bound's start."""
    net, finish, st = run.net, run.finish, run.strategy
    try:
        if st.guide_labs:
            assert run.guides is not None
            run.bound = grouped_bound(net, finish, lab_groups(net, 0))
            run.guide = guide_flow(net, finish, run.guides.pairs(st.guide_labs))
        elif st.bounding is Bounding.LABS_POOLED_BY_PLACE:
            run.bound = grouped_bound(net, finish, lab_groups(net, GROUP_SPLITS))
        else:
            run.bound = lower_bound(
                net,
                finish=finish,
                keep_flow=True,
                time_limit=run.params.bound_share * run.clock.remaining if st.bound_timed else None,
                upper=run.incumbent.total,
                guide_first=net.n_batches > run.params.many_batches,
                max_rounds=st.bound_rounds,
            )
    except MemoryError:  # pragma: no cover - depends on the machine
        log.warning("guidance flow ran out of memory; searching without it")
    if run.bound is not None and run.guide is None:
        run.clock.charge("flow", run.speeds.flow_seconds(run.bound.arcs, run.bound.rounds))
    # the strong bound starts from the prices of the SPEC flow solved here
    # (or of the guiding flow, when the exact one is on the other core)
    run.price_source = run.guide
    if run.bound is not None and (run.bound.prices is not None or run.bound.flow is not None):
        run.price_source = run.bound
    if run.background is None:
        run.start_strong()
    else:
        run.criterion = MultipleCriteria(
            [run.criterion, _WhenReady(run.background, run.start_strong)]
        )
    return True


def starts_phase(run: Run) -> bool:
    """Constructions from greedy orders and the rounded flow; the cheapest is kept."""
    st, net = run.strategy, run.net
    flow = run.bound.flow if run.bound is not None else None
    if not st.starts or (run.bound is None and Start.WEIGHT_FIRST not in st.starts):
        return False
    starts = start_orders(net, run.finish, st.starts, flow)
    if Start.ROUNDED_FLOW in st.starts and flow is not None and flow.optimum < run.incumbent.total:
        # a second round re-solves a large flow for little gain there
        many = net.n_batches > run.params.many_batches
        left = run.clock.remaining > run.params.second_round_share * run.time_limit
        rounds = 2 if left and not many else 1
        starts.append(round_flow(net, flow, rounds=rounds))
        # a second round re-solves the split batches only: a fraction of the arcs
        arcs = run.bound.arcs if run.bound is not None else flow.size
        run.clock.charge("round", run.speeds.flow_seconds((rounds - 1) * arcs) / 4)
    run.clock.charge("round", len(starts) * run.speeds.greedy_seconds(net))
    for sched in starts:
        run.offer(State.from_schedule(net, run.cm, sched))
    return True


def search_phase(run: Run) -> bool:
    """Local search from the incumbent, or from the guiding flow's majority rounding."""
    if run.bound is not None:
        run.report(run.incumbent.total, run.bound.value)
    run.add_gap_target()
    net, params = run.net, run.params
    # from the guiding flow's majority rounding (see majority_start): above
    # greedy at first, far below greedy's local optimum at the end
    start = run.incumbent if run.guide is None else majority_start(net, run.cm, run.guide)
    flow = run.guide or (run.bound.flow if run.bound is not None else None)
    run.cands = flow_candidates(net, run.finish, flow, params.candidate_labs)
    run.search = LocalSearch(
        start, run.cands, run.finish, seed=run.seed, move_penalty=run.move_penalty, home=run.home
    )
    limits: list[StoppingCriterion] = [run.criterion]
    background = run.background
    if run.strategy.background is Background.GUIDE and run.max_iterations is None:
        assert background is not None
        # the exact flow guides better than this one: switch as soon as it is here
        limits.append(lambda _: background.ready())
    run.search.run(MultipleCriteria(limits), on_improve=run.report_better)
    run.offer(start)
    return True


def bound_wait_phase(run: Run) -> bool:
    """The exact flow from the other core: its bound, and (to guide) its flow."""
    if run.background is None:
        return False
    better = run.background.result(timeout=run.clock.remaining)
    if run.strategy.background is Background.GUIDE:
        run.start_strong()
    run.take_better_bound(better)
    return True


def guided_search_phase(run: Run) -> bool:
    """A second search from the exact flow's majority rounding, when it came in time."""
    if run.strategy.background is not Background.GUIDE or run.background is None:
        return False
    exact_flow = run.background.flow
    if exact_flow is None or run.clock(run.incumbent.total):
        return False
    net = run.net
    guided = majority_start(net, run.cm, exact_flow)
    guided_cands = flow_candidates(net, run.finish, exact_flow, run.params.candidate_labs)
    stops: list[StoppingCriterion] = [run.clock]
    if run.bound is not None and run.params.gap_target > 0:
        stops.append(TargetGap(run.bound.value, run.params.gap_target))
    LocalSearch(guided, guided_cands, run.finish, seed=run.seed).run(
        MultipleCriteria(stops), on_improve=run.report_better
    )
    if guided.total < run.incumbent.total:
        run.incumbent, run.cands = guided, guided_cands
    elif run.search is not None:
        # the flow came early: settle the first search too
        run.search.run(run.criterion, on_improve=run.report)
        run.offer(run.search.s)
    return True


def cpsat_phase(run: Run) -> bool:
    """CP-SAT on the whole of a small instance: proves it optimal when it can."""
    if run.strategy.finish is not Finish.CPSAT:
        return False
    lns = LNS(run.incumbent, seed=run.seed, workers=run.workers)
    lns.run(run.clock, run.lns_stop, on_improve=run.report, work_per_second=run.speeds.cpsat_work)
    run.proven_optimal = lns.proven_optimal
    return True


def ruin_recreate_phase(run: Run) -> bool:
    """Ruin and recreate gets the time left on larger instances.

    CP-SAT's neighbourhoods of a few labs rarely beat local search's optimum
    there (measured on city and province).
    """
    if run.strategy.finish is not Finish.RUIN_RECREATE:
        return False
    search = LocalSearch(run.incumbent, run.cands, run.finish, seed=run.seed)
    rr = RuinRecreate(search, seed=run.seed)
    rr.run(run.criterion, on_improve=run.report, max_rounds=run.max_iterations)
    return True


def _for(kind: Background, run: Run) -> bool:
    return run.strategy.background is kind


@dataclass(frozen=True)
class Phase:
    name: str
    run: Callable[[Run], bool]


#: the phases in order; each times itself into ``timings[name]`` when it ran
PHASES = (
    Phase("flow", bound_phase),
    Phase("round", starts_phase),
    Phase("search", search_phase),
    Phase("bound_wait", lambda run: _for(Background.GUIDE, run) and bound_wait_phase(run)),
    Phase("guided_search", guided_search_phase),
    Phase("lns", cpsat_phase),
    Phase("ruin_recreate", ruin_recreate_phase),
    # an exact flow that only bounds is waited for last, when the search is done
    Phase("bound_wait", lambda run: _for(Background.BOUND, run) and bound_wait_phase(run)),
)  # fmt: skip


def gather_facts(
    net: Network,
    finish: IntArray,
    base: Schedule,
    *,
    stable: bool,
    workers: int,
    params: OptParams,
    speeds: Speeds,
    time_limit: float,
    time_left: float,
) -> tuple[Facts, GuideOptions | None]:
    """The facts the strategy is chosen from, and the guiding flow's options when asked.

    The guiding flow's forecasts cost a pass over every batch's best labs, so
    they are only made where a guiding flow can be chosen at all.
    """
    spec_arcs = count_arcs(net, finish)
    guides = None
    guide_seconds: tuple[tuple[int, float], ...] = ()
    if spec_arcs > params.large_network_arcs and not stable and workers != 1 and params.fork:
        guides = guide_options(net, finish, max(params.guide_lab_choices))
        guide_seconds = tuple(
            (k, guides.arcs(k) / speeds.guide_arcs) for k in params.guide_lab_choices
        )
    facts = Facts(
        spec_arcs=spec_arcs,
        n_batches=net.n_batches,
        late_share=late_share(net, base),
        stable=stable,
        workers=workers,
        can_fork=params.fork,
        time_limit=time_limit,
        time_left=time_left,
        chain_flow_seconds=speeds.chain_flow_seconds(net, finish),
        round_seconds=min(spec_arcs, RESTRICTED_ARC_BUDGET) / speeds.restricted_arcs,
        guide_seconds=guide_seconds,
        fits_cpsat=fits_one_model(net),
    )
    return facts, guides


def optimise(
    net: Network,
    *,
    time_limit: float = 60.0,
    seed: int = 0,
    initial: Schedule | None = None,
    on_progress: Callable[[dict[str, float]], None] | None = None,
    max_iterations: int | None = None,
    workers: int = 0,
    move_penalty: float = 0.0,
    baseline: Schedule | None = None,
    wall_limit: float | None = None,
    params: OptParams | None = None,
) -> OptOutcome:
    """Improve on greedy until ``time_limit`` seconds or ``max_iterations`` LNS steps.

    ``workers``: cores to use (0: all). With one, nothing runs beside the
    search and ``time_limit`` is measured in work (:class:`WorkClock`, at the
    nominal speeds unless ``params.speeds`` says otherwise), so a seed gives
    the same plan on every machine; ``wall_limit`` (default ``time_limit``)
    still stops a run that takes far longer. Timed runs forecast with
    ``params.speeds`` (default: the nominal speeds; :func:`scheduler.solve`
    passes this machine's). ``baseline``: greedy's schedule when the caller
    has it already.
    """
    params = OptParams() if params is None else params
    speeds = params.speeds if params.speeds is not None else NOMINAL
    cm = CostModel(net)
    single = workers == 1
    wall = time_limit if wall_limit is None else wall_limit
    started = time.perf_counter()
    # nothing runs beside a single-core search, so the strong bound runs after
    # it, in time taken from it by a fixed rule (the plan stays repeatable)
    strong_reserve = (
        min(params.strong_share * time_limit, params.strong_max_seconds) if single else 0.0
    )
    time_limit = max(0.0, time_limit - strong_reserve)
    wall = max(0.0, wall - strong_reserve)
    clock: MaxRuntime = (
        WorkClock(time_limit, lambda: cm.work, speeds.search_work, wall_seconds=wall)
        if single
        else MaxRuntime(min(time_limit, wall))
    )
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    finish = net.finish_slots()
    if baseline is None:
        clock.charge("construct", speeds.greedy_seconds(net))
    base = greedy(net) if baseline is None else baseline
    stable = initial is not None and move_penalty > 0
    incumbent = State.from_schedule(net, cm, starting_point(net, base, initial, stable=stable))
    timings["construct"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    facts, guides = gather_facts(
        net,
        finish,
        base,
        stable=stable,
        workers=workers,
        params=params,
        speeds=speeds,
        time_limit=time_limit,
        time_left=clock.remaining,
    )
    strategy = choose_strategy(facts, params)
    background = None
    if strategy.background is not Background.NONE:
        background = BackgroundBound(net, finish, decompose=strategy.background is Background.GUIDE)
        if not background.started:
            background = None
            strategy = choose_strategy(replace(facts, can_fork=False), params)
    log.info("strategy: %s", strategy.name.value)
    criterion: StoppingCriterion = clock
    run = Run(
        net=net,
        cm=cm,
        finish=finish,
        params=params,
        speeds=speeds,
        strategy=strategy,
        clock=clock,
        criterion=criterion,
        lns_stop=(
            MultipleCriteria([criterion, MaxIterations(max_iterations)])
            if max_iterations is not None
            else criterion
        ),
        incumbent=incumbent,
        time_limit=time_limit,
        seed=seed,
        workers=workers,
        max_iterations=max_iterations,
        move_penalty=move_penalty,
        home=initial.lab if stable and initial is not None else None,
        guides=guides,
        on_progress=on_progress,
        background=background,
    )
    run.report(incumbent.total)
    timings["flow"] = time.perf_counter() - t0  # the facts count with the bound's flow
    for phase in PHASES:
        t0 = time.perf_counter()
        if phase.run(run):
            timings[phase.name] = timings.get(phase.name, 0.0) + time.perf_counter() - t0

    repeatable = False
    if isinstance(clock, WorkClock):
        log.info(
            "work clock: %.1f of %.1f s (forecast %s; search %.1f s)",
            clock.elapsed,
            clock.seconds,
            ", ".join(f"{k} {v:.1f}" for k, v in clock.charges.items()),
            cm.work / speeds.search_work,
        )
        if clock.wall_stopped or clock.wall.expired:
            log.warning(
                "the wall clock stopped the search before its work budget, so this "
                "run may not repeat exactly: this machine is far slower than the "
                "nominal one, or busy"
            )
        else:
            repeatable = True
    # after the search's clock is read: the strong bound's time is not the search's
    stopped_by_limit = clock.expired and not run.proven_optimal
    t0 = time.perf_counter()
    wall_left = wall + strong_reserve - (t0 - started)
    strong = _strong(run, wall_left)
    if strong is not None:
        timings["strong_bound"] = time.perf_counter() - t0
    return OptOutcome(
        schedule=run.incumbent.to_schedule(),
        bound=run.bound,
        strategy=strategy,
        timings=timings,
        trace=run.trace,
        stopped_by_limit=stopped_by_limit,
        proven_optimal=run.proven_optimal,
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


def _strong(run: Run, wall_left: float) -> StrongBound | None:
    """The strong bound's process's result, or the bound computed here in the time left.

    The process was due to stop before the search did, so a late one costs
    little; a search that ended early (a proof of optimality) waits for it
    briefly. Without a result, and with time left, it is computed here.
    """
    params = run.params
    t0 = time.perf_counter()
    job = run.strong_job
    got = (
        job.result(timeout=min(params.strong_wait, max(0.05, wall_left)))
        if job is not None
        else None
    )
    left = min(params.strong_max_seconds, wall_left - (time.perf_counter() - t0))
    if got is not None or left <= 0.05:
        return got
    return timed_strong_bound(
        run.net, run.price_source, left, upper=run.incumbent.total, finish=run.finish
    )
