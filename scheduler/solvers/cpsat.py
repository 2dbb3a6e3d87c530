"""Exact re-optimisation of a neighbourhood with CP-SAT.

A neighbourhood is a set of free batches and the labs they may use; every
other batch stays where it is and its tubes are taken out of the capacity
first. The model is the SPEC itself, one named function per rule:

- ``x[b, l]``: batch b goes to lab l; ``u[b]``: b stays unassigned;
- ``z[b, l, t]``: b's last chunk at l is in slot t (so its cost is known);
- ``y[b, l, t]``: tubes of b processed at l in slot t.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from scheduler.network import IntArray, Network

#: objective units per weight-hour (CP-SAT needs integers)
COST_SCALE = 1000


@dataclass
class Neighbourhood:
    batches: list[int]
    labs: list[int]
    #: capacity left for the free batches, L x T (other batches already taken out)
    residual: IntArray
    #: incumbent lab (or -1) and chunks of the free batches, used as a hint
    hint_lab: dict[int, int]
    hint_chunks: dict[int, list[tuple[int, int]]]


@dataclass
class NeighbourhoodSolution:
    lab: dict[int, int]  # batch -> lab or -1
    chunks: dict[int, list[tuple[int, int]]]  # batch -> [(slot, tubes)]
    objective: float
    optimal: bool


class NeighbourhoodModel:
    def __init__(self, net: Network, nb: Neighbourhood) -> None:
        self.net = net
        self.nb = nb
        self.m = cp_model.CpModel()
        self.x: dict[tuple[int, int], cp_model.IntVar] = {}
        self.u: dict[int, cp_model.IntVar] = {}
        self.z: dict[tuple[int, int], dict[int, cp_model.IntVar]] = {}
        self.y: dict[tuple[int, int], dict[int, cp_model.IntVar]] = {}
        self.y_max: dict[tuple[int, int], dict[int, int]] = {}
        self._pairs = self._usable_pairs()
        self._variables()
        self._one_lab_or_unassigned()
        self._finish_once()
        self._all_tubes_processed()
        self._no_tubes_after_finish()
        self._slot_capacity()
        self._objective()
        self._hint()

    # --- variables -----------------------------------------------------------
    def _usable_pairs(self) -> dict[tuple[int, int], tuple[int, int]]:
        """(batch, lab) -> (arrival slot, earliest finish) where the batch fits whole."""
        net, nb = self.net, self.nb
        out: dict[tuple[int, int], tuple[int, int]] = {}
        for b in nb.batches:
            for lab in nb.labs:
                if not net.allowed[b, lab]:
                    continue
                f = net.finish_slot(b, lab, nb.residual[lab])
                if f < net.n_slots:
                    out[(b, lab)] = (int(net.arrival_slot[b, lab]), f)
        return out

    def _variables(self) -> None:
        m, net, res = self.m, self.net, self.nb.residual
        for b in self.nb.batches:
            self.u[b] = m.new_bool_var(f"u{b}")
        for (b, lab), (a, f) in self._pairs.items():
            self.x[b, lab] = m.new_bool_var(f"x{b},{lab}")
            self.z[b, lab] = {t: m.new_bool_var(f"z{b},{lab},{t}") for t in range(f, net.n_slots)}
            tubes = int(net.tubes[b])
            ub = {t: min(tubes, int(res[lab, t])) for t in range(a, net.n_slots) if res[lab, t] > 0}
            self.y_max[b, lab] = ub
            self.y[b, lab] = {t: m.new_int_var(0, hi, f"y{b},{lab},{t}") for t, hi in ub.items()}

    # --- rules -----------------------------------------------------------------
    def _one_lab_or_unassigned(self) -> None:
        """SPEC §2.2: the whole batch goes to one lab (or none)."""
        for b in self.nb.batches:
            labs = [self.x[b, lab] for lab in self.nb.labs if (b, lab) in self.x]
            self.m.add(sum(labs) + self.u[b] == 1)

    def _finish_once(self) -> None:
        for key, zs in self.z.items():
            self.m.add(sum(zs.values()) == self.x[key])

    def _all_tubes_processed(self) -> None:
        """SPEC §2.2: chunks add up to exactly the batch's tubes."""
        for (b, lab), ys in self.y.items():
            self.m.add(sum(ys.values()) == int(self.net.tubes[b]) * self.x[b, lab])

    def _no_tubes_after_finish(self) -> None:
        """A chunk in slot t needs the batch's last slot to be t or later (defines z)."""
        for key, ys in self.y.items():
            zs = self.z[key]
            for t, y in ys.items():
                later = [z for tt, z in zs.items() if tt >= t]
                cap = self.y_max[key][t]
                if not later:
                    self.m.add(y == 0)
                elif len(later) == len(zs):
                    self.m.add(y <= cap * self.x[key])
                else:
                    self.m.add(y <= cap * sum(later))

    def _slot_capacity(self) -> None:
        """SPEC §2.5: tubes per (lab, slot) within the capacity left."""
        per_slot: dict[tuple[int, int], list[tuple[cp_model.IntVar, int]]] = {}
        for (b, lab), ys in self.y.items():
            for t, y in ys.items():
                per_slot.setdefault((lab, t), []).append((y, self.y_max[b, lab][t]))
        for (lab, t), entries in per_slot.items():
            cap = int(self.nb.residual[lab, t])
            # a slot no combination can overfill needs no constraint
            if sum(hi for _, hi in entries) > cap:
                self.m.add(sum(y for y, _ in entries) <= cap)

    def _objective(self) -> None:
        net = self.net
        terms = []
        for b in self.nb.batches:
            terms.append(self._int_cost(float(net.unassigned_cost(b))) * self.u[b])
        for (b, lab), zs in self.z.items():
            ts = np.array(list(zs.keys()), dtype=np.int64)
            costs = net.tubes[b] * net.cost_per_tube(b, net.result_s(lab, ts))
            for t, c in zip(ts.tolist(), costs.tolist(), strict=True):
                terms.append(self._int_cost(c) * zs[t])
        self.m.minimize(sum(terms))

    @staticmethod
    def _int_cost(c: float) -> int:
        return round(c * COST_SCALE)

    def _hint(self) -> None:
        nb = self.nb
        for b in nb.batches:
            lab = nb.hint_lab.get(b, -1)
            chunks = dict(nb.hint_chunks.get(b, []))
            ok = lab >= 0 and (b, lab) in self.x and all(t in self.y[b, lab] for t in chunks)
            self.m.add_hint(self.u[b], not ok)
            for (bb, ll), xv in self.x.items():
                if bb == b:
                    self.m.add_hint(xv, ok and ll == lab)
            for (bb, ll), ys in self.y.items():
                if bb != b:
                    continue
                for t, y in ys.items():
                    self.m.add_hint(y, chunks.get(t, 0) if ok and ll == lab else 0)
            for (bb, ll), zs in self.z.items():
                if bb != b:
                    continue
                last = max(chunks) if ok and ll == lab and chunks else -1
                for t, z in zs.items():
                    self.m.add_hint(z, t == last)

    # --- solve -----------------------------------------------------------------
    def solve(
        self,
        time_limit: float,
        seed: int = 0,
        workers: int = 1,
        deterministic_limit: float | None = None,
    ) -> NeighbourhoodSolution | None:
        """Solve within ``time_limit`` seconds (and ``deterministic_limit`` work units,
        which make a single-worker run repeatable)."""
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.01, time_limit)
        if deterministic_limit is not None:
            solver.parameters.max_deterministic_time = deterministic_limit
        solver.parameters.random_seed = seed
        solver.parameters.num_workers = workers
        status = solver.solve(self.m)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        lab_of: dict[int, int] = {b: -1 for b in self.nb.batches}
        chunks: dict[int, list[tuple[int, int]]] = {b: [] for b in self.nb.batches}
        for (b, lab), xv in self.x.items():
            if solver.value(xv):
                lab_of[b] = lab
                chunks[b] = [
                    (t, int(solver.value(y)))
                    for t, y in self.y[b, lab].items()
                    if solver.value(y) > 0
                ]
        return NeighbourhoodSolution(
            lab=lab_of,
            chunks=chunks,
            objective=solver.objective_value / COST_SCALE,
            optimal=status == cp_model.OPTIMAL,
        )


def solve_exact(
    net: Network, time_limit: float = 60.0, seed: int = 0
) -> NeighbourhoodSolution | None:
    """The whole instance as one neighbourhood: exact on tiny instances."""
    nb = Neighbourhood(
        batches=list(range(net.n_batches)),
        labs=list(range(net.n_labs)),
        residual=net.cap_left.copy(),
        hint_lab={},
        hint_chunks={},
    )
    return NeighbourhoodModel(net, nb).solve(time_limit, seed)
