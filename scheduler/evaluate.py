"""The independent plan checker: validity and score exactly as SPEC.md §2-§3 define them.

This module deliberately re-derives everything (travel minutes, opening hours,
outages, capacities, backlog) from the SPEC in plain Python and imports no
solver and not :mod:`scheduler.network`: a bug in the solver's own model must
not be able to hide by being shared with its checker.

Only the travel pairs a plan actually uses are computed, and capacities are
plain per-lab lists, so a 40,000 batch x 864 lab x 48 slot plan is checked in
about a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from scheduler.domain import Batch, Lab, Outage, Plan, Problem

#: radius of the sphere the SPEC's haversine uses
EARTH_RADIUS_KM = 6371.0088

RULE_NAMES: dict[int, str] = {
    1: "unknown id / off-grid slot / bad tubes",
    2: "batch split across labs or wrong tube total",
    3: "lab not allowed (isolation, pinned, travel limit)",
    4: "chunk starts before arrival",
    5: "slot over capacity",
}

_HOUR = 3600.0


# ---------------------------------------------------------------------------
# result types


@dataclass(frozen=True)
class Violation:
    """One broken validity rule of SPEC §2 (``rule`` is its number, 1..5)."""

    rule: int
    message: str
    batch_id: str | None = None
    lab_id: str | None = None
    slot_start: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``slot_start`` as an ISO string or None)."""
        return {
            "rule": self.rule,
            "message": self.message,
            "batch_id": self.batch_id,
            "lab_id": self.lab_id,
            "slot_start": _iso(self.slot_start),
        }


@dataclass(frozen=True)
class BatchOutcome:
    """How one batch fares under the plan (SPEC §3).

    ``lab_id``/``result_at`` are None when the batch counts as unassigned; its
    ``tat_h``/``late_h``/``cost`` are then those of the unassigned result time
    ``horizon_end + 24 h``.
    """

    lab_id: str | None
    result_at: datetime | None
    tat_h: float
    late_h: float
    on_time: bool
    cost: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "lab_id": self.lab_id,
            "result_at": _iso(self.result_at),
            "tat_h": self.tat_h,
            "late_h": self.late_h,
            "on_time": self.on_time,
            "cost": self.cost,
        }


@dataclass(frozen=True)
class PriorityKPI:
    """Figures for one priority class.

    ``mean_tat_h`` and ``p95_tat_h`` are over *assigned tubes* (each batch's
    ``tat_h`` weighted by its tubes) and are None when no tube is assigned.
    ``p95_tat_h`` is the tube-weighted nearest-rank 95th percentile: list the
    ``tat_h`` of every assigned tube in ascending order, and take the value at
    1-based position ``ceil(0.95 * N)`` (N = assigned tubes).
    """

    tubes: int
    tubes_on_time: int
    assigned_tubes: int
    unassigned_tubes: int
    batches: int
    mean_tat_h: float | None
    p95_tat_h: float | None
    cost: float

    @property
    def on_time_rate(self) -> float | None:
        """Share of *all* tubes of the class with a result by their deadline."""
        return self.tubes_on_time / self.tubes if self.tubes else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "tubes": self.tubes,
            "tubes_on_time": self.tubes_on_time,
            "assigned_tubes": self.assigned_tubes,
            "unassigned_tubes": self.unassigned_tubes,
            "batches": self.batches,
            "mean_tat_h": self.mean_tat_h,
            "p95_tat_h": self.p95_tat_h,
            "cost": self.cost,
        }


@dataclass(frozen=True)
class LabKPI:
    """Load of one lab over the horizon.

    ``planned_tubes`` counts every plan row on the lab in a slot of the horizon
    (the same load rule 5 checks); ``capacity_after_backlog`` is the sum of the lab's slot
    capacities left after its backlog; ``utilisation = planned / capacity``
    (0 when capacity is 0). ``batches`` counts distinct batch ids on those rows.
    """

    planned_tubes: int
    capacity_after_backlog: int
    utilisation: float
    batches: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "planned_tubes": self.planned_tubes,
            "capacity_after_backlog": self.capacity_after_backlog,
            "utilisation": self.utilisation,
            "batches": self.batches,
        }


@dataclass
class Evaluation:
    """Everything :func:`evaluate` found about a plan."""

    valid: bool
    violations: list[Violation]
    score: float
    per_priority: dict[str, PriorityKPI]
    per_lab: dict[str, LabKPI]
    per_batch: dict[str, BatchOutcome]
    total_tubes: int
    assigned_tubes: int
    unassigned_tubes: int
    violation_counts: dict[int, int] = field(default_factory=dict)

    def to_dict(self, include_batches: bool = False) -> dict[str, Any]:
        """JSON-ready dict (datetimes as ISO strings).

        ``per_batch`` is included only with ``include_batches`` as it is as
        long as the instance.
        """
        out: dict[str, Any] = {
            "valid": self.valid,
            "score": self.score,
            "total_tubes": self.total_tubes,
            "assigned_tubes": self.assigned_tubes,
            "unassigned_tubes": self.unassigned_tubes,
            "n_violations": len(self.violations),
            "violation_counts": {str(k): v for k, v in sorted(self.violation_counts.items())},
            "violations": [v.to_dict() for v in self.violations],
            "per_priority": {k: v.to_dict() for k, v in self.per_priority.items()},
            "per_lab": {k: v.to_dict() for k, v in self.per_lab.items()},
        }
        if include_batches:
            out["per_batch"] = {k: v.to_dict() for k, v in self.per_batch.items()}
        return out


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


# ---------------------------------------------------------------------------
# the SPEC's physical model, re-derived


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km on a sphere of radius 6371.0088 km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


class _Travel:
    """Travel minutes per (site, lab), computed on first use only."""

    def __init__(self, problem: Problem) -> None:
        self._problem = problem
        self._overrides = {(t.site_id, t.lab_id): t.minutes for t in problem.travel_overrides}
        self._sites = {s.site_id: s for s in problem.sites}
        self._cache: dict[tuple[str, str], int] = {}

    def minutes(self, site_id: str, lab: Lab) -> int:
        key = (site_id, lab.lab_id)
        got = self._cache.get(key)
        if got is None:
            got = self._overrides.get(key)
            if got is None:
                got = formula_minutes(
                    self._problem, self._sites[site_id].lat, self._sites[site_id].lon, lab
                )
            self._cache[key] = got
        return got


def formula_minutes(problem: Problem, lat: float, lon: float, lab: Lab) -> int:
    """SPEC travel formula from a point to ``lab`` (no override)."""
    tm = problem.config.travel
    km = haversine_km(lat, lon, lab.lat, lab.lon)
    drive = km * tm.road_factor / tm.speed_kmh * 60
    # a drive that is a whole number of minutes up to float noise must not round up by one
    return tm.handling_minutes + math.ceil(round(drive, 9))


def travel_minutes(problem: Problem, site_id: str, lab_id: str) -> int:
    """Travel minutes from a site to a lab: travel.csv override, else the formula."""
    # the last override of a pair wins, as in the dict the evaluator builds
    for t in reversed(problem.travel_overrides):
        if t.site_id == site_id and t.lab_id == lab_id:
            return t.minutes
    site = problem.sites[problem.site_index[site_id]]
    return formula_minutes(problem, site.lat, site.lon, problem.labs[problem.lab_index[lab_id]])


def is_open(open_hour: int, close_hour: int, hour: int) -> bool:
    """SPEC opening rule for the hour of day of a slot start."""
    if open_hour <= close_hour:
        return open_hour <= hour < close_hour
    return hour >= open_hour or hour < close_hour


def slot_capacities(problem: Problem, lab: Lab, outages: list[Outage] | None = None) -> list[int]:
    """Capacity of each horizon slot of ``lab`` left after its backlog (SPEC §1).

    ``outages`` may pass the lab's own outages when the caller has indexed
    them; by default all of ``problem.outages`` are scanned.
    """
    cfg = problem.config
    n = cfg.n_slots
    delta = timedelta(minutes=cfg.slot_minutes)
    starts = [cfg.plan_start + i * delta for i in range(n)]
    nominal = lab.capacity_per_hour * cfg.slot_minutes // 60
    caps = [nominal if is_open(lab.open_hour, lab.close_hour, s.hour) else 0 for s in starts]
    for o in problem.outages if outages is None else outages:
        if o.lab_id != lab.lab_id:
            continue
        for i, s in enumerate(starts):
            # half-open intervals [s, s+delta) and [from, to) overlap
            if s < o.end and o.start < s + delta:
                caps[i] = 0
    backlog = lab.backlog_tubes
    for i in range(n):
        if backlog <= 0:
            break
        take = min(backlog, caps[i])
        caps[i] -= take
        backlog -= take
    return caps


# ---------------------------------------------------------------------------
# the checker


def evaluate(problem: Problem, plan: Plan) -> Evaluation:
    """Check ``plan`` against every validity rule of SPEC §2 and score it (§3).

    Every violation is listed, not only the first; rows repeating the same
    (batch, lab, slot) are summed first, so a rule-4/5 problem is reported once
    per (batch, lab, slot) or (lab, slot). A row with an empty ``lab_id``
    marks its batch as unassigned (SPEC §2); mixing such a row with rows that
    name a lab is a rule-2 violation.

    Score of an invalid plan: the score is still computed, but a batch whose
    own rows break rule 1 or 2 (unknown lab, slot off the grid or outside the
    horizon, tubes < 1, several labs, tubes not summing to the batch's) is
    scored as **unassigned** (result at ``horizon_end + 24 h``). A batch that
    breaks only rules 3-5 is scored as planned. Rows with an unknown batch_id
    add nothing to the score.

    Lab load (rule 5 and ``per_lab``) counts every row with a known lab, a
    horizon slot and tubes >= 1, whatever its batch: those tubes are what the
    plan asks the lab to run.
    """
    cfg = problem.config
    labs = {lab.lab_id: lab for lab in problem.labs}
    batches = {b.batch_id: b for b in problem.batches}
    travel = _Travel(problem)
    violations: list[Violation] = []

    # --- rule 1 per row, and grouping; duplicate (batch, lab, slot) rows are summed
    slot_cache: dict[datetime, int | None] = {}
    rows_by_batch: dict[str, dict[tuple[str, datetime], int]] = {}
    broken: set[str] = set()
    load: dict[tuple[str, int], int] = {}
    load_batches: dict[str, set[str]] = {}
    for c in plan.chunks:
        known_batch = c.batch_id in batches
        if not known_batch:
            violations.append(
                Violation(
                    1,
                    f"unknown batch_id {c.batch_id!r}",
                    c.batch_id,
                    c.lab_id or None,
                    c.slot_start,
                )
            )
        if c.lab_id == "":
            # an 'unassigned' marker row: its slot and tubes mean nothing
            if known_batch:
                rows_by_batch.setdefault(c.batch_id, {})
                rows_by_batch[c.batch_id].setdefault(("", c.slot_start), 0)
            continue
        ok = True
        if c.lab_id not in labs:
            ok = False
            violations.append(
                Violation(
                    1,
                    f"batch {c.batch_id}: unknown lab_id {c.lab_id!r}",
                    c.batch_id,
                    c.lab_id,
                    c.slot_start,
                )
            )
        if c.slot_start in slot_cache:
            si = slot_cache[c.slot_start]
        else:
            si = slot_cache[c.slot_start] = cfg.slot_index(c.slot_start)
        if si is None:
            ok = False
            violations.append(
                Violation(
                    1,
                    f"batch {c.batch_id} at lab {c.lab_id}: slot_start "
                    f"{c.slot_start.isoformat()} is not a slot of the horizon "
                    f"[{cfg.plan_start.isoformat()}, {cfg.horizon_end.isoformat()}) "
                    f"on the {cfg.slot_minutes}-minute grid",
                    c.batch_id,
                    c.lab_id,
                    c.slot_start,
                )
            )
        if c.tubes < 1:
            ok = False
            violations.append(
                Violation(
                    1,
                    f"batch {c.batch_id} at lab {c.lab_id}: tubes {c.tubes} < 1",
                    c.batch_id,
                    c.lab_id,
                    c.slot_start,
                )
            )
        if known_batch:
            if not ok:
                broken.add(c.batch_id)
            rows = rows_by_batch.setdefault(c.batch_id, {})
            key = (c.lab_id, c.slot_start)
            rows[key] = rows.get(key, 0) + c.tubes
        if c.lab_id in labs and si is not None and c.tubes >= 1:
            lk = (c.lab_id, si)
            load[lk] = load.get(lk, 0) + c.tubes
            load_batches.setdefault(c.lab_id, set()).add(c.batch_id)

    # --- rules 2-4 per batch
    assigned_lab: dict[str, str] = {}
    last_slot: dict[str, datetime] = {}
    for bid, rows in rows_by_batch.items():
        b = batches[bid]
        named = sorted({lab_id for lab_id, _ in rows})
        real = [x for x in named if x]
        if not real:
            continue  # only empty-lab rows: unassigned, and that is allowed
        if len(named) > 1:
            broken.add(bid)
            shown = ", ".join(x if x else "(empty)" for x in named)
            violations.append(
                Violation(2, f"batch {bid} is spread over several labs: {shown}", bid, None, None)
            )
        total = sum(t for (lab_id, _), t in rows.items() if lab_id)
        if total != b.tubes:
            broken.add(bid)
            violations.append(
                Violation(
                    2,
                    f"batch {bid} at lab {', '.join(real)}: planned {total} tubes, "
                    f"the batch has {b.tubes}",
                    bid,
                    real[0] if len(real) == 1 else None,
                    None,
                )
            )
        for lab_id in real:
            lab = labs.get(lab_id)
            if lab is None:
                continue  # already a rule-1 violation
            violations.extend(_lab_rules(problem, b, lab, travel, rows))
        if bid not in broken:
            assigned_lab[bid] = real[0]
            last_slot[bid] = max(s for (_, s) in rows)

    # --- rule 5 per (lab, slot)
    outages_of: dict[str, list[Outage]] = {}
    for o in problem.outages:
        outages_of.setdefault(o.lab_id, []).append(o)
    caps = {
        lab.lab_id: slot_capacities(problem, lab, outages_of.get(lab.lab_id, []))
        for lab in problem.labs
    }
    for (lab_id, si), tubes in sorted(load.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        cap = caps[lab_id][si]
        if tubes > cap:
            start = cfg.slot_start(si)
            violations.append(
                Violation(
                    5,
                    f"lab {lab_id} slot {start.isoformat()}: {tubes} tubes planned, "
                    f"capacity left after backlog is {cap}",
                    None,
                    lab_id,
                    start,
                )
            )

    # --- score (§3)
    per_batch: dict[str, BatchOutcome] = {}
    slot_len = timedelta(minutes=cfg.slot_minutes)
    unassigned_at = cfg.horizon_end + timedelta(hours=24)
    for b in problem.batches:
        deadline = problem.deadline_of(b)
        at_lab = assigned_lab.get(b.batch_id)
        if at_lab is None:
            result_at = unassigned_at
        else:
            result_at = (
                last_slot[b.batch_id] + slot_len + timedelta(minutes=labs[at_lab].run_minutes)
            )
        tat_h = (result_at - b.collected_at).total_seconds() / _HOUR
        late_h = max(0.0, (result_at - deadline).total_seconds() / _HOUR)
        cost = cfg.priority_weight[b.priority] * b.tubes * (tat_h + cfg.late_factor * late_h)
        per_batch[b.batch_id] = BatchOutcome(
            lab_id=at_lab,
            result_at=result_at if at_lab is not None else None,
            tat_h=tat_h,
            late_h=late_h,
            on_time=at_lab is not None and result_at <= deadline,
            cost=cost,
        )

    per_priority = _priority_kpis(problem, per_batch)
    per_lab: dict[str, LabKPI] = {}
    for lab in problem.labs:
        capacity = sum(caps[lab.lab_id])
        planned = sum(load.get((lab.lab_id, i), 0) for i in range(cfg.n_slots))
        per_lab[lab.lab_id] = LabKPI(
            planned_tubes=planned,
            capacity_after_backlog=capacity,
            utilisation=planned / capacity if capacity else 0.0,
            batches=len(load_batches.get(lab.lab_id, ())),
        )

    # grouped by rule for reading; within a rule, plan-row / batch order is kept (stable sort)
    violations.sort(key=lambda v: v.rule)
    counts: dict[int, int] = {}
    for v in violations:
        counts[v.rule] = counts.get(v.rule, 0) + 1
    total_tubes = sum(b.tubes for b in problem.batches)
    assigned_tubes = sum(batches[bid].tubes for bid in assigned_lab)
    return Evaluation(
        valid=not violations,
        violations=violations,
        score=math.fsum(o.cost for o in per_batch.values()),
        per_priority=per_priority,
        per_lab=per_lab,
        per_batch=per_batch,
        total_tubes=total_tubes,
        assigned_tubes=assigned_tubes,
        unassigned_tubes=total_tubes - assigned_tubes,
        violation_counts=counts,
    )


def _lab_rules(
    problem: Problem,
    b: Batch,
    lab: Lab,
    travel: _Travel,
    rows: dict[tuple[str, datetime], int],
) -> list[Violation]:
    """Rules 3 and 4 for batch ``b`` on ``lab``."""
    out: list[Violation] = []
    bid, lid = b.batch_id, lab.lab_id
    if b.isolation and not lab.isolation_ok:
        out.append(
            Violation(
                3,
                f"isolation batch {bid} sent to lab {lid}, which is not isolation_ok",
                bid,
                lid,
                None,
            )
        )
    if b.pinned_lab is not None and b.pinned_lab != lid:
        out.append(
            Violation(
                3,
                f"batch {bid} is pinned to lab {b.pinned_lab} but sent to lab {lid}",
                bid,
                lid,
                None,
            )
        )
    minutes = travel.minutes(b.site_id, lab)
    limit = problem.config.travel.max_travel_minutes
    if minutes > limit:
        out.append(
            Violation(
                3,
                f"batch {bid}: travel from site {b.site_id} to lab {lid} takes {minutes} min, "
                f"over the {limit} min limit",
                bid,
                lid,
                None,
            )
        )
    arrival = b.ready_at + timedelta(minutes=minutes)
    for lab_id, start in sorted(k for k in rows if k[0] == lid):
        if start < arrival:
            out.append(
                Violation(
                    4,
                    f"batch {bid} at lab {lid}: chunk in slot {start.isoformat()} starts before "
                    f"the batch arrives at {arrival.isoformat()} (ready {b.ready_at.isoformat()}"
                    f" + {minutes} min travel)",
                    bid,
                    lab_id,
                    start,
                )
            )
    return out


def _priority_kpis(problem: Problem, per_batch: dict[str, BatchOutcome]) -> dict[str, PriorityKPI]:
    out: dict[str, PriorityKPI] = {}
    for p in ("urgent", "high", "routine"):
        bs = [b for b in problem.batches if b.priority == p]
        assigned = [
            (per_batch[b.batch_id].tat_h, b.tubes)
            for b in bs
            if per_batch[b.batch_id].lab_id is not None
        ]
        n_assigned = sum(t for _, t in assigned)
        mean = math.fsum(tat * t for tat, t in assigned) / n_assigned if n_assigned else None
        out[p] = PriorityKPI(
            tubes=sum(b.tubes for b in bs),
            tubes_on_time=sum(b.tubes for b in bs if per_batch[b.batch_id].on_time),
            assigned_tubes=n_assigned,
            unassigned_tubes=sum(b.tubes for b in bs) - n_assigned,
            batches=len(bs),
            mean_tat_h=mean,
            p95_tat_h=weighted_percentile(assigned, 95),
            cost=math.fsum(per_batch[b.batch_id].cost for b in bs),
        )
    return out


def weighted_percentile(values: list[tuple[float, int]], pct: int) -> float | None:
    """Nearest-rank percentile of ``(value, weight)`` pairs with integer weights.

    The value at 1-based position ``ceil(pct/100 * N)`` of the ascending list
    in which each value is repeated ``weight`` times (N = total weight); None
    when N is 0. Integer arithmetic keeps the rank free of float noise.
    """
    n = sum(w for _, w in values)
    if n <= 0:
        return None
    rank = max(1, (pct * n + 99) // 100)
    seen = 0
    for value, w in sorted(values):
        seen += w
        if seen >= rank:
            return value
    return sorted(values)[-1][0]  # pragma: no cover - unreachable with positive weights


__all__ = [
    "EARTH_RADIUS_KM",
    "RULE_NAMES",
    "BatchOutcome",
    "Evaluation",
    "LabKPI",
    "PriorityKPI",
    "Violation",
    "evaluate",
    "formula_minutes",
    "haversine_km",
    "is_open",
    "slot_capacities",
    "travel_minutes",
    "weighted_percentile",
]
