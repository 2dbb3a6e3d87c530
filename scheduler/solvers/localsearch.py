"""Local search over lab choice and queue order.

Moves:
- *relocate*: take a batch out of its lab (or the unassigned pool) and insert
  it into one of its candidate labs near the position its best-case finish
  suggests;
- *reorder*: move a batch a few places up or down its lab's queue.
Each move is priced exactly by re-filling the queues it touches; only strict
improvements are taken, so the cost never rises.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable

from scheduler.network import IntArray
from scheduler.schedule import UNASSIGNED
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

    def _insert_positions(self, lab: int, b: int) -> list[int]:
        q = self.s.queues[lab]
        fin = [self.s.finish[x] for x in q]
        # queues are mostly sorted by finish, so bisect gives a good spot
        p = bisect.bisect_right(fin, int(self.best_finish[b, lab]))
        cands = {max(0, p - 1), p, min(len(q), p + 1), 0}
        return sorted(cands)

    def try_relocate(self, b: int) -> bool:
        s = self.s
        old = s.lab_of[b]
        if old == UNASSIGNED:
            old_cost = s.cm.unassigned[b]
            old_rest: list[int] = []
            old_rest_cost = 0.0
        else:
            old_cost = s.lab_cost[old]
            pos = s.queues[old].index(b)
            old_rest = s.queues[old][:pos] + s.queues[old][pos + 1 :]
            old_rest_cost, _ = s.queue_cost(old, old_rest, same_prefix=pos)
        best_delta = -EPS
        best: tuple[int, list[int]] | None = None
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
            q = s.queues[lab]
            base = s.lab_cost[lab]
            for p in self._insert_positions(lab, b):
                order = [*q[:p], b, *q[p:]]
                c, fin = s.queue_cost(lab, order, same_prefix=p)
                if fin[p] >= s.n_slots:
                    continue
                delta = (old_rest_cost + c) - (old_cost + base) + penalty
                if delta < best_delta:
                    best_delta, best = delta, (lab, order)
        if best is None:
            return False
        s.move(b, best[0], best[1], old_rest)
        self.moves += 1
        return True

    def try_reorder(self, lab: int, span: int = 3) -> bool:
        s = self.s
        q = s.queues[lab]
        improved = False
        i = 0
        while i < len(q):
            base = s.lab_cost[lab]
            best_delta, best_order = -EPS, None
            for j in range(max(0, i - span), min(len(q), i + span + 1)):
                if j == i:
                    continue
                order = q[:i] + q[i + 1 :]
                order.insert(j, q[i])
                c, _ = s.queue_cost(lab, order, same_prefix=min(i, j))
                if c - base < best_delta:
                    best_delta, best_order = c - base, order
            if best_order is not None:
                s.set_queue(lab, best_order)
                q = s.queues[lab]
                improved = True
                self.moves += 1
            i += 1
        return improved

    def run(
        self,
        stop: StoppingCriterion,
        on_improve: Callable[[float], None] | None = None,
    ) -> float:
        """Sweep relocate and reorder moves until a sweep finds nothing or ``stop`` fires."""
        s = self.s
        n_b = len(s.lab_of)
        while True:
            improved = False
            # worst batches first: they have most to gain
            regret = [
                (s.cm.cost(b, s.lab_of[b], s.finish[b]) if s.lab_of[b] >= 0 else s.cm.unassigned[b])
                - (
                    s.cm.cost(b, self.cand[b][0], int(self.best_finish[b, self.cand[b][0]]))
                    if self.cand[b]
                    else 0.0
                )
                for b in range(n_b)
            ]
            order = sorted(range(n_b), key=lambda b: (-regret[b], self.rng.random()))
            for k, b in enumerate(order):
                if regret[b] <= EPS:
                    break
                if k % 64 == 0 and stop(s.total):
                    return s.total
                if self.try_relocate(b):
                    improved = True
                    if on_improve is not None:
                        on_improve(s.total)
            busy = [lab for lab in range(len(s.queues)) if len(s.queues[lab]) > 1]
            for lab in busy:
                if stop(s.total):
                    return s.total
                if self.try_reorder(lab):
                    improved = True
            if on_improve is not None:
                on_improve(s.total)
            if not improved or stop(s.total):
                return s.total
