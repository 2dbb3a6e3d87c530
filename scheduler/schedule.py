"""The solvers' index-based plan and its conversion to SPEC plan rows.

A :class:`Schedule` is what solvers build and exchange: a lab per batch and
its chunks as parallel integer arrays. Its :meth:`cost` is the SPEC score
computed from the network arrays (fast, used inside search); the evaluator
re-checks the final plan independently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.domain import Chunk, Plan
from scheduler.network import IntArray, Network, to_seconds

UNASSIGNED = -1


@dataclass(frozen=True)
class Schedule:
    lab: IntArray  # B, lab index or UNASSIGNED
    chunk_batch: IntArray  # C
    chunk_slot: IntArray  # C
    chunk_tubes: IntArray  # C

    @classmethod
    def empty(cls, n_batches: int) -> Schedule:
        z = np.zeros(0, dtype=np.int64)
        return cls(np.full(n_batches, UNASSIGNED, dtype=np.int64), z, z.copy(), z.copy())

    @classmethod
    def from_lists(cls, lab: IntArray, chunks: list[tuple[int, int, int]]) -> Schedule:
        """Build from ``(batch, slot, tubes)`` triples."""
        arr = np.array(chunks, dtype=np.int64).reshape(-1, 3)
        return cls(np.asarray(lab, dtype=np.int64), arr[:, 0], arr[:, 1], arr[:, 2])

    def last_slot(self) -> IntArray:
        """Latest chunk slot per batch (-1 where unassigned)."""
        out = np.full(self.lab.shape[0], -1, dtype=np.int64)
        np.maximum.at(out, self.chunk_batch, self.chunk_slot)
        return out

    def result_s(self, net: Network) -> IntArray:
        last = self.last_slot()
        assigned = self.lab >= 0
        res = np.full(self.lab.shape[0], net.unassigned_result_s, dtype=np.int64)
        res[assigned] = net.result_s(self.lab[assigned], last[assigned])
        return res

    def batch_costs(self, net: Network) -> np.ndarray:
        b = np.arange(self.lab.shape[0])
        return np.asarray(net.tubes * net.cost_per_tube(b, self.result_s(net)))

    def cost(self, net: Network) -> float:
        return float(self.batch_costs(net).sum())

    def load(self, net: Network) -> IntArray:
        """Lab x slot planned tubes."""
        used = np.zeros((net.n_labs, net.n_slots), dtype=np.int64)
        np.add.at(used, (self.lab[self.chunk_batch], self.chunk_slot), self.chunk_tubes)
        return used

    def is_feasible(self, net: Network) -> bool:
        """Quick structural check against the network (the evaluator is the real judge)."""
        n_b = self.lab.shape[0]
        if self.chunk_batch.size and (self.lab[self.chunk_batch] < 0).any():
            return False
        sums = np.bincount(self.chunk_batch, weights=self.chunk_tubes, minlength=n_b)
        assigned = self.lab >= 0
        if not np.array_equal(sums[assigned], net.tubes[assigned]):
            return False
        idx = np.nonzero(assigned)[0]
        if not net.allowed[idx, self.lab[idx]].all():
            return False
        if (self.chunk_slot < net.arrival_slot[self.chunk_batch, self.lab[self.chunk_batch]]).any():
            return False
        return bool((self.load(net) <= net.cap_left).all())

    def repaired(self, net: Network) -> Schedule:
        """This schedule without the batches that break the SPEC on ``net``.

        A warm start from an older plan may no longer fit (an outage, less
        capacity, a new pin): its batches that do not fit are left unassigned
        for the search to place again, the rest is kept as it was. In an
        overfull (lab, slot) the batches finishing latest are dropped first.
        """
        keep = self.lab >= 0
        n_b = self.lab.shape[0]
        sums = np.bincount(self.chunk_batch, weights=self.chunk_tubes, minlength=n_b)
        keep &= sums == net.tubes
        idx = np.nonzero(keep)[0]
        keep[idx[~net.allowed[idx, self.lab[idx]]]] = False
        c_lab = self.lab[self.chunk_batch]
        early = self.chunk_slot < net.arrival_slot[self.chunk_batch, np.maximum(c_lab, 0)]
        keep[self.chunk_batch[early]] = False
        last = self.last_slot()
        while True:
            ok = keep[self.chunk_batch]
            load = np.zeros((net.n_labs, net.n_slots), dtype=np.int64)
            np.add.at(load, (c_lab[ok], self.chunk_slot[ok]), self.chunk_tubes[ok])
            over = load > net.cap_left
            if not over.any():
                break
            bad = ok & over[np.maximum(c_lab, 0), self.chunk_slot]
            victims = np.unique(self.chunk_batch[bad])
            keep[victims[np.argmax(last[victims])]] = False
        lab = np.where(keep, self.lab, UNASSIGNED)
        ok = keep[self.chunk_batch]
        return Schedule(lab, self.chunk_batch[ok], self.chunk_slot[ok], self.chunk_tubes[ok])

    def to_plan(self, net: Network) -> Plan:
        p = net.problem
        cfg = p.config
        order = np.lexsort((self.chunk_slot, self.chunk_batch))
        chunks = tuple(
            Chunk(
                batch_id=p.batches[int(self.chunk_batch[i])].batch_id,
                lab_id=p.labs[int(self.lab[self.chunk_batch[i]])].lab_id,
                slot_start=cfg.slot_start(int(self.chunk_slot[i])),
                tubes=int(self.chunk_tubes[i]),
            )
            for i in order
        )
        return Plan(chunks)

    @classmethod
    def from_plan(cls, net: Network, plan: Plan) -> Schedule:
        """Index a plan; raises ValueError on rows that do not fit the problem."""
        p = net.problem
        lab = np.full(net.n_batches, UNASSIGNED, dtype=np.int64)
        chunks: list[tuple[int, int, int]] = []
        for c in plan.chunks:
            b = p.batch_index.get(c.batch_id)
            li = p.lab_index.get(c.lab_id)
            if b is None or li is None:
                raise ValueError(f"plan row names unknown batch or lab: {c}")
            offset = to_seconds(p, c.slot_start)
            slot = int(offset // net.slot_s)
            if offset != slot * net.slot_s or not 0 <= slot < net.n_slots:
                raise ValueError(f"plan row slot is not on the grid: {c}")
            if lab[b] not in (UNASSIGNED, li):
                raise ValueError(f"batch {c.batch_id} is on several labs")
            lab[b] = li
            chunks.append((b, slot, c.tubes))
        return cls.from_lists(lab, chunks)
