"""Ruin and recreate: the search's way out of local search's local optima.

Local search stops where no single relocation or reordering pays. A ruin
takes a few related batches out (one batch picked by how much it costs above
its best case, and those competing with it for the same labs and hours), the
recreate puts them back one by one where each is cheapest (heaviest first),
and local search then settles the queues around them. The result is kept only
when the whole plan got cheaper; otherwise the touched queues are put back as
they were. Local search skips moves that failed since their queues last
changed, so each round costs about as much as the few queues it touched.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from scheduler.schedule import UNASSIGNED
from scheduler.solvers.localsearch import LocalSearch
from scheduler.solvers.stop import StoppingCriterion

#: batches taken out per round: at least, at most
RUIN_MIN, RUIN_MAX = 3, 12
EPS = 1e-6


class RuinRecreate:
    def __init__(self, ls: LocalSearch, seed: int = 0) -> None:
        self.ls = ls
        self.s = ls.s
        self.rng = random.Random(seed)
        self.rounds = 0
        self.kept = 0

    def _related(self, seed_batch: int, k: int) -> list[int]:
        """``seed_batch`` and up to ``k - 1`` batches queued near its finish at its labs."""
        s = self.s
        labs = [s.lab_of[seed_batch], *self.ls.cand[seed_batch][:4]]
        target = s.finish[seed_batch]
        near: list[tuple[int, float, int]] = []
        for lab in {lab for lab in labs if lab >= 0}:
            for b in s.queues[lab]:
                if b != seed_batch:
                    near.append((abs(s.finish[b] - target), self.rng.random(), b))
        near.sort()
        return [seed_batch, *(b for _, _, b in near[: k - 1])]

    def step(self, stop: StoppingCriterion) -> bool:
        """One ruin, recreate and local search; True when the plan got cheaper."""
        s, ls = self.s, self.ls
        n = len(s.lab_of)
        if n == 0:
            return False
        self.rounds += 1
        # the seed: a costly batch more often than a cheap one
        sample = [self.rng.randrange(n) for _ in range(8)]
        seed_batch = max(sample, key=ls._regret)
        removed = self._related(seed_batch, self.rng.randint(RUIN_MIN, RUIN_MAX))
        before = s.total
        stamp = s.changes
        saved = [list(q) for q in s.queues]
        saved_unassigned = s.unassigned_cost
        for b in removed:
            lab = s.lab_of[b]
            if lab == UNASSIGNED:
                continue
            rest = [x for x in s.queues[lab] if x != b]
            s.move(b, UNASSIGNED, [], rest)
        ls.retry(removed)
        for b in sorted(removed, key=lambda b: (-s.cm.weight[b], s.cm.deadline[b])):
            ls.try_relocate(b)
        ls.run(stop, since=stamp)
        if s.total < before - EPS:
            self.kept += 1
            return True
        for lab in range(len(s.queues)):
            if s.changed_at[lab] > stamp:
                s.set_queue(lab, saved[lab])
        s.unassigned_cost = saved_unassigned
        for b in removed:
            if s.lab_of[b] == UNASSIGNED:
                s.finish[b] = s.n_slots
        return False

    def run(
        self,
        stop: StoppingCriterion,
        on_improve: Callable[[float], None] | None = None,
        max_rounds: int | None = None,
    ) -> None:
        """Rounds until ``stop`` fires (or ``max_rounds``, for repeatable runs)."""
        while not stop(self.s.total):
            if max_rounds is not None and self.rounds >= max_rounds:
                return
            if self.step(stop) and on_improve is not None:
                on_improve(self.s.total)
