"""The lower bound of SPEC §3 as a min-cost flow on the time-expanded network.

Nodes: one per batch (supply = its tubes), one per (lab, slot) with capacity
left, and a sink. A batch sends tubes to any allowed (lab, slot) at or after
its arrival there, each tube charged as if the batch's result came at the end
of slot ``max(t, f)`` plus the lab's run time, or straight to the sink at the
unassigned cost. The arcs are built with numpy, never one Python object each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from scheduler.network import FloatArray, IntArray, Network

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


def count_arcs(net: Network, finish: IntArray | None = None) -> int:
    f = net.finish_slots() if finish is None else finish
    ok = net.allowed & (f < net.n_slots)
    return int((net.n_slots - net.arrival_slot)[ok].sum())


def build_arcs(
    net: Network, finish: IntArray | None = None, pairs_mask: np.ndarray | None = None
) -> FlowArcs:
    """All batch -> (lab, slot) arcs with positive slot capacity.

    ``pairs_mask`` (B x L) restricts the labs per batch (for restricted solves).
    """
    f = net.finish_slots() if finish is None else finish
    ok = net.allowed & (f < net.n_slots)
    if pairs_mask is not None:
        ok &= pairs_mask
    pb, pl = np.nonzero(ok)
    a = net.arrival_slot[pb, pl]
    fin = f[pb, pl]
    counts = net.n_slots - a
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


def _scale(max_cost: float, total_tubes: int) -> float:
    if total_tubes == 0 or max_cost <= 0:
        return float(MAX_COST_SCALE)
    return float(min(MAX_COST_SCALE, COST_HEADROOM / (max_cost * total_tubes * 4)))


def solve_flow(net: Network, arcs: FlowArcs, *, keep_flow: bool = True) -> BoundResult:
    """Solve the min-cost flow over ``arcs`` (plus unassigned and sink arcs).

    The returned value is a valid lower bound of the flow's optimum over these
    arcs: integer rounding of costs is accounted for by subtracting its worst
    case, which stays far below 0.01 % of the value.
    """
    t0 = time.perf_counter()
    n_b, n_l, n_t = net.n_batches, net.n_labs, net.n_slots
    sink = n_b + n_l * n_t
    tubes = net.tubes
    total = int(tubes.sum())
    unassigned_cost = net.cost_per_tube(np.arange(n_b), net.unassigned_result_s)
    max_cost = float(max(arcs.cost.max(initial=0.0), unassigned_cost.max(initial=0.0)))
    scale = _scale(max_cost, total)

    slot_node = n_b + arcs.lab * n_t + arcs.slot
    used_slots = np.unique(slot_node)
    all_b = np.arange(n_b, dtype=np.int64)
    tails = np.concatenate((arcs.batch, all_b, used_slots))
    heads = np.concatenate(
        (slot_node, np.full(n_b, sink, dtype=np.int64), np.full(used_slots.size, sink))
    )
    slot_cap = net.cap_left.reshape(-1)[used_slots - n_b]
    caps = np.concatenate((tubes[arcs.batch], tubes, slot_cap))
    float_costs = np.concatenate((arcs.cost, unassigned_cost, np.zeros(used_slots.size)))
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
    scaled_opt = smcf.optimal_cost()
    value = scaled_opt / scale - 0.5 * total / scale
    flow = None
    unassigned = None
    if keep_flow:
        all_flow = smcf.flows(np.arange(tails.shape[0], dtype=np.int64))
        flow = np.asarray(all_flow[: arcs.size], dtype=np.int64)
        unassigned = np.asarray(all_flow[arcs.size : arcs.size + n_b], dtype=np.int64)
    return BoundResult(
        value=max(0.0, value),
        method="exact min-cost flow",
        arcs=arcs.size,
        seconds=time.perf_counter() - t0,
        flow=flow,
        arcs_data=arcs if keep_flow else None,
        unassigned_tubes=unassigned,
    )


def exact_bound(net: Network, *, keep_flow: bool = False) -> BoundResult:
    """The SPEC §3 bound over the full network."""
    t0 = time.perf_counter()
    arcs = build_arcs(net)
    res = solve_flow(net, arcs, keep_flow=keep_flow)
    return BoundResult(
        value=res.value,
        method=res.method,
        arcs=res.arcs,
        seconds=time.perf_counter() - t0,
        flow=res.flow,
        arcs_data=res.arcs_data,
        unassigned_tubes=res.unassigned_tubes,
    )


def lagrangian_value(net: Network, pi: FloatArray, finish: IntArray) -> tuple[float, FloatArray]:
    """The Lagrangian relaxation of the slot capacities at prices ``pi`` (L x T).

    For any ``pi >= 0`` this is a lower bound of the flow optimum (weak
    duality), hence of every plan's score. Each tube independently takes its
    cheapest (lab, slot) at cost + price, or stays unassigned; the bound is
    that minimum summed, less the price of all capacity. Also returns the
    tubes demanded per (lab, slot), the subgradient's first term.
    """
    n_t = net.n_slots
    n_b = net.n_batches
    slots = np.arange(n_t)
    unassigned = net.cost_per_tube(np.arange(n_b), net.unassigned_result_s)
    best = unassigned.copy()
    best_lab = np.full(n_b, -1, dtype=np.int64)
    best_slot = np.full(n_b, -1, dtype=np.int64)
    open_slot = net.cap_left > 0
    for lab in range(net.n_labs):
        rows = np.nonzero(net.allowed[:, lab] & (finish[:, lab] < n_t))[0]
        if rows.size == 0:
            continue
        a = net.arrival_slot[rows, lab]
        f = finish[rows, lab]
        tau = np.maximum(slots[None, :], f[:, None])
        cost = net.cost_per_tube(rows[:, None], net.result_s(lab, tau)) + pi[lab][None, :]
        usable = (slots[None, :] >= a[:, None]) & open_slot[lab][None, :]
        cost = np.where(usable, cost, np.inf)
        t_min = cost.argmin(axis=1)
        c_min = cost[np.arange(rows.size), t_min]
        better = c_min < best[rows]
        upd = rows[better]
        best[upd] = c_min[better]
        best_lab[upd] = lab
        best_slot[upd] = t_min[better]
    value = float((net.tubes * best).sum() - (net.cap_left * pi).sum())
    demand = np.zeros_like(pi)
    chosen = best_lab >= 0
    np.add.at(demand, (best_lab[chosen], best_slot[chosen]), net.tubes[chosen])
    return value, demand


def lagrangian_bound(
    net: Network,
    *,
    upper: float | None = None,
    iterations: int = 30,
    finish: IntArray | None = None,
) -> BoundResult:
    """Subgradient ascent on the slot prices; the best value seen is the bound.

    Every iterate is a valid bound, so stopping early only weakens it. Steps
    follow Polyak's rule towards ``upper`` (a known plan score) when given.
    """
    t0 = time.perf_counter()
    f = net.finish_slots() if finish is None else finish
    pi = np.zeros(net.cap_left.shape, dtype=np.float64)
    best = -np.inf
    target = upper
    lam = 1.0
    stall = 0
    for _ in range(max(1, iterations)):
        value, demand = lagrangian_value(net, pi, f)
        if best == -np.inf or value > best + 1e-9 * max(1.0, abs(best)):
            best, stall = value, 0
        else:
            stall += 1
            if stall >= 3:
                lam /= 2
                stall = 0
        g = demand - net.cap_left
        g = np.where((pi <= 0) & (g < 0), 0.0, g)
        norm = float((g * g).sum())
        if norm == 0 or lam < 1e-4:
            break
        goal = target if target is not None else best + abs(best) * 0.05 + 1.0
        step = lam * max(goal - value, 1e-9 * max(1.0, abs(value))) / norm
        pi = np.maximum(0.0, pi + step * g)
    return BoundResult(
        value=max(0.0, best),
        method="Lagrangian relaxation of slot capacities (subgradient)",
        arcs=count_arcs(net, f),
        seconds=time.perf_counter() - t0,
    )


#: above this many arcs the exact flow is replaced by the Lagrangian bound
EXACT_ARC_LIMIT = 12_000_000


def lower_bound(net: Network, *, upper: float | None = None) -> BoundResult:
    """The exact SPEC bound when the network fits in memory, else a valid weaker one."""
    f = net.finish_slots()
    if count_arcs(net, f) <= EXACT_ARC_LIMIT:
        return exact_bound(net)
    return lagrangian_bound(net, upper=upper, finish=f)
