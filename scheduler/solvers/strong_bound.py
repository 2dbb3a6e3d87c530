"""A stronger lower bound than SPEC §3's: whole batches, charged at their last slot.

Relax only the (lab, slot) capacities, each with a price ``lam >= 0``. What is
left separates by batch: batch ``b`` goes whole to one allowed lab ``l``,
picks a last slot ``f`` at or after its earliest finish there, and spreads
its tubes over the open slots in ``[arrival, f]`` (each at most that slot's
capacity left), paying the SPEC cost of finishing in ``f`` plus the prices of
the slots it uses; or it stays unassigned at the unassigned cost. With
``V_b(lam)`` that minimum,

    L(lam) = sum_b V_b(lam) - sum_{l,s} lam[l, s] * cap_left[l, s]

is at most the score of every valid plan, for ANY ``lam >= 0``: a plan's
batch at lab ``l`` with last slot ``f*`` is one of the choices above at
exactly its SPEC cost (its chunks respect each slot's capacity), and its
tubes in excess of a slot's capacity cannot be positive. So stopping the
ascent anywhere, on a time limit or an iteration count, never makes it wrong.

It is never weaker than the SPEC flow's Lagrangian at the same prices: each
tube of a batch pays the cost of ``f``, which is at least the SPEC flow's
``cost(max(t, earliest finish))`` for its slot ``t``, and the batch may use a
slot only up to its capacity instead of without limit. At the SPEC flow's
optimal prices (:func:`~scheduler.solvers.flow.flow_prices`) the SPEC
Lagrangian is the SPEC bound, so the ascent starts at or above it. On big
boxes at small labs (one box fills hours of a lab) the SPEC flow lets a box's
tubes finish at the box's earliest finish while other boxes use those hours,
which whole batches cannot do: that is where this bound is far stronger.

The ascent is Barahona and Anbil's volume algorithm: steps along an
exponentially averaged slot usage (an approximate primal solution) from the
best prices found so far, which zigzags far less than plain subgradient
steps. Every evaluated ``L`` is a valid bound; the best is kept.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numba
import numpy as np

from scheduler.network import FloatArray, IntArray, Network
from scheduler.solvers.bounds import Bound, slot_prices
from scheduler.solvers.flow import Flow, flow_prices

log = logging.getLogger(__name__)

#: (batch, lab) pairs priced exactly; beyond this each batch keeps its cheapest labs
MAX_PAIRS = 4_000_000
#: labs per batch kept at least when the pairs are cut down
MIN_LABS_PER_BATCH = 8
#: batch x lab cells of floors computed at a time
PAIR_BLOCK_CELLS = 2_000_000
#: relative amount taken off every value: float sums over many terms, and the
#: evaluator computes costs from timestamps rather than these seconds
SAFETY = 1e-9
#: evaluations of L allowed when a time limit is what stops the ascent
TIMED_EVALUATIONS = 10_000_000
#: seconds between the improvements a child process sends
SEND_EVERY = 0.5

METHOD = "Lagrangian of slot capacities, whole batches at their last slot"
#: batches above which the pattern LP is not built: GLOP re-solves it from scratch
#: each round (about 1 s at 120 big boxes on 16 labs), and volume steps then go further
LP_MAX_BATCHES = 60
#: evaluations of the volume ascent whose points seed the pattern LP
VOLUME_WARMUP = 60
#: weight of the best prices against the LP's duals where column generation prices
SMOOTHING = 0.5
#: share of the time the volume warm-up may take before the LP
WARMUP_SHARE = 0.3


@dataclass(frozen=True)
class Pairs:
    """The usable (batch, lab) pairs, per batch (CSR by ``start``), cheapest unpriced first.

    ``floor`` is a pair's value at zero prices, the batch's SPEC cost when it
    finishes as early as the lab allows; prices are >= 0, so no price makes
    the pair cheaper and a batch skips every pair from the first whose floor
    reaches its best so far. ``rest_floor`` is the least floor of the labs
    left out when the pairs were cut down (inf when none were): a batch's
    value is then taken as at most that, which keeps ``L`` a valid bound.
    """

    start: IntArray  # B + 1
    lab: IntArray
    arrival: IntArray
    finish: IntArray
    floor: FloatArray
    rest_floor: FloatArray  # B

    @property
    def size(self) -> int:
        return int(self.lab.shape[0])


def usable_pairs(net: Network, finish: IntArray, max_pairs: int = MAX_PAIRS) -> Pairs:
    """Every pair where the batch may go and fits whole, or each batch's cheapest ones."""
    n_b, n_l, n_t = net.n_batches, net.n_labs, net.n_slots
    ok = net.allowed & (finish < n_t)
    k = n_l
    if int(ok.sum()) > max_pairs:
        k = min(n_l, max(MIN_LABS_PER_BATCH, max_pairs // max(1, n_b)))
    labs_all = np.arange(n_l)
    rest = np.full(n_b, np.inf)
    parts: list[tuple[IntArray, IntArray, FloatArray]] = []
    # in blocks of batches: the B x L floors of a province would take 260 MB at once
    step = max(1, PAIR_BLOCK_CELLS // max(1, n_l))
    for lo in range(0, n_b, step):
        rows = np.arange(lo, min(n_b, lo + step))
        last = np.minimum(finish[rows], n_t - 1)
        floor = np.where(
            ok[rows],
            net.tubes[rows, None]
            * net.cost_per_tube(rows[:, None], net.result_s(labs_all[None, :], last)),
            np.inf,
        )
        if k < n_l:
            part = np.argpartition(floor, k - 1, axis=1)
            local = np.arange(rows.size)[:, None]
            rest[rows] = floor[local, part[:, k:]].min(axis=1)
            order = part[:, :k]
            order = np.take_along_axis(order, np.argsort(floor[local, order], axis=1), axis=1)
        else:
            order = np.argsort(floor, axis=1, kind="stable")
        fl = np.take_along_axis(floor, order, axis=1)
        keep = np.isfinite(fl)
        parts.append((keep.sum(axis=1), order[keep], fl[keep]))
    counts = np.concatenate([c for c, _, _ in parts]) if parts else np.zeros(0, dtype=np.int64)
    pl = np.concatenate([lab for _, lab, _ in parts]) if parts else np.zeros(0, dtype=np.int64)
    fl_all = np.concatenate([f for _, _, f in parts]) if parts else np.zeros(0)
    pb = np.repeat(np.arange(n_b), counts)
    return Pairs(
        start=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
        lab=pl.astype(np.int64),
        arrival=net.arrival_slot[pb, pl].astype(np.int64),
        finish=finish[pb, pl].astype(np.int64),
        floor=fl_all.astype(np.float64),
        rest_floor=rest,
    )


@numba.njit(cache=True, nogil=True)
def _insert(
    sp: np.ndarray, sc: np.ndarray, ss: np.ndarray, m: int, price: float, cap: int, slot: int
) -> int:  # pragma: no cover - compiled
    """Insert a slot into the window sorted by price (ties: earlier slot first)."""
    j = m
    while j > 0 and sp[j - 1] > price:
        sp[j] = sp[j - 1]
        sc[j] = sc[j - 1]
        ss[j] = ss[j - 1]
        j -= 1
    sp[j] = price
    sc[j] = cap
    ss[j] = slot
    return m + 1


@numba.njit(cache=True, nogil=True)
def _fill(sp: np.ndarray, sc: np.ndarray, m: int, need: int) -> float:  # pragma: no cover
    """Cheapest price of ``need`` tubes over the window: its cheapest slots first."""
    cost = 0.0
    for j in range(m):
        take = sc[j] if sc[j] < need else need
        cost += take * sp[j]
        need -= take
        if need == 0:
            break
    return cost


@numba.njit(cache=True, nogil=True)
def _price_batches(  # pragma: no cover - compiled; checked against brute force in tests
    start: np.ndarray,
    lab: np.ndarray,
    arrival: np.ndarray,
    finish: np.ndarray,
    floor: np.ndarray,
    rest_floor: np.ndarray,
    tubes: np.ndarray,
    weight: np.ndarray,
    collected: np.ndarray,
    deadline: np.ndarray,
    run_s: np.ndarray,
    slot_s: int,
    late_factor: float,
    unassigned: np.ndarray,
    cap: np.ndarray,
    price: np.ndarray,
    value: np.ndarray,
    pick: np.ndarray,
    last: np.ndarray,
    usage: np.ndarray,
    fill_slot: np.ndarray,
    fill_tubes: np.ndarray,
) -> None:
    """Each batch's ``V_b`` at ``price`` (into ``value``), its pair and last slot, and usage.

    ``pick[b]`` is the chosen pair (-1: unassigned, -2: a lab left out of the
    pairs bounds it), ``usage`` (L x T, zeroed by the caller) the tubes the
    chosen fills put in each slot: the subgradient's first term. The fill
    itself goes to ``fill_slot``/``fill_tubes`` (B x T, slot -1 past its end):
    a column for the pattern LP.
    """
    n_b = start.shape[0] - 1
    n_t = cap.shape[1]
    sp = np.empty(n_t)
    sc = np.empty(n_t, dtype=np.int64)
    ss = np.empty(n_t, dtype=np.int64)
    for b in range(n_b):
        n = tubes[b]
        best = unassigned[b]
        best_p = -1
        best_f = -1
        if rest_floor[b] < best:
            best = rest_floor[b]
            best_p = -2
        for p in range(start[b], start[b + 1]):
            # pairs come cheapest floor first and prices only add: none after can win
            if floor[p] >= best:
                break
            lb = lab[p]
            m = 0
            for s in range(arrival[p], finish[p]):
                if cap[lb, s] > 0:
                    m = _insert(sp, sc, ss, m, price[lb, s], cap[lb, s], s)
            for f in range(finish[p], n_t):
                fresh = cap[lb, f] > 0
                if fresh:
                    m = _insert(sp, sc, ss, m, price[lb, f], cap[lb, f], f)
                r = (f + 1) * slot_s + run_s[lb]
                c = r - collected[b]
                late = r - deadline[b]
                if late > 0:
                    c += late_factor * late
                c = weight[b] * n * c / 3600.0
                # the SPEC part only grows with f, and the fill is >= 0
                if c >= best:
                    break
                if not fresh and f > finish[p]:
                    continue  # same window as f - 1, dearer finish
                fill = _fill(sp, sc, m, n)
                if c + fill < best:
                    best = c + fill
                    best_p = p
                    best_f = f
                if fill <= 0.0:
                    break  # a longer window cannot fill for less than nothing
        value[b] = best
        pick[b] = best_p
        last[b] = best_f
        if best_p >= 0:
            lb = lab[best_p]
            m = 0
            for s in range(arrival[best_p], best_f + 1):
                if cap[lb, s] > 0:
                    m = _insert(sp, sc, ss, m, price[lb, s], cap[lb, s], s)
            need = n
            for j in range(m):
                take = sc[j] if sc[j] < need else need
                usage[lb, ss[j]] += take
                fill_slot[b, j] = ss[j]
                fill_tubes[b, j] = take
                need -= take
                if need == 0:
                    if j + 1 < n_t:
                        fill_slot[b, j + 1] = -1
                    break
        else:
            fill_slot[b, 0] = -1


@dataclass(frozen=True)
class StrongPoint:
    """The relaxation solved at one price matrix."""

    value: float  # L(prices), a valid lower bound
    usage: FloatArray  # L x T tubes the batches' choices put in each slot
    batch_value: FloatArray  # per batch V_b
    lab: IntArray  # per batch chosen lab (-1: unassigned or bounded by a left-out lab)
    last: IntArray  # per batch chosen last slot (-1 likewise)
    fill_slot: IntArray  # B x T slots of the chosen fill, -1 after its last
    fill_tubes: IntArray  # B x T tubes in them


class StrongRelaxation:
    """The relaxation of one network, ready to be solved at many price matrices."""

    def __init__(
        self, net: Network, finish: IntArray | None = None, max_pairs: int = MAX_PAIRS
    ) -> None:
        self.net = net
        self.finish = net.finish_slots() if finish is None else finish
        self.pairs = usable_pairs(net, self.finish, max_pairs)
        self.cap = np.ascontiguousarray(net.cap_left, dtype=np.int64)
        self.unassigned = np.asarray(net.unassigned_cost(np.arange(net.n_batches)), dtype=float)
        self.evaluations = 0

    def solve(self, prices: FloatArray) -> StrongPoint:
        """``L(prices)``; negative prices are read as 0 (the bound needs ``>= 0``)."""
        net, pr = self.net, self.pairs
        lam = np.ascontiguousarray(np.maximum(prices, 0.0), dtype=np.float64)
        n_b = net.n_batches
        value = np.empty(n_b)
        pick = np.empty(n_b, dtype=np.int64)
        last = np.empty(n_b, dtype=np.int64)
        usage = np.zeros(self.cap.shape)
        fill_slot = np.empty((n_b, net.n_slots), dtype=np.int64)
        fill_tubes = np.empty((n_b, net.n_slots), dtype=np.int64)
        _price_batches(
            pr.start,
            pr.lab,
            pr.arrival,
            pr.finish,
            pr.floor,
            pr.rest_floor,
            net.tubes.astype(np.int64),
            net.weight.astype(np.float64),
            net.collected_s.astype(np.float64),
            net.deadline_s.astype(np.float64),
            net.run_s.astype(np.int64),
            int(net.slot_s),
            float(net.late_factor),
            self.unassigned,
            self.cap,
            lam,
            value,
            pick,
            last,
            usage,
            fill_slot,
            fill_tubes,
        )
        self.evaluations += 1
        charged = float((lam * self.cap).sum())
        raw = float(value.sum()) - charged
        safe = raw - SAFETY * (float(np.abs(value).sum()) + charged)
        lab = np.full(n_b, -1, dtype=np.int64)
        lab[pick >= 0] = pr.lab[pick[pick >= 0]]
        return StrongPoint(safe, usage, value, lab, last, fill_slot, fill_tubes)


@dataclass(frozen=True)
class StrongBound:
    value: float  # the best L found: a valid lower bound on every plan's score
    method: str
    iterations: int  # evaluations of L
    seconds: float
    start_value: float  # L at the starting prices
    prices: FloatArray  # L x T prices of ``value``: what each lab hour is worth
    #: the pattern LP proved ``value`` the best this relaxation can give
    converged: bool = False


PointFn = Callable[[StrongPoint], object]


def volume_ascent(
    rel: StrongRelaxation,
    start: FloatArray,
    *,
    upper: float | None = None,
    time_limit: float | None = None,
    max_iterations: int = 5_000,
    on_improve: Callable[[StrongBound], None] | None = None,
    on_point: PointFn | None = None,
) -> StrongBound:
    """Improve ``L`` from the prices ``start`` by the volume algorithm; the best is kept.

    ``upper`` (a plan's score) is the Polyak target the steps aim at; without
    one, a few per cent above the best so far. Stops on ``time_limit``
    seconds, ``max_iterations`` evaluations, or once the best reaches
    ``upper``. ``on_point`` sees every solved point (the pattern LP's columns).
    """
    t0 = time.perf_counter()
    cap = rel.cap.astype(np.float64)
    open_ = cap > 0
    lam = np.where(open_, np.maximum(start, 0.0), 0.0)
    pt = rel.solve(lam)
    if on_point is not None:
        on_point(pt)
    center, center_value = lam, pt.value
    best = StrongBound(pt.value, METHOD, 1, 0.0, pt.value, lam)
    xbar = pt.usage
    # Barahona-Anbil's constants: step factor, its colour rules, averaging weight
    step_f, alpha_max = 0.1, 0.1
    reds = 0
    last_check, check_value = 1, center_value
    it = 1
    while it < max_iterations:
        if time_limit is not None and time.perf_counter() - t0 >= time_limit:
            break
        if upper is not None and center_value >= upper * (1 - 1e-9):
            break
        g = np.where(open_, xbar - cap, 0.0)
        # a price at zero cannot fall: its slack does not steer the step
        g = np.where((center <= 0) & (g < 0), 0.0, g)
        norm = float((g * g).sum())
        if norm <= 0:
            # the averaged usage fits: step along the last solution's own violation
            g = np.where(open_, pt.usage - cap, 0.0)
            g = np.where((center <= 0) & (g < 0), 0.0, g)
            norm = float((g * g).sum())
            if norm <= 0:
                break  # it fits and is complementary to the prices: L is optimal
        # Polyak's target: a plan's score when it is close, else a few per cent
        # up (a far target overshoots: the steps then mostly zigzag)
        target = center_value + 0.05 * abs(center_value) + 1.0
        if upper is not None:
            target = min(upper, target)
        gap = max(target - center_value, 1e-6 * max(1.0, abs(center_value)))
        lam = np.maximum(0.0, center + step_f * gap / norm * g)
        pt = rel.solve(lam)
        if on_point is not None:
            on_point(pt)
        it += 1
        # the averaging weight that makes the averaged usage violate least
        d = pt.usage - xbar
        dd = float((d * d).sum())
        alpha = alpha_max
        if dd > 0:
            alpha = float(np.clip(-float(((xbar - cap) * d).sum()) / dd, alpha_max / 10, alpha_max))
        xbar = alpha * pt.usage + (1 - alpha) * xbar
        if pt.value > center_value:
            # serious step: green (the new usage still points up) grows the step
            if float((g * np.where(open_, pt.usage - cap, 0.0)).sum()) >= 0:
                step_f = min(2.0, 1.1 * step_f)
            center, center_value, reds = lam, pt.value, 0
            if pt.value > best.value:
                best = StrongBound(
                    pt.value, METHOD, it, time.perf_counter() - t0, best.start_value, lam
                )
                if on_improve is not None:
                    on_improve(best)
        else:
            reds += 1
            if reds >= 20:
                step_f, reds = max(1e-4, 0.66 * step_f), 0
        if it - last_check >= 100:
            # the averaging slows down once the centre stops moving
            if center_value - check_value < 0.01 * max(1.0, abs(check_value)):
                alpha_max = max(1e-5, alpha_max / 2)
            last_check, check_value = it, center_value
    return replace(best, iterations=it, seconds=time.perf_counter() - t0)


class PatternLP:
    """The LP over the (batch, lab, last slot, fill) patterns seen, for its slot duals.

    Its dual is the Lagrangian dual over those patterns, so its slot duals
    are the best prices they support, and ``L`` at them (over all patterns)
    is a valid bound; patterns that price in at them are added (column
    generation). Once none does, its optimum equals ``L`` there: the best
    bound this relaxation has. Solved with GLOP, which keeps its basis when
    only columns are added; a time limit stops a solve that would overrun.
    """

    def __init__(self, rel: StrongRelaxation, backend: str = "GLOP") -> None:
        from ortools.linear_solver import pywraplp

        net = rel.net
        self.rel = rel
        self.solver = pywraplp.Solver.CreateSolver(backend)
        self._optimal = pywraplp.Solver.OPTIMAL
        s = self.solver
        self.objective = s.Objective()
        self.objective.SetMinimization()
        self.batch_rows = []
        for b in range(net.n_batches):
            row = s.Constraint(1.0, 1.0)
            stay = s.NumVar(0.0, 1.0, "")
            row.SetCoefficient(stay, 1.0)
            self.objective.SetCoefficient(stay, float(rel.unassigned[b]))
            self.batch_rows.append(row)
        # every open slot's row exists from the start: GLOP stays incremental
        # (warm) when only columns are added, not rows
        flat = rel.cap.reshape(-1)
        self.slot_rows = {
            int(i): s.Constraint(-s.infinity(), float(flat[i])) for i in np.nonzero(flat > 0)[0]
        }
        self.seen: set[bytes] = set()
        self.columns = 0

    def add(self, pt: StrongPoint) -> int:
        """The patterns of ``pt`` not seen before, as columns; how many were new."""
        net = self.rel.net
        chosen = np.nonzero(pt.lab >= 0)[0]
        if chosen.size == 0:
            return 0
        cost = net.tubes[chosen] * net.cost_per_tube(
            chosen, net.result_s(pt.lab[chosen], pt.last[chosen])
        )
        n_t = net.n_slots
        new = 0
        for i, b in enumerate(chosen.tolist()):
            slots, tubes = pt.fill_slot[b], pt.fill_tubes[b]
            k = int(np.argmax(slots < 0)) if (slots < 0).any() else n_t
            lab = int(pt.lab[b])
            key = np.concatenate(([b, lab], slots[:k], tubes[:k])).tobytes()
            if key in self.seen:
                continue
            self.seen.add(key)
            var = self.solver.NumVar(0.0, 1.0, "")
            self.batch_rows[b].SetCoefficient(var, 1.0)
            self.objective.SetCoefficient(var, float(cost[i]))
            for t, y in zip(slots[:k].tolist(), tubes[:k].tolist(), strict=True):
                self.slot_rows[lab * n_t + t].SetCoefficient(var, float(y))
            new += 1
        self.columns += new
        return new

    def solve(self, seconds: float) -> tuple[float, FloatArray] | None:
        """The LP optimum and its slot prices, or None when not solved in ``seconds``."""
        self.solver.SetTimeLimit(max(1, int(seconds * 1000)))
        if self.solver.Solve() != self._optimal:
            return None
        lam = np.zeros(self.rel.cap.shape)
        flat = lam.reshape(-1)
        for i, row in self.slot_rows.items():
            # a <= row of a minimisation has a dual <= 0: the price is its negation
            flat[i] = max(0.0, -row.dual_value())
        return float(self.objective.Value()), lam


def column_generation(
    rel: StrongRelaxation,
    lp: PatternLP,
    best: StrongBound,
    *,
    time_limit: float | None = None,
    max_rounds: int = 1_000,
    on_improve: Callable[[StrongBound], None] | None = None,
    smoothing: float = SMOOTHING,
) -> StrongBound:
    """Rounds of the pattern LP from the columns it has, until none prices in.

    Each round prices at a point between the best prices so far and the LP's
    duals (Wentges' smoothing): the LP's duals jump about while it has few
    columns, and the smoothed point finds columns that matter sooner. When
    it finds none new, the round prices at the LP's duals themselves, where
    finding none proves the LP optimal over every pattern.
    """
    t0 = time.perf_counter()
    evaluations = best.iterations
    rounds = 0
    while evaluations - best.iterations < max_rounds:
        left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
        if left is not None and left <= 0:
            break
        solved = lp.solve(3600.0 if left is None else left)
        if solved is None:
            break
        rounds += 1
        lp_value, duals = solved
        points = [smoothing * best.prices + (1 - smoothing) * duals, duals]
        if smoothing <= 0:
            points = points[1:]
        new = 0
        for lam in points:
            pt = rel.solve(lam)
            evaluations += 1
            new = lp.add(pt)
            if pt.value > best.value:
                best = replace(best, value=pt.value, prices=lam)
                if on_improve is not None:
                    on_improve(best)
            if new:
                break
        # the LP optimum is >= the relaxation's best L >= every L: equal means done
        if new == 0 or best.value >= lp_value - 1e-9 * max(1.0, abs(lp_value)):
            best = replace(best, converged=True)
            break
    log.info("pattern LP: %d rounds, %d columns", rounds, lp.columns)
    return replace(best, iterations=evaluations)


def start_prices(net: Network, res: Bound | Flow | None) -> FloatArray:
    """Slot prices of a solved SPEC flow to start from (zeros when it kept none).

    The bound's or flow's own prices when it has them; else recovered from
    its decomposed flow (:func:`~scheduler.solvers.flow.flow_prices`). Any
    prices are a valid start; the SPEC flow's optimal ones put ``L`` at or
    above the SPEC bound.
    """
    prices: FloatArray | None = None
    if isinstance(res, Bound):
        prices = slot_prices(net, res)
    elif res is not None:
        prices = res.prices
        if prices is None and res.decomposed:
            prices = flow_prices(net, res)
    return prices if prices is not None else np.zeros((net.n_labs, net.n_slots))


def strong_bound(
    net: Network,
    prices: FloatArray | None = None,
    *,
    finish: IntArray | None = None,
    upper: float | None = None,
    time_limit: float | None = None,
    max_iterations: int = 5_000,
    on_improve: Callable[[StrongBound], None] | None = None,
    pattern_lp: bool | None = None,
) -> StrongBound:
    """The strong bound from ``prices`` (zeros when None), within the given limits.

    A short volume ascent first: its points are the pattern LP's first
    columns, far better ones than the start's alone (from the SPEC prices
    alone the LP's first duals are wild). Then column generation, which
    converges to the best this relaxation gives (the volume steps only
    approach it). The LP is skipped above :data:`LP_MAX_BATCHES` batches
    (``pattern_lp`` forces the choice), and volume steps take any time the LP
    leaves. ``max_iterations`` counts evaluations of ``L``.
    """
    t0 = time.perf_counter()

    def left() -> float | None:
        return None if time_limit is None else max(0.0, time_limit - (time.perf_counter() - t0))

    rel = StrongRelaxation(net, finish)
    lam = np.zeros((net.n_labs, net.n_slots)) if prices is None else prices
    use_lp = net.n_batches <= LP_MAX_BATCHES if pattern_lp is None else pattern_lp
    lp = PatternLP(rel) if use_lp else None
    first = left()
    best = volume_ascent(
        rel,
        lam,
        upper=upper,
        time_limit=None if first is None else WARMUP_SHARE * first if lp else first,
        max_iterations=min(VOLUME_WARMUP, max_iterations) if lp else max_iterations,
        on_improve=on_improve,
        on_point=lp.add if lp else None,
    )
    how = "volume algorithm"
    if lp is not None:
        best = column_generation(
            rel,
            lp,
            best,
            time_limit=left(),
            max_rounds=max_iterations - best.iterations,
            on_improve=on_improve,
        )
        how = f"volume algorithm, then the LP of {lp.columns:,} patterns"
        how += " (converged)" if best.converged else " (not converged)"
        rest = max_iterations - best.iterations
        if not best.converged and rest > 1 and (left() is None or (left() or 0.0) > 0):
            more = volume_ascent(
                rel,
                best.prices,
                upper=upper,
                time_limit=left(),
                max_iterations=rest,
                on_improve=on_improve,
            )
            if more.value > best.value:
                best = replace(more, start_value=best.start_value)
            best = replace(best, iterations=best.iterations + more.iterations)
    return replace(
        best,
        method=f"{METHOD} ({how}; {best.iterations} evaluations)",
        seconds=time.perf_counter() - t0,
    )


def timed_strong_bound(
    net: Network,
    source: Bound | Flow | None,
    seconds: float,
    *,
    upper: float | None = None,
    finish: IntArray | None = None,
    on_improve: Callable[[StrongBound], None] | None = None,
) -> StrongBound:
    """The strong bound from the prices of the SPEC flow ``source``, all in about ``seconds``."""
    t0 = time.perf_counter()
    prices = start_prices(net, source)
    return strong_bound(
        net,
        prices,
        finish=finish,
        upper=upper,
        time_limit=max(0.0, seconds - (time.perf_counter() - t0)),
        max_iterations=TIMED_EVALUATIONS,
        on_improve=on_improve,
    )


def _child(
    net: Network,
    finish: IntArray,
    source: Bound | Flow | None,
    upper: float,
    seconds: float,
    conn: Any,
) -> None:  # pragma: no cover - runs in the child
    """Body of :class:`StrongBoundJob`: prices from ``source``, the ascent, its improvements."""
    t0 = time.perf_counter()
    sent = [t0]

    def send(sb: StrongBound) -> None:
        # throttled: a pipe message per improvement would cost more than the ascent
        if time.perf_counter() - sent[0] >= SEND_EVERY:
            conn.send((sb.value, f"{METHOD} (stopped early)", False, None))
            sent[0] = time.perf_counter()

    try:
        # recovering the prices here keeps their Bellman-Ford off the search's core
        sb = timed_strong_bound(net, source, seconds, upper=upper, finish=finish, on_improve=send)
        # the prices too: what each lab hour is worth, for the search to use
        conn.send((sb.value, sb.method, True, sb.prices))
    except Exception:  # any failure only means no stronger bound
        log.exception("strong bound failed in its process")
    finally:
        conn.close()


class StrongBoundJob:
    """The strong bound in a forked process for ``seconds``, beside the search.

    Python holds the GIL in the search, so a thread would take from it; a
    process uses the core the search leaves idle. It sends its best value as
    it goes, so :meth:`result` has something even when the process is late.
    Where no process can be forked, :attr:`started` is False.
    """

    def __init__(
        self,
        net: Network,
        finish: IntArray,
        source: Bound | Flow | None,
        upper: float,
        seconds: float,
    ) -> None:
        self.started = False
        self._t0 = time.perf_counter()
        self._best: tuple[float, str, FloatArray | None] | None = None
        try:
            ctx = multiprocessing.get_context("fork")
            self._conn, child_end = ctx.Pipe(duplex=False)
            self._proc = ctx.Process(
                target=_child, args=(net, finish, source, upper, seconds, child_end), daemon=True
            )
            self._proc.start()
        except (ValueError, AssertionError, OSError) as exc:
            log.info("strong bound not forked: %s", exc)
            return
        child_end.close()
        self.started = True

    def result(self, timeout: float) -> StrongBound | None:
        """The best value sent within ``timeout`` seconds; the process is then stopped."""
        if not self.started:
            return None
        end = time.perf_counter() + max(0.0, timeout)
        final = False
        try:
            while not final and self._conn.poll(max(0.0, end - time.perf_counter())):
                value, method, final, prices = self._conn.recv()
                if self._best is None or value >= self._best[0]:
                    self._best = (float(value), str(method), prices)
        except (EOFError, OSError):
            pass
        finally:
            if self._proc.is_alive():
                self._proc.terminate()
            self._proc.join(5)
            self._conn.close()
            self.started = False
        if self._best is None:
            return None
        value, method, prices = self._best
        return StrongBound(
            value,
            method,
            0,
            time.perf_counter() - self._t0,
            float("nan"),
            np.zeros((0, 0)) if prices is None else prices,
        )
