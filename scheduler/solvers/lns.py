"""CP-SAT over the whole of a small instance, as one neighbourhood.

Every batch is freed; the CP-SAT model is warm-started from the incumbent,
so it returns a plan at least as good; the result is folded back into the
queues and kept only if the total cost falls. An optimal CP-SAT status
proves the plan optimal. Neighbourhoods of a few labs on larger instances
found nothing local search had left (city, province), so there are none.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import numpy as np

from scheduler.network import Network
from scheduler.schedule import UNASSIGNED
from scheduler.solvers.cpsat import COST_SCALE, Neighbourhood, NeighbourhoodModel
from scheduler.solvers.speed import NOMINAL
from scheduler.solvers.state import State
from scheduler.solvers.stop import MaxRuntime, WorkClock

log = logging.getLogger(__name__)

#: CP-SAT work units for a whole small instance (bounded so reruns repeat)
WHOLE_INSTANCE_WORK = 30.0
#: free (batch, lab, slot) triples up to which the whole instance is one model
MAX_CELLS = 12_000
EPS = 1e-6


def fits_one_model(net: Network) -> bool:
    """Whether the whole instance is small enough for one CP-SAT model."""
    return int(((net.n_slots - net.arrival_slot) * net.allowed).sum()) <= MAX_CELLS


class LNS:
    def __init__(
        self,
        state: State,
        seed: int = 0,
        workers: int = 1,
    ) -> None:
        self.s = state
        self.net = state.net
        self.rng = random.Random(seed)
        self.workers = workers
        self.proven_optimal = False

    def step(self, time_limit: float, deterministic_limit: float | None = None) -> bool:
        """One CP-SAT solve of the whole instance; True when the incumbent improved."""
        s, net = self.s, self.net
        free, labs = list(range(net.n_batches)), list(range(net.n_labs))
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
        work_per_second: float = NOMINAL.cpsat_work,
    ) -> None:
        """The whole instance as one CP-SAT model, unless ``should_stop`` or the clock says no.

        CP-SAT is capped in its deterministic work units as well as in
        seconds, so with one worker a run stopped on work is repeatable: on
        a :class:`WorkClock` the time left is worth ``work_per_second``.
        """
        if should_stop(self.s.total) or clock.remaining < 0.05:
            return
        work = WHOLE_INSTANCE_WORK
        if isinstance(clock, WorkClock):
            # CP-SAT's own work units keep a single-worker run
            # repeatable; the wall clock only backs them up
            work = min(work, max(0.01, clock.remaining * work_per_second))
        if self.step(clock.wall_remaining, work) and on_improve is not None:
            on_improve(self.s.total)
