"""The flow relaxation that proves "k added labs cannot do it".

The question (see :mod:`scheduler.scenarios.recommend`): can k mobile labs of
one size, placed among candidate locations, let every *required* batch
finish by its *latest result time* ``R_b``? (Target batches: their deadline;
the others: no later than in the base.) A valid plan answering yes gives
each tube of batch ``b`` a lab ``l`` and a slot ``t`` with

    arrival_slot(b, l) <= t   and   (t + 1) * slot + run(l) <= R_b,

within every slot's capacity. Dropping everything else the SPEC asks --
whole batches, one lab per batch, the score -- leaves a transportation
problem: tubes from batches to (lab, slot) cells. This module solves it as
one max flow, which is a relaxation (every valid plan is a flow), so when
its maximum is below the required tubes no plan exists.

Where the k labs stand is not known, so the flow does not fix it: every
candidate location gets a cell per slot, and all candidates' cells of slot
``t`` drain through one *pool* node whose capacity is ``k * cap(t)``, the
capacity of k labs in that slot. Any placement of k labs (``n_c`` at
candidate ``c``, ``sum n_c = k``) with a valid plan gives a flow that fits the
pool, since ``sum_c n_c * cap(t) = k * cap(t)``; each candidate uses its own
travel minutes, its own arrival slots and the labs' run time, as a real lab
there would. So: if the pool flow with k labs cannot carry all required
tubes, **no placement of k labs among the candidates can**, and neither can
fewer (the flow only grows with k). Tubes split across slots and labs in
the flow, which only makes it more permissive: the bound stays valid.

The same graph with the pool arcs capped per candidate (``n_c * cap(t)``)
checks one placement, still as a relaxation; the real check is the
verification solve.

Batches with the same arrival slots and latest slots at every lab are one
group node, and each lab's distinct (first, last) slot windows are interval
nodes feeding their slot cells, so the graph has about groups x labs +
intervals x window arcs instead of batches x labs x slots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python import max_flow

from scheduler.network import Network

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

SOURCE, SINK = 0, 1


def slot_windows(
    net: Network, latest_s: FloatArray
) -> tuple[IntArray, IntArray, NDArray[np.bool_]]:
    """Per (batch, lab): first slot, last slot whose end + run <= ``latest_s[b]``, and usable.

    Usable: the lab is allowed and the window holds a slot with capacity.
    """
    n_t = net.n_slots
    first = net.arrival_slot
    last = np.floor((latest_s[:, None] - net.run_s[None, :]) / net.slot_s).astype(np.int64) - 1
    last = np.minimum(last, n_t - 1)
    ok = net.allowed & (first <= last) & (first < n_t)
    # open slots in [first, last], by a cumulative count per lab
    opened = np.concatenate(
        (np.zeros((net.n_labs, 1), dtype=np.int64), np.cumsum(net.cap_left > 0, axis=1)), axis=1
    )
    labs = np.arange(net.n_labs)[None, :]
    hi = np.asarray(opened[labs, np.clip(last + 1, 0, n_t)], dtype=np.int64)
    lo = np.asarray(opened[labs, np.clip(first, 0, n_t)], dtype=np.int64)
    ok &= np.greater(hi, lo)
    return first, last, ok


@dataclass
class Relaxation:
    """The max-flow relaxation over ``required`` batches of ``net``.

    ``candidates`` are the lab indices (in ``net``) that stand for candidate
    locations: each one lab's worth of the mobile lab; their slot capacity
    ``cap1`` is shared.
    """

    net: Network
    candidates: list[int]
    required: NDArray[np.bool_]
    latest_s: FloatArray

    def __post_init__(self) -> None:
        net = self.net
        first, last, ok = slot_windows(net, self.latest_s)
        self.usable = ok.any(axis=1)
        #: required batches no lab (existing or candidate) can finish in time
        self.structural = self.required & ~self.usable
        demand = self.required & self.usable
        self.demand_batches = np.nonzero(demand)[0]
        self.demand_tubes = int(net.tubes[demand].sum())
        self.cap1 = net.cap_left[self.candidates[0]] if self.candidates else np.zeros(net.n_slots)
        self._build(first, last, ok)

    def _build(self, first: IntArray, last: IntArray, ok: NDArray[np.bool_]) -> None:
        net, n_t = self.net, self.net.n_slots
        rows = self.demand_batches
        mf = max_flow.SimpleMaxFlow()
        self.mf = mf
        self.cand_arcs: dict[int, IntArray] = {}
        self.pool_arcs = np.zeros(0, dtype=np.int64)
        if rows.size == 0:
            return
        okr = ok[rows]
        key = np.concatenate((np.where(okr, first[rows], -1), np.where(okr, last[rows], -1)), 1)
        groups, inverse = np.unique(key, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        g_tubes = np.bincount(inverse, weights=net.tubes[rows], minlength=len(groups))
        n_g, n_l = len(groups), net.n_labs
        g_first, g_last = groups[:, :n_l], groups[:, n_l:]
        g_node0 = 2
        big = max(1, self.demand_tubes)
        # source -> group
        g_ids = np.arange(n_g, dtype=np.int64)
        mf.add_arcs_with_capacity(
            np.zeros(n_g, dtype=np.int64), g_node0 + g_ids, g_tubes.astype(np.int64)
        )
        # distinct windows per lab: interval nodes
        gi, li = np.nonzero(g_first >= 0)
        win = np.stack((li, g_first[gi, li], g_last[gi, li]), axis=1)
        windows, w_of = np.unique(win, axis=0, return_inverse=True)
        w_of = w_of.reshape(-1)
        w_node0 = g_node0 + n_g
        mf.add_arcs_with_capacity(g_node0 + gi, w_node0 + w_of, g_tubes[gi].astype(np.int64))
        cell0 = w_node0 + len(windows)
        widths = windows[:, 2] - windows[:, 1] + 1
        w_rep = np.repeat(np.arange(len(windows)), widths)
        offs = np.arange(w_rep.size) - np.repeat(np.cumsum(widths) - widths, widths)
        slots = windows[w_rep, 1] + offs
        cells = windows[w_rep, 0] * n_t + slots
        mf.add_arcs_with_capacity(
            w_node0 + w_rep, cell0 + cells, np.full(w_rep.size, big, dtype=np.int64)
        )
        pool0 = cell0 + n_l * n_t
        cand = np.zeros(n_l, dtype=bool)
        cand[self.candidates] = True
        ex_l, ex_t = np.nonzero((net.cap_left > 0) & ~cand[:, None])
        mf.add_arcs_with_capacity(
            cell0 + ex_l * n_t + ex_t,
            np.full(ex_l.size, SINK, dtype=np.int64),
            net.cap_left[ex_l, ex_t].astype(np.int64),
        )
        open_t = np.nonzero(self.cap1 > 0)[0]
        self.open_t = open_t
        for c in self.candidates:
            self.cand_arcs[c] = np.asarray(
                mf.add_arcs_with_capacity(
                    cell0 + c * n_t + open_t, pool0 + open_t, np.zeros(open_t.size, dtype=np.int64)
                ),
                dtype=np.int64,
            )
        self.pool_arcs = np.asarray(
            mf.add_arcs_with_capacity(
                pool0 + open_t,
                np.full(open_t.size, SINK, dtype=np.int64),
                np.zeros(open_t.size, dtype=np.int64),
            ),
            dtype=np.int64,
        )

    def _solve(self) -> int:
        if self.demand_tubes == 0:
            return 0
        status = self.mf.solve(SOURCE, SINK)
        if status != self.mf.OPTIMAL:  # pragma: no cover - integer capacities
            raise RuntimeError(f"max flow failed with status {status}")
        return int(self.mf.optimal_flow())

    def pool_flow(self, k: int) -> int:
        """Most required tubes the flow carries with k labs anywhere among the candidates."""
        cap = (k * self.cap1[self.open_t]).astype(np.int64)
        if self.pool_arcs.size:
            self.mf.set_arcs_capacity(self.pool_arcs, cap)
            for arcs in self.cand_arcs.values():
                self.mf.set_arcs_capacity(arcs, cap)
        return self._solve()

    def placement_flow(self, counts: Sequence[int]) -> int:
        """As :meth:`pool_flow` with ``counts[i]`` labs fixed at ``candidates[i]``."""
        if self.pool_arcs.size:
            self.mf.set_arcs_capacity(
                self.pool_arcs, (sum(counts) * self.cap1[self.open_t]).astype(np.int64)
            )
            for n, c in zip(counts, self.candidates, strict=True):
                self.mf.set_arcs_capacity(
                    self.cand_arcs[c], (n * self.cap1[self.open_t]).astype(np.int64)
                )
        return self._solve()

    def candidate_use(self) -> FloatArray:
        """Tubes the last solved flow sent to each candidate (in ``candidates`` order)."""
        if not self.cand_arcs:
            return np.zeros(len(self.candidates))
        return np.array([float(np.sum(self.mf.flows(self.cand_arcs[c]))) for c in self.candidates])
