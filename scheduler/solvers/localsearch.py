"""Local search over lab choice and queue order.

Moves:
- *relocate*: take a batch out of its lab (or the unassigned pool) and insert
  it into one of its candidate labs near the position its best-case finish
  suggests;
- *reorder*: move a batch a few places up or down its lab's queue.
Each move is priced exactly by re-filling the queues it touches; only strict
improvements are taken, so the cost never rises. A move that failed is not
tried again until one of the queues it prices has changed (it would fail
again), which makes the sweeps after the first one cheap.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable

from scheduler.network import IntArray
from scheduler.schedule import UNASSIGNED
from scheduler.solvers.labqueue import PRUNED
from scheduler.solvers.state import State
from scheduler.solvers.stop import StoppingCriterion

EPS = 1e-9


class LocalSearch:
    def __init__(
        self,
        state: State,
        candidates: list[list[int]],
        best_finish: IntArray,
        seed: int = 0,
        move_penalty: float = 0.0,
        home: IntArray | None = None,
    ) -> None:
        self.s = state
        self.move_penalty = move_penalty
        self.home = home
        self.cand = candidates
        self.best_finish = best_finish
        self.rng = random.Random(seed)
        self.moves = 0
        # State.changes when a batch's relocation / a lab's reordering last failed
        self._relocate_failed = [-1] * len(state.lab_of)
        self._reorder_failed = [-1] * len(state.queues)
        self._cand_of_lab: list[list[int]] | None = None

    def retry(self, batches: list[int]) -> None:
        """Forget that relocating these batches failed (they were moved from outside)."""
        for b in batches:
            self._relocate_failed[b] = -1

    def _unchanged_since_failure(self, b: int) -> bool:
        failed = self._relocate_failed[b]
        if failed < 0:
            return False
        changed_at = self.s.changed_at
        own = self.s.lab_of[b]
        if own != UNASSIGNED and changed_at[own] > failed:
            return False
        return all(changed_at[lab] <= failed for lab in self.cand[b])

    def _insert_positions(self, lab: int, b: int) -> list[int]:
        fin = self.s.finishes(lab)
        # queues are mostly sorted by finish, so bisect gives a good spot
        p = bisect.bisect_right(fin, int(self.best_finish[b, lab]))
        cands = {max(0, p - 1), p, min(len(fin), p + 1), 0}
        return sorted(cands)

    def try_relocate(self, b: int) -> bool:
        s = self.s
        if self._unchanged_since_failure(b):
            return False
        old = s.lab_of[b]
        if old == UNASSIGNED:
            old_cost = s.cm.unassigned[b]
            old_rest: list[int] = []
            old_rest_cost = 0.0
        else:
            old_cost = s.lab_cost[old]
            pos = s.queues[old].index(b)
            old_rest_cost, _ = s.price(old, remove_at=pos)
        best_delta = -EPS
        best: tuple[int, int] | None = None
        removal = old_rest_cost - old_cost
        for lab in self.cand[b]:
            if lab == old:
                continue
            penalty = 0.0
            if self.home is not None:
                # leaving the warm start's lab costs the penalty; going back refunds it
                h = int(self.home[b])
                penalty = self.move_penalty * ((lab != h) - (old != h)) * (h >= 0)
            # b costs at least its best case at ``lab`` and no batch there gets
            # cheaper, so a lab whose best case cannot pay for the move is skipped
            if removal + s.cm.cost(b, lab, int(self.best_finish[b, lab])) + penalty >= best_delta:
                continue
            base = s.lab_cost[lab]
            for p in self._insert_positions(lab, b):
                # what the queue may cost at most for the move to beat the best so far
                limit = best_delta + old_cost + base - old_rest_cost - penalty
                c, last = s.price(lab, insert_batch=b, insert_at=p, limit=limit)
                if last >= s.n_slots or last == PRUNED:
                    continue
                delta = (old_rest_cost + c) - (old_cost + base) + penalty
                if delta < best_delta:
                    best_delta, best = delta, (lab, p)
        if best is None:
            self._relocate_failed[b] = s.changes
            return False
        lab, p = best
        q = s.queues[lab]
        old_rest = [] if old == UNASSIGNED else [x for x in s.queues[old] if x != b]
        s.move(b, lab, [*q[:p], b, *q[p:]], old_rest)
        self.moves += 1
        return True

    def try_reorder(self, lab: int, span: int = 3) -> bool:
        s = self.s
        if self._reorder_failed[lab] >= 0 and s.changed_at[lab] <= self._reorder_failed[lab]:
            return False
        q = s.queues[lab]
        improved = False
        i = 0
        while i < len(q):
            base = s.lab_cost[lab]
            best_delta, best_to = -EPS, -1
            for j in range(max(0, i - span), min(len(q), i + span + 1)):
                if j == i:
                    continue
                c, _ = s.price(lab, remove_at=i, insert_batch=q[i], insert_at=j)
                if c - base < best_delta:
                    best_delta, best_to = c - base, j
            if best_to >= 0:
                order = q[:i] + q[i + 1 :]
                order.insert(best_to, q[i])
                s.set_queue(lab, order)
                q = s.queues[lab]
                improved = True
                self.moves += 1
            i += 1
        if not improved:
            self._reorder_failed[lab] = s.changes
        return improved

    def _regret(self, b: int) -> float:
        """How much ``b`` costs above its best case at its best candidate lab."""
        s, cand = self.s, self.cand[b]
        now = s.cm.cost(b, s.lab_of[b], s.finish[b]) if s.lab_of[b] >= 0 else s.cm.unassigned[b]
        return now - (s.cm.cost(b, cand[0], int(self.best_finish[b, cand[0]])) if cand else 0.0)

    def _affected(self, since: int) -> tuple[list[int], list[int]]:
        """Labs whose queue changed after ``since``, and the batches that could move
        because of it (queued there, or with it among their candidates)."""
        s = self.s
        if self._cand_of_lab is None:
            self._cand_of_lab = [[] for _ in s.queues]
            for b, labs in enumerate(self.cand):
                for lab in labs:
                    self._cand_of_lab[lab].append(b)
        labs = [lab for lab, t in enumerate(s.changed_at) if t > since]
        batches: set[int] = set()
        for lab in labs:
            batches.update(s.queues[lab])
            batches.update(self._cand_of_lab[lab])
        return labs, sorted(batches)

    def run(
        self,
        stop: StoppingCriterion,
        on_improve: Callable[[float], None] | None = None,
        since: int | None = None,
    ) -> float:
        """Sweep relocate and reorder moves until a sweep finds nothing or ``stop`` fires.

        With ``since`` (a :attr:`State.changes` count) only the batches and labs
        that queue changes after it can affect are swept: after a small
        change this settles it without pricing the whole plan again.
        """
        s = self.s
        while True:
            improved = False
            if since is None:
                batches: list[int] = list(range(len(s.lab_of)))
                labs = list(range(len(s.queues)))
            else:
                labs, batches = self._affected(since)
            # worst batches first: they have most to gain
            regret = {b: self._regret(b) for b in batches}
            order = sorted(batches, key=lambda b: (-regret[b], self.rng.random()))
            for k, b in enumerate(order):
                if regret[b] <= EPS:
                    break
                if k % 64 == 0 and stop(s.total):
                    return s.total
                if self.try_relocate(b):
                    improved = True
                    if on_improve is not None:
                        on_improve(s.total)
            busy = [lab for lab in labs if len(s.queues[lab]) > 1]
            for lab in busy:
                if stop(s.total):
                    return s.total
                if self.try_reorder(lab):
                    improved = True
            if on_improve is not None:
                on_improve(s.total)
            if not improved or stop(s.total):
                return s.total
