"""Large-neighbourhood search: re-optimise a few labs at a time with CP-SAT.

A neighbourhood is a handful of labs that share candidate batches; their
queued batches (and unassigned ones that could go there) are freed, every
other batch keeps its tubes. The CP-SAT model is warm-started from the
incumbent, so it returns a plan at least as good; the result is folded back
into the queues and kept only if the total cost falls.

When the whole instance is small enough it is one neighbourhood, and an
optimal CP-SAT status proves the plan optimal.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import numpy as np

from scheduler.network import Network
from scheduler.schedule import UNASSIGNED
from scheduler.solvers.cpsat import COST_SCALE, Neighbourhood, NeighbourhoodModel
from scheduler.solvers.state import State
from scheduler.solvers.stop import MaxRuntime, WorkClock

log = logging.getLogger(__name__)

#: CP-SAT work units for a whole small instance (bounded so reruns repeat)
WHOLE_INSTANCE_WORK = 30.0
#: CP-SAT work units per second with one worker here (0.40-0.46 measured; a
#: margin for busier machines)
CPSAT_WORK_PER_SECOND = 0.25
#: free (batch, lab, slot) triples above which a neighbourhood is shrunk
MAX_CELLS = 12_000
EPS = 1e-6


def _cells(net: Network, batches: list[int], labs: list[int]) -> int:
    if not batches or not labs:
        return 0
    a = net.arrival_slot[np.ix_(batches, labs)]
    ok = net.allowed[np.ix_(batches, labs)]
    return int(((net.n_slots - a) * ok).sum())


class LNS:
    def __init__(
        self,
        state: State,
        candidates: list[list[int]],
        seed: int = 0,
        workers: int = 1,
    ) -> None:
        self.s = state
        self.net = state.net
        self.cand = candidates
        self.rng = random.Random(seed)
        self.seed = seed
        self.workers = workers
        self.proven_optimal = False
        # labs that share a candidate batch are neighbours
        self.lab_batches: list[list[int]] = [[] for _ in range(self.net.n_labs)]
        for b, labs in enumerate(candidates):
            for lab in labs:
                self.lab_batches[lab].append(b)

    def whole_instance_fits(self) -> bool:
        return (
            _cells(self.net, list(range(self.net.n_batches)), list(range(self.net.n_labs)))
            <= MAX_CELLS
        )

    def _pick(self) -> tuple[list[int], list[int]]:
        s, net = self.s, self.net
        if self.whole_instance_fits():
            return list(range(net.n_batches)), list(range(net.n_labs))
        # seed lab: weighted by how much its queue costs above the best case
        weights = [c + 1e-9 for c in s.lab_cost]
        seed_lab = self.rng.choices(range(net.n_labs), weights=weights)[0]
        labs = [seed_lab]
        shared: dict[int, int] = {}
        for b in s.queues[seed_lab]:
            for lab in self.cand[b]:
                if lab != seed_lab:
                    shared[lab] = shared.get(lab, 0) + 1
        ranked = sorted(shared, key=lambda lab: (-shared[lab], self.rng.random()))
        labs.extend(ranked[: self.rng.choice([1, 2, 3])])
        free = sorted({b for lab in labs for b in s.queues[lab]})
        free += [
            b
            for lab in labs
            for b in self.lab_batches[lab]
            if s.lab_of[b] == UNASSIGNED and b not in free
        ]
        # shrink: keep the costliest batches free until the model is small enough
        cost = {
            b: s.cm.cost(b, s.lab_of[b], s.finish[b]) if s.lab_of[b] >= 0 else s.cm.unassigned[b]
            for b in free
        }
        free.sort(key=lambda b: -cost[b])
        while free and _cells(net, free, labs) > MAX_CELLS:
            free = free[: max(1, int(len(free) * 0.8))]
            if len(free) == 1:
                break
        return sorted(set(free)), labs

    def step(self, time_limit: float, deterministic_limit: float | None = None) -> bool:
        """One neighbourhood; True when the incumbent improved."""
        s, net = self.s, self.net
        free, labs = self._pick()
        if not free:
            return False
        sched = s.to_schedule()
        free_set = set(free)
        fixed = np.array([b not in free_set for b in sched.chunk_batch.tolist()], dtype=bool)
        residual = net.cap_left.copy()
        np.subtract.at(
            residual,
            (sched.lab[sched.chunk_batch[fixed]], sched.chunk_slot[fixed]),
            sched.chunk_tubes[fixed],
        )
        hint_chunks: dict[int, list[tuple[int, int]]] = {b: [] for b in free}
        for i in np.nonzero(~fixed)[0].tolist():
            b = int(sched.chunk_batch[i])
            hint_chunks[b].append((int(sched.chunk_slot[i]), int(sched.chunk_tubes[i])))
        hint_lab = {b: int(sched.lab[b]) for b in free}
        # a free batch outside the chosen labs keeps its own lab available
        all_labs = sorted(set(labs) | {lab for lab in hint_lab.values() if lab >= 0})
        nb = Neighbourhood(free, all_labs, residual, hint_lab, hint_chunks)
        sol = NeighbourhoodModel(net, nb).solve(
            time_limit,
            seed=self.rng.randrange(2**31),
            workers=self.workers,
            deterministic_limit=deterministic_limit,
        )
        if sol is None:
            return False
        whole = len(free) == net.n_batches
        before = s.total
        touched = set(all_labs) | {s.lab_of[b] for b in free if s.lab_of[b] >= 0}
        saved = {lab: list(s.queues[lab]) for lab in touched}
        saved_unassigned = s.unassigned_cost
        # fold back: queues ordered by the solution's last slots
        last = {b: max((t for t, _ in ch), default=net.n_slots) for b, ch in sol.chunks.items()}
        for lab in touched:
            keep = [b for b in s.queues[lab] if b not in free_set]
            new = [b for b in free if sol.lab[b] == lab]
            merged = sorted(
                keep + new,
                key=lambda b: (s.finish[b] if b not in free_set else last[b], -s.cm.weight[b]),
            )
            s.set_queue(lab, merged)
        s.unassigned_cost = sum(
            s.cm.unassigned[b] for b in range(net.n_batches) if s.lab_of[b] == UNASSIGNED
        )
        # the model's integer costs round each batch by at most half a unit
        rounding = net.n_batches * 0.5 / COST_SCALE + EPS
        improved = s.total < before - EPS
        if not improved:
            for lab, q in saved.items():
                s.set_queue(lab, q)
            s.unassigned_cost = saved_unassigned
        if whole and sol.optimal and s.total <= sol.objective + rounding:
            self.proven_optimal = True
        return improved

    def run(
        self,
        clock: MaxRuntime,
        should_stop: Callable[[float], bool],
        on_improve: Callable[[float], None] | None = None,
        step_limit: float = 2.0,
        step_work: float = 1.0,
    ) -> None:
        """Neighbourhoods until ``should_stop``, the clock, or a proof of optimality.

        Each step is capped in CP-SAT's deterministic work units as well as in
        seconds, so with one worker a run stopped on iterations is repeatable.
        """
        while not should_stop(self.s.total) and not self.proven_optimal:
            budget = min(step_limit, clock.remaining)
            if budget < 0.05:
                return
            if self.whole_instance_fits():
                work = WHOLE_INSTANCE_WORK
                if isinstance(clock, WorkClock):
                    # CP-SAT's own work units keep a single-worker run
                    # repeatable; the wall clock only backs them up
                    work = min(work, max(0.01, clock.remaining * CPSAT_WORK_PER_SECOND))
                improved = self.step(clock.wall_remaining, work)
                if improved and on_improve is not None:
                    on_improve(self.s.total)
                return
            if self.step(budget, step_work) and on_improve is not None:
                on_improve(self.s.total)
