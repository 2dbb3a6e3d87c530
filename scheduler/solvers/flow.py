"""Min-cost flows on the time-expanded network: the one user of OR-Tools' flow solver.

Nodes: one per batch (supply = its tubes), one per (lab, slot) with capacity
left, and a sink. A batch sends tubes to any allowed (lab, slot) at or after
its arrival there, each tube charged as if the batch's result came at the end
of slot ``max(t, f)`` plus the lab's run time, or straight to the sink at the
unassigned cost. The arcs are built with numpy, never one Python object each.

A :class:`Flow` says where tubes go; over every arc its optimum is SPEC §3's
bound, but a flow is never a bound by itself: :mod:`scheduler.solvers.bounds`
turns the flows it solves over the whole network into a
:class:`~scheduler.solvers.bounds.Bound`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from scheduler.network import FloatArray, IntArray, Network

#: Integer costs keep the flow exact; this many units per weight-hour at most.
MAX_COST_SCALE = 1_000_000
#: Cost * flow must stay well inside int64 for OR-Tools' overflow checks.
COST_HEADROOM = 2**60


class FlowError(RuntimeError):
    """OR-Tools did not solve a flow to optimality."""


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
class Flow:
    """An optimal flow over some (batch, lab) pairs of the SPEC network.

    ``optimum`` is its cost over the arcs it was solved on: the SPEC bound
    only when those were all of them, which :mod:`~scheduler.solvers.bounds`
    decides, never this type. ``arcs`` and ``tubes`` are its decomposition
    into batch -> (lab, slot) arcs (empty when not decomposed).
    """

    optimum: float
    #: arcs of the network that was solved (time chains and all), for forecasts
    size: int
    arcs: FlowArcs
    tubes: IntArray  # per arc of ``arcs``
    unassigned: IntArray  # per batch
    #: optimal slot prices (L x T), when recovered while solving
    prices: FloatArray | None = None
    #: False when only the optimum was asked for (``arcs`` is then empty)
    decomposed: bool = True


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
        raise FlowError(f"min-cost flow did not solve to optimality (status {status})")
    rounding = 0.0 if exact_costs else 0.5 * total / scale
    value = smcf.optimal_cost() / scale - rounding
    all_flow = np.asarray(smcf.flows(np.arange(tails.shape[0], dtype=np.int64)), dtype=np.int64)
    n_arcs = int(arc_batch.shape[0])
    return max(0.0, value), all_flow[:n_arcs], all_flow[n_arcs : n_arcs + n_b]


def solve_flow(net: Network, arcs: FlowArcs) -> Flow:
    """The SPEC flow over ``arcs`` (plus the unassigned and sink arcs)."""
    unassigned_cost = net.cost_per_tube(np.arange(net.n_batches), net.unassigned_result_s)
    value, tubes, unassigned = transport(
        net.tubes,
        unassigned_cost,
        arcs.batch,
        arcs.lab * net.n_slots + arcs.slot,
        arcs.cost,
        net.cap_left.reshape(-1),
    )
    return Flow(optimum=value, size=arcs.size, arcs=arcs, tubes=tubes, unassigned=unassigned)


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


def flow_prices(net: Network, res: Flow, max_passes: int = 10_000) -> FloatArray:
    """Optimal slot prices (L x T) of a solved flow, from residual-graph potentials.

    SimpleMinCostFlow returns flows but no duals, so they are recovered here:
    shortest distances ``d`` in the residual graph (Bellman-Ford, one numpy
    pass per round, from a virtual root joined to every node) make every
    residual arc's reduced cost non-negative, and ``pi[s] = d[sink] - d[s]``
    are prices at which the Lagrangian equals the flow's optimum. Over a
    restricted arc set they still give a valid bound of the full problem.
    """
    if not res.decomposed:
        raise ValueError("flow_prices needs a decomposed flow")
    arcs, flow, unassigned = res.arcs, res.tubes, res.unassigned
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
    d = _distances(sink + 1, tails, heads, costs, max_passes)
    return np.maximum(0.0, d[sink] - d[n_b:sink]).reshape(n_l, n_t)


def _distances(
    n_nodes: int, tails: IntArray, heads: IntArray, costs: FloatArray, max_passes: int
) -> FloatArray:
    """Shortest distances from a virtual root joined to every node at 0 (Bellman-Ford).

    One numpy pass per round over the arcs grouped by head.
    """
    d = np.zeros(n_nodes)
    if tails.size == 0:
        return d
    order = np.argsort(heads, kind="stable")
    tails, heads, costs = tails[order], heads[order], costs[order]
    starts = np.flatnonzero(np.r_[True, heads[1:] != heads[:-1]])
    group_head = heads[starts]
    for _ in range(max_passes):
        cand = np.minimum.reduceat(d[tails] + costs, starts)
        # a tolerance keeps float noise from looping forever
        better = cand < d[group_head] - 1e-9
        if not better.any():
            break
        d[group_head[better]] = cand[better]
    return d


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
    return _distances(n_nodes, t, h, c, max_passes)


def chain_flow(
    net: Network,
    finish: IntArray,
    pairs_mask: np.ndarray | None = None,
    *,
    potentials: bool = True,
    decompose: bool = True,
) -> Flow:
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
        raise FlowError(f"min-cost flow did not solve to optimality (status {status})")
    rounding = 0.0 if exact_costs else 0.5 * total * path_arcs / scale
    value = max(0.0, smcf.optimal_cost() / scale - rounding)
    if not decompose:
        empty = np.zeros(0, dtype=np.int64)
        return Flow(
            optimum=value,
            size=n_arcs,
            arcs=FlowArcs(empty, empty, empty, np.zeros(0)),
            tubes=empty,
            unassigned=empty,
            decomposed=False,
        )
    flow = np.asarray(smcf.flows(np.arange(n_arcs, dtype=np.int64)), dtype=np.int64)
    del smcf
    prices = None
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
    return Flow(
        optimum=value, size=n_arcs, arcs=flows, tubes=dec_f, unassigned=unassigned, prices=prices
    )
