"""The one entry point: ``solve(problem, ...) -> Result``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from scheduler.domain import Chunk, Plan, Problem
from scheduler.evaluate import evaluate
from scheduler.network import Network
from scheduler.result import Result
from scheduler.schedule import Schedule
from scheduler.solvers.bounds import Bound, lower_bound
from scheduler.solvers.greedy import greedy
from scheduler.solvers.opt import never_worse, optimise, starting_point
from scheduler.solvers.speed import NOMINAL, calibrated
from scheduler.solvers.strategy import OptParams
from scheduler.solvers.strong_bound import StrongBound, timed_strong_bound

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict[str, float]], None]

SOLVERS = ("greedy", "opt")
#: the bound counts as reached when the score is this close to it (cost rounding)
OPTIMAL_TOLERANCE = 1e-6


class InvalidPlanError(AssertionError):
    """A solver produced a plan the evaluator rejects: a bug, never returned."""


def _network_around(problem: Problem, frozen: tuple[Chunk, ...]) -> Network:
    """The network of ``problem`` with the frozen chunks' tubes taken out of capacity."""
    net = Network.build(problem)
    if not frozen:
        return net
    cap_left = net.cap_left.copy()
    for c in frozen:
        lab = problem.lab_index.get(c.lab_id)
        slot = problem.config.slot_index(c.slot_start)
        if lab is None or slot is None:
            raise ValueError(f"frozen chunk is not on a lab and slot of the problem: {c}")
        cap_left[lab, slot] -= c.tubes
    if (cap_left < 0).any():
        lab, slot = np.argwhere(cap_left < 0)[0]
        raise ValueError(
            f"frozen chunks exceed the capacity of lab {problem.labs[lab].lab_id} "
            f"in the slot at {problem.config.slot_start(int(slot)).isoformat()}"
        )
    return replace(net, cap_left=cap_left)


def solve(
    problem: Problem,
    *,
    solver: str = "opt",
    time_limit: float = 60.0,
    seed: int = 0,
    initial_plan: Plan | None = None,
    compute_bound: bool = True,
    progress: ProgressFn | None = None,
    max_iterations: int | None = None,
    workers: int = 0,
    frozen: Plan | None = None,
    move_penalty: float = 0.0,
    params: OptParams | None = None,
) -> Result:
    """Plan every batch of ``problem``.

    Parameters
    ----------
    solver
        ``"opt"`` (flow-guided local search, the default) or ``"greedy"``
        (the earliest-deadline-first baseline).
    time_limit
        Seconds the whole call may take: building the network, the search, the
        bound and the final check. Only the first greedy plan is always
        built, however long it takes, and the first timed ``"opt"`` call on a
        machine measures its speed before the clock starts (about 1 s; then
        cached, see :mod:`scheduler.solvers.speed`).
    seed
        Seed of every random choice; with ``workers=1``, same seed, same plan.
    initial_plan
        A plan to start from; the result is never worse than it when it is valid.
    compute_bound
        Whether to compute the SPEC lower bound (and so the gap).
    progress
        Called with ``{"elapsed", "score", "bound"}`` whenever the incumbent improves.
    max_iterations
        Stop the optimiser after this many neighbourhoods.
    workers
        Cores the optimiser may use (0: all). With 1 nothing runs beside the
        search and ``time_limit`` is measured by the work done (forecast for
        the network, the flows and the constructions, counted for the search,
        all at the nominal speeds) rather than by the clock, so a seed gives
        the same plan on every machine. The wall clock only stops such a run
        after ``params.wall_backstop_factor`` times the limit (plus
        ``params.wall_backstop_seconds``); ``Result.repeatable`` is then False.
        With more workers the limit is on the clock and the optimiser's path
        is chosen by forecasts at this machine's measured speeds.
    frozen
        Chunks that must stay exactly as they are (batches already being
        processed). Their batches are not re-planned, their tubes are taken out
        of the capacity first, and the bound is then the bound given them.
    move_penalty
        With ``initial_plan``: moving a batch off its lab there must gain at
        least this much (score units), so re-plans do not churn between
        near-equal options. The search then starts from the warm start only.
    params
        The optimiser's tunables (:class:`~scheduler.solvers.strategy.OptParams`).
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose from {', '.join(SOLVERS)}")
    params = OptParams() if params is None else params
    repeatable_run = solver == "opt" and workers == 1
    # a repeatable run forecasts at the nominal speeds (its work clock's unit);
    # a timed one at this machine's: probed once per machine (about 1 s, before
    # the limit's clock starts), then read from the cache
    speeds = params.speeds
    if speeds is None:
        speeds = calibrated() if solver == "opt" and not repeatable_run else NOMINAL
    params = replace(params, speeds=speeds)
    timings: dict[str, float] = {}
    started = t0 = time.perf_counter()
    frozen_chunks: tuple[Chunk, ...] = frozen.chunks if frozen is not None else ()
    frozen_ids = {c.batch_id for c in frozen_chunks}
    free_problem = problem
    if frozen_ids:
        free_problem = replace(
            problem, batches=tuple(b for b in problem.batches if b.batch_id not in frozen_ids)
        )
        if initial_plan is not None:
            initial_plan = Plan(
                tuple(c for c in initial_plan.chunks if c.batch_id not in frozen_ids)
            )
    net = _network_around(free_problem, frozen_chunks)
    timings["network"] = time.perf_counter() - t0

    start: Schedule | None = None
    if initial_plan is not None:
        try:
            start = Schedule.from_plan(net, initial_plan)
        except ValueError as exc:
            log.warning("initial plan ignored: %s", exc)
        else:
            if not start.is_feasible(net):
                start = start.repaired(net)
                dropped = int((start.lab < 0).sum())
                log.info("initial plan repaired: %d batches left to place again", dropped)

    bound_value: float | None = None
    bound_method: str | None = None
    strong: StrongBound | None = None
    stopped_by_limit = False
    proven_optimal = False
    t0 = time.perf_counter()
    base = greedy(net)
    timings["greedy"] = time.perf_counter() - t0
    schedule = base
    repeatable = solver == "greedy"
    stable = move_penalty > 0 and start is not None
    if solver == "opt":
        spent = time.perf_counter() - started
        reserve = speeds.check_seconds(net.n_batches)
        wall_left = max(0.0, time_limit - spent - reserve)
        budget = wall_left
        if repeatable_run:
            # the same budget on every machine: the set-up at its forecast, not
            # as timed; the wall clock only as a generous backstop
            budget = max(0.0, time_limit - speeds.setup_seconds(net) - reserve)
            backstop = params.wall_backstop_factor * time_limit + params.wall_backstop_seconds
            wall_left = max(0.0, backstop - spent - reserve)
        outcome = optimise(
            net,
            time_limit=budget,
            wall_limit=wall_left,
            seed=seed,
            initial=start,
            on_progress=progress,
            max_iterations=max_iterations,
            workers=workers,
            move_penalty=move_penalty,
            baseline=base,
            params=params,
        )
        timings.update(outcome.timings)
        schedule = outcome.schedule
        stopped_by_limit = outcome.stopped_by_limit
        proven_optimal = outcome.proven_optimal
        repeatable = outcome.repeatable
        if outcome.bound is not None:
            bound_value, bound_method = outcome.bound.value, outcome.bound.method
        strong = outcome.strong
    schedule = never_worse(net, schedule, starting_point(net, base, start, stable=stable))

    if compute_bound and bound_value is None:
        t0 = time.perf_counter()
        b = lower_bound(net, keep_flow=True)
        bound_value, bound_method = b.value, b.method
        timings["bound"] = time.perf_counter() - t0
        if strong is None:
            strong = _strong_here(net, b, schedule.cost(net), time_limit, started, params)
            timings["strong_bound"] = time.perf_counter() - t0 - timings["bound"]

    t0 = time.perf_counter()
    plan = Plan(schedule.to_plan(net).chunks + frozen_chunks)
    ev = evaluate(problem, plan)
    # the frozen batches' cost is fixed, so it adds to the bounds of the rest
    fixed = sum(ev.per_batch[b].cost for b in frozen_ids if b in ev.per_batch)
    if bound_value is not None:
        bound_value += fixed
    bound_strong, strong_method = _beside(bound_value, strong, fixed)
    timings["check"] = time.perf_counter() - t0
    if not ev.valid:
        raise InvalidPlanError(
            f"solver {solver!r} produced an invalid plan: "
            + "; ".join(v.message for v in ev.violations[:5])
        )
    if progress is not None:
        final = {"elapsed": sum(timings.values()), "score": ev.score}
        if bound_value is not None:
            final["bound"] = bound_value
        progress(final)
    status = "time_limit" if stopped_by_limit else "feasible"
    best_bound = bound_strong if bound_strong is not None else bound_value
    if proven_optimal or (
        best_bound is not None and ev.score <= best_bound * (1 + OPTIMAL_TOLERANCE) + 1e-9
    ):
        status = "optimal"
    return Result(
        solver=solver,
        status=status,
        plan=plan,
        score=ev.score,
        bound=bound_value,
        bound_method=bound_method,
        evaluation=ev,
        timings=timings,
        seed=seed,
        repeatable=repeatable,
        bound_strong=bound_strong,
        bound_strong_method=strong_method,
    )


def _strong_here(
    net: Network, spec: Bound, upper: float, time_limit: float, started: float, params: OptParams
) -> StrongBound | None:
    """The strong bound in this process, in a share of the time left (greedy runs)."""
    speeds = params.speeds if params.speeds is not None else NOMINAL
    left = time_limit - (time.perf_counter() - started) - speeds.check_seconds(net.n_batches)
    seconds = min(params.strong_max_seconds, params.greedy_strong_share * time_limit, left)
    if seconds <= 0:
        return None
    return timed_strong_bound(net, spec, seconds, upper=upper)


def _beside(
    bound: float | None, strong: StrongBound | None, fixed: float
) -> tuple[float | None, str | None]:
    """The strong bound to report beside the SPEC bound ``bound``, and how it was found.

    Both are valid bounds, so the larger is: the strong one starts at the
    SPEC bound when it starts from the exact SPEC flow's prices, but from
    other prices (a restricted flow's) or when stopped early it can end
    below it, and is then not reported as stronger.
    """
    if strong is None:
        if bound is None:
            return None, None
        return bound, "the SPEC bound (no time for the strong bound)"
    value = strong.value + fixed
    if bound is not None and value < bound:
        return bound, f"the SPEC bound ({strong.method}: {value:,.2f}, not above it)"
    return value, strong.method
