"""The province dashboard's figures, computed once per published plan and world state.

Pure functions over a :class:`~webui.views.planview.PlanView`: the page and
the tests share them. Per-priority on-time rates and the score are the
evaluator's, as stored with the plan when it was made.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from scheduler.evaluate import slot_capacities
from scheduler.explain import ShortfallReport, capacity_shortfall
from webui.views.planview import PlanView

HEATMAP_LABS = 60
TAT_BINS = (0, 2, 4, 6, 8, 12, 16, 24, 36, 48)


@dataclass
class Figures:
    per_priority: dict[str, dict[str, Any]]
    score: float | None
    bound: float | None
    gap: float | None
    tat_hist: list[tuple[str, int]]
    heat_hours: list[str]
    heat_rows: list[tuple[str, list[float]]]
    shortfall: ShortfallReport
    sites: list[dict[str, Any]] = field(default_factory=list)
    labs: list[dict[str, Any]] = field(default_factory=list)


def on_time_rate(kpi: dict[str, Any]) -> float | None:
    return kpi["tubes_on_time"] / kpi["tubes"] if kpi.get("tubes") else None


def figures(view: PlanView) -> Figures:
    problem, ev = view.problem, view.ev
    per_priority = view.version.figures.get("per_priority") or {
        k: v.to_dict() | {"tubes_on_time": v.tubes_on_time} for k, v in ev.per_priority.items()
    }
    # turnaround of assigned tubes, by bins of hours
    counts = [0] * len(TAT_BINS)
    for b in problem.batches:
        oc = ev.per_batch.get(b.batch_id)
        if oc is None or oc.lab_id is None:
            continue
        i = max(k for k, lo in enumerate(TAT_BINS) if oc.tat_h >= lo)
        counts[i] += b.tubes
    labels = [
        f"{lo}-{TAT_BINS[i + 1]}" if i + 1 < len(TAT_BINS) else f">{lo}"
        for i, lo in enumerate(TAT_BINS)
    ]
    # utilisation per lab and slot
    load: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    cfg = problem.config
    for chunks in view.rows.values():
        for c in chunks:
            idx = cfg.slot_index(c.slot_start)
            if idx is not None:
                load[c.lab_id][idx] += c.tubes
    n = min(cfg.n_slots, 48)
    busiest = sorted(problem.labs, key=lambda lab: -sum(load[lab.lab_id].values()))[:HEATMAP_LABS]
    rows = []
    for lab in sorted(busiest, key=lambda x: x.lab_id):
        caps = slot_capacities(problem, lab)
        rows.append(
            (
                lab.lab_id,
                [(load[lab.lab_id].get(i, 0) / caps[i]) if caps[i] else (-1.0) for i in range(n)],
            )
        )
    hours = [cfg.slot_start(i).strftime("%d %H") for i in range(n)]
    # the map: sites by their worst outcome, labs by capacity
    worst: dict[str, int] = {}
    for b in problem.batches:
        oc = ev.per_batch.get(b.batch_id)
        state = 2 if oc is None or oc.lab_id is None else (1 if oc.late_h > 0 else 0)
        worst[b.site_id] = max(worst.get(b.site_id, 0), state)
    sites = [
        {"id": s.site_id, "lat": s.lat, "lon": s.lon, "state": worst.get(s.site_id, -1)}
        for s in problem.sites
    ]
    labs = [
        {
            "id": lab.lab_id,
            "lat": lab.lat,
            "lon": lab.lon,
            "cap": lab.capacity_per_hour,
            "iso": lab.isolation_ok,
        }
        for lab in problem.labs
    ]
    return Figures(
        per_priority=per_priority,
        score=view.version.score,
        bound=view.version.bound,
        gap=view.version.gap,
        tat_hist=list(zip(labels, counts, strict=True)),
        heat_hours=hours,
        heat_rows=rows,
        shortfall=capacity_shortfall(problem, view.plan),
        sites=sites,
        labs=labs,
    )


def project(points: list[dict[str, Any]], width: int, height: int, pad: int = 12) -> None:
    """Add ``x``/``y`` to points with ``lat``/``lon`` (equirectangular, fit to the box)."""
    if not points:
        return
    lats = [p["lat"] for p in points]
    lons = [p["lon"] for p in points]
    la0, la1 = min(lats), max(lats)
    lo0, lo1 = min(lons), max(lons)
    sx = (width - 2 * pad) / max(lo1 - lo0, 1e-6)
    sy = (height - 2 * pad) / max(la1 - la0, 1e-6)
    s = min(sx, sy)
    for p in points:
        p["x"] = round(pad + (p["lon"] - lo0) * s, 1)
        p["y"] = round(height - pad - (p["lat"] - la0) * s, 1)
