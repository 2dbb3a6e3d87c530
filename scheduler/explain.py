"""Why a plan is what it is: one batch's options, and where capacity falls short.

Both reports read a problem and a plan and use the shared network arrays
(travel, arrival slots, capacity left); they never solve anything.

Capacity shortfall, exactly: a batch is *late* when its planned result comes
after its deadline, *unassigned* when it has no lab. For each such batch we
take the lab that could return its result earliest on an empty lab (its best
case) and the window of slots in which its tubes would have to be processed
there to be on time: from its arrival slot to the last slot whose end plus the
lab's run time is still by the deadline. If that window is empty, no capacity
can save it (travel, run time or the deadline itself bind) and it is counted
as *structural*. Otherwise its tubes, spread evenly over the window, are extra
tubes per hour needed in that lab's city during those hours. Summed per city
and hour, the peak of that profile is the capacity (tubes/hour, where, when)
that headquarters would have to add — for example a mobile lab — to recover
the late tubes, assuming the added capacity sits at that best-case lab's
location and runs as fast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from scheduler.domain import Plan, Problem
from scheduler.evaluate import Evaluation, evaluate
from scheduler.geography import CITY_BY_CODE
from scheduler.network import Network
from scheduler.schedule import Schedule


def city_of(county_code: str) -> str:
    """The prefecture-level code of a county (``41CCXX`` -> ``41CC00``)."""
    return county_code[:4] + "00" if len(county_code) >= 4 else county_code


def city_name(code: str) -> str:
    city = CITY_BY_CODE.get(code[:4])
    return f"{city.name} {city.name_zh}" if city else code


@dataclass(frozen=True)
class LabOption:
    lab_id: str
    name: str
    allowed: bool
    reason: str  # why not, when not allowed
    travel_minutes: int
    arrival_at: datetime | None
    first_slot: datetime | None
    best_result_at: datetime | None  # on the lab's capacity left after backlog
    result_now_at: datetime | None  # on what the plan's other batches leave
    cost_now: float | None
    chosen: bool


@dataclass(frozen=True)
class BatchExplanation:
    batch_id: str
    site_id: str
    county_code: str
    tubes: int
    priority: str
    isolation: bool
    pinned_lab: str | None
    collected_at: datetime
    ready_at: datetime
    deadline: datetime
    lab_id: str | None
    chunks: list[tuple[datetime, int]]
    result_at: datetime | None
    late_h: float
    cost: float
    options: list[LabOption]
    binding: list[str]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def explain_batch(
    problem: Problem,
    plan: Plan,
    batch_id: str,
    *,
    net: Network | None = None,
    ev: Evaluation | None = None,
    sched: Schedule | None = None,
) -> BatchExplanation:
    """Every lab's option for ``batch_id`` and the facts that decided its place.

    ``net``, ``ev`` (the plan's evaluation) and ``sched`` (its schedule on
    ``net``) may be passed when many batches of one plan are explained.
    """
    if batch_id not in problem.batch_index:
        raise KeyError(batch_id)
    net = Network.build(problem) if net is None else net
    cfg = problem.config
    b = problem.batch_index[batch_id]
    bt = problem.batches[b]
    ev = evaluate(problem, plan) if ev is None else ev
    outcome = ev.per_batch[batch_id]
    sched = Schedule.from_plan(net, plan) if sched is None else sched
    # capacity the other batches leave
    others = sched.chunk_batch != b
    left = net.cap_left.copy()
    np.subtract.at(
        left,
        (sched.lab[sched.chunk_batch[others]], sched.chunk_slot[others]),
        sched.chunk_tubes[others],
    )
    finish = net.finish_slots()[b]
    site = net.batch_site[b]
    deadline = problem.deadline_of(bt)
    options: list[LabOption] = []
    n_iso = n_travel = n_late_everywhere = 0
    for li, lab in enumerate(problem.labs):
        travel = int(net.travel[site, li])
        arrival = bt.ready_at + timedelta(minutes=travel)
        a = int(net.arrival_slot[b, li])
        reason = ""
        if bt.isolation and not lab.isolation_ok:
            reason, n_iso = "not cleared for isolation samples", n_iso + 1
        elif bt.pinned_lab is not None and bt.pinned_lab != lab.lab_id:
            reason = f"batch is pinned to {bt.pinned_lab}"
        elif travel > cfg.travel.max_travel_minutes:
            reason = f"travel {travel} min > limit {cfg.travel.max_travel_minutes}"
            n_travel += 1
        elif a >= net.n_slots:
            reason = "arrives after the horizon"
        elif finish[li] >= net.n_slots:
            reason = "never fits whole in the capacity left after backlog"
        best = now = None
        cost_now = None
        if not reason:
            best = _result_at(net, cfg.plan_start, li, int(finish[li]))
            f_now = net.finish_slot(b, li, left[li])
            if f_now < net.n_slots:
                now = _result_at(net, cfg.plan_start, li, f_now)
                cost_now = float(net.tubes[b] * net.cost_per_tube(b, net.result_s(li, f_now)))
            if best > deadline:
                n_late_everywhere += 1
        options.append(
            LabOption(
                lab_id=lab.lab_id,
                name=lab.name,
                allowed=not reason,
                reason=reason,
                travel_minutes=travel,
                arrival_at=arrival,
                first_slot=cfg.slot_start(a) if a < net.n_slots else None,
                best_result_at=best,
                result_now_at=now,
                cost_now=cost_now,
                chosen=lab.lab_id == outcome.lab_id,
            )
        )
    far = datetime.max
    options.sort(
        key=lambda o: (not o.allowed, o.result_now_at or far, o.best_result_at or far, o.lab_id)
    )
    binding = _binding(bt.isolation, bt.pinned_lab, options, deadline, outcome.lab_id)
    if n_iso:
        binding.append(f"isolation: {n_iso} of {len(problem.labs)} labs are not cleared")
    if n_travel:
        binding.append(f"travel limit excludes {n_travel} labs")
    rows = plan.by_batch().get(batch_id, [])
    return BatchExplanation(
        batch_id=batch_id,
        site_id=bt.site_id,
        county_code=problem.sites[site].county_code,
        tubes=bt.tubes,
        priority=bt.priority,
        isolation=bt.isolation,
        pinned_lab=bt.pinned_lab,
        collected_at=bt.collected_at,
        ready_at=bt.ready_at,
        deadline=deadline,
        lab_id=outcome.lab_id,
        chunks=sorted((c.slot_start, c.tubes) for c in rows),
        result_at=outcome.result_at,
        late_h=outcome.late_h,
        cost=outcome.cost,
        options=options,
        binding=binding,
    )


def _result_at(net: Network, start: datetime, lab: int, slot: int) -> datetime:
    return start + timedelta(seconds=int(net.result_s(lab, slot)))


def _binding(
    isolation: bool,
    pinned: str | None,
    options: list[LabOption],
    deadline: datetime,
    chosen: str | None,
) -> list[str]:
    out: list[str] = []
    allowed = [o for o in options if o.allowed]
    if pinned is not None:
        out.append(f"pinned: already dispatched to {pinned}")
    if not allowed:
        out.append("no lab can take this batch whole (see the reasons per lab)")
        return out
    best = min(allowed, key=lambda o: o.best_result_at or datetime.max)
    if best.best_result_at is not None and best.best_result_at > deadline:
        out.append(
            f"deadline cannot be met at any lab: best-case result "
            f"{best.best_result_at:%m-%d %H:%M} at {best.lab_id} > deadline {deadline:%m-%d %H:%M} "
            "(travel + waiting for a slot + run time)"
        )
    mine = next((o for o in options if o.chosen), None)
    if mine is None:
        out.append("unassigned: no allowed lab has room for the whole batch in the horizon")
        return out
    faster = [
        o
        for o in allowed
        if o.best_result_at is not None
        and mine.result_now_at is not None
        and o.best_result_at < (mine.result_now_at or datetime.max)
        and not o.chosen
        and (o.result_now_at is None or o.result_now_at > o.best_result_at)
    ]
    for o in faster[:3]:
        now = f"{o.result_now_at:%H:%M}" if o.result_now_at else "no room in the horizon"
        out.append(
            f"capacity: {o.lab_id} could return it by {o.best_result_at:%H:%M} on an empty lab, "
            f"but with the plan's other batches only {now}"
        )
    if not out:
        out.append(f"{chosen} gives the earliest result the capacity allows")
    return out


@dataclass(frozen=True)
class ShortfallRow:
    city: str
    city_name: str
    late_batches: int
    late_tubes: int
    late_tube_hours: float
    lateness_cost: float
    unassigned_tubes: int
    structural_tubes: int  # late whatever the capacity
    peak_extra_per_hour: float
    peak_from: datetime | None
    peak_to: datetime | None
    best_lab: str | None  # where added capacity helps most


@dataclass(frozen=True)
class ShortfallReport:
    late_tubes: int
    unassigned_tubes: int
    lateness_cost: float
    structural_tubes: int
    rows: list[ShortfallRow]
    #: city -> per-slot extra tubes/hour needed (for charts)
    profile: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def capacity_shortfall(
    problem: Problem, plan: Plan, *, net: Network | None = None
) -> ShortfallReport:
    """Late and unassigned tubes by city, and the capacity that would recover them."""
    net = Network.build(problem) if net is None else net
    ev = evaluate(problem, plan)
    cfg = problem.config
    finish = net.finish_slots()
    slot_h = net.slot_s / 3600.0
    cities: dict[str, dict[str, Any]] = {}
    profile: dict[str, np.ndarray] = {}
    best_lab_tubes: dict[str, dict[int, float]] = {}
    for b, bt in enumerate(problem.batches):
        out = ev.per_batch[bt.batch_id]
        late = out.lab_id is None or out.late_h > 0
        if not late:
            continue
        city = city_of(problem.sites[int(net.batch_site[b])].county_code)
        c = cities.setdefault(
            city,
            dict(batches=0, tubes=0, tube_h=0.0, cost=0.0, unassigned=0, structural=0),
        )
        c["batches"] += 1
        if out.lab_id is None:
            c["unassigned"] += bt.tubes
        else:
            c["tubes"] += bt.tubes
            c["tube_h"] += bt.tubes * out.late_h
        c["cost"] += float(net.weight[b]) * bt.tubes * net.late_factor * out.late_h
        ok = net.allowed[b] & (finish[b] < net.n_slots)
        labs = np.nonzero(ok)[0]
        if labs.size == 0:
            c["structural"] += bt.tubes
            continue
        best = int(labs[np.argmin(net.result_s(labs, finish[b, labs]))])
        # last slot whose end + run is by the deadline
        last = int(np.floor((net.deadline_s[b] - net.run_s[best]) / net.slot_s)) - 1
        first = int(net.arrival_slot[b, best])
        last = min(last, net.n_slots - 1)
        if last < first:
            c["structural"] += bt.tubes
            continue
        prof = profile.setdefault(city, np.zeros(net.n_slots))
        width = last - first + 1
        prof[first : last + 1] += bt.tubes / (width * slot_h)
        best_lab_tubes.setdefault(city, {}).setdefault(best, 0.0)
        best_lab_tubes[city][best] += bt.tubes
    rows: list[ShortfallRow] = []
    for city, c in cities.items():
        city_prof = profile.get(city)
        peak = float(city_prof.max()) if city_prof is not None and city_prof.size else 0.0
        p_from = p_to = None
        if city_prof is not None and peak > 0:
            hot = np.nonzero(city_prof >= 0.5 * peak)[0]
            p_from = cfg.slot_start(int(hot.min()))
            p_to = cfg.slot_start(int(hot.max())) + cfg.slot_delta
        lab_tubes = best_lab_tubes.get(city, {})
        lab = max(lab_tubes, key=lambda k: lab_tubes[k]) if lab_tubes else None
        rows.append(
            ShortfallRow(
                city=city,
                city_name=city_name(city),
                late_batches=c["batches"],
                late_tubes=c["tubes"],
                late_tube_hours=round(c["tube_h"], 2),
                lateness_cost=round(c["cost"], 2),
                unassigned_tubes=c["unassigned"],
                structural_tubes=c["structural"],
                peak_extra_per_hour=round(peak, 1),
                peak_from=p_from,
                peak_to=p_to,
                best_lab=problem.labs[lab].lab_id if lab is not None else None,
            )
        )
    rows.sort(key=lambda r: -r.lateness_cost)
    return ShortfallReport(
        late_tubes=sum(r.late_tubes for r in rows),
        unassigned_tubes=sum(r.unassigned_tubes for r in rows),
        lateness_cost=round(sum(r.lateness_cost for r in rows), 2),
        structural_tubes=sum(r.structural_tubes for r in rows),
        rows=rows,
        profile={k: [round(float(x), 1) for x in v] for k, v in profile.items()},
    )


def format_batch_explanation(ex: BatchExplanation, top: int = 10) -> str:
    lines = [
        f"batch {ex.batch_id}: {ex.tubes} tubes, {ex.priority}"
        + (", isolation" if ex.isolation else "")
        + (f", pinned to {ex.pinned_lab}" if ex.pinned_lab else ""),
        f"  site {ex.site_id} (county {ex.county_code}); collected {ex.collected_at:%m-%d %H:%M}, "
        f"ready {ex.ready_at:%m-%d %H:%M}, due {ex.deadline:%m-%d %H:%M}",
    ]
    if ex.lab_id is None:
        lines.append(f"  UNASSIGNED (cost {ex.cost:,.1f})")
    else:
        slots = ", ".join(f"{t:%H:%M}x{n}" for t, n in ex.chunks)
        late = f", {ex.late_h:.2f} h late" if ex.late_h > 0 else ", on time"
        lines.append(
            f"  planned at {ex.lab_id}: {slots}; result {ex.result_at:%m-%d %H:%M}{late} "
            f"(cost {ex.cost:,.1f})"
        )
    lines.append("why:")
    lines += [f"  - {b}" for b in ex.binding]
    lines.append("labs (best first):")
    lines.append(
        f"  {'':1} {'lab':<16} {'travel':>6} {'arrives':>11} {'best case':>11} {'now':>11}  note"
    )
    shown = ex.options[:top]
    for o in shown:

        def ts(d: datetime | None) -> str:
            return f"{d:%m-%d %H:%M}" if d else "-"

        mark = "*" if o.chosen else " "
        lines.append(
            f"  {mark} {o.lab_id:<16} {o.travel_minutes:>6} {ts(o.arrival_at):>11} "
            f"{ts(o.best_result_at):>11} {ts(o.result_now_at):>11}  {o.reason}"
        )
    if len(ex.options) > top:
        lines.append(f"  ... and {len(ex.options) - top} more labs (--top N shows more)")
    return "\n".join(lines)


def format_shortfall(rep: ShortfallReport, top: int = 10) -> str:
    if not rep.rows:
        return "no late or unassigned tubes: capacity is sufficient for this plan"
    lines = [
        f"late tubes {rep.late_tubes:,}   unassigned tubes {rep.unassigned_tubes:,}   "
        f"lateness cost {rep.lateness_cost:,.1f}   "
        f"late whatever the capacity {rep.structural_tubes:,}",
        "",
        f"  {'city':<22} {'late':>8} {'tube-h':>10} {'unassigned':>10} {'structural':>10}"
        f" {'extra tubes/h':>13}  when                     where",
    ]
    for r in rep.rows[:top]:
        when = f"{r.peak_from:%m-%d %H:%M}-{r.peak_to:%H:%M}" if r.peak_from and r.peak_to else "-"
        lines.append(
            f"  {r.city_name[:22]:<22} {r.late_tubes:>8,} {r.late_tube_hours:>10,.1f} "
            f"{r.unassigned_tubes:>10,} {r.structural_tubes:>10,} {r.peak_extra_per_hour:>13,.1f}"
            f"  {when:<24} {r.best_lab or '-'}"
        )
    if len(rep.rows) > top:
        lines.append(f"  ... and {len(rep.rows) - top} more cities")
    lines.append("")
    lines.append(
        "extra tubes/h: capacity to add near 'where' during 'when' so that the late tubes "
        "could be on time (structural ones cannot: travel, run time or deadline bind)"
    )
    return "\n".join(lines)


def _jsonable(x: Any) -> Any:
    if isinstance(x, datetime):
        return x.isoformat()
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x
