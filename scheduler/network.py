"""Derived arrays of a :class:`~scheduler.domain.Problem`, computed once.

Every solver and the UI read slot capacities, travel minutes, arrival slots
and per-tube costs from here, so each fact has one definition. (The evaluator
deliberately recomputes them from the SPEC on its own.)

Times are integer seconds relative to ``plan_start``; slot ``t`` covers
``[t*slot_s, (t+1)*slot_s)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from scheduler.domain import PRIORITIES, Problem

EARTH_RADIUS_KM = 6371.0088
IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def haversine_km(
    lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray
) -> FloatArray:
    """Great-circle distance, broadcasting over the inputs."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def travel_minutes_matrix(problem: Problem) -> IntArray:
    """Site x lab travel minutes: the SPEC formula, then travel.csv overrides."""
    tm = problem.config.travel
    s_lat = np.array([s.lat for s in problem.sites], dtype=np.float64)
    s_lon = np.array([s.lon for s in problem.sites], dtype=np.float64)
    l_lat = np.array([lab.lat for lab in problem.labs], dtype=np.float64)
    l_lon = np.array([lab.lon for lab in problem.labs], dtype=np.float64)
    km = haversine_km(s_lat[:, None], s_lon[:, None], l_lat[None, :], l_lon[None, :])
    drive = km * tm.road_factor / tm.speed_kmh * 60.0
    # ceil of a value that is an integer up to float noise must not jump by one
    minutes = tm.handling_minutes + np.ceil(np.round(drive, 9)).astype(np.int64)
    for o in problem.travel_overrides:
        minutes[problem.site_index[o.site_id], problem.lab_index[o.lab_id]] = o.minutes
    return minutes


def to_seconds(problem: Problem, when: datetime) -> float:
    """Exact seconds since plan_start (timestamps may carry seconds, even fractions)."""
    return (when - problem.config.plan_start).total_seconds()


def slot_capacity_matrix(problem: Problem) -> tuple[IntArray, IntArray]:
    """Lab x slot capacity: (nominal, left after backlog)."""
    cfg = problem.config
    n_t = cfg.n_slots
    slot_s = cfg.slot_minutes * 60
    starts = np.arange(n_t, dtype=np.int64) * slot_s
    start_hours = np.array([cfg.slot_start(t).hour for t in range(n_t)], dtype=np.int64)
    cap = np.zeros((len(problem.labs), n_t), dtype=np.int64)
    for i, lab in enumerate(problem.labs):
        if lab.open_hour <= lab.close_hour:
            open_ = (start_hours >= lab.open_hour) & (start_hours < lab.close_hour)
        else:
            open_ = (start_hours >= lab.open_hour) | (start_hours < lab.close_hour)
        cap[i] = np.where(open_, (lab.capacity_per_hour * cfg.slot_minutes) // 60, 0)
    for o in problem.outages:
        a, b = to_seconds(problem, o.start), to_seconds(problem, o.end)
        overlap = (starts < b) & (a < starts + slot_s)
        cap[problem.lab_index[o.lab_id], overlap] = 0
    left = cap.copy()
    for i, lab in enumerate(problem.labs):
        backlog = lab.backlog_tubes
        if backlog:
            cum = np.cumsum(cap[i])
            taken = np.minimum(cum, backlog)
            used = np.diff(np.concatenate(([0], taken)))
            left[i] = cap[i] - used
    return cap, left


@dataclass(frozen=True)
class Network:
    """Index-based view of a problem for solvers.

    Shapes: B batches, L labs, T slots. ``allowed[b, l]`` combines isolation,
    pinning, the travel limit and arrival before the horizon end;
    ``arrival_slot[b, l]`` is the first slot a chunk may use (T when none).
    """

    problem: Problem
    slot_s: int
    n_slots: int
    capacity: IntArray  # L x T nominal
    cap_left: IntArray  # L x T after backlog
    travel: IntArray  # S x L minutes
    batch_site: IntArray  # B
    tubes: IntArray  # B
    weight: FloatArray  # B, priority weight per tube
    collected_s: FloatArray  # B
    ready_s: FloatArray  # B
    deadline_s: FloatArray  # B
    priority_code: IntArray  # B, index into PRIORITIES
    run_s: IntArray  # L
    arrival_s: FloatArray  # B x L
    arrival_slot: IntArray  # B x L
    allowed: BoolArray  # B x L
    unassigned_result_s: int
    late_factor: float

    @classmethod
    def build(cls, problem: Problem) -> Network:
        cfg = problem.config
        slot_s = cfg.slot_minutes * 60
        n_t = cfg.n_slots
        capacity, cap_left = slot_capacity_matrix(problem)
        travel = travel_minutes_matrix(problem)
        batches = problem.batches
        n_l = len(problem.labs)
        batch_site = np.array([problem.site_index[b.site_id] for b in batches], dtype=np.int64)
        tubes = np.array([b.tubes for b in batches], dtype=np.int64)
        weight = np.array([cfg.priority_weight[b.priority] for b in batches], dtype=np.float64)
        collected = np.array([to_seconds(problem, b.collected_at) for b in batches], dtype=float)
        ready = np.array([to_seconds(problem, b.ready_at) for b in batches], dtype=float)
        deadline = np.array(
            [to_seconds(problem, problem.deadline_of(b)) for b in batches], dtype=float
        )
        pcode = np.array([PRIORITIES.index(b.priority) for b in batches], dtype=np.int64)
        run_s = np.array([lab.run_minutes * 60 for lab in problem.labs], dtype=np.int64)
        n_b = len(batches)
        bt = travel[batch_site] if n_b else np.zeros((0, n_l), dtype=np.int64)
        arrival = ready[:, None] + bt * 60.0
        # first slot whose start >= arrival
        arrival_slot = np.maximum(0, np.ceil(arrival / slot_s)).astype(np.int64)
        arrival_slot = np.minimum(arrival_slot, n_t)
        allowed = (bt <= cfg.travel.max_travel_minutes) & (arrival_slot < n_t)
        iso_ok = np.array([lab.isolation_ok for lab in problem.labs], dtype=bool)
        iso = np.array([b.isolation for b in batches], dtype=bool)
        allowed &= ~iso[:, None] | iso_ok[None, :]
        for i, b in enumerate(batches):
            if b.pinned_lab is not None:
                keep = problem.lab_index[b.pinned_lab]
                row = np.zeros(n_l, dtype=bool)
                row[keep] = allowed[i, keep]
                allowed[i] = row
        unassigned = round(to_seconds(problem, cfg.unassigned_result_at))
        return cls(
            problem=problem,
            slot_s=slot_s,
            n_slots=n_t,
            capacity=capacity,
            cap_left=cap_left,
            travel=travel,
            batch_site=batch_site,
            tubes=tubes,
            weight=weight,
            collected_s=collected,
            ready_s=ready,
            deadline_s=deadline,
            priority_code=pcode,
            run_s=run_s,
            arrival_s=arrival,
            arrival_slot=arrival_slot.astype(np.int64),
            allowed=allowed,
            unassigned_result_s=unassigned,
            late_factor=float(cfg.late_factor),
        )

    def restricted_to(self, batches: IntArray, cap_left: IntArray) -> Network:
        """The same world with only ``batches`` left and ``cap_left`` as capacity.

        For flows over a sub-problem only: ``problem`` still lists every batch,
        so batch indices of the result do not map onto ``problem.batches``.
        """
        idx = np.asarray(batches, dtype=np.int64)
        return replace(
            self,
            cap_left=cap_left,
            batch_site=self.batch_site[idx],
            tubes=self.tubes[idx],
            weight=self.weight[idx],
            collected_s=self.collected_s[idx],
            ready_s=self.ready_s[idx],
            deadline_s=self.deadline_s[idx],
            priority_code=self.priority_code[idx],
            arrival_s=self.arrival_s[idx],
            arrival_slot=self.arrival_slot[idx],
            allowed=self.allowed[idx],
        )

    @property
    def n_batches(self) -> int:
        return int(self.tubes.shape[0])

    @property
    def n_labs(self) -> int:
        return int(self.run_s.shape[0])

    def result_s(self, lab: int | IntArray, last_slot: int | IntArray) -> IntArray:
        """Result time (s from plan_start) of a batch whose last chunk is in ``last_slot``."""
        return (np.asarray(last_slot) + 1) * self.slot_s + self.run_s[lab]

    def cost_per_tube(self, batch: int | IntArray, result_s: int | IntArray) -> FloatArray:
        """SPEC cost of one tube of ``batch`` whose result comes at ``result_s``."""
        r = np.asarray(result_s, dtype=np.float64)
        tat_h = (r - self.collected_s[batch]) / 3600.0
        late_h = np.maximum(0.0, r - self.deadline_s[batch]) / 3600.0
        return np.asarray(self.weight[batch] * (tat_h + self.late_factor * late_h))

    def unassigned_cost(self, batch: int | IntArray) -> FloatArray:
        return np.asarray(self.tubes[batch] * self.cost_per_tube(batch, self.unassigned_result_s))

    def finish_slot(self, batch: int, lab: int, cap_row: IntArray | None = None) -> int:
        """First slot by which the whole batch fits at ``lab`` from its arrival (T if never)."""
        row = self.cap_left[lab] if cap_row is None else cap_row
        a = int(self.arrival_slot[batch, lab])
        if a >= self.n_slots:
            return self.n_slots
        cum = np.cumsum(row[a:])
        k = int(np.searchsorted(cum, self.tubes[batch]))
        return a + k if k < cum.shape[0] else self.n_slots

    def finish_slots(self) -> IntArray:
        """B x L matrix of :meth:`finish_slot` on the capacity left after backlog.

        Computed per lab with one cumulative sum, so it is cheap even at
        province scale.
        """
        n_b, n_l, n_t = self.n_batches, self.n_labs, self.n_slots
        out = np.full((n_b, n_l), n_t, dtype=np.int64)
        for lab in range(n_l):
            rows = np.nonzero(self.allowed[:, lab])[0]
            if rows.size == 0:
                continue
            cum = np.concatenate(([0], np.cumsum(self.cap_left[lab])))
            a = self.arrival_slot[rows, lab]
            target = cum[a] + self.tubes[rows]
            # the first j with cum[j] >= target is one past the finishing slot;
            # tubes >= 1 makes j > a, and j = T + 1 (never) maps to T
            out[rows, lab] = np.searchsorted(cum, target, side="left") - 1
        return out
