"""The province dashboard's figures, read from the summary stored with the published plan.

``scheduler.replan.views`` makes the summary once, when the plan is
published; this turns its JSON back into what the template reads.
Per-priority on-time rates and the score are the evaluator's, as stored with
the plan when it was made.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from scheduler.explain import ShortfallReport, ShortfallRow
from webui.views.planview import VersionInfo


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


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _shortfall(doc: dict[str, Any]) -> ShortfallReport:
    names = {f.name for f in fields(ShortfallRow)}
    rows = []
    for r in doc.get("rows", []):
        kw: dict[str, Any] = {k: v for k, v in r.items() if k in names}
        kw["peak_from"], kw["peak_to"] = _when(r.get("peak_from")), _when(r.get("peak_to"))
        rows.append(ShortfallRow(**kw))
    return ShortfallReport(
        late_tubes=doc["late_tubes"],
        unassigned_tubes=doc["unassigned_tubes"],
        lateness_cost=doc["lateness_cost"],
        structural_tubes=doc["structural_tubes"],
        rows=rows,
        profile=doc.get("profile", {}),
    )


def figures(version: VersionInfo, doc: dict[str, Any]) -> Figures:
    """The dashboard's figures from ``doc``, the summary stored with ``version``."""
    per_priority = version.figures.get("per_priority") or doc["kpis"]["per_priority"]
    return Figures(
        per_priority=per_priority,
        score=version.score,
        bound=version.bound,
        gap=version.gap,
        tat_hist=[(str(label), int(n)) for label, n in doc["tat_hist"]],
        heat_hours=list(doc["heat_hours"]),
        heat_rows=[(str(lab), list(cells)) for lab, cells in doc["heat_rows"]],
        shortfall=_shortfall(doc["shortfall"]),
        sites=list(doc["sites"]),
        labs=list(doc["labs"]),
    )
