"""Search state: which lab each batch goes to and in what order each lab works.

The state is kept consistent under moves (relocate, reorder) with the cost of
each lab's queue cached, so a move is priced by re-filling the one or two
queues it touches.
"""

from __future__ import annotations

import numpy as np

from scheduler.network import Network
from scheduler.schedule import UNASSIGNED, Schedule
from scheduler.solvers.labqueue import CostModel, fill_chunks, fill_queue


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
        self.lab_cost = [0.0] * net.n_labs
        self.finish = [self.n_slots] * net.n_batches
        for lab in range(net.n_labs):
            self.lab_cost[lab] = self._refill(lab)
        self.unassigned_cost = sum(
            cm.unassigned[b] for b in range(net.n_batches) if self.lab_of[b] == UNASSIGNED
        )

    # --- pricing -----------------------------------------------------------
    def queue_cost(self, lab: int, order: list[int]) -> tuple[float, list[int]]:
        """Cost of ``order`` at ``lab`` (non-fitting batches at the unassigned cost)."""
        if not order:
            return 0.0, []
        arr = self.arr[order, lab].tolist()
        tubes = [self.cm.tubes[b] for b in order]
        fin = fill_queue(self.cm.labs[lab].cap, order, arr, tubes, self.n_slots)
        cost = self.cm.cost
        return sum(cost(b, lab, f) for b, f in zip(order, fin, strict=True)), fin

    def _refill(self, lab: int) -> float:
        c, fin = self.queue_cost(lab, self.queues[lab])
        for b, f in zip(self.queues[lab], fin, strict=True):
            self.finish[b] = f
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
            cs = fill_chunks(self.cm.labs[lab].cap, q, arr, tubes, self.n_slots)
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
