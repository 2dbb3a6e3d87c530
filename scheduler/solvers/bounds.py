"""Lower bounds on every valid plan's score: SPEC §3's and weaker valid ones.

The SPEC bound is the optimum of the min-cost flow over the whole
time-expanded network (:mod:`scheduler.solvers.flow`). Over the full network
when it is small; else by column generation over each batch's best labs,
priced against the full network (the Lagrangian at the flow's prices is
valid whatever was left out). Weaker bounds pool labs or slots. A
:class:`Bound` may carry the flow solved on the way, to guide plans; a flow
alone is never a bound.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np

from scheduler.network import FloatArray, IntArray, Network
from scheduler.solvers.flow import (
    Flow,
    FlowArcs,
    build_arcs,
    candidate_labs,
    chain_flow,
    concat_arcs,
    count_arcs,
    flow_prices,
    solve_flow,
    transport,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bound:
    """A valid lower bound on the score of every valid plan, and how it was found."""

    value: float
    method: str
    #: it is SPEC §3's bound itself (the flow over the whole network, or converged pricing)
    exact: bool
    #: arcs of the (last) flow solved for it
    arcs: int
    seconds: float
    #: flows solved (column generation's rounds)
    rounds: int = 1
    #: slot prices (L x T) at which the full network's Lagrangian is ``value``, when known
    prices: FloatArray | None = None
    #: the flow solved on the way, when kept: it guides plans (over a restricted
    #: network its optimum is no bound, and ``value`` never takes it)
    flow: Flow | None = None


def slot_prices(net: Network, bound: Bound) -> FloatArray | None:
    """Prices (L x T) at which the Lagrangian reaches ``bound``'s flow, when it has either."""
    if bound.prices is not None:
        return bound.prices
    if bound.flow is None:
        return None
    if bound.flow.prices is not None:
        return bound.flow.prices
    return flow_prices(net, bound.flow) if bound.flow.decomposed else None


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

#: label of the exact bound computed on chains over the full network
EXACT_CHAIN_METHOD = "exact min-cost flow (full network, time chains)"


def exact_bound(net: Network, *, keep_flow: bool = False) -> Bound:
    """The SPEC §3 bound over the full network."""
    return _full_flow(net, net.finish_slots(), keep_flow)


def _full_flow(net: Network, finish: IntArray, keep_flow: bool) -> Bound:
    """The flow over every arc, its time counted from building the arcs."""
    t0 = time.perf_counter()
    flow = solve_flow(net, build_arcs(net, finish))
    return Bound(
        value=flow.optimum,
        method="exact min-cost flow",
        exact=True,
        arcs=flow.size,
        seconds=time.perf_counter() - t0,
        flow=flow if keep_flow else None,
    )


def pooled_bound(net: Network, finish: IntArray) -> Bound:
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
    return Bound(
        value=value,
        method="pooled capacity per slot (valid, weaker)",
        exact=False,
        arcs=int(arc_b.size),
        seconds=time.perf_counter() - t0,
    )


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
) -> Bound:
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
    return Bound(
        value=max(0.0, best),
        method="Lagrangian relaxation of slot capacities (subgradient)",
        exact=False,
        arcs=count_arcs(net, f),
        seconds=time.perf_counter() - t0,
    )


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
) -> Bound:
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
    res: Flow | None = None
    first: Flow | None = None
    best_prices: FloatArray | None = None
    while True:
        rounds += 1
        arcs = concat_arcs(
            build_arcs(net, finish, window_mask & ~full_mask, window=SLOT_WINDOW),
            build_arcs(net, finish, full_mask),
        )
        res = solve_flow(net, arcs)
        if first is None:
            first = res
        pi = flow_prices(net, res)
        detail = lagrangian_detail(net, pi, finish, c0)
        # float summation over millions of terms: keep the bound on the safe side
        value = detail.value - 1e-9 * abs(detail.value)
        if value > best_value:
            best_value, best_prices = value, pi
        if value >= res.optimum * (1 - PRICING_TOLERANCE):
            exact = True
            best_value = min(value, res.optimum)
            break
        # each batch's dual in the restricted problem: its cheapest arc at the prices
        u = unassigned.copy()
        np.minimum.at(u, arcs.batch, arcs.cost + pi[arcs.lab, arcs.slot])
        tol = 1e-9 * np.maximum(1.0, np.abs(u))
        add = np.nonzero((detail.best < u - tol) & (detail.best_lab >= 0))[0]
        log.info(
            "column generation round %d: restricted %.1f, Lagrangian %.1f, %d batches price in",
            rounds,
            res.optimum,
            value,
            add.size,
        )
        if add.size == 0 or rounds >= max_rounds:
            break
        if upper is not None and res.optimum > 2 * upper:
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
    return Bound(
        value=max(0.0, best_value),
        method=method,
        exact=exact,
        arcs=res.size,
        seconds=time.perf_counter() - t0,
        rounds=rounds,
        prices=best_prices,
        flow=guide if keep_flow else None,
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
) -> Bound:
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


def grouped_bound(net: Network, finish: IntArray, group: IntArray) -> Bound:
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
    value = res.optimum - collected_part
    # float sums over many terms: stay on the safe side
    value -= 1e-9 * abs(res.optimum) + 1e-9 * abs(collected_part)
    return Bound(
        value=max(0.0, value),
        method=f"min-cost flow with labs pooled in {n_g} groups (valid, weaker than exact)",
        exact=False,
        arcs=res.size,
        seconds=time.perf_counter() - t0,
    )
