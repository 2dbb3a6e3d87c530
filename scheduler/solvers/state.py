"""Search state: which lab each batch goes to and in what order each lab works.

The state is kept consistent under moves (relocate, reorder) with the cost of
each lab's queue cached, so a move is priced by re-filling the one or two
queues it touches.
"""

from __future__ import annotations

import math

import numpy as np

from scheduler.network import Network
from scheduler.schedule import UNASSIGNED, Schedule
from scheduler.solvers.labqueue import (
    SNAPSHOT_EVERY,
    WORK_PRICE_CALL,
    WORK_PRICE_ENTRY,
    WORK_REFILL_CALL,
    WORK_REFILL_ENTRY,
    CostModel,
    fill_chunks,
    fill_queue,
    price_kernel,
)


class State:
    def __init__(self, net: Network, cm: CostModel, queues: list[list[int]]) -> None:
        self.net = net
        self.cm = cm
        self.n_slots = net.n_slots
        self.queues = queues
        self.lab_of = [UNASSIGNED] * net.n_batches
        for lab, q in enumerate(queues):
            for b in q:
                self.lab_of[b] = lab
        self.arr = net.arrival_slot  # B x L
        # the compiled pricing's inputs, as arrays
        self._cap = np.ascontiguousarray(net.cap_left, dtype=np.int64)
        self._arr = np.ascontiguousarray(net.arrival_slot, dtype=np.int64)
        self._tubes = np.asarray(cm.tubes, dtype=np.int64)
        self._result_base = np.array([d.result_base for d in cm.labs], dtype=np.float64)
        self._weight = np.asarray(cm.weight, dtype=np.float64)
        self._deadline = np.asarray(cm.deadline, dtype=np.float64)
        self._collected = np.asarray(cm.collected, dtype=np.float64)
        self._unassigned = np.asarray(cm.unassigned, dtype=np.float64)
        self._snap_arrays: list[list[np.ndarray]] = [[] for _ in range(net.n_labs)]
        self._queue_arrays: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * net.n_labs
        # per lab, the cost of its queue from each position on (one more: 0)
        self._suffix: list[np.ndarray] = [np.zeros(1)] * net.n_labs
        # per lab, from its last refill: fill states every SNAPSHOT_EVERY
        # batches, each batch's finish and the cost before each snapshot
        self._snaps: list[list[tuple[list[int], int]]] = [[] for _ in range(net.n_labs)]
        self._fin: list[list[int]] = [[] for _ in range(net.n_labs)]
        self._prefix_cost: list[list[float]] = [[0.0] for _ in range(net.n_labs)]
        self.lab_cost = [0.0] * net.n_labs
        self.finish = [self.n_slots] * net.n_batches
        #: count of queue changes so far, and when each lab's queue last changed:
        #: a move that failed since then would fail again
        self.changes = 0
        self.changed_at = [0] * net.n_labs
        for lab in range(net.n_labs):
            self.lab_cost[lab] = self._refill(lab)
        self.unassigned_cost = sum(
            cm.unassigned[b] for b in range(net.n_batches) if self.lab_of[b] == UNASSIGNED
        )

    # --- pricing -----------------------------------------------------------
    def queue_cost(
        self,
        lab: int,
        order: list[int],
        same_prefix: int = 0,
        record: list[tuple[list[int], int]] | None = None,
    ) -> tuple[float, list[int]]:
        """Cost of ``order`` at ``lab`` (non-fitting batches at the unassigned cost).

        ``same_prefix``: the first that many batches of ``order`` are those of
        the lab's current queue, in the same order; their finishes and costs
        are then taken from the last refill instead of being recomputed.
        """
        if not order:
            return 0.0, []
        cm = self.cm
        n_slots = self.n_slots
        start = 0
        free: list[int] = cm.labs[lab].cap
        first_free = 0
        if same_prefix > 0 and self._snaps[lab]:
            k = min(same_prefix // SNAPSHOT_EVERY, len(self._snaps[lab]) - 1)
            start = k * SNAPSHOT_EVERY
            free, first_free = self._snaps[lab][k]
        rest = order[start:]
        arr = self.arr[rest, lab].tolist() if rest else []
        tubes = [cm.tubes[b] for b in rest]
        fin = fill_queue(free, rest, arr, tubes, n_slots, first_free, record)
        # CostModel.cost inlined (the hot loop of every move)
        result_base = cm.labs[lab].result_base
        weight, deadline, collected = cm.weight, cm.deadline, cm.collected
        tubes_of = cm.tubes
        late_factor, unassigned = cm.late_factor, cm.unassigned
        total = self._prefix_cost[lab][start] if start else 0.0
        for b, f in zip(rest, fin, strict=True):
            if f >= n_slots:
                total += unassigned[b]
                continue
            r = result_base[f]
            late = r - deadline[b]
            v = r - collected[b]
            if late > 0:
                v += late_factor * late
            total += weight[b] * tubes_of[b] * v / 3600.0
        if start:
            fin = self._fin[lab][:start] + fin
        return total, fin

    def price(
        self,
        lab: int,
        remove_at: int = -1,
        insert_batch: int = -1,
        insert_at: int = -1,
        limit: float = math.inf,
    ) -> tuple[float, int]:
        """Cost of ``lab``'s queue after one move, and the inserted batch's last slot.

        The move takes out the batch at ``remove_at`` (-1: none), then puts
        ``insert_batch`` at position ``insert_at`` of what is left (-1: none).
        The unchanged prefix is taken from the last refill. Same result as
        :meth:`queue_cost` of the changed queue, without building it. A pure
        insertion that is sure to cost more than ``limit`` may stop early and
        return a cost above ``limit`` and the slot ``PRUNED``.
        """
        changed = [p for p in (remove_at, insert_at) if p >= 0]
        same_prefix = min(changed) if changed else len(self.queues[lab])
        start, free, first_free, total = 0, self._cap[lab], 0, 0.0
        if same_prefix > 0 and self._snaps[lab]:
            k = min(same_prefix // SNAPSHOT_EVERY, len(self._snaps[lab]) - 1)
            start = k * SNAPSHOT_EVERY
            free = self._snap_arrays[lab][k]
            first_free = self._snaps[lab][k][1]
            total = self._prefix_cost[lab][start] if start else 0.0
        queue = self._queue_arrays[lab]
        self.cm.work += WORK_PRICE_CALL + WORK_PRICE_ENTRY * (queue.size - start)
        cost, last = price_kernel(
            free,
            first_free,
            queue,
            start,
            remove_at,
            insert_batch,
            insert_at,
            lab,
            self._arr,
            self._tubes,
            self._result_base[lab],
            self._weight,
            self._deadline,
            self._collected,
            self.cm.late_factor,
            self._unassigned,
            total,
            self._suffix[lab],
            limit + 1e-12 * abs(limit) + 1e-9,  # the bound sums in another order
        )
        return float(cost), int(last)

    def finishes(self, lab: int) -> list[int]:
        """Last slot of each batch of ``lab``'s queue, in queue order (do not change)."""
        return self._fin[lab]

    def _refill(self, lab: int) -> float:
        q = self.queues[lab]
        self.cm.work += WORK_REFILL_CALL + WORK_REFILL_ENTRY * len(q)
        snaps: list[tuple[list[int], int]] = []
        self._snaps[lab] = []
        c, fin = self.queue_cost(lab, q, record=snaps)
        for b, f in zip(q, fin, strict=True):
            self.finish[b] = f
        self._snaps[lab] = snaps
        self._snap_arrays[lab] = [np.array(f, dtype=np.int64) for f, _ in snaps]
        self._queue_arrays[lab] = np.array(q, dtype=np.int64)
        self._fin[lab] = fin
        # cost of the first i batches, at the snapshot positions only
        cm = self.cm
        prefix = [0.0] * (len(q) + 1)
        each = [cm.cost(b, lab, f) for b, f in zip(q, fin, strict=True)]
        total = 0.0
        for i, cost in enumerate(each):
            if i % SNAPSHOT_EVERY == 0:
                prefix[i] = total
            total += cost
        prefix[len(q)] = total
        self._prefix_cost[lab] = prefix
        self._suffix[lab] = np.append(np.cumsum(each[::-1])[::-1], 0.0)
        return c

    @property
    def total(self) -> float:
        return sum(self.lab_cost) + self.unassigned_cost

    # --- moves -------------------------------------------------------------
    def set_queue(self, lab: int, order: list[int]) -> None:
        for b in self.queues[lab]:
            if self.lab_of[b] == lab:
                self.lab_of[b] = UNASSIGNED
        self.queues[lab] = order
        for b in order:
            self.lab_of[b] = lab
        self.lab_cost[lab] = self._refill(lab)
        self.changes += 1
        self.changed_at[lab] = self.changes

    def move(self, b: int, new_lab: int, new_order: list[int], old_order: list[int]) -> None:
        """Put ``b`` into ``new_lab`` (queue ``new_order``), leaving ``old_order`` behind."""
        old = self.lab_of[b]
        if old == UNASSIGNED:
            self.unassigned_cost -= self.cm.unassigned[b]
        else:
            self.set_queue(old, old_order)
        if new_lab == UNASSIGNED:
            self.lab_of[b] = UNASSIGNED
            self.finish[b] = self.n_slots
            self.unassigned_cost += self.cm.unassigned[b]
        else:
            self.set_queue(new_lab, new_order)

    # --- output ------------------------------------------------------------
    def to_schedule(self) -> Schedule:
        lab_of = np.full(self.net.n_batches, UNASSIGNED, dtype=np.int64)
        chunks: list[tuple[int, int, int]] = []
        for lab, q in enumerate(self.queues):
            if not q:
                continue
            arr = self.arr[q, lab].tolist()
            tubes = [self.cm.tubes[b] for b in q]
            cs = fill_chunks(self.cm.labs[lab].cap, q, arr, tubes)
            chunks.extend(cs)
            for b, _, _ in cs:
                lab_of[b] = lab
        return Schedule.from_lists(lab_of, chunks)

    @classmethod
    def from_schedule(cls, net: Network, cm: CostModel, s: Schedule) -> State:
        """Queues ordered by each batch's last slot in ``s`` (ties: weight, then deadline)."""
        last = s.last_slot()
        queues: list[list[int]] = [[] for _ in range(net.n_labs)]
        assigned = np.nonzero(s.lab >= 0)[0]
        order = assigned[
            np.lexsort((net.deadline_s[assigned], -net.weight[assigned], last[assigned]))
        ]
        for b in order.tolist():
            queues[int(s.lab[b])].append(b)
        return cls(net, cm, queues)
