"""The lower bound of SPEC §3 as a min-cost flow on the time-expanded network.

Nodes: one per batch (supply = its tubes), one per (lab, slot) with capacity
left, and a sink. A batch sends tubes to any allowed (lab, slot) at or after
its arrival there, each tube charged as if the batch's result came at the end
of slot ``max(t, f)`` plus the lab's run time, or straight to the sink at the
unassigned cost. The arcs are built with numpy, never one Python object each.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from ortools.graph.python import min_cost_flow

from scheduler.network import BoolArray, FloatArray, IntArray, Network

log = logging.getLogger(__name__)

#: Integer costs keep the flow exact; this many units per weight-hour at most.
MAX_COST_SCALE = 1_000_000
#: Cost * flow must stay well inside int64 for OR-Tools' overflow checks.
COST_HEADROOM = 2**60


class BoundError(RuntimeError):
    pass


@dataclass(frozen=True)
class FlowArcs:
    """The batch -> (lab, slot) arcs of the bound network, as parallel arrays."""

    batch: IntArray
    lab: IntArray
    slot: IntArray
    cost: FloatArray  # per tube, weight-hours

    @property
    def size(self) -> int:
        return int(self.batch.shape[0])


@dataclass(frozen=True)
class BoundResult:
    value: float
    method: str
    arcs: int
    seconds: float
    #: tubes sent per arc (same order as ``arcs_data``); None when not kept
    flow: IntArray | None = None
    arcs_data: FlowArcs | None = None
    unassigned_tubes: IntArray | None = None  # per batch
    #: optimum of the flow that was solved (over a restricted network it is no bound)
    flow_value: float | None = None
    #: flows solved (column generation's rounds)
    rounds: int = 1
    #: slot prices (L x T) at which the full network's Lagrangian is ``value``, when known
    prices: FloatArray | None = None


def count_arcs(net: Network, finish: IntArray | None = None) -> int:
    f = net.finish_slots() if finish is None else finish
    ok = net.allowed & (f < net.n_slots)
    return int((net.n_slots - net.arrival_slot)[ok].sum())


def build_arcs(
    net: Network,
    finish: IntArray | None = None,
    pairs_mask: np.ndarray | None = None,
    window: int | None = None,
) -> FlowArcs:
    """All batch -> (lab, slot) arcs with positive slot capacity.

    ``pairs_mask`` (B x L) restricts the labs per batch and ``window`` the slots
    to at most that many after the earliest finish (for restricted solves).
    """
    f = net.finish_slots() if finish is None else finish
    ok = net.allowed & (f < net.n_slots)
    if pairs_mask is not None:
        ok &= pairs_mask
    pb, pl = np.nonzero(ok)
    a = net.arrival_slot[pb, pl]
    fin = f[pb, pl]
    end = net.n_slots if window is None else np.minimum(net.n_slots, fin + window + 1)
    counts = end - a
    total = int(counts.sum())
    arc_pair = np.repeat(np.arange(pb.shape[0]), counts)
    # slot = arrival + position inside the pair's run
    starts = np.cumsum(counts) - counts
    slot = np.arange(total, dtype=np.int64) - starts[arc_pair] + a[arc_pair]
    b = pb[arc_pair]
    lab = pl[arc_pair]
    keep = net.cap_left[lab, slot] > 0
    b, lab, slot = b[keep], lab[keep], slot[keep]
    tau = np.maximum(slot, fin[arc_pair][keep])
    cost = net.cost_per_tube(b, net.result_s(lab, tau))
    return FlowArcs(b.astype(np.int64), lab.astype(np.int64), slot.astype(np.int64), cost)


def concat_arcs(*parts: FlowArcs) -> FlowArcs:
    return FlowArcs(
        np.concatenate([p.batch for p in parts]),
        np.concatenate([p.lab for p in parts]),
        np.concatenate([p.slot for p in parts]),
        np.concatenate([p.cost for p in parts]),
    )


def _scale(costs: FloatArray, total_tubes: int) -> tuple[float, bool]:
    """Units per weight-hour for the integer costs.

    With whole-minute times and whole weights every cost is a whole number of
    weight-minutes (or of 1/60 of them): then that scale is exact, and the
    small cost range also makes the cost-scaling flow algorithm faster.
    """
    max_cost = float(costs.max(initial=0.0))
    if total_tubes == 0 or max_cost <= 0:
        return 1.0, True
    cap = min(MAX_COST_SCALE, COST_HEADROOM / (max_cost * total_tubes * 4))
    for exact in (60.0, 3600.0):
        scaled = costs * exact
        if exact <= cap and np.all(np.abs(scaled - np.rint(scaled)) < 1e-6):
            return exact, True
    return float(cap), False


def transport(
    tubes: IntArray,
    unassigned_cost: FloatArray,
    arc_batch: IntArray,
    arc_node: IntArray,
    arc_cost: FloatArray,
    node_cap: IntArray,
) -> tuple[float, IntArray, IntArray]:
    """Min-cost transportation of each batch's tubes to capacity nodes or to "unassigned".

    Returns a valid lower bound of the optimum (integer rounding of costs is
    accounted for by subtracting its worst case, far below 0.01 %), the tubes
    per arc and the unassigned tubes per batch.
    """
    n_b = int(tubes.shape[0])
    total = int(tubes.sum())
    scale, exact_costs = _scale(np.concatenate((arc_cost, unassigned_cost)), total)
    used = np.unique(arc_node)
    sink = n_b + int(node_cap.shape[0])
    node = n_b + arc_node
    all_b = np.arange(n_b, dtype=np.int64)
    tails = np.concatenate((arc_batch, all_b, n_b + used))
    heads = np.concatenate((node, np.full(n_b, sink, dtype=np.int64), np.full(used.size, sink)))
    caps = np.concatenate((tubes[arc_batch], tubes, node_cap[used]))
    float_costs = np.concatenate((arc_cost, unassigned_cost, np.zeros(used.size)))
    costs = np.rint(float_costs * scale).astype(np.int64)
    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[:n_b] = tubes
    supplies[sink] = -total
    smcf.set_nodes_supplies(np.arange(sink + 1, dtype=np.int64), supplies)
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        raise BoundError(f"min-cost flow did not solve to optimality (status {status})")
    rounding = 0.0 if exact_costs else 0.5 * total / scale
    value = smcf.optimal_cost() / scale - rounding
    all_flow = np.asarray(smcf.flows(np.arange(tails.shape[0], dtype=np.int64)), dtype=np.int64)
    n_arcs = int(arc_batch.shape[0])
    return max(0.0, value), all_flow[:n_arcs], all_flow[n_arcs : n_arcs + n_b]


def solve_flow(net: Network, arcs: FlowArcs, *, keep_flow: bool = True) -> BoundResult:
    """Solve the SPEC bound's flow over ``arcs`` (plus unassigned and sink arcs)."""
    t0 = time.perf_counter()
    unassigned_cost = net.cost_per_tube(np.arange(net.n_batches), net.unassigned_result_s)
    value, flow, unassigned = transport(
        net.tubes,
        unassigned_cost,
        arcs.batch,
        arcs.lab * net.n_slots + arcs.slot,
        arcs.cost,
        net.cap_left.reshape(-1),
    )
    return BoundResult(
        value=value,
        method="exact min-cost flow",
        arcs=arcs.size,
        seconds=time.perf_counter() - t0,
        flow=flow if keep_flow else None,
        arcs_data=arcs if keep_flow else None,
        unassigned_tubes=unassigned if keep_flow else None,
        flow_value=value,
    )


def pooled_bound(net: Network, finish: IntArray) -> BoundResult:
    """A weaker valid bound that still sees a shortage of capacity over time.

    All labs' capacity in a slot is pooled into one node; a tube of batch b
    may use slot t at the cheapest cost any allowed lab would charge it there
    (``max(t, f)`` rule, arrival and open slots as in the SPEC bound). Every
    SPEC-bound flow maps onto this one at no higher cost, so its optimum is a
    lower bound; it has only B x T arcs. It is the useful bound when demand
    exceeds capacity and the exact network is too large to price.
    """
    t0 = time.perf_counter()
    n_b, n_t = net.n_batches, net.n_slots
    slots = np.arange(n_t)
    best = np.full((n_b, n_t), np.inf)
    for lab in range(net.n_labs):
        rows = np.nonzero(net.allowed[:, lab] & (finish[:, lab] < n_t))[0]
        if rows.size == 0:
            continue
        tau = np.maximum(slots[None, :], finish[rows, lab][:, None])
        cost = net.cost_per_tube(rows[:, None], net.result_s(lab, tau))
        usable = (slots[None, :] >= net.arrival_slot[rows, lab][:, None]) & (net.cap_left[lab] > 0)[
            None, :
        ]
        best[rows] = np.minimum(best[rows], np.where(usable, cost, np.inf))
    arc_b, arc_t = np.nonzero(np.isfinite(best))
    value, _, _ = transport(
        net.tubes,
        net.cost_per_tube(np.arange(n_b), net.unassigned_result_s),
        arc_b.astype(np.int64),
        arc_t.astype(np.int64),
        best[arc_b, arc_t],
        net.cap_left.sum(axis=0),
    )
    return BoundResult(
        value=value,
        method="pooled capacity per slot (valid, weaker)",
        arcs=int(arc_b.size),
        seconds=time.perf_counter() - t0,
    )


def exact_bound(net: Network, *, keep_flow: bool = False) -> BoundResult:
    """The SPEC §3 bound over the full network."""
    return _full_flow(net, net.finish_slots(), keep_flow)


def _full_flow(net: Network, finish: IntArray, keep_flow: bool) -> BoundResult:
    """The flow over every arc, its time counted from building the arcs."""
    t0 = time.perf_counter()
    res = solve_flow(net, build_arcs(net, finish), keep_flow=keep_flow)
    return replace(res, seconds=time.perf_counter() - t0)


def best_case_costs(net: Network, finish: IntArray) -> FloatArray:
    """B x L per-tube cost if the batch finished as early as the empty lab allows.

    ``inf`` where the lab is not allowed or the batch never fits whole. With
    slot prices ``pi >= 0`` no (lab, slot) of a batch costs less than this,
    which lets the Lagrangian skip most labs exactly.
    """
    out = np.full((net.n_batches, net.n_labs), np.inf)
    for lab in range(net.n_labs):
        rows = np.nonzero(net.allowed[:, lab] & (finish[:, lab] < net.n_slots))[0]
        if rows.size:
            out[rows, lab] = net.cost_per_tube(rows, net.result_s(lab, finish[rows, lab]))
    return out


def _lab_min(
    net: Network, lab: int, rows: IntArray, pi_row: FloatArray, finish: IntArray
) -> tuple[FloatArray, IntArray]:
    """Cheapest cost + price over the usable slots of ``lab`` for each batch in ``rows``."""
    slots = np.arange(net.n_slots)
    a = net.arrival_slot[rows, lab]
    tau = np.maximum(slots[None, :], finish[rows, lab][:, None])
    cost = net.cost_per_tube(rows[:, None], net.result_s(lab, tau)) + pi_row[None, :]
    usable = (slots[None, :] >= a[:, None]) & (net.cap_left[lab] > 0)[None, :]
    cost = np.where(usable, cost, np.inf)
    t_min = cost.argmin(axis=1)
    return cost[np.arange(rows.size), t_min], t_min


def lagrangian_value(
    net: Network, pi: FloatArray, finish: IntArray, c0: FloatArray | None = None
) -> tuple[float, FloatArray]:
    """Value and slot demand of :func:`lagrangian_detail`."""
    d = lagrangian_detail(net, pi, finish, c0)
    return d.value, d.demand


@dataclass(frozen=True)
class LagrangianDetail:
    value: float
    demand: FloatArray  # tubes wanted per (lab, slot)
    best: FloatArray  # per batch, cheapest cost + price per tube (or unassigned cost)
    best_lab: IntArray  # per batch, the lab of ``best`` (-1: unassigned)


def lagrangian_detail(
    net: Network, pi: FloatArray, finish: IntArray, c0: FloatArray | None = None
) -> LagrangianDetail:
    """The Lagrangian relaxation of the slot capacities at prices ``pi`` (L x T).

    For any ``pi >= 0`` this is a lower bound of the flow optimum (weak
    duality), hence of every plan's score. Each tube independently takes its
    cheapest (lab, slot) at cost + price, or stays unassigned; the bound is
    that minimum summed, less the price of all capacity. Also returns the
    tubes demanded per (lab, slot), the subgradient's first term.
    """
    n_b = net.n_batches
    if c0 is None:
        c0 = best_case_costs(net, finish)
    best = net.cost_per_tube(np.arange(n_b), net.unassigned_result_s).astype(np.float64)
    best_lab = np.full(n_b, -1, dtype=np.int64)
    best_slot = np.full(n_b, -1, dtype=np.int64)
    done = np.zeros((n_b, net.n_labs), dtype=bool) if n_b * net.n_labs <= 50_000_000 else None

    def visit(lab: int, rows: IntArray) -> None:
        if rows.size == 0:
            return
        c_min, t_min = _lab_min(net, lab, rows, pi[lab], finish)
        better = c_min < best[rows]
        upd = rows[better]
        best[upd] = c_min[better]
        best_lab[upd] = lab
        best_slot[upd] = t_min[better]

    # first each batch's best-case lab, which makes ``best`` tight early
    first = np.argmin(c0, axis=1) if n_b else np.zeros(0, dtype=np.int64)
    has = np.isfinite(c0[np.arange(n_b), first]) if n_b else np.zeros(0, dtype=bool)
    for lab in np.unique(first[has]).tolist():
        rows = np.nonzero(has & (first == lab))[0]
        visit(lab, rows)
        if done is not None:
            done[rows, lab] = True
    # then only labs whose best case can still beat the batch's current best
    for lab in range(net.n_labs):
        mask = c0[:, lab] < best
        if done is not None:
            mask &= ~done[:, lab]
        else:
            mask &= first != lab
        visit(lab, np.nonzero(mask)[0])
    value = float((net.tubes * best).sum() - (net.cap_left * pi).sum())
    demand = np.zeros_like(pi)
    chosen = best_lab >= 0
    np.add.at(demand, (best_lab[chosen], best_slot[chosen]), net.tubes[chosen])
    return LagrangianDetail(value, demand, best, best_lab)


def lagrangian_bound(
    net: Network,
    *,
    upper: float | None = None,
    iterations: int = 60,
    time_limit: float | None = None,
    finish: IntArray | None = None,
) -> BoundResult:
    """Subgradient ascent on the slot prices; the best value seen is the bound.

    Every iterate is a valid bound, so stopping early (on ``iterations`` or
    ``time_limit``) only weakens it. Steps follow Polyak's rule towards
    ``upper`` (a value the bound cannot exceed by much, e.g. a restricted
    flow optimum or a plan score).
    """
    t0 = time.perf_counter()
    f = net.finish_slots() if finish is None else finish
    c0 = best_case_costs(net, f)
    pi = np.zeros(net.cap_left.shape, dtype=np.float64)
    best = -np.inf
    lam = 1.0
    stall = 0
    for _ in range(max(1, iterations)):
        value, demand = lagrangian_value(net, pi, f, c0)
        if best == -np.inf or value > best + 1e-9 * max(1.0, abs(best)):
            best, stall = value, 0
        else:
            stall += 1
            if stall >= 3:
                lam /= 2
                stall = 0
        if time_limit is not None and time.perf_counter() - t0 >= time_limit:
            break
        g = demand - net.cap_left
        g = np.where((pi <= 0) & (g < 0), 0.0, g)
        norm = float((g * g).sum())
        if norm == 0 or lam < 1e-4:
            break
        goal = upper if upper is not None else best + abs(best) * 0.05 + 1.0
        step = lam * max(goal - value, 1e-9 * max(1.0, abs(value))) / norm
        pi = np.maximum(0.0, pi + step * g)
    return BoundResult(
        value=max(0.0, best),
        method="Lagrangian relaxation of slot capacities (subgradient)",
        arcs=count_arcs(net, f),
        seconds=time.perf_counter() - t0,
    )


def flow_prices(net: Network, res: BoundResult, max_passes: int = 10_000) -> FloatArray:
    """Optimal slot prices (L x T) of a solved flow, from residual-graph potentials.

    SimpleMinCostFlow returns flows but no duals, so they are recovered here:
    shortest distances ``d`` in the residual graph (Bellman-Ford, one numpy
    pass per round, from a virtual root joined to every node) make every
    residual arc's reduced cost non-negative, and ``pi[s] = d[sink] - d[s]``
    are prices at which the Lagrangian equals the flow's optimum. Over a
    restricted arc set they still give a valid bound of the full problem.
    """
    arcs, flow, unassigned = res.arcs_data, res.flow, res.unassigned_tubes
    if arcs is None or flow is None or unassigned is None:
        raise ValueError("flow_prices needs a flow solved with keep_flow=True")
    n_b, n_l, n_t = net.n_batches, net.n_labs, net.n_slots
    sink = n_b + n_l * n_t
    slot_node = n_b + arcs.lab * n_t + arcs.slot
    slot_flow = np.zeros(n_l * n_t, dtype=np.int64)
    np.add.at(slot_flow, slot_node - n_b, flow)
    cap = net.cap_left.reshape(-1)
    all_b = np.arange(n_b, dtype=np.int64)
    all_s = np.arange(n_l * n_t, dtype=np.int64) + n_b
    u_cost = net.cost_per_tube(all_b, net.unassigned_result_s)
    fwd = flow < net.tubes[arcs.batch]
    back = flow > 0
    u_fwd = unassigned < net.tubes
    u_back = unassigned > 0
    s_fwd = (slot_flow < cap) & (cap > 0)
    s_back = slot_flow > 0
    tails = np.concatenate(
        (
            arcs.batch[fwd],
            slot_node[back],
            all_b[u_fwd],
            np.full(u_back.sum(), sink),
            all_s[s_fwd],
            np.full(s_back.sum(), sink),
        )
    )
    heads = np.concatenate(
        (
            slot_node[fwd],
            arcs.batch[back],
            np.full(u_fwd.sum(), sink),
            all_b[u_back],
            np.full(s_fwd.sum(), sink),
            all_s[s_back],
        )
    )
    costs = np.concatenate(
        (
            arcs.cost[fwd],
            -arcs.cost[back],
            u_cost[u_fwd],
            -u_cost[u_back],
            np.zeros(s_fwd.sum()),
            np.zeros(s_back.sum()),
        )
    )
    if tails.size == 0:
        return np.zeros((n_l, n_t))
    order = np.argsort(heads, kind="stable")
    tails, heads, costs = tails[order], heads[order], costs[order]
    starts = np.flatnonzero(np.r_[True, heads[1:] != heads[:-1]])
    group_head = heads[starts]
    d = np.zeros(sink + 1)
    for _ in range(max_passes):
        cand = np.minimum.reduceat(d[tails] + costs, starts)
        # a tolerance keeps float noise from looping forever
        better = cand < d[group_head] - 1e-9
        if not better.any():
            break
        d[group_head[better]] = cand[better]
    pi = np.maximum(0.0, d[sink] - d[n_b:sink]).reshape(n_l, n_t)
    return pi


def candidate_labs(net: Network, finish: IntArray, k: int) -> list[list[int]]:
    """Per batch, the ``k`` allowed labs with the lowest best-case cost."""
    n_b = net.n_batches
    ok = net.allowed & (finish < net.n_slots)
    out: list[list[int]] = []
    labs_idx = np.arange(net.n_labs)
    for b in range(n_b):
        labs = labs_idx[ok[b]]
        if labs.size == 0:
            out.append([])
            continue
        res = net.result_s(labs, finish[b, labs])
        if labs.size > k:
            part = np.argpartition(res, k - 1)[:k]
            labs, res = labs[part], res[part]
        out.append(labs[np.argsort(res, kind="stable")].tolist())
    return out


#: above this many arcs the full network is not built (about 3 GB at 18 M)
EXACT_ARC_LIMIT = 6_000_000
#: arcs of the restricted network that stands in for a larger full one
RESTRICTED_ARC_BUDGET = 6_000_000
#: slots after the earliest finish kept for a batch's initial labs
SLOT_WINDOW = 8
#: halvings by place of each (run time, isolation) lab group in :func:`grouped_bound`
GROUP_SPLITS = 2
#: relative agreement at which the priced restricted flow counts as exact
PRICING_TOLERANCE = 1e-7


def budget_arcs(net: Network, finish: IntArray | None = None) -> tuple[FlowArcs, int]:
    """All arcs when they fit the budget, else those of each batch's best ``k`` labs.

    Returns the arcs and ``k`` (the number of labs per batch, or all labs).
    """
    f = net.finish_slots() if finish is None else finish
    total = count_arcs(net, f)
    if total <= RESTRICTED_ARC_BUDGET:
        return build_arcs(net, f), net.n_labs
    pairs = max(1, int((net.allowed & (f < net.n_slots)).sum()))
    per_batch = max(1.0, total / pairs * max(1, net.n_batches))
    k = int(np.clip(RESTRICTED_ARC_BUDGET / per_batch, 4, 64))
    mask = np.zeros((net.n_batches, net.n_labs), dtype=bool)
    for b, labs in enumerate(candidate_labs(net, f, k)):
        mask[b, labs] = True
    return build_arcs(net, f, mask), k


def restricted_bound(
    net: Network,
    finish: IntArray,
    *,
    keep_flow: bool = False,
    max_rounds: int = 8,
    time_limit: float | None = None,
    upper: float | None = None,
    guide_first: bool = False,
) -> BoundResult:
    """The bound by column generation over a restricted network.

    Start with each batch's best few labs and the first slots after its
    earliest finish; solve that flow exactly and recover its optimal slot
    prices (:func:`flow_prices`). The Lagrangian of the *full* network at
    those prices is a valid bound whatever was left out; every batch for which
    an omitted lab is cheaper at those prices gets that lab (all its slots)
    added, and the flow is solved again. When nothing prices in any more, the
    restricted optimum is the exact SPEC bound; the method string says whether
    that point was reached within ``max_rounds`` and ``time_limit``. With
    ``upper`` (a known plan's score), rounds stop once the restricted flow
    costs more than twice that: the restriction is then far from the
    optimum (overloaded instances) and more rounds would not fit the time.
    With ``guide_first`` the kept flow is the first round's unless converged.
    """
    t0 = time.perf_counter()
    n_b, n_l = net.n_batches, net.n_labs
    c0 = best_case_costs(net, finish)
    usable = net.allowed & (finish < net.n_slots)
    spread = (finish - net.arrival_slot)[usable]
    # arcs a windowed pair contributes: arrival .. finish + window
    per_pair = (
        float(np.mean(np.minimum(spread + SLOT_WINDOW + 1, net.n_slots))) if spread.size else 1.0
    )
    k = int(np.clip(RESTRICTED_ARC_BUDGET / (per_pair * max(1, n_b)), 3, 32))
    window_mask = np.zeros((n_b, n_l), dtype=bool)
    for b, labs in enumerate(candidate_labs(net, finish, k)):
        window_mask[b, labs] = True
    full_mask = np.zeros((n_b, n_l), dtype=bool)
    unassigned = net.cost_per_tube(np.arange(n_b), net.unassigned_result_s)
    # prices of zero: every batch at its best case, capacity ignored (cheap, valid)
    best_value = float((net.tubes * np.minimum(unassigned, c0.min(axis=1, initial=np.inf))).sum())
    exact = False
    rounds = 0
    res: BoundResult | None = None
    first: BoundResult | None = None
    best_prices: FloatArray | None = None
    while True:
        rounds += 1
        arcs = concat_arcs(
            build_arcs(net, finish, window_mask & ~full_mask, window=SLOT_WINDOW),
            build_arcs(net, finish, full_mask),
        )
        res = solve_flow(net, arcs, keep_flow=True)
        if first is None:
            first = res
        pi = flow_prices(net, res)
        detail = lagrangian_detail(net, pi, finish, c0)
        # float summation over millions of terms: keep the bound on the safe side
        value = detail.value - 1e-9 * abs(detail.value)
        if value > best_value:
            best_value, best_prices = value, pi
        if value >= res.value * (1 - PRICING_TOLERANCE):
            exact = True
            best_value = min(value, res.value)
            break
        # each batch's dual in the restricted problem: its cheapest arc at the prices
        u = unassigned.copy()
        np.minimum.at(u, arcs.batch, arcs.cost + pi[arcs.lab, arcs.slot])
        tol = 1e-9 * np.maximum(1.0, np.abs(u))
        add = np.nonzero((detail.best < u - tol) & (detail.best_lab >= 0))[0]
        log.info(
            "column generation round %d: restricted %.1f, Lagrangian %.1f, %d batches price in",
            rounds,
            res.value,
            value,
            add.size,
        )
        if add.size == 0 or rounds >= max_rounds:
            break
        if upper is not None and res.value > 2 * upper:
            break
        if time_limit is not None and time.perf_counter() - t0 >= time_limit:
            break
        full_mask[add, detail.best_lab[add]] = True
    assert res is not None
    scope = f"best {k} labs per batch + {int(full_mask.sum())} priced-in pairs, {rounds} rounds"
    method = f"exact min-cost flow by column generation ({scope})"
    if not exact:
        method = f"Lagrangian at flow prices ({scope}; not converged)"
        # cheap insurance where the Lagrangian is weak (it then usually is far
        # below; the pooled-capacity bound is both weaker and slower than this)
        weaker = grouped_bound(net, finish, lab_groups(net, 0))
        if weaker.value > best_value:
            best_value = weaker.value
            method = f"{weaker.method}; column generation did not converge ({scope})"
    # the kept flow guides plans: a converged one is the optimum; otherwise, with
    # ``guide_first``, the first round's (later rounds add whole slot ranges of
    # priced-in labs, and their flows rounded into worse starting plans)
    guide = first if guide_first and not exact and first is not None else res
    return BoundResult(
        value=max(0.0, best_value),
        method=method,
        arcs=res.arcs,
        seconds=time.perf_counter() - t0,
        flow=guide.flow if keep_flow else None,
        arcs_data=guide.arcs_data if keep_flow else None,
        unassigned_tubes=guide.unassigned_tubes if keep_flow else None,
        flow_value=guide.value,
        rounds=rounds,
        prices=best_prices,
    )


def lower_bound(
    net: Network,
    *,
    finish: IntArray | None = None,
    keep_flow: bool = False,
    time_limit: float | None = None,
    upper: float | None = None,
    guide_first: bool = False,
    max_rounds: int = 8,
) -> BoundResult:
    """The SPEC bound: over the full network when it is small, else restricted and priced."""
    f = net.finish_slots() if finish is None else finish
    if count_arcs(net, f) <= EXACT_ARC_LIMIT:
        return _full_flow(net, f, keep_flow)
    return restricted_bound(
        net,
        f,
        keep_flow=keep_flow,
        time_limit=time_limit,
        upper=upper,
        guide_first=guide_first,
        max_rounds=max_rounds,
    )


# --- the SPEC flow on per-class time chains -----------------------------------
#
# A tube's cost at (lab l, slot t >= f) is  w * ((r - collected) + LF * max(0, r - deadline))
# with r = result_s(l, t): apart from the constant -w * collected, it depends on the
# batch only through its class (w, deadline). So a batch sends its tubes once to the
# node (class, l, f) at the cost of finishing in f, and from there a chain of
# (class, l, t) -> (class, l, t + 1) arcs, priced at the cost increase of one more
# slot, leads to every later slot; the slots in [arrival, f) are direct arcs at the
# cost of f. This is the same flow as the SPEC bound's (every tube pays exactly
# ``c(max(t, f))``) with about one arc per (batch, lab) instead of one per slot.


@dataclass(frozen=True)
class ChainFlow:
    value: float  # optimum of the flow over the given pairs (a lower bound when all pairs)
    arcs: int
    flows: FlowArcs  # the flow decomposed into batch -> (lab, slot) arcs
    flow: IntArray  # tubes per arc of ``flows``
    unassigned_tubes: IntArray
    prices: FloatArray  # optimal slot prices (L x T) of this flow, >= 0


def batch_classes(net: Network) -> tuple[IntArray, FloatArray, FloatArray]:
    """Class per batch and the (weight, deadline) of each class."""
    if net.n_batches == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    keys, cls = np.unique(
        np.stack([net.weight, net.deadline_s], axis=1), axis=0, return_inverse=True
    )
    return cls.reshape(-1).astype(np.int64), keys[:, 0].copy(), keys[:, 1].copy()


def _class_cost(
    net: Network, w: FloatArray, d: FloatArray, lab: IntArray, slot: IntArray
) -> FloatArray:
    """Per-tube cost of a class finishing in ``slot`` at ``lab``, without the collected term."""
    r = net.result_s(lab, slot).astype(np.float64)
    return np.asarray(w * (r + net.late_factor * np.maximum(0.0, r - d)) / 3600.0)


def _potentials(
    n_nodes: int,
    tails: IntArray,
    heads: IntArray,
    costs: FloatArray,
    caps: IntArray,
    flow: IntArray,
    max_passes: int = 100_000,
) -> FloatArray:
    """Shortest distances from a virtual root (joined to all nodes at 0) in the residual graph."""
    fwd = flow < caps
    back = flow > 0
    t = np.concatenate((tails[fwd], heads[back]))
    h = np.concatenate((heads[fwd], tails[back]))
    c = np.concatenate((costs[fwd], -costs[back]))
    d = np.zeros(n_nodes)
    if t.size == 0:
        return d
    order = np.argsort(h, kind="stable")
    t, h, c = t[order], h[order], c[order]
    starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
    group_head = h[starts]
    for _ in range(max_passes):
        cand = np.minimum.reduceat(d[t] + c, starts)
        better = cand < d[group_head] - 1e-9
        if not better.any():
            break
        d[group_head[better]] = cand[better]
    return d


def chain_flow(
    net: Network,
    finish: IntArray,
    pairs_mask: np.ndarray | None = None,
    *,
    potentials: bool = True,
    decompose: bool = True,
) -> ChainFlow:
    """The SPEC flow over the (batch, lab) pairs of ``pairs_mask`` (all when None), on chains.

    Over all pairs its optimum is the SPEC bound. ``decompose`` also splits the
    flow into batch -> (lab, slot) arcs (chain entries matched first in, first
    out with the chain's exits); ``potentials`` also recovers optimal slot
    prices (Bellman-Ford on the residual graph, as :func:`flow_prices`).
    """
    n_b, n_l, n_t = net.n_batches, net.n_labs, net.n_slots
    cls, cw, cd = batch_classes(net)
    ok = net.allowed & (finish < n_t)
    if pairs_mask is not None:
        ok &= pairs_mask
    pb, pl = np.nonzero(ok)
    pb, pl = pb.astype(np.int64), pl.astype(np.int64)
    a = net.arrival_slot[pb, pl]
    f = finish[pb, pl]
    entry_cost = net.cost_per_tube(pb, net.result_s(pl, f))
    # direct arcs to the open slots in [arrival, f), at the cost of f
    n_pre = f - a
    rep = np.repeat(np.arange(pb.size), n_pre)
    first = np.cumsum(n_pre) - n_pre
    pre_slot = np.arange(int(n_pre.sum()), dtype=np.int64) - first[rep] + a[rep]
    keep = net.cap_left[pl[rep], pre_slot] > 0
    rep, pre_slot = rep[keep], pre_slot[keep]
    # chain nodes: per used (class, lab), from its earliest entry slot to the end
    chain_key = cls[pb] * n_l + pl
    n_k = int(cw.size)
    start = np.full(n_k * n_l, n_t, dtype=np.int64)
    np.minimum.at(start, chain_key, f)
    used = np.nonzero(start < n_t)[0]
    length = n_t - start[used]
    base = np.full(n_k * n_l, -1, dtype=np.int64)
    c_first = n_b + n_l * n_t
    base[used] = c_first + np.cumsum(length) - length
    n_chain = int(length.sum())
    sink = c_first + n_chain
    # chain node arrays
    c_rep = np.repeat(np.arange(used.size), length)
    c_slot = (
        np.arange(n_chain, dtype=np.int64)
        - (np.cumsum(length) - length)[c_rep]
        + start[used][c_rep]
    )
    c_key = used[c_rep]
    c_lab = c_key % n_l
    c_cls = c_key // n_l
    c_node = c_first + np.arange(n_chain, dtype=np.int64)
    step = c_slot < n_t - 1
    inc = _class_cost(
        net, cw[c_cls[step]], cd[c_cls[step]], c_lab[step], c_slot[step] + 1
    ) - _class_cost(net, cw[c_cls[step]], cd[c_cls[step]], c_lab[step], c_slot[step])
    exits = net.cap_left[c_lab, c_slot] > 0
    cap_flat = net.cap_left.reshape(-1)
    slots_used = np.nonzero(cap_flat > 0)[0]
    total = int(net.tubes.sum())
    big = max(1, total)
    all_b = np.arange(n_b, dtype=np.int64)
    parts = [
        # tails, heads, caps, costs
        (pb, base[chain_key] + f - start[chain_key], net.tubes[pb], entry_cost),
        (pb[rep], n_b + pl[rep] * n_t + pre_slot, net.tubes[pb[rep]], entry_cost[rep]),
        (all_b, np.full(n_b, sink), net.tubes, net.cost_per_tube(all_b, net.unassigned_result_s)),
        (c_node[step], c_node[step] + 1, np.full(int(step.sum()), big), inc),
        (
            c_node[exits],
            n_b + c_lab[exits] * n_t + c_slot[exits],
            np.full(int(exits.sum()), big),
            np.zeros(int(exits.sum())),
        ),
        (
            n_b + slots_used,
            np.full(slots_used.size, sink),
            cap_flat[slots_used],
            np.zeros(slots_used.size),
        ),
    ]
    tails = np.concatenate([p[0] for p in parts]).astype(np.int64)
    heads = np.concatenate([p[1] for p in parts]).astype(np.int64)
    caps = np.concatenate([p[2] for p in parts]).astype(np.int64)
    float_costs = np.concatenate([p[3] for p in parts]).astype(np.float64)
    # a tube's path has at most one entry, the chain and one exit
    path_arcs = n_t + 2
    scale, exact_costs = _scale(float_costs, total * path_arcs)
    costs = np.rint(float_costs * scale).astype(np.int64)
    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    n_arcs = int(tails.size)
    del parts, float_costs
    if not potentials:
        # OR-Tools holds its own copy: at province scale these are 300 MB
        del tails, heads, caps, costs
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[:n_b] = net.tubes
    supplies[sink] = -total
    smcf.set_nodes_supplies(np.arange(sink + 1, dtype=np.int64), supplies)
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        raise BoundError(f"min-cost flow did not solve to optimality (status {status})")
    rounding = 0.0 if exact_costs else 0.5 * total * path_arcs / scale
    value = max(0.0, smcf.optimal_cost() / scale - rounding)
    if not decompose:
        empty = np.zeros(0, dtype=np.int64)
        return ChainFlow(
            value=value,
            arcs=n_arcs,
            flows=FlowArcs(empty, empty, empty, np.zeros(0)),
            flow=empty,
            unassigned_tubes=empty,
            prices=np.zeros((n_l, n_t)),
        )
    flow = np.asarray(smcf.flows(np.arange(n_arcs, dtype=np.int64)), dtype=np.int64)
    del smcf
    prices = np.zeros((n_l, n_t))
    if potentials:
        d = _potentials(sink + 1, tails, heads, costs.astype(np.float64), caps, flow)
        prices = np.maximum(0.0, (d[sink] - d[n_b : n_b + n_l * n_t]) / scale).reshape(n_l, n_t)
    # decompose: direct arcs are batch -> slot already; chain entries are matched
    # first in, first out with the chain's exits (exits never run ahead of entries)
    n_e, n_p = pb.size, rep.size
    fe = flow[:n_e]
    fp = flow[n_e : n_e + n_p]
    unassigned = flow[n_e + n_p : n_e + n_p + n_b]
    off = n_e + n_p + n_b + int(step.sum())
    fx = flow[off : off + int(exits.sum())]
    e_sel = np.nonzero(fe > 0)[0]
    e_order = e_sel[np.lexsort((pb[e_sel], f[e_sel], chain_key[e_sel]))]
    x_idx = np.nonzero(exits)[0]
    x_sel = np.nonzero(fx > 0)[0]
    x_order = x_sel[np.lexsort((c_slot[x_idx[x_sel]], c_key[x_idx[x_sel]]))]
    e_cum = np.cumsum(fe[e_order])
    x_cum = np.cumsum(fx[x_order])
    cuts = np.union1d(e_cum, x_cum)
    seg = np.diff(np.concatenate(([0], cuts)))
    ei = e_order[np.searchsorted(e_cum, cuts, side="left")]
    xi = x_idx[x_order[np.searchsorted(x_cum, cuts, side="left")]]
    dec_b = np.concatenate((pb[ei], pb[rep][fp > 0]))
    dec_l = np.concatenate((c_lab[xi], pl[rep][fp > 0]))
    dec_t = np.concatenate((c_slot[xi], pre_slot[fp > 0]))
    dec_f = np.concatenate((seg, fp[fp > 0])).astype(np.int64)
    tau = np.maximum(dec_t, finish[dec_b, dec_l])
    flows = FlowArcs(dec_b, dec_l, dec_t, net.cost_per_tube(dec_b, net.result_s(dec_l, tau)))
    return ChainFlow(
        value=value,
        arcs=n_arcs,
        flows=flows,
        flow=dec_f,
        unassigned_tubes=unassigned,
        prices=prices,
    )


def lab_groups(net: Network, splits: int) -> IntArray:
    """Labs grouped by run time and isolation, each group halved ``splits`` times by place.

    Halving alternates between latitude and longitude at the median, so groups
    are compact areas; deterministic.
    """
    labs = net.problem.labs
    group = np.zeros(net.n_labs, dtype=np.int64)
    if net.n_labs == 0:
        return group
    iso = np.array([lab.isolation_ok for lab in labs], dtype=np.int64)
    lat = np.array([lab.lat for lab in labs], dtype=np.float64)
    lon = np.array([lab.lon for lab in labs], dtype=np.float64)
    _, base = np.unique(np.stack([net.run_s, iso], axis=1), axis=0, return_inverse=True)
    base = base.reshape(-1)
    n_groups = 0
    stack = [(np.nonzero(base == g)[0], splits) for g in np.unique(base).tolist()]
    while stack:
        idx, depth = stack.pop(0)
        if depth == 0 or idx.size <= 1:
            group[idx] = n_groups
            n_groups += 1
            continue
        coord = lat[idx] if depth % 2 else lon[idx]
        o = idx[np.lexsort((idx, coord))]
        h = o.size // 2
        stack.extend([(o[:h], depth - 1), (o[h:], depth - 1)])
    return group


def grouped_bound(net: Network, finish: IntArray, group: IntArray) -> BoundResult:
    """A valid bound from the SPEC flow with the labs of each group pooled.

    A group's capacity in a slot is the sum of its labs'; a batch reaches it at
    the earliest arrival, finishes at the earliest finish and is charged the
    shortest run time of the group's labs. Every SPEC-flow tube (b, l, t) maps
    to (b, group(l), t) at no higher cost, so the optimum is a lower bound.
    Batches that the pooled network cannot tell apart (same weight, deadline,
    arrivals and finishes) are merged, which keeps the flow small; the
    collected-time part of the cost is a constant per batch and is added back.
    """
    t0 = time.perf_counter()
    n_b, n_t = net.n_batches, net.n_slots
    n_g = int(group.max()) + 1 if group.size else 0
    ok = net.allowed & (finish < n_t)
    arr = np.full((n_b, n_g), n_t, dtype=np.int64)
    fin = np.full((n_b, n_g), n_t, dtype=np.int64)
    for lab in range(net.n_labs):
        g = int(group[lab])
        rows = np.nonzero(ok[:, lab])[0]
        arr[rows, g] = np.minimum(arr[rows, g], net.arrival_slot[rows, lab])
        fin[rows, g] = np.minimum(fin[rows, g], finish[rows, lab])
    cap = np.zeros((n_g, n_t), dtype=np.int64)
    np.add.at(cap, group, net.cap_left)
    run = np.full(n_g, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(run, group, net.run_s)
    # merge batches the pooled network cannot tell apart
    key = np.concatenate(
        (
            net.weight[:, None],
            net.deadline_s[:, None],
            arr.astype(np.float64),
            fin.astype(np.float64),
        ),
        axis=1,
    )
    if n_b:
        uniq, inv = np.unique(key, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
    else:
        uniq, inv = key, np.zeros(0, dtype=np.int64)
    n_m = int(uniq.shape[0])
    rep = np.zeros(n_m, dtype=np.int64)
    rep[inv] = np.arange(n_b)
    tubes = np.bincount(inv, weights=net.tubes, minlength=n_m).astype(np.int64)
    merged = replace(
        net,
        capacity=cap,
        cap_left=cap,
        run_s=run,
        batch_site=net.batch_site[rep],
        tubes=tubes,
        weight=net.weight[rep],
        collected_s=np.zeros(n_m),
        ready_s=net.ready_s[rep],
        deadline_s=net.deadline_s[rep],
        priority_code=net.priority_code[rep],
        arrival_s=np.zeros((n_m, n_g)),
        arrival_slot=arr[rep],
        allowed=fin[rep] < n_t,
    )
    res = chain_flow(merged, fin[rep], potentials=False, decompose=False)
    collected_part = float((net.tubes * net.weight * net.collected_s).sum() / 3600.0)
    value = res.value - collected_part
    # float sums over many terms: stay on the safe side
    value -= 1e-9 * abs(res.value) + 1e-9 * abs(collected_part)
    return BoundResult(
        value=max(0.0, value),
        method=f"min-cost flow with labs pooled in {n_g} groups (valid, weaker than exact)",
        arcs=res.arcs,
        seconds=time.perf_counter() - t0,
    )


#: labs per batch tried for the guiding flow, most first
GUIDE_LAB_CHOICES = (64, 48, 32, 24)
#: arcs per second of a restricted chain flow here (province: 2.0-2.9 M arcs in 14-22 s;
#: slower per arc than the full network's, whose spare arcs make it easier)
GUIDE_ARCS_PER_SECOND = 130_000


def guide_labs(net: Network, finish: IntArray, seconds: float) -> BoolArray | None:
    """Each batch's ``K`` best-case labs (B x L), for the largest ``K`` whose flow fits.

    ``K`` is the largest of :data:`GUIDE_LAB_CHOICES` whose SPEC flow over those
    pairs (:func:`guide_flow`) is forecast to take at most ``seconds``; None
    when not even the smallest does.
    """
    top = candidate_labs(net, finish, max(GUIDE_LAB_CHOICES))
    n_b = net.n_batches
    lens = np.fromiter((len(c) for c in top), dtype=np.int64, count=n_b)
    pb = np.repeat(np.arange(n_b, dtype=np.int64), lens)
    pl = np.fromiter((lab for c in top for lab in c), dtype=np.int64, count=int(lens.sum()))
    rank = np.arange(pb.size, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    # one entry arc per pair and one direct arc per slot before its earliest finish
    per_pair = 1 + finish[pb, pl] - net.arrival_slot[pb, pl]
    for k in GUIDE_LAB_CHOICES:
        take = rank < k
        if per_pair[take].sum() / GUIDE_ARCS_PER_SECOND <= seconds:
            mask = np.zeros((n_b, net.n_labs), dtype=bool)
            mask[pb[take], pl[take]] = True
            return mask
    return None


def guide_flow(net: Network, finish: IntArray, pairs: BoolArray) -> BoundResult:
    """The SPEC flow over the (batch, lab) ``pairs`` (:func:`guide_labs`), to guide plans.

    On the province preset the 48 best labs per batch already carry an optimal
    flow of the full network, in half its time (the full one has 8 M arcs),
    and plans searched from it end lower than from a time-expanded restricted
    flow. Over a restricted network the optimum is no bound, so ``value`` is 0
    (trivially valid) and the optimum is in ``flow_value``.
    """
    t0 = time.perf_counter()
    cf = chain_flow(net, finish, pairs, potentials=False, decompose=True)
    k = int(pairs.sum(axis=1).max(initial=0))
    log.info(
        "guiding flow over up to %d labs per batch: %d arcs, %.1f s",
        k,
        cf.arcs,
        time.perf_counter() - t0,
    )
    return BoundResult(
        value=0.0,
        method=f"guidance: SPEC flow over up to {k} best labs per batch (no bound)",
        arcs=cf.arcs,
        seconds=time.perf_counter() - t0,
        flow=cf.flow,
        arcs_data=cf.flows,
        unassigned_tubes=cf.unassigned_tubes,
        flow_value=cf.value,
    )


#: label of the exact bound computed on chains over the full network
EXACT_CHAIN_METHOD = "exact min-cost flow (full network, time chains)"


def _background_bounds(
    net: Network, finish: IntArray, conn: Any, decompose: bool
) -> None:  # pragma: no cover - runs in the child
    """Child process body of :class:`BackgroundBound`."""
    try:
        cf = chain_flow(net, finish, potentials=False, decompose=decompose)
        flow = (cf.flows, cf.flow, cf.unassigned_tubes) if decompose else None
        conn.send((cf.value, EXACT_CHAIN_METHOD, True, flow))
    except Exception:  # any failure just means no better bound
        pass
    finally:
        conn.close()


class BackgroundBound:
    """The exact SPEC bound over the full network on chains, in a forked process.

    It takes most of a minute on the surge and province presets. OR-Tools
    holds the GIL while it solves a flow, so a thread would stall the search;
    a process uses the second core instead. With ``decompose`` the optimal
    flow comes back too (:attr:`flow`), to guide plans. :meth:`ready` tells
    without blocking whether it has arrived; :meth:`result` waits at most
    ``timeout`` seconds for it, then stops the process (the protocol allows
    several ever better bounds, the last one final). Where a process cannot
    be forked (no ``fork``, or inside a daemon process) nothing starts and
    :meth:`result` returns None.
    """

    def __init__(self, net: Network, finish: IntArray, *, decompose: bool = False) -> None:
        self._proc: Any = None
        self._conn: Any = None
        self._best: tuple[float, str] | None = None
        self._done = False
        #: the optimal flow of the full network, once received (with ``decompose``)
        self.flow: BoundResult | None = None
        try:
            ctx = multiprocessing.get_context("fork")
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(
                target=_background_bounds, args=(net, finish, send, decompose), daemon=True
            )
            proc.start()
        except (ValueError, AssertionError, OSError) as exc:
            log.info("no bound in the background: %s", exc)
            return
        send.close()
        self._proc, self._conn = proc, recv

    def _receive(self, timeout: float) -> None:
        """Take what the child sent within ``timeout`` seconds."""
        end = time.perf_counter() + max(0.0, timeout)
        try:
            while not self._done and self._conn.poll(max(0.0, end - time.perf_counter())):
                value, method, final, flow = self._conn.recv()
                if self._best is None or value > self._best[0]:
                    self._best = (float(value), str(method))
                if flow is not None:
                    arcs, tubes, unassigned = flow
                    self.flow = BoundResult(
                        value=float(value),
                        method=str(method),
                        arcs=arcs.size,
                        seconds=0.0,
                        flow=tubes,
                        arcs_data=arcs,
                        unassigned_tubes=unassigned,
                        flow_value=float(value),
                    )
                self._done = bool(final)
        except (EOFError, OSError):
            self._done = True

    def ready(self) -> bool:
        """Whether the final result has arrived (never blocks)."""
        if self._proc is None:
            return False
        self._receive(0.0)
        return self._done

    @property
    def started(self) -> bool:
        return self._proc is not None

    def result(self, timeout: float) -> tuple[float, str] | None:
        """The best bound received within ``timeout`` seconds; the process is then stopped."""
        if self._proc is None:
            return self._best
        try:
            self._receive(timeout)
        finally:
            if self._proc.is_alive():
                self._proc.terminate()
            self._proc.join(5)
            self._conn.close()
            self._proc = None
        return self._best
